#!/usr/bin/env bash
# kafka_io round trip: records produced through the sink come back from the
# source with identical fields, keys and a schema header; declared field
# types turn JSON strings back into times and bytes.
. "${WMHOST_ROOT:-$PWD}/tests/plugins/kafka_io/lib.sh"
need_kafka
N=2000
TOPIC=$(new_topic roundtrip)

cat >"$T/expected.yaml" <<EOF
name: expected
source: { plugin: counting, count: $N, payload_bytes: 300 }
sink: { plugin: console }
EOF
cat >"$T/produce.yaml" <<EOF
name: produce
source: { plugin: counting, count: $N, payload_bytes: 300 }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TOPIC
  key_field: key
  partitions: 3
EOF
cat >"$T/consume.yaml" <<EOF
name: consume
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TOPIC
  group_id: g-$TOPIC
sink: { plugin: console, with_key: true }
EOF

"$WMHOST" run "$T/expected.yaml" >"$T/expected.out" 2>"$T/expected.err"
"$WMHOST" setup "$T/produce.yaml" 2>"$T/setup.err" &&
	"$WMHOST" run "$T/produce.yaml" >/dev/null 2>"$T/produce.err"
rc=$?
check "sink_run_exits_0_with_every_record_written" \
	test $rc -eq 0 -a "$(topic_count "$TOPIC")" -eq $N
grep -q "$N written, 0 dead-lettered, 0 undelivered" "$T/produce.err" || cat "$T/produce.err"

# Keys and headers as kcat sees them: key = the key field, header wm-schema=1.
kcat -C -b "$KAFKA_BROKERS" -t "$TOPIC" -o beginning -e -q -f '%k|%h|%s\n' >"$T/kcat.out" 2>/dev/null
bad_keys=$(python3 - "$T/kcat.out" <<'EOF'
import json, sys
bad = 0
for line in open(sys.argv[1]):
    key, hdr, value = line.rstrip("\n").split("|", 2)
    rec = json.loads(value)
    if key != "k%d" % (rec["seq"] % 16) or hdr != "wm-schema=1":
        bad += 1
print(bad)
EOF
)
check "sink_key_is_key_field_and_schema_header_is_set" test "$bad_keys" = 0

wmhost_bg consume run "$T/consume.yaml"
pid=$BG_PID
wait_for 60 has_lines "$T/consume.out" $N
sleep 1
stop_wait "$pid"
rc=$?
python3 - "$T/consume.out" "$T/expected.out" >"$T/compare.txt" <<'EOF'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2])]
values = sorted(json.dumps(g["value"], sort_keys=True) for g in got)
expected = sorted(json.dumps(w, sort_keys=True) for w in want)
keys_ok = all(g["key"] == "k%d" % (g["value"]["seq"] % 16) for g in got)
print("identical" if values == expected else "differ: got %d want %d" % (len(values), len(expected)))
print("keys ok" if keys_ok else "keys differ")
EOF
check "roundtrip_consumes_identical_fields" grep -qx identical "$T/compare.txt"
check "source_sets_message_key_as_record_key" grep -qx "keys ok" "$T/compare.txt"
check "source_run_exits_0_on_sigterm" test $rc -eq 0

# Message sizes around the sink's 1 MiB encoding blocks: 100 KiB records
# fill blocks unevenly and start new ones mid-batch, 300 KiB records get a
# buffer of their own. Every record must come back byte for byte.
sizes_roundtrip() { # NAME PAYLOAD COUNT
	local name=$1 payload=$2 count=$3 topic
	topic=$(new_topic "$name")
	cat >"$T/$name-expected.yaml" <<EOF
name: expected
source: { plugin: counting, count: $count, payload_bytes: $payload }
sink: { plugin: console }
EOF
	cat >"$T/$name-produce.yaml" <<EOF
name: produce
source: { plugin: counting, count: $count, payload_bytes: $payload }
sink: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $topic, key_field: key, partitions: 2 }
batch: { max_records: 64 }
EOF
	cat >"$T/$name-consume.yaml" <<EOF
