/* pg_sink: schema objects. Creates the table idempotently as a TimescaleDB
 * hypertable when the extension is there, else as a natively range-
 * partitioned table whose partitions the sink creates ahead and drops after
 * the retention; plus optional rollup views for the check schema. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_sink.h"

#define US_PER_DAY INT64_C(86400000000)
#define US_PER_SEC INT64_C(1000000)
#define TS_BY_RANGE_MIN_VERSION 21300 /* create_hypertable(..., by_range()) since 2.13 */
#define ST_UNDEFINED_OBJECT "42704"   /* a type or extension the server lacks: fatal */

/* Rollup views for the check schema: name suffix, bucket width, and for
 * continuous aggregates the refresh window and schedule. */
struct rollup {
	const char *suffix;
	const char *width;
	const char *start_offset;
	const char *end_offset;
	const char *schedule;
};
static const struct rollup ROLLUPS[] = {
	{"_hourly", "1 hour", "3 days", "1 hour", "30 minutes"},
	{"_daily", "1 day", "35 days", "1 day", "1 hour"},
};

int64_t pg_bucket_of(const struct pg_sink_ctx *c, int64_t us)
{
	int64_t q = us / c->interval_us;
	if (us % c->interval_us < 0)
		q--;
	return q;
}

static void interval_text(int64_t us, char *out, size_t len)
{
	snprintf(out, len, "%lld microseconds", (long long)us);
}

/* One value of a one-row query as an int (or dflt). */
static int query_int(struct pg_sink_ctx *c, const char *sql, int n, const char *const *vals, long long dflt,
                     long long *out, char *st, char *err, size_t errlen)
{
	PGresult *res;
	if (pg_exec_params(c, sql, n, vals, &res, st, err, errlen) < 0)
		return -1;
	*out = (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) ? atoll(PQgetvalue(res, 0, 0)) : dflt;
	PQclear(res);
	return 0;
}

int pg_detect_storage(struct pg_sink_ctx *c, char *st, char *err, size_t errlen)
{
	const char *p[] = {c->qual_text};
	PGresult *res;
	if (pg_exec_params(c, "SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass($1)", 1, p, &res, st,
	                   err, errlen) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		snprintf(err, errlen, "table %s does not exist (run `wmhost setup`)", c->qual);
		return 1;
	}
	char kind = PQgetvalue(res, 0, 0)[0];
	PQclear(res);
	c->storage = kind == 'p' ? PG_STORE_PARTITIONED : PG_STORE_PLAIN;
	long long ts = 0;
	if (query_int(c, "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'", 0, NULL, 0, &ts, st, err,
	              errlen) < 0)
		return -1;
	if (ts && kind == 'r') {
		long long hyper = 0;
		if (query_int(c,
		              "SELECT 1 FROM timescaledb_information.hypertables "
		              "WHERE format('%I.%I', hypertable_schema, hypertable_name)::regclass = $1::regclass",
		              1, p, 0, &hyper, st, err, errlen) < 0)
			return -1;
		if (hyper)
			c->storage = PG_STORE_HYPERTABLE;
		PGresult *lic;
		if (pg_exec_params(c, "SELECT current_setting('timescaledb.license', true)", 0, NULL, &lic, st, err,
		                   errlen) < 0)
			return -1;
		c->tsdb_apache = PQntuples(lic) > 0 && strcmp(PQgetvalue(lic, 0, 0), "apache") == 0;
		PQclear(lic);
	}
	return 0;
}

