#!/usr/bin/env bash
# http_probe: HTTP versions against nginx. By default HTTP/2 is used over
# TLS when the server offers it (ALPN) and HTTP/1.1 when it does not;
# http_version pins 1.0 or 1.1, and 2-prior-knowledge speaks HTTP/2 on a
# cleartext port that knows nothing else. The record says which version
# answered, with the same timings and pattern result as over HTTP/1.1.
. "$(dirname "$0")/lib.sh"
start_http

pipeline "$T/p.yaml" <<EOF2
  run_once: true
  pattern: "wmhost-nginx-ok"
  targets:
    - { url: "$NGINX_HTTPS_URL/", name: h2-auto, tls_ca_file: "$NGINX_CERT" }
    - { url: "$NGINX_HTTPS_URL/", name: h2-asked, tls_ca_file: "$NGINX_CERT", http_version: "2" }
    - { url: "$NGINX_HTTPS_URL/", name: pinned-11, tls_ca_file: "$NGINX_CERT", http_version: "1.1" }
    - { url: "$HTTPS_URL/echo", name: pinned-10, tls_ca_file: "$HTTPS_CERT", http_version: "1.0", pattern: '"version": "HTTP/1\\.0"' }
    - { url: "$HTTPS_URL/echo", name: echo-11, tls_ca_file: "$HTTPS_CERT", pattern: '"version": "HTTP/1\\.1"' }
    - { url: "$NGINX_HTTPS_URL/big.html", name: h2-big, tls_ca_file: "$NGINX_CERT", pattern: "0123456789abcdef\\\\n\\\\Z" }
    - { url: "$NGINX_HTTPS_URL/missing", name: h2-404, tls_ca_file: "$NGINX_CERT" }
    - { url: "$HTTPS_URL/", name: h1-only-server, tls_ca_file: "$HTTPS_CERT", pattern: "test server ok" }
    - { url: "$NGINX_H2C_URL/", name: h2c-prior-knowledge, http_version: "2-prior-knowledge" }
    - { url: "$NGINX_URL/", name: cleartext-auto }
EOF2
probe "$T/p.yaml"
rc=$?
check "http2_run_exits_0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$T/err.log"
expect "https_auto_uses_http2_when_offered" h2-auto 'r["http_version"] == "2" and r["result"] == "ok" and r["status_code"] == 200 and r["pattern_matched"] is True'
expect "http2_phases_are_measured" h2-auto 'all(r[k] is not None and r[k] > 0 for k in ("connect_ms", "tls_ms", "ttfb_ms")) and r["response_time_ms"] >= r["connect_ms"] + r["tls_ms"] + r["ttfb_ms"]'
expect "http_version_2_uses_http2" h2-asked 'r["http_version"] == "2" and r["result"] == "ok"'
expect "http_version_1_1_is_pinned" pinned-11 'r["http_version"] == "1.1" and r["result"] == "ok" and r["pattern_matched"] is True'
# a server answers in its own version (HTTP/1.1 here): the request's is in the echo
expect "http_version_1_0_is_pinned" pinned-10 'r["result"] == "ok" and r["pattern_matched"] is True'
expect "auto_sends_http11_to_an_http11_server" echo-11 'r["result"] == "ok" and r["pattern_matched"] is True and r["http_version"] == "1.1"'
expect "http2_body_is_read_to_the_end" h2-big 'r["http_version"] == "2" and r["result"] == "ok" and r["pattern_matched"] is True and r["body_bytes"] == 262400'
expect "http2_status_is_classified" h2-404 'r["http_version"] == "2" and r["status_code"] == 404 and r["result"] == "status_mismatch" and r["success"] is False'
expect "auto_falls_back_to_http11" h1-only-server 'r["http_version"] == "1.1" and r["result"] == "ok" and r["pattern_matched"] is True'
expect "http2_prior_knowledge_on_cleartext" h2c-prior-knowledge 'r["http_version"] == "2" and r["result"] == "ok" and r["pattern_matched"] is True'
expect "cleartext_auto_is_http11" cleartext-auto 'r["http_version"] == "1.1" and r["result"] == "ok"'
