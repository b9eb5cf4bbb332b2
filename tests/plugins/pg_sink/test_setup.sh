#!/usr/bin/env bash
# pg_sink setup: idempotent on both storage paths; native partitions are made
# ahead, rows land in the right one, retention drops old ones; hypertables,
# policies and rollup views on TimescaleDB.
. "$WMHOST_ROOT/tests/lib/common.sh"
. "$WMHOST_ROOT/tests/plugins/pg_sink/lib.sh"
ensure_servers || { echo "cannot start PostgreSQL"; exit 1; }

DAY=86400
ymd() { date -u -d "@$(( $(date +%s) / DAY * DAY + $1 * DAY ))" +%Y%m%d; }

# ---- native partitioning on the system PostgreSQL
t=$(uniq_table setup)
SNK="  create_views: true
  retention: 3d
  partitions_ahead: 2"
pipeline "$T/n.yaml" pg "$t" "" "$SNK"
if wm setup "$T/n.yaml" && wm setup "$T/n.yaml" && wm setup "$T/n.yaml"; then
	ok "setup_twice_is_idempotent_on_native_partitioning"
else
	not_ok "setup_twice_is_idempotent_on_native_partitioning"; tail -n 20 "$T/wm.log"
fi
check "setup_reports_native_partitioning_path" grep -q "setup: \"$t\" .* as native range partitions" "$T/wm.log"
check "native_table_is_range_partitioned_on_time" \
	test "$(sql pg "select partstrat::text || ':' || (select attname from pg_attribute where attrelid = partrelid and attnum = partattrs[0]) from pg_partitioned_table where partrelid = '$t'::regclass")" = "r:time"
missing=""
for d in 0 1 2; do
	[ "$(sql pg "select count(*) from pg_inherits where inhparent = '$t'::regclass and inhrelid = to_regclass('${t}_p$(ymd $d)')")" = 1 ] || missing="$missing ${t}_p$(ymd $d)"
done
if [ -z "$missing" ]; then ok "native_partitions_created_ahead_today_plus_2"; else not_ok "native_partitions_created_ahead_today_plus_2: missing$missing"; fi
check "native_unique_key_on_check_id_and_time" \
	test "$(sql pg "select pg_get_constraintdef(oid) from pg_constraint where conrelid = '$t'::regclass and contype = 'u'")" = "UNIQUE (check_id, \"time\")"
check "native_rollup_views_exist" \
	test "$(sql pg "select count(*) from pg_views where viewname in ('${t}_hourly', '${t}_daily')")" = 2

# 72 hourly records from yesterday 00:00 to tomorrow 23:00.
pipeline "$T/n2.yaml" pg "$t" "  count: 72
  time_base: $(day_base_us -1)
  time_step: 1h" "$SNK"
wm run "$T/n2.yaml"
check "native_rows_land_in_the_partition_of_their_day" \
	test "$(sql pg "select count(*) || '/' || count(*) filter (where tableoid::regclass::text = '${t}_p' || to_char(time, 'YYYYMMDD')) from $t")" = "72/72"
check "native_hourly_view_rolls_up_checks_per_target" \
	test "$(sql pg "select sum(checks) from ${t}_hourly")" = 72

# Rows 10 days old get a partition on demand; the next maintenance (setup
# forces one) drops it because of the 3d retention.
pipeline "$T/n3.yaml" pg "$t" "  agent: old
  count: 24
  time_base: $(day_base_us -10)
  time_step: 1h" "$SNK"
wm run "$T/n3.yaml"
old="${t}_p$(ymd -10)"
check "native_partition_created_on_demand_for_an_old_row" \
	test "$(sql pg "select count(*) from $old")" = 24
wm setup "$T/n.yaml"
check "native_retention_drops_partitions_older_than_retention" \
	test "$(sql pg "select coalesce(to_regclass('$old')::text, 'gone') || ':' || (select count(*) from $t)")" = "gone:72"

# A table dropped under a running sink comes back (auto_setup) and the
# batch that found it missing is retried, not lost.
t2=$(uniq_table dropped)
pipeline "$T/d.yaml" pg "$t2" "  count: 3000
  rate: 2000
  time_base: $(day_base_us 0)" "" "{ max_records: 100, max_wait: 50ms }"
