/* Running a pipeline: the source thread, the sink thread with its batching
 * window, retries with capped jittered backoff, ordered acks back to the
 * source, and the drain/abort path on shutdown. */
#include "acks.h"
#include "log.h"
#include "pipeline.h"
#include "plugin_loader.h"
#include "queue.h"
#include "record.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_check_only;

int wmh_check_only(const struct wm_instance *inst)
{
	(void)inst;
	return g_check_only;
}

void wmh_set_check_only(int on)
{
	g_check_only = on;
}

int64_t wmh_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- source side ---- */

int wmh_emit(struct wm_emitter *em, struct wm_record *r)
{
	struct wmh_pipeline *pl = em->pl;
	if (!r)
		return WM_E_INVAL;
	if (pl->aborting) {
		wmh_record_free(r);
		return WM_E_STOPPING;
	}
	if (wmh_acks_track(pl->acks, r)) {
		wmh_record_free(r);
		return WM_E_NOMEM;
	}
	if (wmh_queue_push(pl->q, r)) {
		/* aborted: the record is not delivered, and not acked */
		wmh_record_free(r);
		return WM_E_STOPPING;
	}
	atomic_fetch_add(&pl->stats.emitted, 1);
	return 0;
}

int wmh_stopping(struct wm_emitter *em)
{
	return atomic_load(&em->pl->stopping) || em->pl->aborting;
}

int wmh_source_dead_letter(struct wm_emitter *em, int64_t stream, int64_t offset, const void *payload, size_t len,
                           const char *reason)
{
	/* Travels through the queue so the sink thread writes it in order with
	 * everything else and acks its position only once it is durable. */
	struct wm_record *r = wmh_record_new();
	if (!r)
		return WM_E_NOMEM;
	r->dead = 1;
	int rc = wmh_record_set_string(r, "reason", reason ? reason : "bad record");
	if (payload)
		rc |= wmh_record_set_bytes(r, "payload", payload, len);
	if (rc) {
		wmh_record_free(r);
		return WM_E_NOMEM;
	}
	if (stream >= 0)
		wmh_record_set_position(r, (uint32_t)stream, offset);
	return wmh_emit(em, r);
}

int wmh_wait_acked(struct wm_emitter *em, int64_t timeout_ms)
{
	struct wmh_pipeline *pl = em->pl;
	wmh_queue_flush(pl->q);
	if (wmh_acks_wait_idle(pl->acks, timeout_ms * 1000, &pl->aborting) == 0)
		return 0;
	return pl->aborting ? WM_E_STOPPING : WM_E_TIMEOUT;
}

/* One of the pipeline's threads ends: the second one to end wakes whoever
 * waits on done_fd (wmhost run), so a finite pipeline exits at once. */
static void thread_ended(struct wmh_pipeline *pl, atomic_int *done)
{
	atomic_store(done, 1);
	if (pl->done_fd >= 0 && atomic_load(&pl->source_done) && atomic_load(&pl->sink_done)) {
		uint64_t one = 1;
		if (write(pl->done_fd, &one, sizeof one) < 0) {
			/* the counter cannot overflow in practice; the poll timeout covers it */
		}
	}
}

static void *source_main(void *arg)
{
	struct wmh_pipeline *pl = arg;
	pthread_setname_np(pthread_self(), "wm-source");
	wmh_log(WM_LOG_DEBUG, pl->name, pl->source->label, "source started");
	int rc = pl->source->plugin->desc->run(pl->source->ctx, &pl->em);
	if (rc != 0 && !pl->aborting) {
		wmh_log(WM_LOG_ERROR, pl->name, pl->source->label, "source failed; stopping the pipeline");
		atomic_store(&pl->failed, 1);
	} else {
		wmh_log(WM_LOG_DEBUG, pl->name, pl->source->label, "source finished");
	}
	wmh_queue_close(pl->q);
	thread_ended(pl, &pl->source_done);
	return NULL;
}

/* ---- sink side ---- */

size_t wmh_batch_len(const struct wm_batch *b)
{
	return b->n;
}

const struct wm_record *wmh_batch_at(const struct wm_batch *b, size_t i)
{
	return i < b->n ? b->recs[i] : NULL;
}

void wmh_batch_done(struct wm_batch *b, size_t i)
{
	if (i < b->n && b->state[i] == WMH_PENDING)
		b->state[i] = WMH_DONE;
}

