#!/usr/bin/env bash
# pg_sink COPY: every column type round-trips, NULLs stay NULL, unicode and
# control characters are stored verbatim, times with and without zones land on
# the same instant, unknown fields go to the jsonb extra column.
. "$WMHOST_ROOT/tests/lib/common.sh"
. "$WMHOST_ROOT/tests/plugins/pg_sink/lib.sh"
ensure_servers || { echo "cannot start PostgreSQL"; exit 1; }

N=200
FRAC=123456 # microseconds on every time, to see they survive
BASE=$(( $(day_base_us 0) + 3600000000 + FRAC ))
EXTRA_COLUMNS="    - { name: raw, type: bytea }"

for s in $(servers); do
for cf in binary text; do
	t=$(uniq_table types)
	for fmt in native utc offset; do
		pipeline "$T/$s-$fmt.yaml" "$s" "$t" "  agent: $fmt
  count: $N
  time_base: $BASE
  time_step: 1s
  time_format: $fmt
  extra_field: true
  with_bytes: true" "  extra_column: extra
  copy_format: $cf"
		wm run "$T/$s-$fmt.yaml" || { not_ok "${s}_${cf}_pipeline_runs_with_time_format_$fmt"; tail -n 20 "$T/wm.log"; }
	done
	check "${s}_${cf}_copy_stores_all_rows_of_three_time_formats" test "$(sql "$s" "select count(*) from $t")" = $((3 * N))

	want_time="$(date -u -d "@$(( BASE / 1000000 + 3 ))" '+%Y-%m-%d %H:%M:%S').$FRAC"
	check "${s}_${cf}_timestamptz_keeps_microseconds" \
		test "$(sql "$s" "select to_char(time at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') from $t where check_id = 'native-3'")" = "$want_time"
	check "${s}_${cf}_zoned_and_utc_strings_land_on_the_same_instant" \
		test "$(sql "$s" "select count(*) from $t n join $t u on u.time = n.time and u.agent = 'utc' join $t o on o.time = n.time and o.agent = 'offset' where n.agent = 'native' and u.tls_expires_at is not distinct from n.tls_expires_at and o.tls_expires_at is not distinct from n.tls_expires_at")" = $N
	# pg_feed: dns_ms null when seq % 7 == 0, pattern null for even seq,
	# tls_expires_at null when seq % 5 == 0, error null unless seq % 10 == 9.
	check "${s}_${cf}_nulls_stay_null_in_every_type" \
		test "$(sql "$s" "select count(*) filter (where dns_ms is null) || ',' || count(*) filter (where pattern is null and pattern_matched is null) || ',' || count(*) filter (where tls_expires_at is null) || ',' || count(*) filter (where error is null) from $t where agent = 'native'")" = "$(( (N + 6) / 7 )),$(( N / 2 )),$(( N / 5 )),$(( N - N / 10 ))"
	check "${s}_${cf}_unicode_text_round_trips" \
		test "$(sql "$s" "select target from $t where check_id = 'native-2'")" = "zielseite-2-ümlaut-日本-✓"
	check "${s}_${cf}_tabs_newlines_backslashes_quotes_stored_verbatim" \
		test "$(sql "$s" "select error = E'tab\\there, newline\\nhere, backslash \\\\ and quote '' \" ; DROP TABLE x;--' from $t where check_id = 'native-9'")" = t
	check "${s}_${cf}_bool_int_bigint_double_inet_values" \
		test "$(sql "$s" "select success::text || ',' || status_code || ',' || body_bytes || ',' || response_time_ms || ',' || host(remote_ip) || ',' || pattern_matched::text from $t where check_id = 'native-9'")" = "false,503,1009,11.125,127.0.0.1,true"
	check "${s}_${cf}_bytes_become_bytea" \
		test "$(sql "$s" "select encode(raw, 'hex') from $t where check_id = 'native-3'")" = "00ff5c03"
	check "${s}_${cf}_unknown_fields_kept_in_the_jsonb_extra_column" \
		test "$(sql "$s" "select extra::text from $t where check_id = 'utc-1'")" = '{"region": "eu-\"central\""}'
done
done

# Times with more than six fraction digits: both COPY paths store the
# instant PostgreSQL reads (rounded to the microsecond), so the same records
# written first by binary COPY and again by text COPY are recognised as
# replays instead of landing twice one microsecond apart.
for s in $(servers); do
	t=$(uniq_table nanos)
	for cf in binary text; do
		pipeline "$T/$s-nanos-$cf.yaml" "$s" "$t" "  agent: nanos
  count: $N
  time_base: $BASE
  time_step: 1s
  time_format: nanos" "  copy_format: $cf"
		wm run "$T/$s-nanos-$cf.yaml" || { not_ok "${s}_nanos_pipeline_runs_with_$cf"; tail -n 20 "$T/wm.log"; }
	done
	want_time="$(date -u -d "@$(( BASE / 1000000 + 3 ))" '+%Y-%m-%d %H:%M:%S').$((FRAC + 1))"
	check "${s}_fractions_beyond_microseconds_are_rounded" \
		test "$(sql "$s" "select to_char(time at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') from $t where check_id = 'nanos-3'")" = "$want_time"
	check "${s}_binary_then_text_replay_of_the_same_times_adds_no_rows" test "$(sql "$s" "select count(*) from $t")" = $N
done
[ -z "${TSDB_CONNINFO:-}" ] && skip_tsdb tsdb_copy_round_trips_every_type
exit 0
