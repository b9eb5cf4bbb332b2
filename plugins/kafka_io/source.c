/* kafka_io source: a consumer group member whose offsets advance only when the sink acknowledges. */
#include "kafka_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Stream ids. The host acknowledges positions per stream id, in emission
 * order, so an id stands for one assignment of a partition, not for the
 * partition: acks that come for an earlier assignment (revoke_timeout
 * passed, the assignment was lost) must neither be stored into a later one
 * nor hide that one's acks. When a partition is revoked its stream becomes
 * inactive, and acks still coming for it are never stored: whoever owns
 * the partition next (maybe this consumer again) reads those records from
 * the last commit. Each assignment gets a stream with fresh state, in the
 * place of an inactive one whose every record is acknowledged (no ack can
 * come for it any more), so the ids stay bounded by the partitions and
 * their assignments still in flight. Only the thread that polls the
 * consumer opens and closes streams, so it may search without the lock;
 * ack() and the writes here take the lock. */

/* The stream of the partition's current assignment, or -1. */
static int64_t active_stream(const struct kafka_io_ctx *c, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < c->n_streams; i++) {
		const struct kafka_stream *s = &c->streams[i];
		if (s->active && s->partition == partition && strcmp(s->topic, topic) == 0)
			return (int64_t)i;
	}
	return -1;
}

static void close_streams_locked(struct kafka_io_ctx *c, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < c->n_streams; i++) {
		struct kafka_stream *s = &c->streams[i];
		if (s->active && (!topic || (s->partition == partition && strcmp(s->topic, topic) == 0)))
			s->active = 0;
	}
}

/* Ends the partition's current assignment (topic NULL: every partition's). */
static void close_streams(struct kafka_io_ctx *c, const char *topic, int32_t partition)
{
	pthread_mutex_lock(&c->streams_lock);
	close_streams_locked(c, topic, partition);
	pthread_mutex_unlock(&c->streams_lock);
}

/* Starts an assignment of the partition: its stream id, with nothing
 * emitted, acked or stored; -1 when out of memory. */
static int64_t open_stream(struct kafka_io_ctx *c, const char *topic, int32_t partition)
{
	int64_t id = -1;
	char *t = strdup(topic);
	if (!t)
		return -1;
	pthread_mutex_lock(&c->streams_lock);
	close_streams_locked(c, topic, partition);
	size_t i = 0;
	while (i < c->n_streams && (c->streams[i].active || c->streams[i].acked < c->streams[i].emitted))
		i++;
	if (i == c->n_streams) {
		if (c->n_streams == c->cap_streams) {
			size_t cap = c->cap_streams ? 2 * c->cap_streams : 16;
			struct kafka_stream *s = realloc(c->streams, cap * sizeof *s);
			if (!s)
				goto out;
			c->streams = s;
			c->cap_streams = cap;
		}
		c->n_streams++;
	} else {
		free(c->streams[i].topic);
	}
	c->streams[i] = (struct kafka_stream){
	    .topic = t, .partition = partition, .active = 1, .emitted = -1, .acked = -1, .stored = -1};
	t = NULL;
	id = (int64_t)i;
out:
	pthread_mutex_unlock(&c->streams_lock);
	free(t);
	return id;
}

/* Hands acknowledged offsets (offset+1, the next message to read) of the
 * current assignments to librdkafka for the next commit. Runs on the thread
 * that polls: ack() only notes the offset, because the host acks record by
 * record and one store per poll is far cheaper than one per record. */
