/* Growable buffer with JSON string escaping. */
#include "strbuf.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int strbuf_grow(struct strbuf *sb, size_t more)
{
	if (sb->oom)
		return -1;
	if (sb->len + more + 1 <= sb->cap)
		return 0;
	if (sb->fixed == 1) {
		sb->oom = 1;
		return -1;
	}
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < sb->len + more + 1)
		cap *= 2;
	char *p;
	if (sb->fixed == 2) {
		/* leave the caller's buffer */
		p = malloc(cap);
		if (p && sb->len)
			memcpy(p, sb->buf, sb->len);
		if (p)
			sb->fixed = 0;
	} else {
		p = realloc(sb->buf, cap);
	}
	if (!p) {
		sb->oom = 1;
		return -1;
	}
	sb->buf = p;
	sb->cap = cap;
	return 0;
}

void strbuf_appendn(struct strbuf *sb, const char *s, size_t n)
{
	if (strbuf_grow(sb, n))
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = 0;
}

void strbuf_append(struct strbuf *sb, const char *s)
{
	strbuf_appendn(sb, s, strlen(s));
}

void strbuf_appendc(struct strbuf *sb, char c)
{
	strbuf_appendn(sb, &c, 1);
}

void strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		strbuf_appendn(sb, tmp, (size_t)n);
		return;
	}
	if (strbuf_grow(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

/* Bytes that need more than a copy in a JSON string: controls, '"', '\\'
 * and everything non-ASCII (validated as UTF-8). */
static const unsigned char json_special[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};

/* Eight bytes at a time: true when none of them needs attention (no byte
 * below 0x20, no '"', no '\\', nothing non-ASCII). */
static inline int word_is_plain(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
	/* (x - k) & ~x has a byte's high bit set when that byte of x is below k
	 * (k <= 0x80): exact for "is there any", which is all we ask. Bytes
	 * with the high bit set are caught by the final "| w". */
	uint64_t hits = ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w;
	return (hits & high) == 0;
}

size_t strbuf_plain_prefix(const char *s, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	/* sixteen bytes at a time: signed compares flag bytes >= 0x80 (negative)
	 * and bytes < 0x20 in one go */
	const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	while (i + 16 <= n) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space),
		                           _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
		if (_mm_movemask_epi8(bad))
			break;
		i += 16;
	}
#endif
	while (i + 8 <= n) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		if (!word_is_plain(w))
			break;
		i += 8;
	}
	while (i < n && !json_special[(unsigned char)s[i]])
		i++;
	return i;
}

void strbuf_json_string(struct strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (strbuf_grow(sb, n + 2))
		return;
	sb->buf[sb->len++] = '"';
	size_t i = 0;
	while (i < n) {
		size_t start = i;
		i += strbuf_plain_prefix(s + i, n - i);
		if (i > start)
			strbuf_appendn(sb, s + start, i - start);
		if (i >= n)
			break;
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80) {
			size_t len = utf8_valid_prefix((const unsigned char *)s + i, n - i);
			if (len == 0) {
				strbuf_append(sb, "\\ufffd");
				i++;
			} else {
				strbuf_appendn(sb, s + i, len);
				i += len;
			}
			continue;
		}
		switch (c) {
		case '"': strbuf_append(sb, "\\\""); break;
		case '\\': strbuf_append(sb, "\\\\"); break;
		case '\n': strbuf_append(sb, "\\n"); break;
		case '\r': strbuf_append(sb, "\\r"); break;
		case '\t': strbuf_append(sb, "\\t"); break;
		case '\b': strbuf_append(sb, "\\b"); break;
		case '\f': strbuf_append(sb, "\\f"); break;
		default: {
			char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
			strbuf_append(sb, e);
		}
		}
		i++;
	}
	strbuf_appendc(sb, '"');
}

char *strbuf_detach(struct strbuf *sb, size_t *len)
{
	char *p = sb->buf;
	if (sb->fixed && p && !sb->oom) {
		/* the caller's memory cannot be handed over: copy it */
		p = malloc(sb->len + 1);
		if (p)
			memcpy(p, sb->buf, sb->len + 1);
		else
			sb->oom = 1;
	}
	if (!p && !sb->oom)
		p = calloc(1, 1);
	if (len)
		*len = sb->len;
	if (sb->oom) {
		free(p);
		p = NULL;
	}
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	sb->oom = 0;
	sb->fixed = 0;
	return p;
}

void strbuf_free(struct strbuf *sb)
{
	if (!sb->fixed)
		free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	sb->oom = 0;
}
