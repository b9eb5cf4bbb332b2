/* Plugin loading: dlopen, the versioned handshake, and descriptor checks.
 * A plugin that is refused is refused with the file and the reason, so a
 * user never has to guess why "plugin: foo" does not work. */
#include "plugin_loader.h"
#include "api.h"
#include "config.h"

#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WMHOST_PLUGINDIR
#define WMHOST_PLUGINDIR "/usr/local/lib/wmhost/plugins"
#endif

static struct wmh_plugin *g_loaded;

const char *wmh_kind_name(unsigned kinds)
{
	switch (kinds & (WM_KIND_SOURCE | WM_KIND_SINK)) {
	case WM_KIND_SOURCE: return "source";
	case WM_KIND_SINK: return "sink";
	case WM_KIND_SOURCE | WM_KIND_SINK: return "source+sink";
	default: return "none";
	}
}

static int check_descriptor(const struct wm_plugin *p, const char *path, const char *expect_name, char *err,
                            size_t errlen)
{
	if (p->abi_version != WM_ABI_VERSION) {
		snprintf(err, errlen, "%s: plugin ABI version %u, but this wmhost speaks version %u; rebuild the plugin "
		         "against this wmhost's plugin.h", path, p->abi_version, WM_ABI_VERSION);
		return -1;
	}
	/* plugins built before poll() was added have a shorter descriptor */
	if (p->struct_size < offsetof(struct wm_plugin, poll)) {
		snprintf(err, errlen, "%s: malformed descriptor: struct_size %u, expected at least %zu", path,
		         p->struct_size, offsetof(struct wm_plugin, poll));
		return -1;
	}
	const char *why = NULL;
	if (!p->name || !*p->name)
		why = "no name";
	else if (!p->version || !p->description)
		why = "no version or description";
	else if (!(p->kinds & (WM_KIND_SOURCE | WM_KIND_SINK)) || (p->kinds & ~(unsigned)(WM_KIND_SOURCE | WM_KIND_SINK)))
		why = "kinds must be WM_KIND_SOURCE and/or WM_KIND_SINK";
	else if (!p->init || !p->destroy)
		why = "init and destroy are required";
	else if ((p->kinds & WM_KIND_SOURCE) && !p->run)
		why = "a source must have run()";
	else if ((p->kinds & WM_KIND_SINK) && !p->write)
		why = "a sink must have write()";
	if (why) {
		snprintf(err, errlen, "%s: malformed descriptor: %s", path, why);
		return -1;
	}
	char terr[256];
	if (wmh_option_table_check(p->options, terr, sizeof terr)) {
		snprintf(err, errlen, "%s: malformed option table: %s", path, terr);
		return -1;
	}
	if (expect_name && strcmp(expect_name, p->name) != 0) {
		snprintf(err, errlen, "%s: the file declares plugin '%s', not '%s'", path, p->name, expect_name);
		return -1;
	}
	return 0;
}

const struct wmh_plugin *wmh_plugin_load_file(const char *path, const char *expect_name, char *err, size_t errlen)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		snprintf(err, errlen, "%s: no such plugin file", path);
		return NULL;
	}
	for (struct wmh_plugin *l = g_loaded; l; l = l->next)
		if (strcmp(l->path, real) == 0)
			return check_descriptor(l->desc, path, expect_name, err, errlen) ? NULL : l;

	dlerror();
	void *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();
		const char *hint = "";
		if (e && strstr(e, "cannot open shared object file") && !strstr(e, real))
			hint = " (a library the plugin needs is missing: install its package; 'ldd FILE' lists them)";
		else if (e && strstr(e, "undefined symbol"))
			hint = " (the plugin references a symbol nothing provides: plugins may only use the host API table)";
		snprintf(err, errlen, "%s: cannot load: %s%s", path, e ? e : "unknown error", hint);
		return NULL;
	}
	wm_plugin_entry_fn entry;
	*(void **)&entry = dlsym(dl, WM_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		snprintf(err, errlen, "%s: not a wmhost plugin: it does not export '%s'", path, WM_PLUGIN_ENTRY_SYMBOL);
		dlclose(dl);
		return NULL;
	}
	const struct wm_plugin *desc = entry(WM_ABI_VERSION, wmh_host_api());
	if (!desc) {
		snprintf(err, errlen, "%s: the plugin refused this host's ABI version %u (its entry point returned "
		         "NULL); rebuild it against this wmhost's plugin.h", path, WM_ABI_VERSION);
		dlclose(dl);
		return NULL;
	}
	if (check_descriptor(desc, path, expect_name, err, errlen)) {
		dlclose(dl);
		return NULL;
	}
	struct wmh_plugin *p = calloc(1, sizeof *p);
	if (!p || !(p->path = strdup(real))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->dl = dl;
	p->desc = desc;
	if (desc->struct_size >= offsetof(struct wm_plugin, poll) + sizeof desc->poll)
		p->poll = desc->poll;
	p->next = g_loaded;
	g_loaded = p;
	return p;
}

