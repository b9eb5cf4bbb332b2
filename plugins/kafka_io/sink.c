/* kafka_io sink: publishes batches and calls a batch durable only when every
 * message in it has a successful delivery report.
 *
 * Pipelining: write() hands a batch's messages to librdkafka and returns
 * WM_PENDING; the host goes on with the next batch while the broker
 * acknowledges this one, and poll() (or a later write()) serves delivery
 * reports and ends each batch with batch_finish(). A host without
 * batch_finish, and the dead-letter role, get the same work done inside
 * write() before it returns. */
#include "kafka_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long one wait for delivery reports lasts before the sink looks at
 * batch_aborting() again. */
#define DR_POLL_MS 100

/* Message bytes: JSON is encoded straight into these blocks and librdkafka
 * points at them (no copy, no free per message) until the batch's last
 * delivery report. */
struct kafka_block {
	struct kafka_block *next;
	size_t cap, used;
	char data[];
};
#define BLOCK_SIZE ((size_t)1 << 20)
#define BLOCK_TAIL 2048              /* less room than this left: next block */
#define SPARE_MAX ((size_t)64 << 20) /* emptied blocks kept for reuse */

/* A message's record: its batch and index. One array per batch, so a
 * message costs no allocation of its own. */
struct kafka_msg_ref {
	struct kafka_batch *kb;
	size_t index;
};

