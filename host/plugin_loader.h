/* Finding, loading and checking plugin shared objects. */
#ifndef WMH_PLUGIN_LOADER_H
#define WMH_PLUGIN_LOADER_H
#include "wmhost/plugin.h"

struct wmh_plugin {
	char *path;
	void *dl;
	const struct wm_plugin *desc;
	void (*poll)(void *ctx, int timeout_ms); /* desc->poll if its descriptor has one */
	struct wmh_plugin *next;
};

/* Loads a plugin by short name (searched in plugin_dir, then each dir of
 * WMHOST_PLUGIN_PATH, then beside the binary, then the install dir) or by a
 * path (anything containing '/'). Loaded plugins are cached for the process
 * and never unloaded. NULL with a message naming the file and the reason. */
const struct wmh_plugin *wmh_plugin_load(const char *name, const char *plugin_dir, char *err, size_t errlen);
/* Loads one file and checks its handshake (used by the loader and tests). */
const struct wmh_plugin *wmh_plugin_load_file(const char *path, const char *expect_name, char *err, size_t errlen);
/* The directories searched, in order, NULL-terminated; free with
 * wmh_plugin_dirs_free. */
char **wmh_plugin_dirs(const char *plugin_dir);
void wmh_plugin_dirs_free(char **dirs);
void wmh_plugins_release(void);
const char *wmh_kind_name(unsigned kinds);
#endif
