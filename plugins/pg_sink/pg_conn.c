/* pg_sink: the libpq connection and error plumbing. The conninfo is a
 * secret: only host, port and database name ever reach the log, and libpq's
 * messages lose every password value before they are logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_sink.h"

/* libpq keyword values (strings); the user's conninfo can override them. */
#define KEEPALIVE_IDLE_S "30"
#define KEEPALIVE_INTERVAL_S "10"
#define KEEPALIVE_COUNT "3"
#define TCP_USER_TIMEOUT_MS "60000"
#define TARGET_SESSION "read-write"

#define HIDDEN "***" /* stands for a hidden password or quoted conninfo part */
#define URI_PREFIX "postgresql://"
#define URI_PREFIX_SHORT "postgres://"
#define MAX_SECRETS 4

/* Strips the trailing newline libpq puts on messages. */
static void copy_message(const char *msg, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", msg ? msg : "unknown error");
	size_t n = strlen(err);
	while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

/* libpq reads a dbname as a connection string only when it looks like one
 * (its recognize_connection_string); anything else is a database name. */
static int uri_prefix_len(const char *s)
{
	if (!strncmp(s, URI_PREFIX, strlen(URI_PREFIX)))
		return (int)strlen(URI_PREFIX);
	if (!strncmp(s, URI_PREFIX_SHORT, strlen(URI_PREFIX_SHORT)))
		return (int)strlen(URI_PREFIX_SHORT);
	return 0;
}

static int is_conninfo_string(const char *s)
{
	return uri_prefix_len(s) > 0 || strchr(s, '=') != NULL;
}

/* libpq quotes the part of a conninfo it cannot parse, or all of it, in
 * parse errors; that part may hold the password. Copies msg with every
 * quoted part hidden, except a lone punctuation mark (missing "="). */
static void hide_quoted(const char *msg, struct pg_buf *out)
{
	const char *p = msg;
	const char *q;
	while ((q = strchr(p, '"')) != NULL) {
		pg_buf_add(out, p, (size_t)(q - p + 1));
		const char *end = strchr(q + 1, '"');
		if (!end) {
			pg_buf_str(out, HIDDEN); /* unbalanced: hide the rest */
			return;
		}
		size_t n = (size_t)(end - q - 1);
		int punct = n == 1 && strchr("=&?/:@[]", q[1]) != NULL;
		if (punct)
			pg_buf_add(out, q + 1, 1);
		else
			pg_buf_str(out, HIDDEN);
		pg_buf_str(out, "\"");
		p = end + 1;
	}
	pg_buf_str(out, p);
}

static void add_secret(char **v, size_t *n, const char *s, size_t len)
{
	if (len == 0 || *n >= MAX_SECRETS)
		return;
	char *d = strndup(s, len);
	if (d)
		v[(*n)++] = d;
}

/* The password values in a conninfo: as libpq reads them (keyword form,
 * URI user info or ?password=, percent-decoded) and as written in a URI.
 * Fills v (the caller frees each) and returns how many; -1 (nothing to
 * free) when one could not be copied, so the caller hides the message. */
static int find_secrets(const char *conninfo, const PQconninfoOption *opts, char **v)
{
	size_t n = 0, want = 0;
	for (const PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!strcmp(o->keyword, "password") && o->val && o->val[0]) {
			want++;
			add_secret(v, &n, o->val, strlen(o->val));
		}
	}
	int pre = uri_prefix_len(conninfo);
	if (pre) {
		/* As libpq does: user info ends at the first '@' before any '/'. */
		const char *start = conninfo + pre;
		size_t netloc = strcspn(start, "@/");
		if (start[netloc] == '@') {
			const char *colon = memchr(start, ':', netloc);
			if (colon && colon + 1 < start + netloc) {
				want++;
				add_secret(v, &n, colon + 1, (size_t)(start + netloc - colon - 1));
			}
		}
		const char *q = strchr(start, '?');
		while (q) {
			q++;
			size_t len = strcspn(q, "&");
			if (!strncmp(q, "password=", strlen("password=")) && len > strlen("password=")) {
				want++;
				add_secret(v, &n, q + strlen("password="), len - strlen("password="));
			}
			q = q[len] ? q + len : NULL;
		}
	}
	if (n == want)
		return (int)n;
	while (n)
		free(v[--n]);
	return -1;
}

/* Copies msg into out with every secret replaced by HIDDEN. */
static void scrub(const char *msg, char *const *secrets, size_t nsecrets, struct pg_buf *out)
{
	for (const char *p = msg; *p;) {
		size_t best = 0;
		for (size_t i = 0; i < nsecrets; i++) {
			size_t len = strlen(secrets[i]);
			if (len > best && !strncmp(p, secrets[i], len))
				best = len;
		}
		if (best) {
			pg_buf_str(out, HIDDEN);
			p += best;
		} else {
			pg_buf_add(out, p++, 1);
		}
	}
}

