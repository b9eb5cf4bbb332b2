/* Test-only source for pg_sink: emits deterministic check records (the v1
 * check schema) with every field type, NULLs, unicode, control characters,
 * times as WM_TIME or as zoned strings, and optionally bad rows, so tests can
 * replay the same records and count exactly what landed. */
#include <wmhost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct wm_host_api *API;

#define US_PER_SEC INT64_C(1000000)
#define US_PER_MS 1000

struct pg_feed_ctx {
	struct wm_instance *inst;
	int64_t start, count, rate, bad_every, targets;
	int64_t time_base_us, time_step_us;
	char *agent, *time_format, *bad_kind;
	int extra_field, with_bytes;
	volatile int stop;
};

static const struct wm_option pg_feed_options[] = {
	{"start", WM_OPT_INT, "0", 0, 0, "first sequence number (check_id is <agent>-<seq>)", 0, NULL, NULL},
	{"count", WM_OPT_INT, "10", 0, 0, "records to emit", 0, NULL, NULL},
	{"rate", WM_OPT_INT, "0", 0, 0, "records per second (0 = as fast as possible)", 0, NULL, NULL},
	{"agent", WM_OPT_STRING, "agent-1", 0, 0, "agent name", 0, NULL, NULL},
	{"targets", WM_OPT_INT, "5", 0, 0, "number of distinct targets", 0, NULL, NULL},
	{"time_base", WM_OPT_INT, "0", 0, 0, "time of seq 0 in µs since the epoch (0 = now at start)", 0, NULL, NULL},
	{"time_step", WM_OPT_DURATION, "1ms", 0, 0, "time between consecutive records", 0, NULL, NULL},
	{"time_format", WM_OPT_STRING, "native", 0, 0,
	 "native (WM_TIME), utc (RFC 3339 string with Z), offset (string with +05:30) or nanos (+05:30 and nine "
	 "fraction digits, 789 nanoseconds past the microsecond)",
	 0, NULL, NULL},
	{"bad_every", WM_OPT_INT, "0", 0, 0, "every Nth record (seq % N == N-1) carries a bad value", 0, NULL, NULL},
	{"bad_kind", WM_OPT_STRING, "type", 0, 0, "type (status_code is not a number) or null (check_id is null)", 0,
	 NULL, NULL},
	{"extra_field", WM_OPT_BOOL, "false", 0, 0, "add a field no column is declared for (region)", 0, NULL, NULL},
	{"with_bytes", WM_OPT_BOOL, "false", 0, 0, "add a bytes field (raw)", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static void feed_free(struct pg_feed_ctx *c)
{
	if (!c)
		return;
	free(c->agent);
	free(c->time_format);
	free(c->bad_kind);
	free(c);
}

static int feed_init(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **ctx, char *err,
                     size_t errlen)
{
	struct pg_feed_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->inst = inst;
	c->start = API->cfg_int(cfg, "start");
	c->count = API->cfg_int(cfg, "count");
	c->rate = API->cfg_int(cfg, "rate");
	c->targets = API->cfg_int(cfg, "targets");
	c->bad_every = API->cfg_int(cfg, "bad_every");
	c->time_base_us = API->cfg_int(cfg, "time_base");
	c->time_step_us = API->cfg_duration_ms(cfg, "time_step") * US_PER_MS;
	c->agent = strdup(API->cfg_str(cfg, "agent"));
	c->time_format = strdup(API->cfg_str(cfg, "time_format"));
	c->bad_kind = strdup(API->cfg_str(cfg, "bad_kind"));
	c->extra_field = API->cfg_bool(cfg, "extra_field");
	c->with_bytes = API->cfg_bool(cfg, "with_bytes");
	if (c->targets < 1)
		c->targets = 1;
	if (strcmp(c->time_format, "native") && strcmp(c->time_format, "utc") && strcmp(c->time_format, "offset") &&
	    strcmp(c->time_format, "nanos")) {
		feed_free(c);
		return API->cfg_errorf(cfg, "time_format", err, errlen, "expected native, utc, offset or nanos");
	}
	*ctx = c;
	return 0;
}

/* RFC 3339 with microseconds (and `more` fraction digits after them);
 * offset_min shifts the wall clock shown. */
static void time_string(int64_t us, int offset_min, const char *more, char *out, size_t len)
{
	int64_t shifted = us + (int64_t)offset_min * 60 * US_PER_SEC;
	time_t secs = (time_t)(shifted / US_PER_SEC);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char zone[16];
	if (offset_min)
		snprintf(zone, sizeof zone, "%c%02d:%02d", offset_min < 0 ? '-' : '+', abs(offset_min) / 60,
		         abs(offset_min) % 60);
	else
		snprintf(zone, sizeof zone, "Z");
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld%s%s", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(shifted % US_PER_SEC), more, zone);
}

static void set_time(struct pg_feed_ctx *c, struct wm_record *r, const char *name, int64_t us)
{
	if (strcmp(c->time_format, "native") == 0) {
		API->record_set_time(r, name, us);
		return;
	}
	char buf[80];
	int nanos = strcmp(c->time_format, "nanos") == 0;
	time_string(us, nanos || strcmp(c->time_format, "offset") == 0 ? 330 : 0, nanos ? "789" : "", buf, sizeof buf);
	API->record_set_string(r, name, buf);
}

static struct wm_record *make_record(struct pg_feed_ctx *c, int64_t seq, int64_t base)
{
	static const char *const results[] = {"ok", "status_mismatch", "timeout", "pattern_mismatch"};
	struct wm_record *r = API->record_new();
	if (!r)
		return NULL;
	char buf[256];
	int64_t t = base + seq * c->time_step_us;
	int64_t target = seq % c->targets;
	int ok = seq % 10 != 9;
	int bad = c->bad_every > 0 && seq % c->bad_every == c->bad_every - 1;
	snprintf(buf, sizeof buf, "%s-%lld", c->agent, (long long)seq);
	if (bad && strcmp(c->bad_kind, "null") == 0)
		API->record_set_null(r, "check_id");
	else
		API->record_set_string(r, "check_id", buf);
	API->record_set_string(r, "agent", c->agent);
	/* Unicode target names for every third target. */
	if (target % 3 == 2)
		snprintf(buf, sizeof buf, "zielseite-%lld-ümlaut-日本-✓", (long long)target);
	else
		snprintf(buf, sizeof buf, "target-%lld", (long long)target);
	API->record_set_string(r, "target", buf);
	snprintf(buf, sizeof buf, "https://t%lld.example.test/path?q=1&x='y'", (long long)target);
	API->record_set_string(r, "url", buf);
	set_time(c, r, "time", t);
	API->record_set_bool(r, "success", ok);
	API->record_set_string(r, "result", ok ? "ok" : results[1 + seq % 3]);
	if (ok)
		API->record_set_null(r, "error");
	else
		API->record_set_string(r, "error", "tab\there, newline\nhere, backslash \\ and quote ' \" ; DROP TABLE x;--");
	if (bad && strcmp(c->bad_kind, "type") == 0)
		API->record_set_string(r, "status_code", "not-a-number");
	else
		API->record_set_int(r, "status_code", ok ? 200 : 503);
	API->record_set_double(r, "response_time_ms", 10.0 + (double)(seq % 1000) / 8.0);
	if (seq % 7 == 0)
		API->record_set_null(r, "dns_ms");
	else
		API->record_set_double(r, "dns_ms", 0.125 * (double)(seq % 13));
	API->record_set_double(r, "connect_ms", 1.5);
	API->record_set_double(r, "tls_ms", 2.25);
	API->record_set_double(r, "ttfb_ms", 5.0 + (double)(seq % 100) / 3.0);
	if (seq % 2) {
		API->record_set_string(r, "pattern", "Welcome|Willkommen");
		API->record_set_bool(r, "pattern_matched", seq % 4 == 1);
	} else {
		API->record_set_null(r, "pattern");
		API->record_set_null(r, "pattern_matched");
	}
	API->record_set_int(r, "body_bytes", 1000 + seq % 5000);
	API->record_set_int(r, "redirects", seq % 3);
	API->record_set_string(r, "http_version", "1.1");
	API->record_set_string(r, "remote_ip", "127.0.0.1");
	if (seq % 5 == 0)
		API->record_set_null(r, "tls_expires_at");
	else
		set_time(c, r, "tls_expires_at", t + 90 * 86400 * US_PER_SEC);
	API->record_set_int(r, "schema", 1);
	if (c->extra_field)
		API->record_set_string(r, "region", "eu-\"central\"");
	if (c->with_bytes) {
		unsigned char raw[4] = {0, 0xff, '\\', (unsigned char)(seq & 0xff)};
		API->record_set_bytes(r, "raw", raw, sizeof raw);
	}
	return r;
}

static int feed_run(void *ctx, struct wm_emitter *em)
{
	struct pg_feed_ctx *c = ctx;
	int64_t base = c->time_base_us ? c->time_base_us : API->now_us();
	int64_t start = API->mono_us();
	for (int64_t i = 0; i < c->count && !API->stopping(em) && !c->stop; i++) {
		if (c->rate > 0) {
			int64_t due = start + i * US_PER_SEC / c->rate;
			int64_t now = API->mono_us();
			if (due > now) {
				struct timespec ts = {(due - now) / US_PER_SEC, ((due - now) % US_PER_SEC) * 1000};
				nanosleep(&ts, NULL);
			}
		}
		struct wm_record *r = make_record(c, c->start + i, base);
		if (!r)
			return -1;
		API->record_set_position(r, 0, c->start + i);
		if (API->emit(em, r) != 0)
			break;
	}
	return 0;
}

static void feed_stop(void *ctx)
{
	((struct pg_feed_ctx *)ctx)->stop = 1;
}

static void feed_destroy(void *ctx)
{
	feed_free(ctx);
}

static const struct wm_plugin pg_feed_plugin = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_plugin),
	.name = "pg_feed",
	.version = "0.1.0",
	.description = "test-only: deterministic check records for pg_sink tests and benchmarks",
	.kinds = WM_KIND_SOURCE,
	.options = pg_feed_options,
	.init = feed_init,
	.run = feed_run,
	.stop = feed_stop,
	.destroy = feed_destroy,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	if (host_abi != WM_ABI_VERSION)
		return NULL;
	API = api;
	return &pg_feed_plugin;
}