static void store_acked(struct kafka_io_ctx *c)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	atomic_store(&c->acks_pending, 0);
	pthread_mutex_lock(&c->streams_lock);
	for (size_t i = 0; i < c->n_streams; i++) {
		struct kafka_stream *s = &c->streams[i];
		if (!s->active || s->acked <= s->stored)
			continue;
		if (!l)
			l = rd_kafka_topic_partition_list_new((int)c->n_streams);
		rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_add(l, s->topic, s->partition);
		p->offset = s->acked + 1;
		p->opaque = (void *)(uintptr_t)i;
	}
	pthread_mutex_unlock(&c->streams_lock);
	if (!l)
		return;
	rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, l);
	/* Only what librdkafka took counts as stored; the rest is tried again
	 * with the stream's next ack. */
	pthread_mutex_lock(&c->streams_lock);
	for (int i = 0; i < l->cnt; i++) {
		rd_kafka_topic_partition_t *p = &l->elems[i];
		struct kafka_stream *s = &c->streams[(uintptr_t)p->opaque];
		int taken = err != RD_KAFKA_RESP_ERR__INVALID_ARG && p->err == RD_KAFKA_RESP_ERR_NO_ERROR;
		if (taken && p->offset - 1 > s->stored)
			s->stored = p->offset - 1;
	}
	pthread_mutex_unlock(&c->streams_lock);
	for (int i = 0; i < l->cnt; i++) {
		rd_kafka_resp_err_t e = err == RD_KAFKA_RESP_ERR__INVALID_ARG ? err : l->elems[i].err;
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
			/* The partition was revoked meanwhile: its new owner
			 * reads from the last commit, so nothing is lost. */
			API->log(c->inst, WM_LOG_INFO, "offset %" PRId64 " of %s [%" PRId32 "] not stored: %s",
			         l->elems[i].offset, l->elems[i].topic, l->elems[i].partition, rd_kafka_err2str(e));
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* Called from the sink thread, in order per stream: everything up to
 * offset is durable downstream. */
void kafka_source_ack(void *ctx, uint32_t stream, int64_t offset)
{
	struct kafka_io_ctx *c = ctx;
	int known = 0;
	pthread_mutex_lock(&c->streams_lock);
	if (stream < c->n_streams) {
		known = 1;
		if (offset > c->streams[stream].acked)
			c->streams[stream].acked = offset;
		pthread_cond_broadcast(&c->streams_acked);
	}
	pthread_mutex_unlock(&c->streams_lock);
	if (known)
		atomic_store(&c->acks_pending, 1);
	else
		API->log(c->inst, WM_LOG_ERROR, "ack for unknown stream %" PRIu32, stream);
}

void kafka_source_stop(void *ctx)
{
	struct kafka_io_ctx *c = ctx;
	if (!c->rk)
		return;
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c->rk);
	if (q) {
		rd_kafka_queue_yield(q);
		rd_kafka_queue_destroy(q);
	}
}

static void describe(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < parts->cnt && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s[%" PRId32 "]", i ? ", " : "", parts->elems[i].topic,
		                 parts->elems[i].partition);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* How often the polling thread hands acknowledged offsets to librdkafka:
 * often enough for any commit interval, rarely enough to cost nothing.
 * Revokes and shutdown store what is acknowledged right away. */
#define STORE_INTERVAL_US 50000
#define MS_PER_S 1000
#define US_PER_MS 1000
/* How long one wait for close events lasts before the deadline is checked. */
#define CLOSE_POLL_MS 100
#define CLOSE_PROBE_MS 5000 /* longest wait for a broker at close (at most half of close_timeout) */
#define NS_PER_MS 1000000L
#define NS_PER_S 1000000000L

/* wait_acked() returns once every record is finished, possibly while the
 * host is still inside ack() for the last of them: wait for those calls too,
 * so their offsets are in before the revoke's commit. */
