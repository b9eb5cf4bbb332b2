#!/usr/bin/env bash
# http_probe over IPv6 (a test server on ::1): a literal IPv6 URL is
# checked like any other and records its remote address; ip_version: 4
# refuses an IPv6-only target instead of checking it.
. "$(dirname "$0")/lib.sh"
if ! python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	skip "no IPv6 loopback (::1) on this machine"
	exit 0
fi
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])')
python3 "$WMHOST_ROOT/tests/lib/httpd.py" --host ::1 --port "$port" --ready-file "$T/v6.ready" >"$T/v6.log" 2>&1 &
v6pid=$!
on_exit "kill $v6pid"
wait_for 20 test -f "$T/v6.ready" || { cat "$T/v6.log"; exit 1; }

pipeline "$T/p.yaml" <<EOF2
  run_once: true
  targets:
    - { url: "http://[::1]:$port/", name: v6, pattern: "test server ok" }
    - { url: "http://[::1]:$port/", name: v6-as-6, ip_version: "6" }
    - { url: "http://[::1]:$port/", name: v6-as-4, ip_version: "4" }
EOF2
probe "$T/p.yaml"
check "ipv6_run_exits_0" [ $? -eq 0 ]
expect "ipv6_literal_url_is_checked" v6 'r["result"] == "ok" and r["status_code"] == 200 and r["pattern_matched"] is True and r["remote_ip"] == "::1" and r["connect_ms"] is not None'
expect "ip_version_6_reaches_an_ipv6_target" v6-as-6 'r["result"] == "ok" and r["remote_ip"] == "::1"'
expect "ip_version_4_refuses_an_ipv6_only_target" v6-as-4 'r["success"] is False and r["result"] != "ok" and r["status_code"] == 0'
