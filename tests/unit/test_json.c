/* Records and JSON: round trips (unicode, escapes, huge numbers, times) and
 * a strict decoder that refuses malformed input with a reason. */
#include "record.h"
#include "strbuf.h"
#include "unit.h"

#include <pthread.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static char *enc(const struct wm_record *r)
{
	char *out;
	size_t len;
	if (wmh_record_to_json(r, &out, &len))
		return NULL;
	return out;
}

static struct wm_record *dec(const char *s, char *err)
{
	return wmh_record_from_json(s, strlen(s), err, 256);
}

static void record_fields_keep_order_and_replace(void)
{
	struct wm_record *r = wmh_record_new();
	wmh_record_set_int(r, "a", 1);
	wmh_record_set_string(r, "b", "x");
	wmh_record_set_int(r, "a", 2);
	CHECK(wmh_record_count(r) == 2);
	CHECK_STR(wmh_record_name_at(r, 0), "a");
	CHECK(wmh_record_get(r, "a")->u.i == 2);
	CHECK(wmh_record_get(r, "zz") == NULL);
	wmh_record_set_string(r, "b", NULL);
	CHECK(wmh_record_get(r, "b")->type == WM_NULL);
	wmh_record_set_key(r, "k1", 2);
	size_t kl;
	CHECK(memcmp(wmh_record_key(r, &kl), "k1", 2) == 0 && kl == 2);
	wmh_record_free(r);
	wmh_record_free(NULL);
}

static void records_grow_past_inline_storage(void)
{
	struct wm_record *r = wmh_record_new();
	char name[32], big[5000];
	memset(big, 'b', sizeof big - 1);
	big[sizeof big - 1] = 0;
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "field_%d", i);
		if (i % 10 == 0)
			wmh_record_set_string(r, name, big); /* larger than a chunk */
		else
			wmh_record_set_int(r, name, i);
	}
	wmh_record_set_string(r, "field_5", "replaced"); /* replace keeps position */
	CHECK(wmh_record_count(r) == 100);
	CHECK_STR(wmh_record_name_at(r, 5), "field_5");
	CHECK_STR(wmh_record_get(r, "field_5")->u.s.ptr, "replaced");
	CHECK(wmh_record_get(r, "field_99")->u.i == 99);
	CHECK(wmh_record_get(r, "field_90")->u.s.len == sizeof big - 1);
	CHECK(wmh_record_get(r, "field_100") == NULL);
	char key[3000];
	memset(key, 'k', sizeof key);
	wmh_record_set_key(r, key, sizeof key);
	size_t kl;
	CHECK(memcmp(wmh_record_key(r, &kl), key, sizeof key) == 0 && kl == sizeof key);
	wmh_record_set_key(r, NULL, 0);
	CHECK(wmh_record_key(r, &kl) == NULL && kl == 0);
	wmh_record_free(r); /* ASan checks every chunk is released */
}

static void every_type_round_trips(void)
{
	struct wm_record *r = wmh_record_new();
	wmh_record_set_null(r, "n");
	wmh_record_set_bool(r, "t", 1);
	wmh_record_set_bool(r, "f", 0);
	wmh_record_set_int(r, "i", -42);
	wmh_record_set_int(r, "imax", INT64_MAX);
	wmh_record_set_int(r, "imin", INT64_MIN);
	wmh_record_set_double(r, "d", 0.1);
	wmh_record_set_double(r, "dbig", 1.7976931348623157e308);
	wmh_record_set_double(r, "dint", 3.0);
	wmh_record_set_string(r, "s", "plain");
	wmh_record_set_time(r, "time", 1764280200123456LL);
	char *j = enc(r);
	CHECK(j != NULL);
	char err[256];
	struct wm_record *back = dec(j, err);
	CHECK(back != NULL);
	if (back) {
		CHECK(wmh_record_count(back) == wmh_record_count(r));
		CHECK(wmh_record_get(back, "n")->type == WM_NULL);
		CHECK(wmh_record_get(back, "t")->u.b == 1);
		CHECK(wmh_record_get(back, "f")->type == WM_BOOL && wmh_record_get(back, "f")->u.b == 0);
		CHECK(wmh_record_get(back, "i")->u.i == -42);
		CHECK(wmh_record_get(back, "imax")->u.i == INT64_MAX);
		CHECK(wmh_record_get(back, "imin")->u.i == INT64_MIN);
		CHECK(wmh_record_get(back, "d")->u.d == 0.1);
		CHECK(wmh_record_get(back, "dbig")->u.d == 1.7976931348623157e308);
		CHECK(wmh_record_get(back, "dint")->type == WM_DOUBLE);
		CHECK(wmh_record_get(back, "time")->type == WM_TIME);
		CHECK(wmh_record_get(back, "time")->u.t == 1764280200123456LL);
		char *j2 = enc(back);
		CHECK_STR(j2, j);
		free(j2);
	}
	CHECK_HAS(j, "\"time\":\"2025-11-27T21:50:00.123456Z\"");
	free(j);
	wmh_record_free(back);
	wmh_record_free(r);
}

