/*
 * ferryd: load the configuration, bind, drop privileges, run the loop.
 */
#include "config.h"

#include <sys/resource.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy/tls.h"
#include "lookup/lookup.h"
#include "src/clients.h"
#include "src/conf.h"
#include "src/hub.h"
#include "src/listener.h"
#include "src/log.h"
#include "src/moves.h"
#include "src/privdrop.h"
#include "src/server.h"
#include "src/worker.h"
#include "src/xmalloc.h"

#define DEFAULT_CONF	SYSCONFDIR "/ferry/ferry.conf"

static void
usage(void)
{
	fprintf(stderr, "usage: ferryd [-ftv] [-c file]\n");
	exit(1);
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

/*
 * A relayed session holds two descriptors, four while splice(2) moves a
 * bulk transfer through a pipe; distributions start daemons with a soft
 * limit of 1024.  Raise the limit for "limits sessions" now, while still
 * root (only root may raise the hard limit, up to fs.nr_open).
 */
static void
raise_nofile(const struct conf *conf)
{
	struct rlimit	rl;
	rlim_t		want, need;
	FILE		*f;
	unsigned long	nr_open;

	want = (rlim_t)conf->limits.sessions * 4 + 256;
	need = (rlim_t)conf->limits.sessions * 2 + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (want > rl.rlim_max && geteuid() == 0) {
		if ((f = fopen("/proc/sys/fs/nr_open", "r")) != NULL) {
			if (fscanf(f, "%lu", &nr_open) == 1 && want > nr_open)
				want = nr_open;
			fclose(f);
		}
		if (want > rl.rlim_max)
			rl.rlim_max = want;
	}
	if (want > rl.rlim_max)
		want = rl.rlim_max;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE %llu",
			    (unsigned long long)want);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need)
		log_warnx("descriptor limit %llu is below the %llu that "
		    "limits sessions %d needs", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)need, conf->limits.sessions);
}

/* Says why on stderr and gives back what start-up took so far. */
static int
start_failed(const char *why, struct listener_set **listeners, int n,
    struct tls **tls, struct conf **conf)
{
	fprintf(stderr, "ferryd: %s\n", why);
	while (n-- > 0)
		listener_free(&listeners[n]);
	tls_unref(tls);
	conf_free(conf);
	return 1;
}

int
main(int argc, char *argv[])
{
	const char		*path = DEFAULT_CONF;
	char			 err[CONF_ERR_MAX];
	struct conf		*conf;
	struct listener_set	*listeners[CONF_WORKERS_MAX];
	struct event_base	*base;
	struct clients		*clients;
	struct hub		*hub;
	struct tls		*tls;
	struct server		*srv;
	int			 ch, foreground = 0, verbose = 0, check = 0;
	int			 i, nworkers;

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
	/* Certificates and keys are read now, while still privileged. */
	if ((tls = tls_new(conf, err, sizeof(err))) == NULL)
		return start_failed(err, listeners, 0, &tls, &conf);
	if (check) {
		printf("%s: configuration OK\n", path);
		tls_unref(&tls);
		conf_free(&conf);
		return 0;
	}
	log_init(1, verbose);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(conf);
	/* Each worker its own sockets (SO_REUSEPORT). */
	nworkers = conf_workers(conf);
	if (privdrop_check(conf, err, sizeof(err)) == -1)
		return start_failed(err, listeners, 0, &tls, &conf);
	for (i = 0; i < nworkers; i++)
		if ((listeners[i] = listener_bind(conf, i == 0, err,
		    sizeof(err))) == NULL)
			return start_failed(err, listeners, i, &tls, &conf);
	if (!foreground) {
		if (daemon(0, 0) == -1)
			fatal("daemon");
		log_init(0, verbose);
	}
	write_pid_file(conf);

	/* The main loop: signals, control, the lookup service; with one
	 * worker, the worker too. */
	base = worker_new_base();
	if ((clients = clients_new()) == NULL)
		fatalx("out of memory");
	hub = hub_new(base, clients);
	hub->lookup = lookup_new(base, hub->dns, conf);
	hub->moves = moves_new(hub, conf);
	hub->nworkers = (size_t)nworkers;
	hub->workers = xcalloc(hub->nworkers, sizeof(*hub->workers));
	for (i = 0; i < nworkers; i++)
		hub->workers[i] = worker_new(hub, (size_t)i, conf, tls,
		    listeners[i], nworkers == 1);
	/* The control socket and metrics endpoint are bound as root too. */
	srv = server_new(path, conf, hub, tls);
	/* Before the threads start: capabilities are per thread. */
	if (privdrop(conf, err, sizeof(err)) == -1)
		fatalx("%s", err);
	server_start(srv);
	log_info("%d worker%s%s", nworkers, nworkers == 1 ? "" : "s",
	    nworkers == 1 ? ", on the main thread" : ", one thread each");
	log_info("ferryd %s started", PACKAGE_VERSION);

	event_base_dispatch(base);

	/* Closes the sessions left, frees the worker, tls and conf. */
	server_free(&srv);
	event_base_free(base);
	log_info("ferryd stopped");
	return 0;
}
