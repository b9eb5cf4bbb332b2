/* Config loading, interpolation and validation: every error class, with the
 * exact file:line:col a user would see. */
#include "config.h"
#include "units.h"
#include "unit.h"

#include <stdlib.h>

static const struct wm_option item_opts[] = {
	{"url", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "target", 0, NULL, NULL},
	{"interval", WM_OPT_DURATION, "30s", 0, 0, "", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static const struct wm_option opts[] = {
	{"topic", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "topic name", 0, NULL, NULL},
	{"count", WM_OPT_INT, "7", 0, 0, "", 0, NULL, NULL},
	{"enabled", WM_OPT_BOOL, "true", 0, 0, "", 0, NULL, NULL},
	{"ratio", WM_OPT_DOUBLE, "0.5", 0, 0, "", 0, NULL, NULL},
	{"timeout", WM_OPT_DURATION, "10s", 0, 0, "", 0, NULL, NULL},
	{"max_body", WM_OPT_SIZE, "1MiB", 0, 0, "", 0, NULL, NULL},
	{"codes", WM_OPT_LIST, NULL, 0, 0, "", WM_OPT_INT, NULL, NULL},
	{"props", WM_OPT_MAP, NULL, 0, 0, "", 0, NULL, NULL},
	{"targets", WM_OPT_LIST, NULL, 0, 0, "", WM_OPT_MAP, item_opts, "url"},
	{"password", WM_OPT_STRING, NULL, WM_OPT_SECRET, 0, "", 0, NULL, NULL},
	{"group_id", WM_OPT_STRING, NULL, 0, WM_KIND_SOURCE, "", 0, NULL, NULL},
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

/* Parses yaml and validates its root; returns the diagnostics text. */
static char *validate(const char *yaml, unsigned role, struct wmh_doc **out)
{
	static char buf[8192];
	struct wmh_diag d = {STRBUF_INIT, 0};
	struct wmh_doc *doc = wmh_doc_parse("p.yaml", yaml, strlen(yaml), &d);
	if (doc)
		wmh_config_validate(doc->root, opts, role, "kafka_io", "plugin", &d);
	snprintf(buf, sizeof buf, "%s", d.sb.buf ? d.sb.buf : "");
	wmh_diag_free(&d);
	if (out)
		*out = doc;
	else
		wmh_doc_free(doc);
	return buf;
}

static void valid_config_reads_values_and_defaults(void)
{
	struct wmh_doc *doc;
	char *e = validate("plugin: x\ntopic: t1\ncount: 42\ntimeout: 1m30s\ncodes: [200, 301]\n"
	                   "props: {a: b, linger.ms: 5}\ntargets:\n  - https://a.example\n  - {url: http://b, interval: 5s}\n",
	                   WM_KIND_SINK, &doc);
	CHECK_STR(e, "");
	const struct wm_config *r = doc->root;
	CHECK_STR(wmh_cfg_str(r, "topic"), "t1");
	CHECK(wmh_cfg_int(r, "count") == 42);
	CHECK(wmh_cfg_bool(r, "enabled") == 1);
	CHECK(wmh_cfg_double(r, "ratio") == 0.5);
	CHECK(wmh_cfg_duration_ms(r, "timeout") == 90000);
	CHECK(wmh_cfg_size(r, "max_body") == 1048576);
	CHECK(wmh_cfg_len(wmh_cfg_get(r, "codes")) == 2);
	CHECK_STR(wmh_cfg_scalar(wmh_cfg_at(wmh_cfg_get(r, "codes"), 1)), "301");
	const struct wm_config *p = wmh_cfg_get(r, "props");
	CHECK_STR(wmh_cfg_key_at(p, 1), "linger.ms");
	CHECK_STR(wmh_cfg_scalar(wmh_cfg_at(p, 1)), "5");
	const struct wm_config *t = wmh_cfg_get(r, "targets");
	CHECK(wmh_cfg_len(t) == 2);
	CHECK_STR(wmh_cfg_str(wmh_cfg_at(t, 0), "url"), "https://a.example");
	CHECK(wmh_cfg_duration_ms(wmh_cfg_at(t, 0), "interval") == 30000);
	CHECK(wmh_cfg_duration_ms(wmh_cfg_at(t, 1), "interval") == 5000);
	CHECK(!wmh_cfg_has(r, "password"));
	CHECK(wmh_cfg_str(r, "password") == NULL);
	wmh_doc_free(doc);
}

static void unknown_key_names_location_and_allowed_keys(void)
{
	char *e = validate("plugin: x\ntopic: t\n\ntopc: y\n", WM_KIND_SINK, NULL);
	CHECK_HAS(e, "p.yaml:4:1: unknown key 'topc' for kafka_io; allowed: plugin, topic, count,");
	CHECK(!strstr(e, "group_id")); /* source-only key not offered to a sink */
}

static void missing_required_key_is_reported(void)
{
	char *e = validate("plugin: x\ncount: 1\n", WM_KIND_SINK, NULL);
	CHECK_HAS(e, "p.yaml:1:1: missing required key 'topic' for kafka_io");
}

static void wrong_type_points_at_value(void)
{
	char *e = validate("plugin: x\ntopic: t\ncount:   forty\n", WM_KIND_SINK, NULL);
	CHECK_HAS(e, "p.yaml:3:10: kafka_io: 'count' must be an integer such as 42, not 'forty'");
	e = validate("topic: t\nenabled: maybe\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:2:10: kafka_io: 'enabled' must be true or false");
	e = validate("topic: t\nprops: [1]\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:2:8: kafka_io: 'props' must be a map, not a list");
	e = validate("topic: {a: 1}\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:1:8: kafka_io: 'topic' must be a string, not a map");
}

static void duplicate_key_is_an_error(void)
{
	char *e = validate("topic: a\ncount: 1\ntopic: b\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:3:1: duplicate key 'topic' (first defined at line 1, column 1)");
}

static void bad_duration_and_size_are_errors(void)
{
	char *e = validate("topic: t\ntimeout: 30\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:2:10: kafka_io: 'timeout' must be a duration such as 250ms, 30s, 5m, 1h or 1d (at most 36500d), not '30'");
	e = validate("topic: t\nmax_body: 12 parsecs\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:2:11: kafka_io: 'max_body' must be a size such as 512, 64KiB or 10MB");
}

static void list_items_are_typed(void)
{
	char *e = validate("topic: t\ncodes: [200, abc]\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:2:14: kafka_io: 'codes' must be an integer such as 42, not 'abc'");
	e = validate("topic: t\ntargets:\n  - {interval: 5s}\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:3:5: missing required key 'url' for kafka_io");
	e = validate("topic: t\ntargets:\n  - {url: x, intervl: 5s}\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:3:14: unknown key 'intervl' for kafka_io; allowed: url, interval");
}

static void role_restricted_key_is_refused_for_other_role(void)
{
	char *e = validate("topic: t\ngroup_id: g\n", WM_KIND_SINK, NULL);
	CHECK_HAS(e, "p.yaml:2:1: key 'group_id' is not allowed for kafka_io as a sink");
	e = validate("topic: t\ngroup_id: g\n", WM_KIND_SOURCE, NULL);
	CHECK_STR(e, "");
}

static void yaml_syntax_error_has_location(void)
{
	char *e = validate("topic: t\n  bad: [\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:2:");
	CHECK_HAS(e, "YAML syntax error");
}

static void interpolation_forms(void)
{
	char err[256];
	int used = 0;
	setenv("WMH_T_A", "alpha", 1);
	unsetenv("WMH_T_UNSET");
	setenv("WMH_T_EMPTY", "", 1);
	char *s = wmh_interpolate("x-${WMH_T_A}-y", &used, err, sizeof err);
	CHECK_STR(s, "x-alpha-y");
	CHECK(used);
	free(s);
	s = wmh_interpolate("${WMH_T_UNSET:-127.0.0.1:9092}", &used, err, sizeof err);
	CHECK_STR(s, "127.0.0.1:9092");
	free(s);
	s = wmh_interpolate("${WMH_T_EMPTY:-d}", &used, err, sizeof err);
	CHECK_STR(s, "d");
	free(s);
	s = wmh_interpolate("cost $$5 ${WMH_T_A:-z}", &used, err, sizeof err);
	CHECK_STR(s, "cost $5 alpha");
	free(s);
	s = wmh_interpolate("${WMH_T_UNSET}", &used, err, sizeof err);
	CHECK(s == NULL);
	CHECK_HAS(err, "environment variable WMH_T_UNSET is not set");
	s = wmh_interpolate("${WMH_T_UNSET:?set it to the broker list}", &used, err, sizeof err);
	CHECK(s == NULL);
	CHECK_HAS(err, "WMH_T_UNSET is required: set it to the broker list");
	s = wmh_interpolate("${WMH_T_A", &used, err, sizeof err);
	CHECK(s == NULL);
	CHECK_HAS(err, "unterminated");
}

static void interpolation_error_has_location(void)
{
	unsetenv("WMH_T_UNSET");
	char *e = validate("topic: t\ncount: ${WMH_T_UNSET}\n", 0, NULL);
	CHECK_HAS(e, "p.yaml:2:8: environment variable WMH_T_UNSET is not set");
}

static void secrets_and_env_values_are_never_echoed(void)
{
	setenv("WMH_T_SECRET", "hunter2", 1);
	char *e = validate("topic: t\ncount: ${WMH_T_SECRET}\n", 0, NULL);
	CHECK_HAS(e, "'count' must be an integer such as 42 (value hidden)");
	CHECK(!strstr(e, "hunter2"));
}

static void durations_and_sizes_parse(void)
{
	int64_t v;
	CHECK(wmh_parse_duration_ms("250ms", &v) == 0 && v == 250);
	CHECK(wmh_parse_duration_ms("30s", &v) == 0 && v == 30000);
	CHECK(wmh_parse_duration_ms("5m", &v) == 0 && v == 300000);
	CHECK(wmh_parse_duration_ms("1h", &v) == 0 && v == 3600000);
	CHECK(wmh_parse_duration_ms("1d", &v) == 0 && v == 86400000);
	CHECK(wmh_parse_duration_ms("1m30s", &v) == 0 && v == 90000);
	CHECK(wmh_parse_duration_ms("1.5s", &v) == 0 && v == 1500);
	CHECK(wmh_parse_duration_ms("30", &v) != 0);
	CHECK(wmh_parse_duration_ms("-1s", &v) != 0);
	CHECK(wmh_parse_duration_ms("5 s", &v) != 0);
	CHECK(wmh_parse_duration_ms("5x", &v) != 0);
	CHECK(wmh_parse_duration_ms("", &v) != 0);
	/* 100 years at most: a duration in microseconds added to a clock must
	 * not overflow (a "never" of 200000000d once gave up at once) */
	CHECK(wmh_parse_duration_ms("36500d", &v) == 0 && v == WMH_DURATION_MAX_MS);
	CHECK(wmh_parse_duration_ms("36501d", &v) != 0);
	CHECK(wmh_parse_duration_ms("200000000d", &v) != 0);
	CHECK(wmh_parse_size("512", &v) == 0 && v == 512);
	CHECK(wmh_parse_size("64KiB", &v) == 0 && v == 65536);
	CHECK(wmh_parse_size("10MB", &v) == 0 && v == 10000000);
	CHECK(wmh_parse_size("1GiB", &v) == 0 && v == 1073741824);
	CHECK(wmh_parse_size("1.5KiB", &v) == 0 && v == 1536);
	CHECK(wmh_parse_size("1.3B", &v) != 0);
	CHECK(wmh_parse_size("10 MB", &v) != 0);
	CHECK(wmh_parse_size("-5", &v) != 0);
	CHECK(wmh_parse_size("5XB", &v) != 0);
	int b;
	CHECK(wmh_parse_bool("yes", &b) == 0 && b == 1);
	CHECK(wmh_parse_bool("Off", &b) == 0 && b == 0);
	CHECK(wmh_parse_bool("1", &b) != 0);
	CHECK(wmh_parse_int("99999999999999999999", &v) != 0);
	CHECK(wmh_parse_int("12x", &v) != 0);
}

static void option_table_defaults_are_checked(void)
{
	static const struct wm_option bad[] = {
		{"t", WM_OPT_DURATION, "soon", 0, 0, "", 0, NULL, NULL},
		{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
	};
	char err[256];
	CHECK(wmh_option_table_check(bad, err, sizeof err) == -1);
	CHECK_HAS(err, "option 't': default 'soon' is not a valid duration");
	CHECK(wmh_option_table_check(opts, err, sizeof err) == 0);
}

static void cfg_errorf_formats_location(void)
{
	struct wmh_doc *doc;
	validate("topic: t\ncount: 3\n", 0, &doc);
	char err[256];
	CHECK(wmh_cfg_errorf(doc->root, "count", err, sizeof err, "must be even, not %d", 3) == -1);
	CHECK_STR(err, "p.yaml:2:8: count: must be even, not 3");
	wmh_doc_free(doc);
}

int main(void)
{
	RUN(valid_config_reads_values_and_defaults);
	RUN(unknown_key_names_location_and_allowed_keys);
	RUN(missing_required_key_is_reported);
	RUN(wrong_type_points_at_value);
	RUN(duplicate_key_is_an_error);
	RUN(bad_duration_and_size_are_errors);
	RUN(list_items_are_typed);
	RUN(role_restricted_key_is_refused_for_other_role);
	RUN(yaml_syntax_error_has_location);
	RUN(interpolation_forms);
	RUN(interpolation_error_has_location);
	RUN(secrets_and_env_values_are_never_echoed);
	RUN(durations_and_sizes_parse);
	RUN(option_table_defaults_are_checked);
	RUN(cfg_errorf_formats_location);
	return UNIT_EXIT();
}
