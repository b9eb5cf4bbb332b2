/* pg_sink internals shared by its files: the instance state and helpers. */
#ifndef PG_SINK_H
#define PG_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libpq-fe.h>
#include <wmhost/plugin.h>

extern const struct wm_host_api *PG_API;

/* A growable byte buffer; on OOM it sets oom and stops growing. */
struct pg_buf {
	char *p;
	size_t len, cap;
	int oom;
};

void pg_buf_reserve(struct pg_buf *b, size_t extra);

/* Inline: the COPY encoders call this for every field. */
static inline void pg_buf_add(struct pg_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		pg_buf_reserve(b, n);
		if (b->oom)
			return;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}
void pg_buf_str(struct pg_buf *b, const char *s);
void pg_buf_printf(struct pg_buf *b, const char *fmt, ...) WM_PRINTF(2, 3);
/* Appends s as a double-quoted SQL identifier ("" doubles any quote). */
void pg_buf_ident(struct pg_buf *b, const char *s);
void pg_buf_free(struct pg_buf *b);

struct pg_column {
	char *name;
	char *type; /* as declared; checked against PostgreSQL in setup */
	int not_null;
	int is_extra; /* the jsonb column collecting unknown fields */
};

/* How rows are stored: decided by setup or found on first connect. */
enum pg_storage {
	PG_STORE_UNKNOWN = 0,
	PG_STORE_HYPERTABLE,
	PG_STORE_PARTITIONED, /* native range partitions that the sink manages */
	PG_STORE_PLAIN,       /* an existing plain table: nothing to manage */
};

/* A set of time buckets (partitions) known to exist. */
struct pg_bucket_set {
	int64_t *v;
	size_t n, cap;
};

struct pg_sink_ctx {
	struct wm_instance *inst;
	char *conninfo; /* secret: never logged */
	char *schema;   /* NULL: the search_path's first schema */
	char *table;
	char *qual;      /* "schema"."table", quoted, for SQL text */
	char *qual_text; /* the same as a regclass literal parameter */
	struct pg_column *cols;
	size_t ncols;
	size_t time_col;
	size_t *uniq; /* column indexes of the unique key */
	size_t nuniq;
	int extra_col; /* index in cols, or -1 */
	char *storage_opt; /* auto | hypertable | partitioned */
	int64_t interval_us;
	int64_t ahead;
	int64_t retention_us; /* 0: keep forever */
	int64_t compress_us;  /* 0: no compression */
	char **segmentby;
	size_t nsegmentby;
	int create_views;
	int direct_copy;
	char *copy_format; /* auto | text | binary */
	uint32_t *col_oid; /* the table's column types, learned on connect */
	int use_binary;    /* every column has a type pg_binary.c encodes */
	int auto_setup;
	int64_t connect_timeout_s;
	int64_t maintenance_us; /* how often write() checks partitions/retention */

	PGconn *conn;
	enum pg_storage storage;
	int tsdb_apache; /* TimescaleDB without its TSL part: no policies */
	int stage_ready; /* the temp staging table exists on this connection */
	int64_t next_maintenance_us;
	struct pg_bucket_set buckets;

	/* Scratch reused across batches. */
	struct pg_buf copy;
	const struct wm_value **vals; /* one per column for the current record */
	size_t *pos_cache;            /* field position -> column + 1 (0: unknown) */
	size_t npos_cache;
	char *sql_insert; /* INSERT ... SELECT ... ON CONFLICT from the stage */
	char *sql_copy_target;
	char *sql_copy_target_bin;
	char *sql_copy_stage;
};

/* pg_config.c: options and init. */
extern const struct wm_option PG_OPTIONS[];
int pg_sink_init(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **out, char *err,
                 size_t errlen);
void pg_ctx_free(struct pg_sink_ctx *c); /* accepts NULL */

/* pg_conn.c */
#define PG_E_CONNINFO (-2) /* pg_connect: the conninfo is unusable; retrying cannot help */
/* Parses a conninfo as libpq will (no connection is made): 0 with *opts
 * (free with PQconninfoFree; NULL for a plain database name), WM_E_INVAL
 * with a message in err that never repeats the conninfo, or WM_E_NOMEM. */
