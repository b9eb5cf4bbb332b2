/* Bounded ring buffer of record pointers with one mutex and two condition
 * variables. Backpressure is the producer waiting on not_full: nothing is
 * ever dropped here. */
#include "queue.h"
#include "clock.h"
#include "record.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wmh_queue {
	pthread_mutex_t mu;
	pthread_cond_t not_full, not_empty;
	struct wm_record **ring;
	size_t cap, head, len;
	/* overflow used only while draining, when capacity is ignored */
	struct wm_record **extra;
	size_t extra_len, extra_cap;
	int draining, closed, aborted, flush;
	/* how many queued records would let the waiting consumer go on (0: it
	 * is not waiting); a producer wakes it only then, not per record */
	size_t wake_at;
	/* when the consumer first saw the records now waiting (0: not yet);
	 * the batching window runs from there */
	int64_t window_start_us;
};

static void deadline_after(struct timespec *ts, int64_t us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += us / 1000000;
	ts->tv_nsec += (us % 1000000) * 1000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Ring slot of the i-th queued record (i < cap): no division per record. */
static size_t slot_of(const struct wmh_queue *q, size_t i)
{
	size_t k = q->head + i;
	return k >= q->cap ? k - q->cap : k;
}

struct wmh_queue *wmh_queue_new(size_t capacity)
{
	struct wmh_queue *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->cap = capacity ? capacity : 1;
	q->ring = calloc(q->cap, sizeof *q->ring);
	if (!q->ring) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->not_full, &ca);
	pthread_cond_init(&q->not_empty, &ca);
	pthread_condattr_destroy(&ca);
	return q;
}

void wmh_queue_free(struct wmh_queue *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->len; i++)
		wmh_record_free(q->ring[slot_of(q, i)]);
	for (size_t i = 0; i < q->extra_len; i++)
		wmh_record_free(q->extra[i]);
	free(q->ring);
	free(q->extra);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->not_full);
	pthread_cond_destroy(&q->not_empty);
	free(q);
}

/* Moves overflow records into the ring as room appears (keeps order). */
static void refill(struct wmh_queue *q)
{
	size_t moved = 0;
	while (moved < q->extra_len && q->len < q->cap) {
		q->ring[slot_of(q, q->len)] = q->extra[moved++];
		q->len++;
	}
	if (moved) {
		memmove(q->extra, q->extra + moved, (q->extra_len - moved) * sizeof *q->extra);
		q->extra_len -= moved;
	}
}

/* Takes up to max records (q->mu held), wakes blocked producers, unlocks.
 * Copies whole runs of the ring, so the lock is held briefly even for a
 * batch of thousands. */
static size_t take_locked(struct wmh_queue *q, struct wm_record **out, size_t max)
{
	size_t n = 0;
	while (n < max && q->len > 0) {
		size_t run = q->cap - q->head; /* up to the end of the ring */
		if (run > q->len)
			run = q->len;
		if (run > max - n)
			run = max - n;
		memcpy(out + n, q->ring + q->head, run * sizeof *out);
		n += run;
		q->head = slot_of(q, run);
		q->len -= run;
		if (q->extra_len)
			refill(q);
	}
	q->window_start_us = 0;
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->mu);
	return n;
}

int wmh_queue_push(struct wmh_queue *q, struct wm_record *r)
{
	pthread_mutex_lock(&q->mu);
	while (q->len == q->cap && !q->draining && !q->aborted)
		pthread_cond_wait(&q->not_full, &q->mu);
	if (q->aborted) {
		pthread_mutex_unlock(&q->mu);
		return -1;
	}
	if (q->len < q->cap && q->extra_len == 0) {
		q->ring[slot_of(q, q->len)] = r;
		q->len++;
	} else {
		if (q->extra_len == q->extra_cap) {
			size_t cap = q->extra_cap ? q->extra_cap * 2 : 64;
			struct wm_record **e = realloc(q->extra, cap * sizeof *e);
			if (!e) {
				pthread_mutex_unlock(&q->mu);
				return -1;
			}
			q->extra = e;
			q->extra_cap = cap;
		}
		q->extra[q->extra_len++] = r;
	}
	if (q->wake_at && q->len + q->extra_len >= q->wake_at)
		pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

size_t wmh_queue_pop_batch(struct wmh_queue *q, struct wm_record **out, size_t max, int64_t max_wait_us)
{
	pthread_mutex_lock(&q->mu);
	q->wake_at = 1;
	while (q->len == 0 && !q->closed && !q->aborted)
		pthread_cond_wait(&q->not_empty, &q->mu);
	if (q->aborted || q->len == 0) {
		q->wake_at = 0;
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	struct timespec dl;
	int64_t now = wmh_mono_us();
	if (!q->window_start_us)
		q->window_start_us = now;
	int64_t left = q->window_start_us + max_wait_us - now;
	deadline_after(&dl, left > 0 ? left : 0);
	/* a full queue cannot grow the batch further: cut it at capacity */
	q->wake_at = max < q->cap ? max : q->cap;
	while (q->len < q->wake_at && !q->closed && !q->draining && !q->aborted && !q->flush) {
		if (pthread_cond_timedwait(&q->not_empty, &q->mu, &dl) == ETIMEDOUT)
			break;
	}
	q->wake_at = 0;
	q->flush = 0;
	return take_locked(q, out, max);
}

size_t wmh_queue_pop_ready(struct wmh_queue *q, struct wm_record **out, size_t max, int64_t max_wait_us, int *over)
{
	pthread_mutex_lock(&q->mu);
	*over = q->aborted || (q->closed && q->len == 0);
	if (*over || q->len == 0) {
		q->flush = 0; /* nothing to cut: a later record must not be cut alone */
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	int64_t now = wmh_mono_us();
	if (!q->window_start_us)
		q->window_start_us = now;
	size_t want = max < q->cap ? max : q->cap;
	if (q->len < want && !q->closed && !q->draining && !q->flush && now - q->window_start_us < max_wait_us) {
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	q->flush = 0;
	return take_locked(q, out, max);
}

static void set_flag(struct wmh_queue *q, int *flag)
{
	pthread_mutex_lock(&q->mu);
	*flag = 1;
	pthread_cond_broadcast(&q->not_full);
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&q->mu);
}

void wmh_queue_drain(struct wmh_queue *q)
{
	set_flag(q, &q->draining);
}

void wmh_queue_close(struct wmh_queue *q)
{
	set_flag(q, &q->closed);
}

void wmh_queue_abort(struct wmh_queue *q)
{
	set_flag(q, &q->aborted);
}

void wmh_queue_flush(struct wmh_queue *q)
{
	set_flag(q, &q->flush);
}

size_t wmh_queue_len(struct wmh_queue *q)
{
	pthread_mutex_lock(&q->mu);
	size_t n = q->len + q->extra_len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

size_t wmh_queue_take_all(struct wmh_queue *q, struct wm_record **out, size_t max)
{
	pthread_mutex_lock(&q->mu);
	return take_locked(q, out, max);
}
