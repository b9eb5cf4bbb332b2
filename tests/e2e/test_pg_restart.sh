#!/usr/bin/env bash
# PostgreSQL restarted mid-stream: the connector retries with backoff and
# every check ends up stored exactly once.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
tests/lib/pg.sh start "$T/pg" >"$T/pg.log" 2>&1 || { not_ok private_postgresql_starts; exit 1; }
on_exit tests/lib/pg.sh stop "$T/pg"
PGC=$(. "$T/pg/env"; echo "$PG_CONNINFO")
export PG_CONNINFO=$PGC
targets 300
check setup_creates_topic_and_table setup_all
start_agent agent
start_store store
sleep 4
tests/lib/pg.sh restart "$T/pg" >>"$T/pg.log" 2>&1
sleep 1
tests/lib/pg.sh kill "$T/pg" >>"$T/pg.log" 2>&1
sleep 2
tests/lib/pg.sh start "$T/pg" >>"$T/pg.log" 2>&1
sleep 4
stop agent; arc=$RC
written=$(stat agent written)
echo "# agent: $(grep -o "stopped: .*" "$T/agent.log" | tail -n1)"
check agent_drains_and_exits_0 test "$arc" = 0
check store_retried_while_postgresql_was_down grep -q 'retry' "$T/store.log"
check pg_restart_loses_nothing wait_rows "${written:-x}" 90
stop store; src=$RC
check pg_restart_has_no_duplicates test "$(rows)" = "$(distinct_rows)"
check store_drains_and_exits_0 test "$src" = 0