static void unicode_and_escapes_round_trip(void)
{
	const char *s = "quote\" back\\slash \n\t\r\b\f ctl\x01 é 日本 🙂 /";
	struct wm_record *r = wmh_record_new();
	wmh_record_set_string(r, "s", s);
	wmh_record_set_string(r, "ключ", "значение");
	char *j = enc(r);
	CHECK_HAS(j, "\\\"");
	CHECK_HAS(j, "\\u0001");
	CHECK_HAS(j, "🙂");
	char err[256];
	struct wm_record *b = dec(j, err);
	CHECK(b && strcmp(wmh_record_get(b, "s")->u.s.ptr, s) == 0);
	CHECK(b && strcmp(wmh_record_get(b, "ключ")->u.s.ptr, "значение") == 0);
	wmh_record_free(b);
	free(j);
	wmh_record_free(r);
	/* escaped forms decode to the same text */
	b = dec("{\"e\":\"\\u00e9\\ud83d\\ude42\\/\"}", err);
	CHECK(b && strcmp(wmh_record_get(b, "e")->u.s.ptr, "é🙂/") == 0);
	wmh_record_free(b);
}

static void invalid_utf8_is_replaced_on_encode_and_refused_on_decode(void)
{
	struct wm_record *r = wmh_record_new();
	wmh_record_set_string(r, "s", "ok\xff\xfe" "end\xc0\xaf");
	char *j = enc(r);
	CHECK_STR(j, "{\"s\":\"ok\\ufffd\\ufffdend\\ufffd\\ufffd\"}");
	free(j);
	wmh_record_free(r);
	char err[256];
	CHECK(dec("{\"s\":\"bad\xff\"}", err) == NULL);
	CHECK_HAS(err, "invalid UTF-8");
	CHECK(dec("{\"s\":\"\xed\xa0\x80\"}", err) == NULL); /* encoded surrogate */
	CHECK(dec("{\"s\":\"\\ud800\"}", err) == NULL);
	CHECK_HAS(err, "lone high surrogate");
	CHECK(dec("{\"s\":\"\\udc00\"}", err) == NULL);
}

static void huge_numbers(void)
{
	char err[256];
	struct wm_record *b = dec("{\"big\":123456789012345678901234567890,\"e\":1e300,\"neg\":-0}", err);
	CHECK(b != NULL);
	if (b) {
		CHECK(wmh_record_get(b, "big")->type == WM_DOUBLE);
		CHECK(fabs(wmh_record_get(b, "big")->u.d - 1.2345678901234568e29) < 1e15);
		CHECK(wmh_record_get(b, "e")->u.d == 1e300);
		CHECK(wmh_record_get(b, "neg")->type == WM_INT);
	}
	wmh_record_free(b);
	CHECK(dec("{\"x\":1e999}", err) == NULL);
	CHECK_HAS(err, "number out of range");
	struct wm_record *r = wmh_record_new();
	wmh_record_set_double(r, "nan", NAN);
	char *j = enc(r);
	CHECK_STR(j, "{\"nan\":null}");
	free(j);
	wmh_record_free(r);
}

