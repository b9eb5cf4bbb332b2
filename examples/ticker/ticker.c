/* ticker: a complete out-of-tree source plugin, the example in README.md.
 * Emits {n, message, time} every `interval` until stopped or `count` is
 * reached. Build it against an installed wmhost with:
 *   cc -shared -o ticker.so ticker.c $(pkg-config --cflags --libs wmhost-plugin)
 */
#include <wmhost/plugin.h>

#include <stdlib.h>
#include <time.h>

static const struct wm_host_api *API; /* the host's functions */

struct ticker_ctx {
	struct wm_instance *inst;
	int64_t interval_ms, count;
	const char *message; /* points into the config: valid for the instance's life */
};

static const struct wm_option ticker_options[] = {
	/* name, type, default, flags, roles, help */
	{"interval", WM_OPT_DURATION, "1s", 0, 0, "time between records", 0, NULL, NULL},
	{"count", WM_OPT_INT, "0", 0, 0, "stop after this many records (0 = never)", 0, NULL, NULL},
	{"message", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "text put in every record", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static int ticker_init(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **ctx, char *err,
                       size_t errlen)
{
	(void)role; /* a source has only one role */
	struct ticker_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->inst = inst;
	c->interval_ms = API->cfg_duration_ms(cfg, "interval");
	c->count = API->cfg_int(cfg, "count");
	c->message = API->cfg_str(cfg, "message");
	if (c->interval_ms < 1) {
		free(c);
		return API->cfg_errorf(cfg, "interval", err, errlen, "must be at least 1ms");
	}
	*ctx = c;
	return 0;
}

static int ticker_run(void *ctx, struct wm_emitter *em)
{
	struct ticker_ctx *c = ctx;
	for (int64_t n = 1; !API->stopping(em) && (c->count == 0 || n <= c->count); n++) {
		struct wm_record *r = API->record_new();
		if (!r)
			return -1;
		API->record_set_int(r, "n", n);
		API->record_set_string(r, "message", c->message);
		API->record_set_time(r, "time", API->now_us());
		if (API->emit(em, r) != 0) /* takes the record; blocks when the queue is full */
			break;
		/* sleep in short steps so a stop is noticed quickly */
		for (int64_t slept = 0; slept < c->interval_ms && !API->stopping(em); slept += 50) {
			int64_t step = c->interval_ms - slept < 50 ? c->interval_ms - slept : 50;
			struct timespec ts = {0, (long)step * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	API->log(c->inst, WM_LOG_INFO, "ticker done");
	return 0;
}

static void ticker_destroy(void *ctx)
{
	free(ctx);
}

static const struct wm_plugin ticker = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_plugin),
	.name = "ticker",
	.version = "1.0.0",
	.description = "emits a numbered record every interval",
	.kinds = WM_KIND_SOURCE,
	.options = ticker_options,
	.init = ticker_init,
	.run = ticker_run,
	.destroy = ticker_destroy,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	if (host_abi != WM_ABI_VERSION)
		return NULL; /* the host then says which versions differ */
	API = api;
	return &ticker;
}
