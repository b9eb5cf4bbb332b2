/* Typed records. Fields are kept in insertion order in a small array: a
 * check record has about 25 fields, so a linear lookup beats hashing, and a
 * 64-bit filter of name hashes lets most setters append without looking. */
#include "record.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* glibc serves blocks up to about 1 KiB from a per-thread cache and larger
 * ones through a much slower path, so records and arena chunks stay within
 * 1 KiB unless a single value is larger. */
#define CHUNK_MIN (1000 - sizeof(struct wmh_chunk))
_Static_assert(sizeof(struct wm_record) <= 1024, "a record must fit glibc's small-block cache");

/*
 * Recycling. A pipeline builds records on its source thread and frees them
 * on its sink thread, which glibc handles badly: the freeing thread returns
 * each block to the allocating thread's arena under that arena's lock, and
 * the allocating thread then refills through malloc's slow path. So a freed
 * record (with one arena chunk, emptied) goes to a small cache of
 * the freeing thread; full groups of POOL_GROUP records move to a shared
 * depot, and an allocating thread whose cache is empty takes a whole group.
 * One lock round trip per POOL_GROUP records. The depot holds as many
 * records as the running pipelines can have alive at once (their queues
 * plus the batches in flight, see wmh_record_pool_reserve), at least
 * POOL_DEPOT_MIN: the records it keeps were all alive a moment before, so
 * it never raises a process's peak memory, only delays giving it back.
 */
#define POOL_GROUP 64
#define POOL_DEPOT_MIN 4096
#define POOL_CHUNK_MAX 4000

struct pool_cache {
	struct wm_record *head; /* linked through pool_next */
	size_t n;
	int registered; /* the thread-exit destructor is armed */
};

static _Thread_local struct pool_cache t_cache;
static pthread_mutex_t depot_mu = PTHREAD_MUTEX_INITIALIZER;
static struct wm_record **depot; /* group heads */
static _Atomic size_t depot_n; /* read without the lock only as a hint */
static size_t depot_cap, depot_reserved;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static atomic_int pool_off; /* WMHOST_RECORD_POOL=0, or after release at exit */
static atomic_ullong pool_reused; /* records handed out again (for tests) */

/* The record's memory while it waits in the pool is off limits to
 * AddressSanitizer users, so a use after free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_HIDE(r) ASAN_POISON_MEMORY_REGION(&(r)->fields, sizeof *(r) - offsetof(struct wm_record, fields))
#define POOL_SHOW(r) ASAN_UNPOISON_MEMORY_REGION(&(r)->fields, sizeof *(r) - offsetof(struct wm_record, fields))
#define CHUNK_HIDE(c) ASAN_POISON_MEMORY_REGION((c)->data, (c)->cap)
#define CHUNK_SHOW(c) ASAN_UNPOISON_MEMORY_REGION((c)->data, (c)->cap)
#else
#define POOL_HIDE(r) ((void)0)
#define POOL_SHOW(r) ((void)0)
#define CHUNK_HIDE(c) ((void)0)
#define CHUNK_SHOW(c) ((void)0)
#endif

static void really_free(struct wm_record *r)
{
	for (struct wmh_chunk *c = r->chunks, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	if (r->fields != r->inline_fields)
		free(r->fields);
	free(r);
}

static void free_list(struct wm_record *r)
{
	while (r) {
		struct wm_record *n = r->pool_next;
		POOL_SHOW(r);
		really_free(r);
		r = n;
	}
}

/* Groups the depot may hold (depot_mu held). */
static size_t depot_limit(void)
{
	return (depot_reserved + POOL_DEPOT_MIN) / POOL_GROUP;
}

/* Makes room for depot_limit() groups at once, so a spilling thread rarely
 * reallocs (depot_mu held; on failure the depot keeps its size). */
static void depot_fit(void)
{
	size_t limit = depot_limit();
	if (depot_cap >= limit)
		return;
	struct wm_record **d = realloc(depot, limit * sizeof *d);
	if (d) {
		depot = d;
		depot_cap = limit;
	}
}

/* Moves the first POOL_GROUP records of the thread's cache to the depot
 * (or frees them when the depot is full). */
static void cache_spill(struct pool_cache *tc)
{
	struct wm_record *group = tc->head, *last = group;
	for (size_t i = 1; i < POOL_GROUP; i++)
		last = last->pool_next;
	tc->head = last->pool_next;
	tc->n -= POOL_GROUP;
	last->pool_next = NULL;
	pthread_mutex_lock(&depot_mu);
	if (!atomic_load_explicit(&pool_off, memory_order_relaxed) && depot_n < depot_limit()) {
		depot_fit();
		if (depot_n < depot_cap) {
			depot[depot_n++] = group;
			group = NULL;
		}
	}
	pthread_mutex_unlock(&depot_mu);
	free_list(group);
}

/* A thread ends: what its cache holds goes to the depot in groups, the
 * rest is freed. */
