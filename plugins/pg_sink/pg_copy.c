/* pg_sink: turns records into COPY text rows, and reads/writes timestamps. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_sink.h"

#define US_PER_SEC INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)
#define MIN_BUF_CAP 4096

void pg_buf_reserve(struct pg_buf *b, size_t extra)
{
	if (b->oom || b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : MIN_BUF_CAP;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return;
	}
	b->p = p;
	b->cap = cap;
}

void pg_buf_str(struct pg_buf *b, const char *s)
{
	pg_buf_add(b, s, strlen(s));
}

void pg_buf_printf(struct pg_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	pg_buf_reserve(b, (size_t)n);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void pg_buf_ident(struct pg_buf *b, const char *s)
{
	pg_buf_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"')
			pg_buf_add(b, "\"", 1);
		pg_buf_add(b, s, 1);
	}
	pg_buf_add(b, "\"", 1);
}

void pg_buf_free(struct pg_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Days since 1970-01-01 to a proleptic Gregorian date (400-year eras). */
static void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	days += 719468; /* shift the epoch to 0000-03-01 */
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	int64_t doe = days - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static char *put_digits(char *p, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* Writes "YYYY-MM-DD HH:MM:SS[.ffffff]+00" (BC years as PostgreSQL spells
 * them); returns the length. out must hold 48 bytes. */
static size_t format_time(int64_t us, char *out, int with_fraction)
{
	int64_t secs = us >= 0 ? us / US_PER_SEC : -((-us + US_PER_SEC - 1) / US_PER_SEC);
	int64_t frac = us - secs * US_PER_SEC;
	int64_t days = secs >= 0 ? secs / SEC_PER_DAY : -((-secs + SEC_PER_DAY - 1) / SEC_PER_DAY);
	int64_t sod = secs - days * SEC_PER_DAY;
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 1 || y > 9999) {
		int64_t shown = y < 1 ? 1 - y : y;
		int n = snprintf(out, 48, "%04lld-%02d-%02d %02d:%02d:%02d.%06lld+00%s", (long long)shown, m, d,
		                 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (long long)frac,
		                 y < 1 ? " BC" : "");
		return n < 0 ? 0 : (size_t)n;
	}
	char *p = out;
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = ' ';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	if (with_fraction && frac) {
		*p++ = '.';
		p = put_digits(p, frac, 6);
	}
	memcpy(p, "+00", 3);
	p += 3;
	*p = '\0';
	return (size_t)(p - out);
}

void pg_format_time(int64_t us, char *out, size_t outlen)
{
	char tmp[48];
	format_time(us, tmp, 1);
	snprintf(out, outlen, "%s", tmp);
}

/* The host's strict RFC 3339 reading (ranges checked, fractions rounded as
 * PostgreSQL rounds them), so the binary path, the text path and the
 * partition routing all see the same instant. */
int pg_parse_time(const char *s, size_t len, int64_t *us)
{
	if (!WM_API_HAS(PG_API, parse_time))
		return -1;
	/* PostgreSQL also writes and reads the ISO 8601 offsets "+hh" and
	 * "+hhmm" (its own output ends in "+00"): spelled as RFC 3339's
	 * "+hh:mm" for the host */
	char tmp[64];
	size_t k = len;
	while (k > 0 && s[k - 1] >= '0' && s[k - 1] <= '9')
		k--;
	size_t nd = len - k;
	if (k > 19 && (s[k - 1] == '+' || s[k - 1] == '-') && (nd == 2 || nd == 4) && len + 3 < sizeof tmp) {
		memcpy(tmp, s, k + 2);
		tmp[k + 2] = ':';
		memcpy(tmp + k + 3, nd == 4 ? s + k + 2 : "00", 2);
		return PG_API->parse_time(tmp, k + 5, us);
	}
	return PG_API->parse_time(s, len, us);
}

int pg_record_time(struct pg_sink_ctx *c, const struct wm_record *r, int64_t *us)
{
	const struct wm_value *v = PG_API->record_get(r, c->cols[c->time_col].name);
	if (!v)
		return -1;
	if (v->type == WM_TIME) {
		*us = v->u.t;
		return 0;
	}
	if (v->type == WM_STRING)
		return pg_parse_time(v->u.s.ptr, v->u.s.len, us);
	return -1;
}

