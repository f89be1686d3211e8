/*
 * ferryd: load the configuration, bind, drop privileges, run the loop.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "src/conf.h"
#include "src/listener.h"
#include "src/log.h"
#include "src/worker.h"

#define DEFAULT_CONF	SYSCONFDIR "/ferry/ferry.conf"

static void
usage(void)
{
	fprintf(stderr, "usage: ferryd [-ftv] [-c file]\n");
	exit(1);
}

static void
drop_privileges(const struct conf *conf)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (conf->user == NULL)
		return;
	if ((pw = getpwnam(conf->user)) == NULL)
		fatalx("%s: user %s: no such user", conf->path, conf->user);
	gid = pw->pw_gid;
	if (conf->group != NULL) {
		if ((gr = getgrnam(conf->group)) == NULL)
			fatalx("%s: group %s: no such group", conf->path,
			    conf->group);
		gid = gr->gr_gid;
	}
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("dropping privileges to %s", conf->user);
	log_debug("running as %s", conf->user);
}

static void
write_pid_file(const struct conf *conf)
{
	FILE	*f;

	if (conf->pid_file == NULL)
		return;
	if ((f = fopen(conf->pid_file, "w")) == NULL)
		fatal("pid-file %s", conf->pid_file);
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

static void
on_stop_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct event_base	*base = arg;

	log_info("received %s, shutting down",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(base);
}

static void
on_hup(evutil_socket_t sig, short ev, void *arg)
{
	log_warnx("received SIGHUP: reloading is not implemented yet, "
	    "configuration unchanged");
}

int
main(int argc, char *argv[])
{
	const char		*path = DEFAULT_CONF;
	char			 err[CONF_ERR_MAX];
	struct conf		*conf;
	struct listener_set	*listeners;
	struct worker		*w;
	struct event		*sigterm, *sigint, *sighup;
	int			 ch, foreground = 0, verbose = 0, check = 0;

	while ((ch = getopt(argc, argv, "c:ftv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			check = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if ((conf = conf_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "ferryd: %s\n", err);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK\n", path);
		conf_free(&conf);
		return 0;
	}
	log_init(1, verbose);
	signal(SIGPIPE, SIG_IGN);
	if ((listeners = listener_bind(conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "ferryd: %s\n", err);
		conf_free(&conf);
		return 1;
	}
	if (!foreground) {
		if (daemon(0, 0) == -1)
			fatal("daemon");
		log_init(0, verbose);
	}
	write_pid_file(conf);
	drop_privileges(conf);

	w = worker_new(conf);
	listener_start(listeners, w);
	sigterm = evsignal_new(w->base, SIGTERM, on_stop_signal, w->base);
	sigint = evsignal_new(w->base, SIGINT, on_stop_signal, w->base);
	sighup = evsignal_new(w->base, SIGHUP, on_hup, NULL);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_add(sighup, NULL);
	log_info("ferryd %s started", PACKAGE_VERSION);

	event_base_dispatch(w->base);

	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	listener_free(&listeners);
	worker_free(&w, "shutdown");
	log_info("ferryd stopped");
	conf_free(&conf);
	return 0;
}
