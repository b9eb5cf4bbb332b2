/* wmhost command line: run, check, setup, plugins, version. Only this file
 * decides exit statuses: 0 ok, 1 runtime error, 2 configuration error. */
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "record.h"
#include "plugin_loader.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#ifndef WMHOST_VERSION
#define WMHOST_VERSION "dev"
#endif

#define EXIT_RUNTIME 1
#define EXIT_CONFIG 2

extern const struct wm_option wmh_pipeline_options[];

static const char *const usage_main =
	"usage: wmhost [OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  run FILE...       run the pipelines in FILE(s) until SIGINT/SIGTERM (then drain)\n"
	"  check FILE...     validate FILE(s) and load their plugins; touches no service\n"
	"  setup FILE...     create what the pipelines need (topics, tables); idempotent\n"
	"  plugins [NAME]    list plugins, or show one plugin's options\n"
	"  version           print the version and plugin ABI version\n"
	"\n"
	"Options:\n"
	"  --log-level LEVEL    error, warn, info (default) or debug\n"
	"  --log-format FORMAT  text (default) or json\n"
	"  --metrics HOST:PORT  run: serve the pipelines' counters at http://HOST:PORT/metrics\n"
	"                       (Prometheus text format; :PORT listens on every IPv4 address)\n"
	"  -h, --help           help (also after a command)\n"
	"\n"
	"Exit status: 0 ok, 1 runtime error, 2 configuration error.\n";

static const char *const usage_run =
	"usage: wmhost run [OPTIONS] FILE...\n"
	"Runs every pipeline of every FILE in this process. The first SIGINT or\n"
	"SIGTERM drains (sources stop, queued records are written and acknowledged)\n"
	"within each pipeline's shutdown_timeout; a second signal exits at once.\n"
	"A pipeline whose source ends by itself finishes when its queue is written.\n";
static const char *const usage_check =
	"usage: wmhost check FILE...\n"
	"Parses and validates FILE(s), loads and checks their plugins and options,\n"
	"and exits 0 when all is well or 2 with file:line:col errors. It connects\n"
	"to nothing.\n";
static const char *const usage_setup =
	"usage: wmhost setup FILE...\n"
	"Creates what each pipeline's plugins need (Kafka topics, PostgreSQL tables),\n"
	"idempotently: existing objects are left as they are.\n";
static const char *const usage_plugins =
	"usage: wmhost plugins [--markdown] [NAME]\n"
	"Without NAME lists the plugins found in the search path with their kind,\n"
	"version and description; with NAME prints that plugin's options. The\n"
	"search path is plugin_dir, WMHOST_PLUGIN_PATH, the 'plugins' directory\n"
	"beside the binary, then the install directory.\n";

static void free_all(struct wmh_pipeline *list)
{
	while (list) {
		struct wmh_pipeline *n = list->next;
		wmh_pipeline_free(list);
		list = n;
	}
}

/* Loads and validates files into pipelines; prints errors; 0 or EXIT_CONFIG. */
static int load_files(char **files, int nfiles, struct wmh_pipeline **list, struct wmh_doc ***docs_out)
{
	struct wmh_diag d = {STRBUF_INIT, 0};
	struct wmh_doc **docs = calloc((size_t)nfiles + 1, sizeof *docs);
	for (int i = 0; i < nfiles && docs; i++) {
		docs[i] = wmh_doc_load(files[i], &d);
		if (docs[i])
			wmh_pipelines_from_doc(docs[i], list, &d);
	}
	*docs_out = docs;
	if (d.count) {
		fputs(d.sb.buf ? d.sb.buf : "", stderr);
		if (d.count > 50)
			fprintf(stderr, "... and %d more errors\n", d.count - 50);
		fprintf(stderr, "wmhost: %d configuration error%s\n", d.count, d.count == 1 ? "" : "s");
		wmh_diag_free(&d);
		return EXIT_CONFIG;
	}
	wmh_diag_free(&d);
	if (!*list) {
		fprintf(stderr, "wmhost: no pipelines given\n");
		return EXIT_CONFIG;
	}
	return 0;
}

static void free_docs(struct wmh_doc **docs)
{
	for (struct wmh_doc **d = docs; d && *d; d++)
		wmh_doc_free(*d);
	free(docs);
}

static int init_all(struct wmh_pipeline *list)
{
	for (struct wmh_pipeline *pl = list; pl; pl = pl->next) {
		char err[2048];
		if (wmh_pipeline_init(pl, err, sizeof err)) {
			fprintf(stderr, "%s\n", err);
			return EXIT_CONFIG;
		}
	}
	return 0;
}

