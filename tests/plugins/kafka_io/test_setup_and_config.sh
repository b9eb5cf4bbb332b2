#!/usr/bin/env bash
# kafka_io setup and configuration: `wmhost setup` creates the topic as
# configured and is idempotent; settings librdkafka rejects, and settings
# the plugin manages (under any name), are config errors (exit 2) naming
# the key.
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
# Managed settings are refused under any name: librdkafka's values are read
# back after each key, so aliases and topic-level names cannot change them.
config_error managed_offset_settings_are_refused \
	"  group_id: g
  properties: { enable.auto.commit: false }" \
	'enable\.auto\.commit: set by kafka_io'
config_error commit_interval_property_is_refused \
	"  group_id: g
  properties: { auto.commit.interval.ms: 5000 }" \
	"auto\.commit\.interval\.ms: set by kafka_io: use the option 'commit_interval'"
config_error auto_offset_reset_property_is_refused \
	"  group_id: g
  properties: { auto.offset.reset: latest }" \
	"auto\.offset\.reset: set by kafka_io: use the option 'auto_offset_reset'"
config_error legacy_alias_of_a_managed_property_is_refused \
	"  group_id: g
  properties: { auto.commit.enable: false }" \
	'auto\.commit\.enable: sets enable\.auto\.commit, which is set by kafka_io'
config_error topic_level_name_of_a_managed_property_is_refused \
	"  group_id: g
  properties: { linger.ms: 5, topic.auto.offset.reset: latest }" \
	'topic\.auto\.offset\.reset: sets auto\.offset\.reset, which is set by kafka_io'
# sink_config_error NAME SINK-SETTINGS EXPECTED-STDERR-REGEX: like
# config_error, for a sink with these settings (YAML flow style).
sink_config_error() {
	cat >"$T/$1.yaml" <<EOF
name: $1
source: { plugin: counting, count: 1 }
sink: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $TOPIC, $2 }
EOF
	"$WMHOST" check "$T/$1.yaml" >/dev/null 2>"$T/$1.err"
	local rc=$?
	if [ $rc -eq 2 ] && grep -Eq "$3" "$T/$1.err"; then
		ok "$1"
	else
		not_ok "$1"
		echo "# exit $rc, stderr:"
		sed 's/^/# /' "$T/$1.err"
	fi
}
sink_config_error alias_of_message_timeout_is_refused "properties: { delivery.timeout.ms: 5000 }" \
	"\.yaml:[0-9]+:[0-9]+: delivery\.timeout\.ms: sets message\.timeout\.ms, which is set by kafka_io: use the option 'delivery_timeout'"
sink_config_error topic_name_of_message_timeout_is_refused "properties: { topic.message.timeout.ms: 5000 }" \
	'topic\.message\.timeout\.ms: sets message\.timeout\.ms'
cat >"$T/sink-ok.yaml" <<EOF
name: sink-ok
source: { plugin: counting, count: 1 }
sink: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $TOPIC, properties: { linger.ms: 5, compression.type: zstd } }
EOF
check "unmanaged_properties_are_accepted" "$WMHOST" check "$T/sink-ok.yaml"
# Options that become librdkafka settings are checked against librdkafka's
# ranges where they are read, so the error names the option and its line.
sink_config_error delivery_timeout_beyond_librdkafka_range_is_config_error "delivery_timeout: 30d" \
	'\.yaml:[0-9]+:[0-9]+: delivery_timeout: must be between 1ms and 2147483647ms'
config_error commit_interval_beyond_librdkafka_range_is_config_error \
	"  group_id: g
  commit_interval: 2d" \
	'\.yaml:[0-9]+:[0-9]+: commit_interval: must be between 1ms and 86400000ms'
config_error zero_max_message_size_is_config_error \
	"  group_id: g
  max_message_size: 0" \
	'\.yaml:[0-9]+:[0-9]+: max_message_size: must be between 1 byte and'
config_error setup_timeout_beyond_librdkafka_range_is_config_error \
	"  group_id: g
  setup_timeout: 2h" \
	'\.yaml:[0-9]+:[0-9]+: setup_timeout: must be between 1ms and 3600000ms'
cat >"$T/limits-ok.yaml" <<EOF
pipelines:
  - name: limits-sink
    source: { plugin: counting, count: 1 }
    sink: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $TOPIC, delivery_timeout: 24d, setup_timeout: 1h }
  - name: limits-source
    source: { plugin: kafka_io, brokers: "\${KAFKA_BROKERS}", topic: $TOPIC, group_id: g, commit_interval: 1d, max_message_size: 1 }
    sink: { plugin: console }
EOF
check "options_at_the_ends_of_librdkafka_ranges_are_accepted" "$WMHOST" check "$T/limits-ok.yaml"
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