void wmh_batch_fail(struct wm_batch *b, size_t i, const char *reason)
{
	if (i >= b->n || b->state[i] == WMH_DONE)
		return;
	b->state[i] = WMH_FAILED;
	free(b->reason[i]);
	b->reason[i] = strdup(reason ? reason : "rejected by the sink");
}

int wmh_batch_aborting(const struct wm_batch *b)
{
	return b->pl ? b->pl->aborting : 0;
}

/* Positions released while finishing a batch: the source gets one ack()
 * per stream per batch, not one per record. */
struct ack_acc {
	struct {
		uint32_t stream;
		int64_t offset;
	} *v;
	size_t n, cap;
	uint64_t settle; /* tracked records finished */
};

/* A record is finished (durable or dead-lettered): note its position. */
static void complete(struct wmh_pipeline *pl, struct wm_record *r, struct ack_acc *acc)
{
	uint32_t stream;
	int64_t offset;
	if (wmh_acks_done(pl->acks, r, &stream, &offset)) {
		size_t i = 0;
		while (i < acc->n && acc->v[i].stream != stream)
			i++;
		if (i == acc->n && acc->n == acc->cap) {
			size_t cap = acc->cap ? acc->cap * 2 : 16;
			void *nv = realloc(acc->v, cap * sizeof *acc->v);
			if (nv) {
				acc->v = nv;
				acc->cap = cap;
			}
		}
		if (i < acc->cap) {
			if (i == acc->n)
				acc->n++;
			acc->v[i].stream = stream;
			acc->v[i].offset = offset; /* positions only move forward */
		} else if (pl->source->plugin->desc->ack) {
			pl->source->plugin->desc->ack(pl->source->ctx, stream, offset); /* no memory: ack now */
		}
	}
	if (r->ack_tracked)
		acc->settle++;
	wmh_record_free(r);
}

/* Passes the released positions to the source, then lets wait_acked see
 * those records as finished. */
static void flush_acks(struct wmh_pipeline *pl, struct ack_acc *acc)
{
	void (*ack)(void *, uint32_t, int64_t) = pl->source->plugin->desc->ack;
	for (size_t i = 0; i < acc->n; i++)
		if (ack)
			ack(pl->source->ctx, acc->v[i].stream, acc->v[i].offset);
	acc->n = 0;
	wmh_acks_settled_n(pl->acks, acc->settle);
	acc->settle = 0;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The backoff before retry number `attempt`: initial·2^(attempt-1) capped
 * at max, with "equal jitter" (half fixed, half random, so many agents
 * retrying after one outage do not stampede together). */
static int64_t backoff_ms(struct wmh_pipeline *pl, int attempt, uint64_t *rng)
{
	int64_t base = pl->retry_initial_ms;
	for (int i = 1; i < attempt && base < pl->retry_max_ms; i++)
		base *= 2;
	if (base > pl->retry_max_ms)
		base = pl->retry_max_ms;
	int64_t ms = base / 2 + (int64_t)(rng_next(rng) % (uint64_t)(base / 2 + 1));
	return ms > 0 ? ms : 1; /* never a busy loop, whatever retry.max says */
}

void wmh_backoff_sleep(struct wmh_pipeline *pl, int attempt, uint64_t *rng, int64_t *slept_ms)
{
	int64_t ms = backoff_ms(pl, attempt, rng);
	*slept_ms = ms;
	int64_t end = wmh_mono_us() + ms * 1000;
	while (!pl->aborting) {
		int64_t left = end - wmh_mono_us();
		if (left <= 0)
			break;
		if (left > 50000)
			left = 50000;
		struct timespec ts = {0, (long)left * 1000};
		nanosleep(&ts, NULL);
	}
}

static void drop_undelivered(struct wmh_pipeline *pl, struct wm_record **recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (recs[i]) {
			atomic_fetch_add(&pl->stats.undelivered, 1);
			wmh_record_free(recs[i]); /* not acked: a replaying source sends it again */
		}
	}
}

void wmh_batch_finish(struct wm_batch *b, enum wm_result result)
{
	b->result = result == WM_PENDING ? WM_RETRY : result; /* not a verdict */
	b->finished = 1;
}

/* Writes a record to the dead-letter target and completes it. A target
 * that cannot take it (the file's directory gone, the disk full, the
 * dead-letter sink down) is retried with backoff like a sink: the record is
 * kept, and so is the order of acks behind it. Only an abort gives it up
 * (undelivered, not acked). */
