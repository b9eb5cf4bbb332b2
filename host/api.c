/* The host API table: the only way plugins reach into the host. */
#include "api.h"
#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "plugin_loader.h"
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void api_log(struct wm_instance *inst, enum wm_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	wmh_logv(level, inst ? inst->pipeline : NULL, inst ? inst->label : NULL, fmt, ap);
	va_end(ap);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int api_record_to_json(const struct wm_record *r, char **out, size_t *len)
{
	return wmh_record_to_json(r, out, len);
}

static void api_free(void *p)
{
	free(p);
}

static const struct wm_host_api g_api = {
	.abi_version = WM_ABI_VERSION,
	.struct_size = sizeof(struct wm_host_api),
	.log = api_log,
	.cfg_has = wmh_cfg_has,
	.cfg_get = wmh_cfg_get,
	.cfg_str = wmh_cfg_str,
	.cfg_int = wmh_cfg_int,
	.cfg_bool = wmh_cfg_bool,
	.cfg_double = wmh_cfg_double,
	.cfg_duration_ms = wmh_cfg_duration_ms,
	.cfg_size = wmh_cfg_size,
	.cfg_len = wmh_cfg_len,
	.cfg_at = wmh_cfg_at,
	.cfg_key_at = wmh_cfg_key_at,
	.cfg_scalar = wmh_cfg_scalar,
	.cfg_errorf = wmh_cfg_errorf,
	.record_new = wmh_record_new,
	.record_free = wmh_record_free,
	.record_set_null = wmh_record_set_null,
	.record_set_bool = wmh_record_set_bool,
	.record_set_int = wmh_record_set_int,
	.record_set_double = wmh_record_set_double,
	.record_set_string = wmh_record_set_string,
	.record_set_stringn = wmh_record_set_stringn,
	.record_set_bytes = wmh_record_set_bytes,
	.record_set_time = wmh_record_set_time,
	.record_set_key = wmh_record_set_key,
	.record_key = wmh_record_key,
	.record_count = wmh_record_count,
	.record_name_at = wmh_record_name_at,
	.record_value_at = wmh_record_value_at,
	.record_get = wmh_record_get,
	.record_set_position = wmh_record_set_position,
	.record_position = wmh_record_position,
	.record_to_json = api_record_to_json,
	.record_from_json = wmh_record_from_json,
	.free = api_free,
	.emit = wmh_emit,
	.stopping = wmh_stopping,
	.dead_letter = wmh_source_dead_letter,
	.wait_acked = wmh_wait_acked,
	.batch_len = wmh_batch_len,
	.batch_at = wmh_batch_at,
	.batch_done = wmh_batch_done,
	.batch_fail = wmh_batch_fail,
	.batch_aborting = wmh_batch_aborting,
	.now_us = now_us,
	.mono_us = wmh_mono_us,
	.check_only = wmh_check_only,
	.record_to_json_buf = wmh_record_to_json_buf,
	.batch_finish = wmh_batch_finish,
	.parse_time = wmh_parse_rfc3339,
};

const struct wm_host_api *wmh_host_api(void)
{
	return &g_api;
}

struct wm_instance *wmh_instance_new(const char *pipeline, const char *role_name, const struct wmh_plugin *p,
                                     const struct wm_config *cfg, enum wm_role role)
{
	struct wm_instance *in = calloc(1, sizeof *in);
	if (!in)
		return NULL;
	in->pipeline = strdup(pipeline ? pipeline : "");
	size_t n = strlen(role_name) + strlen(p->desc->name) + 2;
	in->label = malloc(n);
	if (!in->pipeline || !in->label) {
		wmh_instance_free(in);
		return NULL;
	}
	snprintf(in->label, n, "%s:%s", role_name, p->desc->name);
	in->plugin = p;
	in->cfg = cfg;
	in->role = role;
	return in;
}

int wmh_instance_init(struct wm_instance *in, char *err, size_t errlen)
{
	err[0] = 0;
	if (in->plugin->desc->init(in, in->cfg, in->role, &in->ctx, err, errlen) != 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: init failed", in->label);
		return -1;
	}
	in->inited = 1;
	return 0;
}

void wmh_instance_free(struct wm_instance *in)
{
	if (!in)
		return;
	if (in->inited)
		in->plugin->desc->destroy(in->ctx);
	free(in->pipeline);
	free(in->label);
	free(in);
}