name: $name
source: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $topic, group_id: g-$topic }
sink: { plugin: console }
EOF
	"$WMHOST" run "$T/$name-expected.yaml" >"$T/$name-expected.out" 2>/dev/null
	"$WMHOST" setup "$T/$name-produce.yaml" 2>/dev/null &&
		"$WMHOST" run "$T/$name-produce.yaml" >/dev/null 2>"$T/$name-produce.err" || cat "$T/$name-produce.err" >&2
	wmhost_bg "$name" run "$T/$name-consume.yaml"
	local pid=$BG_PID
	wait_for 60 has_lines "$T/$name.out" "$count"
	stop_wait "$pid"
	python3 - "$T/$name.out" "$T/$name-expected.out" <<'EOF'
import sys
got = sorted(open(sys.argv[1]))
want = sorted(open(sys.argv[2]))
print("identical" if got == want else "differ: got %d want %d" % (len(got), len(want)))
EOF
}
sizes_roundtrip big100k 102400 40 >"$T/big100k.cmp"
check "records_of_100KiB_cross_encoding_blocks_intact" grep -qx identical "$T/big100k.cmp"
sizes_roundtrip big300k 307200 4 >"$T/big300k.cmp"
check "records_larger_than_a_quarter_block_get_own_buffer_intact" grep -qx identical "$T/big300k.cmp"

# Typed fields: times and bytes travel as RFC 3339 / base64 strings.
TT=$(new_topic types)
printf '%s\n' '{"seq":1,"at":"2026-01-02T05:04:05.123456+02:00","blob":"aGVsbG8=","ratio":3,"ok":true,"none":null}' |
	kcat -P -b "$KAFKA_BROKERS" -t "$TT" 2>/dev/null
cat >"$T/types.yaml" <<EOF
name: types
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TT
  group_id: g-$TT
  field_types: { at: time, blob: bytes, ratio: double, ok: bool, none: string }
sink: { plugin: console }
EOF
wmhost_bg types run "$T/types.yaml"
pid=$BG_PID
wait_for 60 has_lines "$T/types.out" 1
stop_wait "$pid"
check "field_types_convert_times_bytes_and_doubles" \
	grep -qx '{"seq":1,"at":"2026-01-02T03:04:05.123456Z","blob":"aGVsbG8=","ratio":3.0,"ok":true,"none":null}' \
	"$T/types.out"

# Strict typed fields: an impossible date and a non-canonical base64 are
# dead-lettered, not normalised into another value; a fraction beyond
# microseconds is rounded (as PostgreSQL rounds it downstream).
TS=$(new_topic strict)
printf '%s\n' '{"seq":1,"at":"2026-02-31T00:00:00Z"}' '{"seq":2,"blob":"QR=="}' \
	'{"seq":3,"at":"2026-01-02T03:04:05.1234567Z","blob":"QQ=="}' | kcat -P -b "$KAFKA_BROKERS" -t "$TS" -p 0 2>/dev/null
cat >"$T/strict.yaml" <<EOF
name: strict
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TS
  group_id: g-$TS
  field_types: { at: time, blob: bytes }
sink: { plugin: console }
dead_letter: { path: $T/strict.dead.jsonl }
EOF
wmhost_bg strict run "$T/strict.yaml"
pid=$BG_PID
wait_for 60 has_lines "$T/strict.out" 1
wait_for 10 has_lines "$T/strict.dead.jsonl" 2
stop_wait "$pid"
check "field_types_round_fractions_beyond_microseconds" \
	grep -qx '{"seq":3,"at":"2026-01-02T03:04:05.123457Z","blob":"QQ=="}' "$T/strict.out"
check "field_types_refuse_impossible_dates_and_noncanonical_base64" bash -c "
	grep -q \"field 'at': not an RFC 3339 time\" '$T/strict.dead.jsonl' &&
	grep -q \"field 'blob': not base64\" '$T/strict.dead.jsonl' && [ \$(wc -l <'$T/strict.out') -eq 1 ]"
sanitizer_check