static void malformed_input_is_refused_with_a_reason(void)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{"", "expected '{'"},
		{"[1]", "expected '{'"},
		{"{", "expected a string key"},
		{"{\"a\":1", "expected ',' or '}'"},
		{"{\"a\":1,}", "expected a string key"},
		{"{\"a\" 1}", "expected ':'"},
		{"{\"a\":01}", "expected ',' or '}'"},
		{"{\"a\":1.}", "digit expected after '.'"},
		{"{\"a\":tru}", "unexpected character"},
		{"{\"a\":\"x}", "unterminated string"},
		{"{\"a\":\"\\q\"}", "unknown escape"},
		{"{\"a\":\"\x01\"}", "control character"},
		{"{\"a\":1,\"a\":2}", "duplicate key 'a'"},
		{"{\"a\":{\"b\":1}}", "nested object in key 'a'"},
		{"{\"a\":[1]}", "nested array in key 'a'"},
		{"{\"a\":1} x", "trailing data"},
		{"{a:1}", "expected a string key"},
		{"{\"a\":'x'}", "unexpected character"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		struct wm_record *r = dec(cases[i].in, err);
		CHECK(r == NULL);
		if (r || !strstr(err, cases[i].why))
			printf("#   input %zu '%s' gave '%s'\n", i, cases[i].in, err);
		CHECK_HAS(err, cases[i].why);
		wmh_record_free(r);
	}
	char err[256];
	struct wm_record *r = dec("  {}  ", err);
	CHECK(r && wmh_record_count(r) == 0);
	wmh_record_free(r);
}

static void times_parse_strictly(void)
{
	int64_t us;
	CHECK(wmh_parse_time("1970-01-01T00:00:00Z", 20, &us) == 0 && us == 0);
	CHECK(wmh_parse_time("2026-11-27T21:50:00.5Z", 22, &us) == 0 && us == 1795816200500000LL);
	CHECK(wmh_parse_time("2026-11-27 21:50:00Z", 20, &us) != 0);
	CHECK(wmh_parse_time("2026-13-27T21:50:00Z", 20, &us) != 0);
	char t[32];
	wmh_format_time(-1, t);
	CHECK_STR(t, "1969-12-31T23:59:59.999999Z");
	/* a string that merely looks like a date stays a string */
	char err[256];
	struct wm_record *r = dec("{\"d\":\"2026-11-27\"}", err);
	CHECK(r && wmh_record_get(r, "d")->type == WM_STRING);
	wmh_record_free(r);
}

/* RFC 3339 as every plugin reads it (API parse_time). */
static int64_t t3339(const char *s)
{
	int64_t us;
	return wmh_parse_rfc3339(s, strlen(s), &us) == 0 ? us : INT64_MIN;
}

