/*
 * ferryctl: ask ferryd over its status socket and print the answer for
 * people, or with --json for scripts.
 *
 * Exit status: 0 done; 1 ferryd answered with an error (unknown user,
 * reload refused, ...); 2 usage error; 3 ferryd could not be reached.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/control_proto.h"

#define DEFAULT_SOCKET	"/run/ferry/ferry.sock"
#define ANSWER_MAX	(64 * 1024 * 1024)

#define EXIT_ERROR	1
#define EXIT_USAGE	2
#define EXIT_CONNECT	3

struct record {
	char			*line;		/* owns the strings below */
	const char		*type;
	struct control_field	 f[CONTROL_FIELDS_MAX];
	int			 n;
};

struct answer {
	struct record	*recs;
	size_t		 nrecs;
	char		*text;		/* "+ " lines, joined */
	size_t		 textlen;
	int		 ok;
	char		*final;		/* text after "ok " / "error " */
};

static void
usage(void)
{
	fprintf(stderr, "usage: ferryctl [--json] [-s socket] command "
	    "[argument]\n"
	    "commands: status, sessions [user], lookup user, kick user,\n"
	    "          flush [user], reload, metrics, hold user [seconds],\n"
	    "          release user, moves\n");
	exit(EXIT_USAGE);
}

static int
connect_socket(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "ferryctl: %s: path too long\n", path);
		exit(EXIT_CONNECT);
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "ferryctl: %s: %s (is ferryd running?)\n",
		    path, strerror(errno));
		exit(EXIT_CONNECT);
	}
	return fd;
}

static void
add_text(struct answer *a, const char *s)
{
	size_t	len = strlen(s);

	if ((a->text = realloc(a->text, a->textlen + len + 2)) == NULL) {
		fprintf(stderr, "ferryctl: out of memory\n");
		exit(EXIT_ERROR);
	}
	memcpy(a->text + a->textlen, s, len);
	a->textlen += len;
	a->text[a->textlen++] = '\n';
	a->text[a->textlen] = '\0';
}

static void
add_record(struct answer *a, char *line)
{
	struct record	*r;

	a->recs = realloc(a->recs, (a->nrecs + 1) * sizeof(*a->recs));
	if (a->recs == NULL) {
		fprintf(stderr, "ferryctl: out of memory\n");
		exit(EXIT_ERROR);
	}
	r = &a->recs[a->nrecs];
	r->line = line;
	r->n = control_record_parse(line, &r->type, r->f, CONTROL_FIELDS_MAX);
	if (r->n == -1) {
		fprintf(stderr, "ferryctl: malformed answer from ferryd\n");
		exit(EXIT_CONNECT);
	}
	a->nrecs++;
}

/* Read lines until the final "ok" or "error" line. */
static void
read_answer(int fd, struct answer *a)
{
	FILE	*f;
	char	*line = NULL;
	size_t	 size = 0, total = 0;
	ssize_t	 n;

	if ((f = fdopen(fd, "r")) == NULL) {
		fprintf(stderr, "ferryctl: %s\n", strerror(errno));
		exit(EXIT_CONNECT);
	}
	memset(a, 0, sizeof(*a));
	while ((n = getline(&line, &size, f)) != -1) {
		total += (size_t)n;
		if (total > ANSWER_MAX)
			break;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (strncmp(line, "+ ", 2) == 0)
			add_text(a, line + 2);
		else if (strncmp(line, "* ", 2) == 0) {
			add_record(a, line);
			line = NULL;
			size = 0;
		} else if (strcmp(line, "ok") == 0 ||
		    strncmp(line, "ok ", 3) == 0) {
			a->ok = 1;
			a->final = strdup(line[2] != '\0' ? line + 3 : "");
			break;
		} else if (strncmp(line, "error ", 6) == 0) {
			a->final = strdup(line + 6);
			break;
		}
	}
	free(line);
	fclose(f);
	if (a->final == NULL) {
		fprintf(stderr, "ferryctl: ferryd closed the connection "
		    "without an answer\n");
		exit(EXIT_CONNECT);
	}
}

static void
answer_free(struct answer *a)
{
	size_t	i;

	for (i = 0; i < a->nrecs; i++)
		free(a->recs[i].line);
	free(a->recs);
	free(a->text);
	free(a->final);
	memset(a, 0, sizeof(*a));
}

static void
json_string(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	putchar('"');
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p == '\n')
			printf("\\n");
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
json_record(const struct record *r)
{
	int	i;

	putchar('{');
	for (i = 0; i < r->n; i++) {
		if (i > 0)
			printf(", ");
		json_string(r->f[i].key);
		printf(": ");
		if (r->f[i].is_string)
			json_string(r->f[i].value);
		else
			printf("%s", r->f[i].value);
	}
	putchar('}');
}

