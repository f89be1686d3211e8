/*
 * loadgen: the client side of the benchmark (tests/bench/run.py).  One
 * libevent loop drives many IMAP or POP3 connections, plaintext or
 * implicit TLS, against any server: Dovecot directly, rawrelay or ferryd.
 *
 *	loadgen -P imap|pop3 [-T] -a addr:port -U userfile -m mode
 *	    [-n count] [-c concurrency] [-M msgno]
 *
 * userfile: "user password" lines, used round robin.  Modes:
 *	login	closed loop: connect, log in, log out; count logins in total
 *	idle	hold count logged-in sessions, print "ready N", wait for
 *		stdin to close, then exit
 *	noop	one session: count NOOP round trips after the login
 *	fetch	one session: count fetches of message msgno (IMAP FETCH
 *		BODY.PEEK[], POP3 RETR)
 * At the end it prints "done=N errors=E bytes=B".
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_ERRORS	20

enum mode { M_LOGIN, M_IDLE, M_NOOP, M_FETCH };

/* Where a connection is in its dialogue. */
enum step {
	S_GREETING,
	S_USER,		/* POP3: answer to USER */
	S_LOGIN,	/* answer to LOGIN / PASS */
	S_SELECT,
	S_WORK,		/* answer to NOOP / FETCH / RETR */
	S_IDLE,
	S_LOGOUT,
};

struct user {
	char	*name, *pass;
};

struct conn {
	struct bufferevent	*bev;
	enum step		 step;
	struct user		*u;
	uint64_t		 skip;		/* IMAP literal bytes left */
	size_t			 scanned;	/* POP3 RETR: searched so far */
};

static struct event_base	*base;
static struct sockaddr_in	 server;
static SSL_CTX			*ssl_ctx;
static int			 pop3, use_tls;
static enum mode		 mode = M_LOGIN;
static long			 count = 1, concurrency = 1, msgno = 1;
static long			 started, done, errors, ready, open_conns;
static unsigned long long	 bytes;
static struct user		*users;
static size_t			 nusers, next_user;

static void	conn_start(void);
static void	conn_read_cb(struct bufferevent *, void *);

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen -P imap|pop3 [-T] -a addr:port "
	    "-U userfile -m login|idle|noop|fetch [-n count] "
	    "[-c concurrency] [-M msgno]\n");
	exit(2);
}

