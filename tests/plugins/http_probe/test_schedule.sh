#!/usr/bin/env bash
# http_probe: targets run on fixed slots spread over the interval without
# drift; a check still running at its next slot is skipped (counted, not
# queued); SIGTERM stops the probe promptly even with checks in flight;
# checks under way at SIGTERM finish within stop_grace and keep their
# records, longer ones are abandoned.
. "$(dirname "$0")/lib.sh"
start_http --no-nginx

{
	printf '  interval: 1s\n  stop_grace: 300ms\n  targets:\n'
	for i in $(seq 1 20); do printf '    - { url: "%s/?t=%d", name: t%02d }\n' "$HTTP_URL" "$i" "$i"; done
	printf '    - { url: "%s/delay/400", name: slow400 }\n' "$HTTP_URL"
	printf '    - { url: "%s/delay/2500", name: busy, timeout: 5s }\n' "$HTTP_URL"
	printf '    - { url: "%s/delay/30000", name: stuck, timeout: 60s }\n' "$HTTP_URL"
} | pipeline "$T/p.yaml"
"$WMHOST" run "$T/p.yaml" >"$T/out.jsonl" 2>"$T/err.log" &
pid=$!
on_exit "kill -KILL $pid"
sleep 4.6
t0=$(date +%s%N)
kill -TERM $pid
wait $pid
rc=$?
stop_ms=$((($(date +%s%N) - t0) / 1000000))
check "sigterm_exits_0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || tail "$T/err.log"
echo "# stopped ${stop_ms} ms after SIGTERM"
check "sigterm_stops_within_2s_with_a_check_in_flight" [ $stop_ms -lt 2000 ]

expect_all "each_target_checked_every_interval" 'all(4 <= len([r for r in rs if r["target"] == "t%02d" % i]) <= 5 for i in range(1, 21))'
expect_all "slots_stay_on_the_interval_grid" '
all(abs((epoch(ts[k]) - epoch(ts[0])) - k) < 0.1
    for ts in [[r["time"] for r in rs if r["target"] == "t%02d" % i] for i in range(1, 21)]
    for k in range(len(ts)))'
# scheduling from completion would space a 400 ms check 1.4 s apart
expect_all "slow_target_does_not_drift" '
(lambda ts: len(ts) >= 4 and all(abs((epoch(ts[k]) - epoch(ts[0])) - k) < 0.1 for k in range(len(ts))))(
    [r["time"] for r in rs if r["target"] == "slow400"])'
expect_all "targets_spread_over_the_interval" '
(lambda first: (lambda ph: ph[-1] > 0.7 and all(b - a < 0.1 for a, b in zip(ph, ph[1:])))(
    sorted(f - min(first) for f in first)))(
    [epoch([r["time"] for r in rs if r["target"] == "t%02d" % i][0]) for i in range(1, 21)])'
# busy takes 2.5 s per check at a 1 s interval: of its 4-5 slots only every
# third starts a check
expect_all "busy_target_is_skipped_not_queued" '1 <= len([r for r in rs if r["target"] == "busy"]) <= 2'
check "skipped_checks_are_logged_with_a_count" grep -q "checks skipped" "$T/err.log"
expect_all "stuck_check_in_flight_is_abandoned_at_stop" 'not [r for r in rs if r["target"] == "stuck"]'
check "skipped_checks_are_counted_in_the_final_summary" grep -Eq "checks run, [1-9][0-9]* skipped" "$T/err.log"

# stop_grace: a check under way at SIGTERM that ends within the grace is
# recorded (it would have been lost before); one that does not is abandoned
# when the grace is over, and the log says so.
# conn_up: a connection to the test server is established (a check is
# under way: the server answers /delay/MS only after MS)
conn_up() {
	python3 - "${HTTP_URL##*:}" <<'EOF'
import sys
port = int(sys.argv[1])
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(f).readlines()[1:]
    except OSError:
        continue
    for row in rows:
        p = row.split()
        if p[3] == "01" and int(p[2].rsplit(":", 1)[1], 16) == port:
            sys.exit(0)
sys.exit(1)
EOF
}
# grace NAME DELAY_MS GRACE [PIPELINE_LINE]: runs a one-target probe and
# SIGTERMs it once its check is under way; leaves rc and stop_ms
grace() {
	printf '  stop_grace: %s\n  targets:\n    - { url: "%s/delay/%s", name: %s, interval: 60s, timeout: 60s }\n' \
		"$3" "$HTTP_URL" "$2" "$1" | pipeline "$T/$1.yaml"
	[ -z "${4:-}" ] || echo "$4" >>"$T/$1.yaml"
	"$WMHOST" run "$T/$1.yaml" >"$T/out.jsonl" 2>"$T/$1.err" &
	local pid=$!
	check "${1}_check_is_under_way_at_sigterm" wait_for 20 conn_up
	local t0
	t0=$(date +%s%N)
	kill -TERM $pid
	wait $pid
	rc=$?
	stop_ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# $1: stopped ${stop_ms} ms after SIGTERM"
}
grace finishing 1200 5s
check "check_under_way_finishes_within_stop_grace" bash -c "[ $rc -eq 0 ] && [ $stop_ms -ge 500 ] && [ $stop_ms -lt 4000 ]"
expect "check_under_way_at_stop_keeps_its_record" finishing 'r["result"] == "ok" and r["status_code"] == 200 and r["response_time_ms"] >= 1100'
grace overdue 30000 500ms
check "check_past_stop_grace_is_abandoned_promptly" bash -c "[ $rc -eq 0 ] && [ $stop_ms -lt 2500 ]"
expect_all "abandoned_check_has_no_record" 'not rs'
check "abandoned_checks_are_logged" grep -q "1 check(s) still under way abandoned (stop_grace)" "$T/overdue.err"

# The pipeline's shutdown_timeout bounds the grace: when the drain deadline
# passes, the host calls stop() again and the probe lets go at once.
grace late 30000 60s 'shutdown_timeout: 1s'
check "shutdown_timeout_cuts_the_stop_grace_short" [ $stop_ms -lt 3000 ]

# While the grace runs, targets whose slots come due are not started, and
# the loop sleeps instead of spinning on them: a drain of 2 s with a busy
# target (every 100 ms) due all along costs little CPU.
{
	printf '  stop_grace: 2s\n  targets:\n'
	printf '    - { url: "%s/delay/5000", name: long, interval: 60s, timeout: 60s }\n' "$HTTP_URL"
	printf '    - { url: "%s/", name: often, interval: 100ms }\n' "$HTTP_URL"
} | pipeline "$T/spin.yaml"
/usr/bin/time -f '%U %S' -o "$T/spin.cpu" "$WMHOST" run "$T/spin.yaml" >"$T/out.jsonl" 2>"$T/spin.err" &
pid=$!
check "spin_check_is_under_way_at_sigterm" wait_for 20 conn_up
sleep 0.3
pkill -TERM -P $pid
wait $pid
cpu_ms=$(awk '{ printf "%d", ($1 + $2) * 1000 }' "$T/spin.cpu")
echo "# spin: ${cpu_ms} ms of CPU for the run (the drain alone lasts 2 s)"
check "loop_sleeps_during_the_stop_grace" [ "$cpu_ms" -lt 1200 ]
