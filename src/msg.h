/*
 * The messages between the main thread and the workers (STYLE.md part
 * C): a closed set of types, each a struct msg with its part of the
 * union filled in.  The sender allocates with msg_new(); the receiver
 * frees with msg_free().
 */
#ifndef FERRY_MSG_H
#define FERRY_MSG_H

#include "lookup/lookup.h"
#include "src/mq.h"

struct task;
struct tls;
struct worker;
struct worker_lookup;

enum msg_type {
	MSG_LOOKUP_REQ,		/* worker -> main: where does user live? */
	MSG_LOOKUP_CANCEL,	/* worker -> main: the login went away */
	MSG_LOOKUP_RES,		/* main -> worker: one per LOOKUP_REQ */
	MSG_TASK,		/* main -> worker: run part i of a task
				 * (a kick, a listing, counters, a reload,
				 * drain, stop: src/hub.h, server.c) */
	MSG_TASK_DONE,		/* worker -> main: part i is written */
};

struct msg {
	struct mq_msg		 q;		/* q.type: enum msg_type */
	struct worker		*worker;	/* sender or receiver */
	union {
		struct {
			struct worker_lookup	*wl;	/* echoed back */
			int			 refresh;
			char			*user;
		} lookup_req;
		struct {
			struct worker_lookup	*wl;
			int			 answered; /* 0: cancelled */
			struct lookup_result	 res;
			char			*backend;  /* res.backend's */
			char			*login;
			char			 reason[200];
		} lookup_res;
		struct {
			struct task	*task;
			size_t		 part;
		} task;
	} u;
};

struct msg	*msg_new(enum msg_type, struct worker *);
void		 msg_free(struct msg *);
/* For mq_new(): frees an unhandled message and what it holds. */
void		 msg_drop(struct mq_msg *);

#endif
