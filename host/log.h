/* Host logging: one line per event on stderr, text or JSON. */
#ifndef WMH_LOG_H
#define WMH_LOG_H
#include "wmhost/plugin.h"
#include <stdarg.h>

enum wmh_log_format { WMH_LOG_TEXT, WMH_LOG_JSON };

void wmh_log_configure(enum wm_log_level level, enum wmh_log_format format);
int wmh_log_level_parse(const char *s, enum wm_log_level *out);
int wmh_log_enabled(enum wm_log_level level);
/* pipeline and instance may be NULL. */
void wmh_logv(enum wm_log_level level, const char *pipeline, const char *instance, const char *fmt, va_list ap);
void wmh_log(enum wm_log_level level, const char *pipeline, const char *instance, const char *fmt, ...)
	WM_PRINTF(4, 5);

#define wmh_error(...) wmh_log(WM_LOG_ERROR, NULL, NULL, __VA_ARGS__)
#define wmh_warn(...) wmh_log(WM_LOG_WARN, NULL, NULL, __VA_ARGS__)
#define wmh_info(...) wmh_log(WM_LOG_INFO, NULL, NULL, __VA_ARGS__)
#define wmh_debug(...) wmh_log(WM_LOG_DEBUG, NULL, NULL, __VA_ARGS__)
#endif
