/* The table of host functions handed to plugins, and the host-side structs
 * behind the opaque handles it mentions. */
#ifndef WMH_API_H
#define WMH_API_H
#include "wmhost/plugin.h"

struct wmh_pipeline;
struct wmh_plugin;

/* One configured plugin instance. */
struct wm_instance {
	struct wmh_pipeline *pl; /* NULL outside a running pipeline */
	char *pipeline;          /* pipeline name, for logs */
	char *label;             /* "source:http_probe", for logs */
	const struct wmh_plugin *plugin;
	const struct wm_config *cfg;
	enum wm_role role;
	void *ctx;
	int inited;
};

/* A sink's batch: records plus per-record state set by the plugin. */
enum wmh_rec_state { WMH_PENDING = 0, WMH_DONE = 1, WMH_FAILED = 2 };
struct wm_batch {
	struct wm_record **recs;
	size_t n;
	unsigned char *state;
	char **reason;
	struct wmh_pipeline *pl;
	int (*aborting)(const struct wm_batch *b);
	/* pipelining (runtime.c) */
	int finished;          /* batch_finish() was called */
	enum wm_result result; /* ...with this verdict */
	int attempt;
	int64_t retry_at_us;   /* parked until then for a retry (0: not parked) */
	struct wm_batch *next; /* the sink thread's list of batches in flight */
};

struct wm_emitter {
	struct wmh_pipeline *pl;
};

const struct wm_host_api *wmh_host_api(void);

/* Instance lifecycle helpers. */
struct wm_instance *wmh_instance_new(const char *pipeline, const char *role_name, const struct wmh_plugin *p,
                                     const struct wm_config *cfg, enum wm_role role);
int wmh_instance_init(struct wm_instance *in, char *err, size_t errlen);
void wmh_instance_free(struct wm_instance *in); /* destroys the plugin ctx too */
#endif
