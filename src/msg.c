/* Messages between threads; see msg.h. */
#include "config.h"

#include <stdlib.h>

#include "src/hub.h"
#include "src/msg.h"
#include "src/xmalloc.h"

struct msg *
msg_new(enum msg_type type, struct worker *w)
{
	struct msg	*m;

	m = xcalloc(1, sizeof(*m));
	m->q.type = (int)type;
	m->worker = w;
	return m;
}

void
msg_free(struct msg *m)
{
	switch ((enum msg_type)m->q.type) {
	case MSG_LOOKUP_REQ:
		free(m->u.lookup_req.user);
		break;
	case MSG_LOOKUP_RES:
		free(m->u.lookup_res.backend);
		free(m->u.lookup_res.login);
		break;
		break;
	default:
		break;
	}
	free(m);
}

void
msg_drop(struct mq_msg *q)
{
	struct msg	*m = (struct msg *)q;

	if (m->q.type == MSG_TASK || m->q.type == MSG_TASK_DONE)
		task_release(m->u.task.task);
	msg_free(m);
}
