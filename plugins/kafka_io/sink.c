/* kafka_io sink: publishes a batch and calls it durable only on successful delivery reports. */
#include "kafka_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long one wait for delivery reports lasts before write() looks at
 * batch_aborting() again. */
#define DR_POLL_MS 100

/* Identifies a message's record in the batch it came from. One array per
 * batch (c->refs), so a message costs no allocation of its own. */
struct kafka_msg_ref {
	uint64_t gen;
	size_t index;
};

/* Message bytes of a batch: JSON is encoded straight into these blocks and
 * librdkafka points at them (no copy, no free per message) until the
 * batch's last delivery report. */
struct kafka_block {
	struct kafka_block *next;
	size_t cap, used;
	char data[];
};
#define BLOCK_SIZE ((size_t)1 << 20)
#define BLOCK_TAIL 2048                  /* less room than this left: next block */
#define SPARE_MAX ((size_t)64 << 20)     /* emptied blocks kept for reuse */

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
	const struct kafka_msg_ref *ref = m->_private;
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

static int retire(struct kafka_io_ctx *c, void *p)
{
	if (c->n_retired == c->cap_retired) {
		size_t cap = c->cap_retired ? 2 * c->cap_retired : 8;
		void **v = realloc(c->retired, cap * sizeof *v);
		if (!v)
			return -1;
		c->retired = v;
		c->cap_retired = cap;
	}
	c->retired[c->n_retired++] = p;
	return 0;
}

static void free_blocks(struct kafka_block *b)
{
	for (struct kafka_block *n; b; b = n) {
		n = b->next;
		free(b);
	}
}

/* Frees the sink's memory; only once librdkafka holds no message. */
void kafka_sink_free_memory(struct kafka_io_ctx *c)
{
	free_blocks(c->blocks);
	free_blocks(c->spare);
	free(c->refs);
	for (size_t i = 0; i < c->n_retired; i++)
		free(c->retired[i]);
	free(c->retired);
	c->blocks = c->spare = NULL;
	c->refs = NULL;
	c->retired = NULL;
	c->n_retired = c->cap_retired = c->cap_refs = c->spare_bytes = 0;
}

/* A new batch starts. If the last one left messages without a report, the
 * memory they point to is retired instead of reused. Returns -1 on OOM. */
static int batch_memory(struct kafka_io_ctx *c, size_t n, int last_abandoned)
{
	if (last_abandoned) {
		for (struct kafka_block *b = c->blocks, *next; b; b = next) {
			next = b->next;
			if (retire(c, b) != 0)
				return -1; /* leaves it in c->blocks: freed with the producer */
			c->blocks = next;
		}
		if (c->refs && retire(c, c->refs) != 0)
			return -1;
		c->refs = NULL;
		c->cap_refs = 0;
	}
	for (struct kafka_block *b = c->blocks, *next; b; b = next) {
		next = b->next;
		if (c->spare_bytes + b->cap > SPARE_MAX) {
			free(b);
			continue;
		}
		b->used = 0;
		b->next = c->spare;
		c->spare = b;
		c->spare_bytes += b->cap;
	}
	c->blocks = NULL;
	if (n > c->cap_refs) {
		struct kafka_msg_ref *r = realloc(c->refs, n * sizeof *r);
		if (!r)
			return -1;
		c->refs = r;
		c->cap_refs = n;
	}
	return 0;
}

static struct kafka_block *next_block(struct kafka_io_ctx *c)
{
	struct kafka_block *b = c->spare;
	if (b) {
		c->spare = b->next;
		c->spare_bytes -= b->cap;
	} else {
		b = malloc(sizeof *b + BLOCK_SIZE);
		if (!b)
			return NULL;
		b->cap = BLOCK_SIZE;
	}
	b->used = 0;
	b->next = c->blocks;
	c->blocks = b;
	return b;
}

/* Encodes a record as JSON into the batch's blocks. *owned is set when the
 * record was too large for a block and got its own buffer (freed by
 * librdkafka, RD_KAFKA_MSG_F_FREE). Returns NULL if the record cannot be
 * encoded (*oom tells memory from a bad record). */
