# Helpers for the kafka_io tests (source it instead of common.sh).
. "${WMHOST_ROOT:-$PWD}/tests/lib/common.sh"
KAFKA_SH=$WMHOST_ROOT/tests/lib/kafka.sh

# The shared broker from tests/run, or a private one when run alone.
need_kafka() {
	if [ -z "${KAFKA_BROKERS:-}" ]; then
		private_kafka
	fi
}

# A broker of this script's own, for tests that stop or kill it.
private_kafka() {
	"$KAFKA_SH" start "$T/kafka" >"$T/kafka-start.log" 2>&1 || {
		cat "$T/kafka-start.log"
		echo "cannot start a private Kafka broker"
		exit 1
	}
	on_exit "$KAFKA_SH" stop "$T/kafka"
	set -a
	. "$T/kafka/env"
	set +a
}

# A topic name no other test (or earlier run) uses.
new_topic() { echo "wmt-$1-$$-$RANDOM"; }

# wmhost_bg NAME ARGS...: wmhost in the background; stdout in $T/NAME.out,
# stderr in $T/NAME.err; its pid in $BG_PID.
wmhost_bg() {
	local name=$1
	shift
	"$WMHOST" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	BG_PID=$!
}

# stop_wait PID [SIGNAL]: signals wmhost and returns its exit status.
stop_wait() {
	kill "-${2:-TERM}" "$1" 2>/dev/null
	wait "$1"
}

# Messages in a topic (from the beginning to its current end).
topic_count() {
	kcat -C -b "$KAFKA_BROKERS" -t "$1" -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l
}

# The "seq" values in a file of JSON lines, one per line, sorted numerically.
seqs() { grep -o '"seq":[0-9]*' "$@" | cut -d: -f2 | sort -n; }

# seq_range N: 0..N-1, one per line.
seq_range() { seq 0 $(($1 - 1)); }

# lines FILE: line count (0 when the file does not exist).
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# has_lines FILE N: FILE has at least N lines (for wait_for).
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

# The librdkafka settings of a client of the shared broker's SSL listener.
ssl_properties_yaml() {
	cat <<EOF
    security.protocol: ssl
    ssl.ca.location: $KAFKA_SSL_CA
    ssl.certificate.location: $KAFKA_SSL_CERT
    ssl.key.location: $KAFKA_SSL_KEY
EOF
}

# sanitizer_check: one case saying no wmhost run of this script reported a
# sanitizer error or leak (their stderr is in $T/*.err); call it last.
sanitizer_check() {
	local hits
	hits=$(grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T"/*.err 2>/dev/null)
	if [ -z "$hits" ]; then
		ok "wmhost_runs_report_no_sanitizer_errors"
	else
		not_ok "wmhost_runs_report_no_sanitizer_errors"
		grep -h -A 30 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' $hits | head -n 60 | sed 's/^/# /'
	fi
}
