/* pg_sink: stores records as rows of a PostgreSQL table, one COPY per batch,
 * without duplicates on replay and with bad rows dead-lettered one by one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_sink.h"

const struct wm_host_api *PG_API;
#define API PG_API
#define COPY_CHUNK (256 * 1024) /* bytes handed to libpq at a time while encoding */

#define ST_CONNINFO "F0000" /* config_file_error: stands for a conninfo libpq cannot use */

static int sink_setup(void *vctx, char *err, size_t errlen)
{
	struct pg_sink_ctx *c = vctx;
	if (pg_connect(c, err, errlen) < 0)
		return -1;
	char st[6];
	if (pg_setup_schema(c, st, err, errlen) < 0) {
		pg_disconnect(c);
		return -1;
	}
	return 0;
}

/* Encoded rows of the current batch: rows[i]..rows[i+1] in c->copy. */
struct batch_rows {
	size_t *off;
	char *failed;
	size_t n;
};

/* Sends rows [lo, hi) that are not failed through an open COPY. */
static int put_rows(struct pg_sink_ctx *c, const struct batch_rows *br, size_t lo, size_t hi)
{
	size_t run = lo;
	for (size_t i = lo; i <= hi; i++) {
		if (i < hi && !br->failed[i])
			continue;
		if (i > run) {
			size_t a = br->off[run], b = br->off[i];
			if (PQputCopyData(c->conn, c->copy.p + a, (int)(b - a)) != 1)
				return -1;
		}
		run = i + 1;
	}
	return 0;
}

