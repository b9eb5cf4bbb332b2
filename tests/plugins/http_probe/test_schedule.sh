#!/usr/bin/env bash
# http_probe: targets run on fixed slots spread over the interval without
# drift; a check still running at its next slot is skipped (counted, not
# queued); SIGTERM stops the probe promptly even with checks in flight.
. "$(dirname "$0")/lib.sh"
start_http --no-nginx

{
	printf '  interval: 1s\n  targets:\n'
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
