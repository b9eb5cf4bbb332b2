# Helpers for the pg_sink tests (source after tests/lib/common.sh).
#
# Servers: "pg" is the system PostgreSQL (native partitioning), "tsdb" the
# TimescaleDB from tests/lib/timescale.sh. When the runner did not start them
# (a test run on its own), the first use starts a private instance.

PG_SINK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ensure_servers: fills PG_CONNINFO / TSDB_CONNINFO, starting private
# instances when the environment has none. TSDB_CONNINFO stays empty (and
# TSDB_WHY says why) when TimescaleDB cannot run here.
ensure_servers() {
	if [ -z "${PG_CONNINFO:-}" ]; then
		"$WMHOST_ROOT/tests/lib/pg.sh" start "$T/pg" >/dev/null || return 1
		on_exit "'$WMHOST_ROOT/tests/lib/pg.sh' stop '$T/pg'"
		set -a; . "$T/pg/env"; set +a
	fi
	TSDB_WHY=""
	if [ -z "${TSDB_CONNINFO:-}" ] && [ -d "${WMHOST_TEST_TMP:-/nonexistent}/services" ]; then
		# Under tests/run, which already tried: do not try again per script.
		TSDB_CONNINFO=""
		TSDB_WHY="tests/run could not start it (see its tsdb-start.log)"
	elif [ -z "${TSDB_CONNINFO:-}" ]; then
		local out
		if out=$("$WMHOST_ROOT/tests/lib/timescale.sh" start "$T/tsdb" 2>&1); then
			on_exit "'$WMHOST_ROOT/tests/lib/timescale.sh' stop '$T/tsdb'"
			set -a; . "$T/tsdb/env"; set +a
		else
			TSDB_CONNINFO=""
			TSDB_WHY=$(echo "$out" | tail -n1)
		fi
	fi
}

# servers: the server names to run cases against ("pg" and, when available, "tsdb").
servers() {
	echo pg
	[ -n "${TSDB_CONNINFO:-}" ] && echo tsdb
	return 0
}

# skip_tsdb CASE...: reports TimescaleDB cases as skipped, loudly.
skip_tsdb() {
	local c
	for c in "$@"; do skip "$c: TimescaleDB UNAVAILABLE (${TSDB_WHY:-TSDB_CONNINFO not set}) - SKIPPED"; done
}

conninfo_of() {
	case $1 in
	pg) echo "$PG_CONNINFO" ;;
	tsdb) echo "$TSDB_CONNINFO" ;;
	esac
}

# sql SERVER QUERY: one query, unaligned tuples-only output.
sql() {
	psql "$(conninfo_of "$1")" -XAtq -v ON_ERROR_STOP=1 -c "$2"
}

# A fresh table name per case so servers can be shared.
uniq_table() {
	echo "t_$1_$(date +%s%N | tail -c 9)_$RANDOM"
}

# The v1 check schema's columns as pg_sink YAML (indented for `sink:`),
# plus $EXTRA_COLUMNS lines, and the unique key ($UNIQUE_KEY).
check_columns() {
	cat <<'EOF'
  columns:
    - { name: check_id, type: text, not_null: true }
    - { name: agent, type: text }
    - { name: target, type: text }
    - { name: url, type: text }
    - { name: time, type: timestamptz }
    - { name: success, type: boolean }
    - { name: result, type: text }
    - { name: error, type: text }
    - { name: status_code, type: smallint }
    - { name: response_time_ms, type: double precision }
    - { name: dns_ms, type: double precision }
    - { name: connect_ms, type: double precision }
    - { name: tls_ms, type: double precision }
    - { name: ttfb_ms, type: double precision }
    - { name: pattern, type: text }
    - { name: pattern_matched, type: boolean }
    - { name: body_bytes, type: bigint }
    - { name: redirects, type: integer }
    - { name: http_version, type: text }
    - { name: remote_ip, type: inet }
    - { name: tls_expires_at, type: timestamptz }
    - { name: schema, type: smallint }
EOF
	[ -n "${EXTRA_COLUMNS:-}" ] && printf '%s\n' "$EXTRA_COLUMNS"
	echo "  unique: ${UNIQUE_KEY:-[check_id, time]}"
}

# pipeline FILE SERVER TABLE [SOURCE_OPTS] [SINK_OPTS] [BATCH]: writes a
# pg_feed -> pg_sink pipeline. Options are YAML lines (2-space indented).
pipeline() {
	local file=$1 server=$2 table=$3 src=${4:-} snk=${5:-} batch=${6:-"{ max_records: 500, max_wait: 100ms }"}
	{
		echo "name: $(basename "$file" .yaml)"
		echo "source:"
		echo "  plugin: pg_feed"
		[ -n "$src" ] && printf '%s\n' "$src"
		echo "sink:"
		echo "  plugin: pg_sink"
		echo "  conninfo: \${$( [ "$server" = tsdb ] && echo TSDB_CONNINFO || echo PG_CONNINFO )}"
		echo "  table: $table"
		[ -n "$snk" ] && printf '%s\n' "$snk"
		check_columns
		echo "batch: $batch"
		echo "retry: { initial: 50ms, max: 1s }"
		echo "dead_letter: { path: ${file%.yaml}.dead.jsonl }"
		echo "shutdown_timeout: 60s"
	} >"$file"
}

# wm CMD FILE...: runs wmhost quietly; its log goes to $T/wm.log (appended).
# A sanitizer report (ASan/LSan/UBSan build) fails the script loudly.
wm() {
	local before
	before=0
	[ -f "$T/wm.log" ] && before=$(wc -c <"$T/wm.log")
	"$WMHOST" --log-level info "$@" >>"$T/wm.log" 2>&1
	local rc=$?
	if [ $rc = 86 ] || tail -c +$((before + 1)) "$T/wm.log" | grep -qE "Sanitizer|runtime error:"; then
		not_ok "wmhost $1 ran clean under the sanitizers (exit $rc)"
		tail -c +$((before + 1)) "$T/wm.log" | grep -A30 -E "Sanitizer|runtime error:" | head -40
	fi
	return $rc
}

# A time base (µs) at the start of a UTC day, DAYS days from now.
day_base_us() {
	local days=$1
	echo $(( ( $(date +%s) / 86400 + days) * 86400 * 1000000 ))
}
