# Helpers shared by the test scripts (source it). Cases are reported as
# TAP-like lines that tests/run counts.
: "${WMHOST:=$PWD/build/wmhost}"
: "${WMHOST_PLUGIN_PATH:=$PWD/build/plugins:$PWD/build/test-plugins}"
: "${WMHOST_ROOT:=$PWD}"
export WMHOST WMHOST_PLUGIN_PATH WMHOST_ROOT

# A private temp dir for this script, removed on exit.
T=$(mktemp -d "${WMHOST_TEST_TMP:-/tmp}/t.XXXXXX")
_wm_cleanups=()
on_exit() { _wm_cleanups+=("$*"); }
_wm_run_cleanups() {
	local i
	for ((i = ${#_wm_cleanups[@]} - 1; i >= 0; i--)); do eval "${_wm_cleanups[i]}" >/dev/null 2>&1; done
	rm -rf "$T"
}
trap _wm_run_cleanups EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
skip() { echo "skip - $*"; }
# check NAME CMD...: runs CMD, reports NAME by its status.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# wait_for SECONDS CMD...: polls CMD every 0.1s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.1
	done
}
# free_port: a TCP port on 127.0.0.1 nobody listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
