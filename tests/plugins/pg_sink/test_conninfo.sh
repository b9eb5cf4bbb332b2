#!/usr/bin/env bash
# pg_sink connection settings: passwords from PGPASSWORD or PGPASSFILE (the
# conninfo holds none), TLS with sslmode=require and verify-full against
# the server's certificate; a password never leaks into logs (a wrong one,
# or one in a conninfo libpq cannot read, which is a config error).
. "$WMHOST_ROOT/tests/lib/common.sh"
. "$WMHOST_ROOT/tests/plugins/pg_sink/lib.sh"
ensure_servers || { echo "cannot start PostgreSQL"; exit 1; }

BASE=$(day_base_us 0)
# pg.sh makes the role wmhost_pw authenticate with scram-sha-256.
pw="pw-$RANDOM-$RANDOM"
sql pg "do \$\$ begin create role wmhost_pw login superuser; exception when duplicate_object then null; end \$\$"
sql pg "alter role wmhost_pw password '$pw'"
host=$(sql pg "select inet_server_addr()")
port=$(sql pg "show port")
db=$(sql pg "select current_database()")
base_conn="postgresql://wmhost_pw@$host:$port/$db"

# run_with CONNINFO TABLE: setup + 20 rows; prints the stored row count.
run_with() {
	pipeline "$T/c.yaml" pg "$2" "  count: 20
  time_base: $BASE" "  connect_timeout: 3s"
	sed -i -e "s|shutdown_timeout: .*|shutdown_timeout: 1s|" "$T/c.yaml"
	PG_CONNINFO=$1 wm setup "$T/c.yaml" && PG_CONNINFO=$1 wm run "$T/c.yaml" && sql pg "select count(*) from $2"
}

t=$(uniq_table pw)
check "password_from_PGPASSWORD" test "$(PGPASSWORD=$pw run_with "$base_conn" "$t")" = 20
printf '%s:%s:%s:wmhost_pw:%s\n' "$host" "$port" "$db" "$pw" >"$T/pgpass"
chmod 600 "$T/pgpass"
t=$(uniq_table pwfile)
check "password_from_PGPASSFILE" test "$(PGPASSFILE=$T/pgpass run_with "$base_conn" "$t")" = 20

wrong="wrong-$RANDOM"
: >"$T/wm.log"
PGPASSWORD=$wrong run_with "$base_conn" "$(uniq_table wrong)" >/dev/null 2>&1
if grep -q "password authentication failed" "$T/wm.log" && ! grep -q "$wrong" "$T/wm.log"; then
	ok "wrong_password_fails_setup_without_printing_it"
else
	not_ok "wrong_password_fails_setup_without_printing_it"; tail -n 5 "$T/wm.log"
fi

# A conninfo libpq cannot use is a config error at conninfo (file:line:col,
# exit 2) for check, setup and run, and no part of its password is printed
# (libpq's parse errors quote the bad part, or the whole URI).
p1="Pa$RANDOM$RANDOM" p2="Pb$RANDOM$RANDOM"
bad_conninfo_case() {
	local name=$1 conninfo=$2 rc ok=1 cmd
	: >"$T/wm.log"
	pipeline "$T/bad.yaml" pg "$(uniq_table bad)"
	sed -i -e "s|shutdown_timeout: .*|shutdown_timeout: 1s|" "$T/bad.yaml"
	for cmd in check setup run; do
		PG_CONNINFO=$conninfo timeout -k 5 20 "$WMHOST" --log-level debug "$cmd" "$T/bad.yaml" >>"$T/wm.log" 2>&1
		rc=$?
		[ $rc = 2 ] || { ok=0; echo "# $cmd exited $rc"; }
	done
	grep -qE "bad\.yaml:[0-9]+:[0-9]+: conninfo: " "$T/wm.log" || { ok=0; echo "# no file:line:col: conninfo: error"; }
	if grep -qE "$p1|$p2" "$T/wm.log"; then ok=0; echo "# the password was printed"; fi
	if [ $ok = 1 ]; then ok "$name"; else not_ok "$name"; tail -n 5 "$T/wm.log"; fi
}
bad_conninfo_case "uri_with_unencoded_percent_in_password_is_a_config_error_without_the_password" \
	"postgresql://wmhost_pw:$p1%Zz@$host:$port/$db"
bad_conninfo_case "keyword_password_with_a_space_is_a_config_error_without_the_password" \
	"host=$host port=$port dbname=$db user=wmhost_pw password=$p1 $p2"
