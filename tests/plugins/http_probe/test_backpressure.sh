#!/usr/bin/env bash
# http_probe: a sink that stops taking records (stdout not read for 8 s)
# blocks emit; the probe then stops starting checks, but checks in flight
# finish with honest timings (no timeouts misfire) and nothing is lost.
. "$(dirname "$0")/lib.sh"
start_http --no-nginx
N=3000

{
	printf '  run_once: true\n  max_in_flight: 20\n  timeout: 1s\n  targets:\n'
	for i in $(seq 1 $N); do printf '    - %s/?n=%d\n' "$HTTP_URL" "$i"; done
} | pipeline "$T/p.yaml"
cat >>"$T/p.yaml" <<'EOF2'
queue: { capacity: 1 }
batch: { max_records: 1, max_wait: 1ms }
EOF2
# The pipe buffer holds ~100 records and the probe buffers about
# max_in_flight + 2048 results; the reader starts after 8 s, long after both
# are full.
timeout 120 "$WMHOST" run "$T/p.yaml" 2>"$T/err.log" | { sleep 8; cat; } >"$T/out.jsonl"
rc=${PIPESTATUS[0]}
check "blocked_sink_run_exits_0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || tail "$T/err.log"
expect_all "every_check_emitted_despite_a_blocked_sink" "len(rs) == $N and len({r['url'] for r in rs}) == $N"
expect_all "no_check_timed_out_while_emit_was_blocked" 'all(r["result"] == "ok" for r in rs)'
expect_all "response_times_stay_honest_under_backpressure" 'max(r["response_time_ms"] for r in rs) < 900'
expect_all "no_new_checks_while_the_sink_was_blocked" '(lambda ts: max(b - a for a, b in zip(ts, ts[1:])) > 1.5)(sorted(epoch(r["time"]) for r in rs))'
