/*
 * A login's route: what the lookup answered, kept on the session so the
 * backend dialogue can use the backend's own settings, mark a backend
 * down when it does not answer, and heal a stale cached route (the user
 * moved but the cache still says the old backend).
 */
#ifndef FERRY_ROUTE_H
#define FERRY_ROUTE_H

struct session;
struct lookup_result;
struct conf_backend_defaults;

/* Take an OK answer: remember it.  0 to go on connecting; -1 if the
 * login was failed instead (out of memory). */
int	route_accept(struct session *, const struct lookup_result *);
/* The settings of the routed backend (or backend-defaults). */
const struct conf_backend_defaults *route_opts(const struct session *);
/* The name to log in with on the backend. */
char	*route_login_user(const struct session *);
/* The backend refused the credentials.  1 if ferry is looking the user
 * up again to try another backend (the caller returns), else 0. */
int	route_heal(struct session *);
/* Connecting to backend_addr failed: mark it down for down-time, unless
 * another connection to it got through since this one began. */
void	route_connect_failed(struct session *);
/* backend_addr answered: lift its mark. */
void	route_connect_ok(struct session *);
/* Is backend_addr marked down?  Then the login fails at once. */
int	route_down(struct session *);
/* Forget the route (login over, or failed). */
void	route_clear(struct session *);

#endif
