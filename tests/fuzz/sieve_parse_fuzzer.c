/*
 * libFuzzer target for sieve_parse: pipelined commands and AUTHENTICATE
 * responses under small limits, with invariants checked on every result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sieve_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

static enum sieve_parse_status
parse_copy(int resp, const char *buf, size_t len,
    const struct sieve_limits *lim, struct sieve_command *cmd)
{
	enum sieve_parse_status	 st;
	char			*copy;

	/* an exact-size copy so ASan sees any read past len */
	copy = malloc(len > 0 ? len : 1);
	CHECK(copy != NULL);
	if (len > 0)
		memcpy(copy, buf, len);
	if (resp)
		st = sieve_parse_response(copy, len, lim, cmd);
	else
		st = sieve_parse_command(copy, len, lim, cmd);
	free(copy);
	return st;
}

static int
is_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

/* Quote a string and parse it back: the same bytes must come out. */
static void
roundtrip(const char *s, size_t len)
{
	static const struct sieve_limits big = { 1 << 16, 1 << 16 };
	struct sieve_command		 cmd;
	char				*q, *line;
	size_t				 qsz = 2 * len + 3, n;
	int				 r, quotable;

	quotable = memchr(s, '\0', len) == NULL &&
	    memchr(s, '\r', len) == NULL && memchr(s, '\n', len) == NULL;
	q = malloc(qsz);
	line = malloc(qsz + 16);
	CHECK(q != NULL && line != NULL);
	r = sieve_quote(s, len, q, qsz);
	CHECK((r >= 0) == quotable);
	if (r >= 0) {
		CHECK((size_t)r == strlen(q));
		/* one byte less room must fail */
		CHECK(sieve_quote(s, len, q, (size_t)r) == -1);
		CHECK(sieve_quote(s, len, q, (size_t)r + 1) == r);
		n = (size_t)snprintf(line, qsz + 16, "X %s\r\n", q);
		sieve_command_init(&cmd);
		CHECK(parse_copy(0, line, n, &big, &cmd) == SIEVE_PARSE_OK);
		CHECK(cmd.consumed == n);
		CHECK(cmd.nargs == 1);
		CHECK(cmd.args[0].type == SIEVE_ARG_STRING);
		CHECK(cmd.args[0].len == len);
		CHECK(memcmp(cmd.args[0].data, s, len) == 0);
		sieve_command_clear(&cmd);
		/* and as the answer to a challenge */
		CHECK(parse_copy(1, line + 2, n - 2, &big, &cmd) ==
		    SIEVE_PARSE_OK);
		CHECK(cmd.nargs == 1 && cmd.args[0].len == len);
		CHECK(cmd.cancel == (len == 1 && s[0] == '*'));
		sieve_command_clear(&cmd);
	}
	free(q);
	free(line);
}

static void
check_command(int resp, const struct sieve_command *cmd)
{
	size_t	 i, j;

	CHECK(cmd->error == NULL);
	CHECK(cmd->nargs <= SIEVE_ARGS_MAX);
	if (resp) {
		CHECK(cmd->name[0] == '\0');
		CHECK(cmd->nargs == 1);
		CHECK(cmd->args[0].type == SIEVE_ARG_STRING);
		CHECK(cmd->cancel == (cmd->args[0].len == 1 &&
		    cmd->args[0].data[0] == '*'));
	} else {
		CHECK(cmd->cancel == 0);
		CHECK(cmd->name[0] != '\0');
		for (i = 0; cmd->name[i] != '\0'; i++) {
			CHECK(is_atom_char((unsigned char)cmd->name[i]));
			CHECK(cmd->name[i] < 'a' || cmd->name[i] > 'z');
		}
		CHECK(i <= SIEVE_NAME_MAX);
	}
	for (i = 0; i < cmd->nargs; i++) {
		CHECK(cmd->args[i].data != NULL);
		CHECK(cmd->args[i].data[cmd->args[i].len] == '\0');
		CHECK(memchr(cmd->args[i].data, '\0',
		    cmd->args[i].len) == NULL);
		if (cmd->args[i].type == SIEVE_ARG_ATOM) {
			CHECK(cmd->args[i].len > 0);
			for (j = 0; j < cmd->args[i].len; j++)
				CHECK(is_atom_char(
				    (unsigned char)cmd->args[i].data[j]));
		} else
			CHECK(cmd->args[i].type == SIEVE_ARG_STRING);
		roundtrip(cmd->args[i].data, cmd->args[i].len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sieve_limits	 lim;
	struct sieve_command	 cmd, again;
	enum sieve_parse_status	 st;
	const char		*buf;
	size_t			 len, off = 0, rem, k = 0;
	unsigned int		 modes;
	int			 resp;

	if (size < 3)
		return 0;
	lim.line_max = data[0] == 255 ? 8192 : (size_t)data[0];
	lim.literal_max = data[1] == 255 ? SIZE_MAX : (size_t)(data[1] % 64);
	modes = data[2];
	buf = (const char *)data + 3;
	len = size - 3;

	roundtrip(buf, len);
	sieve_command_init(&cmd);
	while (off <= len) {
		resp = (modes >> (k++ % 8)) & 1;
		rem = len - off;
		st = parse_copy(resp, buf + off, rem, &lim, &cmd);
		CHECK(cmd.consumed <= rem);
		if (st == SIEVE_PARSE_NEED_MORE) {
			CHECK(cmd.consumed == 0 && cmd.nargs == 0);
			CHECK(cmd.error == NULL);
			break;
		}
		CHECK(st == SIEVE_PARSE_OK || cmd.error != NULL);
		if (st == SIEVE_PARSE_TOO_LONG) {
			CHECK(cmd.nargs == 0);
			break;
		}
		CHECK(st == SIEVE_PARSE_OK || st == SIEVE_PARSE_BAD);
		CHECK(cmd.consumed > 0);
		CHECK(buf[off + cmd.consumed - 1] == '\n');
		if (st == SIEVE_PARSE_OK)
			check_command(resp, &cmd);
		else
			CHECK(cmd.nargs == 0);

		/* exactly consumed bytes give the same; one less is short */
		sieve_command_init(&again);
		CHECK(parse_copy(resp, buf + off, cmd.consumed, &lim,
		    &again) == st);
		CHECK(again.consumed == cmd.consumed);
		CHECK(again.nargs == cmd.nargs);
		CHECK(again.cancel == cmd.cancel);
		CHECK(strcmp(again.name, cmd.name) == 0);
		sieve_command_clear(&again);
		CHECK(parse_copy(resp, buf + off, cmd.consumed - 1, &lim,
		    &again) == SIEVE_PARSE_NEED_MORE);
		sieve_command_clear(&again);

		off += cmd.consumed;
		sieve_command_clear(&cmd);
		CHECK(cmd.nargs == 0);
	}
	sieve_command_clear(&cmd);
	return 0;
}