/* Appends bytes with COPY text escaping (backslash, newline, CR, tab). */
static void copy_escape(struct pg_buf *out, const char *s, size_t n)
{
	pg_buf_reserve(out, n);
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		const char *esc = NULL;
		switch (s[i]) {
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default: continue;
		}
		pg_buf_add(out, s + start, i - start);
		pg_buf_add(out, esc, 2);
		start = i + 1;
	}
	pg_buf_add(out, s + start, n - start);
}

static void put_int(struct pg_buf *out, int64_t v)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	pg_buf_add(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void put_double(struct pg_buf *out, double d)
{
	if (isnan(d)) {
		pg_buf_add(out, "NaN", 3);
	} else if (isinf(d)) {
		pg_buf_str(out, d > 0 ? "Infinity" : "-Infinity");
	} else if (d == (double)(int64_t)d && fabs(d) < 1e15) {
		put_int(out, (int64_t)d); /* whole milliseconds */
	} else if (fabs(d) < 1e9 && (double)(int64_t)(d * 1e6) / 1e6 == d) {
		/* The common case: timings with at most microsecond digits. The
		 * division is correctly rounded, so the decimal we print reads
		 * back as exactly d; printf's %.17g costs several times more. */
		int64_t k = (int64_t)(d * 1e6);
		if (k < 0) {
			pg_buf_add(out, "-", 1);
			k = -k;
		}
		put_int(out, k / 1000000);
		char frac[8] = {'.'};
		int64_t f = k % 1000000;
		int n = 6;
		while (n > 0 && f % 10 == 0) {
			f /= 10;
			n--;
		}
		put_digits(frac + 1, f, n);
		pg_buf_add(out, frac, (size_t)n + 1);
	} else {
		char tmp[40];
		int n = snprintf(tmp, sizeof(tmp), "%.17g", d);
		pg_buf_add(out, tmp, (size_t)n);
	}
}

static const char HEX[] = "0123456789abcdef";

/* A value as COPY text (NULL as \N). */
static void put_value(struct pg_buf *out, const struct wm_value *v)
{
	char tmp[48];
	switch (v ? v->type : WM_NULL) {
	case WM_NULL: pg_buf_add(out, "\\N", 2); break;
	case WM_BOOL: pg_buf_add(out, v->u.b ? "t" : "f", 1); break;
	case WM_INT: put_int(out, v->u.i); break;
	case WM_DOUBLE: put_double(out, v->u.d); break;
	case WM_STRING: copy_escape(out, v->u.s.ptr, v->u.s.len); break;
	case WM_TIME: pg_buf_add(out, tmp, format_time(v->u.t, tmp, 1)); break;
	case WM_BYTES:
		/* bytea hex input; the backslash itself is escaped for COPY */
		pg_buf_reserve(out, 3 + 2 * v->u.s.len);
		pg_buf_add(out, "\\\\x", 3);
		for (size_t i = 0; i < v->u.s.len; i++) {
			unsigned char ch = (unsigned char)v->u.s.ptr[i];
			char hx[2] = {HEX[ch >> 4], HEX[ch & 15]};
			pg_buf_add(out, hx, 2);
		}
		break;
	}
}

static void json_string(struct pg_buf *out, const char *s, size_t n)
{
	pg_buf_add(out, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			pg_buf_add(out, e, 2);
		} else if (ch < 0x20) {
			char e[8];
			snprintf(e, sizeof(e), "\\u%04x", ch);
			pg_buf_add(out, e, 6);
		} else {
			pg_buf_add(out, s + i, 1);
		}
	}
	pg_buf_add(out, "\"", 1);
}