/* Finishes a COPY and collects its result. */
static int end_copy(struct pg_sink_ctx *c, int ok, char *st, char *err, size_t errlen)
{
	int rc = 0;
	if (PQputCopyEnd(c->conn, ok ? NULL : "client error") != 1)
		rc = -1;
	PGresult *res;
	while ((res = PQgetResult(c->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
			pg_result_error(c->conn, res, st, err, errlen);
			rc = -1;
		}
		PQclear(res);
	}
	if (rc < 0 && !err[0]) {
		pg_result_error(c->conn, NULL, st, err, errlen);
	} else if (rc == 0) {
		strcpy(st, "0");
	}
	return rc;
}

static int start_copy(struct pg_sink_ctx *c, const char *sql, char *st, char *err, size_t errlen)
{
	PGresult *res = PQexec(c->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		pg_result_error(c->conn, res, st, err, errlen);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Encodes the batch; streams it into a direct COPY when one is open, so the
 * server parses while we encode. Returns 0, WM_E_NOMEM, -1 (the connection
 * failed) or NEEDS_TEXT (binary only: a value lacks its column's shape). */
#define NEEDS_TEXT 1
static int encode_batch(struct pg_sink_ctx *c, struct wm_batch *b, struct batch_rows *br, int streaming, int binary)
{
	size_t sent = 0;
	c->copy.len = 0;
	if (binary)
		pg_binary_header(&c->copy);
	for (size_t i = 0; i < br->n; i++) {
		br->off[i] = c->copy.len;
		const struct wm_record *r = API->batch_at(b, i);
		int rc = binary ? pg_binary_record(c, r, &c->copy) : pg_copy_record(c, r, &c->copy);
		if (rc == WM_E_NOMEM || c->copy.oom)
			return WM_E_NOMEM;
		if (rc < 0)
			return NEEDS_TEXT;
		if (streaming && c->copy.len - sent >= COPY_CHUNK) {
			if (PQputCopyData(c->conn, c->copy.p + sent, (int)(c->copy.len - sent)) != 1)
				return -1;
			sent = c->copy.len;
		}
	}
	br->off[br->n] = c->copy.len;
	if (binary)
		pg_binary_trailer(&c->copy);
	if (c->copy.oom)
		return WM_E_NOMEM;
	if (streaming && c->copy.len > sent && PQputCopyData(c->conn, c->copy.p + sent, (int)(c->copy.len - sent)) != 1)
		return -1;
	return 0;
}

/* One COPY of the whole batch straight into the table (binary or text).
 * Returns 0, -1 (error in st/err), WM_E_NOMEM or NEEDS_TEXT. */
static int copy_direct(struct pg_sink_ctx *c, struct wm_batch *b, struct batch_rows *br, int binary, char *st,
                       char *err, size_t errlen)
{
	int rc = start_copy(c, binary ? c->sql_copy_target_bin : c->sql_copy_target, st, err, errlen);
	if (rc < 0)
		return -1;
	int enc = encode_batch(c, b, br, 1, binary);
	rc = end_copy(c, enc == 0, st, err, errlen);
	if (enc == WM_E_NOMEM || (enc == NEEDS_TEXT && PQstatus(c->conn) == CONNECTION_OK))
		return enc; /* we aborted the COPY ourselves */
	return rc;
}

/* Writes rows [lo, hi) through the stage inside the open transaction;
 * bisects on data errors and fails single bad rows. 0 ok, -1 error in st. */
static int stage_range(struct pg_sink_ctx *c, struct wm_batch *b, struct batch_rows *br, size_t lo, size_t hi,
                       char *st, char *err, size_t errlen)
{
	size_t live = 0;
	for (size_t i = lo; i < hi; i++)
		live += !br->failed[i];
	if (!live)
		return 0;
	if (pg_exec(c, "SAVEPOINT wm_chunk", st, err, errlen) < 0)
		return -1;
	int rc = start_copy(c, c->sql_copy_stage, st, err, errlen);
	if (rc == 0) {
		int sent = put_rows(c, br, lo, hi);
		rc = end_copy(c, sent == 0, st, err, errlen);
	}
	if (rc == 0)
		rc = pg_exec(c, c->sql_insert, st, err, errlen);
	if (rc == 0)
		return pg_exec(c, "RELEASE SAVEPOINT wm_chunk", st, err, errlen);
	if (pg_classify(st) != PG_ERR_DATA)
		return -1;
	char st2[6];
	char err2[256];
	if (pg_exec(c, "ROLLBACK TO SAVEPOINT wm_chunk", st2, err2, sizeof(err2)) < 0 ||
	    pg_exec(c, "RELEASE SAVEPOINT wm_chunk", st2, err2, sizeof(err2)) < 0) {
		snprintf(st, 6, "%s", st2);
		snprintf(err, errlen, "%s", err2);
		return -1;
	}
	if (live == 1) {
		size_t i = lo;
		while (br->failed[i])
			i++;
		char reason[512];
		snprintf(reason, sizeof(reason), "PostgreSQL rejected the row: %s", err);
		API->batch_fail(b, i, reason);
		br->failed[i] = 1;
		API->log(c->inst, WM_LOG_WARN, "row %zu of the batch dead-lettered: %s", i, err);
		return 0;
	}
	size_t mid = lo + (hi - lo) / 2;
	if (stage_range(c, b, br, lo, mid, st, err, errlen) < 0)
		return -1;
	return stage_range(c, b, br, mid, hi, st, err, errlen);
}

static int write_staged(struct pg_sink_ctx *c, struct wm_batch *b, struct batch_rows *br, char *st, char *err,
                        size_t errlen)
{
	if (!c->stage_ready) {
		struct pg_buf sql = {0};
		pg_buf_str(&sql, "CREATE TEMP TABLE IF NOT EXISTS wm_stage AS SELECT ");
		for (size_t i = 0; i < c->ncols; i++) {
			if (i)
				pg_buf_str(&sql, ", ");
			pg_buf_ident(&sql, c->cols[i].name);
		}
		pg_buf_printf(&sql, " FROM %s WITH NO DATA", c->qual);
		int rc = sql.oom ? -1 : pg_exec(c, sql.p, st, err, errlen);
		pg_buf_free(&sql);
		if (rc < 0)
			return -1;
		c->stage_ready = 1;
	}
	if (pg_exec(c, "BEGIN", st, err, errlen) < 0)
		return -1;
	if (stage_range(c, b, br, 0, br->n, st, err, errlen) < 0) {
		char st2[6], err2[64];
		pg_exec(c, "ROLLBACK", st2, err2, sizeof(err2));
		return -1;
	}
	return pg_exec(c, "COMMIT", st, err, errlen);
}

/* Native partitions for the batch's times, before any COPY. */
static int ensure_batch_partitions(struct pg_sink_ctx *c, struct wm_batch *b, size_t n, char *st, char *err,
                                   size_t errlen)
{
	int64_t seen[8];
	size_t nseen = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t us;
		if (pg_record_time(c, API->batch_at(b, i), &us) < 0)
			continue; /* PostgreSQL will judge the value */
		int64_t bk = pg_bucket_of(c, us);
		size_t k;
		for (k = 0; k < nseen && seen[k] != bk; k++)
			;
		if (k < nseen)
			continue;
		if (pg_ensure_partitions(c, &bk, 1, st, err, errlen) < 0)
			return -1;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = bk;
	}
	return 0;
}

/* Connects and learns the table's storage; creates it when allowed. */
static int prepare(struct pg_sink_ctx *c, char *st, char *err, size_t errlen)
{
	if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) {
		int rc = pg_connect(c, err, errlen);
		if (rc < 0) {
			/* No SQLSTATE: a connection that failed is retried, a
			 * conninfo libpq cannot use is not (F0000 is fatal). */
			snprintf(st, 6, "%s", rc == PG_E_CONNINFO ? ST_CONNINFO : "");
			return -1;
		}
	}
	if (c->storage != PG_STORE_UNKNOWN)
		return 0;
	int rc = pg_detect_storage(c, st, err, errlen);
	if (rc == 1 && c->auto_setup) {
		API->log(c->inst, WM_LOG_INFO, "table %s is missing: creating it (auto_setup)", c->qual);
		/* Classified like any write error: a schema problem stops the
		 * pipeline; a lost connection, a deadlock, a lock timeout, a
		 * read-only server or another sink creating the same table at
		 * the same moment (23505, 42P07) are retried. */
		rc = pg_setup_schema(c, st, err, errlen);
		if (rc < 0 && (!c->conn || PQstatus(c->conn) != CONNECTION_OK))
			st[0] = '\0';
		else if (rc < 0 && (!st[0] || !strcmp(st, "0")))
			strcpy(st, "42000"); /* no SQLSTATE for what failed: stop, as before */
	} else if (rc == 1) {
		strcpy(st, "42P01");
		rc = -1;
	}
	if (rc == 0)
		rc = pg_load_column_types(c, st, err, errlen);
	if (rc == 0)
		c->next_maintenance_us = 0;
	return rc;
}

static enum wm_result sink_write(void *vctx, struct wm_batch *b)
{
	struct pg_sink_ctx *c = vctx;
	char st[6] = "", err[1024] = "";
	size_t n = API->batch_len(b);
	struct batch_rows br = {calloc(n + 1, sizeof(size_t)), calloc(n ? n : 1, 1), n};
	enum wm_result result = WM_RETRY;
	if (!br.off || !br.failed) {
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	if (prepare(c, st, err, sizeof(err)) < 0 || pg_maintain(c, 0, st, err, sizeof(err)) < 0)
		goto fail;
	if (c->storage == PG_STORE_PARTITIONED && ensure_batch_partitions(c, b, n, st, err, sizeof(err)) < 0)
		goto fail;

	int text_rows = 0; /* c->copy holds the batch as text rows */
	if (c->direct_copy) {
		/* The fast path: one COPY into the table is one implicit
		 * transaction; its result arrives after the commit. A replayed
		 * (duplicate) or bad row fails it as a whole, and we redo the
		 * batch through the stage below. */
		int rc = c->use_binary ? copy_direct(c, b, &br, 1, st, err, sizeof(err)) : NEEDS_TEXT;
		if (rc == NEEDS_TEXT) {
			if (c->use_binary)
				API->log(c->inst, WM_LOG_DEBUG, "a value does not fit its column's binary form: "
				         "sending this batch as text");
			rc = copy_direct(c, b, &br, 0, st, err, sizeof(err));
			text_rows = 1;
		}
		if (rc == WM_E_NOMEM) {
			snprintf(err, sizeof(err), "out of memory encoding the batch");
			goto out;
		}
		if (rc == 0) {
			result = WM_OK;
			goto out;
		}
		if (pg_classify(st) != PG_ERR_DATA)
			goto fail;
		API->log(c->inst, WM_LOG_DEBUG, "direct COPY refused (%s); writing through the stage", err);
	}
	if (!text_rows && encode_batch(c, b, &br, 0, 0) != 0) {
		snprintf(err, sizeof(err), "out of memory encoding the batch");
		goto out;
	}
	if (write_staged(c, b, &br, st, err, sizeof(err)) == 0) {
		result = WM_OK;
		goto out;
	}
fail:
	switch (pg_classify(st)) {
	case PG_ERR_TRANSIENT:
	case PG_ERR_DATA: /* a data error outside a row (e.g. in DDL): retry later */
		API->log(c->inst, WM_LOG_WARN, "write of %zu rows failed, will retry: %s", n, err);
		pg_disconnect(c);
		result = WM_RETRY;
		break;
	case PG_ERR_FATAL:
		API->log(c->inst, WM_LOG_ERROR, "cannot write to %s: %s", c->qual, err);
		result = WM_FATAL;
		break;
	}
out:
	if (result == WM_RETRY && !st[0] && !strncmp(err, "out of memory", 13))
		API->log(c->inst, WM_LOG_WARN, "%s; will retry", err);
	free(br.off);
	free(br.failed);
	return result;
}

static void sink_destroy(void *vctx)
{
	pg_ctx_free(vctx);
}

static const struct wm_plugin DESCRIPTOR = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_plugin),
	.name = "pg_sink",
	.version = "0.1.0",
	.description = "stores records in a PostgreSQL table (TimescaleDB hypertable or native partitions) with "
	               "batched COPY, idempotent replays and per-row dead-lettering",
	.kinds = WM_KIND_SINK,
	.options = PG_OPTIONS,
	.init = pg_sink_init,
	.setup = sink_setup,
	.write = sink_write,
	.destroy = sink_destroy,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	/* times from strings are read by the host (parse_time): an older
	 * host would leave them unreadable, so this plugin does not load */
	if (host_abi != WM_ABI_VERSION || !WM_API_HAS(api, parse_time))
		return NULL;
	PG_API = api;
	return &DESCRIPTOR;
}
