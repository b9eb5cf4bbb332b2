/*
 * wmhost plugin ABI: the one header a plugin includes.
 *
 * A plugin is a shared object that exports one symbol, WM_PLUGIN_ENTRY_SYMBOL,
 * of type wm_plugin_entry_fn. The host calls it with the ABI version it speaks
 * and a table of host functions; the plugin answers with a descriptor that
 * begins with its own ABI version and struct size. Every host object is an
 * opaque handle; plugins never link against host symbols.
 *
 * Threading contract (read this before writing a plugin):
 *  - init/setup/destroy run on the host's main thread.
 *  - A source's run() runs on its own thread until api->stopping() is true.
 *    stop() may be called from another thread to wake it early.
 *  - A source's ack() is called from the pipeline's sink thread; it must be
 *    thread-safe with respect to run().
 *  - A sink's write() runs on the pipeline's sink thread, one batch at a time.
 *  - A plugin never sleeps to retry: it returns WM_RETRY and the host backs
 *    off. A plugin never drops data on its own: bad records are reported with
 *    batch_fail() or dead_letter() and the host decides where they go.
 */
#ifndef WMHOST_PLUGIN_H
#define WMHOST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bump on any incompatible change to the structs or callbacks below. */
#define WM_ABI_VERSION 1
#define WM_PLUGIN_ENTRY_SYMBOL "wm_plugin_entry"

#if defined(__GNUC__)
#define WM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define WM_EXPORT __attribute__((visibility("default")))
#else
#define WM_PRINTF(f, a)
#define WM_EXPORT
#endif

/* Opaque host handles. */
struct wm_instance; /* one configured plugin instance (for logging) */
struct wm_config;   /* a node of the validated configuration */
struct wm_record;   /* a typed record */
struct wm_emitter;  /* a source's connection to its pipeline */
struct wm_batch;    /* the records handed to one sink write */

/* What a plugin can be; a plugin may be both (kafka_io). */
enum wm_kind {
	WM_KIND_SOURCE = 1u << 0,
	WM_KIND_SINK = 1u << 1,
};

/* The role an instance plays in a pipeline (passed to init). */
enum wm_role {
	WM_ROLE_SOURCE = 1,
	WM_ROLE_SINK = 2,
	WM_ROLE_DEAD_LETTER = 3, /* a sink used as a pipeline's dead-letter target */
};

enum wm_log_level {
	WM_LOG_ERROR = 0,
	WM_LOG_WARN = 1,
	WM_LOG_INFO = 2,
	WM_LOG_DEBUG = 3,
};

/* Option types the host validates before a plugin ever sees the config. */
enum wm_opt_type {
	WM_OPT_STRING = 1,
	WM_OPT_INT,      /* 64-bit signed integer */
	WM_OPT_BOOL,     /* true/false/yes/no/on/off */
	WM_OPT_DOUBLE,
	WM_OPT_DURATION, /* "250ms", "30s", "5m", "1h", "1d"; read in ms */
	WM_OPT_SIZE,     /* "512", "64KiB", "10MB"; read in bytes */
	WM_OPT_LIST,     /* sequence; items typed by item_type/children */
	WM_OPT_MAP,      /* mapping; fixed keys in children, else free-form */
};

/* Option flags. */
#define WM_OPT_REQUIRED 0x1u /* must be present (no default) */
#define WM_OPT_SECRET 0x2u   /* never printed in logs or errors */

/*
 * One entry of a plugin's option table; a table ends with an entry whose name
 * is NULL. The same table validates the config and prints the documentation.
 *
 *  - roles: WM_KIND_* bits saying where the option is allowed (0 = any role).
 *  - default_value: textual default in the option's own syntax ("30s"), or
 *    NULL for none.
 *  - item_type: for WM_OPT_LIST, the type of each item (0 = string). An item
 *    may also be a map, validated by children (item_type = WM_OPT_MAP).
 *  - children: for WM_OPT_MAP (or lists of maps), the allowed keys. A map
 *    without children is free-form: any key, scalar values (e.g. librdkafka
 *    properties).
 *  - scalar_key: for lists of maps, the key an item fills when the user
 *    writes a bare scalar instead of a map (e.g. "- https://example.com"
 *    means { url: https://example.com }). NULL if not allowed.
 */
