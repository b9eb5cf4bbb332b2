#!/usr/bin/env bash
# http_probe: TLS against a self-signed certificate: verification on fails
# as tls_error, off succeeds with a TLS phase and the certificate's expiry.
. "$(dirname "$0")/lib.sh"
start_http --no-nginx

pipeline "$T/p.yaml" <<EOF2
  run_once: true
  targets:
    - { url: "$HTTPS_URL/", name: verify-on }
    - { url: "$HTTPS_URL/", name: verify-off, tls_verify: false, pattern: "test server ok" }
    - { url: "$HTTPS_URL/redirect/1", name: verify-off-redirect, tls_verify: false }
    - { url: "$HTTP_URL/", name: plain }
EOF2
probe "$T/p.yaml"
rc=$?
check "tls_run_exits_0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$T/err.log"
expect "self_signed_with_verification_is_tls_error" verify-on 'r["result"] == "tls_error" and r["success"] is False and "self-signed" in r["error"] and r["status_code"] == 0 and r["ttfb_ms"] is None'
expect "self_signed_without_verification_is_ok" verify-off 'r["result"] == "ok" and r["status_code"] == 200 and r["pattern_matched"] is True'
expect "tls_phase_is_measured" verify-off 'r["tls_ms"] is not None and r["tls_ms"] > 0 and r["connect_ms"] is not None and r["ttfb_ms"] is not None'
expect "tls_expiry_is_the_certificate_not_after" verify-off "r['tls_expires_at'] is not None and epoch(r['tls_expires_at']) == $HTTPS_CERT_EXPIRES"
expect "tls_expiry_after_redirect_on_the_same_server" verify-off-redirect "r['result'] == 'ok' and r['redirects'] == 1 and epoch(r['tls_expires_at']) == $HTTPS_CERT_EXPIRES"
expect "plain_http_has_no_tls_fields" plain 'r["tls_ms"] is None and r["tls_expires_at"] is None'