/* The plugin's side of one batch in flight. */
struct kafka_batch {
	struct kafka_batch *next; /* in flight (oldest first), or free */
	struct wm_batch *b;       /* NULL once finished: late reports only count */
	int async;                /* ends with batch_finish(), else write() returns */
	int64_t handed_us;        /* when write() handed it to librdkafka */
	size_t n, handed;         /* records, and how many were given to librdkafka */
	size_t pending;           /* messages without a delivery report */
	size_t transient;         /* messages that failed transiently */
	size_t produce_failed;    /* messages librdkafka did not take */
	rd_kafka_resp_err_t last_err, produce_err;
	/* Records the broker refused: such a verdict may be about the whole
	 * request (a batch over the topic's max.message.bytes), so each one
	 * is sent again alone before it is called bad. */
	size_t *suspects;
	size_t n_suspects, cap_suspects;
	int isolating; /* sending suspects one by one */
	struct kafka_block *blocks;
	struct kafka_msg_ref *refs;
	size_t cap_refs;
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

static int add_suspect(struct kafka_batch *kb, size_t index)
{
	if (kb->n_suspects == kb->cap_suspects) {
		size_t cap = kb->cap_suspects ? 2 * kb->cap_suspects : 16;
		size_t *p = realloc(kb->suspects, cap * sizeof *p);
		if (!p)
			return -1;
		kb->suspects = p;
		kb->cap_suspects = cap;
	}
	kb->suspects[kb->n_suspects++] = index;
	return 0;
}

/* Runs inside rd_kafka_poll()/flush(), on the thread that polls (the
 * pipeline's sink thread). */
void kafka_sink_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_io_ctx *c = opaque;
	const struct kafka_msg_ref *ref = m->_private;
	c->outstanding -= (int64_t)m->len;
	c->reports_seen = 1;
	if (m->partition >= c->partitions_seen)
		c->partitions_seen = m->partition + 1;
	if (!ref)
		return;
	struct kafka_batch *kb = ref->kb;
	if (!kb->b) { /* a batch given up at shutdown */
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			c->late_delivered++;
		else
			c->late_failed++;
		return;
	}
	kb->pending--;
	if (kb->pending == 0 && c->forcing)
		rd_kafka_yield(rk); /* a batch can end: let its flush return */
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		API->batch_done(kb->b, ref->index);
	} else if (is_permanent(m->err) && !kb->isolating) {
		if (add_suspect(kb, ref->index) != 0) {
			kb->transient++;
			kb->last_err = m->err;
		}
	} else if (is_permanent(m->err)) {
		char reason[256];
		snprintf(reason, sizeof reason, "kafka rejected the message (%zu bytes) for topic '%s': %s", m->len,
		         c->topic, rd_kafka_err2str(m->err));
		API->batch_fail(kb->b, ref->index, reason);
	} else {
		kb->transient++;
		kb->last_err = m->err;
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

/* ---- memory ---- */

static void free_blocks(struct kafka_block *b)
{
	for (struct kafka_block *n; b; b = n) {
		n = b->next;
		free(b);
	}
}

static void kb_free(struct kafka_batch *kb)
{
	free_blocks(kb->blocks);
	free(kb->refs);
	free(kb->suspects);
	free(kb);
}

/* Frees the sink's memory; only once librdkafka holds no message. */
static void kb_free_list(struct kafka_batch *kb)
{
	for (struct kafka_batch *n; kb; kb = n) {
		n = kb->next;
		kb_free(kb);
	}
}

void kafka_sink_free_memory(struct kafka_io_ctx *c)
{
	kb_free_list(c->inflight);
	kb_free_list(c->free_batches);
	kb_free_list(c->retired);
	free_blocks(c->spare);
	c->inflight = c->free_batches = c->retired = NULL;
	c->spare = NULL;
	c->spare_bytes = 0;
}

/* A batch's state, reusing a finished one's arrays. */
static struct kafka_batch *kb_get(struct kafka_io_ctx *c, struct wm_batch *b, size_t n)
{
	struct kafka_batch *kb = c->free_batches;
	if (kb)
		c->free_batches = kb->next;
	else if (!(kb = calloc(1, sizeof *kb)))
		return NULL;
	if (n > kb->cap_refs) {
		struct kafka_msg_ref *r = realloc(kb->refs, n * sizeof *r);
		if (!r) {
			kb->next = c->free_batches;
			c->free_batches = kb;
			return NULL;
		}
		kb->refs = r;
		kb->cap_refs = n;
	}
	kb->next = NULL;
	kb->b = b;
	kb->async = c->pipelined;
	kb->handed_us = API->mono_us();
	kb->n = n;
	kb->handed = kb->pending = kb->transient = kb->produce_failed = 0;
	kb->last_err = kb->produce_err = RD_KAFKA_RESP_ERR_NO_ERROR;
	kb->n_suspects = 0;
	kb->isolating = 0;
	return kb;
}

/* A finished batch: with no message left at librdkafka its memory is
 * reused; otherwise (given up at shutdown) librdkafka may still read the
 * bytes and report on the references, so it is kept until the end. */
static void kb_put(struct kafka_io_ctx *c, struct kafka_batch *kb)
{
	kb->b = NULL;
	if (kb->pending > 0) {
		kb->next = c->retired;
		c->retired = kb;
		return;
	}
	for (struct kafka_block *bl = kb->blocks, *next; bl; bl = next) {
		next = bl->next;
		if (c->spare_bytes + bl->cap > SPARE_MAX) {
			free(bl);
			continue;
		}
		bl->used = 0;
		bl->next = c->spare;
		c->spare = bl;
		c->spare_bytes += bl->cap;
	}
	kb->blocks = NULL;
	kb->next = c->free_batches;
	c->free_batches = kb;
}

static struct kafka_block *next_block(struct kafka_io_ctx *c, struct kafka_batch *kb)
{
	struct kafka_block *bl = c->spare;
	if (bl) {
		c->spare = bl->next;
		c->spare_bytes -= bl->cap;
	} else {
		bl = malloc(sizeof *bl + BLOCK_SIZE);
		if (!bl)
			return NULL;
		bl->cap = BLOCK_SIZE;
	}
	bl->used = 0;
	bl->next = kb->blocks;
	kb->blocks = bl;
	return bl;
}

/* Encodes a record as JSON into the batch's blocks. *owned is set when the
 * record was too large for a block and got its own buffer (freed by
 * librdkafka, RD_KAFKA_MSG_F_FREE). Returns NULL if the record cannot be
 * encoded (*oom tells memory from a bad record). */
static char *encode(struct kafka_io_ctx *c, struct kafka_batch *kb, const struct wm_record *r, size_t *len,
                    int *owned, int *oom)
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
	struct kafka_block *bl = kb->blocks;
	if (!bl || bl->cap - bl->used < BLOCK_TAIL)
		bl = next_block(c, kb);
	if (!bl) {
		*oom = 1;
		return NULL;
	}
	int rc = API->record_to_json_buf(r, bl->data + bl->used, bl->cap - bl->used, len);
	if (rc == WM_E_SPACE && *len <= BLOCK_SIZE / 4) {
		if (!(bl = next_block(c, kb))) {
			*oom = 1;
			return NULL;
		}
		rc = API->record_to_json_buf(r, bl->data, bl->cap, len);
	}
	if (rc == 0) {
		char *p = bl->data + bl->used;
		bl->used += *len; /* the NUL after it is overwritten by the next one */
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

/* ---- waiting for delivery reports ----
 *
 * linger. librdkafka 2.0 sends at most one produce request per partition at
 * a time when idempotent, and while that request is out, a partition whose
 * queued messages are older than linger.ms makes its broker thread poll
 * without sleeping until the response is in. With the default 5 ms a busy
 * sink's messages are older than that most of the time, so the thread spins
 * on a core the broker (often on the same machine) or the pipeline could
 * use. kafka_io therefore keeps the user's linger itself and gives
 * librdkafka a long one: full batches (batch.size, batch.num.messages)
 * still go as soon as a partition may send, and the sink decides when the
 * partial ones go: it flushes while it waits for reports (librdkafka then
 * sends what it holds as soon as it may, as with its own linger) until a
 * batch of the pipeline is complete and the host can hand over the next,
 *  - when its oldest batch was handed over linger ago and less than a
 *    request per partition (batch.size for each partition written to) is
 *    on its way: no partition can fill a request any more; or
 *  - when nothing has moved for linger: no message handed over, no
 *    delivery report (a quiet pipeline, the first batches before the
 *    partitions are known, a partial batch that holds up the pipeline).
 * With more on its way (a large batch.max_in_flight × batch.max_records and
 * a broker that keeps up) only full requests go, and the broker thread
 * sleeps until responses come. */
#define LIBRDKAFKA_LINGER_MS 1000

/* A numeric librdkafka setting, or -1 when it cannot be read. */
static double conf_number(const rd_kafka_conf_t *conf, const char *key)
{
	char v[64];
	size_t n = sizeof v;
	return rd_kafka_conf_get(conf, key, v, &n) == RD_KAFKA_CONF_OK ? strtod(v, NULL) : -1;
}

/* Called with the producer's settings after the user's properties: the
 * user's linger.ms (or its alias, or librdkafka's default) becomes the
 * sink's own, and librdkafka gets LIBRDKAFKA_LINGER_MS, or half the
 * delivery timeout when that is less (librdkafka wants message.timeout.ms
 * above linger.ms, and a message should not spend its delivery time
 * waiting), never less than the user's. librdkafka derives how long
 * records without a key stick to one partition from linger.ms; unless the
 * user set that (user_sticky), it keeps the value the user's linger gives. */
int kafka_sink_take_linger(struct kafka_io_ctx *c, rd_kafka_conf_t *conf, int user_sticky, char *err,
                           size_t errlen)
{
	double ms = conf_number(conf, "linger.ms");
	long long batch = (long long)conf_number(conf, "batch.size");
	long long timeout = (long long)conf_number(conf, "message.timeout.ms");
	if (ms < 0 || batch <= 0 || timeout <= 0) {
		snprintf(err, errlen, "cannot read librdkafka's linger.ms, batch.size or message.timeout.ms");
		return -1;
	}
	c->linger_us = (int64_t)(ms * 1000.0);
	c->batch_bytes = batch;
	long long lib = timeout / 2 < LIBRDKAFKA_LINGER_MS ? timeout / 2 : LIBRDKAFKA_LINGER_MS;
	if (lib <= ms)
		return 0; /* the user's own is as long */
	char buf[32];
	if (!user_sticky) {
		snprintf(buf, sizeof buf, "%lld", (long long)(2 * ms < 900000 ? 2 * ms : 900000));
		if (rd_kafka_conf_set(conf, "sticky.partitioning.linger.ms", buf, err, errlen) != RD_KAFKA_CONF_OK)
			return -1;
	}
	snprintf(buf, sizeof buf, "%lld", lib);
	if (rd_kafka_conf_set(conf, "linger.ms", buf, err, errlen) != RD_KAFKA_CONF_OK)
		return -1;
	return 0;
}

/* Says (debug) what librdkafka was given, as it reports it. */
void kafka_sink_log_linger(struct kafka_io_ctx *c)
{
	const rd_kafka_conf_t *conf = rd_kafka_conf(c->rk);
	API->log(c->inst, WM_LOG_DEBUG,
	         "linger.ms %g is applied by the sink; librdkafka has linger.ms %g, "
	         "sticky.partitioning.linger.ms %g",
	         (double)c->linger_us / 1000.0, conf_number(conf, "linger.ms"),
	         conf_number(conf, "sticky.partitioning.linger.ms"));
}

/* Serves delivery reports for up to timeout_ms, flushing when partial
 * batches should go (above), or at once when urgent. Finishes no batch:
 * serve() does. */
static void wait_reports(struct kafka_io_ctx *c, int timeout_ms, int urgent)
{
	int64_t now = API->mono_us();
	/* when partial batches go: after a lull, or when the window is thin */
	int64_t due = urgent ? now : c->progress_us + c->linger_us;
	int32_t parts = c->partitions_seen > 0 ? c->partitions_seen : 1;
	if (c->inflight && c->outstanding < (int64_t)parts * c->batch_bytes) {
		int64_t thin = c->inflight->handed_us + c->linger_us;
		if (thin < due)
			due = thin;
	}
	if (timeout_ms > 0 && now >= due && rd_kafka_outq_len(c->rk) > 0) {
		c->forcing = 1;
		rd_kafka_flush(c->rk, timeout_ms);
		c->forcing = 0;
	} else {
		if (timeout_ms > 0 && due > now && (due - now) / 1000 < timeout_ms)
			timeout_ms = (int)((due - now + 999) / 1000);
		rd_kafka_poll(c->rk, timeout_ms);
	}
	if (c->reports_seen) {
		c->reports_seen = 0;
		c->progress_us = API->mono_us();
	}
}

/* ---- producing ---- */

/* Hands one record to librdkafka. Returns 0 when queued, 1 when the record
 * was failed as bad, -1 on a transient error (in kb->produce_err). */
static int produce_one(struct kafka_io_ctx *c, struct kafka_batch *kb, size_t i)
{
	struct wm_batch *b = kb->b;
	const struct wm_record *r = API->batch_at(b, i);
	size_t json_len = 0;
	int owned, oom;
	char keybuf[64];
	size_t key_len = 0;
	char *json = encode(c, kb, r, &json_len, &owned, &oom);
	if (!json) {
		if (oom) {
			kb->produce_err = RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE;
			return -1;
		}
		API->batch_fail(b, i, "record could not be encoded as JSON");
		return 1;
	}
	const void *key = record_msg_key(c, r, keybuf, sizeof keybuf, &key_len);
	struct kafka_msg_ref *ref = &kb->refs[i];
	ref->kb = kb;
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
			kb->pending++;
			c->outstanding += (int64_t)json_len;
			rc = 0;
			break;
		}
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !API->batch_aborting(b)) {
			/* librdkafka's own queue is full: serving delivery
			 * reports makes room; this is backpressure, not failure. */
			wait_reports(c, DR_POLL_MS, 0);
			continue;
		}
		kb->produce_err = err;
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

/* Refused records, one by one: a refusal of a record alone is about the
 * record; it goes to the dead-letter path. Waits for each report. */
static void isolate(struct kafka_io_ctx *c, struct kafka_batch *kb)
{
	kb->isolating = 1;
	size_t s = 0;
	for (; s < kb->n_suspects && kb->pending == 0 && !API->batch_aborting(kb->b); s++) {
		if (produce_one(c, kb, kb->suspects[s]) < 0)
			kb->produce_failed++;
		while (kb->pending > 0 && !API->batch_aborting(kb->b))
			wait_reports(c, DR_POLL_MS, 1); /* alone on purpose: it goes now */
	}
	if (s < kb->n_suspects)
		kb->transient += kb->n_suspects - s;
	kb->n_suspects = 0;
}

/* The batch's verdict, logged when it is not OK. */
static enum wm_result verdict(struct kafka_io_ctx *c, struct kafka_batch *kb, int fatal)
{
	if (fatal)
		return WM_FATAL;
	if (kb->pending > 0 || kb->handed < kb->n) {
		API->log(c->inst, WM_LOG_WARN,
		         "shutdown deadline: %zu message(s) of the batch without delivery report, %zu not sent", kb->pending,
		         kb->n - kb->handed);
		return WM_RETRY;
	}
	if (kb->produce_failed > 0) {
		API->log(c->inst, WM_LOG_WARN, "%zu of %zu message(s) could not be queued: %s", kb->produce_failed, kb->n,
		         rd_kafka_err2str(kb->produce_err));
		return WM_RETRY;
	}
	if (kb->transient > 0) {
		API->log(c->inst, WM_LOG_WARN, "%zu of %zu message(s) not delivered to '%s': %s; will retry", kb->transient,
		         kb->n, c->topic, rd_kafka_err2str(kb->last_err));
		return WM_RETRY;
	}
	return WM_OK;
}

/* Ends a batch: takes it off the in-flight list and tells the host. */
static void finish(struct kafka_io_ctx *c, struct kafka_batch *kb, int fatal)
{
	struct kafka_batch **pp = &c->inflight;
	while (*pp != kb)
		pp = &(*pp)->next;
	*pp = kb->next;
	enum wm_result res = verdict(c, kb, fatal);
	struct wm_batch *b = kb->b;
	int async = kb->async;
	kb_put(c, kb);
	if (async) {
		API->batch_finish(b, res);
	} else {
		c->sync_result = res;
		c->sync_done = 1;
	}
}

/* Serves delivery reports for up to timeout_ms, then ends every batch that
 * has all its reports (or is given up: shutdown deadline, fatal error). */
static void serve(struct kafka_io_ctx *c, int timeout_ms)
{
	wait_reports(c, timeout_ms, 0);
	char fatal[512];
	int is_fatal = rd_kafka_fatal_error(c->rk, fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR;
	if (is_fatal && c->inflight)
		API->log(c->inst, WM_LOG_ERROR, "producer cannot continue: %s", fatal);
	for (struct kafka_batch *kb = c->inflight, *next; kb; kb = next) {
		next = kb->next;
		if (!is_fatal && kb->pending == 0 && kb->n_suspects > 0) {
			isolate(c, kb);
			next = c->inflight; /* isolating served other batches' reports: look again */
			continue;
		}
		if (is_fatal || kb->pending == 0 || API->batch_aborting(kb->b)) {
			finish(c, kb, is_fatal);
			next = c->inflight;
		}
	}
}

enum wm_result kafka_sink_write(void *ctx, struct wm_batch *b)
{
	struct kafka_io_ctx *c = ctx;
	size_t n = API->batch_len(b);
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
	struct kafka_batch *kb = kb_get(c, b, n);
	if (!kb) {
		API->log(c->inst, WM_LOG_WARN, "out of memory for a batch of %zu message(s)", n);
		return WM_RETRY;
	}
	/* in flight before the first message, so a report served while
	 * librdkafka's queue is full finds it */
	struct kafka_batch **pp = &c->inflight;
	while (*pp)
		pp = &(*pp)->next;
	*pp = kb;
	for (size_t i = 0; i < n && !API->batch_aborting(b); i++, kb->handed++)
		if (produce_one(c, kb, i) < 0)
			kb->produce_failed++;
	c->progress_us = kb->handed_us = API->mono_us();
	if (kb->async) {
		/* never ack on enqueue: the host waits for batch_finish() */
		serve(c, 0);
		return WM_PENDING;
	}
	c->sync_done = 0;
	while (!c->sync_done)
		serve(c, DR_POLL_MS);
	return c->sync_result;
}

void kafka_sink_poll(void *ctx, int timeout_ms)
{
	struct kafka_io_ctx *c = ctx;
	if (c->rk && c->role != WM_ROLE_SOURCE)
		serve(c, timeout_ms);
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
		 * counts them. */
		rd_kafka_purge(c->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_flush(c->rk, DR_POLL_MS);
	}
	if (left > 0 || c->late_failed > 0 || c->late_delivered > 0)
		API->log(c->inst, left > 0 || c->late_failed > 0 ? WM_LOG_WARN : WM_LOG_INFO,
		         "shutdown: %" PRIu64 " message(s) of abandoned batches delivered late, %" PRIu64
		         " not delivered (flush timeout %dms)",
		         c->late_delivered, c->late_failed, timeout);
}
