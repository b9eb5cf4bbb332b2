/*
 * http_probe: the option table and turning a validated config (inline
 * targets and a targets file) into checked, ready-to-run targets. Every user
 * mistake is reported here, at init, with its location.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_probe.h"

#define HP_STATUS_MIN 100
#define HP_STATUS_MAX 599
#define HP_STATUS_CLASS_WIDTH 100
#define HP_LOOPS_MAX 64

/* Options a target may override; absent means "the plugin-level value". */
#define HP_TARGET_OVERRIDES(dflt)                                                                                     \
	{"interval", WM_OPT_DURATION, dflt("30s"), 0, 0, "time between two checks of a target", 0, NULL, NULL},       \
	    {"timeout", WM_OPT_DURATION, dflt("10s"), 0, 0, "whole check, redirects and body included", 0, NULL,      \
	     NULL},                                                                                                    \
	    {"method", WM_OPT_STRING, dflt("GET"), 0, 0, "HTTP method (HEAD reads no body, so it takes no pattern)", 0, NULL, NULL},          \
	    {"headers", WM_OPT_MAP, NULL, 0, 0, "extra request headers (name: value)", 0, NULL, NULL},                \
	    {"body", WM_OPT_STRING, NULL, 0, 0, "request body (e.g. for POST)", 0, NULL, NULL},                       \
	    {"expect_status", WM_OPT_LIST, dflt("200-399"), 0, 0,                                                     \
	     "accepted status codes: codes, ranges and classes, e.g. [200-299, 301] or \"2xx,404\"", WM_OPT_STRING,   \
	     NULL, NULL},                                                                                              \
	    {"pattern", WM_OPT_STRING, NULL, 0, 0, "PCRE2 pattern searched in the body (bytes, across chunks)", 0,    \
	     NULL, NULL},                                                                                              \
	    {"pattern_must_not_match", WM_OPT_BOOL, dflt("false"), 0, 0, "invert: success when the pattern is absent", \
	     0, NULL, NULL},                                                                                           \
	    {"follow_redirects", WM_OPT_BOOL, dflt("true"), 0, 0, "follow 3xx Location headers", 0, NULL, NULL},      \
	    {"max_redirects", WM_OPT_INT, dflt("10"), 0, 0, "more redirects → too_many_redirects", 0, NULL, NULL},    \
	    {"max_body", WM_OPT_SIZE, dflt("1MiB"), 0, 0, "bytes of body scanned; a longer body → body_too_large", 0, \
	     NULL, NULL},                                                                                              \
	    {"tls_verify", WM_OPT_BOOL, dflt("true"), 0, 0, "verify the certificate chain and host name", 0, NULL,    \
	     NULL},                                                                                                    \
	    {"tls_ca_file", WM_OPT_STRING, NULL, 0, 0,                                                                \
	     "PEM file of CA certificates trusted instead of the system's (sites with a private CA)", 0, NULL, NULL},  \
	    {"http_version", WM_OPT_STRING, dflt("auto"), 0, 0,                                                       \
	     "auto (HTTP/2 over TLS when the server offers it, else 1.1), 1.0, 1.1, 2 (asks for an upgrade on http://)" \
	     " or 2-prior-knowledge (HTTP/2 without asking, also on http://)",                                         \
	     0, NULL, NULL},                                                                                           \
	{                                                                                                              \
		"ip_version", WM_OPT_STRING, dflt("any"), 0, 0, "any, 4 or 6: address family used to connect", 0,    \
		    NULL, NULL                                                                                         \
	}

#define HP_WITH_DEFAULT(v) v
#define HP_NO_DEFAULT(v) NULL

