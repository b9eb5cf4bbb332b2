/* console: a sink that prints each record as one JSON line on stdout, so any
 * source can be tried without Kafka or PostgreSQL. */
#include <wmhost/plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct wm_host_api *API;

struct console_ctx {
	struct wm_instance *inst;
	int with_key;
	int flush_each;
	int fd;
};

static const struct wm_option console_options[] = {
	{"with_key", WM_OPT_BOOL, "false", 0, 0, "wrap each line as {\"key\": ..., \"value\": {...}}", 0, NULL, NULL},
	{"flush", WM_OPT_BOOL, "true", 0, 0, "write each batch out at once (false: let stdio buffer)", 0, NULL, NULL},
	{"stream", WM_OPT_STRING, "stdout", 0, 0, "stdout or stderr", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static int console_init(struct wm_instance *inst, const struct wm_config *cfg, enum wm_role role, void **ctx,
                        char *err, size_t errlen)
{
	const char *stream = API->cfg_str(cfg, "stream");
	int fd;
	if (strcmp(stream, "stdout") == 0)
		fd = STDOUT_FILENO;
	else if (strcmp(stream, "stderr") == 0)
		fd = STDERR_FILENO;
	else
		return API->cfg_errorf(cfg, "stream", err, errlen, "must be stdout or stderr, not '%s'", stream);
	struct console_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->inst = inst;
	c->with_key = API->cfg_bool(cfg, "with_key");
	c->flush_each = API->cfg_bool(cfg, "flush");
	c->fd = fd;
	*ctx = c;
	return 0;
}

/* Appends a JSON string literal of the key (bytes shown as-is when printable). */
static void put_key(FILE *f, const char *k, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)k[i];
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static enum wm_result console_write(void *ctx, struct wm_batch *b)
{
	struct console_ctx *c = ctx;
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return WM_RETRY;
	size_t n = API->batch_len(b);
	for (size_t i = 0; i < n; i++) {
		const struct wm_record *r = API->batch_at(b, i);
		char *json;
		size_t len;
		if (API->record_to_json(r, &json, &len) != 0) {
			fclose(f);
			free(buf);
			return WM_RETRY;
		}
		if (c->with_key) {
			size_t kl;
			const char *k = API->record_key(r, &kl);
			fputs("{\"key\":", f);
			if (k)
				put_key(f, k, kl);
			else
				fputs("null", f);
			fputs(",\"value\":", f);
			fwrite(json, 1, len, f);
			fputs("}\n", f);
		} else {
			fwrite(json, 1, len, f);
			fputc('\n', f);
		}
		API->free(json);
	}
	fclose(f);
	/* one write per batch: lines never interleave with other writers */
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(c->fd, buf + off, size - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			API->log(c->inst, WM_LOG_ERROR, "write to %s failed: %s", c->fd == 1 ? "stdout" : "stderr",
			         strerror(errno));
			free(buf);
			return WM_RETRY;
		}
		off += (size_t)w;
	}
	free(buf);
	return WM_OK;
}

static void console_destroy(void *ctx)
{
	free(ctx);
}

static const struct wm_plugin console_plugin = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_plugin),
	.name = "console",
	.version = "1.0.0",
	.description = "prints each record as one JSON line on stdout",
	.kinds = WM_KIND_SINK,
	.options = console_options,
	.init = console_init,
	.write = console_write,
	.destroy = console_destroy,
};

WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t host_abi, const struct wm_host_api *api)
{
	if (host_abi != WM_ABI_VERSION || !api || api->struct_size < sizeof(struct wm_host_api))
		return NULL;
	API = api;
	return &console_plugin;
}