static void rfc3339_is_strict_and_reads_like_postgresql(void)
{
	int64_t d0 = t3339("2026-03-03T00:00:00Z");
	/* days per month, leap years */
	CHECK(t3339("2026-02-31T00:00:00Z") == INT64_MIN); /* timegm would say 2026-03-03 */
	CHECK(t3339("2026-02-29T00:00:00Z") == INT64_MIN);
	CHECK(t3339("2026-04-31T00:00:00Z") == INT64_MIN);
	CHECK(t3339("2024-02-29T00:00:00Z") == 1709164800LL * 1000000);
	CHECK(t3339("2000-02-29T00:00:00Z") != INT64_MIN && t3339("1900-02-29T00:00:00Z") == INT64_MIN);
	CHECK(d0 == 1772496000LL * 1000000);
	/* separators and zones */
	CHECK(t3339("2026-03-03t00:00:00z") == d0 && t3339("2026-03-03 00:00:00Z") == d0);
	CHECK(t3339("2026-03-03T02:30:00+02:30") == d0 && t3339("2026-03-02T20:00:00-04:00") == d0);
	CHECK(t3339("2026-03-03T15:59:00+15:59") == d0);
	CHECK(t3339("2026-03-03T16:00:00+16:00") == INT64_MIN); /* PostgreSQL: displacement out of range */
	CHECK(t3339("2026-03-03T00:00:00+02:60") == INT64_MIN);
	CHECK(t3339("2026-03-03T00:00:00+0200") == INT64_MIN);
	CHECK(t3339("2026-03-03T00:00:00") == INT64_MIN); /* no zone */
	CHECK(t3339("2026-03-03T24:00:00Z") == INT64_MIN);
	/* fractions: up to 6 digits exact, more rounded to the microsecond
	 * (PostgreSQL rounds; truncating made a replay miss its row) */
	CHECK(t3339("2026-03-03T00:00:00.5Z") == d0 + 500000);
	CHECK(t3339("2026-03-03T00:00:00.1234567Z") == d0 + 123457);
	CHECK(t3339("2026-03-03T00:00:00.12345649Z") == d0 + 123456);
	CHECK(t3339("2026-03-02T23:59:59.9999999Z") == d0);
	CHECK(t3339("2026-03-03T00:00:00.Z") == INT64_MIN);
	/* a leap second counts as the next second */
	CHECK(t3339("2026-03-02T23:59:60Z") == d0);
	CHECK(t3339("2026-03-02T23:59:61Z") == INT64_MIN);
	/* years 0001-9999, also after the offset */
	CHECK(t3339("0000-01-01T00:00:00Z") == INT64_MIN);
	CHECK(t3339("0001-01-01T00:00:00Z") == -62135596800LL * 1000000);
	CHECK(t3339("0001-01-01T00:00:00+00:01") == INT64_MIN);
	CHECK(t3339("9999-12-31T23:59:59.999999Z") == 253402300800LL * 1000000 - 1);
	CHECK(t3339("9999-12-31T23:59:59.999999-23:59") == INT64_MIN);
	CHECK(t3339("9999-12-31T23:59:59.9999999Z") == INT64_MIN); /* rounds into year 10000 */
	/* what JSON decoding turns into a time is only the canonical form */
	int64_t us;
	CHECK(wmh_parse_time("2026-03-03T00:00:00+00:00", 25, &us) != 0);
	CHECK(wmh_parse_time("2026-03-03T00:00:00.1234567Z", 28, &us) != 0);
	CHECK(wmh_parse_time("2026-02-31T00:00:00Z", 20, &us) != 0);
	char err[256];
	struct wm_record *r = dec("{\"d\":\"2026-02-31T00:00:00Z\"}", err);
	CHECK(r && wmh_record_get(r, "d")->type == WM_STRING);
	wmh_record_free(r);
}

/* The vector scanners agree with a byte-by-byte one. */
static void fast_string_scan_matches_bytewise_scan(void)
{
	unsigned seed = 12345;
	int mismatches = 0;
	for (int t = 0; t < 100000; t++) {
		char s[224];
		size_t n = (seed = seed * 1103515245u + 12345u) % 224;
		/* every other string is mostly plain, so the 64-byte blocks of
		 * the AVX2 scanner are crossed with the special byte anywhere */
		unsigned range = (t & 1) ? 64 : 4096;
		for (size_t i = 0; i < n; i++) {
			unsigned r = (seed = seed * 1103515245u + 12345u) >> 8;
			unsigned kind = r % range;
			s[i] = kind >= 64 ? (char)('a' + r % 26)
			     : kind < 58 ? (char)(0x20 + r % 0x60) : kind == 58 ? '"' : kind == 59 ? '\\'
			     : kind < 62 ? (char)(r % 0x20) : (char)(0x80 | (r & 0x7f));
		}
		size_t ref = 0;
		while (ref < n) {
			unsigned char c = (unsigned char)s[ref];
			if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
				break;
			ref++;
		}
		/* the CPU's best variant, and the portable one */
		mismatches += strbuf_plain_prefix(s, n) != ref;
		mismatches += strbuf_plain_prefix_portable(s, n) != ref;
	}
	CHECK(mismatches == 0);
}

/* Strings with escapes and UTF-8 at every offset around the vector widths
 * come back unchanged from both encoders. */
