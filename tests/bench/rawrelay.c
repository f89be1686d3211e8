/*
 * rawrelay: the smallest useful TCP byte relay, the ceiling a proxy is
 * measured against (tests/bench/run.py).  No protocol, no TLS, no
 * bufferevents: read(2) into one shared buffer and write(2) it straight
 * on; only what the other side cannot take yet is copied to the heap,
 * and the source is not read again until that is gone.
 *
 *	rawrelay listen-addr:port target-addr:port
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#define BUFSZ	(64 * 1024)

struct pair;

/* One direction: bytes read from fd go to the other side's fd. */
struct side {
	struct pair	*p;
	struct side	*peer;
	int		 fd;
	struct event	*rev;
	struct event	*wev;
	char		*pend;		/* unwritten bytes for this fd */
	size_t		 npend, off;
};

struct pair {
	struct side	 a, b;		/* client, target */
	int		 connected;
};

static struct event_base	*base;
static struct sockaddr_in	 target;
static char			 buf[BUFSZ];

static void
pair_free(struct pair *p)
{
	struct side	*s[2] = { &p->a, &p->b };
	int		 i;

	for (i = 0; i < 2; i++) {
		event_free(s[i]->rev);
		event_free(s[i]->wev);
		close(s[i]->fd);
		free(s[i]->pend);
	}
	free(p);
}

/* Write len bytes from data to dst; keep what does not fit.  -1: gone. */
static int
side_write(struct side *dst, const char *data, size_t len)
{
	ssize_t	n;

	n = write(dst->fd, data, len);
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		n = 0;
	}
	if ((size_t)n == len)
		return 0;
	if ((dst->pend = malloc(len - n)) == NULL)
		return -1;
	memcpy(dst->pend, data + n, len - n);
	dst->npend = len - n;
	dst->off = 0;
	event_del(dst->peer->rev);
	event_add(dst->wev, NULL);
	return 0;
}

static void
read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct side	*src = arg;
	ssize_t		 n;

	n = read(fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || side_write(src->peer, buf, n) == -1)
		pair_free(src->p);
}

static void
write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct side	*dst = arg;
	struct pair	*p = dst->p;
	ssize_t		 n;

	if (!p->connected) {
		p->connected = 1;
		event_add(p->a.rev, NULL);
		event_add(p->b.rev, NULL);
		return;
	}
	n = write(fd, dst->pend + dst->off, dst->npend - dst->off);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		pair_free(p);
		return;
	}
	dst->off += n;
	if (dst->off < dst->npend)
		return;
	free(dst->pend);
	dst->pend = NULL;
	dst->npend = dst->off = 0;
	event_del(dst->wev);
	event_add(dst->peer->rev, NULL);
}

static void
side_init(struct pair *p, struct side *s, struct side *peer, int fd)
{
	s->p = p;
	s->peer = peer;
	s->fd = fd;
	s->rev = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, s);
	s->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, write_cb, s);
}

static void
accept_cb(evutil_socket_t lfd, short ev, void *arg)
{
	struct pair	*p;
	int		 cfd, tfd, one = 1;

	if ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) == -1)
		return;
	tfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (tfd == -1 || (connect(tfd, (struct sockaddr *)&target,
	    sizeof(target)) == -1 && errno != EINPROGRESS) ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		close(cfd);
		if (tfd != -1)
			close(tfd);
		return;
	}
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	side_init(p, &p->a, &p->b, cfd);
	side_init(p, &p->b, &p->a, tfd);
	/* The first writable event on the target says it is connected. */
	event_add(p->b.wev, NULL);
}

static void
parse_addr(const char *s, struct sockaddr_in *sin)
{
	char		 host[64];
	const char	*colon = strrchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "rawrelay: bad address %s\n", s);
		exit(1);
	}
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		fprintf(stderr, "rawrelay: bad address %s\n", s);
		exit(1);
	}
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 lsin;
	struct rlimit		 rl;
	struct event		*lev;
	int			 lfd, one = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: rawrelay listen:port target:port\n");
		return 1;
	}
	parse_addr(argv[1], &lsin);
	parse_addr(argv[2], &target);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd == -1 || bind(lfd, (struct sockaddr *)&lsin,
	    sizeof(lsin)) == -1 || listen(lfd, 1024) == -1) {
		perror("rawrelay: listen");
		return 1;
	}
	base = event_base_new();
	lev = event_new(base, lfd, EV_READ | EV_PERSIST, accept_cb, NULL);
	event_add(lev, NULL);
	event_base_dispatch(base);
	return 0;
}
