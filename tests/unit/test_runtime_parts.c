/* The queue (backpressure, batching windows, drain, abort) and the ordered
 * ack tracker. */
#include "acks.h"
#include "queue.h"
#include "record.h"
#include "unit.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct wm_record *rec(int64_t seq)
{
	struct wm_record *r = wmh_record_new();
	wmh_record_set_int(r, "seq", seq);
	return r;
}

struct producer {
	struct wmh_queue *q;
	int n;
	int pushed;
	int failed;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (int i = 0; i < p->n; i++) {
		struct wm_record *r = rec(i);
		if (wmh_queue_push(p->q, r)) {
			wmh_record_free(r);
			p->failed++;
		} else {
			__atomic_add_fetch(&p->pushed, 1, __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

static void full_queue_blocks_producer_and_loses_nothing(void)
{
	struct wmh_queue *q = wmh_queue_new(4);
	struct producer p = {q, 1000, 0, 0};
	pthread_t t;
	pthread_create(&t, NULL, produce, &p);
	usleep(100000);
	CHECK(__atomic_load_n(&p.pushed, __ATOMIC_SEQ_CST) == 4); /* blocked at capacity */
	struct wm_record *buf[64];
	int64_t expect = 0;
	int order_ok = 1;
	while (expect < 1000) {
		size_t n = wmh_queue_pop_batch(q, buf, 64, 1000);
		for (size_t i = 0; i < n; i++) {
			if (wmh_record_get(buf[i], "seq")->u.i != expect)
				order_ok = 0;
			expect++;
			wmh_record_free(buf[i]);
		}
	}
	pthread_join(t, NULL);
	CHECK(order_ok);
	CHECK(p.failed == 0);
	CHECK(wmh_queue_len(q) == 0);
	wmh_queue_free(q);
}

static void batch_is_cut_at_max_records(void)
{
	struct wmh_queue *q = wmh_queue_new(100);
	for (int i = 0; i < 25; i++)
		wmh_queue_push(q, rec(i));
	struct wm_record *buf[10];
	int64_t t0 = mono_ms();
	size_t n = wmh_queue_pop_batch(q, buf, 10, 5 * 1000 * 1000);
	CHECK(n == 10);
	CHECK(mono_ms() - t0 < 1000); /* did not wait for max_wait */
	for (size_t i = 0; i < n; i++)
		wmh_record_free(buf[i]);
	wmh_queue_free(q);
}

static void batch_is_cut_at_max_wait(void)
{
	struct wmh_queue *q = wmh_queue_new(100);
	wmh_queue_push(q, rec(1));
	wmh_queue_push(q, rec(2));
	struct wm_record *buf[10];
	int64_t t0 = mono_ms();
	size_t n = wmh_queue_pop_batch(q, buf, 10, 300 * 1000);
	int64_t waited = mono_ms() - t0;
	CHECK(n == 2);
	CHECK(waited >= 290 && waited < 2000);
	for (size_t i = 0; i < n; i++)
		wmh_record_free(buf[i]);
	wmh_queue_free(q);
}

static void flush_and_close_cut_the_batch_early(void)
{
	struct wmh_queue *q = wmh_queue_new(100);
	wmh_queue_push(q, rec(1));
	wmh_queue_flush(q);
	struct wm_record *buf[10];
	int64_t t0 = mono_ms();
	size_t n = wmh_queue_pop_batch(q, buf, 10, 5 * 1000 * 1000);
	CHECK(n == 1 && mono_ms() - t0 < 1000);
	wmh_record_free(buf[0]);
	wmh_queue_close(q);
	CHECK(wmh_queue_pop_batch(q, buf, 10, 5 * 1000 * 1000) == 0); /* closed and empty */
	wmh_queue_free(q);
}

static void draining_queue_accepts_beyond_capacity_in_order(void)
{
	struct wmh_queue *q = wmh_queue_new(2);
	wmh_queue_push(q, rec(0));
	wmh_queue_push(q, rec(1));
	wmh_queue_drain(q);
	for (int i = 2; i < 10; i++)
		CHECK(wmh_queue_push(q, rec(i)) == 0);
	CHECK(wmh_queue_len(q) == 10);
	struct wm_record *buf[3];
	int64_t expect = 0;
	size_t n;
	int ok = 1;
	while (expect < 10 && (n = wmh_queue_pop_batch(q, buf, 3, 1000)) > 0) {
		for (size_t i = 0; i < n; i++) {
			ok &= wmh_record_get(buf[i], "seq")->u.i == expect++;
			wmh_record_free(buf[i]);
		}
	}
	CHECK(ok && expect == 10);
	wmh_queue_free(q);
}

/* Batches are copied out in runs of the ring: across its end, and on into
 * the overflow of a draining queue, the order holds. */
static void takes_across_ring_end_and_overflow_keep_order(void)
{
	struct wmh_queue *q = wmh_queue_new(4);
	struct wm_record *buf[8];
	for (int i = 0; i < 3; i++)
		wmh_queue_push(q, rec(i));
	size_t n = wmh_queue_pop_batch(q, buf, 2, 1000); /* 0, 1: head moves to 2 */
	CHECK(n == 2);
	for (size_t i = 0; i < n; i++)
		wmh_record_free(buf[i]);
	for (int i = 3; i < 6; i++) /* 3..5 wrap to the ring's start */
		wmh_queue_push(q, rec(i));
	wmh_queue_drain(q);
	for (int i = 6; i < 10; i++) /* over capacity: the overflow */
		CHECK(wmh_queue_push(q, rec(i)) == 0);
	int64_t expect = 2;
	int ok = 1;
	size_t sizes[4] = {0}, k = 0;
	while (expect < 10 && k < 4 && (n = wmh_queue_pop_batch(q, buf, 7, 1000)) > 0) {
		sizes[k++] = n;
		for (size_t i = 0; i < n; i++) {
			ok &= wmh_record_get(buf[i], "seq")->u.i == expect++;
			wmh_record_free(buf[i]);
		}
	}
	CHECK(ok && expect == 10);
	CHECK(sizes[0] == 7 && sizes[1] == 1);
	wmh_queue_free(q);
}

static void abort_wakes_blocked_producer(void)
{
	struct wmh_queue *q = wmh_queue_new(1);
	struct producer p = {q, 3, 0, 0};
	pthread_t t;
	pthread_create(&t, NULL, produce, &p);
	usleep(50000);
	wmh_queue_abort(q);
	pthread_join(t, NULL);
	CHECK(p.pushed == 1 && p.failed == 2);
	wmh_queue_free(q); /* frees the queued record: ASan checks it */
}

static struct wm_record *posrec(uint32_t stream, int64_t off)
{
	struct wm_record *r = wmh_record_new();
	wmh_record_set_position(r, stream, off);
	return r;
}

static void acks_release_only_contiguous_prefix(void)
{
	struct wmh_acks *a = wmh_acks_new();
	struct wm_record *r[5];
	/* offsets need not be consecutive (Kafka compaction, markers) */
	int64_t offs[5] = {10, 11, 15, 16, 20};
	for (int i = 0; i < 5; i++) {
		r[i] = posrec(3, offs[i]);
		wmh_acks_track(a, r[i]);
	}
	uint32_t s;
	int64_t o = -1;
	CHECK(wmh_acks_outstanding(a) == 5);
	CHECK(wmh_acks_done(a, r[2], &s, &o) == 0); /* 15 done, but 10 and 11 are not */
	CHECK(wmh_acks_done(a, r[1], &s, &o) == 0);
	CHECK(wmh_acks_done(a, r[0], &s, &o) == 1 && s == 3 && o == 15); /* 10,11,15 released at once */
	CHECK(wmh_acks_done(a, r[4], &s, &o) == 0);
	CHECK(wmh_acks_done(a, r[3], &s, &o) == 1 && o == 20);
	CHECK(wmh_acks_outstanding(a) == 5); /* until the acks are passed on */
	for (int i = 0; i < 4; i++)
		wmh_acks_settled(a, r[i]);
	CHECK(wmh_acks_wait_idle(a, 1000, NULL) == -1);
	wmh_acks_settled(a, r[4]);
	CHECK(wmh_acks_outstanding(a) == 0);
	CHECK(wmh_acks_wait_idle(a, 1000, NULL) == 0);
	for (int i = 0; i < 5; i++)
		wmh_record_free(r[i]);
	wmh_acks_free(a);
}

static void acks_streams_are_independent(void)
{
	struct wmh_acks *a = wmh_acks_new();
	struct wm_record *x = posrec(0, 1), *y = posrec(1, 7), *z = wmh_record_new();
	wmh_acks_track(a, x);
	wmh_acks_track(a, y);
	wmh_acks_track(a, z); /* no position: not tracked */
	uint32_t s;
	int64_t o;
	CHECK(wmh_acks_done(a, y, &s, &o) == 1 && s == 1 && o == 7);
	wmh_acks_settled(a, y);
	CHECK(wmh_acks_done(a, z, &s, &o) == 0);
	wmh_acks_settled(a, z); /* untracked: no effect */
	CHECK(wmh_acks_wait_idle(a, 100 * 1000, NULL) == -1); /* x still out */
	CHECK(wmh_acks_done(a, x, &s, &o) == 1 && s == 0 && o == 1);
	wmh_record_free(x);
	wmh_record_free(y);
	wmh_record_free(z);
	wmh_acks_free(a);
}

static void acks_window_survives_many_records(void)
{
	struct wmh_acks *a = wmh_acks_new();
	enum { N = 5000 };
	struct wm_record **r = malloc(N * sizeof *r);
	int ok = 1;
	int64_t last = -1;
	for (int i = 0; i < N; i++) {
		r[i] = posrec(0, i);
		wmh_acks_track(a, r[i]);
		if (i % 3 == 2) { /* complete in reverse in groups of 3 */
			for (int k = i; k > i - 3; k--) {
				uint32_t s;
				int64_t o;
				if (wmh_acks_done(a, r[k], &s, &o)) {
					ok &= o > last;
					last = o;
				}
			}
		}
	}
	CHECK(ok);
	CHECK(last == N - 3);
	for (int i = 0; i < N; i++)
		wmh_record_free(r[i]);
	free(r);
	wmh_acks_free(a);
}

/* The sink thread's non-blocking take while batches are in flight: a
 * batch only when one is ready, and "over" once none will ever come. */
static void pop_ready_takes_only_ready_batches(void)
{
	struct wmh_queue *q = wmh_queue_new(100);
	struct wm_record *buf[32];
	int over = 1;
	CHECK(wmh_queue_pop_ready(q, buf, 10, 200000, &over) == 0 && over == 0); /* empty */
	for (int i = 0; i < 5; i++)
		wmh_queue_push(q, rec(i));
	CHECK(wmh_queue_pop_ready(q, buf, 10, 200000, &over) == 0 && over == 0); /* window open */
	usleep(250000);
	size_t n = wmh_queue_pop_ready(q, buf, 10, 200000, &over);
	CHECK(n == 5); /* the window, counted from the first look, has passed */
	for (size_t i = 0; i < n; i++)
		wmh_record_free(buf[i]);
	for (int i = 0; i < 12; i++)
		wmh_queue_push(q, rec(i));
	n = wmh_queue_pop_ready(q, buf, 10, 200000, &over);
	CHECK(n == 10 && wmh_record_get(buf[0], "seq")->u.i == 0); /* full: at once, in order */
	for (size_t i = 0; i < n; i++)
		wmh_record_free(buf[i]);
	wmh_queue_drain(q);
	n = wmh_queue_pop_ready(q, buf, 10, 200000, &over);
	CHECK(n == 2 && over == 0); /* draining cuts the batch now */
	for (size_t i = 0; i < n; i++)
		wmh_record_free(buf[i]);
	wmh_queue_close(q);
	CHECK(wmh_queue_pop_ready(q, buf, 10, 200000, &over) == 0 && over == 1);
	wmh_queue_free(q);
	q = wmh_queue_new(10);
	wmh_queue_push(q, rec(1));
	wmh_queue_abort(q);
	CHECK(wmh_queue_pop_ready(q, buf, 10, 200000, &over) == 0 && over == 1);
	wmh_queue_free(q);
}

int main(void)
{
	RUN(full_queue_blocks_producer_and_loses_nothing);
	RUN(batch_is_cut_at_max_records);
	RUN(batch_is_cut_at_max_wait);
	RUN(flush_and_close_cut_the_batch_early);
	RUN(draining_queue_accepts_beyond_capacity_in_order);
	RUN(takes_across_ring_end_and_overflow_keep_order);
	RUN(abort_wakes_blocked_producer);
	RUN(acks_release_only_contiguous_prefix);
	RUN(acks_streams_are_independent);
	RUN(acks_window_survives_many_records);
	RUN(pop_ready_takes_only_ready_batches);
	return UNIT_EXIT();
}
