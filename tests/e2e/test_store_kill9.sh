#!/usr/bin/env bash
# kill -9 of the storage connector mid-stream, then a restart: every check
# the agent delivered is in PostgreSQL exactly once.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
targets 300 # 300 checks/s
check setup_creates_topic_and_table setup_all
start_agent agent
start_store store
sleep 5
kill -9 "$(pid_of store)"
wait "$(pid_of store)" 2>/dev/null
sleep 2
start_store store
sleep 6
stop agent; arc=$RC
written=$(stat agent written)
echo "# agent: $(grep -o "stopped: .*" "$T/agent.log" | tail -n1)"
check agent_drains_and_exits_0 test "$arc" = 0
check agent_reports_nothing_undelivered test "$(stat agent undelivered)" = 0
check agent_ran_a_few_hundred_checks_per_second test "${written:-0}" -ge 2000
check store_kill9_restart_loses_nothing wait_rows "${written:-x}" 90
stop store; src=$RC
check store_kill9_restart_has_no_duplicates test "$(rows)" = "$(distinct_rows)"
check store_drains_and_exits_0 test "$src" = 0
