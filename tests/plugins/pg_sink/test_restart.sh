#!/usr/bin/env bash
# pg_sink under server failures: a fast restart (admin_shutdown) and a crash
# (SIGKILL) of the server in the middle of a stream lose nothing and
# duplicate nothing; the sink reconnects through the host's retries. So does
# a server that turns read-only for a while.
. "$WMHOST_ROOT/tests/lib/common.sh"
. "$WMHOST_ROOT/tests/plugins/pg_sink/lib.sh"

BASE=$(day_base_us 0)
N=9000
more_than() { [ "$(psql "$1" -XAtqc "select count(*) > $3 from $2" 2>/dev/null)" = t ]; }

# run_through_failures KIND SCRIPT DIR CONNINFO_VAR: streams N records while
# SCRIPT restarts, then crashes and restarts the private server in DIR.
run_through_failures() {
	local name=$1 script=$2 dir=$3 var=$4
	local conn
	conn=$(grep "^$var=" "$dir/env" | cut -d= -f2-)
	local t
	t=$(uniq_table restart)
	pipeline "$T/$name.yaml" pg "$t" "  count: $N
  rate: 3000
  time_base: $BASE
  time_step: 10ms" "" "{ max_records: 200, max_wait: 50ms }"
	PG_CONNINFO=$conn "$WMHOST" run "$T/$name.yaml" >"$T/$name.log" 2>&1 &
	local pid=$!
	wait_for 20 more_than "$conn" "$t" 1000
	"$script" restart "$dir" >/dev/null 2>&1
	local after_restart
	after_restart=$(psql "$conn" -XAtqc "select count(*) from $t")
	wait_for 20 more_than "$conn" "$t" $((after_restart + 1000))
	"$script" kill "$dir" >/dev/null 2>&1
	sleep 0.5
	"$script" start "$dir" >/dev/null 2>&1
	wait $pid
	local rc=$?
	local got
	got=$(psql "$conn" -XAtqc "select count(*) || '/' || count(distinct check_id) from $t")
	if [ $rc = 0 ] && [ "$got" = "$N/$N" ] && grep -q "will retry" "$T/$name.log"; then
		ok "${name}_server_restart_and_crash_mid_stream_lose_nothing ($got rows, $(grep -c 'will retry' "$T/$name.log") retried writes)"
	else
		not_ok "${name}_server_restart_and_crash_mid_stream_lose_nothing (rc $rc, $got rows of $N)"
		tail -n 20 "$T/$name.log"
	fi
	check "${name}_dead_letters_nothing_on_server_failures" test ! -s "$T/$name.dead.jsonl"
}

"$WMHOST_ROOT/tests/lib/pg.sh" start "$T/pgr" >/dev/null || { echo "cannot start PostgreSQL"; exit 1; }
on_exit "'$WMHOST_ROOT/tests/lib/pg.sh' stop '$T/pgr'"
run_through_failures pg "$WMHOST_ROOT/tests/lib/pg.sh" "$T/pgr" PG_CONNINFO

# pg_terminate_backend on the sink's session (admin_shutdown, 57P01) three
# times during a stream.
conn=$(grep '^PG_CONNINFO=' "$T/pgr/env" | cut -d= -f2-)
t=$(uniq_table term)
pipeline "$T/term.yaml" pg "$t" "  count: 6000
  rate: 3000
  time_base: $BASE
  time_step: 10ms" "" "{ max_records: 200, max_wait: 50ms }"
PG_CONNINFO=$conn "$WMHOST" run "$T/term.yaml" >"$T/term.log" 2>&1 &
pid=$!
wait_for 20 more_than "$conn" "$t" 300
for i in 1 2 3; do
	psql "$conn" -XAtqc "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'wmhost pg_sink'" >/dev/null
	sleep 0.4
done
wait $pid
rc=$?
got=$(psql "$conn" -XAtqc "select count(*) || '/' || count(distinct check_id) from $t")
if [ $rc = 0 ] && [ "$got" = "6000/6000" ] && grep -q "administrator command" "$T/term.log"; then
	ok "pg_terminated_sessions_are_retried_without_loss_or_duplicates ($(grep -c 'will retry' "$T/term.log") retried writes)"
