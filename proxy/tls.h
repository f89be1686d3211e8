/*
 * TLS contexts and TLS bufferevents, on both sides of the proxy.
 *
 * Server side: a default certificate plus per-name certificates chosen
 * by SNI, a minimum protocol version, ciphers, SSL_MODE_RELEASE_BUFFERS
 * (an idle session keeps no TLS buffers).  Client side (backends):
 * verification against a CA file or the system store, with the host
 * name or address checked, on by default.
 *
 * tls_new() reads every certificate and key, so it runs before
 * privileges are dropped (and for ferryd -t).
 *
 * A struct tls is reference counted (atomically: sessions on any worker
 * thread): main holds one on the current set, and every session holds
 * one from accept to close, for its client handshake (implicit TLS or a
 * later STARTTLS, SNI included) and its backend's.  A reload replaces
 * main's set and drops main's reference; the old set is freed when its
 * last session ends.
 */
#ifndef FERRY_TLS_H
#define FERRY_TLS_H

#include <stddef.h>

struct bufferevent;
struct conf;
struct event_base;
struct tls;

/* A new set holding one reference (the caller's). */
struct tls	*tls_new(const struct conf *, char *err, size_t errlen);
/* Another reference to t; returns t. */
struct tls	*tls_ref(struct tls *);
/* Drop the reference *tp (NULL: nothing), free the set with the last
 * one, and set *tp to NULL. */
void		 tls_unref(struct tls **);
/* How many sets exist now: 1, plus old ones kept by open sessions. */
unsigned int	 tls_live(void);
/* 1 if the server side has a certificate (STARTTLS can be offered). */
int		 tls_server_ready(const struct tls *);

/*
 * Implicit TLS: a bufferevent on fd (owned, closed on free) that starts
 * with the server handshake; BEV_EVENT_CONNECTED reports its end.  NULL
 * on failure (fd is then still the caller's).
 */
struct bufferevent *tls_accept(struct tls *, struct event_base *, int fd);

/*
 * Put TLS on the connection of a plain bufferevent (STARTTLS, or a
 * backend once TCP is up): a new bufferevent takes over its socket and
 * old is freed.  old's output must be empty (the STARTTLS answer
 * written); its input is dropped with it, since bytes read before the
 * handshake came in clear and must never pass as coming over TLS.  On
 * failure NULL is returned and old is left alone.
 *
 * tls_wrap_client() verifies the backend's certificate for host (a
 * name or an IP address) against ca (NULL: backend-defaults' CA) unless
 * verify is 0, and sends SNI for names.
 */
struct bufferevent *tls_wrap_server(struct tls *, struct event_base *,
		    struct bufferevent *old);
struct bufferevent *tls_wrap_client(struct tls *, struct event_base *,
		    struct bufferevent *old, const char *host, const char *ca,
		    int verify);

/* Why the last handshake on bev failed, for the log: OpenSSL's error
 * queue, or the certificate verification result. */
const char	*tls_error(struct bufferevent *, char *buf, size_t len);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", or "-" before TLS. */
const char	*tls_describe(struct bufferevent *, char *buf, size_t len);

#endif
