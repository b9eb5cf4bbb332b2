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

/* A phase in ms, or null when curl never reached it. */
static int set_phase(struct wm_record *r, const char *name, int reached, int64_t us)
{
	if (!reached)
		return hp_api->record_set_null(r, name);
	return hp_api->record_set_double(r, name, (double)(us < 0 ? 0 : us) / US_PER_MS);
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

	/* curl's counters are cumulative from the start of each request (summed
	 * over redirects); a phase is reached when it or a later one was. */
	int64_t dns = res->dns_us, conn = res->connect_us, app = res->appconnect_us;
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
	err |= set_phase(r, "dns_ms", dns > 0 || conn > 0, dns);
	err |= set_phase(r, "connect_ms", conn > 0, conn - dns);
	err |= set_phase(r, "tls_ms", app > 0, app - conn);
	err |= set_phase(r, "ttfb_ms", res->starttransfer_us > 0, res->starttransfer_us - res->pretransfer_us);
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
