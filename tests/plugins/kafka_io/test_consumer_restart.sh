#!/usr/bin/env bash
# kafka_io source restarts: a consumer stopped with SIGTERM mid-stream
# resumes exactly after its last durable batch (no gap, no duplicate); one
# killed with SIGKILL resumes from its last commit (no gap; at most the
# records since that commit come again); auto_offset_reset: error fails the
# pipeline when a partition has no commit to start from.
. "${WMHOST_ROOT:-$PWD}/tests/plugins/kafka_io/lib.sh"
need_kafka
N=6000
TOPIC=$(new_topic resume)

python3 -c "
for i in range($N):
    print('k%d|{\"seq\":%d,\"payload\":\"%s\"}' % (i % 16, i, 'p' * 200))
" | kcat -P -b "$KAFKA_BROKERS" -t "$TOPIC" -K '|' 2>"$T/kcat.err" || cat "$T/kcat.err"
seq_range $N >"$T/want.seqs"

# consumer NAME GROUP OUT: a consumer whose sink takes ~50ms per batch of
# 100, so it is stopped mid-stream.
consumer() {
	cat >"$T/$1.yaml" <<EOF
name: $1
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TOPIC
  group_id: $2
  commit_interval: 1s
  # a killed member's partitions move on after this, not the 45s default
  properties: { session.timeout.ms: 6000, heartbeat.interval.ms: 1000 }
sink: { plugin: flaky, out: $3, delay: 50ms }
batch: { max_records: 100, max_wait: 50ms }
queue: { capacity: 200 }
EOF
	wmhost_bg "$1" run "$T/$1.yaml"
}

# Graceful: SIGTERM drains, commits, and the next run starts right after.
consumer first g1-$TOPIC "$T/first"
pid=$BG_PID
wait_for 60 has_lines "$T/first" 1500
stop_wait "$pid"
rc1=$?
consumer second g1-$TOPIC "$T/second"
pid=$BG_PID
wait_for 60 has_lines "$T/second" $((N - $(lines "$T/first")))
sleep 1 # anything beyond would be a duplicate
stop_wait "$pid"
rc2=$?
echo "# first run consumed $(lines "$T/first"), second $(lines "$T/second")"
sort -n "$T/first" "$T/second" >"$T/graceful.seqs"
check "consumer_restart_resumes_exactly_after_last_durable_batch" cmp -s "$T/graceful.seqs" "$T/want.seqs"
check "consumer_exits_0_on_sigterm_mid_stream" test $rc1 -eq 0 -a $rc2 -eq 0

# Crash: SIGKILL loses no offset; replays are bounded by the commit interval.
consumer crash g2-$TOPIC "$T/crash"
pid=$BG_PID
wait_for 60 has_lines "$T/crash" 2500
{
	kill -KILL "$pid"
	wait "$pid"
} 2>/dev/null
consumer after g2-$TOPIC "$T/after"
pid=$BG_PID
wait_for 60 has_lines "$T/after" $((N - $(lines "$T/crash")))
sleep 1
stop_wait "$pid"
sort -n -u "$T/crash" "$T/after" >"$T/crash.seqs"
dups=$(sort -n "$T/crash" "$T/after" | uniq -d | wc -l)
echo "# killed after $(lines "$T/crash"); the restart consumed $(lines "$T/after"); $dups replayed"
check "consumer_kill9_resumes_without_gap" cmp -s "$T/crash.seqs" "$T/want.seqs"
# about one commit interval of records (the sink takes ~2000/s here)
check "consumer_kill9_replays_at_most_the_uncommitted_records" test "$dups" -le 3000

# auto_offset_reset: error: a group without a committed offset cannot start,
# and the source fails (exit 1) naming topic and partition instead of
# running on while it consumes nothing; a group with commits starts.
reset_error() {
	cat >"$T/$1.yaml" <<EOF
name: $1
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TOPIC
  group_id: $2
  auto_offset_reset: error
sink: { plugin: flaky, out: $T/$1 }
EOF
}
reset_error noreset g3-$TOPIC
timeout 60 "$WMHOST" run "$T/noreset.yaml" >/dev/null 2>"$T/noreset.err"
rc=$?
check "auto_offset_reset_error_without_a_commit_fails_the_pipeline" test $rc -eq 1
check "auto_offset_reset_error_names_topic_and_partition" \
	grep -Eq "ERROR .*topic $TOPIC partition [0-9]+: no valid committed offset .*auto_offset_reset is 'error'" \
	"$T/noreset.err"
[ $rc -eq 1 ] || sed 's/^/# /' "$T/noreset.err" | tail -n 5
reset_error committed g1-$TOPIC
wmhost_bg committed run "$T/committed.yaml"
pid=$BG_PID
wait_for 30 grep -q 'assigned: ' "$T/committed.err"
sleep 3
stop_wait "$pid"
rc=$?
check "auto_offset_reset_error_with_commits_consumes_from_them" test $rc -eq 0 -a "$(lines "$T/committed")" -eq 0
sanitizer_check