static void wait_acks(struct kafka_io_ctx *c, int64_t timeout_ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / MS_PER_S;
	dl.tv_nsec += (timeout_ms % MS_PER_S) * NS_PER_MS;
	if (dl.tv_nsec >= NS_PER_S) {
		dl.tv_sec++;
		dl.tv_nsec -= NS_PER_S;
	}
	pthread_mutex_lock(&c->streams_lock);
	for (;;) {
		int pending = 0;
		for (size_t i = 0; i < c->n_streams && !pending; i++)
			pending = c->streams[i].acked < c->streams[i].emitted;
		if (!pending || pthread_cond_timedwait(&c->streams_acked, &c->streams_lock, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&c->streams_lock);
}

/* Commits the stored offsets and waits up to timeout_ms for the answer (a
 * blocking commit could hang while no broker answers); nothing stored is
 * not an error. */
static void commit_sync(struct kafka_io_ctx *c, const char *when, int64_t timeout_ms)
{
	int timeout = timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms;
	rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
	rd_kafka_resp_err_t err = rd_kafka_commit_queue(c->rk, NULL, q, NULL, NULL);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout);
		if (ev) {
			err = rd_kafka_event_error(ev);
			rd_kafka_event_destroy(ev);
		} else {
			err = RD_KAFKA_RESP_ERR__TIMED_OUT;
		}
	}
	rd_kafka_queue_destroy(q);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		API->log(c->inst, WM_LOG_WARN, "commit %s failed: %s", when, rd_kafka_err2str(err));
}

/* Runs on the thread that polls the consumer: run()'s, or destroy()'s on close. */
void kafka_source_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                               void *opaque)
{
	struct kafka_io_ctx *c = opaque;
	int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	char names[1024];
	describe(parts, names, sizeof names);
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		API->log(c->inst, WM_LOG_INFO, "assigned: %s", parts->cnt ? names : "(nothing)");
		/* Out of memory here, the partition's first message opens it. */
		for (int i = 0; i < parts->cnt; i++)
			open_stream(c, parts->elems[i].topic, parts->elems[i].partition);
		rd_kafka_error_t *e = NULL;
		rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
		if (cooperative)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, parts);
		if (e || aerr)
			API->log(c->inst, WM_LOG_ERROR, "assign failed: %s", e ? rd_kafka_error_string(e) : rd_kafka_err2str(aerr));
		if (e)
			rd_kafka_error_destroy(e);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
		API->log(c->inst, WM_LOG_INFO, "revoking: %s", parts->cnt ? names : "(nothing)");
		/* Finish what is in flight before another member may read these
		 * partitions, so it starts right after our last durable record. */
		if (c->em && !rd_kafka_assignment_lost(rk)) {
			int rc = API->wait_acked(c->em, c->revoke_timeout_ms);
			if (rc == 0)
				wait_acks(c, c->revoke_timeout_ms);
			else if (rc == WM_E_TIMEOUT)
				API->log(c->inst, WM_LOG_WARN,
				         "records in flight were not acknowledged within %" PRId64
				         "ms; the next owner of the revoked partitions reads them again",
				         c->revoke_timeout_ms);
		}
		store_acked(c);
		/* On close, kafka_source_close() has just committed. */
		if (!c->closing && !rd_kafka_assignment_lost(rk))
			commit_sync(c, "on revoke", c->revoke_timeout_ms);
		for (int i = 0; i < parts->cnt; i++)
			close_streams(c, parts->elems[i].topic, parts->elems[i].partition);
		if (cooperative) {
			rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
			if (e)
				rd_kafka_error_destroy(e);
		} else {
			rd_kafka_assign(rk, NULL);
		}
		return;
	}
	/* Any other error: rdkafka.h wants rd_kafka_assign(rk, NULL) to bring
	 * the assignment back in sync. librdkafka 2.0 refuses that under the
	 * cooperative protocol (__STATE), so there the whole current assignment
	 * is unassigned incrementally, which ends in the same state. */
	API->log(c->inst, WM_LOG_ERROR, "rebalance failed: %s", rd_kafka_err2str(err));
	close_streams(c, NULL, 0);
	rd_kafka_resp_err_t uerr = rd_kafka_assign(rk, NULL);
	if (uerr == RD_KAFKA_RESP_ERR__STATE && cooperative) {
		rd_kafka_topic_partition_list_t *cur = NULL;
		uerr = rd_kafka_assignment(rk, &cur);
		rd_kafka_error_t *e = uerr ? NULL : rd_kafka_incremental_unassign(rk, cur);
		if (e) {
			uerr = rd_kafka_error_code(e);
			rd_kafka_error_destroy(e);
		}
		if (cur)
			rd_kafka_topic_partition_list_destroy(cur);
	}
	if (uerr)
		API->log(c->inst, WM_LOG_ERROR, "unassigning after the failed rebalance: %s", rd_kafka_err2str(uerr));
}

