#!/usr/bin/env bash
# http_probe: 1,000 targets (500 inline, 500 from a targets file) in one run
# against nginx, with a pattern and a fresh connection each: every check is
# accounted for exactly once.
. "$(dirname "$0")/lib.sh"
start_http --nginx-only
N=500

{
	echo "# targets for the scale test: URL [pattern]"
	for i in $(seq 1 $N); do echo "$NGINX_URL/?file=$i   wmhost-nginx-ok</h1>"; done
} >"$T/targets.txt"
{
	printf '  run_once: true\n  max_in_flight: 200\n  targets_file: %s\n  pattern: "nginx-ok"\n  targets:\n' "$T/targets.txt"
	for i in $(seq 1 $N); do printf '    - %s/?inline=%d\n' "$NGINX_URL" "$i"; done
} | pipeline "$T/p.yaml"
start=$(date +%s%N)
probe "$T/p.yaml" 300
rc=$?
wall_ms=$((($(date +%s%N) - start) / 1000000))
echo "# 1,000 targets took ${wall_ms} ms"
check "thousand_targets_run_exits_0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || tail -n 20 "$T/err.log"
expect_all "every_target_checked_exactly_once" "len(rs) == 2 * $N and len({r['url'] for r in rs}) == 2 * $N"
expect_all "every_check_id_unique" 'len({r["check_id"] for r in rs}) == len(rs)'
expect_all "every_check_ok_with_its_pattern_matched" 'all(r["result"] == "ok" and r["pattern_matched"] is True for r in rs)'
expect_all "file_targets_carry_the_line_pattern" "all(r['pattern'] == 'wmhost-nginx-ok</h1>' for r in rs if '?file=' in r['url']) and all(r['pattern'] == 'nginx-ok' for r in rs if '?inline=' in r['url'])"
expect_all "sequence_in_check_ids_has_no_gaps" "sorted(int(r['check_id'].rsplit('-', 1)[1]) for r in rs) == list(range(1, 2 * $N + 1))"
check "log_counts_every_check" grep -q "$((2 * N)) checks run, 0 skipped" "$T/err.log"

# The same targets split over three event loops: still each exactly once.
sed -i 's/^  run_once: true$/  run_once: true\n  loops: 3/' "$T/p.yaml"
probe "$T/p.yaml" 300
rc=$?
check "three_loops_run_exits_0" [ $rc -eq 0 ]
expect_all "three_loops_check_every_target_exactly_once" "len(rs) == 2 * $N and len({r['url'] for r in rs}) == 2 * $N and all(r['result'] == 'ok' for r in rs)"
expect_all "three_loops_share_one_check_id_sequence" "sorted(int(r['check_id'].rsplit('-', 1)[1]) for r in rs) == list(range(1, 2 * $N + 1))"
check "three_loops_log_one_total" grep -q "$((2 * N)) checks run, 0 skipped" "$T/err.log"
