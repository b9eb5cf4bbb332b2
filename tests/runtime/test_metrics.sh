#!/usr/bin/env bash
# `wmhost run --metrics HOST:PORT`: the pipelines' counters in Prometheus'
# text format at /metrics while they run; bad addresses are configuration
# errors, a taken port stops the run before any pipeline starts, a client
# that says nothing cannot hold the endpoint, and shutdown is not delayed.
. "$(dirname "$0")/../lib/common.sh"

# get URL [METHOD]: prints "STATUS CONTENT-TYPE" on the first line, then the body.
get() {
	python3 - "$@" <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2] if len(sys.argv) > 2 else "GET")
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.headers.get("Content-Type"))
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("Content-Type"))
EOF
}
# value FILE NAME PIPELINE: a sample's value from a scrape.
value() { awk -v k="$2{pipeline=\"$3\"}" '$1 == k { print $2 }' "$1"; }

cat >"$T/two.yaml" <<EOF
pipelines:
  - name: fast
    source: {plugin: counting, count: 1000000, rate: 400}
    sink: {plugin: flaky, out: $T/fast.out}
    batch: {max_records: 50, max_wait: 50ms}
  - name: slow
    source: {plugin: counting, count: 1000000, rate: 40}
    sink: {plugin: flaky, out: $T/slow.out}
    queue: {capacity: 777}
    batch: {max_records: 50, max_wait: 50ms}
EOF

"$WMHOST" run --metrics nonsense "$T/two.yaml" >"$T/o" 2>&1
check "malformed_metrics_address_exits_2" test $? -eq 2
check "malformed_metrics_address_says_the_form" grep -q "'nonsense' is not HOST:PORT" "$T/o"
"$WMHOST" run --metrics 127.0.0.1:70000 "$T/two.yaml" >"$T/o" 2>&1
check "metrics_port_out_of_range_exits_2" test $? -eq 2

# A port someone else holds: the run stops before any pipeline starts.
P=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$P" &
holder=$!
on_exit "kill $holder"
wait_for 10 python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$P"
timeout 20 "$WMHOST" run --metrics "127.0.0.1:$P" "$T/two.yaml" >"$T/o" 2>&1
check "taken_metrics_port_exits_1" test $? -eq 1
check "taken_metrics_port_is_named" grep -q "127.0.0.1:$P: cannot listen: Address already in use" "$T/o"
check "taken_metrics_port_starts_no_pipeline" test ! -s "$T/fast.out" -a -z "$(grep 'started:' "$T/o")"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

P=$(free_port)
"$WMHOST" run --metrics "127.0.0.1:$P" "$T/two.yaml" >/dev/null 2>"$T/run.err" &
pid=$!
on_exit "kill -9 $pid"
U=http://127.0.0.1:$P
wait_for 20 grep -q "metrics at $U/metrics" "$T/run.err"
wait_for 10 test -s "$T/slow.out"
get "$U/metrics" >"$T/s1"
sleep 1
get "$U/metrics" >"$T/s2"
check "metrics_answer_200_in_prometheus_text_format" grep -q '^200 text/plain; version=0.0.4' "$T/s1"
e1=$(value "$T/s1" wmhost_records_emitted_total fast)
e2=$(value "$T/s2" wmhost_records_emitted_total fast)
w2=$(value "$T/s2" wmhost_records_written_total fast)
echo "# fast emitted $e1 then $e2 one second later, written $w2"
check "emitted_counter_grows_while_the_source_runs" test "${e1:-0}" -gt 0 -a "${e2:-0}" -gt "${e1:-0}"
check "written_counter_follows_emitted" test "${w2:-0}" -gt 0 -a "${w2:-0}" -le "${e2:-0}"
check "each_pipeline_has_its_own_samples" test "$(value "$T/s2" wmhost_records_emitted_total slow)" -gt 0 -a \
	"$(value "$T/s2" wmhost_records_emitted_total slow)" -lt "${e2:-0}"
check "queue_capacity_is_the_pipelines_own" test "$(value "$T/s2" wmhost_queue_capacity slow)" = 777
check "running_pipelines_say_so" test "$(value "$T/s2" wmhost_pipeline_running fast)" = 1
check "queue_records_is_a_number" grep -qE '^wmhost_queue_records\{pipeline="fast"\} [0-9]+$' "$T/s2"
check "every_family_has_help_and_type" python3 - "$T/s2" <<'EOF'
import sys, re
lines = open(sys.argv[1]).read().splitlines()[1:]
names = {re.match(r'([a-z_]+)', l).group(1) for l in lines if l and not l.startswith('#')}
typed = {l.split()[2] for l in lines if l.startswith('# TYPE ')}
helped = {l.split()[2] for l in lines if l.startswith('# HELP ')}
sys.exit(0 if names and names <= typed and names <= helped and len(names) >= 10 else 1)
EOF
check "other_paths_are_404" grep -q '^404 ' <(get "$U/")
check "post_is_405" grep -q '^405 ' <(get "$U/metrics" POST)
get "$U/metrics" HEAD >"$T/h"
check "head_answers_without_a_body" test "$(head -c 3 "$T/h")" = 200 -a "$(wc -l <"$T/h")" -eq 1

# A client that connects and sends nothing holds the endpoint for at most
# its deadline (2 s); the next scrape is answered after it.
python3 -c 'import socket,sys,time; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(8)' "$P" &
silent=$!
on_exit "kill $silent"
sleep 0.3
t0=$(date +%s%N)
get "$U/metrics" >"$T/s3"
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# scrape behind a silent client took ${ms} ms"
check "a_silent_client_does_not_hold_the_endpoint" test "$(head -c 3 "$T/s3")" = 200 -a $ms -lt 4000

# Shutdown with a silent connection open is not delayed by it (the
# connection's own deadline is 2 s; the drain takes milliseconds).
python3 -c 'import socket,sys,time; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(8)' "$P" &
silent2=$!
on_exit "kill $silent2"
sleep 0.3
t0=$(date +%s%N)
kill -TERM $pid
wait $pid
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# drained and exited ${ms} ms after SIGTERM"
check "run_with_metrics_drains_and_exits_0" test $rc -eq 0 -a $ms -lt 1000
check "metrics_port_is_released_at_exit" python3 -c '
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)' "$P"