static const struct wm_option target_options[] = {
	{"url", WM_OPT_STRING, NULL, WM_OPT_REQUIRED, 0, "http:// or https:// URL", 0, NULL, NULL},
	{"name", WM_OPT_STRING, NULL, 0, 0, "target name in records (default: the URL)", 0, NULL, NULL},
	HP_TARGET_OVERRIDES(HP_NO_DEFAULT),
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

const struct wm_option hp_options[] = {
	{"targets", WM_OPT_LIST, NULL, 0, 0,
	 "targets: a URL, or a map with url and any per-target option below (name, interval, timeout, ...)",
	 WM_OPT_MAP, target_options, "url"},
	{"targets_file", WM_OPT_STRING, NULL, 0, 0, "file with one target per line: URL [pattern]; # comments", 0,
	 NULL, NULL},
	{"agent", WM_OPT_STRING, NULL, 0, 0, "agent id in every record (default: the host name)", 0, NULL, NULL},
	{"max_in_flight", WM_OPT_INT, "1000", 0, 0, "checks running at once (over all loops)", 0, NULL, NULL},
	{"loops", WM_OPT_INT, "1", 0, 0,
	 "event loop threads; targets are split over them (more than 1 only pays with spare cores)", 0, NULL,
	 NULL},
	{"run_once", WM_OPT_BOOL, "false", 0, 0, "check every target once, then stop", 0, NULL, NULL},
	{"stop_grace", WM_OPT_DURATION, "1s", 0, 0,
	 "on SIGTERM/SIGINT, how long checks under way may take to finish (their records are kept); later "
	 "ones are abandoned",
	 0, NULL, NULL},
	{"user_agent", WM_OPT_STRING, "wmhost-http_probe/1", 0, 0, "User-Agent header", 0, NULL, NULL},
	HP_TARGET_OVERRIDES(HP_WITH_DEFAULT),
	{NULL, 0, NULL, 0, 0, NULL, 0, NULL, NULL},
};

static const char *option_default(const char *name)
{
	for (const struct wm_option *o = hp_options; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o->default_value;
	return NULL;
}

/* The node a target reads key from: its own if set, else the plugin level. */
static const struct wm_config *pick(const struct wm_config *t, const struct wm_config *top, const char *key)
{
	return t && hp_api->cfg_has(t, key) ? t : top;
}

/* A CA file must be readable now: a typo is a config error, not a
 * tls_error on every check. */
static int ca_file_check(const struct wm_config *n, const char *path, char *err, size_t errlen)
{
	if (!path || !*path)
		return hp_api->cfg_errorf(n, "tls_ca_file", err, errlen, "must not be empty");
	FILE *f = fopen(path, "r");
	if (!f)
		return hp_api->cfg_errorf(n, "tls_ca_file", err, errlen, "cannot read '%s': %s", path, strerror(errno));
	struct stat st;
	int regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
	fclose(f);
	if (!regular)
		return hp_api->cfg_errorf(n, "tls_ca_file", err, errlen, "'%s' is not a file (a PEM file of CA certificates)",
		                          path);
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* --- expect_status --------------------------------------------------- */

static int parse_code(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < HP_STATUS_MIN || v > HP_STATUS_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/* One piece: "200", "200-399" or "2xx". */
static int parse_range(char *piece, struct hp_range *r)
{
	char *s = trim(piece);
	size_t n = strlen(s);
	if (n == 3 && isdigit((unsigned char)s[0]) && tolower((unsigned char)s[1]) == 'x' &&
	    tolower((unsigned char)s[2]) == 'x') {
		r->lo = (s[0] - '0') * HP_STATUS_CLASS_WIDTH;
		r->hi = r->lo + HP_STATUS_CLASS_WIDTH - 1;
		return r->lo >= HP_STATUS_MIN && r->hi <= HP_STATUS_MAX ? 0 : -1;
	}
	char *dash = strchr(s, '-');
	if (dash) {
		*dash = '\0';
		if (parse_code(trim(s), &r->lo) || parse_code(trim(dash + 1), &r->hi) || r->lo > r->hi)
			return -1;
		return 0;
	}
	if (parse_code(s, &r->lo))
		return -1;
	r->hi = r->lo;
	return 0;
}

static void status_free(struct hp_status *s)
{
	if (!s)
		return;
	free(s->ranges);
	free(s->text);
	free(s);
}

/* Parses the items (each may hold commas); NULL items means the default. */
static int status_parse(const struct wm_config *items, struct hp_status **out, char *bad, size_t badlen)
{
	struct hp_status *s = calloc(1, sizeof(*s));
	size_t n_items = items ? hp_api->cfg_len(items) : 1;
	size_t textlen = 0;
	char *copy = NULL;
	if (!s)
		goto nomem;
	for (size_t i = 0; i < n_items; i++) {
		const char *item = items ? hp_api->cfg_scalar(hp_api->cfg_at(items, i)) : option_default("expect_status");
		if (!item)
			item = "";
		free(copy);
		if (!(copy = strdup(item)))
			goto nomem;
		/* remember the text for messages: "200-299,301" */
		char *t = realloc(s->text, textlen + strlen(item) + 2);
		if (!t)
			goto nomem;
		s->text = t;
		textlen += (size_t)sprintf(s->text + textlen, "%s%s", textlen ? "," : "", item);
		char *save = NULL;
		int pieces = 0;
		for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			struct hp_range *r = realloc(s->ranges, (s->n + 1) * sizeof(*r));
			if (!r)
				goto nomem;
			s->ranges = r;
			char piece[64];
			snprintf(piece, sizeof(piece), "%s", p);
			if (parse_range(p, &s->ranges[s->n])) {
				snprintf(bad, badlen,
				         "invalid status '%s': use codes (200), ranges (200-399) or classes (2xx), "
				         "within %d-%d",
				         trim(piece), HP_STATUS_MIN, HP_STATUS_MAX);
				goto fail;
			}
			s->n++;
			pieces++;
		}
		if (!pieces) {
			snprintf(bad, badlen, "empty status spec");
			goto fail;
		}
	}
	if (s->n == 0) {
		snprintf(bad, badlen, "empty status list");
		goto fail;
	}
	free(copy);
	*out = s;
	return 0;
nomem:
	snprintf(bad, badlen, "out of memory");
fail:
	free(copy);
	status_free(s);
	return -1;
}

int hp_status_ok(const struct hp_status *s, long code)
{
	for (size_t i = 0; i < s->n; i++)
		if (code >= s->ranges[i].lo && code <= s->ranges[i].hi)
			return 1;
	return 0;
}

/* --- URLs, methods, headers ------------------------------------------ */

static int url_check(const char *url, char *msg, size_t msglen)
{
	int rc = -1;
	char *scheme = NULL, *host = NULL;
	CURLU *u = curl_url();
	if (!u) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (uc) {
		snprintf(msg, msglen, "unparseable URL '%s': %s", url, curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) || !scheme ||
	    (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))) {
		snprintf(msg, msglen, "unsupported scheme '%s' in '%s': only http and https", scheme ? scheme : "",
		         url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) || !host || !*host) {
		snprintf(msg, msglen, "URL '%s' has no host", url);
		goto out;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

static int method_ok(const char *m)
{
	if (!*m)
		return 0;
	for (; *m; m++)
		if (!isupper((unsigned char)*m))
			return 0;
	return 1;
}

/* A header field name is an HTTP token; values carry no line breaks. */
static int header_ok(const char *name, const char *value)
{
	if (!*name)
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
			return 0;
	return !strpbrk(value, "\r\n");
}

static int has_header(const struct wm_config *h, const char *name)
{
	size_t n = h ? hp_api->cfg_len(h) : 0;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(hp_api->cfg_key_at(h, i), name) == 0)
			return 1;
	return 0;
}

static int append_headers(struct curl_slist **list, const struct wm_config *h, const struct wm_config *skip_if_in,
                          const struct wm_config **bad)
{
	size_t n = h ? hp_api->cfg_len(h) : 0;
	for (size_t i = 0; i < n; i++) {
		const char *k = hp_api->cfg_key_at(h, i);
		const char *v = hp_api->cfg_scalar(hp_api->cfg_at(h, i));
		if (!v)
			v = "";
		if (skip_if_in && has_header(skip_if_in, k))
			continue; /* the target's own value wins */
		if (!header_ok(k, v)) {
			*bad = h;
			return -1;
		}
		size_t len = strlen(k) + strlen(v) + 3;
		char *line = malloc(len);
		if (!line)
			return -2;
		/* curl sends "Name;" as an empty header ("Name:" would drop it). */
		snprintf(line, len, *v ? "%s: %s" : "%s;", k, v);
		struct curl_slist *nl = curl_slist_append(*list, line);
		free(line);
		if (!nl)
			return -2;
		*list = nl;
	}
	return 0;
}

/* --- targets ---------------------------------------------------------- */

/* HEAD asks for no body (CURLOPT_NOBODY), so a pattern would be matched
 * against nothing: pattern_mismatch on every check, or, with
 * pattern_must_not_match, a success that proves nothing. */
#define HP_HEAD_PATTERN_MSG "HEAD reads no body, so a pattern could never be found in it: use GET, or drop the pattern"

static int is_head(const char *method)
{
	return method && strcmp(method, "HEAD") == 0;
}

static int register_pattern(struct hp_ctx *c, struct hp_pattern *p)
{
	struct hp_pattern **a = realloc(c->patterns, (c->n_patterns + 1) * sizeof(*a));
	if (!a)
		return -1;
	c->patterns = a;
	c->patterns[c->n_patterns++] = p;
	return 0;
}

static struct hp_target *new_target(struct hp_ctx *c, size_t *cap)
{
	if (c->n_targets == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct hp_target *t = realloc(c->targets, ncap * sizeof(*t));
		if (!t)
			return NULL;
		c->targets = t;
		*cap = ncap;
	}
	struct hp_target *t = &c->targets[c->n_targets++];
	memset(t, 0, sizeof(*t));
	return t;
}

static void target_free(struct hp_ctx *c, struct hp_target *t)
{
	free(t->name);
	free(t->url);
	free(t->method);
	free(t->body);
	free(t->ca_file);
	curl_slist_free_all(t->headers);
	if (t->status != c->default_status)
		status_free(t->status);
}

/*
 * Fills the options of target t: from node tn (an inline target, or NULL for
 * a targets-file line) falling back to the plugin level. where/lineno name
 * the targets file for messages.
 */
static int target_options_load(struct hp_ctx *c, struct hp_target *t, const struct wm_config *tn,
                               const struct wm_config *top, struct hp_pattern *default_pat, char *err, size_t errlen)
{
	const struct wm_config *n;
	char msg[512];

	n = pick(tn, top, "interval");
	int64_t interval_ms = hp_api->cfg_duration_ms(n, "interval");
	if (interval_ms <= 0)
		return hp_api->cfg_errorf(n, "interval", err, errlen, "must be greater than 0");
	t->interval_us = interval_ms * 1000;
	n = pick(tn, top, "timeout");
	t->timeout_ms = hp_api->cfg_duration_ms(n, "timeout");
	if (t->timeout_ms <= 0)
		return hp_api->cfg_errorf(n, "timeout", err, errlen, "must be greater than 0");
	n = pick(tn, top, "max_body");
	t->max_body = hp_api->cfg_size(n, "max_body");
	if (t->max_body <= 0)
		return hp_api->cfg_errorf(n, "max_body", err, errlen, "must be greater than 0");
	n = pick(tn, top, "max_redirects");
	int64_t mr = hp_api->cfg_int(n, "max_redirects");
	if (mr < 0 || mr > 1000)
		return hp_api->cfg_errorf(n, "max_redirects", err, errlen, "must be within 0-1000");
	t->max_redirects = (long)mr;
	t->follow = hp_api->cfg_bool(pick(tn, top, "follow_redirects"), "follow_redirects");
	t->tls_verify = hp_api->cfg_bool(pick(tn, top, "tls_verify"), "tls_verify");
	if (tn && hp_api->cfg_has(tn, "tls_ca_file")) {
		/* a target's own CA file; without one the plugin-level one counts */
		const char *ca = hp_api->cfg_str(tn, "tls_ca_file");
		if (ca_file_check(tn, ca, err, errlen))
			return -1;
		if (!(t->ca_file = strdup(ca)))
			goto nomem;
	}
	t->invert = hp_api->cfg_bool(pick(tn, top, "pattern_must_not_match"), "pattern_must_not_match");

	n = pick(tn, top, "method");
	const char *m = hp_api->cfg_str(n, "method");
	if (!m || !method_ok(m))
		return hp_api->cfg_errorf(n, "method", err, errlen, "'%s' is not an HTTP method (e.g. GET, HEAD, POST)",
		                          m ? m : "");
	if (!(t->method = strdup(m)))
		goto nomem;
	n = pick(tn, top, "body");
	const char *b = hp_api->cfg_str(n, "body");
	if (b && !(t->body = strdup(b)))
		goto nomem;

	n = pick(tn, top, "ip_version");
	const char *ipv = hp_api->cfg_str(n, "ip_version");
	if (!ipv || !strcmp(ipv, "any"))
		t->ipresolve = CURL_IPRESOLVE_WHATEVER;
	else if (!strcmp(ipv, "4") || !strcasecmp(ipv, "ipv4"))
		t->ipresolve = CURL_IPRESOLVE_V4;
	else if (!strcmp(ipv, "6") || !strcasecmp(ipv, "ipv6"))
		t->ipresolve = CURL_IPRESOLVE_V6;
	else
		return hp_api->cfg_errorf(n, "ip_version", err, errlen, "'%s' is not one of: any, 4, 6", ipv);

	n = pick(tn, top, "http_version");
	const char *hv = hp_api->cfg_str(n, "http_version");
	if (!hv || !strcmp(hv, "auto"))
		t->httpver = CURL_HTTP_VERSION_2TLS;
	else if (!strcmp(hv, "1.0"))
		t->httpver = CURL_HTTP_VERSION_1_0;
	else if (!strcmp(hv, "1.1"))
		t->httpver = CURL_HTTP_VERSION_1_1;
	else if (!strcmp(hv, "2"))
		t->httpver = CURL_HTTP_VERSION_2_0;
	else if (!strcmp(hv, "2-prior-knowledge"))
		t->httpver = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
	else
		return hp_api->cfg_errorf(n, "http_version", err, errlen,
		                          "'%s' is not one of: auto, 1.0, 1.1, 2, 2-prior-knowledge", hv);
	if ((t->httpver == CURL_HTTP_VERSION_2_0 || t->httpver == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) &&
	    !(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2))
		return hp_api->cfg_errorf(n, "http_version", err, errlen,
		                          "'%s' needs a libcurl built with HTTP/2 support, and this one has none", hv);

	/* headers: the plugin level's, then the target's (the target wins) */
	const struct wm_config *th = tn ? hp_api->cfg_get(tn, "headers") : NULL;
	const struct wm_config *ph = hp_api->cfg_get(top, "headers");
	const struct wm_config *bad = NULL;
	int hr = append_headers(&t->headers, ph, th, &bad);
	if (!hr)
		hr = append_headers(&t->headers, th, NULL, &bad);
	if (hr == -2)
		goto nomem;
	if (hr == -1)
		return hp_api->cfg_errorf(bad, NULL, err, errlen, "invalid header name or value (no line breaks)");
	/* Every check uses its own connection; telling the server lets it close
	 * first, so TIME_WAIT sockets pile up there and not in the agent. */
	if (!has_header(th, "Connection") && !has_header(ph, "Connection")) {
		struct curl_slist *nl = curl_slist_append(t->headers, "Connection: close");
		if (!nl)
			goto nomem;
		t->headers = nl;
	}

	if (tn && hp_api->cfg_has(tn, "expect_status")) {
		if (status_parse(hp_api->cfg_get(tn, "expect_status"), &t->status, msg, sizeof(msg)))
			return hp_api->cfg_errorf(tn, "expect_status", err, errlen, "target '%s': %s", t->name, msg);
	} else {
		t->status = c->default_status;
	}

	if (tn && hp_api->cfg_has(tn, "pattern")) {
		struct hp_pattern *p;
		if (hp_pattern_compile(hp_api->cfg_str(tn, "pattern"), &p, msg, sizeof(msg)))
			return hp_api->cfg_errorf(tn, "pattern", err, errlen, "target '%s': %s", t->name, msg);
		if (register_pattern(c, p)) {
			hp_pattern_unref(p);
			goto nomem;
		}
		t->pattern = p;
	} else {
		t->pattern = default_pat;
	}
	/* Both set at plugin level was refused before any target; here one of
	 * them is the target's own, and that one is where the message points. */
	if (t->pattern && is_head(t->method) && tn) {
		if (hp_api->cfg_has(tn, "method"))
			return hp_api->cfg_errorf(tn, "method", err, errlen, "target '%s': %s", t->name,
			                          HP_HEAD_PATTERN_MSG);
		return hp_api->cfg_errorf(tn, "pattern", err, errlen, "target '%s': method HEAD (plugin level): %s",
		                          t->name, HP_HEAD_PATTERN_MSG);
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int load_inline(struct hp_ctx *c, const struct wm_config *top, struct hp_pattern *dp, size_t *cap, char *err,
                       size_t errlen)
{
	const struct wm_config *list = hp_api->cfg_get(top, "targets");
	size_t n = list ? hp_api->cfg_len(list) : 0;
	char msg[512];
	for (size_t i = 0; i < n; i++) {
		const struct wm_config *tn = hp_api->cfg_at(list, i);
		const char *url = hp_api->cfg_str(tn, "url");
		if (!url || url_check(url, msg, sizeof(msg)))
			return hp_api->cfg_errorf(tn, "url", err, errlen, "%s", url ? msg : "missing url");
		struct hp_target *t = new_target(c, cap);
		if (!t)
			goto nomem;
		const char *name = hp_api->cfg_has(tn, "name") ? hp_api->cfg_str(tn, "name") : url;
		if (!(t->url = strdup(url)) || !(t->name = strdup(name ? name : url)))
			goto nomem;
		if (target_options_load(c, t, tn, top, dp, err, errlen))
			return -1;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int load_file(struct hp_ctx *c, const struct wm_config *top, struct hp_pattern *dp, size_t *cap, char *err,
                     size_t errlen)
{
	const char *path = hp_api->cfg_str(top, "targets_file");
	char *line = NULL;
	size_t linecap = 0, lineno = 0;
	char msg[512];
	int rc = -1;
	struct hp_pattern *last = NULL; /* lines often repeat a pattern: compile it once */

	FILE *f = fopen(path, "r");
	if (!f)
		return hp_api->cfg_errorf(top, "targets_file", err, errlen, "cannot open '%s': %s", path,
		                          strerror(errno));
	while (getline(&line, &linecap, f) >= 0) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *url = s, *pat = s + strcspn(s, " \t");
		if (*pat)
			*pat++ = '\0';
		pat = trim(pat);
		if (url_check(url, msg, sizeof(msg))) {
			hp_api->cfg_errorf(top, "targets_file", err, errlen, "%s:%zu: %s", path, lineno, msg);
			goto out;
		}
		struct hp_target *t = new_target(c, cap);
		if (!t || !(t->url = strdup(url)) || !(t->name = strdup(url)))
			goto nomem;
		if (target_options_load(c, t, NULL, top, dp, err, errlen))
			goto out;
		if (*pat) {
			if (!last || strcmp(last->src, pat)) {
				if (hp_pattern_compile(pat, &last, msg, sizeof(msg))) {
					hp_api->cfg_errorf(top, "targets_file", err, errlen, "%s:%zu: %s", path, lineno,
					                   msg);
					goto out;
				}
				if (register_pattern(c, last)) {
					hp_pattern_unref(last);
					goto nomem;
				}
			}
			t->pattern = last;
			if (is_head(t->method)) {
				hp_api->cfg_errorf(top, "targets_file", err, errlen,
				                   "%s:%zu: method HEAD (plugin level): %s", path, lineno,
				                   HP_HEAD_PATTERN_MSG);
				goto out;
			}
		}
	}
	if (ferror(f)) {
		hp_api->cfg_errorf(top, "targets_file", err, errlen, "reading '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	free(line);
	fclose(f);
	return rc;
}

int hp_config_load(struct hp_ctx *c, const struct wm_config *top, char *err, size_t errlen)
{
	char msg[512];
	size_t cap = 0;
	struct hp_pattern *dp = NULL;

	const char *agent = hp_api->cfg_str(top, "agent");
	if (agent && *agent)
		snprintf(c->agent, sizeof(c->agent), "%s", agent);
	else if (gethostname(c->agent, sizeof(c->agent) - 1) != 0)
		snprintf(c->agent, sizeof(c->agent), "unknown");
	c->max_in_flight = hp_api->cfg_int(top, "max_in_flight");
	if (c->max_in_flight < 1)
		return hp_api->cfg_errorf(top, "max_in_flight", err, errlen, "must be at least 1");
	int64_t loops = hp_api->cfg_int(top, "loops");
	if (loops < 1 || loops > HP_LOOPS_MAX)
		return hp_api->cfg_errorf(top, "loops", err, errlen, "must be within 1-%d", HP_LOOPS_MAX);
	c->n_lanes = (unsigned)loops;
	c->run_once = hp_api->cfg_bool(top, "run_once");
	c->stop_grace_us = hp_api->cfg_duration_ms(top, "stop_grace") * 1000;
	if (c->stop_grace_us < 0)
		return hp_api->cfg_errorf(top, "stop_grace", err, errlen, "must not be negative");
	const char *ua = hp_api->cfg_str(top, "user_agent");
	if (ua && !(c->user_agent = strdup(ua)))
		goto nomem;

	const struct wm_config *es = hp_api->cfg_has(top, "expect_status") ? hp_api->cfg_get(top, "expect_status") : NULL;
	if (hp_api->cfg_has(top, "tls_ca_file")) {
		const char *ca = hp_api->cfg_str(top, "tls_ca_file");
		if (ca_file_check(top, ca, err, errlen))
			return -1;
		if (!(c->ca_file = strdup(ca)))
			return hp_api->cfg_errorf(top, NULL, err, errlen, "out of memory");
	}
	if (status_parse(es, &c->default_status, msg, sizeof(msg)))
		return hp_api->cfg_errorf(top, "expect_status", err, errlen, "%s", msg);
	if (hp_api->cfg_has(top, "pattern")) {
		if (hp_pattern_compile(hp_api->cfg_str(top, "pattern"), &dp, msg, sizeof(msg)))
			return hp_api->cfg_errorf(top, "pattern", err, errlen, "%s", msg);
		if (register_pattern(c, dp)) {
			hp_pattern_unref(dp);
			goto nomem;
		}
		if (is_head(hp_api->cfg_str(top, "method")))
			return hp_api->cfg_errorf(top, "method", err, errlen, "with the plugin-level pattern: %s",
			                          HP_HEAD_PATTERN_MSG);
	}

	if (load_inline(c, top, dp, &cap, err, errlen))
		return -1;
	if (hp_api->cfg_has(top, "targets_file") && load_file(c, top, dp, &cap, err, errlen))
		return -1;
	if (c->n_targets == 0)
		return hp_api->cfg_errorf(top, NULL, err, errlen, "no targets: set 'targets' and/or 'targets_file'");
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

void hp_config_free(struct hp_ctx *c)
{
	for (size_t i = 0; i < c->n_targets; i++)
		target_free(c, &c->targets[i]);
	free(c->targets);
	c->targets = NULL;
	c->n_targets = 0;
	for (size_t i = 0; i < c->n_patterns; i++)
		hp_pattern_unref(c->patterns[i]);
	free(c->patterns);
	c->patterns = NULL;
	status_free(c->default_status);
	c->default_status = NULL;
	free(c->user_agent);
	c->user_agent = NULL;
	free(c->ca_file);
	c->ca_file = NULL;
}