/* One unknown field into the jsonb object being built. */
static void json_member(struct pg_buf *j, const char *name, const struct wm_value *v)
{
	char tmp[48];
	pg_buf_add(j, j->len > 1 ? "," : "", j->len > 1 ? 1 : 0);
	json_string(j, name, strlen(name));
	pg_buf_add(j, ":", 1);
	switch (v->type) {
	case WM_NULL: pg_buf_add(j, "null", 4); break;
	case WM_BOOL: pg_buf_str(j, v->u.b ? "true" : "false"); break;
	case WM_INT: put_int(j, v->u.i); break;
	case WM_DOUBLE:
		if (isfinite(v->u.d))
			put_double(j, v->u.d);
		else
			pg_buf_add(j, "null", 4); /* JSON has no NaN/Infinity */
		break;
	case WM_STRING: json_string(j, v->u.s.ptr, v->u.s.len); break;
	case WM_TIME: {
		size_t n = format_time(v->u.t, tmp, 1);
		json_string(j, tmp, n);
		break;
	}
	case WM_BYTES:
		pg_buf_add(j, "\"\\\\x", 4);
		for (size_t i = 0; i < v->u.s.len; i++) {
			unsigned char ch = (unsigned char)v->u.s.ptr[i];
			char hx[2] = {HEX[ch >> 4], HEX[ch & 15]};
			pg_buf_add(j, hx, 2);
		}
		pg_buf_add(j, "\"", 1);
		break;
	}
}

/* Finds the column of the field at position i; caches by position because a
 * source's records usually list the same fields in the same order. */
static size_t column_of(struct pg_sink_ctx *c, size_t i, const char *name)
{
	if (i < c->npos_cache) {
		size_t hint = c->pos_cache[i];
		if (hint && strcmp(c->cols[hint - 1].name, name) == 0)
			return hint;
	}
	size_t found = 0;
	for (size_t k = 0; k < c->ncols; k++) {
		if (!c->cols[k].is_extra && strcmp(c->cols[k].name, name) == 0) {
			found = k + 1;
			break;
		}
	}
	if (i >= c->npos_cache) {
		size_t n = i + 16;
		size_t *p = realloc(c->pos_cache, n * sizeof(*p));
		if (!p)
			return found;
		memset(p + c->npos_cache, 0, (n - c->npos_cache) * sizeof(*p));
		c->pos_cache = p;
		c->npos_cache = n;
	}
	c->pos_cache[i] = found;
	return found;
}

void pg_fill_values(struct pg_sink_ctx *c, const struct wm_record *r)
{
	size_t nf = PG_API->record_count(r);
	memset(c->vals, 0, c->ncols * sizeof(*c->vals));
	for (size_t i = 0; i < nf; i++) {
		size_t col = column_of(c, i, PG_API->record_name_at(r, i));
		if (col)
			c->vals[col - 1] = PG_API->record_value_at(r, i);
	}
}

void pg_extra_json(struct pg_sink_ctx *c, const struct wm_record *r, struct pg_buf *json)
{
	size_t nf = PG_API->record_count(r);
	pg_buf_add(json, "{", 1);
	for (size_t i = 0; i < nf; i++) {
		const char *name = PG_API->record_name_at(r, i);
		if (!column_of(c, i, name))
			json_member(json, name, PG_API->record_value_at(r, i));
	}
	pg_buf_add(json, "}", 1);
}

int pg_copy_record(struct pg_sink_ctx *c, const struct wm_record *r, struct pg_buf *out)
{
	int oom = 0;
	int64_t us;
	pg_fill_values(c, r);
	for (size_t k = 0; k < c->ncols; k++) {
		if (k)
			pg_buf_add(out, "\t", 1);
		if ((int)k == c->extra_col) {
			struct pg_buf extra = {0};
			pg_extra_json(c, r, &extra);
			oom |= extra.oom;
			copy_escape(out, extra.p ? extra.p : "", extra.len);
			pg_buf_free(&extra);
		} else if (c->vals[k] && c->vals[k]->type == WM_STRING && pg_oid_is_time(c->col_oid[k]) &&
		           pg_parse_time(c->vals[k]->u.s.ptr, c->vals[k]->u.s.len, &us) == 0) {
			/* the instant the binary path would send, spelled in UTC:
			 * a replay through either path finds the same row, and a
			 * timestamp (without time zone) column gets the UTC wall
			 * clock, not the string's local one */
			char tmp[48];
			pg_buf_add(out, tmp, format_time(us, tmp, 1));
		} else {
			put_value(out, c->vals[k]);
		}
	}
	pg_buf_add(out, "\n", 1);
	return oom || out->oom ? WM_E_NOMEM : 0;
}
