#!/usr/bin/env bash
# HTTP targets for tests, demo and benchmarks, on free 127.0.0.1 ports.
#
#   tests/lib/http.sh start DIR [--no-nginx|--nginx-only]   start; prints DIR/env
#   tests/lib/http.sh stop  DIR                              stop everything in DIR
#
# Starts tests/lib/httpd.py (plain HTTP and HTTPS with a self-signed
# certificate made here) and an nginx serving DIR/www. DIR/env holds
#   HTTP_URL=http://127.0.0.1:P        the test server (see httpd.py endpoints)
#   HTTPS_URL=https://127.0.0.1:P2     the same server over TLS
#   HTTPS_CERT=DIR/cert.pem            its self-signed certificate (CN/IP 127.0.0.1)
#   HTTPS_CERT_EXPIRES=EPOCH           the certificate's notAfter, seconds
#   NGINX_URL=http://127.0.0.1:P3      nginx: / (an index with the text
#                                      "wmhost-nginx-ok"), /big.html (256 KiB)
#   NGINX_HTTPS_URL=https://127.0.0.1:P4  the same pages over TLS, HTTP/2
#                                      offered by ALPN (HTTP/1.1 too)
#   NGINX_CERT=DIR/nginx-cert.pem      its self-signed certificate
#   NGINX_H2C_URL=http://127.0.0.1:P5  the same pages, cleartext HTTP/2 only
#                                      (prior knowledge; no HTTP/1.x)
# `. DIR/env` in a shell or `set -a; . DIR/env; set +a`.
set -eu

usage() { echo "usage: $0 {start DIR [--no-nginx|--nginx-only]|stop DIR}" >&2; exit 2; }
[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
MODE=${3:-both}
HERE=$(cd "$(dirname "$0")" && pwd)
CERT_DAYS=30

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # wait_port PORT SECONDS
	local deadline=$((SECONDS + $2))
	until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1" 2>/dev/null; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.1
	done
}

start_httpd() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days $CERT_DAYS \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$DIR/key.pem" -out "$DIR/cert.pem" >"$DIR/openssl.log" 2>&1 ||
		{ cat "$DIR/openssl.log" >&2; exit 1; }
	local end p1 p2
	end=$(openssl x509 -in "$DIR/cert.pem" -noout -enddate | sed 's/^notAfter=//')
	p1=$(free_port)
	p2=$(free_port)
	python3 "$HERE/httpd.py" --port "$p1" --tls-port "$p2" --cert "$DIR/cert.pem" --key "$DIR/key.pem" \
		>"$DIR/httpd.log" 2>&1 &
	echo $! >"$DIR/httpd.pid"
	wait_port "$p1" 20 && wait_port "$p2" 5 || { echo "http.sh: httpd did not start" >&2; cat "$DIR/httpd.log" >&2; exit 1; }
	{
		echo "HTTP_URL=http://127.0.0.1:$p1"
		echo "HTTPS_URL=https://127.0.0.1:$p2"
		echo "HTTPS_CERT=$DIR/cert.pem"
		echo "HTTPS_CERT_EXPIRES=$(date -u -d "$end" +%s)"
	} >>"$DIR/env"
}

start_nginx() {
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "http.sh: nginx not installed" >&2; exit 77; }
	local p ps pc
	p=$(free_port)
	ps=$(free_port)
	pc=$(free_port)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days $CERT_DAYS \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$DIR/nginx-key.pem" -out "$DIR/nginx-cert.pem" >"$DIR/openssl-nginx.log" 2>&1 ||
		{ cat "$DIR/openssl-nginx.log" >&2; exit 1; }
	mkdir -p "$DIR/www" "$DIR/nginx-tmp"
	printf '<html><body><h1>wmhost-nginx-ok</h1><p>static page for probe tests</p></body></html>\n' >"$DIR/www/index.html"
	python3 -c 'import sys; sys.stdout.write(("0123456789abcdef" * 64 + "\n") * 256)' >"$DIR/www/big.html"
	cat >"$DIR/nginx.conf" <<EOF
user root;
worker_processes auto;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; multi_accept on; }
http {
	access_log off;
	client_body_temp_path $DIR/nginx-tmp/body;
	keepalive_timeout 30s;
	keepalive_requests 100000;
	server {
		listen 127.0.0.1:$p backlog=16384 reuseport;
		root $DIR/www;
		location = /status/404 { return 404 "not found\n"; }
		location = /status/500 { return 500 "error\n"; }
	}
	server {
		listen 127.0.0.1:$ps ssl http2;
		ssl_certificate $DIR/nginx-cert.pem;
		ssl_certificate_key $DIR/nginx-key.pem;
		root $DIR/www;
	}
	server {
		listen 127.0.0.1:$pc http2;
		root $DIR/www;
	}
}
EOF
	/usr/sbin/nginx -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/nginx-error.log" ||
		{ cat "$DIR/nginx-error.log" >&2; exit 1; }
	wait_port "$p" 10 && wait_port "$ps" 5 && wait_port "$pc" 5 || { echo "http.sh: nginx did not start" >&2; exit 1; }
	{
		echo "NGINX_URL=http://127.0.0.1:$p"
		echo "NGINX_HTTPS_URL=https://127.0.0.1:$ps"
		echo "NGINX_CERT=$DIR/nginx-cert.pem"
		echo "NGINX_H2C_URL=http://127.0.0.1:$pc"
	} >>"$DIR/env"
}

stop_pidfile() { # stop_pidfile FILE SIGNAL
	[ -f "$1" ] || return 0
	local pid
	pid=$(cat "$1")
	kill "-$2" "$pid" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$1"
}

case $CMD in
start)
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	: >"$DIR/env"
	case $MODE in
	both | --both) start_httpd; start_nginx ;;
	--no-nginx) start_httpd ;;
	--nginx-only) start_nginx ;;
	*) usage ;;
	esac
	cat "$DIR/env"
	;;
stop)
	[ -d "$DIR" ] || exit 0
	stop_pidfile "$DIR/httpd.pid" TERM
	stop_pidfile "$DIR/nginx.pid" QUIT
	;;
*) usage ;;
esac
