/* JSON encoding of records and a strict decoder for one flat object. The
 * decoder is the gate for data arriving from outside (Kafka), so it refuses
 * anything ambiguous instead of guessing: invalid UTF-8, lone surrogates,
 * duplicate keys, nesting, trailing bytes, numbers out of range. */
#include "record.h"
#include "strbuf.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void wmh_format_time(int64_t us, char out[32])
{
	int64_t sec = us / 1000000, frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		sec -= 1;
	}
	time_t t = (time_t)sec;
	struct tm tm;
	gmtime_r(&t, &tm);
	char tmp[96];
	snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
	snprintf(out, 32, "%.31s", tmp);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The range wmh_format_time can write with four-digit years. */
#define TIME_MIN_US (-62135596800LL * 1000000)            /* 0001-01-01T00:00:00Z */
#define TIME_MAX_US (253402300800LL * 1000000 - 1)        /* 9999-12-31T23:59:59.999999Z */

int wmh_parse_rfc3339(const char *s, size_t n, int64_t *us)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int Y, M, D, h, m, sec, off_h = 0, off_m = 0, sign = 0;
	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
	    s[16] != ':')
		return -1;
	if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
	    digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
		return -1;
	if (Y < 1 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && leap(Y)) || h > 23 || m > 59 ||
	    sec > 60)
		return -1;
	size_t i = 19;
	int64_t frac = 0;
	if (s[i] == '.') {
		size_t first = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		size_t nd = i - first;
		if (nd == 0)
			return -1;
		if (nd <= 6) {
			int f = 0;
			digits(s + first, (int)nd, &f);
			frac = f;
			for (size_t k = nd; k < 6; k++)
				frac *= 10;
		} else {
			/* as PostgreSQL reads it: the fraction as a double,
			 * rounded to the microsecond (rint), carrying into the
			 * seconds */
			char buf[72] = "0.";
			size_t take = nd < sizeof buf - 3 ? nd : sizeof buf - 3;
			memcpy(buf + 2, s + first, take);
			buf[2 + take] = 0;
			frac = (int64_t)rint(strtod(buf, NULL) * 1000000.0);
		}
	}
	if (i == n - 1 && (s[i] == 'Z' || s[i] == 'z')) {
		sign = 0;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' && !digits(s + i + 1, 2, &off_h) &&
	           !digits(s + i + 4, 2, &off_m) && off_h <= 15 && off_m <= 59) {
		sign = s[i] == '+' ? 1 : -1;
	} else {
		return -1;
	}
	/* a leap second (:60) counts as the next second, as in PostgreSQL */
	int64_t t = (days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec) -
	            (int64_t)sign * (off_h * 3600 + off_m * 60);
	int64_t v = t * 1000000 + frac;
	if (v < TIME_MIN_US || v > TIME_MAX_US)
		return -1;
	*us = v;
	return 0;
}

/* Accepts exactly the form wmh_format_time writes (1-6 fraction digits). */
int wmh_parse_time(const char *s, size_t n, int64_t *us)
{
	if (n < 20 || n > 27 || s[n - 1] != 'Z' || s[10] != 'T' || (n > 20 && s[19] != '.') || n == 21)
		return -1;
	return wmh_parse_rfc3339(s, n, us);
}

static void base64(struct strbuf *sb, const unsigned char *p, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	strbuf_appendc(sb, '"');
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
		strbuf_appendn(sb, q, 4);
	}
	if (i < n) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
		char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=', '='};
		strbuf_appendn(sb, q, 4);
	}
	strbuf_appendc(sb, '"');
}

static void append_int(struct strbuf *sb, int64_t v)
{
	char tmp[24], *p = tmp + sizeof tmp;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	strbuf_appendn(sb, p, (size_t)(tmp + sizeof tmp - p));
}

/* An upper bound of the encoded size when no string needs escapes (the
 * common case), so one allocation usually does. */