static void escapes_at_every_offset_round_trip(void)
{
	static const char *specials[] = {"\"", "\\", "\n", "\x01", "\xc3\xa9", "\xe2\x82\xac", "/"};
	int bad = 0;
	for (size_t len = 1; len < 160; len++) {
		for (size_t pos = 0; pos < len; pos++) {
			const char *sp = specials[(len + pos) % (sizeof specials / sizeof *specials)];
			char str[192];
			size_t k = 0;
			for (size_t i = 0; i < len; i++) {
				if (i == pos) {
					memcpy(str + k, sp, strlen(sp));
					k += strlen(sp);
				} else {
					str[k++] = (char)('a' + i % 26);
				}
			}
			str[k] = 0;
			struct wm_record *r = wmh_record_new();
			wmh_record_set_string(r, "s", str);
			char *json = enc(r), buf[512], err[256];
			size_t blen = 0;
			int rc = wmh_record_to_json_buf(r, buf, sizeof buf, &blen);
			struct wm_record *back = json ? dec(json, err) : NULL;
			const struct wm_value *v = back ? wmh_record_get(back, "s") : NULL;
			if (!v || strcmp(v->u.s.ptr, str) != 0 || rc != 0 || blen != strlen(json) ||
			    memcmp(buf, json, blen) != 0)
				bad++;
			free(json);
			wmh_record_free(r);
			wmh_record_free(back);
		}
	}
	CHECK(bad == 0);
}

/* record_to_json_buf writes the same bytes as record_to_json into the
 * caller's memory, and says exactly how much room it needs when short. */
static void json_into_caller_memory(void)
{
	struct wm_record *r = wmh_record_new();
	char big[900];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	wmh_record_set_string(r, "url", "https://example.com/\"q\"");
	wmh_record_set_int(r, "status", 200);
	wmh_record_set_string(r, "body", big);
	wmh_record_set_time(r, "ts", 1764000000123456);
	char *ref;
	size_t ref_len, len = 0;
	CHECK(wmh_record_to_json(r, &ref, &ref_len) == 0);
	char buf[2048];
	CHECK(wmh_record_to_json_buf(r, buf, sizeof buf, &len) == 0);
	CHECK(len == ref_len && memcmp(buf, ref, len) == 0 && buf[len] == 0);
	/* one byte short (no room for the NUL): refused, with the exact need */
	memset(buf, '#', sizeof buf);
	CHECK(wmh_record_to_json_buf(r, buf, ref_len, &len) == WM_E_SPACE);
	CHECK(len == ref_len + 1);
	CHECK(buf[ref_len] == '#'); /* nothing written past cap */
	CHECK(wmh_record_to_json_buf(r, buf, len, &len) == 0 && len == ref_len && memcmp(buf, ref, len) == 0);
	CHECK(wmh_record_to_json_buf(r, NULL, 0, &len) == WM_E_SPACE && len == ref_len + 1);
	free(ref);
	wmh_record_free(r);
}

/* A recycled record starts empty: no fields, key or position of its last
 * life, and its kept arena chunk holds new values correctly. */
static void recycled_records_start_empty(void)
{
	char big[700];
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = 0;
	for (int round = 0; round < 3; round++) {
		struct wm_record *rs[300];
		for (int i = 0; i < 300; i++) {
			struct wm_record *r = wmh_record_new();
			CHECK(wmh_record_count(r) == 0 && !wmh_record_get(r, "big") && !wmh_record_position(r, NULL, NULL));
			size_t kl = 1;
			CHECK(wmh_record_key(r, &kl) == NULL && kl == 0);
			for (int f = 0; f < 30; f++) { /* past the inline fields */
				char name[16];
				snprintf(name, sizeof name, "f%d", f);
				wmh_record_set_int(r, name, f + i);
			}
			wmh_record_set_string(r, "big", big);
			wmh_record_set_string(r, "big2", big);
			wmh_record_set_key(r, "k", 1);
			wmh_record_set_position(r, 1, i);
			rs[i] = r;
		}
		for (int i = 0; i < 300; i++) {
			const struct wm_value *v = wmh_record_get(rs[i], "big2");
			CHECK(v && v->u.s.len == strlen(big) && strcmp(v->u.s.ptr, big) == 0);
			v = wmh_record_get(rs[i], "f29");
			CHECK(v && v->u.i == 29 + i);
			wmh_record_free(rs[i]);
		}
	}
}

