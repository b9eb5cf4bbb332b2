/* A growable byte buffer (always NUL-terminated) used by the JSON encoder,
 * logging and error messages. */
#ifndef WMH_STRBUF_H
#define WMH_STRBUF_H
#include <stddef.h>
#include <string.h>
#include "wmhost/plugin.h"

struct strbuf {
	char *buf;
	size_t len, cap;
	int oom;   /* set once an allocation failed; later appends are no-ops */
	int fixed; /* 1: buf is the caller's memory of cap bytes, never
	              reallocated; running out of room sets oom.
	              2: buf starts in the caller's memory (a stack buffer)
	              and moves to the heap when it outgrows it */
};
#define STRBUF_INIT {NULL, 0, 0, 0, 0}
/* A strbuf writing into the caller's memory (cap bytes, NUL included). */
#define STRBUF_FIXED(p, n) {(p), 0, (n), 0, 1}
/* A strbuf starting in the caller's memory and growing onto the heap. */
#define STRBUF_ON(p, n) {(p), 0, (n), 0, 2}

int strbuf_grow(struct strbuf *sb, size_t more);
/* The appenders are inline: the JSON encoder calls them per token, and
 * they rarely need to grow the buffer. */
static inline void strbuf_appendn(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap && strbuf_grow(sb, n))
		return;
	if (n)
		memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = 0;
}
static inline void strbuf_appendc(struct strbuf *sb, char c)
{
	if (sb->len + 2 > sb->cap && strbuf_grow(sb, 1))
		return;
	sb->buf[sb->len++] = c;
	sb->buf[sb->len] = 0;
}
void strbuf_append(struct strbuf *sb, const char *s);
void strbuf_appendf(struct strbuf *sb, const char *fmt, ...) WM_PRINTF(2, 3);
/* Appends s as a JSON string literal; invalid UTF-8 becomes U+FFFD. */
void strbuf_json_string(struct strbuf *sb, const char *s, size_t n);
/* Length of the prefix of s that a JSON string can hold as it is (no
 * control characters, quotes, backslashes or non-ASCII bytes). */
size_t strbuf_plain_prefix(const char *s, size_t n);
/* The same without AVX2 (tests compare both). */
size_t strbuf_plain_prefix_portable(const char *s, size_t n);
/* Hands the buffer to the caller (who frees it); the strbuf is reset. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_free(struct strbuf *sb);
#endif