else
	not_ok "pg_terminated_sessions_are_retried_without_loss_or_duplicates (rc $rc, $got)"; tail -n 10 "$T/term.log"
fi

# The server turns read-only mid-stream (as the old primary does when it
# comes back as a standby after a failover): writes fail with 25006 and are
# retried, not fatal; once it is writable again every row arrives.
read_only() {
	psql "$conn" -XAtq -c "alter system set default_transaction_read_only = $1" -c "select pg_reload_conf()" >/dev/null
}
t=$(uniq_table ro)
pipeline "$T/ro.yaml" pg "$t" "  count: 3000
  rate: 1500
  time_base: $BASE
  time_step: 10ms" "" "{ max_records: 100, max_wait: 50ms }"
PG_CONNINFO=$conn "$WMHOST" run "$T/ro.yaml" >"$T/ro.log" 2>&1 &
pid=$!
on_exit "psql '$conn' -XAtq -c 'alter system reset default_transaction_read_only' -c 'select pg_reload_conf()'"
wait_for 20 more_than "$conn" "$t" 300
read_only on
# The open session fails its write (25006); reconnecting, libpq refuses the
# read-only server (target_session_attrs=read-write) until it is writable.
wait_for 20 grep -q "session is read-only" "$T/ro.log"
read_only off
wait $pid
rc=$?
got=$(psql "$conn" -XAtqc "select count(*) || '/' || count(distinct check_id) from $t")
if [ $rc = 0 ] && [ "$got" = "3000/3000" ] && grep -q "will retry: .*read-only" "$T/ro.log"; then
	ok "read_only_server_is_retried_until_writable_without_loss ($(grep -c 'will retry' "$T/ro.log") retried writes)"
else
	not_ok "read_only_server_is_retried_until_writable_without_loss (rc $rc, $got rows of 3000)"
	grep -E "will retry|ERROR|FATAL" "$T/ro.log" | tail -n 10
fi
check "read_only_server_is_refused_at_connect_by_default" grep -q "will retry: .*session is read-only" "$T/ro.log"

# The conninfo's own target_session_attrs wins over the sink's read-write:
# with `any` it connects to the read-only server and its writes fail with
# 25006, which is retried as well.
t=$(uniq_table roany)
pipeline "$T/roany.yaml" pg "$t" "  count: 200
  time_base: $BASE" "" "{ max_records: 100, max_wait: 50ms }"
PG_CONNINFO=$conn "$WMHOST" setup "$T/roany.yaml" >"$T/roany.log" 2>&1
read_only on
PG_CONNINFO="$conn?target_session_attrs=any" "$WMHOST" run "$T/roany.yaml" >>"$T/roany.log" 2>&1 &
pid=$!
wait_for 20 grep -q "will retry: .*read-only transaction" "$T/roany.log"
read_only off
wait $pid
rc=$?
got=$(psql "$conn" -XAtqc "select count(*) from $t")
if [ $rc = 0 ] && [ "$got" = 200 ] && grep -q "will retry: .*read-only transaction" "$T/roany.log" &&
	! grep -q "session is read-only" "$T/roany.log"; then
	ok "conninfo_target_session_attrs_any_overrides_read_write ($(grep -c 'will retry' "$T/roany.log") retried writes)"
else
	not_ok "conninfo_target_session_attrs_any_overrides_read_write (rc $rc, $got rows of 200)"
	grep -E "will retry|ERROR|FATAL" "$T/roany.log" | tail -n 10
fi

if out=$("$WMHOST_ROOT/tests/lib/timescale.sh" start "$T/tsr" 2>&1); then
	on_exit "'$WMHOST_ROOT/tests/lib/timescale.sh' stop '$T/tsr'"
	run_through_failures tsdb "$WMHOST_ROOT/tests/lib/timescale.sh" "$T/tsr" TSDB_CONNINFO
else
	TSDB_WHY=$(echo "$out" | tail -n1)
	skip_tsdb tsdb_server_restart_and_crash_mid_stream_lose_nothing
fi
