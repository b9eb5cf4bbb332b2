#!/usr/bin/env bash
# pg_sink idempotence: replaying identical records (a crash after COMMIT but
# before the source's position was stored) never duplicates rows, on both
# storage paths, through the direct COPY and through the stage.
. "$WMHOST_ROOT/tests/lib/common.sh"
. "$WMHOST_ROOT/tests/plugins/pg_sink/lib.sh"
ensure_servers || { echo "cannot start PostgreSQL"; exit 1; }

BASE=$(day_base_us 0)
more_than() { [ "$(sql "$1" "select count(*) > $3 from $2" 2>/dev/null)" = t ]; }
counts() { sql "$1" "select count(*) || '/' || count(distinct (check_id, time)) from $2"; }

for s in $(servers); do
	t=$(uniq_table replay)
	src="  count: 1000
  time_base: $BASE
  time_step: 10ms"
	pipeline "$T/$s-a.yaml" "$s" "$t" "$src"
	wm run "$T/$s-a.yaml"
	first=$(counts "$s" "$t")
	wm run "$T/$s-a.yaml"
	check "${s}_replaying_identical_batches_leaves_row_count_unchanged" test "$first:$(counts "$s" "$t")" = "1000/1000:1000/1000"
	check "${s}_replay_dead_letters_nothing" test ! -s "$T/$s-a.dead.jsonl"

	pipeline "$T/$s-b.yaml" "$s" "$t" "  start: 500
  count: 1000
  time_base: $BASE
  time_step: 10ms"
	wm run "$T/$s-b.yaml"
	check "${s}_overlapping_replay_adds_only_new_rows" test "$(counts "$s" "$t")" = "1500/1500"

	pipeline "$T/$s-c.yaml" "$s" "$t" "$src" "  direct_copy: false"
	wm run "$T/$s-c.yaml"
	check "${s}_staged_insert_on_conflict_replay_leaves_row_count_unchanged" test "$(counts "$s" "$t")" = "1500/1500"

	# kill -9 in the middle of a stream, then the whole stream again.
	t2=$(uniq_table kill9)
	pipeline "$T/$s-k.yaml" "$s" "$t2" "  count: 6000
  rate: 3000
  time_base: $BASE
  time_step: 10ms" "" "{ max_records: 200, max_wait: 50ms }"
	"$WMHOST" run "$T/$s-k.yaml" >>"$T/wm.log" 2>&1 &
	pid=$!
	wait_for 20 more_than "$s" "$t2" 500
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	partial=$(counts "$s" "$t2")
	wm run "$T/$s-k.yaml"
	full=$(counts "$s" "$t2")
	if [ "${partial%/*}" -lt 6000 ] && [ "$full" = "6000/6000" ]; then
		ok "${s}_rerun_after_kill9_mid_stream_has_no_duplicates (partial $partial)"
	else
		not_ok "${s}_rerun_after_kill9_mid_stream_has_no_duplicates (partial $partial, then $full)"
	fi
done
[ -z "${TSDB_CONNINFO:-}" ] && skip_tsdb tsdb_replay_cases
exit 0