static int push_dir(char ***v, size_t *n, const char *d)
{
	if (!d || !*d)
		return 0;
	char **nv = realloc(*v, (*n + 2) * sizeof *nv);
	if (!nv)
		return -1;
	*v = nv;
	nv[*n] = strdup(d);
	if (!nv[*n])
		return -1;
	nv[++*n] = NULL;
	return 0;
}

char **wmh_plugin_dirs(const char *plugin_dir)
{
	char **v = calloc(1, sizeof *v);
	size_t n = 0;
	if (!v)
		return NULL;
	push_dir(&v, &n, plugin_dir);
	const char *env = getenv("WMHOST_PLUGIN_PATH");
	if (env) {
		char *copy = strdup(env), *save = NULL;
		for (char *t = copy ? strtok_r(copy, ":", &save) : NULL; t; t = strtok_r(NULL, ":", &save))
			push_dir(&v, &n, t);
		free(copy);
	}
	/* beside the binary: a build tree works without any setting */
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 16);
	if (len > 0) {
		exe[len] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			strcpy(slash + 1, "plugins");
			push_dir(&v, &n, exe);
		}
	}
	push_dir(&v, &n, WMHOST_PLUGINDIR);
	return v;
}

void wmh_plugin_dirs_free(char **dirs)
{
	for (char **d = dirs; d && *d; d++)
		free(*d);
	free(dirs);
}

const struct wmh_plugin *wmh_plugin_load(const char *name, const char *plugin_dir, char *err, size_t errlen)
{
	if (strchr(name, '/'))
		return wmh_plugin_load_file(name, NULL, err, errlen);
	char **dirs = wmh_plugin_dirs(plugin_dir);
	const struct wmh_plugin *p = NULL;
	char path[PATH_MAX];
	int found = 0;
	for (char **d = dirs; d && *d; d++) {
		snprintf(path, sizeof path, "%s/%s.so", *d, name);
		if (access(path, F_OK) != 0)
			continue;
		found = 1;
		p = wmh_plugin_load_file(path, name, err, errlen);
		break;
	}
	if (!found) {
		struct strbuf sb = STRBUF_INIT;
		for (char **d = dirs; d && *d; d++)
			strbuf_appendf(&sb, "%s%s", d == dirs ? "" : ", ", *d);
		snprintf(err, errlen, "plugin '%s' not found (looked for %s.so in: %s; set plugin_dir or "
		         "WMHOST_PLUGIN_PATH, or give a path)", name, name, sb.buf ? sb.buf : "nowhere");
		strbuf_free(&sb);
	}
	wmh_plugin_dirs_free(dirs);
	return p;
}

void wmh_plugins_release(void)
{
	/* The shared objects stay mapped until exit: a plugin's static data may
	 * still be referenced by libraries it loaded (librdkafka threads). */
	while (g_loaded) {
		struct wmh_plugin *n = g_loaded->next;
		free(g_loaded->path);
		free(g_loaded);
		g_loaded = n;
	}
}
