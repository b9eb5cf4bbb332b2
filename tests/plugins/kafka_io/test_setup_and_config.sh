#!/usr/bin/env bash
# kafka_io setup and configuration: `wmhost setup` creates the topic as
# configured and is idempotent; settings librdkafka rejects are config errors
# (exit 2) naming the key.
. "${WMHOST_ROOT:-$PWD}/tests/plugins/kafka_io/lib.sh"
need_kafka
TOPIC=$(new_topic setup)

cat >"$T/setup.yaml" <<EOF
name: setup
source: { plugin: counting, count: 1 }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TOPIC
  partitions: 5
  topic_config: { retention.ms: 3600000, max.message.bytes: 4096 }
EOF
"$WMHOST" setup "$T/setup.yaml" 2>"$T/setup1.err"
rc=$?
parts=$(kcat -L -b "$KAFKA_BROKERS" -t "$TOPIC" 2>/dev/null | grep -c 'partition [0-9]*, leader')
check "setup_creates_missing_topic_with_its_partitions" \
	test $rc -eq 0 -a "$parts" -eq 5
check "setup_says_it_created_the_topic" grep -q "created topic '$TOPIC' (5 partitions" "$T/setup1.err"
if [ -n "${KAFKA_JARS:-}" ]; then
	java -cp "$KAFKA_JARS/*" -Dlog4j.configuration=file:/dev/null kafka.admin.ConfigCommand \
		--bootstrap-server "$KAFKA_BROKERS" --entity-type topics --entity-name "$TOPIC" --describe \
		>"$T/configs.txt" 2>&1
	if grep -q 'retention.ms=3600000' "$T/configs.txt" && grep -q 'max.message.bytes=4096' "$T/configs.txt"; then
		ok "setup_applies_topic_config_entries"
	else
		not_ok "setup_applies_topic_config_entries"
		sed 's/^/# /' "$T/configs.txt"
	fi
else
	skip "setup_applies_topic_config_entries: KAFKA_JARS not set (broker not started by tests/lib/kafka.sh)"
fi

"$WMHOST" setup "$T/setup.yaml" 2>"$T/setup2.err"
rc=$?
check "setup_is_idempotent_on_existing_topic" \
	test $rc -eq 0 -a "$(kcat -L -b "$KAFKA_BROKERS" -t "$TOPIC" 2>/dev/null | grep -c 'partition [0-9]*, leader')" -eq 5
check "setup_says_the_topic_exists" grep -q "topic '$TOPIC' exists (5 partitions)" "$T/setup2.err"

# Agent and store in one file (what `wmhost setup` of both pipelines does):
# the store's check right after the agent created the topic still reads its
# partitions (a new topic may report "no leader yet" next to them).
T2=$(new_topic pair)
cat >"$T/pair.yaml" <<EOF
pipelines:
  - name: agent
    source: { plugin: counting, count: 0 }
    sink: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $T2, partitions: 3 }
  - name: store
    source: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $T2, group_id: g-$T2 }
    sink: { plugin: console }
EOF
"$WMHOST" setup "$T/pair.yaml" 2>"$T/pair.err"
check "setup_of_a_just_created_topic_reads_its_partitions" \
	grep -q "store/source:kafka_io\] topic '$T2' exists (3 partitions)" "$T/pair.err"

# config_error NAME YAML-SNIPPET EXPECTED-STDERR-REGEX [CMD]: the pipeline is
# refused with exit 2 and a message matching the regex.
config_error() {
	local name=$1 snippet=$2 re=$3 cmd=${4:-check}
	cat >"$T/$name.yaml" <<EOF
name: $name
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TOPIC
$snippet
sink: { plugin: console }
EOF
	"$WMHOST" "$cmd" "$T/$name.yaml" >/dev/null 2>"$T/$name.err"
	local rc=$?
	if [ $rc -eq 2 ] && grep -Eq "$re" "$T/$name.err"; then
		ok "$name"
	else
		not_ok "$name"
		echo "# exit $rc, stderr:"
		sed 's/^/# /' "$T/$name.err"
	fi
}

config_error bad_property_value_is_config_error_naming_key \
	"  group_id: g
  properties: { linger.ms: banana }" \
	'\.yaml:[0-9]+:[0-9]+: .*linger\.ms.*librdkafka: .*Invalid value'
config_error unknown_property_is_config_error_naming_key \
	"  group_id: g
  properties: { no.such.setting: 1 }" \
	'no\.such\.setting.*No such configuration property'
config_error bad_property_is_config_error_in_run_too \
	"  group_id: g
  properties: { session.timeout.ms: -5 }" \
	'session\.timeout\.ms.*librdkafka' run
config_error managed_property_is_refused \
	"  group_id: g
  properties: { enable.auto.offset.store: true }" \
	'enable\.auto\.offset\.store.*set by kafka_io'
config_error source_without_group_id_is_config_error "" "needs 'group_id'"
config_error bad_auto_offset_reset_is_config_error \
	"  group_id: g
  auto_offset_reset: middle" \
	"auto_offset_reset.*middle"
config_error unknown_field_type_is_config_error \
	"  group_id: g
  field_types: { seq: integer64 }" \
	"seq.*unknown type 'integer64'"
config_error missing_certificate_file_is_config_error_at_run \
	"  group_id: g
  properties: { security.protocol: ssl, ssl.certificate.location: $T/nope.crt, ssl.key.location: $T/nope.key }" \
	'properties.*librdkafka: ssl\.certificate\.location failed' run
sanitizer_check