/* `emitted` is written and read (wait_acks, in the rebalance callback) by
 * the polling thread only. */
static void note_emitted(struct kafka_io_ctx *c, int64_t stream, int64_t offset)
{
	c->streams[stream].emitted = offset;
}

/* Emits one message as a record, or dead-letters it with where it came from. */
static int consume_message(struct kafka_io_ctx *c, struct wm_emitter *em, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	int64_t stream = active_stream(c, topic, m->partition);
	if (stream < 0)
		stream = open_stream(c, topic, m->partition);
	char why[512], reason[768];
	struct wm_record *r = NULL;
	if (stream < 0) {
		API->log(c->inst, WM_LOG_ERROR, "out of memory");
		return WM_E_NOMEM;
	}
	if (!m->payload || m->len == 0)
		snprintf(why, sizeof why, "empty message (no JSON object)");
	else if ((int64_t)m->len > c->max_message_size)
		snprintf(why, sizeof why, "message of %zu bytes exceeds max_message_size (%" PRId64 " bytes)", m->len,
		         c->max_message_size);
	else
		r = kafka_decode(c, m->payload, m->len, why, sizeof why);
	if (!r) {
		snprintf(reason, sizeof reason, "topic %s partition %" PRId32 " offset %" PRId64 ": %s", topic,
		         m->partition, m->offset, why);
		int rc = API->dead_letter(em, stream, m->offset, m->payload, m->payload ? m->len : 0, reason);
		if (rc == 0)
			note_emitted(c, stream, m->offset);
		return rc;
	}
	if (m->key && API->record_set_key(r, m->key, m->key_len) != 0) {
		API->record_free(r);
		API->log(c->inst, WM_LOG_ERROR, "out of memory");
		return WM_E_NOMEM;
	}
	API->record_set_position(r, (uint32_t)stream, m->offset);
	int rc = API->emit(em, r);
	if (rc == 0)
		note_emitted(c, stream, m->offset);
	return rc;
}

/* Consumer errors are mostly transient (the client reconnects); they are
 * logged when they change, and only fatal ones stop the pipeline. */
static int consume_error(struct kafka_io_ctx *c, const rd_kafka_message_t *m)
{
	char fatal[512], where[320] = "";
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return 0;
	if (m->rkt)
		snprintf(where, sizeof where, "topic %s partition %" PRId32 ": ", rd_kafka_topic_name(m->rkt),
		         m->partition);
	if (rd_kafka_fatal_error(c->rk, fatal, sizeof fatal)) {
		API->log(c->inst, WM_LOG_ERROR, "consumer cannot continue: %s", fatal);
		return -1;
	}
	/* auto_offset_reset: error and a partition without a valid committed
	 * offset: librdkafka fetches nothing more from it, so going on would
	 * look healthy while consuming nothing. */
	if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
		API->log(c->inst, WM_LOG_ERROR,
		         "%sno valid committed offset to start from and auto_offset_reset is 'error' (%s); commit an "
		         "offset for group '%s' or set auto_offset_reset to earliest or latest",
		         where, rd_kafka_message_errstr(m), c->group_id);
		return -1;
	}
	if (m->err != c->last_consume_err) {
		if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
			API->log(c->inst, WM_LOG_WARN, "topic '%s' does not exist (yet); `wmhost setup` creates it",
			         c->topic);
		else
			API->log(c->inst, WM_LOG_WARN, "consumer: %s%s", where, rd_kafka_message_errstr(m));
		c->last_consume_err = m->err;
	}
	return 0;
}