int pg_load_column_types(struct pg_sink_ctx *c, char *st, char *err, size_t errlen)
{
	const char *p[] = {c->qual_text};
	PGresult *res;
	if (pg_exec_params(c,
	                   "SELECT a.attname, a.atttypid FROM pg_attribute a WHERE a.attrelid = $1::regclass "
	                   "AND a.attnum > 0 AND NOT a.attisdropped",
	                   1, p, &res, st, err, errlen) < 0)
		return -1;
	int all_binary = 1, rc = 0;
	for (size_t k = 0; k < c->ncols && rc == 0; k++) {
		c->col_oid[k] = 0;
		for (int i = 0; i < PQntuples(res); i++)
			if (strcmp(PQgetvalue(res, i, 0), c->cols[k].name) == 0)
				c->col_oid[k] = (uint32_t)strtoul(PQgetvalue(res, i, 1), NULL, 10);
		if (!c->col_oid[k]) {
			snprintf(err, errlen, "table %s has no column %s (declared in the pipeline)", c->qual,
			         c->cols[k].name);
			strcpy(st, "42703");
			rc = -1;
		}
		all_binary &= pg_binary_type_ok(c->col_oid[k]);
	}
	PQclear(res);
	if (rc < 0)
		return -1;
	c->use_binary = strcmp(c->copy_format, "text") != 0 && all_binary;
	if (!c->use_binary && strcmp(c->copy_format, "binary") == 0)
		PG_API->log(c->inst, WM_LOG_WARN, "copy_format: binary, but a column type has no binary encoder "
		            "here; using text COPY");
	PG_API->log(c->inst, WM_LOG_INFO, "writing to %s (%s) with %s COPY", c->qual,
	            c->storage == PG_STORE_HYPERTABLE     ? "hypertable"
	            : c->storage == PG_STORE_PARTITIONED ? "native partitions"
	                                                 : "plain table",
	            c->use_binary ? "binary" : "text");
	return 0;
}

/* "table_p20261127" (or with _HHMMSS for sub-day partitions). */
static void partition_name(const struct pg_sink_ctx *c, int64_t bucket, char *out, size_t len)
{
	char t[48];
	pg_format_time(bucket * c->interval_us, t, sizeof(t));
	/* t is "YYYY-MM-DD HH:MM:SS+00" */
	if (c->interval_us % US_PER_DAY == 0)
		snprintf(out, len, "%s_p%.4s%.2s%.2s", c->table, t, t + 5, t + 8);
	else
		snprintf(out, len, "%s_p%.4s%.2s%.2s_%.2s%.2s%.2s", c->table, t, t + 5, t + 8, t + 11, t + 14, t + 17);
}

static int bucket_known(const struct pg_sink_ctx *c, int64_t b)
{
	for (size_t i = 0; i < c->buckets.n; i++)
		if (c->buckets.v[i] == b)
			return 1;
	return 0;
}

static void bucket_add(struct pg_sink_ctx *c, int64_t b)
{
	if (c->buckets.n == c->buckets.cap) {
		size_t cap = c->buckets.cap ? c->buckets.cap * 2 : 16;
		int64_t *v = realloc(c->buckets.v, cap * sizeof(*v));
		if (!v)
			return; /* only a cache: we will just ask again */
		c->buckets.v = v;
		c->buckets.cap = cap;
	}
	c->buckets.v[c->buckets.n++] = b;
}

int pg_ensure_partitions(struct pg_sink_ctx *c, const int64_t *buckets, size_t n, char *st, char *err,
                         size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		int64_t b = buckets[i];
		if (bucket_known(c, b))
			continue;
		char name[128], lo[48], hi[48];
		partition_name(c, b, name, sizeof(name));
		pg_format_time(b * c->interval_us, lo, sizeof(lo));
		pg_format_time((b + 1) * c->interval_us, hi, sizeof(hi));
		struct pg_buf sql = {0};
		pg_buf_str(&sql, "CREATE TABLE IF NOT EXISTS ");
		if (c->schema) {
			pg_buf_ident(&sql, c->schema);
			pg_buf_str(&sql, ".");
		}
		pg_buf_ident(&sql, name);
		/* The bounds are digits we formatted, never user text. */
		pg_buf_printf(&sql, " PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')", c->qual, lo, hi);
		int rc = sql.oom ? -1 : pg_exec(c, sql.p, st, err, errlen);
		pg_buf_free(&sql);
		/* 42P17: another partition already covers the range (made by
		 * hand or by another sink): the rows have a home either way. */
		if (rc < 0 && strcmp(st, "42P17") != 0)
			return -1;
		if (rc == 0)
			PG_API->log(c->inst, WM_LOG_DEBUG, "partition %s ready for [%s, %s)", name, lo, hi);
		bucket_add(c, b);
	}
	return 0;
}

