/* pg_sink: the libpq connection and error plumbing. The conninfo is a
 * secret: only host, port and database name ever reach the log. */
#include <stdio.h>
#include <string.h>

#include "pg_sink.h"

/* libpq keyword values (strings); the user's conninfo can override them. */
#define KEEPALIVE_IDLE_S "30"
#define KEEPALIVE_INTERVAL_S "10"
#define KEEPALIVE_COUNT "3"
#define TCP_USER_TIMEOUT_MS "60000"

/* Strips the trailing newline libpq puts on messages. */
static void copy_message(const char *msg, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", msg ? msg : "unknown error");
	size_t n = strlen(err);
	while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

void pg_result_error(PGconn *conn, const PGresult *res, char *sqlstate, char *err, size_t errlen)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	/* No SQLSTATE means libpq itself failed: the connection is gone. */
	snprintf(sqlstate, 6, "%s", st ? st : "");
	if (msg) {
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		snprintf(err, errlen, "%s%s%s (SQLSTATE %s)", msg, detail ? ": " : "", detail ? detail : "",
		         st ? st : "?");
	} else {
		copy_message(PQerrorMessage(conn), err, errlen);
	}
	if (PQstatus(conn) == CONNECTION_BAD)
		sqlstate[0] = '\0';
}

/* Server notices ("already exists, skipping") go to the debug log, not to
 * libpq's default of stderr. */
static void log_notice(void *arg, const char *msg)
{
	struct pg_sink_ctx *c = arg;
	char line[512];
	copy_message(msg, line, sizeof(line));
	PG_API->log(c->inst, WM_LOG_DEBUG, "server: %s", line);
}

int pg_connect(struct pg_sink_ctx *c, char *err, size_t errlen)
{
	if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
		return 0;
	pg_disconnect(c);
	char timeout[24];
	snprintf(timeout, sizeof(timeout), "%lld", (long long)c->connect_timeout_s);
	/* Later keywords override earlier ones, so the user's conninfo (dbname,
	 * expanded) wins over our defaults. */
	/* Keepalives and a TCP user timeout make a server that vanished
	 * without closing the connection (a dead host, a dropped route) an
	 * error within about a minute instead of a write blocked for hours. */
	const char *const keys[] = {"connect_timeout",    "client_encoding",     "fallback_application_name",
	                            "keepalives_idle",    "keepalives_interval", "keepalives_count",
	                            "tcp_user_timeout",   "dbname",              NULL};
	const char *const vals[] = {timeout, "UTF8", "wmhost pg_sink", KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S,
	                            KEEPALIVE_COUNT, TCP_USER_TIMEOUT_MS, c->conninfo, NULL};
	c->conn = PQconnectdbParams(keys, vals, 1);
	if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) {
		copy_message(c->conn ? PQerrorMessage(c->conn) : "out of memory", err, errlen);
		pg_disconnect(c);
		return -1;
	}
	PQsetNoticeProcessor(c->conn, log_notice, c);
	/* Times without a zone (and bounds we print) are read as UTC. */
	char st[6];
	if (pg_exec(c, "SET TIME ZONE 'UTC'", st, err, errlen) < 0) {
		pg_disconnect(c);
		return -1;
	}
	PG_API->log(c->inst, WM_LOG_INFO, "connected to PostgreSQL %d at %s:%s, database %s", PQserverVersion(c->conn),
	            PQhost(c->conn), PQport(c->conn), PQdb(c->conn));
	return 0;
}

void pg_disconnect(struct pg_sink_ctx *c)
{
	if (c->conn)
		PQfinish(c->conn);
	c->conn = NULL;
	c->stage_ready = 0;
	c->storage = PG_STORE_UNKNOWN;
	c->buckets.n = 0; /* partitions may have been dropped meanwhile */
}

int pg_exec(struct pg_sink_ctx *c, const char *sql, char *sqlstate, char *err, size_t errlen)
{
	return pg_exec_params(c, sql, 0, NULL, NULL, sqlstate, err, errlen);
}

int pg_exec_params(struct pg_sink_ctx *c, const char *sql, int n, const char *const *vals, PGresult **out,
                   char *sqlstate, char *err, size_t errlen)
{
	if (out)
		*out = NULL;
	PGresult *res = PQexecParams(c->conn, sql, n, NULL, vals, NULL, NULL, 0);
	ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		pg_result_error(c->conn, res, sqlstate, err, errlen);
		PQclear(res);
		return -1;
	}
	sqlstate[0] = '0';
	sqlstate[1] = '\0';
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}
