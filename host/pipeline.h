/* A pipeline: one source instance, one sink instance, an optional
 * dead-letter sink, the queue between them and the threads that run them. */
#ifndef WMH_PIPELINE_H
#define WMH_PIPELINE_H
#include "api.h"
#include "clock.h"
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

struct wmh_queue;
struct wmh_acks;

/* emitted is bumped by the source thread per record, the rest by the sink
 * thread: they live on separate cache lines, or every record would move
 * one line back and forth between the two threads' cores. */
struct wmh_stats {
	_Alignas(64) atomic_uint_fast64_t emitted;
	_Alignas(64) atomic_uint_fast64_t written, dead, retries, undelivered, batches;
};

struct wmh_pipeline {
	char *name;
	struct wm_instance *source, *sink, *dlq_sink;
	char *dlq_path;
	size_t queue_cap, max_records, max_in_flight;
	long long pool_reserved; /* records reserved in the record pool while running */
	int64_t max_wait_ms, retry_initial_ms, retry_max_ms, shutdown_timeout_ms;

	struct wmh_queue *q;
	struct wmh_acks *acks;
	struct wm_emitter em;
	pthread_t src_thread, sink_thread;
	int threads_started;
	atomic_int stopping, source_done, sink_done;
	atomic_int failed;      /* the pipeline failed (its source or its sink): exit 1 */
	atomic_int sink_failed; /* the sink failed fatally: nothing more is written */
	atomic_int aborting;
	int64_t stop_deadline_us; /* monotonic; 0 until a stop is asked */
	int done_fd;              /* eventfd written when both threads ended; -1 = none */

	pthread_mutex_t dlq_mu;
	int dlq_fd; /* the dead-letter file, open for appending; -1 until the first bad record */
	struct wmh_stats stats;
	struct wmh_pipeline *next;
};

/* Builds every pipeline in a loaded document (a map with 'pipelines:', a
 * list of pipelines, or one pipeline map): validates the host keys, loads
 * the plugins and validates their options. Appends to *list. Returns the
 * number of errors added to d. */
int wmh_pipelines_from_doc(struct wmh_doc *doc, struct wmh_pipeline **list, struct wmh_diag *d);
/* Calls init on every instance; -1 with a message on the first failure. */
int wmh_pipeline_init(struct wmh_pipeline *pl, char *err, size_t errlen);
/* Calls each instance's setup hook; -1 with a message. */
int wmh_pipeline_setup(struct wmh_pipeline *pl, char *err, size_t errlen);
int wmh_pipeline_start(struct wmh_pipeline *pl, char *err, size_t errlen);
void wmh_pipeline_request_stop(struct wmh_pipeline *pl); /* drain */
void wmh_pipeline_abort(struct wmh_pipeline *pl);        /* give up now */
int wmh_pipeline_finished(struct wmh_pipeline *pl);
void wmh_pipeline_join(struct wmh_pipeline *pl);
void wmh_pipeline_detach(struct wmh_pipeline *pl); /* before an immediate exit */
void wmh_pipeline_free(struct wmh_pipeline *pl);
void wmh_pipeline_log_stats(struct wmh_pipeline *pl);

/* Sleeps for the backoff of retry number attempt (1, 2, ...): the pipeline's
 * initial delay doubled per attempt, capped at its max, half of it random
 * (*rng is a nonzero xorshift state). Returns early on abort. */
void wmh_backoff_sleep(struct wmh_pipeline *pl, int attempt, uint64_t *rng, int64_t *slept_ms);

/* Dead letters (deadletter.c): writes one entry for a record a sink
 * refused, or for raw source data; durable on return when it returns 0. */
int wmh_dlq_record(struct wmh_pipeline *pl, const struct wm_record *r, const char *reason);
/* Why a dead-letter file could not be written (a missing or unwritable
 * directory, a path that is not a writable file), written into buf; NULL
 * when it can. Creates nothing. */
const char *wmh_dlq_path_problem(const char *path, char *buf, size_t len);

/* Host API entry points implemented by the runtime (runtime.c). */
int wmh_emit(struct wm_emitter *em, struct wm_record *r);
int wmh_stopping(struct wm_emitter *em);
int wmh_source_dead_letter(struct wm_emitter *em, int64_t stream, int64_t offset, const void *payload, size_t len,
                           const char *reason);
int wmh_wait_acked(struct wm_emitter *em, int64_t timeout_ms);
size_t wmh_batch_len(const struct wm_batch *b);
const struct wm_record *wmh_batch_at(const struct wm_batch *b, size_t i);
void wmh_batch_done(struct wm_batch *b, size_t i);
void wmh_batch_fail(struct wm_batch *b, size_t i, const char *reason);
int wmh_batch_aborting(const struct wm_batch *b);
void wmh_batch_finish(struct wm_batch *b, enum wm_result result);
/* write() of a dead-letter sink: waits out WM_PENDING by polling. */
enum wm_result wmh_write_sync(struct wm_instance *sink, struct wm_batch *b);
int wmh_check_only(const struct wm_instance *inst);
void wmh_set_check_only(int on);
#endif