static void dead_letter(struct wmh_pipeline *pl, struct wm_record *r, const char *reason, uint64_t *rng,
                        struct ack_acc *acc)
{
	for (int attempt = 1; wmh_dlq_record(pl, r, reason) != 0; attempt++) {
		if (pl->aborting) {
			drop_undelivered(pl, &r, 1);
			return;
		}
		int64_t ms;
		wmh_backoff_sleep(pl, attempt, rng, &ms);
		wmh_log(attempt <= 3 ? WM_LOG_WARN : WM_LOG_ERROR, pl->name, NULL,
		        "dead-letter write failed; the record is kept, retry #%d after %lldms", attempt, (long long)ms);
	}
	atomic_fetch_add(&pl->stats.dead, 1);
	complete(pl, r, acc);
}

/* One write() call; WM_PENDING only from a plugin that can be polled. */
static enum wm_result write_once(struct wm_instance *sink, struct wm_batch *b)
{
	b->finished = 0;
	enum wm_result res = sink->plugin->desc->write(sink->ctx, b);
	if (res == WM_PENDING && !sink->plugin->poll) {
		wmh_log(WM_LOG_ERROR, sink->pipeline, sink->label, "write() returned WM_PENDING but the plugin has no poll()");
		return WM_FATAL;
	}
	return res;
}

enum wm_result wmh_write_sync(struct wm_instance *sink, struct wm_batch *b)
{
	enum wm_result res = write_once(sink, b);
	if (res != WM_PENDING)
		return res;
	while (!b->finished)
		sink->plugin->poll(sink->ctx, 100);
	return b->result;
}

/*
 * The sink thread. A batch is written, and retried with backoff until every
 * record in it is durable or dead-lettered (or the pipeline gives up). A
 * pipelining sink (one with poll()) may leave a batch in flight: write()
 * says WM_PENDING and the plugin later calls batch_finish(); meanwhile the
 * thread hands it more batches, up to batch.max_in_flight, and calls poll()
 * whenever it would otherwise wait. Batches may finish in any order: the
 * ack tracker releases positions to the source in emission order anyway.
 */
struct sink_state {
	struct wmh_pipeline *pl;
	void (*poll)(void *ctx, int timeout_ms);
	void *ctx;
	uint64_t rng;
	struct ack_acc acc;
	struct wm_batch *inflight; /* oldest first */
	size_t n_inflight;
	struct wm_batch *spare; /* finished batches, for reuse */
};

/* One allocation holds the batch and its arrays, sized for max_records;
 * finished ones are kept for the next batches (a batch of thousands of
 * records is big enough for malloc to map and unmap it each time). */
static struct wm_batch *batch_new(struct sink_state *s, struct wm_record **recs, size_t n)
{
	struct wmh_pipeline *pl = s->pl;
	struct wm_batch *b = s->spare;
	if (b) {
		s->spare = b->next;
	} else {
		size_t cap = pl->max_records;
		b = malloc(sizeof *b + cap * (sizeof *b->recs + sizeof *b->reason) + cap);
		if (!b)
			return NULL;
	}
	memset(b, 0, sizeof *b);
	b->recs = (struct wm_record **)(b + 1);
	b->reason = (char **)(b->recs + pl->max_records);
	b->state = (unsigned char *)(b->reason + pl->max_records);
	memcpy(b->recs, recs, n * sizeof *recs);
	memset(b->reason, 0, n * sizeof *b->reason);
	b->n = n;
	b->pl = pl;
	return b;
}

/* Done with the batch; its records are already completed or dropped. */
static void batch_free(struct sink_state *s, struct wm_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->reason[i]);
	b->next = s->spare;
	s->spare = b;
}

/* Applies a write's verdict: finished records are completed (acked or
 * dead-lettered), the rest kept for a retry. Returns 1 when the batch must
 * be written again, 0 when it is over (and freed). */