static size_t json_estimate(const struct wm_record *r)
{
	size_t est = 8;
	for (size_t i = 0; i < r->n; i++) {
		const struct wm_value *v = &r->fields[i].v;
		est += strlen(r->fields[i].name) + 4;
		if (v->type == WM_STRING)
			est += v->u.s.len + v->u.s.len / 16 + 8;
		else if (v->type == WM_BYTES)
			est += v->u.s.len / 3 * 4 + 8;
		else
			est += v->type == WM_TIME ? 32 : 24;
	}
	return est;
}

static void json_encode(struct strbuf *sb, const struct wm_record *r)
{
	strbuf_appendc(sb, '{');
	for (size_t i = 0; i < r->n; i++) {
		const struct wmh_field *f = &r->fields[i];
		if (i)
			strbuf_appendc(sb, ',');
		strbuf_json_string(sb, f->name, strlen(f->name));
		strbuf_appendc(sb, ':');
		switch (f->v.type) {
		case WM_NULL: strbuf_append(sb, "null"); break;
		case WM_BOOL: strbuf_append(sb, f->v.u.b ? "true" : "false"); break;
		case WM_INT: append_int(sb, f->v.u.i); break;
		case WM_DOUBLE:
			if (isfinite(f->v.u.d)) {
				char tmp[40];
				/* shortest form that reads back to the same double */
				snprintf(tmp, sizeof tmp, "%.15g", f->v.u.d);
				if (strtod(tmp, NULL) != f->v.u.d)
					snprintf(tmp, sizeof tmp, "%.17g", f->v.u.d);
				/* keep it a double on the way back */
				if (!strpbrk(tmp, ".eE"))
					strcat(tmp, ".0");
				strbuf_append(sb, tmp);
			} else {
				strbuf_append(sb, "null");
			}
			break;
		case WM_STRING: strbuf_json_string(sb, f->v.u.s.ptr, f->v.u.s.len); break;
		case WM_BYTES: base64(sb, (const unsigned char *)f->v.u.s.ptr, f->v.u.s.len); break;
		case WM_TIME: {
			char t[32];
			wmh_format_time(f->v.u.t, t);
			strbuf_appendc(sb, '"');
			strbuf_append(sb, t);
			strbuf_appendc(sb, '"');
			break;
		}
		}
	}
	strbuf_appendc(sb, '}');
}

int wmh_record_to_json(const struct wm_record *r, char **out, size_t *len)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_grow(&sb, json_estimate(r));
	json_encode(&sb, r);
	*out = strbuf_detach(&sb, len);
	return *out ? 0 : WM_E_NOMEM;
}

int wmh_record_to_json_buf(const struct wm_record *r, char *buf, size_t cap, size_t *len)
{
	if (buf && cap > 0) {
		struct strbuf sb = STRBUF_FIXED(buf, cap);
		json_encode(&sb, r);
		if (!sb.oom) {
			*len = sb.len;
			return 0;
		}
	}
	/* too small: say exactly how much room it takes (rare, so encoding
	 * twice is fine) */
	char *tmp;
	size_t n;
	if (wmh_record_to_json(r, &tmp, &n) != 0)
		return WM_E_NOMEM;
	free(tmp);
	*len = n + 1;
	return WM_E_SPACE;
}

/* ---- strict decoder ---- */

struct parser {
	const char *s;
	size_t n, i;
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const char *msg)
{
	snprintf(p->err, p->errlen, "invalid JSON at byte %zu: %s", p->i, msg);
	return -1;
}