"$WMHOST" run "$T/d.yaml" >"$T/d.log" 2>&1 &
pid=$!
has_rows() { [ "$(sql pg "select count(*) > 0 from $1" 2>/dev/null)" = t ]; }
wait_for 20 has_rows "$t2"
sleep 0.5
sql pg "drop table $t2"
wait $pid
rc=$?
n=$(sql pg "select count(*) from $t2")
if [ $rc = 0 ] && [ "$n" -gt 0 ] && [ "$n" -lt 3000 ] && grep -q "is missing: creating it" "$T/d.log"; then
	ok "a_table_dropped_under_a_running_sink_is_recreated ($n rows after the drop)"
else
	not_ok "a_table_dropped_under_a_running_sink_is_recreated (rc $rc, $n rows)"; tail -n 5 "$T/d.log"
fi

# Two sinks creating the same table at the same moment. Both find it
# missing, then wait on a third session creating it too, which rolls back:
# they race for the name and the loser gets 23505 (or 42P07). That is
# retried, not fatal, and both streams are stored.
t3=$(uniq_table race)
for a in a b; do
	pipeline "$T/r$a.yaml" pg "$t3" "  agent: race-$a
  count: 200
  time_base: $(day_base_us 0)"
done
waiters="select count(*) from pg_locks where not granted and locktype = 'transactionid'
	and transactionid::text::bigint = pg_current_xact_id()::text::bigint % 4294967296"
PGAPPNAME=wm_name_holder psql "$PG_CONNINFO" -XAtq -v ON_ERROR_STOP=1 >"$T/x.log" 2>&1 <<SQL &
begin;
create table "$t3" (x int);
do \$\$ begin
	for i in 1..600 loop
		exit when ($waiters) >= 2;
		perform pg_sleep(0.05);
	end loop;
end \$\$;
select 'waiters:' || ($waiters);
rollback;
SQL
xpid=$!
# holding APP: APP's session is in its pg_sleep loop, holding the name.
holding() {
	[ "$(sql pg "select count(*) from pg_stat_activity where application_name = '$1'
		and query like '%pg_sleep%'")" = 1 ]
}
wait_for 20 holding wm_name_holder
"$WMHOST" run "$T/ra.yaml" >"$T/ra.log" 2>&1 &
apid=$!
"$WMHOST" run "$T/rb.yaml" >"$T/rb.log" 2>&1 &
bpid=$!
wait $apid
arc=$?
wait $bpid
brc=$?
wait $xpid
got=$(sql pg "select count(*) || '/' || count(distinct check_id) from $t3")
if [ $arc = 0 ] && [ $brc = 0 ] && [ "$got" = "400/400" ] && grep -q "waiters:2" "$T/x.log" &&
	cat "$T/ra.log" "$T/rb.log" | grep -qE "will retry: .*(duplicate key|already exists)"; then
	ok "two_sinks_creating_the_same_table_at_once_both_succeed"
else
	not_ok "two_sinks_creating_the_same_table_at_once_both_succeed (exit $arc/$brc, $got rows of 400, $(cat "$T/x.log"))"
	grep -hE "will retry|ERROR" "$T/ra.log" "$T/rb.log" | tail -n 6
fi

# A lock timeout while auto_setup creates the table (55P03: another session
# holds the name) is retried until the name is free.
t4=$(uniq_table lockto)
pipeline "$T/lt.yaml" pg "$t4" "  count: 50
  time_base: $(day_base_us 0)"
PGAPPNAME=wm_lock_holder psql "$PG_CONNINFO" -XAtq -c "begin" -c "create table \"$t4\" (x int)" \
	-c "select pg_sleep(3)" -c "rollback" >/dev/null 2>&1 &
xpid=$!
wait_for 20 holding wm_lock_holder
PG_CONNINFO="$PG_CONNINFO?options=-c%20lock_timeout%3D300" "$WMHOST" run "$T/lt.yaml" >"$T/lt.log" 2>&1
rc=$?
wait $xpid
n=$(sql pg "select count(*) from $t4")
if [ $rc = 0 ] && [ "$n" = 50 ] && grep -q "will retry: .*lock timeout" "$T/lt.log"; then
	ok "lock_timeout_during_auto_setup_is_retried ($(grep -c 'will retry' "$T/lt.log") retried writes)"
