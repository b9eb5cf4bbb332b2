/* Test-only sink: writes the seq of every record it accepts to a file, and
 * can be told to ask for retries, fail chosen records, or fail fatally, so
 * the host's retry, dead-letter and drain paths can be tested. With
 * `pipelined` it leaves batches in flight (WM_PENDING) and finishes them
 * from poll() after `delay`, newest first, to test the host's pipelining. */
#include <wmhost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct wm_host_api *API;

struct flaky_ctx {
	struct wm_instance *inst;
	FILE *out, *batches;
	int64_t retry_first, fail_every, fatal_after, delay_ms, calls;
	int retry_partial, fatal_done;
	int64_t first_us;
	int pipelined;
	int64_t finishes;
	struct pending {
		struct wm_batch *b;
		int64_t since_us;
	} *pending;
	size_t n_pending, cap_pending;
};

static const struct wm_option flaky_options[] = {
	{"out", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "file receiving one seq per durable record", 0, NULL, NULL},
	{"batches", WM_OPT_STRING, NULL, 0, 0, "file receiving 'size ms_since_start' per write call", 0, NULL, NULL},
	{"retry_first", WM_OPT_INT, "0", 0, 0, "the first N write calls ask to retry", 0, NULL, NULL},
	{"retry_partial", WM_OPT_BOOL, "false", 0, 0, "before asking to retry, mark the first half done", 0, NULL,
	 NULL},
	{"fail_every", WM_OPT_INT, "0", 0, 0, "records whose seq is a multiple of N are refused", 0, NULL, NULL},
	{"fatal_after", WM_OPT_INT, "0", 0, 0, "the Nth write call fails fatally (0 = never)", 0, NULL, NULL},
	{"fatal_done", WM_OPT_BOOL, "false", 0, 0, "a fatal write call first writes and marks every record done", 0,
	 NULL, NULL},
	{"delay", WM_OPT_DURATION, "0ms", 0, 0, "time each write call takes (pipelined: each batch)", 0, NULL, NULL},
	{"pipelined", WM_OPT_BOOL, "false", 0, 0, "write() returns WM_PENDING; poll() finishes batches", 0, NULL,
	 NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static int flaky_init(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **ctx, char *err,
                      size_t errlen)
{
	struct flaky_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->inst = inst;
	c->retry_first = API->cfg_int(cfg, "retry_first");
	c->retry_partial = API->cfg_bool(cfg, "retry_partial");
	c->fail_every = API->cfg_int(cfg, "fail_every");
	c->fatal_after = API->cfg_int(cfg, "fatal_after");
	c->fatal_done = API->cfg_bool(cfg, "fatal_done");
	c->delay_ms = API->cfg_duration_ms(cfg, "delay");
	c->pipelined = API->cfg_bool(cfg, "pipelined") && role == WM_ROLE_SINK;
	c->first_us = API->mono_us();
	if (!API->check_only(inst)) {
		c->out = fopen(API->cfg_str(cfg, "out"), "a");
		const char *b = API->cfg_str(cfg, "batches");
		if (b)
			c->batches = fopen(b, "a");
		if (!c->out || (b && !c->batches)) {
			if (c->out)
				fclose(c->out);
			free(c);
			return API->cfg_errorf(cfg, "out", err, errlen, "cannot open output file");
		}
	}
	*ctx = c;
	return 0;
}

static int64_t seq_of(const struct wm_record *r)
{
	const struct wm_value *v = API->record_get(r, "seq");
	return v && v->type == WM_INT ? v->u.i : -1;
}

/* The verdict on a batch: records written, refused or left for a retry. */
static enum wm_result judge(struct flaky_ctx *c, struct wm_batch *b, int64_t call)
{
	size_t n = API->batch_len(b);
	if (c->fatal_after > 0 && call >= c->fatal_after) {
		for (size_t i = 0; c->fatal_done && i < n; i++) {
			fprintf(c->out, "%lld\n", (long long)seq_of(API->batch_at(b, i)));
			API->batch_done(b, i);
		}
		fflush(c->out);
		return WM_FATAL;
	}
	if (call <= c->retry_first) {
		if (c->retry_partial) {
			for (size_t i = 0; i < n / 2; i++) {
				fprintf(c->out, "%lld\n", (long long)seq_of(API->batch_at(b, i)));
				API->batch_done(b, i);
			}
			fflush(c->out);
		}
		return WM_RETRY;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t s = seq_of(API->batch_at(b, i));
		if (c->fail_every > 0 && s % c->fail_every == 0) {
			char why[64];
			snprintf(why, sizeof why, "seq %lld refused by test", (long long)s);
			API->batch_fail(b, i, why);
			continue;
		}
		fprintf(c->out, "%lld\n", (long long)s);
	}
	fflush(c->out);
	return WM_OK;
}

static enum wm_result flaky_write(void *ctx, struct wm_batch *b)
{
	struct flaky_ctx *c = ctx;
	size_t n = API->batch_len(b);
	c->calls++;
	if (c->pipelined) {
		if (c->n_pending == c->cap_pending) {
			size_t cap = c->cap_pending ? 2 * c->cap_pending : 8;
			struct pending *p = realloc(c->pending, cap * sizeof *p);
			if (!p)
				return WM_RETRY;
			c->pending = p;
			c->cap_pending = cap;
		}
		c->pending[c->n_pending].b = b;
		c->pending[c->n_pending].since_us = API->mono_us();
		c->n_pending++;
		/* the third column: batches in flight now, this one included */
		if (c->batches)
			fprintf(c->batches, "%zu %lld %zu\n", n, (long long)((API->mono_us() - c->first_us) / 1000),
			        c->n_pending);
		return WM_PENDING;
	}
	if (c->batches)
		fprintf(c->batches, "%zu %lld\n", n, (long long)((API->mono_us() - c->first_us) / 1000));
	if (c->delay_ms > 0) {
		struct timespec ts = {c->delay_ms / 1000, (c->delay_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	return judge(c, b, c->calls);
}

/* Finishes the batches pending for at least `delay`, newest first (so the
 * host sees them out of order); when the host gives up, all of them, as
 * not written. */
static void flaky_poll(void *ctx, int timeout_ms)
{
	struct flaky_ctx *c = ctx;
	int64_t now = API->mono_us();
	for (size_t k = c->n_pending; k-- > 0;) {
		struct wm_batch *b = c->pending[k].b;
		enum wm_result res;
		if (API->batch_aborting(b))
			res = WM_RETRY;
		else if (now - c->pending[k].since_us >= c->delay_ms * 1000)
			res = judge(c, b, ++c->finishes); /* counted as they finish */
		else
			continue;
		memmove(&c->pending[k], &c->pending[k + 1], (c->n_pending - k - 1) * sizeof *c->pending);
		c->n_pending--;
		API->batch_finish(b, res);
	}
	if (c->n_pending > 0 && timeout_ms > 0) {
		struct timespec ts = {0, (timeout_ms < 5 ? timeout_ms : 5) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void flaky_destroy(void *ctx)
{
	struct flaky_ctx *c = ctx;
	if (c->out)
		fclose(c->out);
	if (c->batches)
		fclose(c->batches);
	free(c->pending);
	free(c);
}

static const struct wm_plugin flaky_plugin = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_plugin),
	.name = "flaky",
	.version = "1.0.0",
	.description = "test sink: retries, refusals and fatal errors on demand",
	.kinds = WM_KIND_SINK,
	.options = flaky_options,
	.init = flaky_init,
	.write = flaky_write,
	.destroy = flaky_destroy,
	.poll = flaky_poll,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	if (host_abi != WM_ABI_VERSION)
		return NULL;
	API = api;
	return &flaky_plugin;
}
