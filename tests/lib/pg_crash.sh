# pg_crash DATADIR: SIGKILL a PostgreSQL postmaster and every backend at
# once, like a power cut of the server, and wait for it to be gone. Sourced
# by pg.sh and timescale.sh.
pg_crash() {
	local pid kids i
	pid=$(head -n1 "$1/postmaster.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] || return 0
	kids=$(pgrep -P "$pid" || true)
	kill -KILL "$pid" $kids 2>/dev/null || true
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
}
