/*
 * A flat map file, the second lookup source: one "user host[:port]"
 * per line ('#' comments, blank lines), where user may be "*@domain"
 * to match every user of that domain.  An exact user wins over its
 * domain's wildcard.  Parsing is pure; mapfile_load() reads the file.
 */
#ifndef FERRY_MAPFILE_H
#define FERRY_MAPFILE_H

#include <stddef.h>

#include "lookup/mailhost.h"

#define MAPFILE_MAX	(64 * 1024 * 1024)	/* bytes */

struct mapfile;

/* NULL with "NAME:LINE: what is wrong" in err on error. */
struct mapfile	*mapfile_parse(const char *name, const char *text,
		    size_t len, char *err, size_t errlen);
struct mapfile	*mapfile_load(const char *path, char *err, size_t errlen);
void		 mapfile_free(struct mapfile **);
size_t		 mapfile_count(const struct mapfile *);
/* 1 and *out set if user (or its domain) is listed, else 0. */
int		 mapfile_lookup(const struct mapfile *, const char *user,
		    struct mailhost *out);

#endif
