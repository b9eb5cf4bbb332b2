#!/usr/bin/env bash
# http_probe: tls_ca_file replaces the system's CA certificates; it does not
# add to them. wmhost runs in a private mount namespace where the test
# server's certificate stands in for the system's trust store: it is
# Debian's bundle file and a hashed entry in /etc/ssl/certs (libcurl's
# default CA file and directory). A target without tls_ca_file is then
# trusted; one whose tls_ca_file holds an unrelated CA must not be, through
# neither the bundle nor the directory.
. "$(dirname "$0")/lib.sh"
start_http --no-nginx

mkdir -p "$T/certs"
cp "$HTTPS_CERT" "$T/certs/ca-certificates.crt"
cp "$HTTPS_CERT" "$T/certs/test-server.pem"
openssl rehash "$T/certs" >/dev/null 2>&1 ||
	(cd "$T/certs" && ln -s test-server.pem "$(openssl x509 -noout -subject_hash -in test-server.pem).0")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=other \
	-keyout "$T/other.key" -out "$T/other.pem" >/dev/null 2>&1

# in_namespace CMD...: CMD with $T/certs mounted over /etc/ssl/certs.
in_namespace() {
	unshare -m --propagation private sh -c 'mount --bind "$0" /etc/ssl/certs && exec "$@"' "$T/certs" "$@"
}
if ! [ -d /etc/ssl/certs ] || ! in_namespace true 2>"$T/unshare.err"; then
	skip "tls_ca_file_excludes_the_system_cas: no private mount namespace here ($(cat "$T/unshare.err"))"
	exit 0
fi

pipeline "$T/p.yaml" <<EOF2
  run_once: true
  targets:
    - { url: "$HTTPS_URL/", name: system-trust }
    - { url: "$HTTPS_URL/", name: other-ca, tls_ca_file: "$T/other.pem" }
EOF2
in_namespace timeout 120 "$WMHOST" run "$T/p.yaml" >"$T/out.jsonl" 2>"$T/err.log"
rc=$?
check "system_ca_run_exits_0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$T/err.log"
expect "the_stand_in_system_store_is_trusted" system-trust 'r["result"] == "ok" and r["status_code"] == 200'
expect "tls_ca_file_excludes_the_system_cas" other-ca 'r["result"] == "tls_error" and r["success"] is False'
# outside the namespace the real system store does not know the test server
pipeline "$T/p2.yaml" <<EOF2
  run_once: true
  targets: [ { url: "$HTTPS_URL/", name: real-system } ]
EOF2
probe "$T/p2.yaml"
expect "the_real_system_store_does_not_trust_the_test_server" real-system 'r["result"] == "tls_error"'
