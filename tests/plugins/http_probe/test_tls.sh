#!/usr/bin/env bash
# http_probe: TLS against a self-signed certificate: verification on fails
# as tls_error, off succeeds with a TLS phase and the certificate's expiry;
# with the certificate as tls_ca_file (a private CA) verification passes.
. "$(dirname "$0")/lib.sh"
start_http --no-nginx

pipeline "$T/p.yaml" <<EOF2
  run_once: true
  targets:
    - { url: "$HTTPS_URL/", name: verify-on }
    - { url: "$HTTPS_URL/", name: verify-off, tls_verify: false, pattern: "test server ok" }
    - { url: "$HTTPS_URL/redirect/1", name: verify-off-redirect, tls_verify: false }
    - { url: "$HTTP_URL/", name: plain }
    - { url: "https://${HTTP_URL#http://}/", name: https-to-plain-port }
    - { url: "$HTTPS_URL/", name: own-ca, tls_ca_file: "$HTTPS_CERT", pattern: "test server ok" }
EOF2
probe "$T/p.yaml"
rc=$?
check "tls_run_exits_0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$T/err.log"
expect "self_signed_with_verification_is_tls_error" verify-on 'r["result"] == "tls_error" and r["success"] is False and "self-signed" in r["error"] and r["status_code"] == 0 and r["ttfb_ms"] is None'
# The TCP connection was made, so connect_ms is measured even though libcurl
# 7.88 gives no connect time when the TLS handshake fails.
expect "refused_certificate_has_connect_ms_and_no_tls_ms" verify-on 'r["connect_ms"] is not None and r["connect_ms"] >= 0 and r["tls_ms"] is None and r["error"].startswith("TLS handshake did not complete: ")'
expect "https_to_a_plain_http_port_is_tls_error_with_connect_ms" https-to-plain-port 'r["result"] == "tls_error" and r["connect_ms"] is not None and r["connect_ms"] >= 0 and r["dns_ms"] is not None and r["tls_ms"] is None and r["ttfb_ms"] is None and r["error"].startswith("TLS handshake did not complete: ")'
expect "self_signed_without_verification_is_ok" verify-off 'r["result"] == "ok" and r["status_code"] == 200 and r["pattern_matched"] is True'
expect "tls_phase_is_measured" verify-off 'r["tls_ms"] is not None and r["tls_ms"] > 0 and r["connect_ms"] is not None and r["ttfb_ms"] is not None'
expect "tls_expiry_is_the_certificate_not_after" verify-off "r['tls_expires_at'] is not None and epoch(r['tls_expires_at']) == $HTTPS_CERT_EXPIRES"
expect "tls_expiry_after_redirect_on_the_same_server" verify-off-redirect "r['result'] == 'ok' and r['redirects'] == 1 and epoch(r['tls_expires_at']) == $HTTPS_CERT_EXPIRES"
expect "plain_http_has_no_tls_fields" plain 'r["tls_ms"] is None and r["tls_expires_at"] is None'
expect "tls_ca_file_makes_a_private_ca_trusted" own-ca 'r["result"] == "ok" and r["status_code"] == 200 and r["pattern_matched"] is True and r["tls_ms"] > 0'

# The plugin-level CA file counts for every target; a target's own one
# (here another, unrelated certificate) replaces it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=other \
	-keyout "$T/other.key" -out "$T/other.pem" >/dev/null 2>&1
pipeline "$T/p2.yaml" <<EOF2
  run_once: true
  tls_ca_file: "$HTTPS_CERT"
  targets:
    - { url: "$HTTPS_URL/", name: top-ca }
    - { url: "$HTTPS_URL/", name: wrong-ca, tls_ca_file: "$T/other.pem" }
EOF2
probe "$T/p2.yaml"
check "tls_ca_file_run_exits_0" [ $? -eq 0 ]
expect "plugin_level_tls_ca_file_applies_to_targets" top-ca 'r["result"] == "ok" and r["status_code"] == 200'
expect "target_tls_ca_file_replaces_the_plugin_level_one" wrong-ca 'r["result"] == "tls_error" and r["success"] is False'

# tls_ms on a redirect chain counts the TLS handshakes only: here a plain
# http:// request whose TCP connect takes about 1 s (its first SYN is
# dropped) redirects to an https:// server that waits 300 ms before each
# handshake. curl adds every request's connect time to CONNECT_TIME but only
# TLS requests to APPCONNECT_TIME, so appconnect - connect would be negative.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-keyout "$T/delay.key" -out "$T/delay.pem" >/dev/null 2>&1
odd_server TLS_DELAY_PORT tls-delay --cert "$T/delay.pem" --key "$T/delay.key" --delay-ms 300
odd_server SLOW_CONNECT_PORT slow-connect --location "https://127.0.0.1:$TLS_DELAY_PORT/"
pipeline "$T/p3.yaml" <<EOF2
  run_once: true
  tls_verify: false
  targets:
    - { url: "https://127.0.0.1:$TLS_DELAY_PORT/", name: tls-direct }
    - { url: "http://127.0.0.1:$SLOW_CONNECT_PORT/", name: tls-after-slow-redirect }
EOF2
probe "$T/p3.yaml"
check "tls_redirect_run_exits_0" [ $? -eq 0 ]
python3 -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print("# %(target)s: connect_ms %(connect_ms)s, tls_ms %(tls_ms)s" % r)' "$T/out.jsonl"
expect "tls_delay_server_handshake_takes_its_delay" tls-direct 'r["result"] == "ok" and r["tls_ms"] >= 300'
expect "slow_connect_redirect_takes_a_syn_retransmission" tls-after-slow-redirect \
	'r["result"] == "ok" and r["redirects"] == 1 and r["connect_ms"] >= 900'
expect_all "tls_ms_after_http_to_https_redirect_is_the_https_handshake" \
	'[abs(a["tls_ms"] - b["tls_ms"]) <= 100 for a in rs if a["target"] == "tls-direct" for b in rs if b["target"] == "tls-after-slow-redirect"] == [True]'
