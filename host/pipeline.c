/* Building pipelines from configuration: the host's own keys are validated
 * against the same kind of option table plugins use, then each plugin is
 * loaded and its instance map validated against the plugin's table. */
#include "pipeline.h"
#include "acks.h"
#include "log.h"
#include "plugin_loader.h"
#include "queue.h"
#include "record.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct wm_option queue_opts[] = {
	{"capacity", WM_OPT_INT, "10000", 0, 0, "records held between source and sink; when full the source waits",
	 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static const struct wm_option batch_opts[] = {
	{"max_records", WM_OPT_INT, "500", 0, 0, "a batch is cut at this many records", 0, NULL, NULL},
	{"max_wait", WM_OPT_DURATION, "200ms", 0, 0, "...or this long after its first record arrived", 0, NULL,
	 NULL},
	{"max_in_flight", WM_OPT_INT, "4", 0, 0,
	 "batches a pipelining sink (kafka_io) may have on their way at once; 1 = one batch at a time", 0, NULL,
	 NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static const struct wm_option retry_opts[] = {
	{"initial", WM_OPT_DURATION, "100ms", 0, 0, "first backoff after a sink asks to retry", 0, NULL, NULL},
	{"max", WM_OPT_DURATION, "30s", 0, 0, "backoff cap (doubling, with jitter)", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static const struct wm_option dlq_file_opts[] = {
	{"path", WM_OPT_STRING, NULL, 0, 0, "JSON-lines file for bad records (default ./<pipeline>.dead.jsonl)", 0,
	 NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

/* Exposed for `wmhost plugins` style docs of the pipeline keys. */
const struct wm_option wmh_pipeline_options[] = {
	{"name", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "pipeline name, used in logs and file names", 0, NULL, NULL},
	{"source", WM_OPT_MAP, NULL, WM_OPT_REQUIRED | WMH_OPT_PLUGIN_MAP, 0,
	 "the source instance: 'plugin: NAME' plus that plugin's options", 0, NULL, NULL},
	{"sink", WM_OPT_MAP, NULL, WM_OPT_REQUIRED | WMH_OPT_PLUGIN_MAP, 0,
	 "the sink instance: 'plugin: NAME' plus that plugin's options", 0, NULL, NULL},
	{"queue", WM_OPT_MAP, NULL, 0, 0, "the bounded queue between source and sink", 0, queue_opts, NULL},
	{"batch", WM_OPT_MAP, NULL, 0, 0, "how the sink's batches are cut", 0, batch_opts, NULL},
	{"retry", WM_OPT_MAP, NULL, 0, 0, "backoff when the sink asks to retry", 0, retry_opts, NULL},
	{"dead_letter", WM_OPT_MAP, NULL, WMH_OPT_PLUGIN_MAP, 0,
	 "where bad records go: {path: FILE} (JSON lines, the default) or a sink: {plugin: kafka_io, ...}", 0, NULL,
	 NULL},
	{"shutdown_timeout", WM_OPT_DURATION, "30s", 0, 0, "how long a drain on SIGINT/SIGTERM may take", 0, NULL,
	 NULL},
	{"plugin_dir", WM_OPT_STRING, NULL, 0, 0, "directory searched first for plugins", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static const struct wm_option file_opts[] = {
	{"pipelines", WM_OPT_LIST, NULL, WM_OPT_REQUIRED, 0, "the pipelines in this file", WM_OPT_MAP, NULL, NULL},
	{"plugin_dir", WM_OPT_STRING, NULL, 0, 0, "directory searched first for plugins", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

/* Loads the plugin named in an instance map and validates the map. */
static struct wm_instance *build_instance(struct wm_config *map, const char *pipeline, const char *role_name,
                                          enum wm_role role, const char *plugin_dir, struct wmh_diag *d)
{
	const struct wm_config *pn = wmh_cfg_get(map, "plugin");
	if (!pn) {
		wmh_diag_add(d, map, "%s: missing required key 'plugin' (the plugin's short name or a path to its .so)",
		             role_name);
		return NULL;
	}
	if (pn->kind != WMH_SCALAR) {
		wmh_diag_add(d, pn, "%s: 'plugin' must be a name or a path", role_name);
		return NULL;
	}
	char err[2048];
	const struct wmh_plugin *p = wmh_plugin_load(pn->text, plugin_dir, err, sizeof err);
	if (!p) {
		wmh_diag_add(d, pn, "%s", err);
		return NULL;
	}
	unsigned need = role == WM_ROLE_SOURCE ? WM_KIND_SOURCE : WM_KIND_SINK;
	if (!(p->desc->kinds & need)) {
		wmh_diag_add(d, pn, "plugin '%s' cannot be a %s (it is a %s)", p->desc->name,
		             need == WM_KIND_SOURCE ? "source" : "sink", wmh_kind_name(p->desc->kinds));
		return NULL;
	}
	if (wmh_config_validate(map, p->desc->options, need, p->desc->name, "plugin", d))
		return NULL;
	struct wm_instance *in = wmh_instance_new(pipeline, role_name, p, map, role);
	if (!in)
		wmh_diag_add(d, map, "out of memory");
	return in;
}

/* Sizes the host allocates arrays for: bounded so that a typo cannot ask
 * for terabytes (or overflow the arithmetic) at run time. */
#define QUEUE_CAP_MAX 10000000
#define BATCH_RECORDS_MAX 1000000
#define IN_FLIGHT_MAX 1024

/* Reads key into *out if it lies in 1..hi; else reports it (and leaves 1). */
static int in_range(const struct wm_config *map, const char *key, int64_t hi, size_t *out, struct wmh_diag *d)
{
	int64_t v = wmh_cfg_int(map, key);
	*out = v >= 1 && v <= hi ? (size_t)v : 1;
	if (v >= 1 && v <= hi)
		return 0;
	const struct wm_config *n = wmh_cfg_get(map, key);
	wmh_diag_add(d, n ? n : map, "'%s' must be between 1 and %lld", key, (long long)hi);
	return 1;
}

static int build_one(struct wm_config *map, const char *file_plugin_dir, struct wmh_pipeline **list,
                     struct wmh_diag *d)
{
	int errs = wmh_config_validate(map, wmh_pipeline_options, 0, "pipeline", NULL, d);
	if (errs)
		return errs;
	/* aligned: the stats' cache lines must be the lines they claim */
	struct wmh_pipeline *pl = aligned_alloc(_Alignof(struct wmh_pipeline), sizeof *pl);
	if (!pl) {
		wmh_diag_add(d, map, "out of memory");
		return 1;
	}
	memset(pl, 0, sizeof *pl);
	pthread_mutex_init(&pl->dlq_mu, NULL);
	pl->done_fd = -1;
	pl->dlq_fd = -1;
	pl->name = strdup(wmh_cfg_str(map, "name"));
	const char *plugin_dir = wmh_cfg_str(map, "plugin_dir");
	if (!plugin_dir)
		plugin_dir = file_plugin_dir;
	for (struct wmh_pipeline *o = *list; o; o = o->next) {
		if (strcmp(o->name, pl->name) == 0) {
			wmh_diag_add(d, wmh_cfg_get(map, "name"), "duplicate pipeline name '%s'", pl->name);
			errs++;
		}
	}
	const struct wm_config *qn = wmh_cfg_get(map, "queue"), *bn = wmh_cfg_get(map, "batch"),
	                       *rn = wmh_cfg_get(map, "retry");
	/* absent sub-maps read their defaults from the tables directly */
	struct wm_config empty_q = {.kind = WMH_MAP, .schema = queue_opts},
	                 empty_b = {.kind = WMH_MAP, .schema = batch_opts},
	                 empty_r = {.kind = WMH_MAP, .schema = retry_opts};
	if (!qn)
		qn = &empty_q;
	if (!bn)
		bn = &empty_b;
	if (!rn)
		rn = &empty_r;
	errs += in_range(qn, "capacity", QUEUE_CAP_MAX, &pl->queue_cap, d);
	errs += in_range(bn, "max_records", BATCH_RECORDS_MAX, &pl->max_records, d);
	errs += in_range(bn, "max_in_flight", IN_FLIGHT_MAX, &pl->max_in_flight, d);
	pl->max_wait_ms = wmh_cfg_duration_ms(bn, "max_wait");
	pl->retry_initial_ms = wmh_cfg_duration_ms(rn, "initial");
	pl->retry_max_ms = wmh_cfg_duration_ms(rn, "max");
	if (pl->retry_initial_ms < 1)
		pl->retry_initial_ms = 1;
	if (pl->retry_max_ms < pl->retry_initial_ms)
		pl->retry_max_ms = pl->retry_initial_ms;
	pl->shutdown_timeout_ms = wmh_cfg_duration_ms(map, "shutdown_timeout");

	struct wm_config *src = (struct wm_config *)wmh_cfg_get(map, "source");
	struct wm_config *snk = (struct wm_config *)wmh_cfg_get(map, "sink");
	pl->source = build_instance(src, pl->name, "source", WM_ROLE_SOURCE, plugin_dir, d);
	pl->sink = build_instance(snk, pl->name, "sink", WM_ROLE_SINK, plugin_dir, d);
	if (!pl->source || !pl->sink)
		errs++;
	struct wm_config *dl = (struct wm_config *)wmh_cfg_get(map, "dead_letter");
	if (dl && wmh_cfg_get(dl, "plugin")) {
		pl->dlq_sink = build_instance(dl, pl->name, "dead_letter", WM_ROLE_DEAD_LETTER, plugin_dir, d);
		if (!pl->dlq_sink)
			errs++;
	} else if (dl) {
		errs += wmh_config_validate(dl, dlq_file_opts, 0, "dead_letter", NULL, d);
	}
	const char *path = dl ? wmh_cfg_str(dl, "path") : NULL;
	if (path) {
		pl->dlq_path = strdup(path);
	} else {
		size_t n = strlen(pl->name) + 16;
		pl->dlq_path = malloc(n);
		if (pl->dlq_path)
			snprintf(pl->dlq_path, n, "%s.dead.jsonl", pl->name);
	}
	/* The file is the last place a bad record can go: one that could never
	 * be written is a configuration error now, not a stalled pipeline at
	 * the first bad record. (With a dead-letter sink it is only the
	 * fallback: wmh_pipeline_start warns.) */
	char why[256];
	const char *problem = pl->dlq_path && !pl->dlq_sink ? wmh_dlq_path_problem(pl->dlq_path, why, sizeof why) : NULL;
	if (problem) {
		const struct wm_config *pn = path ? wmh_cfg_get(dl, "path") : NULL;
		wmh_diag_add(d, pn ? pn : dl ? dl : map, "dead-letter file '%s': %s%s", pl->dlq_path, problem,
		             path ? "" : " (set dead_letter.path)");
		errs++;
	}
	pl->em.pl = pl;
	if (pl->source)
		pl->source->pl = pl;
	if (pl->sink)
		pl->sink->pl = pl;
	if (pl->dlq_sink)
		pl->dlq_sink->pl = pl;
	/* append in file order */
	struct wmh_pipeline **tail = list;
	while (*tail)
		tail = &(*tail)->next;
	*tail = pl;
	return errs;
}

int wmh_pipelines_from_doc(struct wmh_doc *doc, struct wmh_pipeline **list, struct wmh_diag *d)
{
	struct wm_config *root = doc->root;
	int errs = 0;
	if (root->kind == WMH_MAP && wmh_cfg_get(root, "pipelines")) {
		errs = wmh_config_validate(root, file_opts, 0, "pipeline file", NULL, d);
		if (errs)
			return errs;
		const struct wm_config *items = wmh_cfg_get(root, "pipelines");
		for (size_t i = 0; i < items->n; i++)
			errs += build_one(items->items[i], wmh_cfg_str(root, "plugin_dir"), list, d);
		return errs;
	}
	if (root->kind == WMH_SEQ) {
		for (size_t i = 0; i < root->n; i++) {
			if (root->items[i]->kind != WMH_MAP) {
				wmh_diag_add(d, root->items[i], "each pipeline must be a map");
				errs++;
				continue;
			}
			errs += build_one(root->items[i], NULL, list, d);
		}
		return errs;
	}
	if (root->kind != WMH_MAP) {
		wmh_diag_add(d, root, "a pipeline file holds a pipeline map, a list of them, or 'pipelines:'");
		return 1;
	}
	return build_one(root, NULL, list, d);
}

static int init_one(struct wm_instance *in, char *err, size_t errlen)
{
	return in ? wmh_instance_init(in, err, errlen) : 0;
}

int wmh_pipeline_init(struct wmh_pipeline *pl, char *err, size_t errlen)
{
	if (init_one(pl->source, err, errlen) || init_one(pl->sink, err, errlen) || init_one(pl->dlq_sink, err, errlen))
		return -1;
	return 0;
}

static int setup_one(struct wm_instance *in, char *err, size_t errlen)
{
	if (!in || !in->plugin->desc->setup)
		return 0;
	err[0] = 0;
	if (in->plugin->desc->setup(in->ctx, err, errlen) != 0) {
		if (!err[0])
			snprintf(err, errlen, "setup failed");
		return -1;
	}
	return 0;
}

int wmh_pipeline_setup(struct wmh_pipeline *pl, char *err, size_t errlen)
{
	struct wm_instance *all[] = {pl->source, pl->sink, pl->dlq_sink};
	for (size_t i = 0; i < 3; i++) {
		char e[1536];
		if (setup_one(all[i], e, sizeof e)) {
			snprintf(err, errlen, "%s: %s", all[i]->label, e);
			return -1;
		}
		if (all[i] && all[i]->plugin->desc->setup)
			wmh_log(WM_LOG_INFO, pl->name, all[i]->label, "setup done");
	}
	return 0;
}

void wmh_pipeline_free(struct wmh_pipeline *pl)
{
	if (!pl)
		return;
	wmh_instance_free(pl->source);
	wmh_instance_free(pl->sink);
	wmh_instance_free(pl->dlq_sink);
	wmh_queue_free(pl->q);
	wmh_acks_free(pl->acks);
	wmh_record_pool_reserve(-pl->pool_reserved);
	if (pl->dlq_fd >= 0)
		close(pl->dlq_fd);
	pthread_mutex_destroy(&pl->dlq_mu);
	free(pl->dlq_path);
	free(pl->name);
	free(pl);
}