/* A '@' inside a host of a host list; a leading one names an abstract
 * Unix socket (Linux, PostgreSQL 14+). */
static int misplaced_at(const char *hosts)
{
	for (const char *h = hosts;; h++) {
		size_t len = strcspn(h, ",");
		if (len > 1 && memchr(h + 1, '@', len - 1))
			return 1;
		h += len;
		if (!*h)
			return 0;
	}
}

/* The values libpq (15) accepts for its settings that take a word. libpq
 * checks them only when it connects, and its verdict looks like any failed
 * connection, which is retried for ever; here they are a config error. */
static const char *enum_values(const char *keyword)
{
	static const struct {
		const char *keyword, *values;
	} enums[] = {
		{"sslmode", "disable, allow, prefer, require, verify-ca, verify-full"},
		{"gssencmode", "disable, prefer, require"},
		{"channel_binding", "disable, prefer, require"},
		{"target_session_attrs", "any, read-write, read-only, primary, standby, prefer-standby"},
	};
	for (size_t i = 0; i < sizeof enums / sizeof enums[0]; i++)
		if (!strcmp(keyword, enums[i].keyword))
			return enums[i].values;
	return NULL;
}

/* v is one of the comma-and-space separated words of list. */
static int is_one_of(const char *v, const char *list)
{
	size_t n = strlen(v);
	for (const char *w = list; *w;) {
		size_t len = strcspn(w, ",");
		if (len == n && n > 0 && !strncmp(w, v, n))
			return 1;
		w += len;
		w += strspn(w, ", ");
	}
	return 0;
}

int pg_conninfo_parse(const char *conninfo, PQconninfoOption **opts, char *err, size_t errlen)
{
	*opts = NULL;
	if (!is_conninfo_string(conninfo))
		return 0; /* a database name */
	char *perr = NULL;
	*opts = PQconninfoParse(conninfo, &perr);
	if (!*opts) {
		if (!perr) {
			snprintf(err, errlen, "out of memory parsing the connection string");
			return WM_E_NOMEM;
		}
		struct pg_buf msg = {0};
		hide_quoted(perr, &msg);
		PQfreemem(perr);
		char line[512];
		copy_message(msg.oom ? "cannot parse it" : msg.p, line, sizeof(line));
		pg_buf_free(&msg);
		snprintf(err, errlen,
		         "libpq cannot read this connection string: %s (quoted parts hidden: they may hold the "
		         "password; in a URI, percent-encode special characters of the user and password, e.g. "
		         "%%25 for %%, %%40 for @, %%2F for /)",
		         line);
		return WM_E_INVAL;
	}
	/* A '@' or '/' left unencoded in a URI's password moves the rest of
	 * it into the host or port, which libpq would then print. */
	for (const PQconninfoOption *o = *opts; o->keyword; o++) {
		if (!o->val)
			continue;
		const char *allowed = enum_values(o->keyword);
		if (allowed && !is_one_of(o->val, allowed)) {
			snprintf(err, errlen, "%s must be one of: %s", o->keyword, allowed);
			goto bad;
		}
		if ((!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr")) && misplaced_at(o->val)) {
			snprintf(err, errlen, "the %s contains '@' (is a '@' of the password not written as %%40?)",
			         o->keyword);
			goto bad;
		}
		/* "postgresql://app:2024/Summer!@db/x": the password's '/' ends
		 * the authority, its digits pass for a port, the rest becomes
		 * the database name that libpq prints */
		if (!strcmp(o->keyword, "dbname") && strchr(o->val, '@') &&
		    (!strncmp(conninfo, "postgresql://", 13) || !strncmp(conninfo, "postgres://", 11))) {
			snprintf(err, errlen, "the database name contains '@' (is a '/' of the password not written as "
			         "%%2F?)");
			goto bad;
		}
		if (!strcmp(o->keyword, "port") && o->val[strspn(o->val, "0123456789, ")] != '\0') {
			snprintf(err, errlen, "the port is not a number (is a '/' or '@' of the password not "
			         "percent-encoded?)");
			goto bad;
		}
	}
	return 0;
bad:
	PQconninfoFree(*opts);
	*opts = NULL;
	return WM_E_INVAL;
}

enum pg_err_kind pg_classify(const char *st)
{
	if (!st[0])
		return PG_ERR_TRANSIENT; /* the connection broke */
	if (!strncmp(st, "08", 2) || !strncmp(st, "40", 2) || !strncmp(st, "53", 2) || !strncmp(st, "57", 2) ||
	    !strncmp(st, "58", 2) || !strncmp(st, "XX", 2) || !strcmp(st, "55P03") || !strcmp(st, "55006"))
		return PG_ERR_TRANSIENT; /* admin_shutdown, serialization, deadlock, resources, lock timeout */
	if (!strcmp(st, "25006"))
		return PG_ERR_TRANSIENT; /* read-only: the old primary after a failover, now a standby */
	if (!strcmp(st, "42P01"))
		return PG_ERR_TRANSIENT; /* the table went away: auto_setup may recreate it */
	if (!strcmp(st, "42P07"))
		return PG_ERR_TRANSIENT; /* another sink created it first: IF NOT EXISTS sees it next time */
	if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2) || !strcmp(st, "54000"))
		return PG_ERR_DATA; /* in a row; elsewhere (23505 of two sinks' DDL) a retry */
	return PG_ERR_FATAL;
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

