/*
 * http_probe: a source that checks websites on a schedule and emits one check
 * record per check. This file is the plugin face: the descriptor, the
 * lifecycle, and run(), which starts the event loop thread (loop.c) and hands
 * the records it finishes to api->emit on the host's source thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "http_probe.h"

#define HP_EMIT_POLL_MS 5 /* run() looks for finished checks this often when idle */
/* Ring places beyond one per in-flight check: results wait there while
 * run() sleeps between polls or emit() blocks, so the loop keeps going. */
#define HP_RING_SPARE 2048
#define NS_PER_MS 1000000L
#define NS_PER_S 1000000000L

const struct wm_host_api *hp_api;
extern const struct wm_option hp_options[];

static void wake_loop(struct hp_lane *ln)
{
	uint64_t one = 1;
	ssize_t n = write(ln->wake_fd, &one, sizeof(one));
	(void)n; /* a full eventfd already wakes the loop */
}

static void hp_destroy(void *vctx)
{
	struct hp_ctx *c = vctx;
	if (!c)
		return;
	hp_config_free(c);
	for (unsigned i = 0; c->lanes && i < c->n_lanes; i++) {
		free(c->lanes[i].ring);
		if (c->lanes[i].wake_fd >= 0)
			close(c->lanes[i].wake_fd);
	}
	free(c->lanes);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cond);
	free(c);
	curl_global_cleanup();
}

/* Splits targets and the in-flight cap over the lanes. */
static int lanes_init(struct hp_ctx *c, char *err, size_t errlen)
{
	if (c->n_lanes > c->n_targets)
		c->n_lanes = (unsigned)c->n_targets;
	if (!(c->lanes = calloc(c->n_lanes, sizeof(*c->lanes))))
		goto nomem;
	for (unsigned i = 0; i < c->n_lanes; i++)
		c->lanes[i].wake_fd = -1;
	for (unsigned i = 0; i < c->n_lanes; i++) {
		struct hp_lane *ln = &c->lanes[i];
		ln->c = c;
		ln->idx = i;
		ln->n_targets = c->n_targets / c->n_lanes + (i < c->n_targets % c->n_lanes);
		ln->max_in_flight = (c->max_in_flight + c->n_lanes - 1) / c->n_lanes;
		atomic_init(&ln->ring_head, 0);
		atomic_init(&ln->ring_tail, 0);
		atomic_init(&ln->loop_waits_for_ring, false);
		atomic_init(&ln->done, false);
		ln->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ln->wake_fd < 0) {
			snprintf(err, errlen, "eventfd: %s", strerror(errno));
			return -1;
		}
		ln->ring_cap = (size_t)ln->max_in_flight + HP_RING_SPARE;
		if (!(ln->ring = calloc(ln->ring_cap, sizeof(*ln->ring))))
			goto nomem;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int hp_init(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **out, char *err,
                   size_t errlen)
{
	if (role != WM_ROLE_SOURCE) {
		snprintf(err, errlen, "http_probe can only be a source");
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl initialisation failed");
		return -1;
	}
	struct hp_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->inst = inst;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&c->stop, 0);
	atomic_init(&c->abandon, 0);
	atomic_init(&c->stop_calls, 0);
	atomic_init(&c->run_sleeping, false);
	c->started_us = hp_api->now_us();

	if (hp_config_load(c, cfg, err, errlen) || lanes_init(c, err, errlen))
		goto fail;
	*out = c;
	return 0;
fail:
	hp_destroy(c);
	return -1;
}

/* A lane's ring: the loop thread fills the place at the tail and publishes
 * it; run() reads the place at the head and frees it. start_ready() keeps a
 * place for every check in flight, so the loop never waits for one. */
struct hp_result *hp_ring_slot(struct hp_lane *ln)
{
	return &ln->ring[atomic_load_explicit(&ln->ring_tail, memory_order_relaxed) % ln->ring_cap];
}

void hp_ring_commit(struct hp_lane *ln)
{
	struct hp_ctx *c = ln->c;
	size_t tail = atomic_fetch_add_explicit(&ln->ring_tail, 1, memory_order_release) + 1;
	/* run() polls; wake it early only when the ring fills up */
	if ((tail - atomic_load(&ln->ring_head)) * 2 >= ln->ring_cap && atomic_load(&c->run_sleeping)) {
		pthread_mutex_lock(&c->mu);
		pthread_cond_signal(&c->cond);
		pthread_mutex_unlock(&c->mu);
	}
}

size_t hp_ring_room(struct hp_lane *ln)
{
	size_t used = atomic_load_explicit(&ln->ring_tail, memory_order_relaxed) -
	              atomic_load_explicit(&ln->ring_head, memory_order_acquire);
	return ln->ring_cap - used;
}

