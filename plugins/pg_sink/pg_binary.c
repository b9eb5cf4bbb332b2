/* pg_sink: binary COPY rows. Used only when every column has a type we can
 * encode and every value already has that type's shape (an int for a bigint,
 * a time or RFC 3339 string for a timestamptz, ...); anything else makes the
 * caller fall back to text COPY, where PostgreSQL itself judges the value. */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_sink.h"

/* Type OIDs from PostgreSQL's pg_type catalog (stable across versions). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_INET 869
#define OID_BPCHAR 1042
#define OID_VARCHAR 1043
#define OID_TIMESTAMP 1114
#define OID_TIMESTAMPTZ 1184
#define OID_JSONB 3802

#define PG_EPOCH_OFFSET_US INT64_C(946684800000000) /* 2000-01-01 - 1970-01-01 */
#define PG_AF_INET 2 /* PostgreSQL's own family codes in inet's wire form */
#define PG_AF_INET6 3
#define JSONB_VERSION 1

static const char COPY_SIGNATURE[11] = "PGCOPY\n\377\r\n";

int pg_binary_type_ok(uint32_t oid)
{
	switch (oid) {
	case OID_BOOL: case OID_BYTEA: case OID_INT8: case OID_INT2: case OID_INT4: case OID_TEXT:
	case OID_FLOAT4: case OID_FLOAT8: case OID_INET: case OID_BPCHAR: case OID_VARCHAR:
	case OID_TIMESTAMP: case OID_TIMESTAMPTZ: case OID_JSONB:
		return 1;
	default:
		return 0;
	}
}

static void put_u16(struct pg_buf *b, uint16_t v)
{
	uint16_t n = htons(v);
	pg_buf_add(b, &n, 2);
}

static void put_u32(struct pg_buf *b, uint32_t v)
{
	uint32_t n = htonl(v);
	pg_buf_add(b, &n, 4);
}

static void put_u64(struct pg_buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)(v >> 32));
	put_u32(b, (uint32_t)v);
}

void pg_binary_header(struct pg_buf *b)
{
	pg_buf_add(b, COPY_SIGNATURE, sizeof(COPY_SIGNATURE));
	put_u32(b, 0); /* flags */
	put_u32(b, 0); /* header extension length */
}

void pg_binary_trailer(struct pg_buf *b)
{
	put_u16(b, 0xffff);
}

/* inet text ("192.0.2.1", "2001:db8::1", optional "/bits") in wire form. */
static int put_inet(struct pg_buf *b, const char *s, size_t len)
{
	char addr[64];
	unsigned char raw[16];
	if (len >= sizeof(addr))
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	int bits = -1;
	char *slash = strchr(addr, '/');
	if (slash) {
		char *end;
		*slash = '\0';
		long v = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || v < 0)
			return -1;
		bits = (int)v;
	}
	int v6 = strchr(addr, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, raw) != 1)
		return -1;
	int nb = v6 ? 16 : 4;
	if (bits < 0)
		bits = nb * 8;
	if (bits > nb * 8)
		return -1;
	put_u32(b, (uint32_t)(4 + nb));
	unsigned char head[4] = {v6 ? PG_AF_INET6 : PG_AF_INET, (unsigned char)bits, 0, (unsigned char)nb};
	pg_buf_add(b, head, 4);
	pg_buf_add(b, raw, (size_t)nb);
	return 0;
}

/* One field (length word + data); -1 when the value does not have the
 * column's shape. */
