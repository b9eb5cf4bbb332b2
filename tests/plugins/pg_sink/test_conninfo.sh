#!/usr/bin/env bash
# pg_sink connection settings: passwords from PGPASSWORD or PGPASSFILE (the
# conninfo holds none), TLS with sslmode=require and verify-full against
# the server's certificate, and a wrong password never leaks into logs.
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