/* Stops starting checks; with abandon also drops those under way. */
static void hp_halt(struct hp_ctx *c, int abandon)
{
	if (!atomic_load(&c->stop)) /* the deadline first: a loop that sees stop reads it */
		atomic_store(&c->stop_deadline_us, hp_api->mono_us() + c->stop_grace_us);
	atomic_store(&c->stop, 1);
	if (abandon)
		atomic_store(&c->abandon, 1);
	for (unsigned i = 0; i < c->n_lanes; i++)
		wake_loop(&c->lanes[i]);
	pthread_mutex_lock(&c->mu);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

/* The host's stop(): the drain lets the checks under way finish within
 * stop_grace, so their records are not lost; a second call (the drain
 * deadline passed) abandons them at once. */
static void hp_stop(void *vctx)
{
	struct hp_ctx *c = vctx;
	hp_halt(c, atomic_fetch_add(&c->stop_calls, 1) > 0);
}

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_nsec += ms * NS_PER_MS;
	ts->tv_sec += ts->tv_nsec / NS_PER_S;
	ts->tv_nsec %= NS_PER_S;
}

/* Emits what one lane finished; returns how many records it handled. */
static size_t drain_lane(struct hp_ctx *c, struct hp_lane *ln, struct wm_emitter *em)
{
	size_t n = 0;
	for (;;) {
		size_t head = atomic_load_explicit(&ln->ring_head, memory_order_relaxed);
		if (head == atomic_load_explicit(&ln->ring_tail, memory_order_acquire))
			return n;
		/* the place stays taken until the record is built */
		struct wm_record *r = hp_record_build(c, &ln->ring[head % ln->ring_cap]);
		atomic_store_explicit(&ln->ring_head, head + 1, memory_order_release);
		if (atomic_exchange(&ln->loop_waits_for_ring, false))
			wake_loop(ln);
		n++;
		if (!r) {
			hp_api->log(c->inst, WM_LOG_ERROR, "out of memory building a check record");
			continue;
		}
		/* emit blocks on backpressure; the loop threads keep running */
		if (hp_api->emit(em, r) == WM_E_STOPPING && !atomic_load(&c->abandon))
			hp_halt(c, 1); /* the host gave up (abort): nothing more can be delivered */
	}
}

static int hp_run(void *vctx, struct wm_emitter *em)
{
	struct hp_ctx *c = vctx;
	int rc = 0;
	char name[16];

	for (unsigned i = 0; i < c->n_lanes; i++) {
		struct hp_lane *ln = &c->lanes[i];
		atomic_store(&ln->done, false);
		if (pthread_create(&ln->thread, NULL, hp_loop_main, ln) != 0) {
			hp_api->log(c->inst, WM_LOG_ERROR, "cannot start an event loop thread");
			hp_halt(c, 1);
			rc = -1;
			break;
		}
		ln->started = true;
		snprintf(name, sizeof(name), c->n_lanes > 1 ? "http_probe/%u" : "http_probe", i);
		pthread_setname_np(ln->thread, name);
	}

	for (;;) {
		if (!atomic_load(&c->stop) && hp_api->stopping(em))
			hp_halt(c, 0);
		size_t got = 0;
		int all_done = 1;
		for (unsigned i = 0; i < c->n_lanes; i++) {
			struct hp_lane *ln = &c->lanes[i];
			/* read done before draining, so nothing committed before it is missed */
			if (ln->started && !atomic_load(&ln->done))
				all_done = 0;
			got += drain_lane(c, ln, em);
		}
		if (got)
			continue;
		if (all_done)
			break;
		/* Idle: sleep a little instead of being woken per check; a few ms
		 * of delay before emit costs nothing, a futex call per check does. */
		struct timespec ts;
		deadline_in(&ts, HP_EMIT_POLL_MS);
		pthread_mutex_lock(&c->mu);
		atomic_store(&c->run_sleeping, true);
		pthread_cond_timedwait(&c->cond, &c->mu, &ts);
		atomic_store(&c->run_sleeping, false);
		pthread_mutex_unlock(&c->mu);
	}

	uint64_t checks = 0, skipped = 0;
	for (unsigned i = 0; i < c->n_lanes; i++) {
		struct hp_lane *ln = &c->lanes[i];
		if (!ln->started)
			continue;
		pthread_join(ln->thread, NULL);
		ln->started = false;
		checks += ln->checks;
		skipped += ln->skipped;
		if (ln->rc)
			rc = -1;
	}
	hp_api->log(c->inst, WM_LOG_INFO, "%" PRIu64 " checks run, %" PRIu64 " skipped", checks, skipped);
	return rc;
}
static const struct wm_plugin descriptor = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_plugin),
	.name = "http_probe",
	.version = "0.1.0",
	.description = "checks websites on a schedule: response time and phases, status, PCRE2 pattern, TLS expiry",
	.kinds = WM_KIND_SOURCE,
	.options = hp_options,
	.init = hp_init,
	.run = hp_run,
	.stop = hp_stop,
	.destroy = hp_destroy,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	if (host_abi != WM_ABI_VERSION)
		return NULL;
	hp_api = api;
	return &descriptor;
}
