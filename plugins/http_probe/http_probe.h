/* http_probe: shared types of the plugin's files (config, matcher, event loop). */
#ifndef HTTP_PROBE_H
#define HTTP_PROBE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <wmhost/plugin.h>

extern const struct wm_host_api *hp_api;

/* One accepted status range, inclusive. */
struct hp_range {
	int lo, hi;
};

/* A parsed expect_status spec ("200-399", "200,301-302", "2xx"). */
struct hp_status {
	struct hp_range *ranges;
	size_t n;
	char *text; /* as written, for error messages */
};

/* A compiled pattern; shared by the targets that use the same source text. */
struct hp_pattern {
	char *src;
	pcre2_code *code;
	size_t context; /* bytes of lookbehind to keep before a candidate start */
	unsigned refs;
};

enum hp_state {
	HP_IDLE = 0, /* waiting for its next slot */
	HP_READY,    /* slot reached, waiting for an in-flight place */
	HP_RUNNING,  /* a check is in flight */
};

/* One configured target. Strings are owned by the target. */
struct hp_target {
	char *name;
	char *url;
	char *method;
	char *body;
	struct curl_slist *headers;
	struct hp_status *status; /* owned unless == ctx default */
	struct hp_pattern *pattern;
	bool invert;
	bool follow;
	bool tls_verify;
	char *ca_file; /* the target's own tls_ca_file, else NULL (see hp_ctx) */
	long max_redirects;
	long ipresolve;
	long httpver; /* CURL_HTTP_VERSION_* */
	int64_t interval_us;
	int64_t timeout_ms;
	int64_t max_body;

	/* scheduling, owned by the loop thread */
	int64_t phase_us;
	int64_t next_due_us;
	enum hp_state state;
	uint64_t skipped;
};

/* Streaming pattern state of one check (see match.c). */
struct hp_matcher {
	const struct hp_pattern *pat;
	pcre2_match_data *md;
	unsigned char *carry; /* bytes kept from earlier chunks */
	size_t carry_len;
	size_t carry_cap;
	size_t cand;         /* offset in carry where a match may still start */
	uint64_t carry_base; /* body offset of carry[0] */
	int matched;         /* 1 found, 0 not (yet) */
	int failed;          /* PCRE2 error code, 0 if none */
	size_t limit;        /* never hold more than this */
};

/* What the loop thread measured for one check; the run thread turns it into
 * a record, so record building never slows the event loop. */
#define HP_MSG_MAX 320
#define HP_PHASE_NONE (-1)
#define HP_IP_MAX 64
struct hp_result {
	const struct hp_target *t;
	int64_t start_us; /* wall clock */
	const char *result;
	char msg[HP_MSG_MAX]; /* empty when ok */
	long code, httpver, redirects;
	/* phases summed over the requests of a redirect chain, in µs, never
	 * negative; HP_PHASE_NONE when the check ended before completing one */
	int64_t dns_us, connect_us, tls_us, ttfb_us;
	int64_t total_us;
	char ip[HP_IP_MAX];
	bool has_expiry;
	int64_t expires_us;
	uint64_t body_bytes;
	int pattern_matched; /* -1 null, 0 false, 1 true */
};

struct hp_ctx;

/* One event loop thread and the targets it owns (index % lanes == lane). */
struct hp_lane {
	struct hp_ctx *c;
	unsigned idx;
	pthread_t thread;
	bool started;
	int wake_fd; /* eventfd: wakes the loop */
	size_t n_targets;
	int64_t max_in_flight;
	/* finished checks for the emitting thread: a single-producer (loop),
	 * single-consumer (run) ring on free-running counters */
	struct hp_result *ring;
	size_t ring_cap;
	atomic_size_t ring_head, ring_tail;
	atomic_bool loop_waits_for_ring; /* the loop wants a wake-up when places free up */
	atomic_bool done;
	int rc;
	/* counters, loop thread (read by run() after the join) */
	uint64_t checks, skipped, skipped_logged;
};

struct hp_ctx {
	struct wm_instance *inst;
	char agent[256];
	struct hp_target *targets;
	size_t n_targets;
	struct hp_status *default_status;
	struct hp_pattern **patterns; /* every compiled pattern, for freeing */
	size_t n_patterns;
	int64_t max_in_flight;
	bool run_once;
	char *user_agent;
	char *ca_file; /* plugin-level tls_ca_file, NULL: the system's CAs */

	struct hp_lane *lanes;
	unsigned n_lanes;

	/* run/stop */
	atomic_int stop;       /* start no new checks; finish those under way */
	atomic_int abandon;    /* drop the checks under way too, return now */
	atomic_int stop_calls; /* the host's stop(): the second one abandons */
	int64_t stop_grace_us;              /* how long checks under way may finish after a stop */
	_Atomic int64_t stop_deadline_us;   /* monotonic; set by the first stop */
	atomic_bool run_sleeping; /* run() waits on cond */
	pthread_mutex_t mu; /* only for cond: run() sleeps when every ring is empty */
	pthread_cond_t cond;

	uint64_t seq;       /* check ids, run thread */
	int64_t started_us; /* process start (wall clock), part of check ids */
};

/* config.c */
int hp_config_load(struct hp_ctx *c, const struct wm_config *cfg, char *err, size_t errlen);
void hp_config_free(struct hp_ctx *c);
int hp_status_ok(const struct hp_status *s, long code);

/* match.c */
int hp_pattern_compile(const char *src, struct hp_pattern **out, char *err, size_t errlen);
void hp_pattern_unref(struct hp_pattern *p);
int hp_matcher_init(struct hp_matcher *m, const struct hp_pattern *pat, size_t limit);
void hp_matcher_reset(struct hp_matcher *m);
void hp_matcher_free(struct hp_matcher *m);
void hp_matcher_feed(struct hp_matcher *m, const unsigned char *p, size_t n);
void hp_matcher_finish(struct hp_matcher *m);

/* loop.c: runs the checks; each finished check fills hp_ring_slot() and
 * is published with hp_ring_commit(). */
void *hp_loop_main(void *lane);
struct hp_result *hp_ring_slot(struct hp_lane *ln);
void hp_ring_commit(struct hp_lane *ln);
size_t hp_ring_room(struct hp_lane *ln);

/* record.c: the check record (schema 1). NULL on out of memory. */
struct wm_record *hp_record_build(struct hp_ctx *c, const struct hp_result *res);

#endif
