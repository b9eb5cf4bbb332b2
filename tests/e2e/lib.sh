# Shared by the end-to-end tests: run the real pipelines/monitor.yaml and
# pipelines/store.yaml as separate processes against real Kafka, PostgreSQL
# and nginx targets, and count what arrived. Source it after common.sh.
: "${KAFKA_BROKERS:?the e2e tests need the shared Kafka (run them through tests/run)}"
: "${PG_CONNINFO:?the e2e tests need the shared PostgreSQL (run them through tests/run)}"

tests/lib/http.sh start "$T/http" --nginx-only >"$T/http.log" 2>&1 || { echo "nginx did not start"; cat "$T/http.log"; exit 1; }
on_exit tests/lib/http.sh stop "$T/http"
set -a; . "$T/http/env"; set +a

cd "$WMHOST_ROOT"
ID=$(basename "$T" | tr -cd 'a-zA-Z0-9' | tr 'A-Z' 'a-z')
export KAFKA_TOPIC=e2e_$ID KAFKA_GROUP=e2e_$ID PG_TABLE=e2e_$ID WMHOST_STATE_DIR=$T
export KAFKA_SESSION_TIMEOUT_MS=6000 WMHOST_CHECK_TIMEOUT=5s
export WMHOST_CHECK_INTERVAL=${E2E_INTERVAL:-1s}

# targets N: N distinct targets on the local nginx (N checks per interval)
targets() {
	for i in $(seq 1 "$1"); do echo "$NGINX_URL/?t=$i wmhost-nginx-ok"; done >"$T/targets.txt"
	export WMHOST_TARGETS=$T/targets.txt
}

# start_agent NAME [ENV=VALUE...]: runs monitor.yaml in the background
start_agent() {
	local name=$1
	shift
	mkdir -p "$T/$name" # the dead-letter file's directory: checked at start
	env "$@" WMHOST_STATE_DIR="$T/$name" "$WMHOST" run pipelines/monitor.yaml >"$T/$name.out" 2>"$T/$name.log" &
	eval "PID_$name=$!"
	on_exit "kill -9 $! 2>/dev/null"
}
start_store() {
	local name=$1
	shift
	mkdir -p "$T/$name" # the dead-letter file's directory: checked at start
	env "$@" WMHOST_STATE_DIR="$T/$name" "$WMHOST" run pipelines/store.yaml >"$T/$name.out" 2>>"$T/$name.log" &
	eval "PID_$name=$!"
	on_exit "kill -9 $! 2>/dev/null"
}
pid_of() { eval "echo \$PID_$1"; }
# stop NAME: SIGTERM, wait; the exit status is left in $RC (not a
# subshell: only this shell can wait for its children)
stop() {
	local p
	p=$(pid_of "$1")
	kill -TERM "$p" 2>/dev/null
	wait "$p"
	RC=$?
}
# stat NAME FIELD: a number from the last "stopped:" line of NAME's log
stat() { grep -o "stopped: .*" "$T/$1.log" | tail -n1 | grep -oE "[0-9]+ $2" | grep -oE '^[0-9]+'; }
sql() { psql "${PGC:-$PG_CONNINFO}" -Atc "$1" 2>/dev/null; }
rows() { sql "select count(*) from $PG_TABLE"; }
distinct_rows() { sql "select count(distinct check_id) from $PG_TABLE"; }
# wait_rows N SECONDS: until the table has N distinct checks
wait_rows() {
	local deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		[ "$(distinct_rows)" = "$1" ] && return 0
		sleep 0.5
	done
	echo "# expected $1 distinct checks, have $(distinct_rows) (rows $(rows))"
	return 1
}
setup_all() {
	"$WMHOST" setup pipelines/monitor.yaml pipelines/store.yaml >"$T/setup.log" 2>&1 || { cat "$T/setup.log"; return 1; }
}