static char *encode(struct kafka_io_ctx *c, const struct wm_record *r, size_t *len, int *owned, int *oom)
{
	*owned = 0;
	*oom = 0;
	if (!WM_API_HAS(API, record_to_json_buf)) {
		/* an older host: one buffer per message */
		char *json = NULL;
		if (API->record_to_json(r, &json, len) != 0)
			return NULL;
		*owned = 1;
		return json;
	}
	struct kafka_block *b = c->blocks;
	if (!b || b->cap - b->used < BLOCK_TAIL)
		b = next_block(c);
	if (!b) {
		*oom = 1;
		return NULL;
	}
	int rc = API->record_to_json_buf(r, b->data + b->used, b->cap - b->used, len);
	if (rc == WM_E_SPACE && *len <= BLOCK_SIZE / 4) {
		if (!(b = next_block(c))) {
			*oom = 1;
			return NULL;
		}
		rc = API->record_to_json_buf(r, b->data, b->cap, len);
	}
	if (rc == 0) {
		char *p = b->data + b->used;
		b->used += *len; /* the NUL after it is overwritten by the next one */
		return p;
	}
	if (rc == WM_E_SPACE) {
		/* a large record: a buffer of its own */
		size_t need = *len;
		char *p = malloc(need);
		if (!p) {
			*oom = 1;
			return NULL;
		}
		if (API->record_to_json_buf(r, p, need, len) == 0) {
			*owned = 1;
			return p;
		}
		free(p);
	}
	*oom = rc == WM_E_NOMEM;
	return NULL;
}

/* Hands one record to librdkafka. Returns 0 when queued, 1 when the record
 * was failed as bad, -1 on a transient error (in *errp). */
static int produce_one(struct kafka_io_ctx *c, struct wm_batch *b, size_t i, rd_kafka_resp_err_t *errp)
{
	const struct wm_record *r = API->batch_at(b, i);
	size_t json_len = 0;
	int owned, oom;
	char keybuf[64];
	size_t key_len = 0;
	char *json = encode(c, r, &json_len, &owned, &oom);
	if (!json) {
		if (oom) {
			*errp = RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE;
			return -1;
		}
		API->batch_fail(b, i, "record could not be encoded as JSON");
		return 1;
	}
	const void *key = record_msg_key(c, r, keybuf, sizeof keybuf, &key_len);
	struct kafka_msg_ref *ref = &c->refs[i];
	ref->gen = c->batch_gen;
	ref->index = i;
	/* block memory stays valid until the batch's reports are in (no copy);
	 * an own buffer is librdkafka's to free (the host API's allocator is
	 * malloc too) */
	int flags = owned ? RD_KAFKA_MSG_F_FREE : 0;
	int rc = -1;
	for (;;) {
		rd_kafka_resp_err_t err;
		if (c->schema_header)
			err = rd_kafka_producev(c->rk, RD_KAFKA_V_RKT(c->rkt), RD_KAFKA_V_MSGFLAGS(flags),
			                        RD_KAFKA_V_VALUE(json, json_len), RD_KAFKA_V_KEY(key, key_len),
			                        RD_KAFKA_V_HEADER(c->schema_header, c->schema_version, -1),
			                        RD_KAFKA_V_OPAQUE(ref), RD_KAFKA_V_END);
		else
			err = rd_kafka_producev(c->rk, RD_KAFKA_V_RKT(c->rkt), RD_KAFKA_V_MSGFLAGS(flags),
			                        RD_KAFKA_V_VALUE(json, json_len), RD_KAFKA_V_KEY(key, key_len),
			                        RD_KAFKA_V_OPAQUE(ref), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			owned = 0;
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
	if (owned)
		free(json);
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
	if (batch_memory(c, n, c->abandoned_last) != 0) {
		API->log(c->inst, WM_LOG_WARN, "out of memory for a batch of %zu message(s)", n);
		return WM_RETRY;
	}
	c->abandoned_last = 0;
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
	c->abandoned_last = abandoned > 0;

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
