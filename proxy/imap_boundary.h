/*
 * Where the backend-to-client IMAP stream stands between responses.
 *
 * A pure scanner: feed it every byte the backend sends, in any pieces,
 * and it knows whether the stream is at the start of a response line
 * (a response boundary, where ferry may insert "* BYE"), in the middle
 * of a line, or inside a literal ("{N}" or "{N+}" at the end of a line,
 * then N bytes that are not lines at all).  Lines end with LF; a CR
 * before it is part of the line.  Cheap: literal bytes are skipped by
 * count, and in a line only "{" and LF are searched for (memchr).
 */
#ifndef FERRY_IMAP_BOUNDARY_H
#define FERRY_IMAP_BOUNDARY_H

#include <stddef.h>
#include <stdint.h>

enum imap_boundary_state {
	IMAPB_LINE_START,	/* between responses */
	IMAPB_IN_LINE,
	IMAPB_IN_LITERAL,
};

/* Zero it (or imap_boundary_init) to start at a boundary. */
struct imap_boundary {
	enum imap_boundary_state state;
	uint64_t	remaining;	/* IN_LITERAL: bytes to skip */
	uint64_t	count;		/* digits of a "{N" being read */
	uint8_t		brace;		/* see imap_boundary.c */
};

void	imap_boundary_init(struct imap_boundary *);
/*
 * Feed buf[0..len).  With stop set, stop just after the first byte that
 * leaves the stream at a boundary (0 if it is at one already).  Returns
 * how many bytes were consumed: all of them when stop is 0.
 */
size_t	imap_boundary_feed(struct imap_boundary *, const void *buf,
	    size_t len, int stop);
/* 1 if the stream is between responses. */
int	imap_boundary_at(const struct imap_boundary *);

#endif
