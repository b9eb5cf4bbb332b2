#!/usr/bin/env bash
# A throwaway TimescaleDB server for tests: PostgreSQL 18 + timescaledb from
# Debian unstable, run in a cached debootstrap root because this machine's
# Debian release does not package TimescaleDB.
#
#   tests/lib/timescale.sh start   DIR   build the root once, start; prints DIR/env
#   tests/lib/timescale.sh stop    DIR   fast shutdown, unmount; data stays in DIR
#   tests/lib/timescale.sh restart DIR   stop + start, same data and port
#   tests/lib/timescale.sh kill    DIR   SIGKILL the server (crash)
#
# The root is built once under $WMHOST_TSDB_CACHE (default
# /var/cache/wmhost/tsdb-root; about 530 MB) and reused; a lock keeps two runs
# from building it at once. The Debian mirror comes from this machine's apt
# sources. DIR is bind-mounted into the root, so the cluster's data and its
# unix socket live in DIR. DIR/env holds TSDB_CONNINFO, TSDB_HOST, TSDB_PORT.
# Exit status 77 (with a one-line reason) means TimescaleDB is unavailable
# here (no root, no network to build it): callers report SKIPPED.
set -eu
. "$(dirname "$0")/pg_crash.sh"

usage() { echo "usage: $0 {start|stop|restart|kill} DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
DIR=$2

CACHE=${WMHOST_TSDB_CACHE:-/var/cache/wmhost/tsdb-root}
PGVER=18
PGBIN=/usr/lib/postgresql/$PGVER/bin
MNT=/srv/wmhost # instance mount points inside the root
BUILD_TIMEOUT=${WMHOST_TSDB_BUILD_TIMEOUT:-900}
RETRY_AFTER_S=600 # after a failed build, fail fast for this long

unavailable() { echo "timescaledb unavailable: $*"; exit 77; }

root_ready() {
	[ -f "$CACHE/.wmhost-ready" ] && [ -x "$CACHE$PGBIN/postgres" ] &&
		ls "$CACHE"/usr/lib/postgresql/$PGVER/lib/timescaledb*.so >/dev/null 2>&1
}

# The first non-security Debian mirror named in the apt sources (deb822 or
# one-line format); never hard-coded here.
debian_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			/^[ \t]*#/ { next }
			/^deb[ \t]/ {
				for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) break
				if ($i ~ /debian\/?$/ && $i !~ /security/) { print $i; exit }
				next
			}
			/^URIs:/ { uri = $2 }
			/^Suites:/ { if (uri ~ /debian\/?$/ && uri !~ /security/) { print uri; exit } }
		' "$f"
	done | head -n1
}