int kafka_source_run(void *ctx, struct wm_emitter *em)
{
	struct kafka_io_ctx *c = ctx;
	int rc = 0;
	int timeout = c->poll_interval_ms > INT32_MAX ? INT32_MAX : (int)c->poll_interval_ms;
	int64_t next_store_us = 0;
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, c->topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (err) {
		API->log(c->inst, WM_LOG_ERROR, "subscribe to '%s' failed: %s", c->topic, rd_kafka_err2str(err));
		return -1;
	}
	c->em = em;
	while (!API->stopping(em)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout);
		if (atomic_load(&c->acks_pending) && API->mono_us() >= next_store_us) {
			store_acked(c);
			next_store_us = API->mono_us() + STORE_INTERVAL_US;
		}
		if (!m)
			continue;
		if (m->err) {
			rc = consume_error(c, m);
		} else {
			c->last_consume_err = RD_KAFKA_RESP_ERR_NO_ERROR;
			int erc = consume_message(c, em, m);
			rc = erc == WM_E_STOPPING ? 0 : erc < 0 ? -1 : 0;
			if (erc == WM_E_STOPPING) {
				rd_kafka_message_destroy(m);
				break;
			}
		}
		rd_kafka_message_destroy(m);
		if (rc != 0)
			break;
	}
	c->em = NULL;
	return rc;
}

/* Whether a broker answers a metadata request within timeout_ms. */
static int cluster_answers(struct kafka_io_ctx *c, int timeout_ms)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 0, NULL, &md, timeout_ms);
	if (md)
		rd_kafka_metadata_destroy(md);
	return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Commits what the sink acknowledged and leaves the group. */
void kafka_source_close(struct kafka_io_ctx *c)
{
	int64_t deadline = API->mono_us() + c->close_timeout_ms * US_PER_MS;
	c->closing = 1;
	store_acked(c);
	/* A consumer close that librdkafka (2.0) has begun cannot be cut short:
	 * while no broker answers, destroying the handle then waits up to
	 * session.timeout.ms (45 s by default) for the group coordinator. So
	 * the cluster is asked first; if it is gone, neither the commit nor
	 * the close can succeed, and both are skipped. */
	int64_t half = c->close_timeout_ms / 2 > 0 ? c->close_timeout_ms / 2 : 1;
	int probe_ms = half < CLOSE_PROBE_MS ? (int)half : CLOSE_PROBE_MS;
	if (!cluster_answers(c, probe_ms)) {
		API->log(c->inst, WM_LOG_WARN,
		         "no broker answered within %dms: offsets acknowledged since the last commit are not committed "
		         "(the group reads those records again) and group '%s' is not left (its partitions move on "
		         "after session.timeout.ms)",
		         probe_ms, c->group_id);
		return;
	}
	int64_t left_ms = (deadline - API->mono_us()) / US_PER_MS;
	commit_sync(c, "on shutdown", left_ms > 0 ? left_ms : 1);
	/* Leave the group asynchronously so an unreachable cluster cannot hold
	 * shutdown longer than close_timeout. (librdkafka 2.0's destroy may
	 * still wait up to session.timeout.ms for its group handler then.) */
	rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
	rd_kafka_error_t *e = rd_kafka_consumer_close_queue(c->rk, q);
	if (e) {
		API->log(c->inst, WM_LOG_WARN, "closing the consumer: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	while (!e && !rd_kafka_consumer_closed(c->rk) && API->mono_us() < deadline) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, CLOSE_POLL_MS);
		if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
			kafka_source_rebalance_cb(c->rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev),
			                          c);
		if (ev)
			rd_kafka_event_destroy(ev);
	}
	c->consumer_closed = !e && rd_kafka_consumer_closed(c->rk);
	if (!c->consumer_closed)
		API->log(c->inst, WM_LOG_WARN,
		         "the consumer did not leave group '%s' within %" PRId64
		         "ms (brokers unreachable?); its partitions move on after session.timeout.ms",
		         c->group_id, c->close_timeout_ms);
	rd_kafka_queue_destroy(q);
}
