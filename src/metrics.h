/*
 * Metrics: latency histograms kept by the workers, and the Prometheus
 * text exposition (version 0.0.4) rendered by a pure function over a
 * snapshot that the caller fills in (Redis INFO: snapshot, then render).
 */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds in seconds; the last bucket is +Inf. */
#define HIST_NBOUNDS	12

struct histogram {
	uint64_t	buckets[HIST_NBOUNDS + 1];	/* not cumulative */
	uint64_t	count;
	uint64_t	sum_us;
};

extern const double	histogram_bounds[HIST_NBOUNDS];

void		 histogram_observe(struct histogram *, uint64_t us);
void		 histogram_add(struct histogram *, const struct histogram *);
/* A monotonic clock in microseconds, for latency measurements. */
uint64_t	 metrics_now_us(void);

enum metrics_state {
	MST_PREAUTH,
	MST_LOGIN,		/* lookup, backend connect and login */
	MST_RELAY,
	MST_CLOSING,
	MST_COUNT
};

struct metrics_snapshot {
	const char	*version;
	uint64_t	 uptime_s;
	uint64_t	 sessions[MST_COUNT];	/* open now, by state */
	uint64_t	 sessions_total;	/* accepted since start */
	uint64_t	 refused_total;		/* over the session limit */
	uint64_t	 refused_per_client;
	uint64_t	 refused_backoff;
	uint64_t	 logins_ok;
	uint64_t	 logins_failed;
	uint64_t	 logins_unavailable;
	uint64_t	 kicked;
	uint64_t	 bytes_in;		/* client to backend */
	uint64_t	 bytes_out;		/* backend to client */
	uint64_t	 cache_hits;
	uint64_t	 cache_misses;
	uint64_t	 cache_entries;
	int		 ldap_up;		/* -1: not known */
	uint64_t	 reloads;
	uint64_t	 reload_failures;
	uint64_t	 tls_sets;		/* current, and kept by sessions */
	struct histogram lookup_latency;
	struct histogram connect_latency;
};

const char	*metrics_state_name(enum metrics_state);
/* Render s as Prometheus text.  Returns a string the caller frees, or
 * NULL if out of memory. */
char		*metrics_render(const struct metrics_snapshot *);

#endif
