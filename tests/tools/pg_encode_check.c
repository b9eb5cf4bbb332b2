/* Checks pg_sink's value encoders without a server: doubles printed for
 * COPY read back bit for bit, timestamps format like gmtime and parse back,
 * RFC 3339 strings with offsets land on the right instant. Prints one
 * "ok - ..." / "not ok - ..." line per property. */
#include "../../plugins/pg_sink/pg_copy.c"
#include "../../plugins/pg_sink/pg_binary.c"
#include "../../host/api.h"

#include <time.h>

const struct wm_host_api *PG_API;

#define US_PER_S INT64_C(1000000)
#define YEAR_1_US INT64_C(-62135596800000000)   /* 0001-01-01T00:00:00Z */
#define YEAR_9999_US INT64_C(253402300799000000) /* 9999-12-31T23:59:59Z */
#define SAMPLES 1000000

/* xorshift64: deterministic, no libc rand() state. */
static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void report(int ok, const char *what, const char *detail)
{
	printf("%s - %s%s%s\n", ok ? "ok" : "not ok", what, detail[0] ? ": " : "", detail);
}

static void doubles_read_back_exactly(void)
{
	char detail[160] = "";
	int bad = 0;
	for (int i = 0; i < SAMPLES && !bad; i++) {
		double d;
		uint64_t r = next();
		switch (i % 4) {
		case 0: d = (double)(int64_t)(r % 100000000) / 1000.0; break; /* ms with µs digits */
		case 1: memcpy(&d, &r, sizeof d); break;                      /* any bit pattern */
		case 2: d = (double)(int64_t)r / (double)(r % 997 + 1); break;
		default: d = -(double)(r % 1000000) / 8.0; break;
		}
		if (isnan(d))
			continue;
		struct pg_buf b = {0};
		put_double(&b, d);
		double back = strtod(b.p, NULL);
		if (memcmp(&back, &d, sizeof d) != 0 && !(d == 0 && back == 0)) {
			snprintf(detail, sizeof detail, "%.17g printed as %s", d, b.p);
			bad = 1;
		}
		pg_buf_free(&b);
	}
	report(!bad, "doubles_printed_for_copy_read_back_bit_for_bit", detail);
	struct pg_buf b = {0};
	put_double(&b, 10.125);
	pg_buf_add(&b, " ", 1);
	put_double(&b, -0.5);
	pg_buf_add(&b, " ", 1);
	put_double(&b, 72.0);
	report(strcmp(b.p, "10.125 -0.5 72") == 0, "timings_print_short", b.p);
	pg_buf_free(&b);
}

static void times_format_like_gmtime_and_parse_back(void)
{
	char detail[200] = "";
	int bad = 0;
	for (int i = 0; i < SAMPLES && !bad; i++) {
		int64_t us = YEAR_1_US + (int64_t)(next() % (uint64_t)(YEAR_9999_US - YEAR_1_US));
		char mine[48], want[64];
		format_time(us, mine, 1);
		time_t s = (time_t)(us >= 0 ? us / US_PER_S : -((-us + US_PER_S - 1) / US_PER_S));
		int64_t frac = us - (int64_t)s * US_PER_S;
		struct tm tm;
		gmtime_r(&s, &tm);
		int n = snprintf(want, sizeof want, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		if (frac)
			snprintf(want + n, sizeof want - (size_t)n, ".%06lld+00", (long long)frac);
		else
			snprintf(want + n, sizeof want - (size_t)n, "+00");
		int64_t back;
		if (strcmp(mine, want) != 0 || pg_parse_time(mine, strlen(mine), &back) != 0 || back != us) {
			snprintf(detail, sizeof detail, "%lld: got %s, want %s", (long long)us, mine, want);
			bad = 1;
		}
	}
	report(!bad, "timestamps_format_like_gmtime_and_parse_back", detail);
	char bc[48];
	format_time(YEAR_1_US - 86400 * US_PER_S, bc, 1);
	/* The day before 0001-01-01 is 31 December 1 BC (there is no year 0). */
	report(strcmp(bc, "0001-12-31 00:00:00.000000+00 BC") == 0, "years_before_1_are_written_bc", bc);
}

static void rfc3339_offsets_land_on_the_same_instant(void)
{
	static const char *const same[] = {"2026-11-27T21:55:30.5Z", "2026-11-28T03:25:30.5+05:30",
	                                   "2026-11-27T16:55:30.500000-05:00", "2026-11-27 21:55:30.5+00",
	                                   "2026-11-27t21:55:30.500z"};
	int64_t first = 0, us;
	int ok = 1;
	char detail[160] = "";
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		if (pg_parse_time(same[i], strlen(same[i]), &us) != 0 || (i && us != first)) {
			snprintf(detail, sizeof detail, "%s", same[i]);
			ok = 0;
		}
		if (!i)
			first = us;
	}
	report(ok, "rfc3339_strings_with_offsets_land_on_the_same_instant", detail);
	static const char *const bad[] = {"2026-11-27T21:55:30", "2026-13-01T00:00:00Z", "yesterday", "2026-11-27T21:55Z",
	                                  "2026-11-27T21:55:30.Z", "2026-11-27T21:55:30Zjunk"};
	ok = 1;
	detail[0] = '\0';
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (pg_parse_time(bad[i], strlen(bad[i]), &us) == 0) {
			snprintf(detail, sizeof detail, "accepted %s", bad[i]);
			ok = 0;
		}
	}
	report(ok, "unreadable_or_zoneless_time_strings_are_left_to_postgresql", detail);
}

/* A value a real cannot hold goes to text COPY (PostgreSQL refuses it)
 * instead of being stored as Infinity or 0 by the binary path. */
static void reals_out_of_range_fall_back_to_text(void)
{
	struct wm_value big = {.type = WM_DOUBLE, .u.d = 1e300}, tiny = {.type = WM_DOUBLE, .u.d = 1e-50},
	                fine = {.type = WM_DOUBLE, .u.d = 1.5}, inf = {.type = WM_DOUBLE, .u.d = INFINITY};
	struct pg_buf b = {0};
	int ok = put_field(&b, OID_FLOAT4, &big) < 0 && put_field(&b, OID_FLOAT4, &tiny) < 0 &&
	         put_field(&b, OID_FLOAT4, &fine) == 0 && put_field(&b, OID_FLOAT4, &inf) == 0 &&
	         put_field(&b, OID_FLOAT8, &big) == 0;
	pg_buf_free(&b);
	report(ok, "reals_out_of_range_fall_back_to_text_copy", "");
}

int main(void)
{
	PG_API = wmh_host_api(); /* times are read by the host's parse_time */
	doubles_read_back_exactly();
	times_format_like_gmtime_and_parse_back();
	rfc3339_offsets_land_on_the_same_instant();
	reals_out_of_range_fall_back_to_text();
	return 0;
}
