#!/usr/bin/env bash
# The Kafka broker restarted mid-stream: every check the agent ran is in
# PostgreSQL or reported undelivered in the agent's log; nothing is silently
# lost, and nothing is stored twice.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
tests/lib/kafka.sh start "$T/kafka" >"$T/kafka.log" 2>&1 || { not_ok private_kafka_starts; exit 1; }
on_exit tests/lib/kafka.sh stop "$T/kafka"
export KAFKA_BROKERS=$(. "$T/kafka/env"; echo "$KAFKA_BROKERS")
targets 200
check setup_creates_topic_and_table setup_all
start_agent agent
start_store store
sleep 4
tests/lib/kafka.sh kill "$T/kafka" >>"$T/kafka.log" 2>&1
sleep 3
tests/lib/kafka.sh start "$T/kafka" >>"$T/kafka.log" 2>&1
sleep 6
stop agent; arc=$RC
emitted=$(stat agent emitted)
written=$(stat agent written)
undelivered=$(stat agent undelivered)
echo "# agent: $(grep -o "stopped: .*" "$T/agent.log" | tail -n1)"
check agent_drains_and_exits_0 test "$arc" = 0
check every_check_is_delivered_or_reported test "$((written + undelivered))" = "$emitted"
check kafka_restart_loses_nothing_delivered wait_rows "${written:-x}" 120
stop store; src=$RC
check kafka_restart_has_no_duplicates test "$(rows)" = "$(distinct_rows)"
check store_drains_and_exits_0 test "$src" = 0