bad_conninfo_case "uri_with_unencoded_at_in_password_is_a_config_error_without_the_password" \
	"postgresql://wmhost_pw:$p1@$p2@$host:$port/$db"
bad_conninfo_case "uri_with_unencoded_slash_in_password_is_a_config_error_without_the_password" \
	"postgresql://wmhost_pw:$p1/$p2@$host:$port/$db"
# a password whose part before the '/' is all digits passes for a port:
# the rest lands in the database name, which libpq prints
bad_conninfo_case "uri_with_digits_then_slash_in_password_is_a_config_error_without_the_password" \
	"postgresql://wmhost_pw:2024/$p2@$host:$port/$db"

# Values libpq checks only when it connects (and then fails like a server
# that is down, retried for ever): a config error up front.
bad_conninfo_case "uri_with_unknown_sslmode_is_a_config_error" \
	"postgresql://wmhost_pw:$p1@$host:$port/$db?sslmode=bogus"
bad_conninfo_case "keyword_target_session_attrs_unknown_is_a_config_error" \
	"host=$host port=$port dbname=$db user=wmhost_pw password=$p1 target_session_attrs=primary-ish"

# Connection errors with a valid conninfo that holds a password never show
# it, even where libpq's message repeats the same text (a password equal to
# the user name).
conn_error_case() {
	local name=$1 conninfo=$2 expect=$3 secret=$4
	: >"$T/wm.log"
	pipeline "$T/ce.yaml" pg "$(uniq_table ce)" "" "  connect_timeout: 3s"
	PG_CONNINFO=$conninfo timeout 30 "$WMHOST" --log-level debug setup "$T/ce.yaml" >>"$T/wm.log" 2>&1
	if grep -q "$expect" "$T/wm.log" && ! grep -q -- "$secret" "$T/wm.log"; then
		ok "$name"
	else
		not_ok "$name"; tail -n 5 "$T/wm.log"
	fi
}
conn_error_case "wrong_password_in_uri_is_never_printed" \
	"postgresql://wmhost_pw:$p1@$host:$port/$db" "password authentication failed" "$p1"
conn_error_case "wrong_password_in_keywords_is_never_printed" \
	"host=$host port=$port dbname=$db user=wmhost_pw password='$p1 $p2'" "password authentication failed" "$p1"
conn_error_case "password_equal_to_the_user_name_is_never_printed" \
	"postgresql://wmhost_pw:wmhost_pw@$host:$port/$db" "password authentication failed" "wmhost_pw"
conn_error_case "refused_port_does_not_print_the_password" \
	"postgresql://wmhost_pw:$p1@$host:$(free_port)/$db" "refused" "$p1"

# The line logged after connecting hides a database name equal to the password.
sql pg "alter role wmhost_pw password '$db'"
: >"$T/wm.log"
pipeline "$T/dbpw.yaml" pg "$(uniq_table dbpw)"
PG_CONNINFO="postgresql://wmhost_pw:$db@$host:$port/$db" wm setup "$T/dbpw.yaml"
if grep -q "connected to PostgreSQL .*database \*\*\*" "$T/wm.log" && ! grep -q "database $db" "$T/wm.log"; then
	ok "connected_line_hides_a_database_name_equal_to_the_password"
else
	not_ok "connected_line_hides_a_database_name_equal_to_the_password"; tail -n 5 "$T/wm.log"
fi
sql pg "alter role wmhost_pw password '$pw'"

crt=${PG_SOCKET_DIR:-}/server.crt
if [ -z "${PG_SOCKET_DIR:-}" ] || [ ! -f "$crt" ]; then
	skip "tls_cases: the PostgreSQL under test was not started by tests/lib/pg.sh (no server.crt)"
	exit 0
fi
t=$(uniq_table tls)
check "sslmode_require_connects_over_tls" \
	test "$(PGPASSWORD=$pw run_with "$base_conn?sslmode=require" "$t")" = 20
t=$(uniq_table tlsv)
check "sslmode_verify_full_with_sslrootcert_connects" \
	test "$(PGPASSWORD=$pw run_with "$base_conn?sslmode=verify-full&sslrootcert=$crt" "$t")" = 20
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other -keyout "$T/o.key" -out "$T/other.crt" >/dev/null 2>&1
: >"$T/wm.log"
PGPASSWORD=$pw run_with "$base_conn?sslmode=verify-full&sslrootcert=$T/other.crt" "$(uniq_table tlsbad)" >/dev/null 2>&1
check "sslmode_verify_full_refuses_an_unknown_certificate" grep -q "certificate verify failed" "$T/wm.log"
