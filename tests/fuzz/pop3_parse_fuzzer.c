/*
 * libFuzzer target for pop3_parse: pipelined command and AUTH lines
 * under small limits, with invariants checked on every result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/pop3_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

static enum pop3_parse_status
parse_copy(int auth, const char *buf, size_t len,
    const struct pop3_limits *lim, struct pop3_command *cmd)
{
	enum pop3_parse_status	 st;
	char			*copy;

	/* an exact-size copy so ASan sees any read past len */
	copy = malloc(len > 0 ? len : 1);
	CHECK(copy != NULL);
	if (len > 0)
		memcpy(copy, buf, len);
	if (auth)
		st = pop3_parse_auth_line(copy, len, lim, cmd);
	else
		st = pop3_parse_command(copy, len, lim, cmd);
	free(copy);
	return st;
}

static int
is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* The arguments are rest split at runs of SP, nothing else. */
static void
check_args(const struct pop3_command *cmd)
{
	const char	*p = cmd->rest, *end = cmd->rest + cmd->rest_len;
	size_t		 i = 0, n;

	while (p < end) {
		if (*p == ' ') {
			p++;
			continue;
		}
		for (n = 0; p + n < end && p[n] != ' '; n++)
			;
		CHECK(i < cmd->nargs);
		CHECK(strlen(cmd->args[i]) == n);
		CHECK(memcmp(cmd->args[i], p, n) == 0);
		i++;
		p += n;
	}
	CHECK(i == cmd->nargs);
}

static void
check_ok(int auth, const struct pop3_command *cmd, const char *line,
    const struct pop3_limits *lim)
{
	size_t	 i, max;

	CHECK(cmd->error == NULL);
	CHECK(cmd->rest != NULL);
	CHECK(strlen(cmd->rest) == cmd->rest_len);
	for (i = 0; i < cmd->rest_len; i++)
		CHECK(!is_ctl((unsigned char)cmd->rest[i]));
	max = auth ? lim->auth_line_max : lim->line_max;
	if (max < POP3_LINE_MIN)
		max = POP3_LINE_MIN;
	CHECK(cmd->consumed <= max);
	if (auth) {
		CHECK(cmd->name[0] == '\0' && cmd->nargs == 0);
		CHECK(memcmp(cmd->rest, line, cmd->rest_len) == 0);
		CHECK(cmd->cancel == (cmd->rest_len == 1 &&
		    cmd->rest[0] == '*'));
		return;
	}
	CHECK(cmd->cancel == 0);
	CHECK(cmd->name[0] != '\0');
	for (i = 0; cmd->name[i] != '\0'; i++)
		CHECK((cmd->name[i] >= 'A' && cmd->name[i] <= 'Z') ||
		    (cmd->name[i] >= '0' && cmd->name[i] <= '9'));
	CHECK(i <= POP3_NAME_MAX);
	CHECK(cmd->nargs <= POP3_ARGS_MAX);
	check_args(cmd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_limits	 lim;
	struct pop3_command	 cmd, again;
	enum pop3_parse_status	 st;
	const char		*buf;
	size_t			 len, off = 0, rem, k = 0;
	unsigned int		 modes;
	int			 auth;

	if (size < 3)
		return 0;
	lim.line_max = data[0] == 255 ? 8192 : (size_t)data[0];
	lim.auth_line_max = data[1] == 255 ? SIZE_MAX : (size_t)data[1];
	modes = data[2];
	buf = (const char *)data + 3;
	len = size - 3;

	pop3_command_init(&cmd);
	while (off <= len) {
		auth = (modes >> (k++ % 8)) & 1;
		rem = len - off;
		st = parse_copy(auth, buf + off, rem, &lim, &cmd);
		CHECK(cmd.consumed <= rem);
		if (st == POP3_PARSE_NEED_MORE) {
			CHECK(cmd.consumed == 0 && cmd.nargs == 0);
			CHECK(cmd.error == NULL && cmd.rest == NULL);
			CHECK(memchr(buf + off, '\n', rem) == NULL);
			break;
		}
		if (st == POP3_PARSE_TOO_LONG) {
			CHECK(cmd.error != NULL && cmd.consumed == 0);
			CHECK(cmd.rest == NULL);
			break;
		}
		CHECK(st == POP3_PARSE_OK || st == POP3_PARSE_BAD);
		CHECK(cmd.consumed > 0);
		CHECK(buf[off + cmd.consumed - 1] == '\n');
		CHECK(memchr(buf + off, '\n', cmd.consumed - 1) == NULL);
		if (st == POP3_PARSE_OK)
			check_ok(auth, &cmd, buf + off, &lim);
		else
			CHECK(cmd.error != NULL && cmd.nargs == 0 &&
			    cmd.rest == NULL);

		/* exactly consumed bytes give the same; one less is short */
		pop3_command_init(&again);
		CHECK(parse_copy(auth, buf + off, cmd.consumed, &lim,
		    &again) == st);
		CHECK(again.consumed == cmd.consumed);
		CHECK(again.nargs == cmd.nargs);
		CHECK(again.rest_len == cmd.rest_len);
		CHECK(strcmp(again.name, cmd.name) == 0);
		pop3_command_clear(&again);
		CHECK(parse_copy(auth, buf + off, cmd.consumed - 1, &lim,
		    &again) == POP3_PARSE_NEED_MORE);
		pop3_command_clear(&again);

		off += cmd.consumed;
		pop3_command_clear(&cmd);
		CHECK(cmd.nargs == 0 && cmd.rest == NULL);
	}
	pop3_command_clear(&cmd);
	return 0;
}
