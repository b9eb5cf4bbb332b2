/*
 * http_probe: PCRE2 patterns matched across a streamed body.
 *
 * The body arrives in chunks of any size. Each chunk is matched with
 * PCRE2_PARTIAL_HARD: a full match ends the search; a partial match tells us
 * where a match may still begin, so only the bytes from there on (plus the
 * pattern's lookbehind) are carried into the next chunk; no match at all
 * carries only the lookbehind context. A pattern split across chunk
 * boundaries therefore matches, and the carry never exceeds the bytes
 * scanned (max_body), usually it is a few bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "http_probe.h"

/* Extra context kept before a candidate start: one character, so \b and
 * multiline ^ see what came before the carried bytes. */
#define HP_ASSERT_CONTEXT 1
/* Carry capacity a slot keeps between checks. */
#define HP_CARRY_KEEP (64 * 1024)
#define HP_CARRY_MIN 256

int hp_pattern_compile(const char *src, struct hp_pattern **out, char *err, size_t errlen)
{
	int errcode = 0;
	PCRE2_SIZE erroff = 0;
	uint32_t lookbehind = 0;
	struct hp_pattern *p = calloc(1, sizeof(*p));
	if (!p || !(p->src = strdup(src)))
		goto nomem;
	/* Bytes, not characters: a chunk boundary may split a UTF-8 sequence,
	 * which UTF mode would reject as invalid, so (*UTF) is refused. */
	p->code = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, PCRE2_NEVER_UTF, &errcode, &erroff, NULL);
	if (!p->code) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		snprintf(err, errlen, "invalid pattern at offset %zu: %s", (size_t)erroff, (char *)msg);
		goto fail;
	}
	/* JIT is an optimisation: without it the interpreter gives the same answers. */
	(void)pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD);
	pcre2_pattern_info(p->code, PCRE2_INFO_MAXLOOKBEHIND, &lookbehind);
	p->context = (size_t)lookbehind + HP_ASSERT_CONTEXT;
	p->refs = 1;
	*out = p;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	if (p)
		free(p->src);
	free(p);
	return -1;
}

void hp_pattern_unref(struct hp_pattern *p)
{
	if (!p || --p->refs > 0)
		return;
	pcre2_code_free(p->code);
	free(p->src);
	free(p);
}

int hp_matcher_init(struct hp_matcher *m, const struct hp_pattern *pat, size_t limit)
{
	pcre2_match_data *md = m->md;
	unsigned char *carry = m->carry;
	size_t cap = m->carry_cap;
	memset(m, 0, sizeof(*m));
	m->md = md;
	m->carry = carry;
	m->carry_cap = cap;
	m->pat = pat;
	m->limit = limit;
	if (pat && !m->md && !(m->md = pcre2_match_data_create(1, NULL)))
		return -1;
	return 0;
}

void hp_matcher_reset(struct hp_matcher *m)
{
	/* A rare long partial match grew the carry: do not keep that much per
	 * idle slot. */
	if (m->carry_cap > HP_CARRY_KEEP) {
		free(m->carry);
		m->carry = NULL;
		m->carry_cap = 0;
	}
	m->carry_len = 0;
	m->cand = 0;
	m->pat = NULL;
}

void hp_matcher_free(struct hp_matcher *m)
{
	pcre2_match_data_free(m->md);
	free(m->carry);
	memset(m, 0, sizeof(*m));
}

/* Makes room for n bytes in the carry; 0 or -1 (out of memory). */
static int carry_reserve(struct hp_matcher *m, size_t n)
{
	if (n <= m->carry_cap)
		return 0;
	size_t cap = m->carry_cap ? m->carry_cap : HP_CARRY_MIN;
	while (cap < n)
		cap *= 2;
	unsigned char *p = realloc(m->carry, cap);
	if (!p)
		return -1;
	m->carry = p;
	m->carry_cap = cap;
	return 0;
}

/* Keeps subj[keep..len) as the new carry; cand is relative to keep. */
static void carry_keep(struct hp_matcher *m, const unsigned char *subj, size_t len, size_t keep, uint64_t base,
                       size_t cand)
{
	size_t n = len - keep;
	if (subj == m->carry) {
		memmove(m->carry, m->carry + keep, n);
	} else {
		if (carry_reserve(m, n) < 0) {
			m->failed = PCRE2_ERROR_NOMEMORY;
			return;
		}
		memcpy(m->carry, subj + keep, n);
	}
	m->carry_len = n;
	m->carry_base = base + keep;
	m->cand = cand;
}

static int match_at(struct hp_matcher *m, const unsigned char *subj, size_t len, size_t start, uint64_t base,
                    uint32_t opts)
{
	if (base > 0)
		opts |= PCRE2_NOTBOL; /* subject does not begin at the body's start */
	return pcre2_match(m->pat->code, subj, len, start, opts, m->md, NULL);
}

void hp_matcher_feed(struct hp_matcher *m, const unsigned char *p, size_t n)
{
	const unsigned char *subj;
	size_t len, start;
	uint64_t base;

	if (!m->pat || m->matched || m->failed || n == 0)
		return;
	if (m->carry_len == 0) {
		subj = p;
		len = n;
		start = 0;
		base = m->carry_base;
	} else {
		if (carry_reserve(m, m->carry_len + n) < 0) {
			m->failed = PCRE2_ERROR_NOMEMORY;
			return;
		}
		memcpy(m->carry + m->carry_len, p, n);
		m->carry_len += n;
		subj = m->carry;
		len = m->carry_len;
		start = m->cand;
		base = m->carry_base;
	}

	int rc = match_at(m, subj, len, start, base, PCRE2_PARTIAL_HARD);
	if (rc >= 0) {
		m->matched = 1;
		m->carry_len = 0;
		return;
	}
	size_t ctx = m->pat->context;
	if (rc == PCRE2_ERROR_PARTIAL) {
		size_t ps = pcre2_get_ovector_pointer(m->md)[0];
		size_t keep = ps > ctx ? ps - ctx : 0;
		carry_keep(m, subj, len, keep, base, ps - keep);
	} else if (rc == PCRE2_ERROR_NOMATCH) {
		/* No match can start in what we saw: keep only the context. */
		size_t keep = len > ctx ? len - ctx : 0;
		carry_keep(m, subj, len, keep, base, len - keep);
	} else {
		m->failed = rc;
		m->carry_len = 0;
	}
	/* Where the next chunk's first byte sits in the body when nothing is
	 * carried (carry_keep always keeps the tail, so this is rare). */
	if (m->carry_len == 0)
		m->carry_base = base + len;
}

void hp_matcher_finish(struct hp_matcher *m)
{
	if (!m->pat || m->matched || m->failed)
		return;
	static const unsigned char empty[1];
	const unsigned char *subj = m->carry_len ? m->carry : empty;
	/* End of body: a candidate that was partial may now match for real
	 * ($ and friends), and an empty body is matched once. */
	int rc = match_at(m, subj, m->carry_len, m->cand, m->carry_base, 0);
	if (rc >= 0)
		m->matched = 1;
	else if (rc != PCRE2_ERROR_NOMATCH)
		m->failed = rc;
	m->carry_len = 0;
}