/* Record types that may come more than once go into an array. */
static int
is_list(const char *type)
{
	static const char *const lists[] = { "listener", "backend",
	    "protocol", "proto", "session" };
	size_t	i;

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (strcmp(type, lists[i]) == 0)
			return 1;
	return 0;
}

static void
print_json(const struct answer *a)
{
	size_t	i, j;
	int	first = 1, seen;

	printf("{");
	if (!a->ok) {
		printf("\"error\": ");
		json_string(a->final);
		printf("}\n");
		return;
	}
	for (i = 0; i < a->nrecs; i++) {
		/* Each type once, at its first record. */
		for (seen = 0, j = 0; j < i; j++)
			if (strcmp(a->recs[j].type, a->recs[i].type) == 0)
				seen = 1;
		if (seen)
			continue;
		printf("%s\"%s%s\": ", first ? "" : ", ", a->recs[i].type,
		    is_list(a->recs[i].type) ? "s" : "");
		first = 0;
		if (!is_list(a->recs[i].type)) {
			json_record(&a->recs[i]);
			continue;
		}
		printf("[");
		for (j = i; j < a->nrecs; j++) {
			if (strcmp(a->recs[j].type, a->recs[i].type) != 0)
				continue;
			if (j > i)
				printf(", ");
			json_record(&a->recs[j]);
		}
		printf("]");
	}
	if (a->text != NULL) {
		printf("%s\"text\": ", first ? "" : ", ");
		json_string(a->text);
		first = 0;
	}
	printf("%s\"result\": ", first ? "" : ", ");
	json_string(a->final);
	printf("}\n");
}

static const char *
field(const struct record *r, const char *key)
{
	int	i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, key) == 0)
			return r->f[i].value;
	return "-";
}

static void
print_sessions(const struct answer *a)
{
	static const char *const cols[] = { "id", "user", "client",
	    "backend", "proto", "tls", "state", "in", "out", "age" };
	size_t	w[10], i, c, len;

	for (c = 0; c < 10; c++)
		w[c] = strlen(cols[c]);
	for (i = 0; i < a->nrecs; i++)
		for (c = 0; c < 10; c++)
			if ((len = strlen(field(&a->recs[i], cols[c]))) > w[c])
				w[c] = len;
	/* The last column is not padded: no trailing blanks. */
	for (c = 0; c < 10; c++)
		printf("%-*s%s", c < 9 ? (int)w[c] : 0, cols[c],
		    c < 9 ? "  " : "\n");
	for (i = 0; i < a->nrecs; i++)
		for (c = 0; c < 10; c++)
			printf("%-*s%s", c < 9 ? (int)w[c] : 0,
			    field(&a->recs[i], cols[c]), c < 9 ? "  " : "\n");
}

static void
print_human(enum control_verb verb, const struct answer *a)
{
	size_t	i;
	int	j;

	if (!a->ok) {
		fprintf(stderr, "ferryctl: %s\n", a->final);
		return;
	}
	switch (verb) {
	case CTL_STATUS:
	case CTL_MOVES:
		for (i = 0; i < a->nrecs; i++) {
			printf("%-10s", a->recs[i].type);
			for (j = 0; j < a->recs[i].n; j++)
				printf(" %s %s%s", a->recs[i].f[j].key,
				    a->recs[i].f[j].value,
				    j + 1 < a->recs[i].n ? "," : "");
			printf("\n");
		}
		break;
	case CTL_SESSIONS:
		print_sessions(a);
		printf("%s\n", a->final);
		break;
	case CTL_METRICS:
		if (a->text != NULL)
			fputs(a->text, stdout);
		break;
	default:
		printf("%s\n", a->final);
		break;
	}
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char		*path = DEFAULT_SOCKET, *errstr;
	char			 req[CONTROL_LINE_MAX + 2];
	struct control_req	 cr;
	struct answer		 a;
	size_t			 len;
	int			 ch, json = 0, fd, i, rc;

	while ((ch = getopt_long(argc, argv, "js:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 's':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	/* Join the words; the daemon's parser says what is wrong. */
	req[0] = '\0';
	for (i = 0, len = 0; i < argc; i++) {
		if (len + strlen(argv[i]) + 2 > sizeof(req) - 1) {
			fprintf(stderr, "ferryctl: request too long\n");
			return EXIT_USAGE;
		}
		len += (size_t)snprintf(req + len, sizeof(req) - len, "%s%s",
		    i > 0 ? " " : "", argv[i]);
	}
	if (control_parse(req, len, &cr, &errstr) == -1) {
		fprintf(stderr, "ferryctl: %s: %s\n", req, errstr);
		usage();
	}
	strcat(req, "\n");
	fd = connect_socket(path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		fprintf(stderr, "ferryctl: %s: %s\n", path, strerror(errno));
		return EXIT_CONNECT;
	}
	read_answer(fd, &a);
	if (json)
		print_json(&a);
	else
		print_human(cr.verb, &a);
	rc = a.ok ? 0 : EXIT_ERROR;
	answer_free(&a);
	return rc;
}
