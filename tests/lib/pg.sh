#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, demo and benchmarks.
#
#   tests/lib/pg.sh start   DIR   initdb (first time) and start; prints DIR/env
#   tests/lib/pg.sh stop    DIR   fast shutdown; the data stays in DIR
#   tests/lib/pg.sh restart DIR   stop + start, same data and port
#   tests/lib/pg.sh kill    DIR   SIGKILL the server (crash), no shutdown
#
# The cluster listens on a free 127.0.0.1 port with its unix socket in DIR,
# keeps PostgreSQL's normal durability settings (fsync, full_page_writes) so
# tests prove what production would see, and has a database `wmhost`.
# DIR/env holds PG_CONNINFO, PGHOST, PGPORT, PGUSER, PGDATABASE and
# PG_SOCKET_DIR; `. DIR/env` in a shell or `set -a; . DIR/env; set +a`.
#
# Authentication: trust on loopback and the socket, except the role
# `wmhost_pw`, which must log in with a password (scram-sha-256), so tests can
# prove passwords from PGPASSWORD / PGPASSFILE work. The server also speaks
# TLS with a self-signed certificate (DIR/server.crt, for sslmode=require
# and sslrootcert tests).
set -eu
. "$(dirname "$0")/pg_crash.sh"

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
[ -x "$PGBIN/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (install postgresql)" >&2; exit 77; }

usage() { echo "usage: $0 {start|stop|restart|kill} DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
DIR=$2

# Commands that must run as the cluster owner: postgres refuses root.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The owner needs to reach DIR: grant traverse (not read) on ancestors that a
# root-only mktemp made private.
open_path_for_owner() {
	local d
	d=$(dirname "$DIR")
	while [ "$d" != / ]; do
		if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then chmod o+x "$d"; fi
		d=$(dirname "$d")
	done
}

write_env() {
	local port=$1
	cat >"$DIR/env" <<EOF
PG_CONNINFO=postgresql://postgres@127.0.0.1:$port/wmhost
PGHOST=127.0.0.1
PGPORT=$port
PGUSER=postgres
PGDATABASE=wmhost
PG_SOCKET_DIR=$DIR
EOF
}

init_cluster() {
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	if [ "$(id -u)" = 0 ]; then
		open_path_for_owner
		chown postgres: "$DIR"
	fi
	as_owner "$PGBIN/initdb" -D "$DIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=trust >"$DIR/initdb.log" 2>&1 ||
		{ cat "$DIR/initdb.log" >&2; exit 1; }
	# Self-signed certificate for TLS tests (CN=127.0.0.1).
	if command -v openssl >/dev/null; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
			-addext subjectAltName=IP:127.0.0.1 \
			-keyout "$DIR/data/server.key" -out "$DIR/data/server.crt" >/dev/null 2>&1 &&
			chmod 600 "$DIR/data/server.key" && cp "$DIR/data/server.crt" "$DIR/server.crt"
		[ "$(id -u)" = 0 ] && chown postgres: "$DIR/data/server.key" "$DIR/data/server.crt"
	fi
	local ssl=off
	[ -f "$DIR/data/server.key" ] && ssl=on
	cat >>"$DIR/data/postgresql.conf" <<EOF
# wmhost test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
ssl = $ssl
max_connections = 100
logging_collector = off
log_min_messages = warning
EOF
	# First matching line wins: the password role before the trust lines.
	{
		echo "host all wmhost_pw 127.0.0.1/32 scram-sha-256"
		echo "local all wmhost_pw scram-sha-256"
		cat "$DIR/data/pg_hba.conf"
	} >"$DIR/pg_hba.tmp"
	cat "$DIR/pg_hba.tmp" >"$DIR/data/pg_hba.conf"
	rm -f "$DIR/pg_hba.tmp"
	free_port >"$DIR/port"
}

start() {
	[ -f "$DIR/data/PG_VERSION" ] || init_cluster
	DIR=$(cd "$DIR" && pwd)
	local port
	port=$(cat "$DIR/port")
	if ! as_owner "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
		as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
			-o "-p $port -k $DIR" start >/dev/null ||
			{ tail -n 20 "$DIR/server.log" >&2; exit 1; }
	fi
	if ! "$PGBIN/psql" -h "$DIR" -p "$port" -U postgres -d postgres -XAtqc \
		"select 1 from pg_database where datname='wmhost'" | grep -q 1; then
		"$PGBIN/psql" -h "$DIR" -p "$port" -U postgres -d postgres -Xqc "create database wmhost" >/dev/null
	fi
	write_env "$port"
	cat "$DIR/env"
}

stop() {
	[ -f "$DIR/data/PG_VERSION" ] || return 0
	as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

crash() {
	pg_crash "$DIR/data"
}

case $CMD in
start) start ;;
stop) stop ;;
restart) stop; start ;;
kill) crash ;;
*) usage ;;
esac
