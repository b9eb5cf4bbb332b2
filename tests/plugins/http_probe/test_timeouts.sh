#!/usr/bin/env bash
# http_probe: timeouts end a check within timeout + a small slack, whatever
# the server does (no answer, a slow drip), and misbehaving targets never
# stall the others.
. "$(dirname "$0")/lib.sh"
start_http --no-nginx
odd_server SILENT_PORT silent
SLACK_MS=400

pipeline "$T/p.yaml" <<EOF2
  run_once: true
  targets:
    - { url: "$HTTP_URL/delay/8000", name: no-answer, timeout: 1s }
    - { url: "https://127.0.0.1:$SILENT_PORT/", name: stuck-handshake, timeout: 1s }
    - { url: "$HTTP_URL/drip?bytes=100&delay_ms=200", name: drip, timeout: 1500ms }
    - { url: "$HTTP_URL/delay/2000", name: slow-1, timeout: 4s }
    - { url: "$HTTP_URL/delay/2000", name: slow-2, timeout: 4s }
    - { url: "$HTTP_URL/delay/2000", name: slow-3, timeout: 4s }
    - { url: "$HTTP_URL/delay/2000", name: slow-4, timeout: 4s }
    - { url: "$HTTP_URL/endless", name: endless, timeout: 4s, max_body: 4MiB }
    - { url: "$HTTP_URL/", name: fast }
EOF2
start=$(date +%s%N)
probe "$T/p.yaml"
rc=$?
wall_ms=$((($(date +%s%N) - start) / 1000000))
check "timeout_run_exits_0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$T/err.log"
expect "no_answer_times_out_within_timeout_plus_slack" no-answer "r['result'] == 'timeout' and 1000 <= r['response_time_ms'] <= 1000 + $SLACK_MS"
# TCP connects, the TLS handshake never ends: the connect phase was
# completed and is measured, the TLS one is null, and the error says so.
expect "stuck_tls_handshake_times_out_with_connect_ms_measured" stuck-handshake "r['result'] == 'timeout' and 1000 <= r['response_time_ms'] <= 1000 + $SLACK_MS and r['connect_ms'] is not None and 0 <= r['connect_ms'] < 1000 and r['dns_ms'] is not None and r['tls_ms'] is None and r['ttfb_ms'] is None and r['remote_ip'] == '127.0.0.1' and r['error'].startswith('TLS handshake did not complete')"
expect "slow_drip_times_out_within_timeout_plus_slack" drip "r['result'] == 'timeout' and 1500 <= r['response_time_ms'] <= 1500 + $SLACK_MS and 1 <= r['body_bytes'] <= 10 and r['status_code'] == 200"
expect "slow_answers_within_timeout_are_ok" slow-4 "r['result'] == 'ok' and 2000 <= r['response_time_ms'] < 4000"
expect "endless_body_stops_at_max_body_not_timeout" endless "r['result'] == 'body_too_large' and r['body_bytes'] == 4 * 1024 * 1024"
expect "fast_target_is_not_stalled_by_slow_ones" fast "r['result'] == 'ok' and r['response_time_ms'] < 500"
# the four 2 s checks and the 1.5 s drip run at once, not one after another
echo "# 9 targets took ${wall_ms} ms"
check "checks_run_concurrently" [ $wall_ms -lt 6000 ]
