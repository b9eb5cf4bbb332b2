/* kafka_io sink: publishes a batch and calls it durable only on successful delivery reports. */
#include "kafka_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long one wait for delivery reports lasts before write() looks at
 * batch_aborting() again. */
#define DR_POLL_MS 100

/* Identifies a message's record in the batch it came from; freed by its
 * delivery report (librdkafka reports every message exactly once, also
 * purged ones). */
struct msg_ref {
	uint64_t gen;
	size_t index;
};

/* Broker or client verdicts that retrying the same record cannot change. */
static int is_permanent(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR__BAD_MSG:
		return 1;
	default:
		return 0;
	}
}

static int add_suspect(struct kafka_io_ctx *c, size_t index)
{
	if (c->n_suspects == c->cap_suspects) {
		size_t cap = c->cap_suspects ? 2 * c->cap_suspects : 16;
		size_t *p = realloc(c->suspects, cap * sizeof *p);
		if (!p)
			return -1;
		c->suspects = p;
		c->cap_suspects = cap;
	}
	c->suspects[c->n_suspects++] = index;
	return 0;
}

/* Runs inside rd_kafka_poll()/flush(), on the thread that polls. */
void kafka_sink_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_io_ctx *c = opaque;
	struct msg_ref *ref = m->_private;
	if (!ref)
		return;
	if (c->batch && ref->gen == c->batch_gen) {
		c->pending--;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			API->batch_done(c->batch, ref->index);
		} else if (is_permanent(m->err) && !c->isolating) {
			if (add_suspect(c, ref->index) != 0) {
				c->transient++;
				c->last_err = m->err;
			}
		} else if (is_permanent(m->err)) {
			char reason[256];
			snprintf(reason, sizeof reason, "kafka rejected the message (%zu bytes) for topic '%s': %s", m->len,
			         c->topic, rd_kafka_err2str(m->err));
			API->batch_fail(c->batch, ref->index, reason);
		} else {
			c->transient++;
			c->last_err = m->err;
		}
	} else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		c->late_delivered++;
	} else {
		c->late_failed++;
	}
	free(ref);
}

/* The message key: the key field's value as text, else the record's key. */
static const void *record_msg_key(const struct kafka_io_ctx *c, const struct wm_record *r, char *buf, size_t buflen,
                                  size_t *len)
{
	const struct wm_value *v = c->key_field && *c->key_field ? API->record_get(r, c->key_field) : NULL;
	if (v) {
		switch (v->type) {
		case WM_STRING:
		case WM_BYTES:
			*len = v->u.s.len;
			return v->u.s.ptr;
		case WM_INT:
			*len = (size_t)snprintf(buf, buflen, "%" PRId64, v->u.i);
			return buf;
		case WM_TIME:
			*len = (size_t)snprintf(buf, buflen, "%" PRId64, v->u.t);
			return buf;
		case WM_BOOL:
			*len = (size_t)snprintf(buf, buflen, "%s", v->u.b ? "true" : "false");
			return buf;
		case WM_DOUBLE:
			*len = (size_t)snprintf(buf, buflen, "%.17g", v->u.d);
			return buf;
		case WM_NULL:
			break;
		}
	}
	return API->record_key(r, len);
}

/* Hands one record to librdkafka. Returns 0 when queued, 1 when the record
 * was failed as bad, -1 on a transient error (in *errp). */
