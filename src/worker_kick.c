/* Kicking a user's sessions on one worker; see worker.h. */
#include "config.h"

#include <stddef.h>
#include <strings.h>

#include "proxy/kick.h"
#include "proxy/session.h"
#include "src/worker.h"

/* Has the session a backend (being logged in, or relaying)? */
static int
on_backend(const struct session *s)
{
	return !s->closed && s->user != NULL &&
	    (s->state == SESS_BACKEND_CONNECT ||
	    s->state == SESS_BACKEND_LOGIN || s->state == SESS_RELAY);
}

size_t
worker_kick_match(struct worker *w, worker_match_fn *match, void *arg,
    const char *only_if_backend_not, const char *reason, const char *bye,
    int grace_ms)
{
	struct session	*s, *next;
	size_t		 n = 0;

	/* A kick may close s (and only s): keep the next one first. */
	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (!on_backend(s) || s->kick != NULL || !match(s->user, arg))
			continue;
		if (only_if_backend_not != NULL &&
		    session_backend_is(s, only_if_backend_not))
			continue;
		session_kick_after(s, reason, bye, grace_ms);
		n++;
	}
	return n;
}

static int
same_user(const char *login, void *arg)
{
	return strcasecmp(login, arg) == 0;
}

size_t
worker_kick_user(struct worker *w, const char *user,
    const char *only_if_backend_not)
{
	return worker_kick_match(w, same_user, (void *)user,
	    only_if_backend_not, "kicked",
	    "Closed by the administrator, please reconnect.", 0);
}