static void
load_users(const char *path)
{
	FILE	*f;
	char	 line[512], name[256], pass[256];

	if ((f = fopen(path, "r")) == NULL) {
		perror(path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%255s %255s", name, pass) != 2)
			continue;
		users = realloc(users, (nusers + 1) * sizeof(*users));
		users[nusers].name = strdup(name);
		users[nusers].pass = strdup(pass);
		nusers++;
	}
	fclose(f);
	if (nusers == 0) {
		fprintf(stderr, "loadgen: no users in %s\n", path);
		exit(2);
	}
}

static void
finish(void)
{
	printf("done=%ld errors=%ld bytes=%llu\n", done, errors, bytes);
	fflush(stdout);
	event_base_loopexit(base, NULL);
}

/* A connection ended (well or not): start the next one if any is due. */
static void
conn_end(struct conn *c, const char *why)
{
	if (why != NULL) {
		fprintf(stderr, "loadgen: %s\n", why);
		if (++errors > MAX_ERRORS) {
			fprintf(stderr, "loadgen: too many errors\n");
			exit(1);
		}
	}
	bufferevent_free(c->bev);
	free(c);
	open_conns--;
	if (mode == M_LOGIN && started < count + errors)
		conn_start();
	else if (open_conns == 0 && mode != M_IDLE)
		finish();
	else if (mode == M_IDLE && why != NULL)
		conn_start();
}

static void __attribute__((format(printf, 2, 3)))
conn_send(struct conn *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

/* Send the command that starts the next round of work, or log out. */
static void
conn_next(struct conn *c)
{
	char	n[32];

	if (mode == M_IDLE) {
		c->step = S_IDLE;
		if (++ready == count) {
			printf("ready %ld\n", ready);
			fflush(stdout);
		} else if (started < count)
			conn_start();
		return;
	}
	if (mode == M_LOGIN || done >= count) {
		c->step = S_LOGOUT;
		conn_send(c, pop3 ? "QUIT\r\n" : "z LOGOUT\r\n");
		return;
	}
	c->step = S_WORK;
	snprintf(n, sizeof(n), "%ld", msgno);
	if (mode == M_NOOP)
		conn_send(c, pop3 ? "NOOP\r\n" : "n NOOP\r\n");
	else if (pop3) {
		c->scanned = 0;
		conn_send(c, "RETR %s\r\n", n);
	} else
		conn_send(c, "f FETCH %s BODY.PEEK[]\r\n", n);
}

static int
is_tagged(const char *line, const char *tag)
{
	size_t	n = strlen(tag);

	return strncmp(line, tag, n) == 0 && line[n] == ' ';
}

static int
tagged_ok(const char *line, const char *tag)
{
	return strncmp(line + strlen(tag) + 1, "OK", 2) == 0;
}

/* One IMAP response line.  -1: the connection was ended. */
static int
imap_line(struct conn *c, char *line, size_t len)
{
	char	*brace;

	switch (c->step) {
	case S_GREETING:
		if (strncmp(line, "* OK", 4) != 0)
			break;
		c->step = S_LOGIN;
		conn_send(c, "a LOGIN \"%s\" \"%s\"\r\n", c->u->name,
		    c->u->pass);
		return 0;
	case S_LOGIN:
		if (!is_tagged(line, "a"))
			return 0;
		if (!tagged_ok(line, "a"))
			break;
		if (mode == M_FETCH) {
			c->step = S_SELECT;
			conn_send(c, "s SELECT INBOX\r\n");
		} else
			conn_next(c);
		return 0;
	case S_SELECT:
		if (!is_tagged(line, "s"))
			return 0;
		if (!tagged_ok(line, "s"))
			break;
		conn_next(c);
		return 0;
	case S_WORK:
		if (len > 0 && line[len - 1] == '}' &&
		    (brace = strrchr(line, '{')) != NULL) {
			c->skip = strtoull(brace + 1, NULL, 10);
			return 0;
		}
		if (line[0] == '*' || line[0] == ')')
			return 0;
		if (!tagged_ok(line, mode == M_NOOP ? "n" : "f"))
			break;
		done++;
		conn_next(c);
		return 0;
	case S_LOGOUT:
		if (line[0] == '*')
			return 0;
		if (!tagged_ok(line, "z"))
			break;
		if (mode == M_LOGIN)
			done++;
		conn_end(c, NULL);
		return -1;
	case S_USER:
	case S_IDLE:
		return 0;
	}
	fprintf(stderr, "loadgen: unexpected: %.200s\n", line);
	conn_end(c, "IMAP dialogue failed");
	return -1;
}

/* One POP3 status line.  -1: the connection was ended. */
static int
pop3_line(struct conn *c, char *line)
{
	if (strncmp(line, "+OK", 3) != 0) {
		fprintf(stderr, "loadgen: unexpected: %.200s\n", line);
		conn_end(c, "POP3 dialogue failed");
		return -1;
	}
	switch (c->step) {
	case S_GREETING:
		c->step = S_USER;
		conn_send(c, "USER %s\r\n", c->u->name);
		break;
	case S_USER:
		c->step = S_LOGIN;
		conn_send(c, "PASS %s\r\n", c->u->pass);
		break;
	case S_LOGIN:
		conn_next(c);
		break;
	case S_WORK:
		if (mode == M_FETCH) {
			/* The message follows, up to "CRLF.CRLF". */
			c->skip = 1;
			c->scanned = 0;
			break;
		}
		done++;
		conn_next(c);
		break;
	case S_LOGOUT:
		if (mode == M_LOGIN)
			done++;
		conn_end(c, NULL);
		return -1;
	case S_SELECT:
	case S_IDLE:
		break;
	}
	return 0;
}

/* POP3 RETR body: look for the terminating "\r\n.\r\n". */
static void
pop3_body(struct conn *c, struct evbuffer *in)
{
	struct evbuffer_ptr	 p, start;
	size_t			 len = evbuffer_get_length(in);

	if (len < 5)
		return;
	evbuffer_ptr_set(in, &start, c->scanned, EVBUFFER_PTR_SET);
	p = evbuffer_search(in, "\r\n.\r\n", 5, &start);
	if (p.pos == -1) {
		/* Keep the last 4 bytes: the end may straddle reads. */
		evbuffer_drain(in, len - 4);
		bytes += len - 4;
		c->scanned = 0;
		return;
	}
	evbuffer_drain(in, p.pos + 5);
	bytes += p.pos + 5;
	c->skip = 0;
	done++;
	conn_next(c);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 len, n;
	char		*line;

	for (;;) {
		if (c->skip > 0 && pop3) {
			pop3_body(c, in);
			if (c->skip > 0)
				return;
			continue;
		}
		if (c->skip > 0) {
			n = evbuffer_get_length(in);
			if (n > c->skip)
				n = c->skip;
			evbuffer_drain(in, n);
			c->skip -= n;
			bytes += n;
			if (c->skip > 0)
				return;
		}
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL)
			return;
		n = pop3 ? (size_t)pop3_line(c, line) :
		    (size_t)imap_line(c, line, len);
		free(line);
		if (n != 0)
			return;
	}
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	conn_end(c, (what & BEV_EVENT_EOF) ? "server closed" :
	    "connection error");
}

static void
conn_start(void)
{
	struct conn	*c;
	SSL		*ssl;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		perror("loadgen");
		exit(1);
	}
	c->u = &users[next_user++ % nusers];
	if (use_tls) {
		if ((ssl = SSL_new(ssl_ctx)) == NULL) {
			fprintf(stderr, "loadgen: SSL_new failed\n");
			exit(1);
		}
		c->bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	} else
		c->bev = bufferevent_socket_new(base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		exit(1);
	}
	started++;
	open_conns++;
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&server,
	    sizeof(server)) == -1)
		conn_end(c, "connect failed");
}

