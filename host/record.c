/* Typed records. Fields are kept in insertion order in a small array: a
 * check record has about 25 fields, so a linear lookup beats hashing. */
#include "record.h"

#include <stdlib.h>
#include <string.h>

struct wm_record *wmh_record_new(void)
{
	return calloc(1, sizeof(struct wm_record));
}

static void value_clear(struct wm_value *v)
{
	if (v->type == WM_STRING || v->type == WM_BYTES)
		free((char *)v->u.s.ptr);
	v->type = WM_NULL;
}

void wmh_record_free(struct wm_record *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->fields[i].name);
		value_clear(&r->fields[i].v);
	}
	free(r->fields);
	free(r->key);
	free(r);
}

/* Finds or appends the field called name; its old value is released. */
static struct wm_value *slot(struct wm_record *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->fields[i].name, name) == 0) {
			value_clear(&r->fields[i].v);
			return &r->fields[i].v;
		}
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct wmh_field *f = realloc(r->fields, cap * sizeof *f);
		if (!f)
			return NULL;
		r->fields = f;
		r->cap = cap;
	}
	char *n = strdup(name);
	if (!n)
		return NULL;
	struct wmh_field *f = &r->fields[r->n++];
	f->name = n;
	f->v.type = WM_NULL;
	return &f->v;
}

int wmh_record_set_null(struct wm_record *r, const char *name)
{
	struct wm_value *v = slot(r, name);
	if (!v)
		return WM_E_NOMEM;
	return 0;
}

int wmh_record_set_bool(struct wm_record *r, const char *name, int b)
{
	struct wm_value *v = slot(r, name);
	if (!v)
		return WM_E_NOMEM;
	v->type = WM_BOOL;
	v->u.b = b ? 1 : 0;
	return 0;
}

int wmh_record_set_int(struct wm_record *r, const char *name, int64_t i)
{
	struct wm_value *v = slot(r, name);
	if (!v)
		return WM_E_NOMEM;
	v->type = WM_INT;
	v->u.i = i;
	return 0;
}

int wmh_record_set_double(struct wm_record *r, const char *name, double d)
{
	struct wm_value *v = slot(r, name);
	if (!v)
		return WM_E_NOMEM;
	v->type = WM_DOUBLE;
	v->u.d = d;
	return 0;
}

static int set_blob(struct wm_record *r, const char *name, enum wm_type t, const void *p, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return WM_E_NOMEM;
	if (len)
		memcpy(copy, p, len);
	copy[len] = 0;
	struct wm_value *v = slot(r, name);
	if (!v) {
		free(copy);
		return WM_E_NOMEM;
	}
	v->type = t;
	v->u.s.ptr = copy;
	v->u.s.len = len;
	return 0;
}

int wmh_record_set_string(struct wm_record *r, const char *name, const char *s)
{
	if (!s)
		return wmh_record_set_null(r, name);
	return set_blob(r, name, WM_STRING, s, strlen(s));
}

int wmh_record_set_stringn(struct wm_record *r, const char *name, const char *s, size_t len)
{
	if (!s)
		return wmh_record_set_null(r, name);
	return set_blob(r, name, WM_STRING, s, len);
}

int wmh_record_set_bytes(struct wm_record *r, const char *name, const void *p, size_t len)
{
	return set_blob(r, name, WM_BYTES, p, len);
}

int wmh_record_set_time(struct wm_record *r, const char *name, int64_t us)
{
	struct wm_value *v = slot(r, name);
	if (!v)
		return WM_E_NOMEM;
	v->type = WM_TIME;
	v->u.t = us;
	return 0;
}

int wmh_record_set_key(struct wm_record *r, const void *key, size_t len)
{
	void *k = NULL;
	if (key) {
		k = malloc(len + 1);
		if (!k)
			return WM_E_NOMEM;
		memcpy(k, key, len);
		((char *)k)[len] = 0;
	}
	free(r->key);
	r->key = k;
	r->key_len = key ? len : 0;
	return 0;
}

const void *wmh_record_key(const struct wm_record *r, size_t *len)
{
	if (len)
		*len = r->key_len;
	return r->key;
}

size_t wmh_record_count(const struct wm_record *r)
{
	return r->n;
}

const char *wmh_record_name_at(const struct wm_record *r, size_t i)
{
	return i < r->n ? r->fields[i].name : NULL;
}

const struct wm_value *wmh_record_value_at(const struct wm_record *r, size_t i)
{
	return i < r->n ? &r->fields[i].v : NULL;
}

const struct wm_value *wmh_record_get(const struct wm_record *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->fields[i].name, name) == 0)
			return &r->fields[i].v;
	return NULL;
}

void wmh_record_set_position(struct wm_record *r, uint32_t stream, int64_t offset)
{
	r->has_pos = 1;
	r->stream = stream;
	r->offset = offset;
}

int wmh_record_position(const struct wm_record *r, uint32_t *stream, int64_t *offset)
{
	if (!r->has_pos)
		return 0;
	if (stream)
		*stream = r->stream;
	if (offset)
		*offset = r->offset;
	return 1;
}
