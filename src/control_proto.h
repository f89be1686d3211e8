/*
 * The status socket's line protocol, shared by ferryd and ferryctl.
 * Pure: no sockets, no libevent.
 *
 * A request is one line: VERB [ARGUMENT].  The answer is any number of
 * lines "* TYPE key=value ..." (records) and "+ TEXT" (raw text, for
 * metrics), then one final line, "ok [TEXT]" or "error TEXT".
 * A value is a number, true/false, or a string in double quotes in
 * which bytes outside '!'..'~' and '"', '%' are written %XX, so a
 * record never holds a blank.
 */
#ifndef FERRY_CONTROL_PROTO_H
#define FERRY_CONTROL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define CONTROL_LINE_MAX	1024	/* request line, without newline */
#define CONTROL_ARG_MAX		255	/* a user name */
#define CONTROL_FIELDS_MAX	32

enum control_verb {
	CTL_STATUS,
	CTL_SESSIONS,
	CTL_LOOKUP,
	CTL_KICK,
	CTL_FLUSH,
	CTL_RELOAD,
	CTL_METRICS,
	CTL_HOLD,		/* hold USER [SECONDS] (src/moves.h) */
	CTL_RELEASE,
	CTL_MOVES,
	CTL_VERB_COUNT
};

struct control_req {
	enum control_verb	 verb;
	int			 has_arg;
	char			 arg[CONTROL_ARG_MAX + 1];
	int			 has_arg2;	/* hold's SECONDS */
	char			 arg2[CONTROL_ARG_MAX + 1];
};

/* Parse one request line (without its newline).  0, or -1 with an
 * error text meant for the person who typed it. */
int		 control_parse(const char *line, size_t len,
		    struct control_req *, const char **errstr);
const char	*control_verb_name(enum control_verb);

/* A growing answer.  Allocation failures are remembered (oom) and the
 * caller answers "error out of memory" instead. */
struct ctlbuf {
	char	*data;
	size_t	 len;
	size_t	 size;
	int	 oom;
};

void	ctlbuf_printf(struct ctlbuf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* " key=\"escaped value\"" and " key=number" */
void	ctlbuf_str(struct ctlbuf *, const char *key, const char *val);
void	ctlbuf_num(struct ctlbuf *, const char *key, uint64_t val);
void	ctlbuf_free(struct ctlbuf *);

struct control_field {
	const char	*key;
	const char	*value;		/* unescaped */
	int		 is_string;	/* else a number or true/false */
};

/* Split a record line ("* TYPE k=v ...", without newline) in place.
 * Returns the number of fields, or -1 if the line is malformed. */
int	control_record_parse(char *line, const char **type,
	    struct control_field *, size_t max);

#endif
