#!/usr/bin/env bash
# kafka_io consumer groups: members split the partitions; a member joining
# or leaving gracefully hands over without loss or duplicates (revokes wait
# for in-flight records and commit); a member killed with SIGKILL loses
# nothing (its partitions move on after the session timeout).
. "${WMHOST_ROOT:-$PWD}/tests/plugins/kafka_io/lib.sh"
need_kafka
N=6000
RATE=600

# producer NAME TOPIC: N records at RATE/s through the kafka_io sink.
producer() {
	cat >"$T/$1.yaml" <<EOF
name: $1
source: { plugin: counting, count: $N, rate: $RATE }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $2
  key_field: key
  partitions: 4
EOF
	"$WMHOST" setup "$T/$1.yaml" 2>"$T/$1-setup.err" || cat "$T/$1-setup.err"
	wmhost_bg "$1" run "$T/$1.yaml"
}

# member NAME TOPIC: a group member writing the seqs it consumed to $T/NAME.
member() {
	cat >"$T/$1.yaml" <<EOF
name: $1
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $2
  group_id: g-$2
  properties: { session.timeout.ms: 6000, heartbeat.interval.ms: 500 }
sink: { plugin: flaky, out: $T/$1, delay: 20ms }
batch: { max_records: 100, max_wait: 50ms }
queue: { capacity: 300 }
EOF
	wmhost_bg "$1" run "$T/$1.yaml"
}

# The partitions a member holds now, from its last "assigned:" log line.
held() { grep 'assigned: ' "$T/$1.err" | tail -n1 | grep -o '\[[0-9]*\]' | wc -l; }
holds_some() { [ "$(held "$1")" -gt 0 ]; }
holds_all() { [ "$(held "$1")" -eq 4 ]; }
# has_all FILE...: together the files hold every seq.
has_all() { [ "$(cat "$@" 2>/dev/null | sort -n -u | wc -l)" -ge $N ]; }
wait_pid() {
	local deadline=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
	stop_wait "$1"
}
seq_range $N >"$T/want.seqs"

# --- graceful: a joins, b joins while data flows, a leaves ---
TOPIC=$(new_topic group)
producer pa "$TOPIC"
pa=$BG_PID
member a "$TOPIC"
a=$BG_PID
wait_for 30 holds_some a
sleep 2
member b "$TOPIC"
b=$BG_PID
wait_for 30 holds_some b
sleep 1
ha=$(held a) hb=$(held b)
check "two_consumers_split_partitions" test "$ha" -ge 1 -a "$hb" -ge 1 -a $((ha + hb)) -eq 4
echo "# a holds $ha partitions, b holds $hb"
sleep 2
stop_wait "$a"
rca=$?
wait_for 30 holds_all b
wait_pid "$pa" 60
wait_for 60 has_all "$T/a" "$T/b"
sort -n "$T/a" "$T/b" >"$T/graceful.seqs"
dups=$(uniq -d "$T/graceful.seqs" | wc -l)
sort -n -u "$T/graceful.seqs" -o "$T/graceful.seqs"
stop_wait "$b"
rcb=$?
echo "# a consumed $(lines "$T/a"), b $(lines "$T/b"), $dups duplicated"
check "group_rebalance_on_join_and_leave_loses_nothing" cmp -s "$T/graceful.seqs" "$T/want.seqs"
check "group_rebalance_on_join_and_leave_duplicates_nothing" test "$dups" -eq 0
check "group_members_exit_0" test $rca -eq 0 -a $rcb -eq 0

# --- crash: d is killed with SIGKILL while data flows ---
TOPIC=$(new_topic crash)
producer pc "$TOPIC"
pc=$BG_PID
member c "$TOPIC"
c=$BG_PID
member d "$TOPIC"
d=$BG_PID
wait_for 30 holds_some c
wait_for 30 holds_some d
sleep 3
{
	kill -KILL "$d"
	wait "$d"
} 2>/dev/null
killed_at=$SECONDS
wait_for 40 holds_all c
echo "# c took over all partitions $((SECONDS - killed_at))s after d was killed"
wait_pid "$pc" 60
wait_for 60 has_all "$T/c" "$T/d"
stop_wait "$c"
rcc=$?
sort -n -u "$T/c" "$T/d" >"$T/crash.seqs"
dups=$(sort -n "$T/c" "$T/d" | uniq -d | wc -l)
echo "# c consumed $(lines "$T/c"), d $(lines "$T/d") before it died; $dups replayed"
check "group_member_kill9_loses_nothing" cmp -s "$T/crash.seqs" "$T/want.seqs"
check "group_survivor_takes_over_all_partitions" holds_all c
check "group_survivor_exits_0" test $rcc -eq 0
sanitizer_check
