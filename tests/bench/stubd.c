/*
 * stubd: a mail server that accepts every login and holds thousands of
 * idle sessions in one process, for the benchmark's many-sessions run
 * (Dovecot needs a process per logged-in session).  IMAP: greeting,
 * then "tag OK" to every tagged command ("* BYE" before it for LOGOUT).
 * POP3 (-p): "+OK" to everything, QUIT closes.
 *
 *	stubd [-p] addr:port
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

static int	pop3;

static void
flushed_cb(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*out = bufferevent_get_output(bev);
	char		*line, *sp;
	size_t		 len;
	int		 bye = 0;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), &len,
	    EVBUFFER_EOL_CRLF)) != NULL) {
		if (pop3) {
			bye = strncasecmp(line, "QUIT", 4) == 0;
			evbuffer_add_printf(out, "+OK\r\n");
		} else if ((sp = strchr(line, ' ')) != NULL) {
			*sp++ = '\0';
			bye = strncasecmp(sp, "LOGOUT", 6) == 0;
			if (bye)
				evbuffer_add_printf(out, "* BYE stub\r\n");
			evbuffer_add_printf(out, "%s OK done\r\n", line);
		}
		free(line);
		if (bye) {
			bufferevent_disable(bev, EV_READ);
			bufferevent_setcb(bev, NULL, flushed_cb, NULL, NULL);
			return;
		}
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct bufferevent	*bev;
	const char		*greeting;

	bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, read_cb, NULL, event_cb, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	greeting = pop3 ? "+OK stub ready\r\n" :
	    "* OK [CAPABILITY IMAP4rev1] stub ready\r\n";
	bufferevent_write(bev, greeting, strlen(greeting));
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	struct rlimit		 rl;
	struct event_base	*base;
	char			 host[64], *colon;

	if (argc == 3 && strcmp(argv[1], "-p") == 0) {
		pop3 = 1;
		argv++;
		argc--;
	}
	if (argc != 2 || (colon = strrchr(argv[1], ':')) == NULL ||
	    (size_t)(colon - argv[1]) >= sizeof(host)) {
		fprintf(stderr, "usage: stubd [-p] addr:port\n");
		return 2;
	}
	memcpy(host, argv[1], colon - argv[1]);
	host[colon - argv[1]] = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "stubd: bad address %s\n", argv[1]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	base = event_base_new();
	if (evconnlistener_new_bind(base, accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
	    (struct sockaddr *)&sin, sizeof(sin)) == NULL) {
		perror("stubd: listen");
		return 1;
	}
	event_base_dispatch(base);
	return 0;
}
