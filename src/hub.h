/*
 * The main thread's side of the workers: it owns the lookup service,
 * the moves follower and the per-address table, answers the workers'
 * lookups (src/msg.h), and runs tasks on every worker -- a kick, a
 * session listing, counters -- gathering one part from each before it
 * calls back (relayd's IMSG_CTL_SESSION / IMSG_CTL_END fan-out).
 *
 * With one worker, the worker shares the main thread's loop and asks
 * the lookup service directly; with more, each runs on its own thread.
 */
#ifndef FERRY_HUB_H
#define FERRY_HUB_H

#include <stddef.h>
#include <sys/queue.h>

#include "src/control_proto.h"
#include "src/sessions.h"

struct clients;
struct downs;
struct event_base;
struct evdns_base;
struct hub_lookup;
struct lookup;
struct lookup_result;
struct moves;
struct mq;
struct task;
struct worker;

TAILQ_HEAD(hub_lookup_list, hub_lookup);

struct hub {
	struct event_base	*base;		/* the main thread's */
	struct evdns_base	*dns;
	struct mq		*inbox;
	struct worker		**workers;
	size_t			 nworkers;
	struct lookup		*lookup;	/* current; reload swaps it */
	struct moves		*moves;
	struct clients		*clients;	/* shared, locked */
	struct downs		*downs;		/* shared, locked */
	struct hub_lookup_list	 lookups;	/* workers' requests */
	/* Sessions open on all workers, for limits sessions. */
	_Atomic size_t		 nsessions;
};

/* What one worker wrote for a task. */
struct task_part {
	size_t			 count;		/* kicked, listed */
	struct ctlbuf		 buf;		/* records */
	struct sessions_tally	 tally;
};

/* Runs on a worker's thread; reads t->params only. */
typedef void	task_fn(struct worker *, const struct task *,
		    struct task_part *);
/* Runs on the main thread once every part is in. */
typedef void	task_done_fn(struct task *, void *arg);

struct task {
	task_fn			*fn;
	task_done_fn		*done;		/* NULL: abandoned */
	void			*done_arg;
	void			*params;	/* freed with params_free */
	void			(*params_free)(void *);
	size_t			 nparts, left;
	struct task_part	 parts[];
};

struct hub	*hub_new(struct event_base *, struct clients *);
/* After every worker has stopped. */
void		 hub_free(struct hub **);
/* Post a task to every worker; done runs later, on the main thread,
 * unless task_abandon() was called.  params belongs to the task. */
struct task	*hub_task(struct hub *, task_fn *, void *params,
		    void (*params_free)(void *), task_done_fn *, void *arg);
/* The requester went away: the task ends without calling back. */
void		 task_abandon(struct task *);
/* A part that will never come (shutdown): no callback. */
void		 task_release(struct task *);
/* A task: the worker's counts, without status rows (tick, metrics). */
void		 hub_tally_task(struct worker *, const struct task *,
		    struct task_part *);
/* The sum of the parts' tallies, into t->parts[0].tally. */
void		 task_merge_tallies(struct task *);
/* What the main thread adds to a worker's lookup answer: holds
 * (ferryctl hold). */
void		 hub_answer(struct hub *, const char *user,
		    struct lookup_result *);

#endif
