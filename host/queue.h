/* The bounded queue between a pipeline's source and sink threads. */
#ifndef WMH_QUEUE_H
#define WMH_QUEUE_H
#include <stddef.h>
#include <stdint.h>

struct wm_record;
struct wmh_queue;

struct wmh_queue *wmh_queue_new(size_t capacity);
void wmh_queue_free(struct wmh_queue *q); /* frees records still queued; accepts NULL */
/* Appends r. Blocks while the queue is full, unless it is draining (then
 * capacity is ignored so a stopping source loses nothing). Returns 0, or -1
 * if the queue is aborted (r is not taken). */
int wmh_queue_push(struct wmh_queue *q, struct wm_record *r);
/* Takes up to max records: waits for the first one, then until max are
 * there, max_wait_us has passed since the first arrived, a flush was asked
 * for, or the queue is closed. Returns 0 only when closed and empty, or
 * aborted. */
size_t wmh_queue_pop_batch(struct wmh_queue *q, struct wm_record **out, size_t max, int64_t max_wait_us);
/* The same without waiting: takes a batch only if one is ready now (max
 * records, the window since the consumer first saw a record has passed, a
 * flush, a drain, or the queue is closed). *over is set when no batch will
 * ever come (closed and empty, or aborted). */
size_t wmh_queue_pop_ready(struct wmh_queue *q, struct wm_record **out, size_t max, int64_t max_wait_us, int *over);
void wmh_queue_drain(struct wmh_queue *q); /* stop blocking producers; cut batches now */
void wmh_queue_close(struct wmh_queue *q); /* no more records will come */
void wmh_queue_abort(struct wmh_queue *q); /* wake everyone; pushes fail */
void wmh_queue_flush(struct wmh_queue *q); /* cut the current batch now */
size_t wmh_queue_len(struct wmh_queue *q);
/* Takes everything left (used after an abort to count and free). */
size_t wmh_queue_take_all(struct wmh_queue *q, struct wm_record **out, size_t max);
#endif