static int settle(struct sink_state *s, struct wm_batch *b, enum wm_result res)
{
	struct wmh_pipeline *pl = s->pl;
	size_t keep = 0, written = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (b->state[i] == WMH_FAILED) {
			dead_letter(pl, b->recs[i], b->reason[i], &s->rng, &s->acc);
		} else if (b->state[i] == WMH_DONE || res == WM_OK) {
			written++;
			complete(pl, b->recs[i], &s->acc);
		} else {
			b->recs[keep] = b->recs[i];
			free(b->reason[keep]);
			b->reason[keep] = NULL;
			keep++;
			continue;
		}
		free(b->reason[i]);
		b->reason[i] = NULL;
	}
	b->n = keep;
	atomic_fetch_add(&pl->stats.written, written);
	flush_acks(pl, &s->acc);
	if (res == WM_FATAL) {
		/* also when every record of the batch already had its verdict:
		 * the sink cannot take more */
		wmh_log(WM_LOG_ERROR, pl->name, pl->sink->label,
		        "sink failed fatally; %zu records not delivered; stopping the pipeline", keep);
		atomic_store(&pl->sink_failed, 1);
		atomic_store(&pl->failed, 1);
	}
	if (keep == 0) {
		batch_free(s, b);
		return 0;
	}
	if (res == WM_FATAL) {
		/* given up below; logged above */
	} else if (atomic_load(&pl->sink_failed)) {
		wmh_log(WM_LOG_ERROR, pl->name, pl->sink->label,
		        "giving up on %zu records: the sink failed (not acknowledged to the source)", keep);
	} else if (pl->aborting) {
		wmh_log(WM_LOG_ERROR, pl->name, pl->sink->label,
		        "giving up on %zu records at shutdown (not acknowledged to the source)", keep);
	} else {
		atomic_fetch_add(&pl->stats.retries, 1);
		return 1;
	}
	drop_undelivered(pl, b->recs, keep);
	b->n = 0;
	batch_free(s, b);
	return 0;
}

static void inflight_append(struct sink_state *s, struct wm_batch *b)
{
	struct wm_batch **pp = &s->inflight;
	while (*pp)
		pp = &(*pp)->next;
	b->next = NULL;
	*pp = b;
	s->n_inflight++;
}

static void log_retry(struct wmh_pipeline *pl, struct wm_batch *b, int64_t ms)
{
	wmh_log(b->attempt <= 3 ? WM_LOG_WARN : WM_LOG_ERROR, pl->name, pl->sink->label,
	        "write asked to retry: %zu records pending, retry #%d after %lldms", b->n, b->attempt, (long long)ms);
}

/* A batch to write again. A pipelining sink's batch waits for its backoff
 * in the in-flight list, so the other batches' reports are still served;
 * otherwise the thread sleeps (it has nothing else to do). Returns 1 when
 * the batch is parked, 0 after the sleep. */
static int retry_later(struct sink_state *s, struct wm_batch *b)
{
	struct wmh_pipeline *pl = s->pl;
	if (s->poll) {
		int64_t ms = backoff_ms(pl, b->attempt, &s->rng);
		log_retry(pl, b, ms);
		b->retry_at_us = wmh_mono_us() + ms * 1000;
		b->finished = 0;
		memset(b->state, 0, b->n); /* marks belong to the next write */
		inflight_append(s, b);
		return 1;
	}
	int64_t ms;
	wmh_backoff_sleep(pl, b->attempt, &s->rng, &ms);
	log_retry(pl, b, ms);
	return 0;
}

/* Writes b until it is over, in flight, or parked for a retry. */
static void submit(struct sink_state *s, struct wm_batch *b)
{
	for (;;) {
		b->attempt++;
		b->retry_at_us = 0;
		memset(b->state, 0, b->n);
		enum wm_result res = write_once(s->pl->sink, b);
		if (res == WM_PENDING) {
			if (!b->finished) {
				inflight_append(s, b);
				return;
			}
			res = b->result;
		}
		if (!settle(s, b, res) || retry_later(s, b))
			return;
	}
}

/* Settles the batches in flight that the sink has finished, and writes
 * again those whose backoff is over (at once when aborting: settle then
 * gives them up). */
static void reap(struct sink_state *s)
{
	int64_t now = wmh_mono_us();
	for (struct wm_batch **pp = &s->inflight; *pp;) {
		struct wm_batch *b = *pp;
		int give_up = s->pl->aborting || atomic_load(&s->pl->sink_failed);
		int due = b->retry_at_us && (now >= b->retry_at_us || give_up);
		if (!b->finished && !due) {
			pp = &b->next;
			continue;
		}
		*pp = b->next;
		s->n_inflight--;
		if (due && give_up)
			settle(s, b, WM_RETRY); /* gives up: counted undelivered */
		else if (due)
			submit(s, b);
		else if (settle(s, b, b->result))
			retry_later(s, b); /* only pipelining sinks have batches here: parked */
		pp = &s->inflight; /* the list may have changed */
	}
}

/* Source dead letters in recs go to the dead-letter target; returns how
 * many ordinary records are left (compacted to the front). */
