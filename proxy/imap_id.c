/* IMAP ID towards the backend; see imap_id.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/imap_id.h"
#include "proxy/imap_parse.h"

#define ID_PAIRS_MAX	30	/* RFC 2971 §3.3 */
#define ID_VALUE_MAX	1024

/* Append s (quoted) or NIL to out; -1 if it does not fit or cannot be
 * quoted. */
static int
add_string(char *out, size_t outsz, size_t *n, const char *s, size_t len)
{
	int	r;

	if (*n + 2 > outsz)
		return -1;
	if (*n > 0)
		out[(*n)++] = ' ';
	if (s == NULL) {
		if (*n + 4 > outsz)
			return -1;
		memcpy(out + *n, "NIL", 4);
		*n += 3;
		return 0;
	}
	if ((r = imap_quote(s, len, out + *n, outsz - *n)) < 0)
		return -1;
	*n += (size_t)r;
	return 0;
}

char *
imap_id_from_client(const struct imap_command *cmd)
{
	const struct imap_arg	*k, *v;
	size_t			 i, n = 0, size, pairs = 0, save;
	char			*out, *shrunk;

	if (cmd->nargs < 4)
		return NULL;
	size = (ID_VALUE_MAX + 64) * 2 * ID_PAIRS_MAX;
	if ((out = malloc(size)) == NULL)
		return NULL;
	out[0] = '\0';
	for (i = 1; i + 2 < cmd->nargs && pairs < ID_PAIRS_MAX; i += 2) {
		k = &cmd->args[i];
		v = &cmd->args[i + 1];
		if (k->type != IMAP_ARG_STRING || k->len == 0 || k->len > 30 ||
		    strncasecmp(k->data, "x-", 2) == 0)
			continue;
		if (v->type == IMAP_ARG_STRING && v->len > ID_VALUE_MAX)
			continue;
		save = n;
		if (add_string(out, size, &n, k->data, k->len) == -1 ||
		    add_string(out, size, &n, v->type == IMAP_ARG_STRING ?
		    v->data : NULL, v->len) == -1) {
			/* Unquotable (8-bit, CR/LF): leave the pair out. */
			n = save;
			out[n] = '\0';
			continue;
		}
		pairs++;
	}
	if (n == 0) {
		free(out);
		return NULL;
	}
	/* Kept for the whole login: only what it needs. */
	if ((shrunk = realloc(out, n + 1)) != NULL)
		out = shrunk;
	return out;
}

/* "1.2.3.4:143" or "[::1]:143" into address and port. */
static int
split_addr(const char *a, char *ip, size_t iplen, const char **port)
{
	const char	*colon = strrchr(a, ':');
	size_t		 len;

	if (colon == NULL)
		return -1;
	*port = colon + 1;
	if (a[0] == '[' && colon > a && colon[-1] == ']') {
		a++;
		len = (size_t)(colon - 1 - a);
	} else
		len = (size_t)(colon - a);
	if (len >= iplen)
		return -1;
	memcpy(ip, a, len);
	ip[len] = '\0';
	return 0;
}

char *
imap_id_command(const char *tag, const char *client_id, int addresses,
    const char *client_addr, const char *local_addr, const char *session_id)
{
	char		 cip[64], lip[64], *out;
	const char	*cport, *lport;
	size_t		 size;
	int		 n;

	size = strlen(tag) + (client_id != NULL ? strlen(client_id) : 0) +
	    512;
	if ((out = malloc(size)) == NULL)
		return NULL;
	n = snprintf(out, size, "%s ID (%s", tag, client_id != NULL ?
	    client_id : "");
	if (addresses && split_addr(client_addr, cip, sizeof(cip),
	    &cport) == 0 && split_addr(local_addr, lip, sizeof(lip),
	    &lport) == 0)
		n += snprintf(out + n, size - (size_t)n, "%s"
		    "\"x-originating-ip\" \"%s\" \"x-originating-port\" \"%s\" "
		    "\"x-connected-ip\" \"%s\" \"x-connected-port\" \"%s\" "
		    "\"x-session-id\" \"%s\"", client_id != NULL ? " " : "",
		    cip, cport, lip, lport, session_id);
	snprintf(out + n, size - (size_t)n, ")\r\n");
	return out;
}