struct wm_option {
	const char *name;
	enum wm_opt_type type;
	const char *default_value;
	unsigned flags;
	unsigned roles;
	const char *help;
	enum wm_opt_type item_type;
	const struct wm_option *children;
	const char *scalar_key;
};

/* Field value types of a record. */
enum wm_type {
	WM_NULL = 0,
	WM_BOOL,
	WM_INT,    /* int64 */
	WM_DOUBLE,
	WM_STRING, /* UTF-8, not NUL-terminated in general: use len */
	WM_BYTES,
	WM_TIME,   /* microseconds since the Unix epoch, UTC */
};

struct wm_value {
	enum wm_type type;
	union {
		int b;
		int64_t i;
		double d;
		int64_t t;
		struct {
			const char *ptr; /* NUL-terminated as a convenience */
			size_t len;
		} s; /* WM_STRING and WM_BYTES */
	} u;
};

/* What a sink's write() says about a batch. */
enum wm_result {
	WM_OK = 0,    /* every record not marked failed is durable now */
	WM_RETRY = 1, /* transient: records not marked done or failed are
	                 retried with backoff by the host */
	WM_FATAL = 2, /* cannot continue: the pipeline stops */
	WM_PENDING = 3, /* pipelining sinks only (see poll in struct wm_plugin):
	                   the batch is on its way; batch_finish() ends it */
};

/* Return codes of host functions. */
#define WM_E_OK 0
#define WM_E_STOPPING (-1) /* the pipeline is stopping; the record was not taken */
#define WM_E_INVAL (-2)
#define WM_E_NOMEM (-3)
#define WM_E_TIMEOUT (-4)
#define WM_E_SPACE (-5) /* the caller's buffer is too small */

/*
 * The table of host functions, handed to the entry point. It starts with its
 * own ABI version and size so it can grow: a plugin built against an older
 * header only uses the fields it knows.
 */
struct wm_host_api {
	uint32_t abi_version;
	uint32_t struct_size;

	/* Logging: one line on stderr with level, pipeline and instance. */
	void (*log)(struct wm_instance *inst, enum wm_log_level level, const char *fmt, ...) WM_PRINTF(3, 4);

	/*
	 * Configuration access. The host has validated the config against the
	 * plugin's option table, so types are right and required keys exist.
	 * Getters apply the table's default; an absent option without default
	 * reads as NULL / 0 / false. Durations are milliseconds, sizes bytes.
	 */
	int (*cfg_has)(const struct wm_config *node, const char *key); /* present in YAML */
	const struct wm_config *(*cfg_get)(const struct wm_config *node, const char *key);
	const char *(*cfg_str)(const struct wm_config *node, const char *key);
	int64_t (*cfg_int)(const struct wm_config *node, const char *key);
	int (*cfg_bool)(const struct wm_config *node, const char *key);
	double (*cfg_double)(const struct wm_config *node, const char *key);
	int64_t (*cfg_duration_ms)(const struct wm_config *node, const char *key);
	int64_t (*cfg_size)(const struct wm_config *node, const char *key);
	size_t (*cfg_len)(const struct wm_config *node);                 /* items of a list/map */
	const struct wm_config *(*cfg_at)(const struct wm_config *node, size_t i);
	const char *(*cfg_key_at)(const struct wm_config *node, size_t i); /* map keys */
	const char *(*cfg_scalar)(const struct wm_config *node);          /* a scalar's text */
	/* Formats "file:line:col: key: message" into err (key may be NULL for
	 * the node itself) and returns -1, so init can `return api->cfg_errorf(...)`. */
	int (*cfg_errorf)(const struct wm_config *node, const char *key, char *err, size_t errlen, const char *fmt, ...)
		WM_PRINTF(5, 6);

