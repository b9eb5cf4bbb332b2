/* pg_sink: the option table and reading the pipeline's configuration into
 * an instance (columns, unique key, storage settings, precomputed SQL). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pg_sink.h"

#define API PG_API

#define MAX_TABLE_NAME 40 /* leaves room for "_p20261127_000000" within 63 bytes */
#define MAX_IDENT 63      /* PostgreSQL's NAMEDATALEN - 1 */
#define US_PER_MS 1000

/* Columns the rollup views read (the check schema). */
static const char *const VIEW_COLUMNS[] = {"target", "success", "response_time_ms"};

/* Declared types must look like a type name: letters, digits, one optional
 * (precision, scale), an optional trailing word group and [] suffixes. Quotes,
 * semicolons and dashes cannot pass, so the text is safe in DDL. */
static const char TYPE_PATTERN[] =
	"^[A-Za-z_][A-Za-z0-9_ .]*(\\([0-9 ,]+\\))?( *[A-Za-z_][A-Za-z0-9_ ]*)?(\\[\\])*$";

static const struct wm_option COLUMN_OPTIONS[] = {
	{"name", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "column name (a record field of the same name fills it)", 0,
	 NULL, NULL},
	{"type", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0,
	 "PostgreSQL type: text, bigint, integer, double precision, boolean, timestamptz, jsonb, inet, bytea, ...", 0,
	 NULL, NULL},
	{"not_null", WM_OPT_BOOL, "false", 0, 0, "declare the column NOT NULL (rows without it are dead-lettered)", 0,
	 NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

const struct wm_option PG_OPTIONS[] = {
	{"conninfo", WM_OPT_STRING, NULL, WM_OPT_REQUIRED | WM_OPT_SECRET, 0,
	 "libpq connection string or URI (sslmode, sslrootcert, ...); passwords via PGPASSWORD or PGPASSFILE", 0, NULL,
	 NULL},
	{"table", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "table name (created by `wmhost setup`)", 0, NULL, NULL},
	{"schema", WM_OPT_STRING, NULL, 0, 0, "schema of the table (default: the first of the search_path)", 0, NULL,
	 NULL},
	{"columns", WM_OPT_LIST, NULL, WM_OPT_REQUIRED, 0, "the table's columns: list of {name, type, not_null}",
	 WM_OPT_MAP, COLUMN_OPTIONS, NULL},
	{"time_column", WM_OPT_STRING, "time", 0, 0, "the timestamptz column rows are partitioned by", 0, NULL, NULL},
	{"unique", WM_OPT_LIST, NULL, WM_OPT_REQUIRED, 0,
	 "columns of the unique key that makes replays idempotent; must include time_column", WM_OPT_STRING, NULL,
	 NULL},
	{"extra_column", WM_OPT_STRING, NULL, 0, 0,
	 "a jsonb column that keeps record fields without a column (default: such fields are ignored)", 0, NULL,
	 NULL},
	{"storage", WM_OPT_STRING, "auto", 0, 0,
	 "auto (hypertable when timescaledb is available, else native partitions), hypertable, partitioned", 0, NULL,
	 NULL},
	{"partition_interval", WM_OPT_DURATION, "1d", 0, 0, "partition (or chunk) width", 0, NULL, NULL},
	{"partitions_ahead", WM_OPT_INT, "2", 0, 0, "native path: partitions created ahead of the current one", 0,
	 NULL, NULL},
	{"retention", WM_OPT_DURATION, NULL, 0, 0, "drop data older than this (default: keep forever)", 0, NULL,
	 NULL},
	{"compression_after", WM_OPT_DURATION, NULL, 0, 0, "hypertables: compress chunks older than this", 0, NULL,
	 NULL},
	{"compress_segmentby", WM_OPT_LIST, NULL, 0, 0, "hypertables: columns to segment compressed data by",
	 WM_OPT_STRING, NULL, NULL},
	{"create_views", WM_OPT_BOOL, "false", 0, 0,
	 "create <table>_hourly and <table>_daily rollups (needs target, success, response_time_ms)", 0, NULL, NULL},
	{"direct_copy", WM_OPT_BOOL, "true", 0, 0,
	 "COPY straight into the table first; fall back to staging + ON CONFLICT DO NOTHING on a conflict or bad row",
	 0, NULL, NULL},
	{"copy_format", WM_OPT_STRING, "auto", 0, 0,
	 "auto (binary when every column type allows it, else text), binary or text; a batch with a value in "
	 "another shape (e.g. a string for an integer column) goes as text",
	 0, NULL, NULL},
	{"auto_setup", WM_OPT_BOOL, "true", 0, 0, "create the table on the first write when it is missing", 0, NULL,
	 NULL},
	{"connect_timeout", WM_OPT_DURATION, "10s", 0, 0, "connection timeout (unless the conninfo sets one)", 0, NULL,
	 NULL},
	{"maintenance_interval", WM_OPT_DURATION, "1m", 0, 0,
	 "how often writes check partitions ahead and retention", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

void pg_ctx_free(struct pg_sink_ctx *c)
{
	if (!c)
		return;
	pg_disconnect(c);
	free(c->conninfo);
	free(c->schema);
	free(c->table);
	free(c->qual);
	free(c->qual_text);
	for (size_t i = 0; i < c->ncols; i++) {
		free(c->cols[i].name);
		free(c->cols[i].type);
	}
	free(c->cols);
	free(c->uniq);
	free(c->storage_opt);
	for (size_t i = 0; i < c->nsegmentby; i++)
		free(c->segmentby[i]);
	free(c->segmentby);
	free(c->buckets.v);
	pg_buf_free(&c->copy);
	free(c->vals);
	free(c->pos_cache);
	free(c->sql_insert);
	free(c->sql_copy_target);
	free(c->sql_copy_target_bin);
	free(c->copy_format);
	free(c->col_oid);
	free(c->sql_copy_stage);
	free(c);
}

static int find_column(const struct pg_sink_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->ncols; i++)
		if (strcmp(c->cols[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int check_ident(const struct wm_config *cfg, const char *key, const char *name, size_t max, char *err,
                       size_t errlen)
{
	if (!name[0])
		return API->cfg_errorf(cfg, key, err, errlen, "must not be empty");
	if (strlen(name) > max)
		return API->cfg_errorf(cfg, key, err, errlen, "'%s' is longer than %zu bytes", name, max);
	return 0;
}

static int read_columns(struct pg_sink_ctx *c, const struct wm_config *cfg, char *err, size_t errlen)
{
	const struct wm_config *list = API->cfg_get(cfg, "columns");
	size_t n = API->cfg_len(list);
	if (n == 0)
		return API->cfg_errorf(cfg, "columns", err, errlen, "declare at least one column");
	int has_extra = API->cfg_has(cfg, "extra_column");
	c->cols = calloc(n + (has_extra ? 1 : 0), sizeof(*c->cols));
	if (!c->cols)
		return API->cfg_errorf(cfg, "columns", err, errlen, "out of memory");
	regex_t re;
	if (regcomp(&re, TYPE_PATTERN, REG_EXTENDED | REG_NOSUB) != 0)
		return API->cfg_errorf(cfg, "columns", err, errlen, "internal error: type pattern");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct wm_config *item = API->cfg_at(list, i);
		const char *name = API->cfg_str(item, "name");
		const char *type = API->cfg_str(item, "type");
		if ((rc = check_ident(item, "name", name, MAX_IDENT, err, errlen)) < 0)
			break;
		if (find_column(c, name) >= 0) {
			rc = API->cfg_errorf(item, "name", err, errlen, "column '%s' is declared twice", name);
			break;
		}
		if (regexec(&re, type, 0, NULL, 0) != 0) {
			rc = API->cfg_errorf(item, "type", err, errlen,
			                     "'%s' does not look like a PostgreSQL type name (e.g. text, bigint, "
			                     "numeric(10,2), timestamp with time zone, text[])",
			                     type);
			break;
		}
		c->cols[c->ncols].name = strdup(name);
		c->cols[c->ncols].type = strdup(type);
		c->cols[c->ncols].not_null = API->cfg_bool(item, "not_null");
		c->ncols++;
		if (!c->cols[c->ncols - 1].name || !c->cols[c->ncols - 1].type)
			rc = API->cfg_errorf(item, NULL, err, errlen, "out of memory");
	}
	regfree(&re);
	if (rc < 0)
		return rc;
	if (has_extra) {
		const char *x = API->cfg_str(cfg, "extra_column");
		if ((rc = check_ident(cfg, "extra_column", x, MAX_IDENT, err, errlen)) < 0)
			return rc;
		if (find_column(c, x) >= 0)
			return API->cfg_errorf(cfg, "extra_column", err, errlen, "'%s' is already a declared column", x);
		c->cols[c->ncols].name = strdup(x);
		c->cols[c->ncols].type = strdup("jsonb");
		c->cols[c->ncols].is_extra = 1;
		c->extra_col = (int)c->ncols++;
		if (!c->cols[c->extra_col].name || !c->cols[c->extra_col].type)
			return API->cfg_errorf(cfg, "extra_column", err, errlen, "out of memory");
	}
	return 0;
}

static int read_key(struct pg_sink_ctx *c, const struct wm_config *cfg, char *err, size_t errlen)
{
	const char *tc = API->cfg_str(cfg, "time_column");
	int t = find_column(c, tc);
	if (t < 0 || c->cols[t].is_extra)
		return API->cfg_errorf(cfg, "time_column", err, errlen, "'%s' is not one of the declared columns", tc);
	if (strncasecmp(c->cols[t].type, "timestamp", strlen("timestamp")) != 0)
		return API->cfg_errorf(cfg, "time_column", err, errlen,
		                       "column '%s' must be a timestamptz (or timestamp), not %s", tc, c->cols[t].type);
	c->time_col = (size_t)t;
	const struct wm_config *list = API->cfg_get(cfg, "unique");
	size_t n = API->cfg_len(list);
	c->uniq = calloc(n ? n : 1, sizeof(*c->uniq));
	if (!c->uniq)
		return API->cfg_errorf(cfg, "unique", err, errlen, "out of memory");
	int has_time = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = API->cfg_scalar(API->cfg_at(list, i));
		int k = name ? find_column(c, name) : -1;
		if (k < 0 || c->cols[k].is_extra)
			return API->cfg_errorf(API->cfg_at(list, i), NULL, err, errlen,
			                       "'%s' is not one of the declared columns", name ? name : "");
		for (size_t j = 0; j < c->nuniq; j++)
			if (c->uniq[j] == (size_t)k)
				return API->cfg_errorf(API->cfg_at(list, i), NULL, err, errlen, "'%s' is listed twice",
				                       name);
		has_time |= k == t;
		c->uniq[c->nuniq++] = (size_t)k;
	}
	if (!has_time)
		return API->cfg_errorf(cfg, "unique", err, errlen,
		                       "must include the time column '%s' (partitions and hypertables need it)", tc);
	return 0;
}

/* Precomputes the SQL of the write path. */
static int build_statements(struct pg_sink_ctx *c)
{
	struct pg_buf cols = {0}, uniq = {0}, sql = {0};
	for (size_t i = 0; i < c->ncols; i++) {
		if (i)
			pg_buf_str(&cols, ", ");
		pg_buf_ident(&cols, c->cols[i].name);
	}
	for (size_t i = 0; i < c->nuniq; i++) {
		if (i)
			pg_buf_str(&uniq, ", ");
		pg_buf_ident(&uniq, c->cols[c->uniq[i]].name);
	}
	pg_buf_printf(&sql, "COPY %s (%s) FROM STDIN", c->qual, cols.p);
	c->sql_copy_target = sql.oom ? NULL : sql.p;
	memset(&sql, 0, sizeof(sql));
	pg_buf_printf(&sql, "COPY %s (%s) FROM STDIN (FORMAT binary)", c->qual, cols.p);
	c->sql_copy_target_bin = sql.oom ? NULL : sql.p;
	memset(&sql, 0, sizeof(sql));
	pg_buf_printf(&sql, "COPY pg_temp.wm_stage (%s) FROM STDIN", cols.p);
	c->sql_copy_stage = sql.oom ? NULL : sql.p;
	memset(&sql, 0, sizeof(sql));
	/* Moving the rows out of the stage in the same statement keeps the stage
	 * empty for the next chunk without a TRUNCATE per chunk. */
	pg_buf_printf(&sql,
	              "WITH moved AS (DELETE FROM pg_temp.wm_stage RETURNING %s) INSERT INTO %s (%s) SELECT %s FROM "
	              "moved ON CONFLICT (%s) DO NOTHING",
	              cols.p, c->qual, cols.p, cols.p, uniq.p);
	c->sql_insert = sql.oom ? NULL : sql.p;
	int oom = cols.oom || uniq.oom || !c->sql_copy_target || !c->sql_copy_target_bin || !c->sql_copy_stage || !c->sql_insert;
	pg_buf_free(&cols);
	pg_buf_free(&uniq);
	return oom ? -1 : 0;
}

int pg_sink_init(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **out, char *err,
                 size_t errlen)
{
	struct pg_sink_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return API->cfg_errorf(cfg, NULL, err, errlen, "out of memory");
	c->inst = inst;
	c->extra_col = -1;
	int rc = -1;
	c->conninfo = dup_str(API->cfg_str(cfg, "conninfo"));
	c->table = dup_str(API->cfg_str(cfg, "table"));
	c->storage_opt = dup_str(API->cfg_str(cfg, "storage"));
	if (!c->conninfo || !c->table || !c->storage_opt) {
		rc = API->cfg_errorf(cfg, NULL, err, errlen, "out of memory");
		goto fail;
	}
	char msg[768];
	PQconninfoOption *opts;
	if ((rc = pg_conninfo_parse(c->conninfo, &opts, msg, sizeof(msg))) < 0) {
		rc = API->cfg_errorf(cfg, "conninfo", err, errlen, "%s", msg);
		goto fail;
	}
	PQconninfoFree(opts);
	if ((rc = check_ident(cfg, "table", c->table, MAX_TABLE_NAME, err, errlen)) < 0)
		goto fail;
	if (API->cfg_has(cfg, "schema")) {
		c->schema = dup_str(API->cfg_str(cfg, "schema"));
		if ((rc = check_ident(cfg, "schema", c->schema, MAX_IDENT, err, errlen)) < 0)
			goto fail;
	}
	if (strcmp(c->storage_opt, "auto") && strcmp(c->storage_opt, "hypertable") &&
	    strcmp(c->storage_opt, "partitioned")) {
		rc = API->cfg_errorf(cfg, "storage", err, errlen, "'%s': expected auto, hypertable or partitioned",
		                     c->storage_opt);
		goto fail;
	}
	if ((rc = read_columns(c, cfg, err, errlen)) < 0 || (rc = read_key(c, cfg, err, errlen)) < 0)
		goto fail;
	c->interval_us = API->cfg_duration_ms(cfg, "partition_interval") * US_PER_MS;
	if (c->interval_us <= 0 || c->interval_us % (1000 * US_PER_MS) != 0) {
		rc = API->cfg_errorf(cfg, "partition_interval", err, errlen, "must be a positive whole number of seconds");
		goto fail;
	}
	c->ahead = API->cfg_int(cfg, "partitions_ahead");
	if (c->ahead < 0 || c->ahead > 1000) {
		rc = API->cfg_errorf(cfg, "partitions_ahead", err, errlen, "must be between 0 and 1000");
		goto fail;
	}
	c->retention_us = API->cfg_has(cfg, "retention") ? API->cfg_duration_ms(cfg, "retention") * US_PER_MS : 0;
	c->compress_us =
		API->cfg_has(cfg, "compression_after") ? API->cfg_duration_ms(cfg, "compression_after") * US_PER_MS : 0;
	if (API->cfg_has(cfg, "retention") && c->retention_us <= 0) {
		rc = API->cfg_errorf(cfg, "retention", err, errlen, "must be positive");
		goto fail;
	}
	if (API->cfg_has(cfg, "compress_segmentby")) {
		const struct wm_config *l = API->cfg_get(cfg, "compress_segmentby");
		size_t n = API->cfg_len(l);
		c->segmentby = calloc(n ? n : 1, sizeof(char *));
		for (size_t i = 0; c->segmentby && i < n; i++) {
			const char *s = API->cfg_scalar(API->cfg_at(l, i));
			if (!s || find_column(c, s) < 0) {
				rc = API->cfg_errorf(API->cfg_at(l, i), NULL, err, errlen,
				                     "'%s' is not one of the declared columns", s ? s : "");
				goto fail;
			}
			c->segmentby[c->nsegmentby++] = strdup(s);
		}
	}
	c->create_views = API->cfg_bool(cfg, "create_views");
	for (size_t i = 0; c->create_views && i < sizeof(VIEW_COLUMNS) / sizeof(VIEW_COLUMNS[0]); i++) {
		if (find_column(c, VIEW_COLUMNS[i]) < 0) {
			rc = API->cfg_errorf(cfg, "create_views", err, errlen,
			                     "the rollup views need the check-schema columns target, success and "
			                     "response_time_ms; '%s' is not declared",
			                     VIEW_COLUMNS[i]);
			goto fail;
		}
	}
	c->direct_copy = API->cfg_bool(cfg, "direct_copy");
	c->copy_format = dup_str(API->cfg_str(cfg, "copy_format"));
	if (!c->copy_format || (strcmp(c->copy_format, "auto") && strcmp(c->copy_format, "text") &&
	                        strcmp(c->copy_format, "binary"))) {
		rc = API->cfg_errorf(cfg, "copy_format", err, errlen, "expected auto, binary or text");
		goto fail;
	}
	c->col_oid = calloc(c->ncols, sizeof(*c->col_oid));
	c->auto_setup = API->cfg_bool(cfg, "auto_setup");
	c->connect_timeout_s = (API->cfg_duration_ms(cfg, "connect_timeout") + 999) / 1000;
	if (c->connect_timeout_s < 2)
		c->connect_timeout_s = 2; /* libpq treats 1 as 2 anyway */
	c->maintenance_us = API->cfg_duration_ms(cfg, "maintenance_interval") * US_PER_MS;

	struct pg_buf q = {0};
	if (c->schema) {
		pg_buf_ident(&q, c->schema);
		pg_buf_str(&q, ".");
	}
	pg_buf_ident(&q, c->table);
	c->qual = q.oom ? NULL : q.p;
	c->qual_text = dup_str(c->qual);
	c->vals = calloc(c->ncols, sizeof(*c->vals));
	if (!c->qual || !c->qual_text || !c->vals || !c->col_oid || build_statements(c) < 0) {
		rc = API->cfg_errorf(cfg, NULL, err, errlen, "out of memory");
		goto fail;
	}
	(void)role;
	*out = c;
	return 0;
fail:
	pg_ctx_free(c);
	return rc;
}