static void cache_release(void *arg)
{
	struct pool_cache *tc = arg;
	while (tc->n >= POOL_GROUP)
		cache_spill(tc);
	free_list(tc->head);
	tc->head = NULL;
	tc->n = 0;
	tc->registered = 0; /* a record freed later re-arms the destructor */
}

static void make_key(void)
{
	const char *e = getenv("WMHOST_RECORD_POOL");
	if (e && strcmp(e, "0") == 0)
		atomic_store(&pool_off, 1);
	if (pthread_key_create(&exit_key, cache_release) != 0)
		atomic_store(&pool_off, 1);
}

/* Arms the thread-exit destructor that empties the thread's cache; 0 when
 * the thread may keep records. */
static int cache_register(struct pool_cache *tc)
{
	if (!tc->registered) {
		pthread_once(&key_once, make_key);
		if (!atomic_load_explicit(&pool_off, memory_order_relaxed) && pthread_setspecific(exit_key, tc) == 0)
			tc->registered = 1;
	}
	return tc->registered && !atomic_load_explicit(&pool_off, memory_order_relaxed) ? 0 : -1;
}

static struct wm_record *pool_get(void)
{
	struct pool_cache *tc = &t_cache;
	if (!tc->head) {
		if (cache_register(tc) != 0)
			return NULL;
		/* while the pool fills up (a pipeline's first records) there is
		 * nothing to take: no lock round trip per record */
		if (atomic_load_explicit(&depot_n, memory_order_relaxed) == 0)
			return NULL;
		pthread_mutex_lock(&depot_mu);
		if (depot_n > 0) {
			tc->head = depot[--depot_n];
			tc->n = POOL_GROUP;
		}
		pthread_mutex_unlock(&depot_mu);
		if (!tc->head)
			return NULL;
	}
	struct wm_record *r = tc->head;
	tc->head = r->pool_next;
	tc->n--;
	POOL_SHOW(r);
	atomic_fetch_add_explicit(&pool_reused, 1, memory_order_relaxed);
	return r;
}

static void pool_put(struct wm_record *r)
{
	struct pool_cache *tc = &t_cache;
	if (cache_register(tc) != 0) {
		really_free(r);
		return;
	}
	/* keep the record and its largest chunk of at most POOL_CHUNK_MAX,
	 * emptied (a source building similar records finds room for the same
	 * values again); drop the rest */
	struct wmh_chunk *keep = NULL;
	for (struct wmh_chunk *c = r->chunks; c; c = c->next)
		if (c->cap <= POOL_CHUNK_MAX && (!keep || c->cap > keep->cap))
			keep = c;
	for (struct wmh_chunk *c = r->chunks, *n; c; c = n) {
		n = c->next;
		if (c != keep)
			free(c);
	}
	if (keep) {
		keep->next = NULL;
		keep->used = 0;
		CHUNK_HIDE(keep);
	}
	r->chunks = keep;
	if (r->fields != r->inline_fields)
		free(r->fields);
	r->fields = r->inline_fields;
	POOL_HIDE(r);
	r->pool_next = tc->head;
	tc->head = r;
	if (++tc->n >= 2 * POOL_GROUP)
		cache_spill(tc);
}

void wmh_record_pool_reserve(long long records)
{
	pthread_mutex_lock(&depot_mu);
	if (records > 0 || (size_t)-records <= depot_reserved)
		depot_reserved += (size_t)records;
	else
		depot_reserved = 0;
	depot_fit(); /* now, not while a sink thread spills */
	/* over the new budget: give back whole groups */
	while (depot_n > depot_limit())
		free_list(depot[--depot_n]);
	pthread_mutex_unlock(&depot_mu);
}

unsigned long long wmh_record_pool_reused(void)
{
	return atomic_load(&pool_reused);
}

void wmh_record_pool_release(void)
{
	pthread_once(&key_once, make_key);
	atomic_store(&pool_off, 1);
	cache_release(&t_cache);
	pthread_mutex_lock(&depot_mu);
	while (depot_n > 0)
		free_list(depot[--depot_n]);
	free(depot);
	depot = NULL;
	depot_cap = 0;
	pthread_mutex_unlock(&depot_mu);
}

struct wm_record *wmh_record_new(void)
{
	struct wm_record *r = pool_get();
	struct wmh_chunk *chunk = NULL;
	if (r) {
		chunk = r->chunks;
		if (chunk)
			CHUNK_SHOW(chunk);
	} else {
		r = malloc(sizeof *r);
		if (!r)
			return NULL;
	}
	/* only the header needs zeroing; the inline arrays are filled as used */
	memset(r, 0, offsetof(struct wm_record, inline_fields));
	r->chunks = chunk;
	r->fields = r->inline_fields;
	r->cap = WMH_INLINE_FIELDS;
	return r;
}

void wmh_record_free(struct wm_record *r)
{
	if (!r)
		return;
	pool_put(r);
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