static int produce_one(struct kafka_io_ctx *c, struct wm_batch *b, size_t i, rd_kafka_resp_err_t *errp)
{
	const struct wm_record *r = API->batch_at(b, i);
	char *json = NULL;
	size_t json_len = 0;
	char keybuf[64];
	size_t key_len = 0;
	int rc = -1;
	if (API->record_to_json(r, &json, &json_len) != 0) {
		API->batch_fail(b, i, "record could not be encoded as JSON");
		return 1;
	}
	const void *key = record_msg_key(c, r, keybuf, sizeof keybuf, &key_len);
	struct msg_ref *ref = malloc(sizeof *ref);
	if (!ref) {
		*errp = RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE;
		goto out;
	}
	ref->gen = c->batch_gen;
	ref->index = i;
	for (;;) {
		rd_kafka_resp_err_t err;
		if (c->schema_header)
			err = rd_kafka_producev(c->rk, RD_KAFKA_V_RKT(c->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
			                        RD_KAFKA_V_VALUE(json, json_len), RD_KAFKA_V_KEY(key, key_len),
			                        RD_KAFKA_V_HEADER(c->schema_header, c->schema_version, -1),
			                        RD_KAFKA_V_OPAQUE(ref), RD_KAFKA_V_END);
		else
			err = rd_kafka_producev(c->rk, RD_KAFKA_V_RKT(c->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
			                        RD_KAFKA_V_VALUE(json, json_len), RD_KAFKA_V_KEY(key, key_len),
			                        RD_KAFKA_V_OPAQUE(ref), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			/* librdkafka took the JSON buffer (F_FREE: no copy) and
			 * frees it with free(), the host API's allocator too */
			json = NULL;
			ref = NULL;
			c->pending++;
			rc = 0;
			break;
		}
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !API->batch_aborting(b)) {
			/* librdkafka's own queue is full: serving delivery
			 * reports makes room; this is backpressure, not failure. */
			rd_kafka_poll(c->rk, DR_POLL_MS);
			continue;
		}
		*errp = err;
		if (is_permanent(err)) {
			char reason[256];
			snprintf(reason, sizeof reason, "message of %zu bytes not accepted for topic '%s': %s", json_len,
			         c->topic, rd_kafka_err2str(err));
			API->batch_fail(b, i, reason);
			rc = 1;
		}
		break;
	}
out:
	free(ref);
	API->free(json);
	return rc;
}

enum wm_result kafka_sink_write(void *ctx, struct wm_batch *b)
{
	struct kafka_io_ctx *c = ctx;
	size_t n = API->batch_len(b);
	size_t produce_failed = 0;
	rd_kafka_resp_err_t produce_err = RD_KAFKA_RESP_ERR_NO_ERROR;
	char fatal[512];

	if (rd_kafka_fatal_error(c->rk, fatal, sizeof fatal)) {
		API->log(c->inst, WM_LOG_ERROR, "producer cannot continue: %s", fatal);
		return WM_FATAL;
	}
	if (!c->rkt) {
		c->rkt = rd_kafka_topic_new(c->rk, c->topic, NULL);
		if (!c->rkt) {
			API->log(c->inst, WM_LOG_ERROR, "topic '%s': %s", c->topic,
			         rd_kafka_err2str(rd_kafka_last_error()));
			return WM_FATAL;
		}
	}
	c->batch = b;
	c->batch_gen++;
	c->pending = 0;
	c->transient = 0;
	c->last_err = RD_KAFKA_RESP_ERR_NO_ERROR;
	c->n_suspects = 0;
	c->isolating = 0;
	size_t handed = 0;
	for (size_t i = 0; i < n; i++, handed++) {
		if (API->batch_aborting(b))
			break;
		if (produce_one(c, b, i, &produce_err) < 0)
			produce_failed++;
	}
	/* Never ack on enqueue: wait until every message has its report. */
	while (c->pending > 0 && !API->batch_aborting(b))
		rd_kafka_poll(c->rk, DR_POLL_MS);
	rd_kafka_poll(c->rk, 0);
	/* Refused records, one by one: a refusal of a record alone is about
	 * the record; it goes to the dead-letter path. */
	c->isolating = 1;
	for (size_t s = 0; s < c->n_suspects && c->pending == 0 && !API->batch_aborting(b); s++) {
		if (produce_one(c, b, c->suspects[s], &produce_err) < 0)
			produce_failed++;
		while (c->pending > 0 && !API->batch_aborting(b))
			rd_kafka_flush(c->rk, DR_POLL_MS);
	}
	if (c->n_suspects > 0 && API->batch_aborting(b))
		c->transient += c->n_suspects;
	c->isolating = 0;
	size_t abandoned = c->pending;
	c->batch = NULL;

	if (rd_kafka_fatal_error(c->rk, fatal, sizeof fatal)) {
		API->log(c->inst, WM_LOG_ERROR, "producer cannot continue: %s", fatal);
		return WM_FATAL;
	}
	if (abandoned > 0 || handed < n) {
		API->log(c->inst, WM_LOG_WARN,
		         "shutdown deadline: %zu message(s) of the batch without delivery report, %zu not sent", abandoned,
		         n - handed);
		return WM_RETRY;
	}
	if (produce_failed > 0) {
		API->log(c->inst, WM_LOG_WARN, "%zu of %zu message(s) could not be queued: %s", produce_failed, n,
		         rd_kafka_err2str(produce_err));
		return WM_RETRY;
	}
	if (c->transient > 0) {
		API->log(c->inst, WM_LOG_WARN, "%zu of %zu message(s) not delivered to '%s': %s; will retry", c->transient,
		         n, c->topic, rd_kafka_err2str(c->last_err));
		return WM_RETRY;
	}
	return WM_OK;
}

/* Flushes what is still in flight (abandoned batches) within flush_timeout
 * and says what could not be delivered. */
void kafka_sink_close(struct kafka_io_ctx *c)
{
	int timeout = c->flush_timeout_ms > INT32_MAX ? INT32_MAX : (int)c->flush_timeout_ms;
	rd_kafka_flush(c->rk, timeout);
	int left = rd_kafka_outq_len(c->rk);
	if (left > 0) {
		/* Purged messages get a delivery report with an error, which
		 * frees their reference and counts them. */
		rd_kafka_purge(c->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_flush(c->rk, DR_POLL_MS);
	}
	if (left > 0 || c->late_failed > 0 || c->late_delivered > 0)
		API->log(c->inst, left > 0 || c->late_failed > 0 ? WM_LOG_WARN : WM_LOG_INFO,
		         "shutdown: %" PRIu64 " message(s) of abandoned batches delivered late, %" PRIu64
		         " not delivered (flush timeout %dms)",
		         c->late_delivered, c->late_failed, timeout);
}