static size_t route_dead_letters(struct sink_state *s, struct wm_record **recs, size_t n)
{
	struct wmh_pipeline *pl = s->pl;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (recs[i]->dead) {
			const struct wm_value *why = wmh_record_get(recs[i], "reason");
			dead_letter(pl, recs[i], why ? why->u.s.ptr : "bad record", &s->rng, &s->acc);
		} else {
			recs[m++] = recs[i];
		}
	}
	flush_acks(pl, &s->acc);
	return m;
}

/* Waits for the sink for up to dflt_ms, less if a parked batch's backoff
 * ends sooner. With only parked batches there is nothing to poll for: the
 * thread sleeps instead (a plugin's poll may return at once). */
static void sink_wait(struct sink_state *s, int dflt_ms)
{
	int64_t now = wmh_mono_us(), ms = dflt_ms;
	int waiting_on_sink = 0;
	for (const struct wm_batch *b = s->inflight; b; b = b->next) {
		if (!b->retry_at_us) {
			waiting_on_sink = 1;
			continue;
		}
		int64_t left = (b->retry_at_us - now + 999) / 1000;
		if (left < ms)
			ms = left < 0 ? 0 : left;
	}
	if (waiting_on_sink) {
		s->poll(s->ctx, (int)ms);
	} else if (ms > 0) {
		struct timespec ts = {0, (long)(ms < 10 ? ms : 10) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void *sink_main(void *arg)
{
	struct wmh_pipeline *pl = arg;
	pthread_setname_np(pthread_self(), "wm-sink");
	struct sink_state s = {.pl = pl, .poll = pl->sink->plugin->poll,
	                       .ctx = pl->sink->ctx};
	s.rng = (uint64_t)wmh_mono_us() ^ (uint64_t)(uintptr_t)pl;
	if (!s.rng)
		s.rng = 88172645463325252ull;
	size_t max_in_flight = s.poll ? pl->max_in_flight : 1;
	int64_t max_wait_us = pl->max_wait_ms * 1000;
	struct wm_record **buf = malloc(pl->max_records * sizeof *buf);
	if (!buf) {
		wmh_log(WM_LOG_ERROR, pl->name, pl->sink->label, "out of memory");
		atomic_store(&pl->sink_failed, 1);
		atomic_store(&pl->failed, 1);
		thread_ended(pl, &pl->sink_done);
		return NULL;
	}
	for (;;) {
		/* A failed sink takes no more batches. A failed source does not
		 * stop the sink: what it emitted before failing is in the queue
		 * (now closed) and is written, so nothing it produced is lost. */
		if (atomic_load(&pl->sink_failed))
			break;
		reap(&s);
		if (atomic_load(&pl->sink_failed))
			break;
		if (s.n_inflight >= max_in_flight) {
			sink_wait(&s, 100);
			continue;
		}
		size_t n;
		if (s.n_inflight == 0) {
			n = wmh_queue_pop_batch(pl->q, buf, pl->max_records, max_wait_us);
			if (n == 0)
				break;
		} else {
			int over;
			n = wmh_queue_pop_ready(pl->q, buf, pl->max_records, max_wait_us, &over);
			if (n == 0) {
				if (over)
					break;
				/* short waits while records gather for the next batch */
				sink_wait(&s, wmh_queue_len(pl->q) ? 1 : 10);
				continue;
			}
		}
		if (pl->aborting) {
			drop_undelivered(pl, buf, n);
			continue;
		}
		n = route_dead_letters(&s, buf, n);
		if (n == 0)
			continue;
		struct wm_batch *b = batch_new(&s, buf, n);
		if (!b) {
			/* stopping loudly beats dropping records while the
			 * pipeline goes on: their positions would hold up every
			 * later ack */
			wmh_log(WM_LOG_ERROR, pl->name, pl->sink->label,
			        "out of memory for a batch of %zu; stopping the pipeline", n);
			drop_undelivered(pl, buf, n);
			atomic_store(&pl->sink_failed, 1);
			atomic_store(&pl->failed, 1);
			continue;
		}
		atomic_fetch_add(&pl->stats.batches, 1);
		submit(&s, b);
	}
	/* what is in flight finishes first (at once when aborting) */
	while (s.n_inflight > 0) {
		sink_wait(&s, 100);
		reap(&s);
	}
	/* after an abort, count what never got written */
	size_t n;
	while ((n = wmh_queue_take_all(pl->q, buf, pl->max_records)) > 0)
		drop_undelivered(pl, buf, n);
	free(buf);
	free(s.acc.v);
	for (struct wm_batch *b = s.spare, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	wmh_acks_wake(pl->acks);
	thread_ended(pl, &pl->sink_done);
	return NULL;
}

int wmh_pipeline_start(struct wmh_pipeline *pl, char *err, size_t errlen)
{
	pl->q = wmh_queue_new(pl->queue_cap);
	pl->acks = wmh_acks_new();
	if (!pl->q || !pl->acks) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* plugin threads must not take the signals meant for the main thread */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&pl->sink_thread, NULL, sink_main, pl);
	if (rc == 0) {
		rc = pthread_create(&pl->src_thread, NULL, source_main, pl);
		if (rc != 0) {
			wmh_queue_close(pl->q);
			pthread_join(pl->sink_thread, NULL);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start threads: %s", strerror(rc));
		return -1;
	}
	pl->threads_started = 1;
	char why[256];
	const char *problem = pl->dlq_sink && pl->dlq_path ? wmh_dlq_path_problem(pl->dlq_path, why, sizeof why) : NULL;
	if (problem)
		wmh_log(WM_LOG_WARN, pl->name, NULL,
		        "dead-letter fallback file '%s': %s; a record the dead-letter sink refuses will wait for it",
		        pl->dlq_path, problem);
	/* records it can have alive at once: the pool keeps as many for reuse */
	pl->pool_reserved = (long long)(pl->queue_cap + (pl->max_in_flight + 1) * pl->max_records);
	wmh_record_pool_reserve(pl->pool_reserved);
	wmh_log(WM_LOG_INFO, pl->name, NULL, "started: %s -> %s (queue %zu, batch %zu/%lldms)", pl->source->label,
	        pl->sink->label, pl->queue_cap, pl->max_records, (long long)pl->max_wait_ms);
	return 0;
}

void wmh_pipeline_request_stop(struct wmh_pipeline *pl)
{
	if (atomic_exchange(&pl->stopping, 1))
		return;
	pl->stop_deadline_us = wmh_mono_us() + pl->shutdown_timeout_ms * 1000;
	if (pl->q)
		wmh_queue_drain(pl->q);
	if (pl->source && pl->source->plugin->desc->stop && pl->source->inited)
		pl->source->plugin->desc->stop(pl->source->ctx);
}

void wmh_pipeline_abort(struct wmh_pipeline *pl)
{
	wmh_pipeline_request_stop(pl);
	if (atomic_exchange(&pl->aborting, 1))
		return;
	if (pl->q)
		wmh_queue_abort(pl->q);
	if (pl->acks)
		wmh_acks_wake(pl->acks);
	/* the second stop(): the source gives up what it still has under way */
	if (pl->source && pl->source->plugin->desc->stop && pl->source->inited)
		pl->source->plugin->desc->stop(pl->source->ctx);
}

int wmh_pipeline_finished(struct wmh_pipeline *pl)
{
	return !pl->threads_started || (atomic_load(&pl->source_done) && atomic_load(&pl->sink_done));
}

void wmh_pipeline_join(struct wmh_pipeline *pl)
{
	if (!pl->threads_started)
		return;
	pthread_join(pl->src_thread, NULL);
	pthread_join(pl->sink_thread, NULL);
	pl->threads_started = 0;
	/* a source may still have emitted after a failed sink's thread ended:
	 * those records were never written, so they count as undelivered */
	struct wm_record *left[256];
	size_t n;
	while ((n = wmh_queue_take_all(pl->q, left, 256)) > 0)
		drop_undelivered(pl, left, n);
}

void wmh_pipeline_detach(struct wmh_pipeline *pl)
{
	if (!pl->threads_started)
		return;
	pthread_detach(pl->src_thread);
	pthread_detach(pl->sink_thread);
	pl->threads_started = 0;
}

void wmh_pipeline_log_stats(struct wmh_pipeline *pl)
{
	unsigned long long und = atomic_load(&pl->stats.undelivered);
	wmh_log(und ? WM_LOG_ERROR : WM_LOG_INFO, pl->name, NULL,
	        "stopped: %llu emitted, %llu written, %llu dead-lettered, %llu undelivered, %llu batches, %llu retries",
	        (unsigned long long)atomic_load(&pl->stats.emitted), (unsigned long long)atomic_load(&pl->stats.written),
	        (unsigned long long)atomic_load(&pl->stats.dead), und,
	        (unsigned long long)atomic_load(&pl->stats.batches),
	        (unsigned long long)atomic_load(&pl->stats.retries));
}