static void ws(struct parser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int hex4(struct parser *p, unsigned *out)
{
	if (p->n - p->i < 4)
		return fail(p, "truncated \\u escape");
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		char c = p->s[p->i++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(p, "bad hex digit in \\u escape");
	}
	*out = v;
	return 0;
}

/* Parses a string literal at p->i (which is at the opening quote). */
static int string(struct parser *p, struct strbuf *out)
{
	p->i++;
	for (;;) {
		if (p->i >= p->n)
			return fail(p, "unterminated string");
		unsigned char c = (unsigned char)p->s[p->i];
		if (c == '"') {
			p->i++;
			return out->oom ? fail(p, "out of memory") : 0;
		}
		if (c < 0x20)
			return fail(p, "control character in string");
		if (c == '\\') {
			p->i++;
			if (p->i >= p->n)
				return fail(p, "unterminated escape");
			char e = p->s[p->i++];
			switch (e) {
			case '"': strbuf_appendc(out, '"'); break;
			case '\\': strbuf_appendc(out, '\\'); break;
			case '/': strbuf_appendc(out, '/'); break;
			case 'b': strbuf_appendc(out, '\b'); break;
			case 'f': strbuf_appendc(out, '\f'); break;
			case 'n': strbuf_appendc(out, '\n'); break;
			case 'r': strbuf_appendc(out, '\r'); break;
			case 't': strbuf_appendc(out, '\t'); break;
			case 'u': {
				unsigned cp;
				if (hex4(p, &cp))
					return -1;
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					return fail(p, "lone low surrogate");
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					unsigned lo;
					if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
						return fail(p, "lone high surrogate");
					p->i += 2;
					if (hex4(p, &lo))
						return -1;
					if (lo < 0xDC00 || lo > 0xDFFF)
						return fail(p, "bad surrogate pair");
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				}
				char u[4];
				strbuf_appendn(out, u, utf8_encode(cp, u));
				break;
			}
			default: return fail(p, "unknown escape");
			}
			continue;
		}
		/* a run of bytes copied as they are: ASCII and valid UTF-8 */
		size_t start = p->i;
		while (p->i < p->n) {
			p->i += strbuf_plain_prefix(p->s + p->i, p->n - p->i);
			if (p->i >= p->n)
				break;
			unsigned char d = (unsigned char)p->s[p->i];
			if (d < 0x80) {
				if (d < 0x20 || d == '"' || d == '\\')
					break;
				p->i++;
				continue;
			}
			size_t len = utf8_valid_prefix((const unsigned char *)p->s + p->i, p->n - p->i);
			if (!len)
				return fail(p, "invalid UTF-8");
			p->i += len;
		}
		strbuf_appendn(out, p->s + start, p->i - start);
	}
}

static int number(struct parser *p, struct wm_record *r, const char *key)
{
	size_t start = p->i;
	int is_int = 1;
	if (p->s[p->i] == '-')
		p->i++;
	if (p->i >= p->n)
		return fail(p, "truncated number");
	if (p->s[p->i] == '0') {
		p->i++;
	} else if (p->s[p->i] >= '1' && p->s[p->i] <= '9') {
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	} else {
		return fail(p, "bad number");
	}
	if (p->i < p->n && p->s[p->i] == '.') {
		is_int = 0;
		p->i++;
		size_t d = p->i;
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
		if (p->i == d)
			return fail(p, "digit expected after '.'");
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		is_int = 0;
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		size_t d = p->i;
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
		if (p->i == d)
			return fail(p, "digit expected in exponent");
	}
	char tmp[64];
	size_t len = p->i - start;
	if (len >= sizeof tmp)
		is_int = 0; /* too many digits for int64 anyway */
	char *heap = NULL, *txt = tmp;
	if (len >= sizeof tmp) {
		heap = malloc(len + 1);
		if (!heap)
			return fail(p, "out of memory");
		txt = heap;
	}
	memcpy(txt, p->s + start, len);
	txt[len] = 0;
	int rc = 0;
	if (is_int) {
		errno = 0;
		long long v = strtoll(txt, NULL, 10);
		if (errno == 0) {
			rc = wmh_record_set_int(r, key, v);
			goto out;
		}
		/* beyond int64: fall through to double, documented */
	}
	errno = 0;
	double d = strtod(txt, NULL);
	if (errno == ERANGE && isinf(d)) {
		free(heap);
		p->i = start;
		return fail(p, "number out of range");
	}
	rc = wmh_record_set_double(r, key, d);
out:
	free(heap);
	return rc ? fail(p, "out of memory") : 0;
}