	/* Records. record_new returns NULL on OOM; the caller owns the record
	 * until it passes it to emit(). Setters copy their arguments, replace a
	 * field of the same name, and return 0 or WM_E_NOMEM. */
	struct wm_record *(*record_new)(void);
	void (*record_free)(struct wm_record *r); /* accepts NULL */
	int (*record_set_null)(struct wm_record *r, const char *name);
	int (*record_set_bool)(struct wm_record *r, const char *name, int v);
	int (*record_set_int)(struct wm_record *r, const char *name, int64_t v);
	int (*record_set_double)(struct wm_record *r, const char *name, double v);
	int (*record_set_string)(struct wm_record *r, const char *name, const char *s); /* NULL sets null */
	int (*record_set_stringn)(struct wm_record *r, const char *name, const char *s, size_t len);
	int (*record_set_bytes)(struct wm_record *r, const char *name, const void *p, size_t len);
	int (*record_set_time)(struct wm_record *r, const char *name, int64_t us_since_epoch);
	int (*record_set_key)(struct wm_record *r, const void *key, size_t len);
	const void *(*record_key)(const struct wm_record *r, size_t *len); /* NULL if none */
	size_t (*record_count)(const struct wm_record *r);
	const char *(*record_name_at)(const struct wm_record *r, size_t i);
	const struct wm_value *(*record_value_at)(const struct wm_record *r, size_t i);
	const struct wm_value *(*record_get)(const struct wm_record *r, const char *name); /* NULL if absent */
	/* The source's opaque position, acknowledged back through ack(). */
	void (*record_set_position)(struct wm_record *r, uint32_t stream, int64_t offset);
	int (*record_position)(const struct wm_record *r, uint32_t *stream, int64_t *offset); /* 0 if none */
	/* JSON: one object per record, fields in order. *out is malloc'ed and
	 * NUL-terminated; free it with api->free. Times encode as RFC 3339 UTC
	 * strings with microseconds, bytes as base64. */
	int (*record_to_json)(const struct wm_record *r, char **out, size_t *len);
	/* Strict decoder: the whole input must be one JSON object of scalars;
	 * invalid UTF-8, duplicate keys, trailing data or nesting fail with a
	 * message. Integers that fit int64 become WM_INT, other numbers
	 * WM_DOUBLE. Returns NULL and fills err on failure. */
	struct wm_record *(*record_from_json)(const char *json, size_t len, char *err, size_t errlen);
	void (*free)(void *p);

	/* Sources. emit() takes ownership of the record in every case. It blocks
	 * while the pipeline's queue is full (backpressure). Once the pipeline
	 * is draining it no longer blocks, so what a stopping source still emits
	 * is delivered; it returns WM_E_STOPPING (record discarded) only when
	 * the pipeline is aborted (drain timeout or a second signal). */
	int (*emit)(struct wm_emitter *em, struct wm_record *r);
	int (*stopping)(struct wm_emitter *em);
	/* A record the source could not turn into a record (e.g. undecodable
	 * message): the host writes it to the dead-letter target, then treats
	 * its position as acknowledged. stream/offset may be -1/0 if none. */
	int (*dead_letter)(struct wm_emitter *em, int64_t stream, int64_t offset, const void *payload, size_t len,
	                   const char *reason);
	/* Blocks until every record emitted so far is acknowledged or
	 * dead-lettered (the sink is told to cut its batch now). For Kafka
	 * rebalances. Returns 0, or WM_E_TIMEOUT / WM_E_STOPPING. */
	int (*wait_acked)(struct wm_emitter *em, int64_t timeout_ms);

	/* Sinks: the batch holds only the records still to write (on retry the
	 * host hands over a batch without those already done or failed). */
	size_t (*batch_len)(const struct wm_batch *b);
	const struct wm_record *(*batch_at)(const struct wm_batch *b, size_t i);
	void (*batch_done)(struct wm_batch *b, size_t i);                      /* durable, even if the write returns RETRY */
	void (*batch_fail)(struct wm_batch *b, size_t i, const char *reason); /* bad record: dead-letter it */
	int (*batch_aborting)(const struct wm_batch *b); /* shutdown deadline passed: give up soon */

	/* Time. */
	int64_t (*now_us)(void);  /* wall clock, µs since epoch */
	int64_t (*mono_us)(void); /* monotonic, µs */

	/* True while the host runs `wmhost check`: init must validate only and
	 * must not connect to anything (no sockets, no client handles). */
	int (*check_only)(const struct wm_instance *inst);

	/* Added after the first release of ABI 1: test with WM_API_HAS before
	 * use, so the plugin also loads into an older host. */

