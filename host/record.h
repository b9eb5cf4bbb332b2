/* Typed records: a small ordered set of named fields, an optional key and
 * the source's position. */
#ifndef WMH_RECORD_H
#define WMH_RECORD_H
#include "wmhost/plugin.h"

struct wmh_field {
	char *name;
	struct wm_value v; /* strings and bytes point into owned memory */
};

/* Memory for names and values comes from the record's own arena: a block
 * inside the record, then chunks that never move. A check record (about 25
 * fields) costs one allocation to build and one free to release. */
#define WMH_INLINE_FIELDS 24
#define WMH_INLINE_BYTES 152 /* keeps the whole record within 1 KiB (see record.c) */

struct wmh_chunk {
	struct wmh_chunk *next;
	size_t cap, used;
	char data[];
};

struct wm_record {
	struct wm_record *pool_next; /* host-internal: link while recycled (record.c) */
	struct wmh_field *fields; /* inline_fields until it outgrows them */
	size_t n, cap;
	uint64_t name_bloom; /* a bit per name hash: most setters skip the search */
	struct wmh_chunk *chunks;
	size_t inline_used;
	void *key;
	size_t key_len;
	int has_pos;
	uint32_t stream;
	int64_t offset;
	uint64_t ack_seq; /* host-internal: slot in the ack tracker */
	int ack_tracked;
	int dead; /* host-internal: a source dead letter travelling to the sink thread */
	struct wmh_field inline_fields[WMH_INLINE_FIELDS];
	char inline_bytes[WMH_INLINE_BYTES];
};

struct wm_record *wmh_record_new(void);
void wmh_record_free(struct wm_record *r);
/* Frees the records kept for reuse and stops recycling; called once at exit
 * so leak checkers see a clean heap. */
void wmh_record_pool_release(void);
/* A pipeline that starts may have this many more records alive at once
 * (negative when it ends): the pool keeps up to that many for reuse. */
void wmh_record_pool_reserve(long long records);
/* How many records were served from recycled ones (tests). */
unsigned long long wmh_record_pool_reused(void);
int wmh_record_set_null(struct wm_record *r, const char *name);
int wmh_record_set_bool(struct wm_record *r, const char *name, int v);
int wmh_record_set_int(struct wm_record *r, const char *name, int64_t v);
int wmh_record_set_double(struct wm_record *r, const char *name, double v);
int wmh_record_set_string(struct wm_record *r, const char *name, const char *s);
int wmh_record_set_stringn(struct wm_record *r, const char *name, const char *s, size_t len);
int wmh_record_set_bytes(struct wm_record *r, const char *name, const void *p, size_t len);
int wmh_record_set_time(struct wm_record *r, const char *name, int64_t us);
int wmh_record_set_key(struct wm_record *r, const void *key, size_t len);
const void *wmh_record_key(const struct wm_record *r, size_t *len);
size_t wmh_record_count(const struct wm_record *r);
const char *wmh_record_name_at(const struct wm_record *r, size_t i);
const struct wm_value *wmh_record_value_at(const struct wm_record *r, size_t i);
const struct wm_value *wmh_record_get(const struct wm_record *r, const char *name);
void wmh_record_set_position(struct wm_record *r, uint32_t stream, int64_t offset);
int wmh_record_position(const struct wm_record *r, uint32_t *stream, int64_t *offset);

/* JSON (json.c). */
int wmh_record_to_json(const struct wm_record *r, char **out, size_t *len);
int wmh_record_to_json_buf(const struct wm_record *r, char *buf, size_t cap, size_t *len);
struct wm_record *wmh_record_from_json(const char *json, size_t len, char *err, size_t errlen);
/* RFC 3339 UTC with microseconds: "2026-11-27T21:50:00.123456Z" (28 bytes + NUL). */
void wmh_format_time(int64_t us, char out[32]);
int wmh_parse_time(const char *s, size_t n, int64_t *us);
/* RFC 3339, strictly: YYYY-MM-DD(T| )hh:mm:ss[.fraction](Z|+hh:mm|-hh:mm),
 * every field in range (days per month, offsets up to 15:59), a fraction
 * beyond microseconds rounded as PostgreSQL rounds it, a leap second :60
 * counted as the next second, years 0001-9999 after the offset. */
int wmh_parse_rfc3339(const char *s, size_t n, int64_t *us);
#endif
