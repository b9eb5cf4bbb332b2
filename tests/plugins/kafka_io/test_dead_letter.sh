#!/usr/bin/env bash
# kafka_io and the dead-letter path: undecodable messages (not JSON, not an
# object, a field of the wrong type, too large) are dead-lettered with their
# topic/partition/offset while consumption goes on; a Kafka topic can be the
# dead-letter target; records the broker refuses go there too.
. "${WMHOST_ROOT:-$PWD}/tests/plugins/kafka_io/lib.sh"
need_kafka
IN=$(new_topic poison)
big=$(head -c 2000 /dev/zero | tr '\0' 'x')
{
	echo '{"seq":0}'
	echo 'not json'
	echo '[1,2]'
	echo '{"seq":"three"}'
	echo "{\"seq\":4,\"payload\":\"$big\"}"
	echo '{"seq":5}'
} | kcat -P -b "$KAFKA_BROKERS" -t "$IN" -p 0 2>/dev/null

# consumer NAME DEAD-LETTER-YAML [GROUP]
consumer() {
	cat >"$T/$1.yaml" <<EOF
name: $1
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $IN
  group_id: g-${3:-$1}-$IN
  field_types: { seq: int }
  max_message_size: 1KiB
sink: { plugin: console }
dead_letter: $2
EOF
	wmhost_bg "$1" run "$T/$1.yaml"
}

consumer file "{ path: $T/dead.jsonl }"
pid=$BG_PID
wait_for 30 has_lines "$T/file.out" 2
wait_for 10 has_lines "$T/dead.jsonl" 4
sleep 0.5
stop_wait "$pid"
check "poison_messages_do_not_stop_consumption" test "$(seqs "$T/file.out" | tr '\n' ' ')" = "0 5 "
python3 - "$T/dead.jsonl" "$IN" >"$T/dead.check" <<'EOF'
import json, sys
want = {
    1: ("undecodable JSON", "not json"),
    2: ("undecodable JSON", "[1,2]"),
    3: ("field 'seq': expected int, got string", '{"seq":"three"}'),
    4: ("exceeds max_message_size", None),
}
seen = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    for off, (why, payload) in want.items():
        where = "topic %s partition 0 offset %d: " % (sys.argv[2], off)
        if where in d["reason"] and why in d["reason"] and (payload is None or d.get("payload") == payload):
            seen[off] = True
print("all" if len(seen) == 4 else "missing %s" % sorted(set(want) - set(seen)))
EOF
check "poison_messages_reach_dead_letter_with_topic_partition_offset" grep -qx all "$T/dead.check"
grep -qx all "$T/dead.check" || { cat "$T/dead.check"; cat "$T/dead.jsonl"; }

# Their offsets count as done: a restart reads nothing again.
consumer again "{ path: $T/dead-again.jsonl }" file
pid=$BG_PID
sleep 4
stop_wait "$pid"
check "dead_lettered_offsets_are_committed" test "$(lines "$T/again.out")" -eq 0 -a "$(lines "$T/dead-again.jsonl")" -eq 0

# A Kafka topic as the dead-letter target.
DLQ=$(new_topic dlq)
consumer topic "{ plugin: kafka_io, brokers: \"\${KAFKA_BROKERS}\", topic: $DLQ }"
pid=$BG_PID
wait_for 30 has_lines "$T/topic.out" 2
sleep 1
stop_wait "$pid"
kcat -C -b "$KAFKA_BROKERS" -t "$DLQ" -o beginning -e -q 2>/dev/null >"$T/dlq.out"
check "dead_letter_topic_receives_bad_messages" test "$(grep -c "topic $IN partition 0 offset" "$T/dlq.out")" -eq 4

# Records the broker refuses (over the topic's max.message.bytes) are
# dead-lettered by the sink; the rest of the batch is delivered.
OUT=$(new_topic small)
cat >"$T/small.yaml" <<EOF
name: small
source: { plugin: counting, count: 200, payload_bytes: 100 }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $OUT
  partitions: 1
  topic_config: { max.message.bytes: 3000 }
dead_letter: { path: $T/refused.jsonl }
EOF
# Kafka to Kafka: every tenth input message is too large for the output.
MIXED=$(new_topic mixed)
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
for i in $(seq 0 99); do
	if [ $((i % 10)) = 3 ]; then echo "{\"seq\":$i,\"p\":\"$big\"}"; else echo "{\"seq\":$i}"; fi
done | kcat -P -b "$KAFKA_BROKERS" -t "$MIXED" 2>/dev/null
cat >"$T/big.yaml" <<EOF
name: big
source: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $MIXED, group_id: g-$MIXED }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $OUT
dead_letter: { path: $T/refused.jsonl }
batch: { max_records: 7 }
EOF
"$WMHOST" setup "$T/small.yaml" 2>"$T/small-setup.err" || cat "$T/small-setup.err"
"$WMHOST" run "$T/small.yaml" >/dev/null 2>"$T/small.err"
rc1=$?
refused1=$(lines "$T/refused.jsonl")
count1=$(topic_count "$OUT")
wmhost_bg big run "$T/big.yaml"
pid=$BG_PID
wait_for 30 has_lines "$T/refused.jsonl" 10
sleep 1
stop_wait "$pid"
rc2=$?
check "small_records_reach_a_topic_with_a_small_message_limit" \
	test $rc1 -eq 0 -a "$count1" -eq 200 -a "$refused1" -eq 0
check "records_the_broker_refuses_are_dead_lettered_and_the_rest_delivered" \
	test $rc2 -eq 0 -a "$(grep -c 'kafka rejected the message' "$T/refused.jsonl")" -eq 10 \
	-a "$(topic_count "$OUT")" -eq 290
[ $rc1 -eq 0 -a $rc2 -eq 0 ] || tail -n 20 "$T/small.err" "$T/big.err"
echo "# small records: $refused1 dead-lettered; mixed: $(lines "$T/refused.jsonl") dead-lettered; the topic holds $(topic_count "$OUT")"
sanitizer_check
