/* Histograms and Prometheus rendering; see metrics.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "src/metrics.h"

/* From a cached answer (well under a millisecond) to a slow LDAP. */
const double histogram_bounds[HIST_NBOUNDS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 5,
};

static const char *const state_names[MST_COUNT] = {
	[MST_PREAUTH] = "preauth",
	[MST_LOGIN] = "login",
	[MST_RELAY] = "relay",
	[MST_CLOSING] = "closing",
};

void
histogram_observe(struct histogram *h, uint64_t us)
{
	size_t	i;

	for (i = 0; i < HIST_NBOUNDS; i++)
		if ((double)us <= histogram_bounds[i] * 1e6)
			break;
	h->buckets[i]++;
	h->count++;
	h->sum_us += us;
}

void
histogram_add(struct histogram *to, const struct histogram *h)
{
	size_t	i;

	for (i = 0; i <= HIST_NBOUNDS; i++)
		to->buckets[i] += h->buckets[i];
	to->count += h->count;
	to->sum_us += h->sum_us;
}

uint64_t
metrics_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

const char *
metrics_state_name(enum metrics_state st)
{
	if ((unsigned)st >= MST_COUNT)
		return "unknown";
	return state_names[st];
}

static void
counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
	    name, name, (unsigned long long)v);
}

static void
gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help,
	    name, name, (unsigned long long)v);
}

static void
histogram(FILE *f, const char *name, const char *help,
    const struct histogram *h)
{
	uint64_t	cum = 0;
	size_t		i;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < HIST_NBOUNDS; i++) {
		cum += h->buckets[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name,
		    histogram_bounds[i], (unsigned long long)cum);
	}
	cum += h->buckets[HIST_NBOUNDS];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)cum);
	fprintf(f, "%s_sum %.6f\n%s_count %llu\n", name,
	    (double)h->sum_us / 1e6, name, (unsigned long long)h->count);
}

char *
metrics_render(const struct metrics_snapshot *s)
{
	FILE	*f;
	char	*out = NULL;
	size_t	 len = 0, i;

	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	fprintf(f, "# HELP ferry_build_info ferryd version.\n"
	    "# TYPE ferry_build_info gauge\n"
	    "ferry_build_info{version=\"%s\"} 1\n", s->version);
	gauge(f, "ferry_uptime_seconds", "Seconds since ferryd started.",
	    s->uptime_s);
	fprintf(f, "# HELP ferry_sessions Client sessions open now, by "
	    "state.\n# TYPE ferry_sessions gauge\n");
	for (i = 0; i < MST_COUNT; i++)
		fprintf(f, "ferry_sessions{state=\"%s\"} %llu\n",
		    state_names[i], (unsigned long long)s->sessions[i]);
	counter(f, "ferry_sessions_total", "Client connections accepted.",
	    s->sessions_total);
	fprintf(f, "# HELP ferry_connections_refused_total Client "
	    "connections refused, by limit.\n"
	    "# TYPE ferry_connections_refused_total counter\n"
	    "ferry_connections_refused_total{reason=\"sessions\"} %llu\n"
	    "ferry_connections_refused_total{reason=\"per-client\"} %llu\n"
	    "ferry_connections_refused_total{reason=\"backoff\"} %llu\n",
	    (unsigned long long)s->refused_total,
	    (unsigned long long)s->refused_per_client,
	    (unsigned long long)s->refused_backoff);
	fprintf(f, "# HELP ferry_logins_total Logins, by result.\n"
	    "# TYPE ferry_logins_total counter\n"
	    "ferry_logins_total{result=\"ok\"} %llu\n"
	    "ferry_logins_total{result=\"failed\"} %llu\n"
	    "ferry_logins_total{result=\"unavailable\"} %llu\n",
	    (unsigned long long)s->logins_ok,
	    (unsigned long long)s->logins_failed,
	    (unsigned long long)s->logins_unavailable);
	counter(f, "ferry_sessions_kicked_total", "Sessions closed by kick.",
	    s->kicked);
	fprintf(f, "# HELP ferry_relayed_bytes_total Bytes relayed, by "
	    "direction.\n# TYPE ferry_relayed_bytes_total counter\n"
	    "ferry_relayed_bytes_total{direction=\"in\"} %llu\n"
	    "ferry_relayed_bytes_total{direction=\"out\"} %llu\n",
	    (unsigned long long)s->bytes_in,
	    (unsigned long long)s->bytes_out);
	counter(f, "ferry_cache_hits_total", "Lookups answered by the cache.",
	    s->cache_hits);
	counter(f, "ferry_cache_misses_total", "Lookups the cache could not "
	    "answer.", s->cache_misses);
	gauge(f, "ferry_cache_entries", "Answers held in the cache.",
	    s->cache_entries);
	if (s->ldap_up >= 0)
		gauge(f, "ferry_ldap_up", "1 if ferryd is connected and bound "
		    "to an LDAP server.", (uint64_t)s->ldap_up);
	counter(f, "ferry_reloads_total", "Configuration reloads applied.",
	    s->reloads);
	counter(f, "ferry_reload_failures_total", "Configuration reloads "
	    "refused.", s->reload_failures);
	gauge(f, "ferry_tls_context_sets", "TLS certificate and CA sets in "
	    "memory: the current one, and older ones that sessions begun "
	    "before a reload still use.", s->tls_sets);
	histogram(f, "ferry_lookup_duration_seconds", "Time from a login "
	    "to the answer where the user lives (cache or LDAP).",
	    &s->lookup_latency);
	histogram(f, "ferry_backend_connect_duration_seconds", "Time to "
	    "establish a TCP connection to a backend.", &s->connect_latency);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
