/*
 * The IMAP response-boundary scanner; see imap_boundary.h.
 *
 * Inside a line only one thing matters: whether it ends in a literal
 * announcement.  brace follows the tail of the line: "{" then digits,
 * an optional "+", "}", an optional CR; any other byte forgets it.  An
 * LF right after that tail starts a literal of count bytes.
 */
#include "proxy/imap_boundary.h"

#include <string.h>

enum {
	BR_NONE,
	BR_OPEN,	/* "{" */
	BR_DIGITS,	/* "{1" */
	BR_PLUS,	/* "{1+" */
	BR_CLOSE,	/* "{1}" */
	BR_CR,		/* "{1}\r" */
};

#define COUNT_CAP	(UINT64_MAX / 16)

void
imap_boundary_init(struct imap_boundary *b)
{
	memset(b, 0, sizeof(*b));
}

int
imap_boundary_at(const struct imap_boundary *b)
{
	return b->state == IMAPB_LINE_START;
}

/* One line byte that is not LF. */
static void
line_byte(struct imap_boundary *b, unsigned char c)
{
	switch (c) {
	case '{':
		b->brace = BR_OPEN;
		b->count = 0;
		return;
	case '+':
		b->brace = b->brace == BR_DIGITS ? BR_PLUS : BR_NONE;
		return;
	case '}':
		b->brace = (b->brace == BR_DIGITS || b->brace == BR_PLUS) ?
		    BR_CLOSE : BR_NONE;
		return;
	case '\r':
		b->brace = b->brace == BR_CLOSE ? BR_CR : BR_NONE;
		return;
	default:
		break;
	}
	if (c >= '0' && c <= '9' &&
	    (b->brace == BR_OPEN || b->brace == BR_DIGITS)) {
		b->brace = BR_DIGITS;
		/* Nobody sends 2^60 bytes; stay a literal, never wrap. */
		if (b->count < COUNT_CAP)
			b->count = b->count * 10 + (uint64_t)(c - '0');
		return;
	}
	b->brace = BR_NONE;
}

size_t
imap_boundary_feed(struct imap_boundary *b, const void *buf, size_t len,
    int stop)
{
	const unsigned char	*p = buf, *q;
	size_t			 i = 0, n, lf = 0;

	if (stop && b->state == IMAPB_LINE_START)
		return 0;
	while (i < len) {
		if (b->state == IMAPB_IN_LITERAL) {
			n = len - i;
			if ((uint64_t)n > b->remaining)
				n = (size_t)b->remaining;
			b->remaining -= n;
			i += n;
			if (b->remaining == 0)
				b->state = IMAPB_IN_LINE;
			continue;
		}
		if (b->state == IMAPB_LINE_START) {
			b->state = IMAPB_IN_LINE;
			b->brace = BR_NONE;
		}
		/*
		 * Outside a "{N}" tail only "{" and LF change anything: skip
		 * to the next of them.  lf is kept so that a long line with
		 * many braces is searched for its end once.
		 */
		if (b->brace == BR_NONE) {
			if (lf <= i) {
				q = memchr(p + i, '\n', len - i);
				lf = q != NULL ? (size_t)(q - p) : len;
			}
			q = memchr(p + i, '{', lf - i);
			i = q != NULL ? (size_t)(q - p) : lf;
			if (i == len)
				break;
		}
		if (p[i++] != '\n') {
			line_byte(b, p[i - 1]);
			continue;
		}
		if ((b->brace == BR_CLOSE || b->brace == BR_CR) &&
		    b->count > 0) {
			b->state = IMAPB_IN_LITERAL;
			b->remaining = b->count;
		} else if (b->brace != BR_CLOSE && b->brace != BR_CR) {
			b->state = IMAPB_LINE_START;
			b->brace = BR_NONE;
			if (stop)
				break;
		}
		/* "{0}": an empty literal, and the line goes on. */
		b->brace = BR_NONE;
	}
	return i;
}
