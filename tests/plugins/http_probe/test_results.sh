#!/usr/bin/env bash
# http_probe: every result class, status ranges, redirects, request options,
# and the check record's fields and types, against the local test servers.
. "$(dirname "$0")/lib.sh"
start_http

pipeline "$T/p.yaml" <<EOF2
  run_once: true
  timeout: 3s
  targets:
    - { url: "$HTTP_URL/", name: ok }
    - { url: "$HTTP_URL/status/404", name: s404 }
    - { url: "$HTTP_URL/status/404", name: s404-accepted, expect_status: "200-299, 404" }
    - { url: "$HTTP_URL/status/503", name: s503-class, expect_status: [2xx, 5xx] }
    - { url: "$HTTP_URL/status/302", name: s302-nofollow, follow_redirects: false }
    - { url: "$HTTP_URL/status/302", name: s302-not-in, follow_redirects: false, expect_status: "200" }
    - { url: "$HTTP_URL/status/500", name: s500 }
    - { url: "$HTTP_URL/", name: pattern-miss, pattern: "no such text" }
    - { url: "$HTTP_URL/delay/5000", name: timeout, timeout: 1s }
    - { url: "http://wmhost-no-such-host.invalid/", name: dns }
    - { url: "http://127.0.0.1:1/", name: refused }
    - { url: "$HTTPS_URL/", name: tls }
    - { url: "$HTTP_URL/redirect/3", name: redirects }
    - { url: "$HTTP_URL/loop", name: loop, max_redirects: 4 }
    - { url: "$HTTP_URL/endless", name: endless, max_body: 256KiB }
    - { url: "$HTTP_URL/bytes/70000", name: big-ok, max_body: 70000 }
    - { url: "$HTTP_URL/garbage", name: garbage }
    - { url: "$HTTP_URL/reset", name: reset }
    - { url: "$HTTP_URL/echo", name: post, method: POST, body: "probe-body-42", headers: { X-Probe: "yes" }, pattern: '"X-Probe": "yes"' }
    - { url: "$HTTP_URL/echo", name: method-put, method: PUT, pattern: '"method": "PUT"' }
    - { url: "$HTTP_URL/echo", name: head, method: HEAD }
EOF2
probe "$T/p.yaml"
rc=$?
check "run_once_exits_0_after_every_target" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$T/err.log"

expect_all "one_record_per_target" 'len(rs) == 21 and len({r["target"] for r in rs}) == 21'
expect_all "records_have_every_field_with_its_type_in_order" 'all(well_formed(r) for r in rs)'
expect_all "check_ids_unique_and_carry_the_agent" 'len({r["check_id"] for r in rs}) == len(rs) and all(r["check_id"].startswith("test-agent-") and r["agent"] == "test-agent" for r in rs)'
expect_all "schema_is_1_and_success_iff_ok" 'all(r["schema"] == 1 and r["success"] == (r["result"] == "ok") and (r["error"] is None) == r["success"] for r in rs)'

expect "ok_has_status_phases_and_remote_ip" ok 'r["result"] == "ok" and r["status_code"] == 200 and r["remote_ip"] == "127.0.0.1" and r["http_version"] == "1.1" and r["dns_ms"] is not None and r["connect_ms"] is not None and r["ttfb_ms"] is not None and r["tls_ms"] is None and r["tls_expires_at"] is None and r["body_bytes"] == 22 and r["pattern"] is None and r["pattern_matched"] is None and r["response_time_ms"] >= r["ttfb_ms"]'
expect "status_404_outside_default_range_is_status_mismatch" s404 'r["result"] == "status_mismatch" and r["status_code"] == 404 and "404" in r["error"] and "200-399" in r["error"]'
expect "status_list_with_ranges_accepts_404" s404-accepted 'r["result"] == "ok" and r["status_code"] == 404'
expect "status_classes_accept_503" s503-class 'r["result"] == "ok" and r["status_code"] == 503'
expect "redirect_not_followed_302_within_default_range_is_ok" s302-nofollow 'r["result"] == "ok" and r["status_code"] == 302 and r["redirects"] == 0'
expect "redirect_not_followed_302_outside_spec_is_status_mismatch" s302-not-in 'r["result"] == "status_mismatch" and r["status_code"] == 302'
expect "status_500_is_status_mismatch" s500 'r["result"] == "status_mismatch" and r["status_code"] == 500'
expect "missing_pattern_is_pattern_mismatch" pattern-miss 'r["result"] == "pattern_mismatch" and r["pattern_matched"] is False and r["pattern"] == "no such text"'
expect "slow_answer_is_timeout" timeout 'r["result"] == "timeout" and r["status_code"] == 0 and r["ttfb_ms"] is None and 1000 <= r["response_time_ms"] < 1400'
expect "unknown_host_is_dns_error" dns 'r["result"] == "dns_error" and r["dns_ms"] is None and r["connect_ms"] is None and r["remote_ip"] == ""'
expect "refused_port_is_connect_error" refused 'r["result"] == "connect_error" and r["connect_ms"] is None and r["status_code"] == 0'
expect "self_signed_certificate_with_verify_is_tls_error" tls 'r["result"] == "tls_error" and "certificate" in r["error"]'
expect "redirects_followed_and_counted" redirects 'r["result"] == "ok" and r["redirects"] == 3 and r["status_code"] == 200'
expect "redirect_loop_is_too_many_redirects" loop 'r["result"] == "too_many_redirects" and r["redirects"] == 4'
expect "endless_body_is_cut_at_max_body" endless 'r["result"] == "body_too_large" and r["body_bytes"] == 256 * 1024 and r["status_code"] == 200'
expect "body_of_exactly_max_body_is_ok" big-ok 'r["result"] == "ok" and r["body_bytes"] == 70000'
expect "garbage_response_is_error" garbage 'r["result"] == "error" and r["error"] and r["status_code"] == 0'
expect "connection_reset_is_error" reset 'r["result"] == "error" and "reset" in r["error"].lower()'
expect "post_sends_method_body_and_headers" post 'r["result"] == "ok" and r["pattern_matched"] is True'
expect "custom_method_is_sent" method-put 'r["result"] == "ok"'
expect "head_reads_no_body" head 'r["result"] == "ok" and r["body_bytes"] == 0'
expect_all "record_key_fields_url_and_time_are_set" 'all(r["url"].startswith("http") and abs(epoch(r["time"]) - epoch(rs[0]["time"])) < 60 for r in rs)'