static int cmd_check(char **files, int n)
{
	struct wmh_pipeline *list = NULL;
	struct wmh_doc **docs = NULL;
	wmh_set_check_only(1);
	int rc = load_files(files, n, &list, &docs);
	if (rc == 0)
		rc = init_all(list);
	if (rc == 0) {
		for (struct wmh_pipeline *pl = list; pl; pl = pl->next)
			printf("%s: ok (%s -> %s)\n", pl->name, pl->source->label, pl->sink->label);
	}
	free_all(list);
	free_docs(docs);
	return rc;
}

static int cmd_setup(char **files, int n)
{
	struct wmh_pipeline *list = NULL;
	struct wmh_doc **docs = NULL;
	int rc = load_files(files, n, &list, &docs);
	if (rc == 0)
		rc = init_all(list);
	for (struct wmh_pipeline *pl = list; rc == 0 && pl; pl = pl->next) {
		char err[2048];
		if (wmh_pipeline_setup(pl, err, sizeof err)) {
			wmh_log(WM_LOG_ERROR, pl->name, NULL, "setup failed: %s", err);
			rc = EXIT_RUNTIME;
		}
	}
	free_all(list);
	free_docs(docs);
	return rc;
}

/* Waits up to timeout_ms for a signal in sigs (returned) or a write to
 * done_fd (returns 0). Without the descriptors (creating them failed) it
 * falls back to sigtimedwait, which only wakes for signals. */
