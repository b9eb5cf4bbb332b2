#!/usr/bin/env bash
# Two agents and two storage connectors at once: the totals add up and no
# check is stored twice.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
targets 150
check setup_creates_topic_and_table setup_all
start_agent agent1 WMHOST_AGENT_NAME=a1
start_agent agent2
start_store store1
sleep 3
start_store store2 # joins the group: a rebalance mid-stream
sleep 8
stop agent1; a1=$RC
stop agent2; a2=$RC
w1=$(stat agent1 written)
w2=$(stat agent2 written)
check both_agents_drain_and_exit_0 test "$a1$a2" = 00
check totals_add_up wait_rows "$((w1 + w2))" 90
stop store1; s1=$RC
stop store2; s2=$RC
check both_stores_drain_and_exit_0 test "$s1$s2" = 00
check two_connectors_store_no_duplicates test "$(rows)" = "$(distinct_rows)"
check both_connectors_stored_rows bash -c "[ \$(grep -o 'stopped: [0-9]* emitted' '$T/store1.log' | grep -oE '[0-9]+' | tail -n1) -gt 0 ] && [ \$(grep -o 'stopped: [0-9]* emitted' '$T/store2.log' | grep -oE '[0-9]+' | tail -n1) -gt 0 ]"
