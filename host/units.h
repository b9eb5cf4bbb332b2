/* Parsing of the typed scalar syntaxes used in configuration. */
#ifndef WMH_UNITS_H
#define WMH_UNITS_H
#include <stdint.h>
/* The longest duration accepted: 36500d (100 years), so that any duration
 * in microseconds, added to a clock, stays far from overflowing. */
#define WMH_DURATION_MAX_MS 3153600000000LL
/* "250ms", "30s", "5m", "1h", "1d", "1m30s", "1.5s" -> milliseconds. */
int wmh_parse_duration_ms(const char *s, int64_t *out);
/* "512", "512B", "64KiB", "10MB", "1GiB" -> bytes. */
int wmh_parse_size(const char *s, int64_t *out);
int wmh_parse_int(const char *s, int64_t *out);
int wmh_parse_bool(const char *s, int *out);
int wmh_parse_double(const char *s, double *out);
#endif
