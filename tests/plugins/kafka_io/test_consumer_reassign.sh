#!/usr/bin/env bash
# kafka_io: a partition revoked while its records are still in flight
# (revoke_timeout passed) and later assigned again: the consumer goes on
# committing from where the group resumes, and acknowledgements that arrive
# late for the earlier assignment never move the committed offset (they are
# not stored; the group reads those records again).
. "${WMHOST_ROOT:-$PWD}/tests/plugins/kafka_io/lib.sh"
need_kafka
tool="${WMHOST_TOOLS:-$WMHOST_ROOT/build/tools}/kafka_group"
if [ ! -x "$tool" ]; then
	not_ok "kafka_group_is_built ($tool missing: run make tests)"
	exit 1
fi
N=300

# one_partition_topic TOPIC: a topic of one partition holding N records
# {"seq": 0..N-1}.
one_partition_topic() {
	cat >"$T/setup-$1.yaml" <<EOF
name: setup
source: { plugin: counting, count: 0 }
sink: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $1, partitions: 1 }
EOF
	"$WMHOST" setup "$T/setup-$1.yaml" 2>"$T/setup-$1.err" || cat "$T/setup-$1.err"
	seq 0 $((N - 1)) | sed 's/.*/{"seq":&}/' | kcat -P -b "$KAFKA_BROKERS" -t "$1" -p 0 2>"$T/kcat.err" ||
		cat "$T/kcat.err"
}

# member NAME TOPIC CLIENT_ID SINK_DELAY BATCH QUEUE: a group member writing
# the seqs it consumed to $T/NAME. The broker names a member CLIENT_ID-<uuid>
# and the range assignor gives a one-partition topic to the member whose id
# sorts first, so the client ids decide who holds the partition.
member() {
	cat >"$T/$1.yaml" <<EOF
name: $1
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $2
  group_id: g-$2
  revoke_timeout: 200ms
  commit_interval: 200ms
  properties: { client.id: $3, session.timeout.ms: 6000, heartbeat.interval.ms: 500 }
sink: { plugin: flaky, out: $T/$1, delay: $4 }
batch: { max_records: $5, max_wait: 50ms }
queue: { capacity: $6 }
EOF
	wmhost_bg "$1" run "$T/$1.yaml"
}

committed() { "$tool" committed "$KAFKA_BROKERS" "g-$1" "$1" 0 2>>"$T/tool.err"; }
committed_is() { [ "$(committed "$1")" = "$2" ]; }
# assignments NAME TOPIC: how often NAME was assigned the partition.
assignments() { grep -c "assigned: $2\[0\]" "$T/$1.err"; }
assigned_again() { [ "$(assignments "$1" "$2")" -ge 2 ]; }
# stable FILE SECONDS: FILE did not grow for SECONDS.
stable() {
	local n
	n=$(lines "$1")
	sleep "$2"
	[ "$(lines "$1")" -eq "$n" ]
}

# --- the partition comes back after its late acks arrived while it was away ---
# a emits every record at once and writes them slowly; a holder that reads
# nothing takes the partition while a's records are in flight and keeps it
# until a has written all of them (their acks come while a does not own the
# partition: they cannot be stored); then a gets the partition back, reads
# again from the group's commit, and must commit up to the end.
TOPIC=$(new_topic back)
one_partition_topic "$TOPIC"
member a "$TOPIC" zz-a 300ms 20 1000
a=$BG_PID
wait_for 30 has_lines "$T/a" 20
"$tool" hold "$KAFKA_BROKERS" "g-$TOPIC" "$TOPIC" aa-hold >"$T/hold.out" 2>"$T/hold.err" &
hold=$!
wait_for 30 grep -q 'assigned 1' "$T/hold.out"
c1=$(committed "$TOPIC")
wait_for 60 has_lines "$T/a" $N
kill -TERM "$hold"
wait "$hold"
wait_for 30 assigned_again a "$TOPIC"
# a reads again from the commit its revoke made
wait_for 60 has_lines "$T/a" $((2 * N - ${c1:-0}))
wait_for 20 committed_is "$TOPIC" $N
c2=$(committed "$TOPIC")
echo "# committed on revoke: $c1; after a got the partition back and wrote $(lines "$T/a") records: $c2"
check "revoke_with_records_in_flight_commits_only_what_is_durable" test -n "$c1" -a "${c1:-$N}" -lt $N
check "partition_assigned_again_commits_to_the_end" test "$c2" = $N
stop_wait "$a"
check "reassigned_member_exits_0" test $? -eq 0
check "reassigned_member_reads_again_from_the_commit" test "$(sort -n -u "$T/a" | wc -l)" -eq $N -a \
	"$(lines "$T/a")" -eq $((2 * N - ${c1:-0}))

# --- late acks of an earlier assignment arrive after the partition came back ---
# a emits up to its queue's capacity and writes slowly; b (whose id sorts
# first) takes the partition, reads the rest and commits the end; b leaves,
# a gets the partition back at the end while acks of its first assignment
# are still coming: the committed offset must stay at the end.
TOPIC=$(new_topic late)
one_partition_topic "$TOPIC"
member c "$TOPIC" zz-c 1s 10 100
c=$BG_PID
wait_for 30 has_lines "$T/c" 10
member b "$TOPIC" aa-b 0ms 100 1000
b=$BG_PID
wait_for 30 committed_is "$TOPIC" $N
stop_wait "$b"
rcb=$?
wait_for 30 assigned_again c "$TOPIC"
again_at=$(lines "$T/c")
lowest=$N
for _ in $(seq 1 100); do
	v=$(committed "$TOPIC")
	[ -n "$v" ] && [ "$v" -lt "$lowest" ] && lowest=$v
	stable "$T/c" 1 && break
done
c3=$(committed "$TOPIC")
echo "# c had written $again_at records when it got the partition back, $(lines "$T/c") in all;" \
	"lowest commit seen since: $lowest, now $c3"
check "late_acks_came_after_the_partition_came_back" test "$again_at" -lt "$(lines "$T/c")"
check "late_acks_of_an_earlier_assignment_never_move_the_commit_back" test "$lowest" -eq $N -a "$c3" = $N
stop_wait "$c"
rcc=$?
check "members_exit_0" test $rcb -eq 0 -a $rcc -eq 0
sanitizer_check
