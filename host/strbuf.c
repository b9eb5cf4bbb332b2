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

void strbuf_append(struct strbuf *sb, const char *s)
{
	strbuf_appendn(sb, s, strlen(s));
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

/* The plain prefix of s (see strbuf_plain_prefix), also copied to dst
 * unless dst is NULL. dst must have room for n bytes: whole vectors are
 * stored before they are checked, so bytes past the prefix may be written
 * too (the caller overwrites them). */
static size_t plain_copy_sse2(char *dst, const char *s, size_t n)
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
		if (dst)
			_mm_storeu_si128((__m128i *)(void *)(dst + i), v);
		unsigned m = (unsigned)_mm_movemask_epi8(bad);
		if (m)
			return i + (size_t)__builtin_ctz(m);
		i += 16;
	}
#endif
	size_t j = i;
	while (j + 8 <= n) {
		uint64_t w;
		memcpy(&w, s + j, 8);
		if (!word_is_plain(w))
			break;
		j += 8;
	}
	while (j < n && !json_special[(unsigned char)s[j]])
		j++;
	if (dst && j > i)
		memcpy(dst + i, s + i, j - i);
	return j;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The same, 32 bytes at a time, on CPUs with AVX2 (chosen at start). */
__attribute__((target("avx2"))) static size_t plain_copy_avx2(char *dst, const char *s, size_t n)
{
	size_t i = 0;
	const __m256i space = _mm256_set1_epi8(0x20), quote = _mm256_set1_epi8('"'), bslash = _mm256_set1_epi8('\\');
	/* 64 bytes a turn while they are all plain (long values such as page
	 * excerpts); the first block with a special byte is found below */
	while (i + 64 <= n) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(s + i + 32));
		__m256i bad = _mm256_or_si256(
			_mm256_or_si256(_mm256_cmpgt_epi8(space, a),
		                        _mm256_or_si256(_mm256_cmpeq_epi8(a, quote), _mm256_cmpeq_epi8(a, bslash))),
			_mm256_or_si256(_mm256_cmpgt_epi8(space, b),
		                        _mm256_or_si256(_mm256_cmpeq_epi8(b, quote), _mm256_cmpeq_epi8(b, bslash))));
		if (!_mm256_testz_si256(bad, bad))
			break;
		if (dst) {
			_mm256_storeu_si256((__m256i *)(void *)(dst + i), a);
			_mm256_storeu_si256((__m256i *)(void *)(dst + i + 32), b);
		}
		i += 64;
	}
	while (i + 32 <= n) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
		__m256i bad = _mm256_or_si256(_mm256_cmpgt_epi8(space, v),
		                              _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, bslash)));
		if (dst)
			_mm256_storeu_si256((__m256i *)(void *)(dst + i), v);
		unsigned m = (unsigned)_mm256_movemask_epi8(bad);
		if (m)
			return i + (size_t)__builtin_ctz(m);
		i += 32;
	}
	if (i < n && n >= 32) {
		/* the tail: the last 32 bytes in one look (overlapping what is
		 * already checked) before the narrower loops */
		__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(s + n - 32));
		__m256i bad = _mm256_or_si256(_mm256_cmpgt_epi8(space, v),
		                              _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, bslash)));
		if (_mm256_testz_si256(bad, bad)) {
			if (dst)
				_mm256_storeu_si256((__m256i *)(void *)(dst + n - 32), v);
			return n;
		}
	}
	return i + plain_copy_sse2(dst ? dst + i : NULL, s + i, n - i);
}
#endif

static size_t (*plain_copy)(char *dst, const char *s, size_t n) = plain_copy_sse2;

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((constructor)) static void choose_plain_copy(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		plain_copy = plain_copy_avx2;
}
#endif

size_t strbuf_plain_prefix(const char *s, size_t n)
{
	return plain_copy(NULL, s, n);
}

size_t strbuf_plain_prefix_portable(const char *s, size_t n)
{
	return plain_copy_sse2(NULL, s, n);
}

void strbuf_json_string(struct strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (sb->len + n + 3 > sb->cap && strbuf_grow(sb, n + 2))
		return;
	sb->buf[sb->len++] = '"';
	size_t i = 0;
	if (n < 16) {
		/* field names and most values: a byte loop beats the vector
		 * setup; stops at the first byte that needs more than a copy */
		char *d = sb->buf + sb->len;
		while (i < n && !json_special[(unsigned char)s[i]]) {
			d[i] = s[i];
			i++;
		}
		sb->len += i;
	}
	while (i < n) {
		/* escapes may have used the room reserved above */
		if (sb->len + (n - i) + 2 > sb->cap && strbuf_grow(sb, n - i + 1))
			return;
		size_t k = plain_copy(sb->buf + sb->len, s + i, n - i);
		sb->len += k;
		i += k;
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
		if (p != sb->buf || !sb->fixed)
			free(p); /* never the caller's memory */
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
	sb->fixed = 0;
}