/* msg without any password value of the conninfo, cut to outlen only after
 * scrubbing so that no part of one survives. */
static void scrub_secrets(const struct pg_sink_ctx *c, const PQconninfoOption *opts, const char *msg, char *out,
                          size_t outlen)
{
	char *secrets[MAX_SECRETS];
	int n = find_secrets(c->conninfo, opts, secrets);
	struct pg_buf b = {0};
	if (n >= 0)
		scrub(msg, secrets, (size_t)n, &b);
	if (n < 0 || b.oom)
		snprintf(out, outlen, "(message hidden: it may hold a password)");
	else
		copy_message(b.p, out, outlen);
	pg_buf_free(&b);
	for (int i = 0; i < n; i++)
		free(secrets[i]);
}

int pg_connect(struct pg_sink_ctx *c, char *err, size_t errlen)
{
	if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
		return 0;
	pg_disconnect(c);
	PQconninfoOption *opts;
	char msg[768];
	int prc = pg_conninfo_parse(c->conninfo, &opts, msg, sizeof(msg));
	if (prc < 0) {
		snprintf(err, errlen, "conninfo: %s", msg);
		return prc == WM_E_INVAL ? PG_E_CONNINFO : -1;
	}
	char timeout[24];
	snprintf(timeout, sizeof(timeout), "%lld", (long long)c->connect_timeout_s);
	/* Later keywords override earlier ones, so the user's conninfo (dbname,
	 * expanded) wins over our defaults. */
	/* Keepalives and a TCP user timeout make a server that vanished
	 * without closing the connection (a dead host, a dropped route) an
	 * error within about a minute instead of a write blocked for hours.
	 * target_session_attrs=read-write makes libpq skip a read-only server
	 * (a standby, the old primary after a failover) and try the next host
	 * of the conninfo; with none left the connect fails and is retried. */
	const char *const keys[] = {"connect_timeout",  "client_encoding",      "fallback_application_name",
	                            "keepalives_idle",  "keepalives_interval",  "keepalives_count",
	                            "tcp_user_timeout", "target_session_attrs", "dbname",
	                            NULL};
	const char *const vals[] = {timeout,             "UTF8",         "wmhost pg_sink",
	                            KEEPALIVE_IDLE_S,    KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT,
	                            TCP_USER_TIMEOUT_MS, TARGET_SESSION,       c->conninfo,
	                            NULL};
	c->conn = PQconnectdbParams(keys, vals, 1);
	if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) {
		if (c->conn)
			scrub_secrets(c, opts, PQerrorMessage(c->conn), err, errlen);
		else
			snprintf(err, errlen, "out of memory");
		PQconninfoFree(opts);
		pg_disconnect(c);
		return -1;
	}
	PQsetNoticeProcessor(c->conn, log_notice, c);
	/* Times without a zone (and bounds we print) are read as UTC. */
	char st[6];
	if (pg_exec(c, "SET TIME ZONE 'UTC'", st, err, errlen) < 0) {
		PQconninfoFree(opts);
		pg_disconnect(c);
		return -1;
	}
	/* Scrubbed too: a database name may equal the password. */
	struct pg_buf where = {0};
	pg_buf_printf(&where, "%s:%s, database %s", PQhost(c->conn), PQport(c->conn), PQdb(c->conn));
	char line[512];
	scrub_secrets(c, opts, where.oom ? "(out of memory)" : where.p, line, sizeof(line));
	pg_buf_free(&where);
	PQconninfoFree(opts);
	PG_API->log(c->inst, WM_LOG_INFO, "connected to PostgreSQL %d at %s", PQserverVersion(c->conn), line);
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