/* Native path: drops partitions wholly older than the retention. */
static int drop_old_partitions(struct pg_sink_ctx *c, int64_t now, char *st, char *err, size_t errlen)
{
	char cutoff[48];
	pg_format_time(now - c->retention_us, cutoff, sizeof(cutoff));
	const char *p[] = {c->qual_text, cutoff};
	PGresult *res;
	if (pg_exec_params(c,
	                   "SELECT format('%I.%I', n.nspname, k.relname) FROM pg_inherits i "
	                   "JOIN pg_class k ON k.oid = i.inhrelid JOIN pg_namespace n ON n.oid = k.relnamespace "
	                   "WHERE i.inhparent = $1::regclass "
	                   "AND (regexp_match(pg_get_expr(k.relpartbound, k.oid), 'TO \\(''([^'']+)''\\)'))[1]"
	                   "::timestamptz <= $2::timestamptz",
	                   2, p, &res, st, err, errlen) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		char sql[512];
		/* The name comes quoted by format('%I') above. */
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", PQgetvalue(res, i, 0));
		rc = pg_exec(c, sql, st, err, errlen);
		if (rc == 0)
			PG_API->log(c->inst, WM_LOG_INFO, "retention: dropped partition %s (older than %s)",
			            PQgetvalue(res, i, 0), cutoff);
	}
	if (PQntuples(res) > 0)
		c->buckets.n = 0;
	PQclear(res);
	return rc;
}

int pg_maintain(struct pg_sink_ctx *c, int force, char *st, char *err, size_t errlen)
{
	int64_t now = PG_API->now_us();
	if (!force && now < c->next_maintenance_us)
		return 0;
	c->next_maintenance_us = now + c->maintenance_us;
	if (c->storage == PG_STORE_PARTITIONED) {
		int64_t first = pg_bucket_of(c, now);
		for (int64_t b = first; b <= first + c->ahead; b++)
			if (pg_ensure_partitions(c, &b, 1, st, err, errlen) < 0)
				return -1;
		if (c->retention_us && drop_old_partitions(c, now, st, err, errlen) < 0)
			return -1;
	} else if (c->storage == PG_STORE_HYPERTABLE && c->tsdb_apache && c->retention_us) {
		/* No retention policy jobs without TimescaleDB's TSL part: drop
		 * the old chunks ourselves. */
		char iv[64];
		interval_text(c->retention_us, iv, sizeof(iv));
		const char *p[] = {c->qual_text, iv};
		PGresult *res;
		if (pg_exec_params(c, "SELECT drop_chunks($1::regclass, older_than => $2::interval)", 2, p, &res, st,
		                   err, errlen) < 0)
			return -1;
		if (PQntuples(res) > 0)
			PG_API->log(c->inst, WM_LOG_INFO, "retention: dropped %d chunk(s) of %s", PQntuples(res),
			            c->qual);
		PQclear(res);
	}
	return 0;
}

static void column_list(struct pg_buf *b, const struct pg_sink_ctx *c, const size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			pg_buf_str(b, ", ");
		pg_buf_ident(b, c->cols[idx[i]].name);
	}
}