static void
stdin_cb(evutil_socket_t fd, short ev, void *arg)
{
	char	b[64];

	if (read(fd, b, sizeof(b)) <= 0) {
		printf("done=%ld errors=%ld bytes=0\n", ready, errors);
		fflush(stdout);
		exit(0);
	}
}

static void
parse_addr(const char *s, struct sockaddr_in *sin)
{
	char		 host[64];
	const char	*colon = strrchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		usage();
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		usage();
}

int
main(int argc, char *argv[])
{
	struct rlimit	 rl;
	struct event	*ev;
	const char	*userfile = NULL;
	long		 i;
	int		 ch, have_addr = 0;

	while ((ch = getopt(argc, argv, "a:c:m:M:n:P:TU:")) != -1) {
		switch (ch) {
		case 'a':
			parse_addr(optarg, &server);
			have_addr = 1;
			break;
		case 'c':
			concurrency = atol(optarg);
			break;
		case 'm':
			if (strcmp(optarg, "login") == 0)
				mode = M_LOGIN;
			else if (strcmp(optarg, "idle") == 0)
				mode = M_IDLE;
			else if (strcmp(optarg, "noop") == 0)
				mode = M_NOOP;
			else if (strcmp(optarg, "fetch") == 0)
				mode = M_FETCH;
			else
				usage();
			break;
		case 'M':
			msgno = atol(optarg);
			break;
		case 'n':
			count = atol(optarg);
			break;
		case 'P':
			pop3 = strcmp(optarg, "pop3") == 0;
			break;
		case 'T':
			use_tls = 1;
			break;
		case 'U':
			userfile = optarg;
			break;
		default:
			usage();
		}
	}
	if (!have_addr || userfile == NULL || count < 1 || concurrency < 1)
		usage();
	load_users(userfile);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (use_tls && (ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		fprintf(stderr, "loadgen: SSL_CTX_new failed\n");
		return 1;
	}
	base = event_base_new();
	if (mode == M_IDLE) {
		ev = event_new(base, 0, EV_READ | EV_PERSIST, stdin_cb, NULL);
		event_add(ev, NULL);
	}
	if (mode == M_NOOP || mode == M_FETCH)
		concurrency = 1;
	for (i = 0; i < concurrency && i < count; i++)
		conn_start();
	event_base_dispatch(base);
	return errors > 0 && done == 0;
}