static int literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	if (p->n - p->i < n || memcmp(p->s + p->i, word, n) != 0)
		return fail(p, "unexpected character");
	p->i += n;
	return 0;
}

struct wm_record *wmh_record_from_json(const char *json, size_t len, char *err, size_t errlen)
{
	char dummy[8];
	struct parser p = {json, len, 0, err ? err : dummy, err ? errlen : sizeof dummy};
	/* scratch space on the stack: check records fit, so the common
	 * decode allocates nothing but the record */
	char key_mem[256], val_mem[2048];
	struct strbuf key = STRBUF_ON(key_mem, sizeof key_mem), val = STRBUF_ON(val_mem, sizeof val_mem);
	struct wm_record *r = wmh_record_new();
	if (!r) {
		fail(&p, "out of memory");
		return NULL;
	}
	ws(&p);
	if (p.i >= p.n || p.s[p.i] != '{') {
		fail(&p, "expected '{' (a record is one JSON object)");
		goto bad;
	}
	p.i++;
	ws(&p);
	if (p.i < p.n && p.s[p.i] == '}') {
		p.i++;
		goto end;
	}
	for (;;) {
		ws(&p);
		if (p.i >= p.n || p.s[p.i] != '"') {
			fail(&p, "expected a string key");
			goto bad;
		}
		key.len = 0;
		strbuf_appendn(&key, "", 0);
		if (string(&p, &key))
			goto bad;
		if (memchr(key.buf, 0, key.len)) {
			fail(&p, "NUL in key");
			goto bad;
		}
		if (wmh_record_get(r, key.buf)) {
			char m[160];
			snprintf(m, sizeof m, "duplicate key '%.100s'", key.buf);
			fail(&p, m);
			goto bad;
		}
		ws(&p);
		if (p.i >= p.n || p.s[p.i] != ':') {
			fail(&p, "expected ':'");
			goto bad;
		}
		p.i++;
		ws(&p);
		if (p.i >= p.n) {
			fail(&p, "expected a value");
			goto bad;
		}
		char c = p.s[p.i];
		int rc = 0;
		if (c == '"') {
			val.len = 0;
			strbuf_appendn(&val, "", 0);
			if (string(&p, &val))
				goto bad;
			int64_t t;
			if (wmh_parse_time(val.buf, val.len, &t) == 0)
				rc = wmh_record_set_time(r, key.buf, t);
			else
				rc = wmh_record_set_stringn(r, key.buf, val.buf, val.len);
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			if (number(&p, r, key.buf))
				goto bad;
		} else if (c == 't') {
			if (literal(&p, "true"))
				goto bad;
			rc = wmh_record_set_bool(r, key.buf, 1);
		} else if (c == 'f') {
			if (literal(&p, "false"))
				goto bad;
			rc = wmh_record_set_bool(r, key.buf, 0);
		} else if (c == 'n') {
			if (literal(&p, "null"))
				goto bad;
			rc = wmh_record_set_null(r, key.buf);
		} else if (c == '{' || c == '[') {
			char m[160];
			snprintf(m, sizeof m, "nested %s in key '%.100s' (records are flat)", c == '{' ? "object" : "array",
			         key.buf);
			fail(&p, m);
			goto bad;
		} else {
			fail(&p, "unexpected character");
			goto bad;
		}
		if (rc) {
			fail(&p, "out of memory");
			goto bad;
		}
		ws(&p);
		if (p.i < p.n && p.s[p.i] == ',') {
			p.i++;
			continue;
		}
		if (p.i < p.n && p.s[p.i] == '}') {
			p.i++;
			break;
		}
		fail(&p, "expected ',' or '}'");
		goto bad;
	}
end:
	ws(&p);
	if (p.i != p.n) {
		fail(&p, "trailing data after the object");
		goto bad;
	}
	strbuf_free(&key);
	strbuf_free(&val);
	return r;
bad:
	strbuf_free(&key);
	strbuf_free(&val);
	wmh_record_free(r);
	return NULL;
}