struct frees {
	struct wm_record **rs;
	int n;
};

static void *free_all(void *arg)
{
	struct frees *f = arg;
	for (int i = 0; i < f->n; i++)
		wmh_record_free(f->rs[i]);
	return NULL;
}

static void *new_all(void *arg)
{
	struct frees *f = arg;
	for (int i = 0; i < f->n; i++)
		f->rs[i] = wmh_record_new();
	return NULL;
}

/* Records built on one thread and freed on another come back to the
 * building thread (in groups through the shared depot). */
static void records_freed_elsewhere_are_reused(void)
{
	struct wm_record *rs[256];
	for (int i = 0; i < 256; i++) {
		rs[i] = wmh_record_new();
		wmh_record_set_int(rs[i], "i", i);
	}
	struct frees f = {rs, 256};
	pthread_t t;
	pthread_create(&t, NULL, free_all, &f);
	pthread_join(t, NULL);
	/* a fresh thread has an empty cache: it can only be served from the
	 * depot, where the freeing thread moved full groups, and its cache
	 * too when it ended */
	unsigned long long before = wmh_record_pool_reused();
	pthread_create(&t, NULL, new_all, &f);
	pthread_join(t, NULL);
	CHECK(wmh_record_pool_reused() - before == 256);
	for (int i = 0; i < 256; i++)
		wmh_record_free(rs[i]);
}

/* The decoder's scratch space starts on the stack: keys and strings longer
 * than it move to the heap intact. */
static void long_keys_and_strings_decode_intact(void)
{
	char key[400], val[6000];
	for (size_t i = 0; i < sizeof key - 1; i++)
		key[i] = (char)('a' + i % 26);
	key[sizeof key - 1] = 0;
	for (size_t i = 0; i < sizeof val - 1; i++)
		val[i] = i % 97 == 0 ? '"' : (char)('A' + i % 26);
	val[sizeof val - 1] = 0;
	struct wm_record *r = wmh_record_new();
	wmh_record_set_string(r, key, val);
	wmh_record_set_string(r, "short", "x");
	char *json = enc(r);
	char err[256] = "";
	struct wm_record *back = json ? dec(json, err) : NULL;
	CHECK(back != NULL);
	const struct wm_value *v = back ? wmh_record_get(back, key) : NULL;
	CHECK(v && v->type == WM_STRING && v->u.s.len == strlen(val) && strcmp(v->u.s.ptr, val) == 0);
	v = back ? wmh_record_get(back, "short") : NULL;
	CHECK(v && strcmp(v->u.s.ptr, "x") == 0);
	free(json);
	wmh_record_free(r);
	wmh_record_free(back);
}

static void bytes_encode_as_base64(void)
{
	struct wm_record *r = wmh_record_new();
	wmh_record_set_bytes(r, "b", "\x00\xff\x10hi", 5);
	char *j = enc(r);
	CHECK_STR(j, "{\"b\":\"AP8QaGk=\"}");
	free(j);
	wmh_record_free(r);
}

int main(void)
{
	RUN(record_fields_keep_order_and_replace);
	RUN(records_grow_past_inline_storage);
	RUN(every_type_round_trips);
	RUN(unicode_and_escapes_round_trip);
	RUN(invalid_utf8_is_replaced_on_encode_and_refused_on_decode);
	RUN(huge_numbers);
	RUN(malformed_input_is_refused_with_a_reason);
	RUN(times_parse_strictly);
	RUN(rfc3339_is_strict_and_reads_like_postgresql);
	RUN(bytes_encode_as_base64);
	RUN(fast_string_scan_matches_bytewise_scan);
	RUN(escapes_at_every_offset_round_trip);
	RUN(json_into_caller_memory);
	RUN(long_keys_and_strings_decode_intact);
	RUN(recycled_records_start_empty);
	RUN(records_freed_elsewhere_are_reused);
	wmh_record_pool_release();
	return UNIT_EXIT();
}