else
	not_ok "lock_timeout_during_auto_setup_is_retried (rc $rc, $n rows)"
	grep -E "will retry|ERROR" "$T/lt.log" | tail -n 5
fi

# ---- TimescaleDB
if [ -z "${TSDB_CONNINFO:-}" ]; then
	skip_tsdb setup_twice_is_idempotent_on_timescaledb tsdb_table_is_a_hypertable_with_1d_chunks \
		tsdb_compression_and_retention_policies tsdb_continuous_aggregates tsdb_retention_drops_old_chunks \
		storage_partitioned_forces_native_partitions_on_timescaledb
	exit 0
fi
t=$(uniq_table setup)
SNK="  create_views: true
  retention: 3d
  compression_after: 2d"
pipeline "$T/h.yaml" tsdb "$t" "" "$SNK"
if wm setup "$T/h.yaml" && wm setup "$T/h.yaml"; then
	ok "setup_twice_is_idempotent_on_timescaledb"
else
	not_ok "setup_twice_is_idempotent_on_timescaledb"; tail -n 20 "$T/wm.log"
fi
check "setup_reports_hypertable_path" grep -q "setup: \"$t\" .* as TimescaleDB hypertable" "$T/wm.log"
check "tsdb_table_is_a_hypertable_with_1d_chunks" \
	test "$(sql tsdb "select d.time_interval from timescaledb_information.hypertables h join timescaledb_information.dimensions d using (hypertable_schema, hypertable_name) where h.hypertable_name = '$t'")" = "1 day"
license=$(sql tsdb "select current_setting('timescaledb.license', true)")
if [ "$license" = apache ]; then
	skip "tsdb_compression_and_retention_policies: this TimescaleDB (Debian's) is the Apache-2 edition without policies - SKIPPED; retention runs as drop_chunks from the sink instead"
	skip "tsdb_continuous_aggregates: the Apache-2 edition has no continuous aggregates - SKIPPED; plain views are used instead"
	check "tsdb_apache_edition_gets_plain_rollup_views" \
		test "$(sql tsdb "select count(*) from pg_views where viewname in ('${t}_hourly', '${t}_daily')")" = 2
else
	check "tsdb_compression_and_retention_policies" \
		test "$(sql tsdb "select string_agg(proc_name, ',' order by proc_name) from timescaledb_information.jobs where hypertable_name = '$t'")" = "policy_compression,policy_retention"
	check "tsdb_continuous_aggregates" \
		test "$(sql tsdb "select count(*) from timescaledb_information.continuous_aggregates where view_name in ('${t}_hourly', '${t}_daily')")" = 2
fi
pipeline "$T/h2.yaml" tsdb "$t" "  count: 48
  time_base: $(day_base_us -10)
  time_step: 1h" "$SNK"
pipeline "$T/h3.yaml" tsdb "$t" "  agent: new
  count: 24
  time_base: $(day_base_us 0)
  time_step: 1h" "$SNK"
wm run "$T/h2.yaml"
before=$(sql tsdb "select count(*) from $t")
# The first write of the next run does the sink's maintenance.
wm run "$T/h3.yaml"
if [ "$license" != apache ]; then
	sql tsdb "call run_job((select job_id from timescaledb_information.jobs where hypertable_name = '$t' and proc_name = 'policy_retention'))"
fi
check "tsdb_retention_drops_old_chunks" test "$before:$(sql tsdb "select count(*) from $t")" = "48:24"
check "tsdb_rollup_view_counts_checks" test "$(sql tsdb "select sum(checks) from ${t}_daily")" = 24

t=$(uniq_table forced)
pipeline "$T/f.yaml" tsdb "$t" "  count: 10
  time_base: $(day_base_us 0)" "  storage: partitioned"
wm run "$T/f.yaml"
check "storage_partitioned_forces_native_partitions_on_timescaledb" \
	test "$(sql tsdb "select (select relkind::text from pg_class where oid = '$t'::regclass) || ':' || count(*) from $t")" = "p:10"