int pg_conninfo_parse(const char *conninfo, PQconninfoOption **opts, char *err, size_t errlen);
/* 0, -1 (error in err, without any password of the conninfo) or
 * PG_E_CONNINFO. */
int pg_connect(struct pg_sink_ctx *c, char *err, size_t errlen);
void pg_disconnect(struct pg_sink_ctx *c);
/* Runs a command; returns 0, or -1 with the error in err and the SQLSTATE
 * (or "" when the connection broke) in sqlstate[6]. */
int pg_exec(struct pg_sink_ctx *c, const char *sql, char *sqlstate, char *err, size_t errlen);
int pg_exec_params(struct pg_sink_ctx *c, const char *sql, int n, const char *const *vals, PGresult **out,
                   char *sqlstate, char *err, size_t errlen);
void pg_result_error(PGconn *conn, const PGresult *res, char *sqlstate, char *err, size_t errlen);
/* What a failed command's SQLSTATE ("" for a lost connection) calls for. */
enum pg_err_kind {
	PG_ERR_TRANSIENT, /* reconnect and retry the batch later */
	PG_ERR_DATA,      /* some row is bad: find it (outside rows: retry) */
	PG_ERR_FATAL,     /* the schema or the configuration does not fit: stop */
};
enum pg_err_kind pg_classify(const char *sqlstate);

/* pg_copy.c: text COPY rows. */
void pg_fill_values(struct pg_sink_ctx *c, const struct wm_record *r); /* -> c->vals */
void pg_extra_json(struct pg_sink_ctx *c, const struct wm_record *r, struct pg_buf *json);
int pg_copy_record(struct pg_sink_ctx *c, const struct wm_record *r, struct pg_buf *out);
/* Parses RFC 3339 / ISO 8601 timestamps like the host's JSON encoder writes
 * ("2026-01-02T03:04:05.123456Z", offsets allowed). 0 on success. */
int pg_parse_time(const char *s, size_t len, int64_t *us);
int pg_oid_is_time(uint32_t oid); /* timestamp or timestamptz */
/* The record's time column value in µs, or -1 when it has none we can read. */
int pg_record_time(struct pg_sink_ctx *c, const struct wm_record *r, int64_t *us);
void pg_format_time(int64_t us, char *out, size_t outlen); /* "YYYY-MM-DD HH:MM:SS+00" */

/* pg_binary.c: binary COPY rows; -1 when a value needs text COPY. */
int pg_binary_type_ok(uint32_t oid);
void pg_binary_header(struct pg_buf *b);
void pg_binary_trailer(struct pg_buf *b);
int pg_binary_record(struct pg_sink_ctx *c, const struct wm_record *r, struct pg_buf *out);

/* pg_setup.c */
/* Creates what is missing; 0, or -1 with the error in err and its SQLSTATE
 * (or "" when the connection broke) in sqlstate[6]. */
int pg_setup_schema(struct pg_sink_ctx *c, char *sqlstate, char *err, size_t errlen);
/* Finds how the table is stored (after connect); 0, or -1 (missing: 1). */
int pg_detect_storage(struct pg_sink_ctx *c, char *sqlstate, char *err, size_t errlen);
/* Creates the partitions the times need (native path). */
int pg_ensure_partitions(struct pg_sink_ctx *c, const int64_t *buckets, size_t n, char *sqlstate, char *err,
                         size_t errlen);
/* Partitions ahead + retention; cheap when nothing is due. */
int pg_maintain(struct pg_sink_ctx *c, int force, char *sqlstate, char *err, size_t errlen);
/* Reads the table's column types; decides binary vs text COPY. */
int pg_load_column_types(struct pg_sink_ctx *c, char *sqlstate, char *err, size_t errlen);
int64_t pg_bucket_of(const struct pg_sink_ctx *c, int64_t us);

#endif
