#!/usr/bin/env bash
# pg_sink bad rows: a row PostgreSQL rejects (bad value for the column type,
# NOT NULL violation) is dead-lettered alone; the rest of its batch is stored.
. "$WMHOST_ROOT/tests/lib/common.sh"
. "$WMHOST_ROOT/tests/plugins/pg_sink/lib.sh"
ensure_servers || { echo "cannot start PostgreSQL"; exit 1; }

BASE=$(day_base_us 0)
for s in $(servers); do
	for kind in type null; do
		t=$(uniq_table bad)
		# One batch of 1000 in which seq 999 is bad.
		pipeline "$T/$s-$kind.yaml" "$s" "$t" "  count: 1000
  bad_every: 1000
  bad_kind: $kind
  time_base: $BASE
  time_step: 10ms" "" "{ max_records: 1000, max_wait: 5s }"
		wm run "$T/$s-$kind.yaml"
		dl="$T/$s-$kind.dead.jsonl"
		want_state=22P02
		[ $kind = null ] && want_state=23502
		stored=$(sql "$s" "select count(*) from $t")
		lines=$(wc -l <"$dl" 2>/dev/null || echo 0)
		if [ "$stored" = 999 ] && [ "$lines" = 1 ] && grep -q "$want_state" "$dl" &&
			{ [ $kind = null ] || grep -q '"check_id":"agent-1-999"' "$dl"; } &&
			[ "$(sql "$s" "select count(*) from $t where check_id = 'agent-1-999'")" = 0 ]; then
			ok "${s}_one_bad_${kind}_row_in_1000_stores_999_and_dead_letters_1"
		else
			not_ok "${s}_one_bad_${kind}_row_in_1000_stores_999_and_dead_letters_1 (stored $stored, dead-lettered $lines)"
			tail -n 5 "$T/wm.log"
		fi
	done
	# Many bad rows scattered through batches.
	t=$(uniq_table bad)
	pipeline "$T/$s-many.yaml" "$s" "$t" "  count: 2000
  bad_every: 50
  time_base: $BASE
  time_step: 10ms" "" "{ max_records: 500, max_wait: 1s }"
	wm run "$T/$s-many.yaml"
	check "${s}_forty_bad_rows_in_2000_store_1960_and_dead_letter_40" \
		test "$(sql "$s" "select count(*) from $t"):$(wc -l <"$T/$s-many.dead.jsonl")" = "1960:40"
done
[ -z "${TSDB_CONNINFO:-}" ] && skip_tsdb tsdb_bad_row_cases
exit 0
