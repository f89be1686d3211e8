/*
 * TLS contexts and bufferevents; see tls.h.  libevent's
 * bufferevent_openssl does the record layer, always as a socket
 * bufferevent: for STARTTLS and backends a new one takes over the plain
 * one's socket.
 */
#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "proxy/tls.h"
#include "src/conf.h"
#include "src/xmalloc.h"

struct tls_sni {
	char		*name;
	SSL_CTX		*ctx;
};

/* A backend block's own CA file gets its own client context. */
struct tls_ca {
	char		*path;
	SSL_CTX		*ctx;
};

struct tls {
	atomic_uint	 refs;		/* server's, and one per session */
	SSL_CTX		*server;	/* default certificate; NULL: none */
	struct tls_sni	*sni;
	size_t		 nsni;
	SSL_CTX		*client;	/* towards backends: default CA */
	struct tls_ca	*cas;		/* backends with their own CA */
	size_t		 ncas;
};

static const char *
ssl_errstr(char *buf, size_t len)
{
	unsigned long	e, last = 0;

	/* The last error on the queue is the one nearest the cause. */
	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(last, buf, len);
	return buf;
}

/* struct tls allocated and not yet freed, for the metrics. */
static atomic_uint tls_nlive;

static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls	*t = arg;
	const char	*name;
	size_t		 i;

	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < t->nsni; i++) {
		if (strcasecmp(name, t->sni[i].name) == 0) {
			SSL_set_SSL_CTX(ssl, t->sni[i].ctx);
			break;
		}
	}
	/* Unknown names get the default certificate. */
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
server_ctx(const struct conf *conf, const char *cert, const char *key,
    int line, char *err, size_t errlen)
{
	const struct conf_tls	*ct = &conf->tls;
	SSL_CTX			*ctx;
	char			 eb[256];
	static const unsigned char sid[] = "ferry";

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "%s: tls: %s", conf->path,
		    ssl_errstr(eb, sizeof(eb)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, ct->min_version == 13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	/* An idle session should not keep two 16 KB record buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
#ifdef SSL_OP_CLEANSE_PLAINTEXT
	/* Decrypted client bytes (a LOGIN's password) are wiped, not just
	 * freed, with the record buffers. */
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
#endif
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "%s:%d: tls certificate %s: %s",
		    conf->path, line, cert, ssl_errstr(eb, sizeof(eb)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s:%d: tls key %s: %s", conf->path,
		    line, key, ssl_errstr(eb, sizeof(eb)));
		goto fail;
	}
	if (ct->ciphers != NULL &&
	    SSL_CTX_set_cipher_list(ctx, ct->ciphers) != 1) {
		snprintf(err, errlen, "%s:%d: tls ciphers \"%s\": %s",
		    conf->path, ct->line, ct->ciphers,
		    ssl_errstr(eb, sizeof(eb)));
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *
client_ctx(const struct conf *conf, const char *ca, const char *where,
    char *err, size_t errlen)
{
	SSL_CTX			*ctx;
	char			 eb[256];
	int			 r;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "%s: tls: %s", conf->path,
		    ssl_errstr(eb, sizeof(eb)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Verification is chosen per connection (per backend). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (ca != NULL)
		r = SSL_CTX_load_verify_locations(ctx, ca, NULL);
	else
		r = SSL_CTX_set_default_verify_paths(ctx);
	if (r != 1) {
		snprintf(err, errlen, "%s: %s ca %s: %s", conf->path, where,
		    ca != NULL ? ca : "(system)", ssl_errstr(eb, sizeof(eb)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * Does any backend get TLS?  If not, no client context is made: one
 * holds the whole CA store (about 0.85 MB with the system's bundle),
 * and every reload makes a new set (soak test).
 */
static int
backends_use_tls(const struct conf *conf)
{
	size_t	i;

	if (conf->backend.tls != CONF_BTLS_OFF)
		return 1;
	for (i = 0; i < conf->nbackends; i++)
		if (conf->backends[i].opts.tls != CONF_BTLS_OFF)
			return 1;
	return 0;
}

/* One client context per distinct CA file named in a backend block. */
static int
backend_cas(struct tls *t, const struct conf *conf, char *err,
    size_t errlen)
{
	const char	*ca, *dflt = conf->backend.ca;
	char		 where[300];
	size_t		 i, j;

	t->cas = xcalloc(conf->nbackends > 0 ? conf->nbackends : 1,
	    sizeof(*t->cas));
	for (i = 0; i < conf->nbackends; i++) {
		ca = conf->backends[i].opts.ca;
		if (ca == NULL || (dflt != NULL && strcmp(ca, dflt) == 0))
			continue;
		for (j = 0; j < t->ncas; j++)
			if (strcmp(t->cas[j].path, ca) == 0)
				break;
		if (j < t->ncas)
			continue;
		snprintf(where, sizeof(where), "%d: backend %s",
		    conf->backends[i].line, conf->backends[i].name);
		t->cas[t->ncas].ctx = client_ctx(conf, ca, where, err, errlen);
		if (t->cas[t->ncas].ctx == NULL)
			return -1;
		t->cas[t->ncas++].path = xstrdup(ca);
	}
	return 0;
}

static SSL_CTX *
ctx_for_ca(struct tls *t, const char *ca)
{
	size_t	i;

	for (i = 0; ca != NULL && i < t->ncas; i++)
		if (strcmp(t->cas[i].path, ca) == 0)
			return t->cas[i].ctx;
	return t->client;
}

/* Every listener that may talk TLS needs a certificate. */
static int
check_listeners(const struct conf *conf, char *err, size_t errlen)
{
	const struct conf_listen	*l;
	size_t				 i;

	if (conf->tls.certificate != NULL)
		return 0;
	for (i = 0; i < conf->nlistens; i++) {
		l = &conf->listens[i];
		if (l->implicit_tls) {
			snprintf(err, errlen, "%s:%d: listen %ss %s needs a "
			    "certificate (tls block)", conf->path, l->line,
			    conf_proto_name(l->proto), l->address);
			return -1;
		}
		if (l->starttls != CONF_STARTTLS_OFF) {
			snprintf(err, errlen, "%s:%d: listen %s %s offers "
			    "STARTTLS (starttls=required is the default) and "
			    "needs a certificate (tls block); or say "
			    "starttls=off", conf->path, l->line,
			    conf_proto_name(l->proto), l->address);
			return -1;
		}
	}
	return 0;
}

struct tls *
tls_new(const struct conf *conf, char *err, size_t errlen)
{
	const struct conf_tls	*ct = &conf->tls;
	struct tls		*t;
	size_t			 i;

	if (check_listeners(conf, err, errlen) == -1)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	atomic_init(&t->refs, 1);
	atomic_fetch_add_explicit(&tls_nlive, 1, memory_order_relaxed);
	if (backends_use_tls(conf) && ((t->client = client_ctx(conf,
	    conf->backend.ca, "backend-defaults", err, errlen)) == NULL ||
	    backend_cas(t, conf, err, errlen) == -1))
		goto fail;
	if (ct->certificate == NULL)
		return t;
	if ((t->server = server_ctx(conf, ct->certificate, ct->key, ct->line,
	    err, errlen)) == NULL)
		goto fail;
	t->sni = xcalloc(ct->nsni > 0 ? ct->nsni : 1, sizeof(*t->sni));
	for (i = 0; i < ct->nsni; i++) {
		t->sni[i].name = xstrdup(ct->sni[i].name);
		t->nsni++;
		if ((t->sni[i].ctx = server_ctx(conf, ct->sni[i].certificate,
		    ct->sni[i].key, ct->sni[i].line, err, errlen)) == NULL)
			goto fail;
	}
	SSL_CTX_set_tlsext_servername_callback(t->server, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(t->server, t);
	return t;
fail:
	tls_unref(&t);
	return NULL;
}

struct tls *
tls_ref(struct tls *t)
{
	/* The caller holds a reference already: no ordering needed. */
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

static void
tls_free(struct tls *t)
{
	size_t	i;

	for (i = 0; i < t->nsni; i++) {
		free(t->sni[i].name);
		SSL_CTX_free(t->sni[i].ctx);
	}
	free(t->sni);
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	for (i = 0; i < t->ncas; i++) {
		free(t->cas[i].path);
		SSL_CTX_free(t->cas[i].ctx);
	}
	free(t->cas);
	free(t);
	atomic_fetch_sub_explicit(&tls_nlive, 1, memory_order_relaxed);
}

void
tls_unref(struct tls **tp)
{
	struct tls	*t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	/* Release: this thread's use of t happens before the free;
	 * acquire: the thread that frees sees every other's use. */
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		tls_free(t);
}

unsigned int
tls_live(void)
{
	return atomic_load_explicit(&tls_nlive, memory_order_relaxed);
}

int
tls_server_ready(const struct tls *t)
{
	return t != NULL && t->server != NULL;
}

struct bufferevent *
tls_accept(struct tls *t, struct event_base *base, int fd)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if (t->server == NULL || (ssl = SSL_new(t->server)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* Mail clients do not send close_notify reliably. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/*
 * A TLS bufferevent on old's socket; old is freed without closing it.
 * A filter over old would be simpler, but then "output empty" would no
 * longer mean "written": the last answer before a close could be lost.
 */
static struct bufferevent *
upgrade(struct event_base *base, struct bufferevent *old, SSL *ssl,
    enum bufferevent_ssl_state st)
{
	struct bufferevent	*bev;
	evutil_socket_t		 fd = bufferevent_getfd(old);

	if (fd == -1 || evbuffer_get_length(bufferevent_get_output(old)) != 0)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, fd, ssl, st,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_disable(old, EV_READ | EV_WRITE);
	bufferevent_setfd(old, -1);
	bufferevent_free(old);
	return bev;
}

struct bufferevent *
tls_wrap_server(struct tls *t, struct event_base *base,
    struct bufferevent *old)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if (t->server == NULL || (ssl = SSL_new(t->server)) == NULL)
		return NULL;
	if ((bev = upgrade(base, old, ssl, BUFFEREVENT_SSL_ACCEPTING)) == NULL)
		SSL_free(ssl);
	return bev;
}

struct bufferevent *
tls_wrap_client(struct tls *t, struct event_base *base,
    struct bufferevent *old, const char *host, const char *ca, int verify)
{
	struct bufferevent	*bev;
	struct in6_addr		 a6;
	SSL_CTX			*ctx;
	SSL			*ssl;
	int			 is_ip;

	/* No context: no backend of this configuration wants TLS. */
	if ((ctx = ctx_for_ca(t, ca)) == NULL || (ssl = SSL_new(ctx)) == NULL)
		return NULL;
	SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	is_ip = inet_pton(AF_INET6, host, &a6) == 1 ||
	    inet_pton(AF_INET, host, &a6) == 1;
	/* SNI is for names only (RFC 6066 §3). */
	if (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	if (verify) {
		if (is_ip) {
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			    host) != 1)
				goto fail;
		} else if (SSL_set1_host(ssl, host) != 1)
			goto fail;
	}
	if ((bev = upgrade(base, old, ssl, BUFFEREVENT_SSL_CONNECTING)) !=
	    NULL)
		return bev;
fail:
	SSL_free(ssl);
	return NULL;
}

const char *
tls_error(struct bufferevent *bev, char *buf, size_t len)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long	 e, last = 0;
	long		 vr;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		last = e;
	if (ssl != NULL && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
	    (vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(buf, len, "certificate verification failed: %s",
		    X509_verify_cert_error_string(vr));
		return buf;
	}
	if (last != 0) {
		ERR_error_string_n(last, buf, len);
		return buf;
	}
	snprintf(buf, len, "connection closed during the handshake");
	return buf;
}

const char *
tls_describe(struct bufferevent *bev, char *buf, size_t len)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl == NULL)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%s %s", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl));
	return buf;
}
