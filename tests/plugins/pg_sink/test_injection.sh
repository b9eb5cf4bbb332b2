#!/usr/bin/env bash
# pg_sink and hostile names/values: SQL in table, schema and column names is
# quoted and stored verbatim; SQL in types or keys is a config error with
# file:line:col; values are data, never SQL; the conninfo is never printed.
. "$WMHOST_ROOT/tests/lib/common.sh"
. "$WMHOST_ROOT/tests/plugins/pg_sink/lib.sh"
ensure_servers || { echo "cannot start PostgreSQL"; exit 1; }

BASE=$(day_base_us 0)
victim=victim_$RANDOM
sql pg "create table $victim (x int); insert into $victim values (42)"
victim_alive() { [ "$(sql pg "select x from $victim")" = 42 ]; }

for s in $(servers); do
	evil_table="t$RANDOM\"; DROP TABLE $victim; --"
	evil_schema="s$RANDOM\"; DROP TABLE $victim;"
	evil_extra="x\"); DROP TABLE $victim; --"
	# YAML single quotes: the names reach the plugin byte for byte.
	pipeline "$T/$s-evil.yaml" "$s" "'$evil_table'" "  count: 50
  time_base: $BASE
  extra_field: true" "  schema: '$evil_schema'
  extra_column: '$evil_extra'
  create_views: true"
	if wm setup "$T/$s-evil.yaml" && wm run "$T/$s-evil.yaml"; then
		ok "${s}_sql_in_table_schema_and_column_names_is_quoted_not_run"
	else
		not_ok "${s}_sql_in_table_schema_and_column_names_is_quoted_not_run"; tail -n 10 "$T/wm.log"
	fi
	qs=${evil_schema//\"/\"\"}
	qt=${evil_table//\"/\"\"}
	qx=${evil_extra//\"/\"\"}
	check "${s}_evil_names_exist_verbatim_and_hold_the_rows" \
		test "$(sql "$s" "select count(*) || ':' || count(\"$qx\") from \"$qs\".\"$qt\"")" = "50:50"
	check "${s}_hostile_values_are_stored_as_data" \
		test "$(sql "$s" "select count(*) from \"$qs\".\"$qt\" where error like '%; DROP TABLE x;--'")" = 5
done
check "sql_in_names_dropped_no_table" victim_alive

# Config errors: exit status 2 and a file:line:col message.
config_error() {
	local name=$1 snk=$2 msg=$3
	pipeline "$T/$name.yaml" pg "t_cfg" "" "$snk"
	"$WMHOST" check "$T/$name.yaml" >"$T/$name.out" 2>&1
	local rc=$?
	if [ $rc = 2 ] && grep -Eq "$name\.yaml:[0-9]+:[0-9]+:.*$msg" "$T/$name.out"; then
		ok "$name"
	else
		not_ok "$name (exit $rc)"; cat "$T/$name.out"
	fi
}
EXTRA_COLUMNS="    - { name: x, type: \"text); DROP TABLE $victim; --\" }" \
	config_error sql_in_a_column_type_is_a_config_error "" "does not look like a PostgreSQL type"
EXTRA_COLUMNS="    - { name: y, type: \"text default 'a'\" }" \
	config_error quotes_in_a_column_type_are_a_config_error "" "does not look like a PostgreSQL type"
UNIQUE_KEY="[check_id]" config_error unique_key_without_time_column_is_a_config_error "" "must include the time column"
UNIQUE_KEY="[check_id, time, \"nope\\\"; drop\"]" config_error unique_key_naming_an_unknown_column_is_a_config_error "" "not one of the declared columns"
config_error time_column_must_be_a_timestamp "  time_column: agent" "must be a timestamptz"
config_error storage_must_be_known "  storage: mongodb" "expected auto, hypertable or partitioned"
pipeline "$T/long.yaml" pg "$(printf 'x%.0s' $(seq 41))"
"$WMHOST" check "$T/long.yaml" >"$T/long.out" 2>&1
check "a_table_name_longer_than_40_bytes_is_a_config_error" test $? = 2
check "sql_in_config_errors_dropped_no_table" victim_alive

# The conninfo is secret: a failing connection never prints the password.
secret="Sup3rSecret-$RANDOM"
pipeline "$T/secret.yaml" pg "t_secret" "  count: 1" "  connect_timeout: 2s"
sed -i -e "s|conninfo: .*|conninfo: 'postgresql://someone:$secret@127.0.0.1:1/db?sslmode=disable'|" \
	-e "s|shutdown_timeout: .*|shutdown_timeout: 1s|" "$T/secret.yaml"
"$WMHOST" --log-level debug setup "$T/secret.yaml" >"$T/secret.out" 2>&1
rc=$?
timeout -s INT 3 "$WMHOST" --log-level debug run "$T/secret.yaml" >>"$T/secret.out" 2>&1
if [ $rc != 0 ] && grep -q "Connection refused" "$T/secret.out" && ! grep -q "$secret" "$T/secret.out"; then
	ok "conninfo_password_never_appears_in_logs_or_errors"
else
	not_ok "conninfo_password_never_appears_in_logs_or_errors (setup exit $rc)"; grep -n "$secret" "$T/secret.out" | head -3
fi
