#!/usr/bin/env bash
# kafka_io across a broker crash: while the broker is down the sink acks
# nothing (acks come from delivery reports, never from enqueueing), batches
# are retried, and after the restart every record is in the topic; a
# consumer running through the outage loses nothing either; and a consumer
# whose broker is gone for good still shuts down in bounded time.
. "${WMHOST_ROOT:-$PWD}/tests/plugins/kafka_io/lib.sh"
private_kafka
N=3000
TOPIC=$(new_topic restart)

cat >"$T/produce.yaml" <<EOF
name: produce
source: { plugin: counting, count: $N, rate: 250, streams: 1, ack_log: $T/acks }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TOPIC
  key_field: key
  delivery_timeout: 3s
batch: { max_records: 100, max_wait: 100ms }
retry: { initial: 200ms, max: 2s }
EOF
cat >"$T/consume.yaml" <<EOF
name: consume
source:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TOPIC
  group_id: g-$TOPIC
sink: { plugin: flaky, out: $T/consumed }
batch: { max_records: 200, max_wait: 100ms }
retry: { initial: 200ms, max: 2s }
EOF

# The highest acknowledged position (the source's ack log: "stream offset").
last_ack() { tail -n1 "$T/acks" 2>/dev/null | awk '{print $2 + 0}'; }
acked_at_least() { [ "$(last_ack)" -ge "$1" ]; }

"$WMHOST" setup "$T/produce.yaml" 2>"$T/setup.err" || cat "$T/setup.err"
wmhost_bg consume run "$T/consume.yaml"
consumer=$BG_PID
wmhost_bg produce run "$T/produce.yaml"
producer=$BG_PID
wait_for 60 acked_at_least 500 || echo "# producer did not get going: $(last_ack)"

"$KAFKA_SH" kill "$T/kafka"
sleep 1
a1=$(last_ack)
sleep 6 # longer than delivery_timeout: the batch in flight times out and is retried
a2=$(last_ack)
check "sink_acks_nothing_while_the_broker_is_down" test "$a1" -eq "$a2"
echo "# acked up to $a1 when the broker died, $a2 six seconds later"

"$KAFKA_SH" start "$T/kafka" >/dev/null 2>"$T/kafka-restart.err" || cat "$T/kafka-restart.err"
deadline=$((SECONDS + 90))
while kill -0 "$producer" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
stop_wait "$producer"
rc=$?
check "sink_pipeline_finishes_after_the_broker_returns" test $rc -eq 0
check "sink_retried_the_batch_that_timed_out" grep -q "write asked to retry" "$T/produce.err"

kcat -C -b "$KAFKA_BROKERS" -t "$TOPIC" -o beginning -e -q 2>/dev/null >"$T/topic.out"
seqs "$T/topic.out" | uniq >"$T/topic.seqs"
seq_range $N >"$T/want.seqs"
check "sink_loses_nothing_across_a_broker_crash" cmp -s "$T/topic.seqs" "$T/want.seqs"
echo "# topic holds $(lines "$T/topic.out") messages for $N records ($(seqs "$T/topic.out" | uniq -d | wc -l) duplicated)"
check "acks_arrive_in_order" test -z "$(grep 'ORDER BROKEN' "$T/acks")"

wait_for 60 has_lines "$T/consumed" "$(lines "$T/topic.out")"
stop_wait "$consumer"
rc=$?
sort -n -u "$T/consumed" >"$T/consumed.seqs"
check "source_consumes_everything_across_a_broker_crash" cmp -s "$T/consumed.seqs" "$T/want.seqs"
check "source_stops_cleanly_after_the_outage" test $rc -eq 0
# With the broker gone for good, a consumer that has committed what it read
# still stops within close_timeout: the plugin asks the cluster first and
# skips the final commit and the group leave (a close begun with no broker
# makes librdkafka 2.0 wait session.timeout.ms, 45 s by default, which this
# consumer keeps).
sed -e "s/^  group_id: .*/  group_id: orphan-$TOPIC\n  close_timeout: 3s\n  commit_interval: 200ms/" -e "s|$T/consumed|$T/orphaned|" \
	"$T/consume.yaml" >"$T/orphan.yaml"
wmhost_bg orphan run "$T/orphan.yaml"
pid=$BG_PID
wait_for 30 has_lines "$T/orphaned" $N
sleep 2 # its offsets are committed
"$KAFKA_SH" kill "$T/kafka"
sleep 1
t0=$SECONDS
stop_wait "$pid"
rc=$?
check "source_shutdown_is_bounded_by_close_timeout_when_the_broker_is_gone" test $rc -eq 0 -a $((SECONDS - t0)) -le 7
check "source_shutdown_without_broker_says_what_was_skipped" grep -q "no broker answered within 1500ms: .*group 'orphan-$TOPIC' is not left" "$T/orphan.err"
grep -q 'no broker answered' "$T/orphan.err" || tail -n 5 "$T/orphan.err"
echo "# stopped $((SECONDS - t0))s after SIGTERM with no broker"

# The sink with no broker: shutdown gives up after shutdown_timeout, flushes
# for flush_timeout, and says how many messages were not delivered.
cat >"$T/stuck.yaml" <<EOF
name: stuck
source: { plugin: counting, count: 20 }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_BROKERS}
  topic: $TOPIC
  delivery_timeout: 60s
  flush_timeout: 2s
shutdown_timeout: 2s
EOF
wmhost_bg stuck run "$T/stuck.yaml"
pid=$BG_PID
sleep 2
t0=$SECONDS
stop_wait "$pid"
check "sink_shutdown_without_broker_is_bounded" test $((SECONDS - t0)) -le 10
check "sink_shutdown_reports_undelivered_messages" grep -q ' 20 not delivered (flush timeout 2000ms)' "$T/stuck.err"
grep -q 'not delivered' "$T/stuck.err" || tail -n 5 "$T/stuck.err" | cut -c1-300
sanitizer_check
