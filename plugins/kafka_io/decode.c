/* kafka_io decoding: strict JSON into a record, then the declared field types (time, bytes, ...). */
#include "kafka_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	enum wm_type type;
} type_names[] = {
	{"bool", WM_BOOL},     {"boolean", WM_BOOL},  {"int", WM_INT},   {"integer", WM_INT},
	{"double", WM_DOUBLE}, {"float", WM_DOUBLE},  {"string", WM_STRING}, {"time", WM_TIME},
	{"timestamp", WM_TIME}, {"bytes", WM_BYTES},
};

int kafka_type_from_name(const char *name, enum wm_type *out)
{
	for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
		if (strcmp(name, type_names[i].name) == 0) {
			*out = type_names[i].type;
			return 0;
		}
	}
	return -1;
}

static const char *type_name(enum wm_type t)
{
	switch (t) {
	case WM_NULL: return "null";
	case WM_BOOL: return "bool";
	case WM_INT: return "int";
	case WM_DOUBLE: return "double";
	case WM_STRING: return "string";
	case WM_BYTES: return "bytes";
	case WM_TIME: return "time";
	}
	return "?";
}

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard base64 with padding; *out is malloc'ed. */
static int decode_base64(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	if (n % 4 != 0)
		return -1;
	unsigned char *buf = malloc(n / 4 * 3 + 1);
	size_t o = 0;
	if (!buf)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64_value((unsigned char)s[i + k])) < 0) {
				free(buf);
				return -1;
			}
		}
		/* canonical only: the bits a padded group does not use are 0
		 * ("QR==" is not another spelling of "QQ==") */
		if ((pad == 2 && (v[1] & 0xf)) || (pad == 1 && (v[2] & 0x3))) {
			free(buf);
			return -1;
		}
		unsigned triple = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		buf[o++] = (unsigned char)(triple >> 16);
		if (pad < 2)
			buf[o++] = (unsigned char)(triple >> 8);
		if (pad < 1)
			buf[o++] = (unsigned char)triple;
	}
	*out = buf;
	*outlen = o;
	return 0;
}

/* Checks or converts one declared field; 0, or -1 with reason. */
static int apply_type(struct wm_record *r, const struct kafka_field_type *ft, char *reason, size_t reasonlen)
{
	const struct wm_value *v = API->record_get(r, ft->name);
	if (!v || v->type == WM_NULL || v->type == ft->type)
		return 0;
	int rc = -1;
	if (ft->type == WM_DOUBLE && v->type == WM_INT) {
		rc = API->record_set_double(r, ft->name, (double)v->u.i);
	} else if (ft->type == WM_TIME && v->type == WM_STRING) {
		int64_t us;
		if (!WM_API_HAS(API, parse_time)) {
			snprintf(reason, reasonlen, "field '%s': this wmhost cannot read times (update it)", ft->name);
			return -1;
		}
		if (API->parse_time(v->u.s.ptr, v->u.s.len, &us) != 0) {
			snprintf(reason, reasonlen, "field '%s': not an RFC 3339 time", ft->name);
			return -1;
		}
		rc = API->record_set_time(r, ft->name, us);
	} else if (ft->type == WM_BYTES && v->type == WM_STRING) {
		unsigned char *bytes;
		size_t n;
		if (decode_base64(v->u.s.ptr, v->u.s.len, &bytes, &n) != 0) {
			snprintf(reason, reasonlen, "field '%s': not base64", ft->name);
			return -1;
		}
		rc = API->record_set_bytes(r, ft->name, bytes, n);
		free(bytes);
	} else {
		snprintf(reason, reasonlen, "field '%s': expected %s, got %s", ft->name, type_name(ft->type),
		         type_name(v->type));
		return -1;
	}
	if (rc != 0)
		snprintf(reason, reasonlen, "out of memory");
	return rc == 0 ? 0 : -1;
}

struct wm_record *kafka_decode(const struct kafka_io_ctx *c, const void *payload, size_t len, char *reason,
                               size_t reasonlen)
{
	char err[256];
	struct wm_record *r = API->record_from_json(payload, len, err, sizeof err);
	if (!r) {
		snprintf(reason, reasonlen, "undecodable JSON: %s", err);
		return NULL;
	}
	for (size_t i = 0; i < c->n_field_types; i++) {
		if (apply_type(r, &c->field_types[i], reason, reasonlen) != 0) {
			API->record_free(r);
			return NULL;
		}
	}
	return r;
}
