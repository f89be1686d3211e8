/*
 * The status socket: a Unix stream socket speaking the line protocol of
 * control_proto.h, for ferryctl.  Created before privileges are
 * dropped, owned by the service user, mode and group from `control`.
 * Besides the file mode, each peer is checked with SO_PEERCRED: root,
 * ferryd's own user and members of the socket's group may talk to it.
 */
#ifndef FERRY_CONTROL_H
#define FERRY_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

struct control;
struct server;

/* Bind the socket of srv->conf; NULL with the reason in err. */
struct control	*control_new(struct server *, uid_t owner, gid_t group,
		    char *err, size_t errlen);
/* Close every connection, remove the socket file if still allowed. */
void		 control_free(struct control **);

#endif
