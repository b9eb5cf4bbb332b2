# Helpers for the http_probe tests (sourced; not a test itself).
: "${WMHOST_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
. "$WMHOST_ROOT/tests/lib/common.sh"
HP_TESTS="$WMHOST_ROOT/tests/plugins/http_probe"

# start_http [--no-nginx|--nginx-only]: private test servers; exports HTTP_URL etc.
start_http() {
	if ! "$WMHOST_ROOT/tests/lib/http.sh" start "$T/http" "$@" >"$T/http-start.log" 2>&1; then
		cat "$T/http-start.log"
		echo "test HTTP servers did not start"
		exit 77
	fi
	on_exit "'$WMHOST_ROOT/tests/lib/http.sh' stop '$T/http'"
	set -a
	. "$T/http/env"
	set +a
}

# pipeline FILE: writes a one-shot pipeline around the source options read
# from stdin (indented two spaces, e.g. "  targets:").
pipeline() {
	{
		printf 'name: hp\nsource:\n  plugin: http_probe\n  agent: test-agent\n'
		cat
		printf 'sink: { plugin: console }\n'
	} >"$1"
}

# probe FILE [TIMEOUT]: runs wmhost; records in $T/out.jsonl, logs in $T/err.log.
probe() {
	timeout "${2:-120}" "$WMHOST" run "$1" >"$T/out.jsonl" 2>"$T/err.log"
}

# expect DESCRIPTION TARGET PYTHON-EXPR: the one record of TARGET satisfies
# the expression (r is the record, a dict).
expect() {
	local desc=$1
	shift
	if python3 "$HP_TESTS/records.py" "$T/out.jsonl" "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# py DESCRIPTION PYTHON-EXPR: rs is the list of all records.
expect_all() {
	local desc=$1
	shift
	if python3 "$HP_TESTS/records.py" "$T/out.jsonl" --all "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# odd_server VAR KIND [ARGS...]: starts odd_servers.py KIND (see there) in the
# background, stopped on exit, and sets VAR to its port.
odd_server() {
	local var=$1 kind=$2 pf
	shift 2
	pf="$T/odd-$var.port"
	python3 "$HP_TESTS/odd_servers.py" "$kind" --port-file "$pf" "$@" >"$T/odd-$var.log" 2>&1 &
	on_exit "kill $!"
	if ! wait_for 10 test -s "$pf"; then
		cat "$T/odd-$var.log"
		echo "odd_servers.py $kind did not start"
		exit 1
	fi
	printf -v "$var" '%s' "$(cat "$pf")"
}