static int create_table(struct pg_sink_ctx *c, int partitioned, char *st, char *err, size_t errlen)
{
	struct pg_buf sql = {0};
	pg_buf_printf(&sql, "CREATE TABLE IF NOT EXISTS %s (", c->qual);
	for (size_t i = 0; i < c->ncols; i++) {
		pg_buf_ident(&sql, c->cols[i].name);
		/* The type passed the whitelist in init and to_regtype above. */
		pg_buf_printf(&sql, " %s%s, ", c->cols[i].type,
		              c->cols[i].not_null || i == c->time_col ? " NOT NULL" : "");
	}
	pg_buf_str(&sql, "UNIQUE (");
	column_list(&sql, c, c->uniq, c->nuniq);
	pg_buf_str(&sql, "))");
	if (partitioned) {
		pg_buf_str(&sql, " PARTITION BY RANGE (");
		pg_buf_ident(&sql, c->cols[c->time_col].name);
		pg_buf_str(&sql, ")");
	}
	int rc = sql.oom ? -1 : pg_exec(c, sql.p, st, err, errlen);
	pg_buf_free(&sql);
	if (rc < 0 || !partitioned)
		return rc;
	/* Hypertables get a time index from create_hypertable; give the
	 * partitioned table the same so both paths answer time ranges alike. */
	char idx[128];
	snprintf(idx, sizeof(idx), "%s_time_idx", c->table);
	struct pg_buf q = {0};
	pg_buf_str(&q, "CREATE INDEX IF NOT EXISTS ");
	pg_buf_ident(&q, idx);
	pg_buf_printf(&q, " ON %s (", c->qual);
	pg_buf_ident(&q, c->cols[c->time_col].name);
	pg_buf_str(&q, " DESC)");
	rc = q.oom ? -1 : pg_exec(c, q.p, st, err, errlen);
	pg_buf_free(&q);
	return rc;
}

static int make_hypertable(struct pg_sink_ctx *c, char *st, char *err, size_t errlen)
{
	long long ver = 0;
	/* extversion "2.31.0" -> 23100 */
	if (query_int(c,
	              "SELECT split_part(extversion, '.', 1)::int * 10000 + split_part(extversion, '.', 2)::int * 100 "
	              "FROM pg_extension WHERE extname = 'timescaledb'",
	              0, NULL, 0, &ver, st, err, errlen) < 0)
		return -1;
	char iv[64];
	interval_text(c->interval_us, iv, sizeof(iv));
	const char *p[] = {c->qual_text, c->cols[c->time_col].name, iv};
	const char *sql = ver >= TS_BY_RANGE_MIN_VERSION
	                          ? "SELECT create_hypertable($1::regclass, by_range($2::name, $3::interval), "
	                            "if_not_exists => true, migrate_data => true)"
	                          : "SELECT create_hypertable($1::regclass, $2::name, chunk_time_interval => "
	                            "$3::interval, if_not_exists => true, migrate_data => true)";
	if (pg_exec_params(c, sql, 3, p, NULL, st, err, errlen) < 0)
		return -1;
	PG_API->log(c->inst, WM_LOG_DEBUG, "create_hypertable (%s form, TimescaleDB %lld)",
	            ver >= TS_BY_RANGE_MIN_VERSION ? "by_range" : "legacy", ver);
	return 0;
}