build_root() {
	[ "$(id -u)" = 0 ] || unavailable "building the root needs root (debootstrap, chroot)"
	command -v debootstrap >/dev/null || unavailable "debootstrap is not installed"
	mkdir -p "$(dirname "$CACHE")"
	exec 9>"$CACHE.lock"
	flock 9 # another run may be building it right now
	root_ready && return 0
	if [ -f "$CACHE.failed" ] && [ $(( $(date +%s) - $(stat -c %Y "$CACHE.failed") )) -lt $RETRY_AFTER_S ]; then
		unavailable "the last build failed less than ${RETRY_AFTER_S}s ago: $(cat "$CACHE.failed")"
	fi
	local mirror tmp
	mirror=$(debian_mirror)
	[ -n "$mirror" ] || unavailable "no Debian mirror found in /etc/apt/sources.list*"
	tmp="$CACHE.build.$$"
	rm -rf "$CACHE" "$tmp"
	echo "timescale.sh: building $CACHE with debootstrap (about a minute)" >&2
	if ! timeout "$BUILD_TIMEOUT" debootstrap --variant=minbase --include=postgresql-$PGVER-timescaledb \
		sid "$tmp" "$mirror" >"$CACHE.build.log" 2>&1; then
		rm -rf "$tmp"
		echo "debootstrap failed: $(tail -n1 "$CACHE.build.log")" >"$CACHE.failed"
		unavailable "debootstrap of Debian sid failed (see $CACHE.build.log: $(tail -n1 "$CACHE.build.log"))"
	fi
	rm -f "$CACHE.failed"
	mv "$tmp" "$CACHE"
	touch "$CACHE/.wmhost-ready"
	root_ready || unavailable "the built root has no PostgreSQL $PGVER with timescaledb"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command inside the root as its postgres user.
in_root() {
	env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME=/tmp \
		"$(command -v chroot)" --userspec="$PGUID:$PGGID" "$CACHE" "$@"
}

# Where DIR appears inside the root: one mount point per instance.
instance_mnt() {
	echo "$MNT/$(echo -n "$DIR" | md5sum | cut -c1-16)"
}

# Unmounts instances whose DIR was deleted without a stop (a crashed test).
reap_stale_mounts() {
	local m
	for m in "$CACHE$MNT"/*; do
		[ -d "$m" ] || continue
		if mountpoint -q "$m" && [ ! -f "$m/env" ] && [ ! -f "$m/port" ]; then
			umount -l "$m" 2>/dev/null || true
		fi
		mountpoint -q "$m" || rmdir "$m" 2>/dev/null || true
	done
}

mount_instance() {
	local m="$CACHE$INST"
	mkdir -p "$m"
	mountpoint -q "$m" || mount --bind "$DIR" "$m"
	# PostgreSQL wants /dev/shm for dynamic shared memory and /proc for a few
	# checks; mount them once per root, shared by all instances.
	mountpoint -q "$CACHE/proc" || mount -t proc proc "$CACHE/proc"
	mountpoint -q "$CACHE/dev/shm" || mount -t tmpfs -o mode=1777 shm "$CACHE/dev/shm"
}

unmount_instance() {
	local m="$CACHE$INST"
	mountpoint -q "$m" && umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	rmdir "$m" 2>/dev/null || true
	# The shared mounts go when the last instance is gone.
	if ! ls "$CACHE$MNT"/* >/dev/null 2>&1; then
		mountpoint -q "$CACHE/dev/shm" && umount "$CACHE/dev/shm" 2>/dev/null || true
		mountpoint -q "$CACHE/proc" && umount "$CACHE/proc" 2>/dev/null || true
	fi
}

write_env() {
	cat >"$DIR/env" <<EOF
TSDB_CONNINFO=postgresql://postgres@127.0.0.1:$1/wmhost
TSDB_HOST=127.0.0.1
TSDB_PORT=$1
TSDB_SOCKET_DIR=$DIR
EOF
}

start() {
	root_ready || build_root
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	exec 8>"$CACHE.lock.mounts"
	flock 8
	reap_stale_mounts
	mount_instance
	flock -u 8
	if [ ! -f "$DIR/data/PG_VERSION" ]; then
		chown "$PGUID:$PGGID" "$DIR"
		in_root "$PGBIN/initdb" -D "$INST/data" -U postgres -E UTF8 --locale=C.UTF-8 \
			--auth-local=trust --auth-host=trust >"$DIR/initdb.log" 2>&1 ||
			{ cat "$DIR/initdb.log" >&2; exit 1; }
		cat >>"$DIR/data/postgresql.conf" <<EOF
# wmhost test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$INST'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 100
log_min_messages = warning
EOF
		free_port >"$DIR/port"
	fi
	local port
	port=$(cat "$DIR/port")
	if ! in_root "$PGBIN/pg_ctl" -D "$INST/data" status >/dev/null 2>&1; then
		in_root "$PGBIN/pg_ctl" -D "$INST/data" -l "$INST/server.log" -w -t 60 \
			-o "-p $port" start >/dev/null ||
			{ tail -n 20 "$DIR/server.log" >&2; exit 1; }
	fi
	if ! psql_root "$port" postgres "select 1 from pg_database where datname='wmhost'" | grep -q 1; then
		psql_root "$port" postgres "create database wmhost" >/dev/null
	fi
	write_env "$port"
	cat "$DIR/env"
}

# The root's own psql (18) through the instance socket.
psql_root() {
	in_root /usr/bin/psql -h "$INST" -p "$1" -U postgres -d "$2" -XAtqc "$3"
}

stop() {
	if [ -f "$DIR/data/PG_VERSION" ] && [ -d "$CACHE$INST/data" ]; then
		in_root "$PGBIN/pg_ctl" -D "$INST/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
	fi
	exec 8>"$CACHE.lock.mounts"
	flock 8
	unmount_instance
}

crash() {
	pg_crash "$DIR/data"
}

if [ "$CMD" = start ] || [ "$CMD" = restart ]; then
	root_ready || build_root
fi
if [ -f "$CACHE/etc/passwd" ]; then
	PGUID=$(awk -F: '$1 == "postgres" { print $3 }' "$CACHE/etc/passwd")
	PGGID=$(awk -F: '$1 == "postgres" { print $4 }' "$CACHE/etc/passwd")
else
	[ "$CMD" = start ] || [ "$CMD" = restart ] && unavailable "no root at $CACHE"
	exit 0 # nothing was ever started
fi
if [ "$CMD" = start ] || [ "$CMD" = restart ]; then mkdir -p "$DIR"; fi
[ -d "$DIR" ] || exit 0
DIR=$(cd "$DIR" && pwd)
INST=$(instance_mnt)

case $CMD in
start) start ;;
stop) stop ;;
restart) stop; start ;;
kill) crash ;;
*) usage ;;
esac