static int put_field(struct pg_buf *b, uint32_t oid, const struct wm_value *v)
{
	if (!v || v->type == WM_NULL) {
		put_u32(b, 0xffffffffu);
		return 0;
	}
	switch (oid) {
	case OID_BOOL:
		if (v->type != WM_BOOL)
			return -1;
		put_u32(b, 1);
		pg_buf_add(b, v->u.b ? "\1" : "\0", 1);
		return 0;
	case OID_INT2:
	case OID_INT4:
	case OID_INT8: {
		if (v->type != WM_INT)
			return -1;
		int64_t i = v->u.i;
		if (oid == OID_INT2) {
			if (i < INT16_MIN || i > INT16_MAX)
				return -1;
			put_u32(b, 2);
			put_u16(b, (uint16_t)(int16_t)i);
		} else if (oid == OID_INT4) {
			if (i < INT32_MIN || i > INT32_MAX)
				return -1;
			put_u32(b, 4);
			put_u32(b, (uint32_t)(int32_t)i);
		} else {
			put_u32(b, 8);
			put_u64(b, (uint64_t)i);
		}
		return 0;
	}
	case OID_FLOAT4:
	case OID_FLOAT8: {
		double d;
		if (v->type == WM_DOUBLE)
			d = v->u.d;
		else if (v->type == WM_INT)
			d = (double)v->u.i;
		else
			return -1;
		if (oid == OID_FLOAT4) {
			float f = (float)d;
			/* a finite value a real cannot hold: text COPY, where
			 * PostgreSQL refuses it (out of range), not Infinity or 0 */
			if ((isfinite(d) && !isfinite(f)) || (d != 0 && f == 0))
				return -1;
			uint32_t u;
			memcpy(&u, &f, 4);
			put_u32(b, 4);
			put_u32(b, u);
		} else {
			uint64_t u;
			memcpy(&u, &d, 8);
			put_u32(b, 8);
			put_u64(b, u);
		}
		return 0;
	}
	case OID_TEXT:
	case OID_VARCHAR:
	case OID_BPCHAR:
		if (v->type != WM_STRING || v->u.s.len > INT32_MAX)
			return -1;
		put_u32(b, (uint32_t)v->u.s.len);
		pg_buf_add(b, v->u.s.ptr, v->u.s.len);
		return 0;
	case OID_JSONB:
		if (v->type != WM_STRING || v->u.s.len >= INT32_MAX)
			return -1;
		put_u32(b, (uint32_t)v->u.s.len + 1);
		pg_buf_add(b, (const char[]){JSONB_VERSION}, 1);
		pg_buf_add(b, v->u.s.ptr, v->u.s.len);
		return 0;
	case OID_BYTEA:
		if (v->type != WM_BYTES || v->u.s.len > INT32_MAX)
			return -1;
		put_u32(b, (uint32_t)v->u.s.len);
		pg_buf_add(b, v->u.s.ptr, v->u.s.len);
		return 0;
	case OID_TIMESTAMP:
	case OID_TIMESTAMPTZ: {
		int64_t us;
		if (v->type == WM_TIME)
			us = v->u.t;
		else if (v->type != WM_STRING || pg_parse_time(v->u.s.ptr, v->u.s.len, &us) < 0)
			return -1;
		put_u32(b, 8);
		put_u64(b, (uint64_t)(us - PG_EPOCH_OFFSET_US)); /* both: UTC wall clock */
		return 0;
	}
	case OID_INET:
		if (v->type != WM_STRING)
			return -1;
		return put_inet(b, v->u.s.ptr, v->u.s.len);
	default:
		return -1;
	}
}

int pg_binary_record(struct pg_sink_ctx *c, const struct wm_record *r, struct pg_buf *out)
{
	pg_fill_values(c, r);
	put_u16(out, (uint16_t)c->ncols);
	for (size_t k = 0; k < c->ncols; k++) {
		if ((int)k == c->extra_col) {
			struct pg_buf json = {0};
			pg_extra_json(c, r, &json);
			struct wm_value v = {.type = WM_STRING};
			v.u.s.ptr = json.p;
			v.u.s.len = json.len;
			int rc = json.oom ? -1 : put_field(out, c->col_oid[k], &v);
			pg_buf_free(&json);
			if (rc < 0)
				return -1;
		} else if (put_field(out, c->col_oid[k], c->vals[k]) < 0) {
			return -1;
		}
	}
	return out->oom ? WM_E_NOMEM : 0;
}

int pg_oid_is_time(uint32_t oid)
{
	return oid == OID_TIMESTAMP || oid == OID_TIMESTAMPTZ;
}
