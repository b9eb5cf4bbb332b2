/* Test-only source: emits `count` records {seq, key, payload} at `rate`
 * per second, with positions on `streams` streams, and records every ack it
 * gets so tests can check ordering. */
#include <wmhost/plugin.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct wm_host_api *API;

struct counting_ctx {
	struct wm_instance *inst;
	int64_t count, rate, streams, payload_bytes, dead_every;
	int fail_at_end, stamp;
	FILE *acks;
	int64_t *last_ack; /* per stream: ack order check */
	int order_broken;
	atomic_int stop;
};

static const struct wm_option counting_options[] = {
	{"count", WM_OPT_INT, "10", 0, 0, "records to emit (0 = until stopped)", 0, NULL, NULL},
	{"rate", WM_OPT_INT, "0", 0, 0, "records per second (0 = as fast as possible)", 0, NULL, NULL},
	{"streams", WM_OPT_INT, "0", 0, 0, "give records positions on this many streams (0 = no positions)", 0, NULL,
	 NULL},
	{"payload_bytes", WM_OPT_SIZE, "16", 0, 0, "size of the payload string", 0, NULL, NULL},
	{"ack_log", WM_OPT_STRING, NULL, 0, 0, "file to append 'stream offset' per ack", 0, NULL, NULL},
	{"dead_every", WM_OPT_INT, "0", 0, 0, "every Nth record goes to dead_letter() instead", 0, NULL, NULL},
	{"fail_at_end", WM_OPT_BOOL, "false", 0, 0, "run() returns an error after the last record (a failing source)", 0,
	 NULL, NULL},
	{"stamp", WM_OPT_BOOL, "false", 0, 0, "add a time field 't': when the record was made", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static int counting_init(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **ctx,
                         char *err, size_t errlen)
{
	struct counting_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->inst = inst;
	c->count = API->cfg_int(cfg, "count");
	c->rate = API->cfg_int(cfg, "rate");
	c->streams = API->cfg_int(cfg, "streams");
	c->payload_bytes = API->cfg_size(cfg, "payload_bytes");
	c->dead_every = API->cfg_int(cfg, "dead_every");
	c->fail_at_end = API->cfg_bool(cfg, "fail_at_end");
	c->stamp = API->cfg_bool(cfg, "stamp");
	const char *al = API->cfg_str(cfg, "ack_log");
	if (c->streams > 0)
		c->last_ack = calloc((size_t)c->streams, sizeof *c->last_ack);
	for (int64_t i = 0; i < c->streams; i++)
		c->last_ack[i] = -1;
	if (al && !API->check_only(inst)) {
		c->acks = fopen(al, "a");
		if (!c->acks) {
			free(c->last_ack);
			free(c);
			return API->cfg_errorf(cfg, "ack_log", err, errlen, "cannot open");
		}
		setvbuf(c->acks, NULL, _IOLBF, 0);
	}
	*ctx = c;
	return 0;
}

static int counting_run(void *ctx, struct wm_emitter *em)
{
	struct counting_ctx *c = ctx;
	char *payload = malloc((size_t)c->payload_bytes + 1);
	if (!payload)
		return -1;
	memset(payload, 'x', (size_t)c->payload_bytes);
	payload[c->payload_bytes] = 0;
	/* the 16 keys are made once: the benchmarks time the pipeline, not
	 * snprintf (kcat's side reads ready-made lines) */
	char keys[16][4];
	size_t key_len[16];
	for (int k = 0; k < 16; k++)
		key_len[k] = (size_t)snprintf(keys[k], sizeof keys[k], "k%d", k);
	int64_t start = API->mono_us();
	for (int64_t i = 0; (c->count == 0 || i < c->count) && !API->stopping(em) && !atomic_load(&c->stop); i++) {
		if (c->rate > 0) {
			int64_t due = start + i * 1000000 / c->rate;
			int64_t now = API->mono_us();
			if (due > now) {
				struct timespec ts = {(due - now) / 1000000, ((due - now) % 1000000) * 1000};
				nanosleep(&ts, NULL);
			}
		}
		struct wm_record *r = API->record_new();
		const char *key = keys[i % 16];
		API->record_set_int(r, "seq", i);
		API->record_set_stringn(r, "key", key, key_len[i % 16]);
		API->record_set_stringn(r, "payload", payload, (size_t)c->payload_bytes);
		API->record_set_key(r, key, key_len[i % 16]);
		if (c->stamp)
			API->record_set_time(r, "t", API->now_us());
		if (c->streams > 0)
			API->record_set_position(r, (uint32_t)(i % c->streams), i / c->streams);
		if (c->dead_every > 0 && (i + 1) % c->dead_every == 0) {
			API->record_free(r);
			char bad[64];
			int n = snprintf(bad, sizeof bad, "{not json %lld", (long long)i);
			if (API->dead_letter(em, c->streams > 0 ? i % c->streams : -1, i / (c->streams > 0 ? c->streams : 1),
			                     bad, (size_t)n, "undecodable test payload") != 0)
				break;
			continue;
		}
		if (API->emit(em, r) != 0)
			break;
	}
	free(payload);
	if (c->fail_at_end) {
		API->log(c->inst, WM_LOG_ERROR, "failing on purpose (fail_at_end)");
		return -1;
	}
	return 0;
}

static void counting_ack(void *ctx, uint32_t stream, int64_t offset)
{
	struct counting_ctx *c = ctx;
	if (stream < c->streams) {
		if (offset <= c->last_ack[stream])
			c->order_broken = 1;
		c->last_ack[stream] = offset;
	}
	if (c->acks)
		fprintf(c->acks, "%u %lld\n", stream, (long long)offset);
}

static void counting_stop(void *ctx)
{
	atomic_store(&((struct counting_ctx *)ctx)->stop, 1);
}

static void counting_destroy(void *ctx)
{
	struct counting_ctx *c = ctx;
	if (c->acks) {
		if (c->order_broken)
			fprintf(c->acks, "ORDER BROKEN\n");
		fclose(c->acks);
	}
	free(c->last_ack);
	free(c);
}

static const struct wm_plugin counting_plugin = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_plugin),
	.name = "counting",
	.version = "1.0.0",
	.description = "test source: emits numbered records",
	.kinds = WM_KIND_SOURCE,
	.options = counting_options,
	.init = counting_init,
	.run = counting_run,
	.ack = counting_ack,
	.stop = counting_stop,
	.destroy = counting_destroy,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	if (host_abi != WM_ABI_VERSION)
		return NULL;
	API = api;
	return &counting_plugin;
}
