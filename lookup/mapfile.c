/* Flat map file; see mapfile.h.  Entries sit in a sorted array. */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lookup/mailhost.h"
#include "lookup/mapfile.h"

struct mapentry {
	char		*key;		/* user, or "*@domain" lower-cased */
	struct mailhost	 host;
	int		 line;
};

struct mapfile {
	struct mapentry	*v;
	size_t		 n;
};

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mapentry *)a)->key,
	    ((const struct mapentry *)b)->key);
}

void
mapfile_free(struct mapfile **mp)
{
	struct mapfile	*m = *mp;
	size_t		 i;

	if (m == NULL)
		return;
	*mp = NULL;
	for (i = 0; i < m->n; i++)
		free(m->v[i].key);
	free(m->v);
	free(m);
}

size_t
mapfile_count(const struct mapfile *m)
{
	return m != NULL ? m->n : 0;
}

/* Next blank-separated word in [*p, end); NULL at the end. */
static const char *
word(const char **p, const char *end, size_t *len)
{
	const char	*s;

	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	if (*p >= end)
		return NULL;
	s = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*len = (size_t)(*p - s);
	return s;
}

static int
parse_line(struct mapfile *m, const char *s, const char *end, int line,
    const char **why)
{
	struct mapentry	*e, *nv;
	const char	*u, *h, *errstr = NULL;
	size_t		 ulen, hlen, i;

	if ((u = word(&s, end, &ulen)) == NULL)
		return 0;
	if ((h = word(&s, end, &hlen)) == NULL) {
		*why = "missing host";
		return -1;
	}
	if (word(&s, end, &i) != NULL) {
		*why = "text after the host";
		return -1;
	}
	for (i = 0; i < ulen; i++)
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f) {
			*why = "control character in user";
			return -1;
		}
	if (ulen > 1 && u[0] == '*' && u[1] != '@') {
		*why = "a wildcard must look like *@domain";
		return -1;
	}
	if (ulen > MAILHOST_HOST_MAX + 2 || (ulen == 2 && u[0] == '*')) {
		*why = ulen == 2 ? "empty domain in wildcard" : "user too long";
		return -1;
	}
	if ((nv = reallocarray(m->v, m->n + 1, sizeof(*m->v))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	m->v = nv;
	e = &m->v[m->n];
	memset(e, 0, sizeof(*e));
	if (mailhost_parse(h, hlen, &e->host, &errstr) == -1) {
		*why = errstr != NULL ? errstr : "bad host";
		return -1;
	}
	if ((e->key = strndup(u, ulen)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	/* Domains compare without case. */
	if (u[0] == '*')
		for (i = 2; i < ulen; i++)
			if (e->key[i] >= 'A' && e->key[i] <= 'Z')
				e->key[i] = (char)(e->key[i] - 'A' + 'a');
	e->line = line;
	m->n++;
	return 0;
}

struct mapfile *
mapfile_parse(const char *name, const char *text, size_t len, char *err,
    size_t errlen)
{
	struct mapfile	*m;
	const char	*p = text, *end = text + len, *eol, *stop, *why;
	size_t		 i;
	int		 line = 0;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	while (p < end) {
		line++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if ((stop = memchr(p, '#', (size_t)(eol - p))) == NULL)
			stop = eol;
		if (stop > p && stop[-1] == '\r')
			stop--;
		why = NULL;
		if (memchr(p, '\0', (size_t)(stop - p)) != NULL)
			why = "NUL byte";
		if (why != NULL || parse_line(m, p, stop, line, &why) == -1) {
			snprintf(err, errlen, "%s:%d: %s", name, line, why);
			mapfile_free(&m);
			return NULL;
		}
		p = eol + 1;
	}
	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), entry_cmp);
	for (i = 1; i < m->n; i++)
		if (strcmp(m->v[i - 1].key, m->v[i].key) == 0) {
			snprintf(err, errlen, "%s:%d: duplicate entry (first "
			    "at line %d)", name, m->v[i - 1].line >
			    m->v[i].line ? m->v[i - 1].line : m->v[i].line,
			    m->v[i - 1].line < m->v[i].line ?
			    m->v[i - 1].line : m->v[i].line);
			mapfile_free(&m);
			return NULL;
		}
	return m;
}

static const struct mapentry *
find(const struct mapfile *m, const char *key)
{
	struct mapentry	k;

	memset(&k, 0, sizeof(k));
	k.key = (char *)key;
	return bsearch(&k, m->v, m->n, sizeof(*m->v), entry_cmp);
}

int
mapfile_lookup(const struct mapfile *m, const char *user,
    struct mailhost *out)
{
	const struct mapentry	*e;
	const char		*at;
	char			 key[MAILHOST_HOST_MAX + 3];
	size_t			 i;

	if (m == NULL || m->n == 0)
		return 0;
	if ((e = find(m, user)) == NULL && (at = strrchr(user, '@')) != NULL &&
	    strlen(at) + 1 < sizeof(key)) {
		key[0] = '*';
		for (i = 0; at[i] != '\0'; i++)
			key[i + 1] = at[i] >= 'A' && at[i] <= 'Z' ?
			    (char)(at[i] - 'A' + 'a') : at[i];
		key[i + 1] = '\0';
		e = find(m, key);
	}
	if (e == NULL)
		return 0;
	*out = e->host;
	return 1;
}

struct mapfile *
mapfile_load(const char *path, char *err, size_t errlen)
{
	struct mapfile	*m;
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	errno = 0;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > MAPFILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, errno != 0 ?
		    strerror(errno) : !S_ISREG(st.st_mode) ?
		    "not a regular file" : "file too large");
		close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	m = mapfile_parse(path, buf, len, err, errlen);
	free(buf);
	return m;
}
