/*
 * libFuzzer target for imap_boundary: the first byte picks a split
 * point; fed in two pieces, in stop mode, or whole, the scanner must end
 * in the same state and stop mode must stop only at boundaries.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/imap_boundary.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
	abort(); } } while (0)

static int
same(const struct imap_boundary *a, const struct imap_boundary *b)
{
	return a->state == b->state && a->remaining == b->remaining &&
	    a->count == b->count && a->brace == b->brace;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_boundary	whole, split, stop;
	size_t			cut, off, got;

	if (size == 0)
		return 0;
	cut = data[0] % size;
	data++;
	size--;
	imap_boundary_init(&whole);
	CHECK(imap_boundary_feed(&whole, data, size, 0) == size);

	imap_boundary_init(&split);
	CHECK(imap_boundary_feed(&split, data, cut, 0) == cut);
	CHECK(imap_boundary_feed(&split, data + cut, size - cut, 0) ==
	    size - cut);
	CHECK(same(&whole, &split));

	imap_boundary_init(&stop);
	for (off = 0; off < size; off += got) {
		if (imap_boundary_at(&stop))
			got = imap_boundary_feed(&stop, data + off, 1, 0);
		else {
			got = imap_boundary_feed(&stop, data + off,
			    size - off, 1);
			/* Stopped early: only ever at a line end. */
			if (off + got < size) {
				CHECK(imap_boundary_at(&stop));
				CHECK(data[off + got - 1] == '\n');
			}
		}
		CHECK(got > 0);
	}
	CHECK(same(&whole, &stop));
	return 0;
}