static int wait_event(int sig_fd, int done_fd, const sigset_t *sigs, int timeout_ms)
{
	if (sig_fd < 0 || done_fd < 0) {
		struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
		int sig = sigtimedwait(sigs, NULL, &ts);
		return sig > 0 ? sig : 0;
	}
	struct pollfd p[2] = {{.fd = sig_fd, .events = POLLIN}, {.fd = done_fd, .events = POLLIN}};
	if (poll(p, 2, timeout_ms) <= 0)
		return 0;
	uint64_t n;
	if ((p[1].revents & POLLIN) && read(done_fd, &n, sizeof n) < 0) {
		/* drained by an earlier read: nothing to do */
	}
	struct signalfd_siginfo si;
	if ((p[0].revents & POLLIN) && read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
		return (int)si.ssi_signo;
	return 0;
}

static int cmd_run(char **files, int n, const char *metrics_addr)
{
	struct wmh_pipeline *list = NULL;
	struct wmh_doc **docs = NULL;
	int rc = load_files(files, n, &list, &docs);
	if (rc == 0)
		rc = init_all(list);
	if (rc) {
		free_all(list);
		free_docs(docs);
		return rc;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* the main thread sleeps until a signal comes or a pipeline ends (its
	 * second thread writes done_fd); the timeout paces the deadline checks */
	int sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	int done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (struct wmh_pipeline *pl = list; pl; pl = pl->next)
		pl->done_fd = done_fd;

	/* the port is taken before any pipeline starts, so a busy one stops
	 * the run before it does anything */
	struct wmh_metrics *metrics = NULL;
	if (metrics_addr) {
		char err[512];
		if (!(metrics = wmh_metrics_listen(metrics_addr, err, sizeof err))) {
			wmh_error("%s", err);
			rc = EXIT_RUNTIME;
		}
	}
	for (struct wmh_pipeline *pl = list; pl && rc == 0; pl = pl->next) {
		char err[512];
		if (wmh_pipeline_start(pl, err, sizeof err)) {
			wmh_log(WM_LOG_ERROR, pl->name, NULL, "%s", err);
			rc = EXIT_RUNTIME;
			break;
		}
	}
	if (metrics && rc == 0) {
		char err[512];
		if (wmh_metrics_serve(metrics, list, err, sizeof err)) {
			wmh_error("%s", err);
			rc = EXIT_RUNTIME;
		}
	}
	int stopping = rc != 0;
	if (stopping)
		for (struct wmh_pipeline *pl = list; pl; pl = pl->next)
			wmh_pipeline_request_stop(pl);
	for (;;) {
		int all_done = 1;
		for (struct wmh_pipeline *pl = list; pl; pl = pl->next) {
			if (!wmh_pipeline_finished(pl))
				all_done = 0;
			if (atomic_load(&pl->failed) && !stopping) {
				wmh_log(WM_LOG_ERROR, pl->name, NULL, "pipeline failed; stopping all pipelines");
				stopping = 1;
				for (struct wmh_pipeline *o = list; o; o = o->next)
					wmh_pipeline_request_stop(o);
			}
			if (stopping && !atomic_load(&pl->aborting) && pl->stop_deadline_us && wmh_mono_us() > pl->stop_deadline_us &&
			    !wmh_pipeline_finished(pl)) {
				wmh_log(WM_LOG_ERROR, pl->name, NULL, "shutdown_timeout passed; abandoning what is left");
				wmh_pipeline_abort(pl);
			}
		}
		if (all_done)
			break;
		int sig = wait_event(sig_fd, done_fd, &sigs, 100);
		if (sig == SIGINT || sig == SIGTERM) {
			if (stopping) {
				wmh_error("second %s: exiting now without draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
				for (struct wmh_pipeline *pl = list; pl; pl = pl->next)
					wmh_pipeline_detach(pl); /* abandoned on purpose */
				_exit(EXIT_RUNTIME);
			}
			wmh_info("%s received: draining (stop sources, write what is queued, ack)",
			         sig == SIGINT ? "SIGINT" : "SIGTERM");
			stopping = 1;
			for (struct wmh_pipeline *pl = list; pl; pl = pl->next)
				wmh_pipeline_request_stop(pl);
		}
	}
	wmh_metrics_stop(metrics); /* it reads the pipelines, which joining changes */
	for (struct wmh_pipeline *pl = list; pl; pl = pl->next) {
		wmh_pipeline_join(pl);
		pl->done_fd = -1;
		wmh_pipeline_log_stats(pl);
		if (atomic_load(&pl->failed) || atomic_load(&pl->stats.undelivered))
			rc = EXIT_RUNTIME;
	}
	if (sig_fd >= 0)
		close(sig_fd);
	if (done_fd >= 0)
		close(done_fd);
	free_all(list);
	free_docs(docs);
	return rc;
}

/* Markdown table cells: a '|' would end the cell. */
static void md_cell(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", stdout);
		else
			putchar(*s);
	}
}

static void print_options(const struct wm_option *t, int depth, int markdown, unsigned kinds)
{
	for (const struct wm_option *o = t; o && o->name; o++) {
		const char *type = wmh_opt_type_name(o->type);
		char tbuf[64];
		if (o->type == WM_OPT_LIST) {
			enum wm_opt_type it = o->item_type ? o->item_type : (o->children ? WM_OPT_MAP : WM_OPT_STRING);
			snprintf(tbuf, sizeof tbuf, "list of %s", wmh_opt_type_name(it));
			type = tbuf;
		}
		const char *role = "";
		if ((kinds & WM_KIND_SOURCE) && (kinds & WM_KIND_SINK) && o->roles)
			role = o->roles == WM_KIND_SOURCE ? " (source only)" : " (sink only)";
		char def[160];
		if (o->flags & WM_OPT_REQUIRED)
			snprintf(def, sizeof def, "required");
		else if (o->default_value)
			snprintf(def, sizeof def, "%s", o->default_value);
		else
			snprintf(def, sizeof def, "-");
		if (markdown) {
			printf("| `%s%s` | %s | ", depth ? "  ↳ " : "", o->name, type);
			md_cell((o->flags & WM_OPT_REQUIRED) ? "**required**" : o->default_value ? o->default_value : "");
			fputs(" | ", stdout);
			md_cell(o->help);
			printf("%s%s |\n", role, (o->flags & WM_OPT_SECRET) ? " (secret: never logged)" : "");
		} else
			printf("  %*s%-*s %-16s %-14s %s%s%s\n", depth * 2, "", 22 - depth * 2, o->name, type, def,
			       o->help ? o->help : "", role, (o->flags & WM_OPT_SECRET) ? " [secret]" : "");
		if (o->children)
			print_options(o->children, depth + 1, markdown, kinds);
	}
}

static int cmd_plugins(char **args, int n)
{
	int markdown = 0;
	const char *name = NULL;
	for (int i = 0; i < n; i++) {
		if (strcmp(args[i], "--markdown") == 0)
			markdown = 1;
		else
			name = args[i];
	}
	char err[2048];
	if (name && strcmp(name, "pipeline") == 0) {
		if (markdown)
			printf("| key | type | default | description |\n|---|---|---|---|\n");
		print_options(wmh_pipeline_options, 0, markdown, 0);
		return 0;
	}
	if (name) {
		const struct wmh_plugin *p = wmh_plugin_load(name, NULL, err, sizeof err);
		if (!p) {
			fprintf(stderr, "wmhost: %s\n", err);
			return EXIT_CONFIG;
		}
		const struct wm_plugin *d = p->desc;
		if (markdown) {
			printf("**%s** %s (%s) — %s\n\n| option | type | default | description |\n|---|---|---|---|\n",
			       d->name, d->version, wmh_kind_name(d->kinds), d->description);
		} else {
			printf("%s %s (%s)\n  %s\n  file: %s\n\n", d->name, d->version, wmh_kind_name(d->kinds),
			       d->description, p->path);
			printf("  %-22s %-16s %-14s %s\n", "OPTION", "TYPE", "DEFAULT", "DESCRIPTION");
		}
		print_options(d->options, 0, markdown, d->kinds);
		return 0;
	}
	char **dirs = wmh_plugin_dirs(NULL);
	char seen[4096] = ",";
	int count = 0;
	for (char **dir = dirs; dir && *dir; dir++) {
		DIR *dh = opendir(*dir);
		if (!dh)
			continue;
		struct dirent *e;
		while ((e = readdir(dh))) {
			size_t l = strlen(e->d_name);
			if (l < 4 || strcmp(e->d_name + l - 3, ".so") != 0)
				continue;
			char path[4096], key[300];
			snprintf(path, sizeof path, "%s/%s", *dir, e->d_name);
			snprintf(key, sizeof key, ",%.*s,", (int)(l - 3), e->d_name);
			if (strstr(seen, key))
				continue;
			const struct wmh_plugin *p = wmh_plugin_load_file(path, NULL, err, sizeof err);
			if (!p) {
				printf("%-14s (refused: %s)\n", e->d_name, err);
				continue;
			}
			if (strlen(seen) + strlen(key) < sizeof seen)
				strcat(seen, key + 1);
			printf("%-14s %-12s %-8s %s\n", p->desc->name, wmh_kind_name(p->desc->kinds), p->desc->version,
			       p->desc->description);
			count++;
		}
		closedir(dh);
	}
	wmh_plugin_dirs_free(dirs);
	if (!count)
		printf("no plugins found (set WMHOST_PLUGIN_PATH)\n");
	return 0;
}

int main(int argc, char **argv)
{
	enum wm_log_level level = WM_LOG_INFO;
	enum wmh_log_format format = WMH_LOG_TEXT;
	const char *cmd = NULL;
	char **args = calloc((size_t)argc + 1, sizeof *args);
	int nargs = 0, help = 0;
	const char *metrics_addr = NULL;
	wmh_metrics_mark_start();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--log-level") == 0 || strncmp(a, "--log-level=", 12) == 0) {
			const char *v = a[11] == '=' ? a + 12 : (i + 1 < argc ? argv[++i] : "");
			if (wmh_log_level_parse(v, &level)) {
				fprintf(stderr, "wmhost: --log-level must be error, warn, info or debug, not '%s'\n", v);
				free(args);
				return EXIT_CONFIG;
			}
		} else if (strcmp(a, "--log-format") == 0 || strncmp(a, "--log-format=", 13) == 0) {
			const char *v = a[12] == '=' ? a + 13 : (i + 1 < argc ? argv[++i] : "");
			if (strcmp(v, "text") == 0)
				format = WMH_LOG_TEXT;
			else if (strcmp(v, "json") == 0)
				format = WMH_LOG_JSON;
			else {
				fprintf(stderr, "wmhost: --log-format must be text or json, not '%s'\n", v);
				free(args);
				return EXIT_CONFIG;
			}
		} else if (strcmp(a, "--metrics") == 0 || strncmp(a, "--metrics=", 10) == 0) {
			const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : "");
			char host[256], port[8], err[300];
			if (wmh_metrics_parse(v, host, sizeof host, port, sizeof port, err, sizeof err)) {
				fprintf(stderr, "wmhost: %s\n", err);
				free(args);
				return EXIT_CONFIG;
			}
			metrics_addr = v;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help = 1;
		} else if (strcmp(a, "--version") == 0) {
			cmd = "version";
		} else if (!cmd) {
			cmd = a;
		} else {
			args[nargs++] = argv[i];
		}
	}
	wmh_log_configure(level, format);
	int rc = 0;
	if (!cmd) {
		fputs(usage_main, help ? stdout : stderr);
		rc = help ? 0 : EXIT_CONFIG;
	} else if (strcmp(cmd, "version") == 0) {
		printf("wmhost %s (plugin ABI %d)\n", WMHOST_VERSION, WM_ABI_VERSION);
	} else if (strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
	} else if (strcmp(cmd, "plugins") == 0) {
		rc = help ? (fputs(usage_plugins, stdout), 0) : cmd_plugins(args, nargs);
	} else if (strcmp(cmd, "run") == 0 || strcmp(cmd, "check") == 0 || strcmp(cmd, "setup") == 0) {
		const char *u = cmd[0] == 'r' ? usage_run : cmd[0] == 'c' ? usage_check : usage_setup;
		if (help) {
			fputs(u, stdout);
		} else if (nargs == 0) {
			fputs(u, stderr);
			rc = EXIT_CONFIG;
		} else if (cmd[0] == 'r') {
			rc = cmd_run(args, nargs, metrics_addr);
		} else if (cmd[0] == 'c') {
			rc = cmd_check(args, nargs);
		} else {
			rc = cmd_setup(args, nargs);
		}
	} else {
		fprintf(stderr, "wmhost: unknown command '%s'\n\n%s", cmd, usage_main);
		rc = EXIT_CONFIG;
	}
	wmh_plugins_release();
	wmh_record_pool_release();
	free(args);
	return rc;
}
