/* Host logging: formats one line per event and writes it to stderr in one
 * write(2) so lines from different threads never interleave. */
#include "log.h"
#include "strbuf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum wm_log_level g_level = WM_LOG_INFO;
static enum wmh_log_format g_format = WMH_LOG_TEXT;
static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void wmh_log_configure(enum wm_log_level level, enum wmh_log_format format)
{
	g_level = level;
	g_format = format;
}

int wmh_log_level_parse(const char *s, enum wm_log_level *out)
{
	for (int i = 0; i <= WM_LOG_DEBUG; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum wm_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = WM_LOG_WARN;
		return 0;
	}
	return -1;
}

int wmh_log_enabled(enum wm_log_level level)
{
	return level <= g_level;
}

void wmh_logv(enum wm_log_level level, const char *pipeline, const char *instance, const char *fmt, va_list ap)
{
	if (!wmh_log_enabled(level))
		return;
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[96];
	snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));

	struct strbuf sb = STRBUF_INIT;
	if (g_format == WMH_LOG_JSON) {
		strbuf_appendf(&sb, "{\"ts\":\"%s\",\"level\":\"%s\"", when, level_names[level]);
		if (pipeline) {
			strbuf_append(&sb, ",\"pipeline\":");
			strbuf_json_string(&sb, pipeline, strlen(pipeline));
		}
		if (instance) {
			strbuf_append(&sb, ",\"instance\":");
			strbuf_json_string(&sb, instance, strlen(instance));
		}
		strbuf_append(&sb, ",\"msg\":");
		strbuf_json_string(&sb, msg, strlen(msg));
		strbuf_append(&sb, "}\n");
	} else {
		strbuf_appendf(&sb, "%s %-5s ", when, level_names[level]);
		if (pipeline || instance)
			strbuf_appendf(&sb, "[%s%s%s] ", pipeline ? pipeline : "", pipeline && instance ? "/" : "",
			               instance ? instance : "");
		strbuf_append(&sb, msg);
		strbuf_append(&sb, "\n");
	}
	if (sb.len) {
		ssize_t w = write(STDERR_FILENO, sb.buf, sb.len);
		(void)w;
	}
	strbuf_free(&sb);
}

void wmh_log(enum wm_log_level level, const char *pipeline, const char *instance, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	wmh_logv(level, pipeline, instance, fmt, ap);
	va_end(ap);
}
