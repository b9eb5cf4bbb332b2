/* Typed records. Fields are kept in insertion order in a small array: a
 * check record has about 25 fields, so a linear lookup beats hashing, and a
 * 64-bit filter of name hashes lets most setters append without looking. */
#include "record.h"

#include <stdlib.h>
#include <string.h>

/* glibc serves blocks up to about 1 KiB from a per-thread cache and larger
 * ones through a much slower path, so records and arena chunks stay within
 * 1 KiB unless a single value is larger. */
#define CHUNK_MIN (1000 - sizeof(struct wmh_chunk))
_Static_assert(sizeof(struct wm_record) <= 1024, "a record must fit glibc's small-block cache");

struct wm_record *wmh_record_new(void)
{
	struct wm_record *r = malloc(sizeof *r);
	if (!r)
		return NULL;
	/* only the header needs zeroing; the inline arrays are filled as used */
	memset(r, 0, offsetof(struct wm_record, inline_fields));
	r->fields = r->inline_fields;
	r->cap = WMH_INLINE_FIELDS;
	return r;
}

void wmh_record_free(struct wm_record *r)
{
	if (!r)
		return;
	for (struct wmh_chunk *c = r->chunks, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	if (r->fields != r->inline_fields)
		free(r->fields);
	free(r);
}

/* n bytes from the record's arena; never moves once handed out. */
static char *arena(struct wm_record *r, size_t n)
{
	if (r->inline_used + n <= WMH_INLINE_BYTES) {
		char *p = r->inline_bytes + r->inline_used;
		r->inline_used += n;
		return p;
	}
	struct wmh_chunk *c = r->chunks;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = r->chunks;
		r->chunks = c;
	}
	char *p = c->data + c->used;
	c->used += n;
	return p;
}

static uint64_t name_bit(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return (uint64_t)1 << (h & 63);
}

/* Finds or appends the field called name; its old value is dropped (the
 * arena keeps its bytes until the record is freed). */
static struct wm_value *slot(struct wm_record *r, const char *name)
{
	uint64_t bit = name_bit(name);
	if (r->name_bloom & bit) {
		for (size_t i = 0; i < r->n; i++) {
			if (r->fields[i].name[0] == name[0] && strcmp(r->fields[i].name, name) == 0) {
				r->fields[i].v.type = WM_NULL;
				return &r->fields[i].v;
			}
		}
	}
	if (r->n == r->cap) {
		size_t cap = r->cap * 2;
		struct wmh_field *f;
		if (r->fields == r->inline_fields) {
			f = malloc(cap * sizeof *f);
			if (f)
				memcpy(f, r->fields, r->n * sizeof *f);
		} else {
			f = realloc(r->fields, cap * sizeof *f);
		}
		if (!f)
			return NULL;
		r->fields = f;
		r->cap = cap;
	}
	size_t len = strlen(name) + 1;
	char *n = arena(r, len);
	if (!n)
		return NULL;
	memcpy(n, name, len);
	r->name_bloom |= bit;
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
	struct wm_value *v = slot(r, name);
	if (!v)
		return WM_E_NOMEM;
	char *copy = arena(r, len + 1);
	if (!copy)
		return WM_E_NOMEM;
	if (len)
		memcpy(copy, p, len);
	copy[len] = 0;
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
		k = arena(r, len + 1);
		if (!k)
			return WM_E_NOMEM;
		memcpy(k, key, len);
		((char *)k)[len] = 0;
	}
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
	if (!(r->name_bloom & name_bit(name)))
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		if (r->fields[i].name[0] == name[0] && strcmp(r->fields[i].name, name) == 0)
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