	/* JSON like record_to_json, written into the caller's memory: no
	 * allocation. On success *len is the JSON's length and buf[*len] is a
	 * NUL (so it takes *len + 1 bytes). When cap is too small it returns
	 * WM_E_SPACE with *len set to the cap that is needed. */
	int (*record_to_json_buf)(const struct wm_record *r, char *buf, size_t cap, size_t *len);

	/* Pipelining sinks: ends a batch whose write() returned WM_PENDING,
	 * with the verdict write() would have returned (WM_OK, WM_RETRY or
	 * WM_FATAL; marks made with batch_done/batch_fail count as usual).
	 * Call it on the sink thread, from inside write() or poll(), once per
	 * pending write; the batch must not be touched afterwards. */
	void (*batch_finish)(struct wm_batch *b, enum wm_result result);

	/* RFC 3339 times, one strict reading for every plugin:
	 * YYYY-MM-DD(T| )hh:mm:ss[.fraction](Z|+hh:mm|-hh:mm). Every field is
	 * range-checked (days per month and leap years, offsets up to 15:59),
	 * a fraction beyond microseconds is rounded as PostgreSQL rounds it, a
	 * leap second :60 counts as the next second, and the result must lie
	 * in the years 0001-9999. Returns 0 with *us (µs since the epoch, UTC),
	 * or -1. */
	int (*parse_time)(const char *s, size_t len, int64_t *us);
};

/* True when the host's table has the member (a host built from an older
 * header has a shorter table). */
#define WM_API_HAS(api, member)                                                                                  \
	((api)->struct_size >= offsetof(struct wm_host_api, member) + sizeof((api)->member) && (api)->member != NULL)

/*
 * The descriptor a plugin returns. Callbacks a kind does not need are NULL.
 * Return conventions: 0 on success, -1 with a message in err on failure.
 */
struct wm_plugin {
	uint32_t abi_version; /* WM_ABI_VERSION the plugin was built with */
	uint32_t struct_size; /* sizeof(struct wm_plugin) */
	const char *name;
	const char *version;
	const char *description;
	unsigned kinds; /* WM_KIND_* bits */
	const struct wm_option *options;

	int (*init)(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **ctx, char *err,
	            size_t errlen);
	/* Optional: create what the instance needs (topic, table). Idempotent.
	 * Called by `wmhost setup` after init. */
	int (*setup)(void *ctx, char *err, size_t errlen);
	/* Source: produce records until api->stopping(em); return 0, or -1 on a
	 * fatal error (the pipeline stops). */
	int (*run)(void *ctx, struct wm_emitter *em);
	/* Source, optional: everything up to and including this position of this
	 * stream is durable downstream. Called in order per stream. */
	void (*ack)(void *ctx, uint32_t stream, int64_t offset);
	/* Source, optional: wake run() early; called from another thread. The
	 * first call starts the drain: start nothing new, finish what is under
	 * way (emit still works) and return from run(). A second call means the
	 * drain deadline (shutdown_timeout) passed: return at once. */
	void (*stop)(void *ctx);
	/* Sink: write a batch. */
	enum wm_result (*write)(void *ctx, struct wm_batch *b);
	/* Free everything; called once, after run/write have returned. */
	void (*destroy)(void *ctx);

	/* Added after the first release of ABI 1 (the host reads it only when
	 * struct_size covers it). */

	/* Sink, optional: pipelining. A sink with poll() may return WM_PENDING
	 * from write() when the batch is handed over but not yet durable (a
	 * Kafka producer waiting for delivery reports); the host then hands it
	 * further batches, up to the pipeline's batch.max_in_flight, and calls
	 * poll() on the sink thread whenever it waits, for at most timeout_ms.
	 * The plugin ends each pending batch with api->batch_finish(). Once
	 * batch_aborting() is true, poll() must finish pending batches quickly
	 * (WM_RETRY for what is not durable). A plugin should only return
	 * WM_PENDING when WM_API_HAS(api, batch_finish). */
	void (*poll)(void *ctx, int timeout_ms);
};

typedef const struct wm_plugin *(*wm_plugin_entry_fn)(uint32_t host_abi_version, const struct wm_host_api *api);

#ifdef __cplusplus
}
#endif
#endif /* WMHOST_PLUGIN_H */
