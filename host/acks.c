/* Ordered acks. Each stream keeps a window of the positions emitted and not
 * yet released, in emission order; completion may happen out of order (a
 * dead-lettered record, a partly written batch), but a position is released
 * to the source only when everything emitted before it is done, so a slow
 * record never lets a later one commit past it. */
#include "acks.h"
#include "record.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
	int64_t offset;
	int done;
};

struct stream {
	uint32_t id;
	uint64_t base; /* sequence number of slots[head] */
	struct slot *slots;
	size_t head, len, cap;
};

struct wmh_acks {
	pthread_mutex_t mu;
	pthread_cond_t idle;
	struct stream *streams;
	size_t n, cap;
	uint64_t outstanding;
};

struct wmh_acks *wmh_acks_new(void)
{
	struct wmh_acks *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->idle, &ca);
	pthread_condattr_destroy(&ca);
	return a;
}

void wmh_acks_free(struct wmh_acks *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->streams[i].slots);
	free(a->streams);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->idle);
	free(a);
}

static struct stream *find(struct wmh_acks *a, uint32_t id, int create)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->streams[i].id == id)
			return &a->streams[i];
	if (!create)
		return NULL;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct stream *s = realloc(a->streams, cap * sizeof *s);
		if (!s)
			return NULL;
		a->streams = s;
		a->cap = cap;
	}
	struct stream *s = &a->streams[a->n++];
	memset(s, 0, sizeof *s);
	s->id = id;
	return s;
}

int wmh_acks_track(struct wmh_acks *a, struct wm_record *r)
{
	if (!r->has_pos)
		return 0;
	pthread_mutex_lock(&a->mu);
	struct stream *s = find(a, r->stream, 1);
	if (!s)
		goto nomem;
	if (s->head + s->len == s->cap) {
		if (s->head > 0 && s->head >= s->len) {
			memmove(s->slots, s->slots + s->head, s->len * sizeof *s->slots);
			s->head = 0;
		} else {
			size_t cap = s->cap ? s->cap * 2 : 256;
			struct slot *ns = realloc(s->slots, cap * sizeof *ns);
			if (!ns)
				goto nomem;
			s->slots = ns;
			s->cap = cap;
		}
	}
	s->slots[s->head + s->len] = (struct slot){r->offset, 0};
	r->ack_seq = s->base + s->len;
	r->ack_tracked = 1;
	s->len++;
	a->outstanding++;
	pthread_mutex_unlock(&a->mu);
	return 0;
nomem:
	pthread_mutex_unlock(&a->mu);
	return -1;
}

int wmh_acks_done(struct wmh_acks *a, const struct wm_record *r, uint32_t *stream, int64_t *offset)
{
	if (!r->ack_tracked)
		return 0;
	int advanced = 0;
	pthread_mutex_lock(&a->mu);
	struct stream *s = find(a, r->stream, 0);
	if (s && r->ack_seq >= s->base && r->ack_seq < s->base + s->len) {
		struct slot *sl = &s->slots[s->head + (r->ack_seq - s->base)];
		sl->done = 1;
		while (s->len > 0 && s->slots[s->head].done) {
			*offset = s->slots[s->head].offset;
			*stream = s->id;
			advanced = 1;
			s->head++;
			s->len--;
			s->base++;
		}
		if (s->len == 0)
			s->head = 0;
	}
	pthread_mutex_unlock(&a->mu);
	return advanced;
}

void wmh_acks_settled(struct wmh_acks *a, const struct wm_record *r)
{
	if (r->ack_tracked)
		wmh_acks_settled_n(a, 1);
}

void wmh_acks_settled_n(struct wmh_acks *a, uint64_t n)
{
	if (!n)
		return;
	pthread_mutex_lock(&a->mu);
	a->outstanding = a->outstanding > n ? a->outstanding - n : 0;
	if (a->outstanding == 0)
		pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mu);
}

int wmh_acks_wait_idle(struct wmh_acks *a, int64_t timeout_us, atomic_int *abort)
{
	struct timespec dl, now;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_us / 1000000;
	dl.tv_nsec += (timeout_us % 1000000) * 1000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	int rc = 0;
	pthread_mutex_lock(&a->mu);
	while (a->outstanding > 0) {
		if (abort && atomic_load(abort)) {
			rc = -1;
			break;
		}
		/* wake at least every 100ms to notice an abort */
		clock_gettime(CLOCK_MONOTONIC, &now);
		struct timespec step = now;
		step.tv_nsec += 100000000;
		if (step.tv_nsec >= 1000000000) {
			step.tv_sec++;
			step.tv_nsec -= 1000000000;
		}
		if (step.tv_sec > dl.tv_sec || (step.tv_sec == dl.tv_sec && step.tv_nsec > dl.tv_nsec))
			step = dl;
		if (pthread_cond_timedwait(&a->idle, &a->mu, &step) == ETIMEDOUT) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > dl.tv_sec || (now.tv_sec == dl.tv_sec && now.tv_nsec >= dl.tv_nsec)) {
				rc = a->outstanding > 0 ? -1 : 0;
				break;
			}
		}
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

uint64_t wmh_acks_outstanding(struct wmh_acks *a)
{
	pthread_mutex_lock(&a->mu);
	uint64_t n = a->outstanding;
	pthread_mutex_unlock(&a->mu);
	return n;
}

void wmh_acks_wake(struct wmh_acks *a)
{
	pthread_mutex_lock(&a->mu);
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mu);
}