/* Compression and retention policies need TimescaleDB's TSL part. */
static int hypertable_policies(struct pg_sink_ctx *c, char *st, char *err, size_t errlen)
{
	char iv[64];
	if (c->compress_us) {
		long long on = 0;
		const char *p[] = {c->qual_text};
		if (query_int(c,
		              "SELECT 1 FROM timescaledb_information.hypertables WHERE compression_enabled "
		              "AND format('%I.%I', hypertable_schema, hypertable_name)::regclass = $1::regclass",
		              1, p, 0, &on, st, err, errlen) < 0)
			return -1;
		if (!on) {
			struct pg_buf order = {0}, seg = {0}, sql = {0};
			pg_buf_ident(&order, c->cols[c->time_col].name);
			pg_buf_str(&order, " DESC");
			for (size_t i = 0; i < c->nsegmentby; i++) {
				if (i)
					pg_buf_str(&seg, ", ");
				pg_buf_ident(&seg, c->segmentby[i]);
			}
			char *lo = PQescapeLiteral(c->conn, order.p, order.len);
			char *ls = c->nsegmentby ? PQescapeLiteral(c->conn, seg.p, seg.len) : NULL;
			pg_buf_printf(&sql, "ALTER TABLE %s SET (timescaledb.compress, timescaledb.compress_orderby = %s",
			              c->qual, lo ? lo : "''");
			if (ls)
				pg_buf_printf(&sql, ", timescaledb.compress_segmentby = %s", ls);
			pg_buf_str(&sql, ")");
			int rc = (!lo || (c->nsegmentby && !ls) || sql.oom) ? -1 : pg_exec(c, sql.p, st, err, errlen);
			if (rc < 0 && !err[0])
				snprintf(err, errlen, "out of memory");
			PQfreemem(lo);
			PQfreemem(ls);
			pg_buf_free(&order);
			pg_buf_free(&seg);
			pg_buf_free(&sql);
			if (rc < 0)
				return -1;
		}
		interval_text(c->compress_us, iv, sizeof(iv));
		const char *pp[] = {c->qual_text, iv};
		if (pg_exec_params(c, "SELECT add_compression_policy($1::regclass, $2::interval, if_not_exists => true)",
		                   2, pp, NULL, st, err, errlen) < 0)
			return -1;
	}
	if (c->retention_us) {
		interval_text(c->retention_us, iv, sizeof(iv));
		const char *pp[] = {c->qual_text, iv};
		if (pg_exec_params(c, "SELECT add_retention_policy($1::regclass, $2::interval, if_not_exists => true)",
		                   2, pp, NULL, st, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* The SELECT of one rollup; bucket_fn is time_bucket or date_bin. */
static void rollup_select(struct pg_buf *b, const struct pg_sink_ctx *c, const struct rollup *r, int tsdb)
{
	const char *t = c->cols[c->time_col].name;
	pg_buf_printf(b, "SELECT %s(interval '%s', ", tsdb ? "time_bucket" : "date_bin", r->width);
	pg_buf_ident(b, t);
	/* date_bin needs an origin; a UTC midnight keeps days UTC-aligned. */
	pg_buf_str(b, tsdb ? ") AS bucket, " : ", '2000-01-01 00:00:00+00') AS bucket, ");
	pg_buf_str(b, "\"target\", count(*) AS checks, "
	              "avg(CASE WHEN \"success\" THEN 1.0 ELSE 0.0 END)::double precision AS success_ratio, "
	              "percentile_cont(0.5) WITHIN GROUP (ORDER BY \"response_time_ms\") AS p50_ms, "
	              "percentile_cont(0.95) WITHIN GROUP (ORDER BY \"response_time_ms\") AS p95_ms, "
	              "percentile_cont(0.99) WITHIN GROUP (ORDER BY \"response_time_ms\") AS p99_ms ");
	pg_buf_printf(b, "FROM %s GROUP BY 1, 2", c->qual);
}

static void view_name(struct pg_buf *b, const struct pg_sink_ctx *c, const struct rollup *r)
{
	char name[128];
	snprintf(name, sizeof(name), "%s%s", c->table, r->suffix);
	if (c->schema) {
		pg_buf_ident(b, c->schema);
		pg_buf_str(b, ".");
	}
	pg_buf_ident(b, name);
}

static int create_plain_views(struct pg_sink_ctx *c, int tsdb, char *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(ROLLUPS) / sizeof(ROLLUPS[0]); i++) {
		struct pg_buf sql = {0};
		pg_buf_str(&sql, "CREATE OR REPLACE VIEW ");
		view_name(&sql, c, &ROLLUPS[i]);
		pg_buf_str(&sql, " AS ");
		rollup_select(&sql, c, &ROLLUPS[i], tsdb);
		int rc = sql.oom ? -1 : pg_exec(c, sql.p, st, err, errlen);
		pg_buf_free(&sql);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Continuous aggregates (TSL); 1 when the server refuses them (e.g. a
 * version without ordered-set aggregates in continuous aggregates). */
static int create_caggs(struct pg_sink_ctx *c, char *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(ROLLUPS) / sizeof(ROLLUPS[0]); i++) {
		const struct rollup *r = &ROLLUPS[i];
		struct pg_buf sql = {0}, name = {0};
		view_name(&name, c, r);
		pg_buf_printf(&sql,
		              "CREATE MATERIALIZED VIEW IF NOT EXISTS %s WITH (timescaledb.continuous, "
		              "timescaledb.materialized_only = false) AS ",
		              name.p ? name.p : "");
		rollup_select(&sql, c, r, 1);
		pg_buf_str(&sql, " WITH NO DATA");
		int rc = (sql.oom || name.oom) ? -1 : pg_exec(c, sql.p, st, err, errlen);
		if (rc == 0) {
			const char *p[] = {name.p, r->start_offset, r->end_offset, r->schedule};
			rc = pg_exec_params(c,
			                    "SELECT add_continuous_aggregate_policy($1::regclass, start_offset => "
			                    "$2::interval, end_offset => $3::interval, schedule_interval => "
			                    "$4::interval, if_not_exists => true)",
			                    4, p, NULL, st, err, errlen);
		}
		pg_buf_free(&sql);
		pg_buf_free(&name);
		if (rc < 0)
			return st[0] ? 1 : -1; /* refused (not a lost connection): plain views */
	}
	return 0;
}

static int check_types(struct pg_sink_ctx *c, char *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->ncols; i++) {
		const char *p[] = {c->cols[i].type};
		PGresult *res;
		if (pg_exec_params(c, "SELECT to_regtype($1)", 1, p, &res, st, err, errlen) < 0) {
			if (st[0]) /* the server refused the text (a lost connection keeps its message) */
				snprintf(err, errlen, "column %s: type '%s' is not valid here", c->cols[i].name,
				         c->cols[i].type);
			return -1;
		}
		int missing = PQgetisnull(res, 0, 0);
		PQclear(res);
		if (missing) {
			snprintf(err, errlen, "column %s: unknown PostgreSQL type '%s'", c->cols[i].name, c->cols[i].type);
			strcpy(st, ST_UNDEFINED_OBJECT);
			return -1;
		}
	}
	return 0;
}

/* A failed CREATE EXTENSION that is worth retrying rather than taking
 * native partitions for good: a lost connection, a deadlock, a busy or
 * read-only server, another sink enabling it at the same moment (23505).
 * Anything else (no privilege, a library that is not preloaded, whatever
 * its SQLSTATE) means native partitions, as before. */
static int extension_retry(const char *st)
{
	/* what is retried anywhere, plus two sessions creating it at once */
	return pg_classify(st) == PG_ERR_TRANSIENT || !strcmp(st, "23505");
}

/* Decides the path: 1 hypertable, 0 native partitions. */
static int want_hypertable(struct pg_sink_ctx *c, char *st, char *err, size_t errlen)
{
	if (strcmp(c->storage_opt, "partitioned") == 0)
		return 0;
	long long avail = 0;
	if (query_int(c, "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'", 0, NULL, 0, &avail, st,
	              err, errlen) < 0)
		return -1;
	if (!avail) {
		if (strcmp(c->storage_opt, "hypertable") == 0) {
			snprintf(err, errlen, "storage: hypertable, but the server has no timescaledb extension");
			strcpy(st, ST_UNDEFINED_OBJECT);
			return -1;
		}
		return 0;
	}
	if (pg_exec(c, "CREATE EXTENSION IF NOT EXISTS timescaledb", st, err, errlen) < 0) {
		if (strcmp(c->storage_opt, "hypertable") == 0 || extension_retry(st))
			return -1;
		PG_API->log(c->inst, WM_LOG_WARN, "timescaledb is available but cannot be enabled (%s); "
		            "using native partitioning", err);
		return 0;
	}
	return 1;
}

int pg_setup_schema(struct pg_sink_ctx *c, char *st, char *err, size_t errlen)
{
	if (check_types(c, st, err, errlen) < 0)
		return -1;
	if (c->schema) {
		struct pg_buf sql = {0};
		pg_buf_str(&sql, "CREATE SCHEMA IF NOT EXISTS ");
		pg_buf_ident(&sql, c->schema);
		int rc = sql.oom ? -1 : pg_exec(c, sql.p, st, err, errlen);
		pg_buf_free(&sql);
		if (rc < 0)
			return -1;
	}
	int rc = pg_detect_storage(c, st, err, errlen);
	if (rc < 0)
		return -1;
	int existed = rc == 0;
	enum pg_storage before = c->storage;
	int hyper = existed && before == PG_STORE_PARTITIONED ? 0 : want_hypertable(c, st, err, errlen);
	if (hyper < 0)
		return -1;
	if (create_table(c, !hyper, st, err, errlen) < 0)
		return -1;
	if (hyper && make_hypertable(c, st, err, errlen) < 0)
		return -1;
	rc = pg_detect_storage(c, st, err, errlen);
	if (rc == 1)
		strcpy(st, "42P01"); /* dropped right after we made it: try again */
	if (rc != 0)
		return -1;

	char parts[256] = "";
	if (c->storage == PG_STORE_HYPERTABLE) {
		if (c->tsdb_apache) {
			if (c->compress_us)
				PG_API->log(c->inst, WM_LOG_WARN,
				            "compression_after ignored: this TimescaleDB is the Apache-2 edition, "
				            "which has no compression");
		} else if (hypertable_policies(c, st, err, errlen) < 0) {
			return -1;
		}
		snprintf(parts, sizeof(parts), "TimescaleDB hypertable (%s edition, chunks of %llds%s%s)",
		         c->tsdb_apache ? "Apache-2" : "TSL", (long long)(c->interval_us / US_PER_SEC),
		         c->retention_us ? (c->tsdb_apache ? ", retention by drop_chunks from the sink"
		                                             : ", retention policy")
		                         : "",
		         c->compress_us && !c->tsdb_apache ? ", compression policy" : "");
	} else if (c->storage == PG_STORE_PARTITIONED) {
		snprintf(parts, sizeof(parts), "native range partitions of %llds, %lld ahead%s",
		         (long long)(c->interval_us / US_PER_SEC), (long long)c->ahead,
		         c->retention_us ? ", retention drops old partitions" : "");
		if (c->compress_us)
			PG_API->log(c->inst, WM_LOG_WARN, "compression_after ignored: needs a TimescaleDB hypertable");
	} else {
		snprintf(parts, sizeof(parts), "an existing plain table (no partitions managed)");
	}
	if (pg_maintain(c, 1, st, err, errlen) < 0)
		return -1;

	const char *views = "";
	if (c->create_views) {
		int done = 0;
		if (c->storage == PG_STORE_HYPERTABLE && !c->tsdb_apache) {
			int r = create_caggs(c, st, err, errlen);
			if (r < 0)
				return -1;
			if (r == 0) {
				done = 1;
				views = ", continuous aggregates _hourly/_daily";
			} else {
				PG_API->log(c->inst, WM_LOG_WARN, "continuous aggregates refused (%s); using plain views",
				            err);
			}
		}
		if (!done) {
			if (create_plain_views(c, c->storage == PG_STORE_HYPERTABLE, st, err, errlen) < 0)
				return -1;
			views = ", plain views _hourly/_daily";
		}
	}
	PG_API->log(c->inst, WM_LOG_INFO, "setup: %s %s as %s%s", c->qual, existed ? "exists" : "created", parts,
	            views);
	return 0;
}
