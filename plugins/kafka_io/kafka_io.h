/* kafka_io: state shared by the plugin's files (descriptor, sink, source, decoding). */
#ifndef KAFKA_IO_H
#define KAFKA_IO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <wmhost/plugin.h>

extern const struct wm_host_api *API;

/* Message encodings; JSON is the only one today, the option keeps room. */
enum kafka_encoding {
	KAFKA_ENC_JSON = 1,
};

/* A field type a source checks or converts after decoding (field_types). */
struct kafka_field_type {
	char *name;
	enum wm_type type;
};

/* One assignment of a consumed topic partition; its index in
 * kafka_io_ctx.streams is the record position's stream (source.c says when
 * an index is reused). */
struct kafka_stream {
	char *topic;
	int32_t partition;
	int active;      /* the partition is assigned to this stream now */
	int64_t emitted; /* last offset handed to the host (-1: none) */
	int64_t acked;   /* last offset the host acknowledged (-1: none) */
	int64_t stored;  /* last offset rd_kafka_offsets_store accepted (-1: none) */
};

struct kafka_io_ctx {
	struct wm_instance *inst;
	enum wm_role role;
	rd_kafka_t *rk;
	char *topic;
	enum kafka_encoding encoding;
	atomic_int tls_hint_given; /* the TLS hint is logged once */

	/* setup */
	int partitions;
	int replication_factor;
	char **topic_config; /* key, value pairs */
	size_t n_topic_config;
	int64_t setup_timeout_ms;

	/* sink */
	char *key_field;
	char *schema_header; /* NULL: no header */
	char *schema_version;
	int64_t flush_timeout_ms;
	rd_kafka_topic_t *rkt;
	int pipelined; /* batches end with batch_finish() (sink role, host has it) */
	/* batches whose delivery reports are awaited, oldest first; finished
	 * ones for reuse; ones given up at shutdown (librdkafka may still
	 * point into them) until the producer is destroyed */
	struct kafka_batch *inflight, *free_batches, *retired;
	struct kafka_block *spare; /* emptied message blocks */
	size_t spare_bytes;
	int sync_done; /* without pipelining: write() waits for its batch */
	enum wm_result sync_result;
	uint64_t late_delivered, late_failed;
	/* linger: how long messages may wait for more before they are sent
	 * anyway (the user's linger.ms); kafka_io keeps that wait itself and
	 * gives librdkafka a long one (sink.c says why) */
	int64_t linger_us;
	int64_t progress_us;     /* last hand-over or delivery report */
	int reports_seen;        /* set by the report callback, cleared by waits */
	int64_t outstanding;     /* bytes handed to librdkafka without a report */
	int64_t batch_bytes;     /* librdkafka's batch.size */
	int32_t partitions_seen; /* highest partition in a report, plus one */
	int forcing;             /* inside a flush that ends when a batch completes */

	/* source */
	char *group_id;
	int64_t max_message_size;
	int64_t poll_interval_ms;
	int64_t revoke_timeout_ms;
	int64_t close_timeout_ms;
	int closing;         /* destroy() is closing the consumer */
	int consumer_closed; /* left the group in time; else destroy must not close again */
	struct kafka_field_type *field_types;
	size_t n_field_types;
	struct wm_emitter *em; /* set while run() runs */
	pthread_mutex_t streams_lock; /* guards streams (run thread vs. ack from the sink thread) */
	pthread_cond_t streams_acked; /* signalled by ack() */
	atomic_int acks_pending;      /* acked offsets wait to be stored */
	struct kafka_stream *streams;
	size_t n_streams, cap_streams;
	rd_kafka_resp_err_t last_consume_err;
};

/* sink.c */
struct kafka_block;
struct kafka_batch;
void kafka_sink_free_memory(struct kafka_io_ctx *c);
void kafka_sink_poll(void *ctx, int timeout_ms);
enum wm_result kafka_sink_write(void *ctx, struct wm_batch *b);
void kafka_sink_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
void kafka_sink_close(struct kafka_io_ctx *c);
int kafka_sink_take_linger(struct kafka_io_ctx *c, rd_kafka_conf_t *conf, int user_sticky, char *err,
                           size_t errlen);
void kafka_sink_log_linger(struct kafka_io_ctx *c);

/* source.c */
int kafka_source_run(void *ctx, struct wm_emitter *em);
void kafka_source_ack(void *ctx, uint32_t stream, int64_t offset);
void kafka_source_stop(void *ctx);
void kafka_source_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                               void *opaque);
void kafka_source_close(struct kafka_io_ctx *c);

/* decode.c: turns one message into a record, or says why it cannot. */
struct wm_record *kafka_decode(const struct kafka_io_ctx *c, const void *payload, size_t len, char *reason,
                               size_t reasonlen);
int kafka_type_from_name(const char *name, enum wm_type *out);

#endif
