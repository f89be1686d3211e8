/*
 * libFuzzer target for imap_parse: pipelined commands under small limits,
 * with invariants checked on every result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/imap_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

static enum imap_parse_status
parse_copy(const char *buf, size_t len, const struct imap_limits *lim,
    struct imap_command *cmd)
{
	enum imap_parse_status	 st;
	char			*copy;

	/* an exact-size copy so ASan sees any read past len */
	copy = malloc(len > 0 ? len : 1);
	CHECK(copy != NULL);
	if (len > 0)
		memcpy(copy, buf, len);
	st = imap_parse_command(copy, len, lim, cmd);
	free(copy);
	return st;
}

static int
is_tag_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\+", c) == NULL;
}

/* Quote an argument and parse it back: the same bytes must come out. */
static void
roundtrip(const char *s, size_t len)
{
	static const struct imap_limits	 big = { 1 << 16, 1 << 16 };
	struct imap_command		 cmd;
	char				*q, *line;
	size_t				 qsz = 2 * len + 3, n;
	int				 r;

	q = malloc(qsz);
	line = malloc(qsz + 16);
	CHECK(q != NULL && line != NULL);
	r = imap_quote(s, len, q, qsz);
	CHECK(r == (imap_quotable(s, len) ? r : -1));
	if (r >= 0) {
		CHECK((size_t)r == strlen(q));
		/* one byte less room must fail */
		CHECK(imap_quote(s, len, q, (size_t)r) == -1);
		CHECK(imap_quote(s, len, q, (size_t)r + 1) == r);
		n = (size_t)snprintf(line, qsz + 16, "t X %s\r\n", q);
		imap_command_init(&cmd);
		CHECK(parse_copy(line, n, &big, &cmd) == IMAP_PARSE_OK);
		CHECK(cmd.consumed == n);
		CHECK(cmd.nargs == 1);
		CHECK(cmd.args[0].type == IMAP_ARG_STRING);
		CHECK(cmd.args[0].len == len);
		CHECK(memcmp(cmd.args[0].data, s, len) == 0);
		imap_command_clear(&cmd);
	}
	free(q);
	free(line);
}

static void
check_command(const struct imap_command *cmd)
{
	size_t	 i, depth = 0;

	CHECK(cmd->tag[0] != '\0');
	for (i = 0; cmd->tag[i] != '\0'; i++)
		CHECK(is_tag_char((unsigned char)cmd->tag[i]));
	CHECK(i <= IMAP_TAG_MAX);
	CHECK(cmd->name[0] != '\0');
	for (i = 0; cmd->name[i] != '\0'; i++)
		CHECK(cmd->name[i] < 'a' || cmd->name[i] > 'z');
	CHECK(cmd->nargs <= IMAP_ARGS_MAX);
	for (i = 0; i < cmd->nargs; i++) {
		CHECK(cmd->args[i].data != NULL);
		CHECK(cmd->args[i].data[cmd->args[i].len] == '\0');
		switch (cmd->args[i].type) {
		case IMAP_ARG_ATOM:
			CHECK(cmd->args[i].len > 0);
			CHECK(strlen(cmd->args[i].data) == cmd->args[i].len);
			break;
		case IMAP_ARG_STRING:
			break;
		case IMAP_ARG_LIST_BEGIN:
			depth++;
			break;
		case IMAP_ARG_LIST_END:
			CHECK(depth > 0);
			depth--;
			break;
		default:
			CHECK(0);
		}
		if (cmd->args[i].type == IMAP_ARG_STRING ||
		    cmd->args[i].type == IMAP_ARG_ATOM)
			roundtrip(cmd->args[i].data, cmd->args[i].len);
	}
	CHECK(depth == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_limits	 lim;
	struct imap_command	 cmd, again;
	enum imap_parse_status	 st;
	const char		*buf;
	size_t			 len, off = 0, rem, i;

	if (size < 2)
		return 0;
	lim.line_max = data[0] == 255 ? 8192 : (size_t)data[0];
	lim.literal_max = data[1] == 255 ? SIZE_MAX : (size_t)(data[1] % 64);
	buf = (const char *)data + 2;
	len = size - 2;

	roundtrip(buf, len);
	imap_command_init(&cmd);
	while (off <= len) {
		rem = len - off;
		st = parse_copy(buf + off, rem, &lim, &cmd);
		CHECK(cmd.consumed <= rem);
		if (st == IMAP_PARSE_NEED_MORE) {
			CHECK(cmd.consumed == 0 && cmd.nargs == 0);
			CHECK(cmd.error == NULL);
			break;
		}
		CHECK(st == IMAP_PARSE_OK || cmd.error != NULL);
		if (st == IMAP_PARSE_TOO_LONG)
			break;
		CHECK(st == IMAP_PARSE_OK || st == IMAP_PARSE_BAD);
		CHECK(cmd.consumed > 0);
		CHECK(buf[off + cmd.consumed - 1] == '\n');
		if (st == IMAP_PARSE_OK)
			check_command(&cmd);
		else
			CHECK(cmd.nargs == 0);
		for (i = 0; cmd.tag[i] != '\0'; i++)
			CHECK(is_tag_char((unsigned char)cmd.tag[i]));

		/* exactly consumed bytes give the same; one less is short */
		imap_command_init(&again);
		CHECK(parse_copy(buf + off, cmd.consumed, &lim, &again) == st);
		CHECK(again.consumed == cmd.consumed);
		CHECK(again.nargs == cmd.nargs);
		CHECK(strcmp(again.tag, cmd.tag) == 0);
		imap_command_clear(&again);
		CHECK(parse_copy(buf + off, cmd.consumed - 1, &lim, &again) ==
		    IMAP_PARSE_NEED_MORE);
		CHECK(again.sync_literals <= cmd.sync_literals);
		imap_command_clear(&again);

		off += cmd.consumed;
		imap_command_clear(&cmd);
		CHECK(cmd.nargs == 0);
	}
	imap_command_clear(&cmd);
	return 0;
}
