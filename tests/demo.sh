#!/usr/bin/env bash
# `make demo`: the whole monitoring system on this machine. Starts a Kafka
# broker, a PostgreSQL server and local HTTP targets (some healthy, some
# failing), runs `wmhost setup`, then the agent (monitor.yaml) and the
# storage connector (store.yaml) as separate processes, and prints a summary
# per target from PostgreSQL.
#
#   tests/demo.sh [--keep]      (make demo [KEEP=1])
#   DEMO_SECONDS=60             how long to run (default 30; Ctrl-C ends early)
#   DEMO_URLS="https://a https://b"   public URLs to check too, if reachable
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
SECONDS_TO_RUN=${DEMO_SECONDS:-30}
DIR=${DEMO_DIR:-$(mktemp -d /tmp/wmhost-demo.XXXXXX)}
mkdir -p "$DIR"
WMHOST=$ROOT/build/wmhost
export WMHOST_PLUGIN_PATH=$ROOT/build/plugins
AGENT_PID= STORE_PID=

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
	[ -n "$STORE_PID" ] && kill "$STORE_PID" 2>/dev/null
	wait 2>/dev/null
	tests/lib/http.sh stop "$DIR/http" >/dev/null 2>&1
	tests/lib/kafka.sh stop "$DIR/kafka" >/dev/null 2>&1
	tests/lib/pg.sh stop "$DIR/pg" >/dev/null 2>&1
	rm -rf "$DIR"
}
fail() {
	echo "demo: $*" >&2
	for f in "$DIR"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done >&2
	[ $KEEP = 1 ] || cleanup
	exit 1
}
[ $KEEP = 1 ] || trap cleanup EXIT
trap 'echo; say "Ctrl-C: stopping early"; STOP_EARLY=1' INT
STOP_EARLY=0

say "starting Kafka, PostgreSQL and local HTTP targets in $DIR"
tests/lib/kafka.sh start "$DIR/kafka" >"$DIR/kafka.log" 2>&1 || fail "Kafka did not start"
tests/lib/pg.sh start "$DIR/pg" >"$DIR/pg.log" 2>&1 || fail "PostgreSQL did not start"
tests/lib/http.sh start "$DIR/http" >"$DIR/http.log" 2>&1 || fail "the HTTP targets did not start"
set -a
. "$DIR/kafka/env"
. "$DIR/pg/env"
. "$DIR/http/env"
set +a
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

cat >"$DIR/targets.txt" <<EOF
# healthy
$NGINX_URL/  wmhost-nginx-ok
$NGINX_URL/big.html
$HTTP_URL/status/200
$HTTP_URL/redirect/2
# failing, each in its own way
$NGINX_URL/?wrong-pattern  this-text-is-not-on-the-page
$HTTP_URL/status/503
$HTTP_URL/delay/5000
http://127.0.0.1:$closed/
$HTTPS_URL/
$HTTP_URL/loop
EOF
for u in ${DEMO_URLS:-}; do echo "$u" >>"$DIR/targets.txt"; done

export WMHOST_TARGETS=$DIR/targets.txt WMHOST_CHECK_INTERVAL=${DEMO_INTERVAL:-2s} WMHOST_CHECK_TIMEOUT=2s
export WMHOST_STATE_DIR=$DIR KAFKA_TOPIC=web-checks PG_TABLE=web_checks

say "wmhost setup (topic, table, partitions, views)"
"$WMHOST" setup pipelines/monitor.yaml pipelines/store.yaml 2>&1 | tee "$DIR/setup.log" | sed 's/^/   /'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "setup failed"

say "running the agent and the storage connector for ${SECONDS_TO_RUN}s (Ctrl-C to stop early)"
METRICS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$WMHOST" run --metrics "127.0.0.1:$METRICS_PORT" pipelines/monitor.yaml >"$DIR/agent.out" 2>"$DIR/agent.log" &
AGENT_PID=$!
"$WMHOST" run pipelines/store.yaml >"$DIR/store.out" 2>"$DIR/store.log" &
STORE_PID=$!
end=$((SECONDS + SECONDS_TO_RUN))
while [ $SECONDS -lt $end ] && [ $STOP_EARLY = 0 ]; do
	sleep 1
	kill -0 $AGENT_PID 2>/dev/null || fail "the agent stopped"
	kill -0 $STORE_PID 2>/dev/null || fail "the storage connector stopped"
	n=$(psql "$PG_CONNINFO" -Atc "select count(*) from web_checks" 2>/dev/null || echo 0)
	printf '\r   %3ds: %s checks stored' $((end - SECONDS)) "$n"
done
echo
echo "   the agent's metrics (http://127.0.0.1:$METRICS_PORT/metrics):"
python3 - "$METRICS_PORT" <<'PY' || echo "   (no answer)"
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
for line in text.splitlines():
    if line.startswith(("wmhost_records_", "wmhost_batch_retries", "wmhost_queue_records")):
        print("     " + line)
PY
trap - INT

if [ $KEEP = 0 ]; then
	say "stopping (SIGTERM: both drain and exit 0)"
	kill -TERM $AGENT_PID
	wait $AGENT_PID
	arc=$?
	sleep 1 # let the connector read the agent's last records
	kill -TERM $STORE_PID
	wait $STORE_PID
	src=$?
	AGENT_PID= STORE_PID=
	echo "   agent exit $arc: $(grep -o 'stopped: .*' "$DIR/agent.log" | tail -n1)"
	echo "   store exit $src: $(grep -o 'stopped: .*' "$DIR/store.log" | tail -n1)"
fi

say "summary per target (from PostgreSQL)"
psql "$PG_CONNINFO" -P pager=off -v ON_ERROR_STOP=1 <<'SQL'
SELECT target,
       count(*) AS checks,
       round(100.0 * avg(success::int), 1) AS "ok %",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY response_time_ms)::numeric, 1) AS p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms)::numeric, 1) AS p95_ms,
       (array_agg(status_code ORDER BY time DESC))[1] AS last_status,
       (array_agg(result ORDER BY time DESC))[1] AS last_result,
       left((array_agg(error ORDER BY time DESC))[1], 60) AS last_error
FROM web_checks
GROUP BY target
ORDER BY target;
SQL

if [ $KEEP = 1 ]; then
	say "left running (KEEP=1)"
	cat <<EOF
   state:        $DIR
   agent:        pid $AGENT_PID, log $DIR/agent.log
   store:        pid $STORE_PID, log $DIR/store.log
   PostgreSQL:   psql '$PG_CONNINFO'
                 e.g. SELECT * FROM web_checks_hourly ORDER BY bucket DESC LIMIT 20;
   Kafka:        kcat -b $KAFKA_BROKERS -t web-checks -C -o -5 -e
   stop it all:  kill $AGENT_PID $STORE_PID; tests/lib/http.sh stop $DIR/http; \\
                 tests/lib/kafka.sh stop $DIR/kafka; tests/lib/pg.sh stop $DIR/pg; rm -rf $DIR
EOF
fi
