/*
 * libFuzzer target for what a hostile backend can send during a login:
 * the bytes go through an evbuffer in pieces (the first byte picks the
 * piece size) and are read as the backend readers read them, line by
 * line with the same bound; each line goes to every capability parser.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/backend_caps.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

#define LINE_MAX_TEST	4096	/* the readers' bound, scaled down */

static void
one_line(const char *line, size_t len)
{
	unsigned int	 a, b;
	char		*up;
	size_t		 i;

	a = imap_caps_in_code(line);
	CHECK((a & ~0x017fU) == 0);
	CHECK(a == 0 || (a & BCAP_KNOWN));
	a = imap_caps_parse(line, len);
	CHECK((a & ~0x017fU) == 0 && (a & BCAP_KNOWN));
	CHECK((pop3_caps_line(line) & ~0x3fU) == 0);
	CHECK((sieve_caps_line(line) & ~0x0fU) == 0);

	/* Capability names are case-insensitive. */
	if ((up = malloc(len + 1)) == NULL)
		return;
	for (i = 0; i <= len; i++)
		up[i] = (char)toupper((unsigned char)line[i]);
	b = imap_caps_parse(up, len);
	CHECK(b == a);
	CHECK(imap_caps_in_code(up) == imap_caps_in_code(line));
	CHECK(pop3_caps_line(up) == pop3_caps_line(line));
	CHECK(sieve_caps_line(up) == sieve_caps_line(line));
	free(up);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer	*in;
	char		*line;
	size_t		 piece, off, n, len;

	if (size < 1)
		return 0;
	piece = (size_t)data[0] + 1;
	data++;
	size--;
	if ((in = evbuffer_new()) == NULL)
		return 0;
	for (off = 0; off < size; off += n) {
		n = size - off < piece ? size - off : piece;
		CHECK(evbuffer_add(in, data + off, n) == 0);
		while ((line = evbuffer_readln(in, &len,
		    EVBUFFER_EOL_CRLF)) != NULL) {
			CHECK(line[len] == '\0');
			CHECK(memchr(line, '\n', len) == NULL);
			one_line(line, len);
			free(line);
		}
		if (evbuffer_get_length(in) > LINE_MAX_TEST)
			break;	/* the reader gives up: overlong line */
	}
	evbuffer_free(in);
	return 0;
}
