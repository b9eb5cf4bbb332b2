/* Typed scalar parsing: integers, booleans, doubles, durations, sizes.
 * Every parser takes the whole string or fails; nothing is guessed. */
#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int wmh_parse_int(const char *s, int64_t *out)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int wmh_parse_bool(const char *s, int *out)
{
	static const char *const t[] = {"true", "yes", "on"}, *const f[] = {"false", "no", "off"};
	for (int i = 0; i < 3; i++) {
		if (strcasecmp(s, t[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, f[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int wmh_parse_double(const char *s, double *out)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* Reads "<digits>[.<digits>]" at *p; returns the number or -1. */
static int number(const char **p, double *out)
{
	const char *s = *p;
	if (!isdigit((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s)
		return -1;
	for (const char *q = s; q < end; q++)
		if (!isdigit((unsigned char)*q) && *q != '.')
			return -1; /* no exponents, signs or hex */
	*p = end;
	*out = v;
	return 0;
}

int wmh_parse_duration_ms(const char *s, int64_t *out)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	if (!s || !*s)
		return -1;
	double total = 0;
	const char *p = s;
	while (*p) {
		double v;
		if (number(&p, &v))
			return -1;
		size_t ul = 0;
		while (isalpha((unsigned char)p[ul]))
			ul++;
		if (ul == 0)
			return -1; /* a unit is required: "30" is ambiguous */
		int found = 0;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			if (strlen(units[i].unit) == ul && strncmp(p, units[i].unit, ul) == 0) {
				total += v * units[i].ms;
				found = 1;
				break;
			}
		}
		if (!found)
			return -1;
		p += ul;
	}
	if (total > (double)WMH_DURATION_MAX_MS)
		return -1;
	*out = (int64_t)total;
	return 0;
}

int wmh_parse_size(const char *s, int64_t *out)
{
	static const struct {
		const char *unit;
		double mul;
	} units[] = {{"", 1},          {"B", 1},          {"KB", 1e3},          {"MB", 1e6},
	             {"GB", 1e9},      {"KiB", 1024.0},   {"MiB", 1048576.0},   {"GiB", 1073741824.0},
	             {"k", 1e3},       {"K", 1024.0},     {"M", 1048576.0},     {"G", 1073741824.0}};
	if (!s)
		return -1;
	const char *p = s;
	double v;
	if (number(&p, &v))
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(p, units[i].unit) == 0) {
			double b = v * units[i].mul;
			if (b > 9.2e18 || b != floor(b))
				return -1;
			*out = (int64_t)b;
			return 0;
		}
	}
	return -1;
}
