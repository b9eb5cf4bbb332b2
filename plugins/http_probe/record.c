/* http_probe: the check record (schema 1) built from a finished check. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http_probe.h"

#define HP_SCHEMA_VERSION 1
#define US_PER_MS 1000.0

static const char *http_version_name(long v)
{
	switch (v) {
	case CURL_HTTP_VERSION_1_0: return "1.0";
	case CURL_HTTP_VERSION_1_1: return "1.1";
	case CURL_HTTP_VERSION_2_0: return "2";
	case CURL_HTTP_VERSION_3: return "3";
	default: return "";
	}
}

/* A phase in ms, or null when the check never completed it. */
static int set_phase(struct wm_record *r, const char *name, int64_t us)
{
	if (us < 0) /* HP_PHASE_NONE */
		return hp_api->record_set_null(r, name);
	return hp_api->record_set_double(r, name, (double)us / US_PER_MS);
}

struct wm_record *hp_record_build(struct hp_ctx *c, const struct hp_result *res)
{
	const struct hp_target *t = res->t;
	int ok = strcmp(res->result, "ok") == 0;
	char id[sizeof(c->agent) + 64];
	struct wm_record *r = hp_api->record_new();
	if (!r)
		return NULL;
	snprintf(id, sizeof(id), "%s-%" PRIx64 "-%" PRIu64, c->agent, (uint64_t)c->started_us, ++c->seq);

	int err = 0;
	err |= hp_api->record_set_string(r, "check_id", id);
	err |= hp_api->record_set_string(r, "agent", c->agent);
	err |= hp_api->record_set_string(r, "target", t->name);
	err |= hp_api->record_set_string(r, "url", t->url);
	err |= hp_api->record_set_time(r, "time", res->start_us);
	err |= hp_api->record_set_bool(r, "success", ok);
	err |= hp_api->record_set_string(r, "result", res->result);
	err |= hp_api->record_set_string(r, "error", ok ? NULL : res->msg);
	err |= hp_api->record_set_int(r, "status_code", res->code);
	err |= hp_api->record_set_double(r, "response_time_ms", (double)res->total_us / US_PER_MS);
	err |= set_phase(r, "dns_ms", res->dns_us);
	err |= set_phase(r, "connect_ms", res->connect_us);
	err |= set_phase(r, "tls_ms", res->tls_us);
	err |= set_phase(r, "ttfb_ms", res->ttfb_us);
	err |= hp_api->record_set_string(r, "pattern", t->pattern ? t->pattern->src : NULL);
	if (res->pattern_matched < 0)
		err |= hp_api->record_set_null(r, "pattern_matched");
	else
		err |= hp_api->record_set_bool(r, "pattern_matched", res->pattern_matched);
	err |= hp_api->record_set_int(r, "body_bytes", (int64_t)res->body_bytes);
	err |= hp_api->record_set_int(r, "redirects", res->redirects);
	err |= hp_api->record_set_string(r, "http_version", http_version_name(res->httpver));
	err |= hp_api->record_set_string(r, "remote_ip", res->ip);
	if (res->has_expiry)
		err |= hp_api->record_set_time(r, "tls_expires_at", res->expires_us);
	else
		err |= hp_api->record_set_null(r, "tls_expires_at");
	err |= hp_api->record_set_int(r, "schema", HP_SCHEMA_VERSION);
	err |= hp_api->record_set_key(r, t->url, strlen(t->url));
	if (err) {
		hp_api->record_free(r);
		return NULL;
	}
	return r;
}
