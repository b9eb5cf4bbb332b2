#!/usr/bin/env bash
# A throwaway single-node Apache Kafka (KRaft) for tests, demo and benchmarks.
#
#   tests/lib/kafka.sh start   DIR   start (first time: resolve jars, make
#                                    certificates, format storage); prints DIR/env
#   tests/lib/kafka.sh stop    DIR   stop the broker and remove DIR
#   tests/lib/kafka.sh restart DIR   graceful stop + start, same ports and data
#   tests/lib/kafka.sh kill    DIR   SIGKILL the broker (crash); `start` or
#                                    `restart` brings it back with its data
#
# The broker is the newest Apache Kafka 3.9.x from Maven Central, resolved
# with tests/lib/kafka-pom.xml (Maven caches it in ~/.m2) and copied to
# $WMHOST_CACHE/kafka-<version> (default /var/cache/wmhost, else
# ~/.cache/wmhost), reused while present. One JVM is broker and controller
# (process.roles=broker,controller) with a 512 MiB heap, listening on free
# 127.0.0.1 ports:
#   PLAINTEXT  KAFKA_BROKERS
#   SSL        KAFKA_SSL_BROKERS, client certificate required; the CA, client
#              certificate and key (PEM) are in DIR/ssl and named in DIR/env
#   SASL_PLAINTEXT  KAFKA_SASL_BROKERS, mechanisms PLAIN and SCRAM-SHA-256 for
#              KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD
# KAFKA_JARS is the broker's jar directory, for Kafka's own command-line
# classes (java -cp "$KAFKA_JARS/*" kafka.admin.ConfigCommand ...).
# Topics are auto-created on first use (KAFKA_AUTO_CREATE=false turns that
# off) with KAFKA_PARTITIONS partitions (default 3). DIR/env is meant for
# `set -a; . DIR/env; set +a`.
set -eu

usage() { echo "usage: $0 {start|stop|restart|kill} DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
DIR=$2
HERE=$(cd "$(dirname "$0")" && pwd)
# The broker gets this long to start serving, and to stop gracefully.
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
# Test-only keystore password; the keys never leave DIR.
STOREPASS=wmhost-test
# The SASL user (PLAIN and SCRAM-SHA-256), test-only too.
SASL_USER=wmhost
SASL_PASSWORD=wmhost-sasl-secret

die() { echo "kafka.sh: $*" >&2; exit 1; }

cache_root() {
	local c=${WMHOST_CACHE:-/var/cache/wmhost}
	if mkdir -p "$c" 2>/dev/null && [ -w "$c" ]; then echo "$c"; return; fi
	c=${XDG_CACHE_HOME:-$HOME/.cache}/wmhost
	mkdir -p "$c" && echo "$c"
}

# Prints the directory of broker jars, resolving them with Maven the first
# time. Concurrent starts (parallel test runs) share one resolution.
resolve_jars() {
	local root d ver tmp
	root=$(cache_root)
	exec 9>"$root/kafka.lock"
	flock 9
	d=$(ls -d "$root"/kafka-3.9.* 2>/dev/null | sort -V | while read -r x; do
		[ -f "$x/.complete" ] && echo "$x"
	done | tail -n1)
	if [ -z "$d" ]; then
		command -v mvn >/dev/null || die "maven is needed to resolve the Kafka broker (tests/lib/deps.sh installs it)"
		tmp=$(mktemp -d "$root/kafka-resolve.XXXXXX")
		cp "$HERE/kafka-pom.xml" "$tmp/pom.xml"
		echo "kafka.sh: resolving the Kafka 3.9.x broker with Maven (once)" >&2
		if ! (cd "$tmp" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
			-DoutputDirectory="$tmp/jars" >"$tmp/mvn.log" 2>&1); then
			cat "$tmp/mvn.log" >&2
			rm -rf "$tmp"
			die "could not resolve the Kafka broker with Maven"
		fi
		ver=$(ls "$tmp/jars" | sed -n 's/^kafka_2\.13-\(3\.9\.[0-9]*\)\.jar$/\1/p')
		[ -n "$ver" ] || { rm -rf "$tmp"; die "Maven did not bring kafka_2.13 3.9.x"; }
		d=$root/kafka-$ver
		rm -rf "$d"
		mv "$tmp/jars" "$d"
		touch "$d/.complete"
		rm -rf "$tmp"
	fi
	exec 9>&-
	echo "$d"
}

# Four distinct free loopback ports: plaintext, SSL, controller, SASL.
free_ports() {
	python3 - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# CA, broker and client certificates. The broker's certificate names
# 127.0.0.1 so clients can keep hostname verification on.
make_certs() {
	local s=$DIR/ssl
	mkdir -p "$s"
	(
		cd "$s"
		openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=wmhost test CA" \
			-keyout ca.key -out ca.crt
		openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >broker.ext
		openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
			-extfile broker.ext -out broker.crt
		openssl req -newkey rsa:2048 -nodes -subj "/CN=wmhost-client" -keyout client.key -out client.csr
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
			-extfile client.ext -out client.crt
		openssl pkcs12 -export -in broker.crt -inkey broker.key -certfile ca.crt -name broker \
			-passout "pass:$STOREPASS" -out broker.p12
		keytool -importcert -noprompt -alias ca -file ca.crt -storetype PKCS12 \
			-keystore truststore.p12 -storepass "$STOREPASS"
		rm -f ./*.csr ./*.ext ./*.srl
	) >"$DIR/ssl.log" 2>&1 || { cat "$DIR/ssl.log" >&2; die "could not make the test certificates"; }
	# A kcat config for the SSL listener (kcat -F FILE).
	cat >"$s/kcat.conf" <<EOF
security.protocol=ssl
ssl.ca.location=$s/ca.crt
ssl.certificate.location=$s/client.crt
ssl.key.location=$s/client.key
EOF
}

write_config() {
	cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PLAIN_PORT,SSL://127.0.0.1:$SSL_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PLAIN_PORT,SSL://127.0.0.1:$SSL_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
num.partitions=${KAFKA_PARTITIONS:-3}
auto.create.topics.enable=${KAFKA_AUTO_CREATE:-true}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
ssl.keystore.type=PKCS12
ssl.keystore.location=$DIR/ssl/broker.p12
ssl.keystore.password=$STOREPASS
ssl.key.password=$STOREPASS
ssl.truststore.type=PKCS12
ssl.truststore.location=$DIR/ssl/truststore.p12
ssl.truststore.password=$STOREPASS
ssl.client.auth=required
EOF
	cat >"$DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$DIR/logs/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
}

write_env() {
	cat >"$DIR/env" <<EOF
KAFKA_BROKERS=127.0.0.1:$PLAIN_PORT
KAFKA_SSL_BROKERS=127.0.0.1:$SSL_PORT
KAFKA_SSL_CA=$DIR/ssl/ca.crt
KAFKA_SSL_CERT=$DIR/ssl/client.crt
KAFKA_SSL_KEY=$DIR/ssl/client.key
KAFKA_SSL_KCAT_CONF=$DIR/ssl/kcat.conf
KAFKA_SASL_BROKERS=127.0.0.1:$SASL_PORT
KAFKA_SASL_USERNAME=$SASL_USER
KAFKA_SASL_PASSWORD=$SASL_PASSWORD
KAFKA_VERSION=$KAFKA_VERSION
KAFKA_JARS=$KAFKA_JARS
KAFKA_DIR=$DIR
EOF
}

# The broker's pid, if it runs (checked against its command line so a
# recycled pid is never mistaken for it).
broker_pid() {
	local pid
	[ -f "$DIR/pid" ] || return 1
	pid=$(cat "$DIR/pid")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $DIR/server.properties" || return 1
	echo "$pid"
}

serves() {
	kcat -L -b "127.0.0.1:$PLAIN_PORT" -m 3 >/dev/null 2>&1 &&
		kcat -F "$DIR/ssl/kcat.conf" -L -b "127.0.0.1:$SSL_PORT" -m 3 >/dev/null 2>&1
}

do_start() {
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	local jars pid deadline
	jars=$(resolve_jars)
	KAFKA_JARS=$jars
	KAFKA_VERSION=${jars##*/kafka-}
	if [ ! -f "$DIR/ports" ]; then
		read -r PLAIN_PORT SSL_PORT CONTROLLER_PORT SASL_PORT <<<"$(free_ports)"
		echo "PLAIN_PORT=$PLAIN_PORT SSL_PORT=$SSL_PORT CONTROLLER_PORT=$CONTROLLER_PORT SASL_PORT=$SASL_PORT" >"$DIR/ports"
	fi
	. "$DIR/ports"
	if [ -z "${SASL_PORT:-}" ]; then # DIR made before the SASL listener existed
		SASL_PORT=$(free_ports | cut -d' ' -f4)
		echo "SASL_PORT=$SASL_PORT" >>"$DIR/ports"
	fi
	if pid=$(broker_pid); then
		write_env
		cat "$DIR/env"
		return 0
	fi
	[ -f "$DIR/ssl/client.key" ] || make_certs
	write_config
	mkdir -p "$DIR/logs"
	if [ ! -f "$DIR/data/meta.properties" ]; then
		# "--cluster-id=ID": a base64 ID may begin with "-", which the
		# tool would take for an option when given as a separate word
		local cluster_id
		cluster_id=$(python3 -c 'import base64,uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
		java -Xmx256m -cp "$jars/*" -Dlog4j.configuration="file:$DIR/log4j.properties" \
			kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$DIR/server.properties" \
			--add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
			>"$DIR/format.log" 2>&1 || { cat "$DIR/format.log" >&2; die "formatting the storage failed"; }
	fi
	# setsid: the broker belongs to no test's process group; only this
	# script stops it.
	setsid java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Djava.awt.headless=true -Dlog4j.configuration="file:$DIR/log4j.properties" \
		-cp "$jars/*" kafka.Kafka "$DIR/server.properties" \
		>>"$DIR/logs/stdout.log" 2>&1 </dev/null &
	echo $! >"$DIR/pid"
	deadline=$((SECONDS + START_TIMEOUT))
	until serves; do
		if ! broker_pid >/dev/null; then
			tail -n 40 "$DIR/logs/server.log" "$DIR/logs/stdout.log" >&2 2>/dev/null || true
			die "the broker exited while starting (logs in $DIR/logs)"
		fi
		if [ $SECONDS -ge $deadline ]; then
			tail -n 40 "$DIR/logs/server.log" >&2 2>/dev/null || true
			die "the broker did not serve within ${START_TIMEOUT}s (logs in $DIR/logs)"
		fi
		sleep 0.3
	done
	write_env
	cat "$DIR/env"
}

# Stops the broker, gracefully unless told to kill; keeps DIR.
stop_broker() {
	local sig=$1 pid deadline
	pid=$(broker_pid) || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	deadline=$((SECONDS + STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then
			echo "kafka.sh: broker did not stop within ${STOP_TIMEOUT}s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		sleep 0.1
	done
	rm -f "$DIR/pid"
}

case $CMD in
start) do_start ;;
stop)
	[ -d "$DIR" ] || exit 0
	DIR=$(cd "$DIR" && pwd)
	stop_broker TERM
	rm -rf "$DIR"
	;;
restart)
	[ -f "$DIR/ports" ] || die "$DIR holds no broker; use start"
	DIR=$(cd "$DIR" && pwd)
	stop_broker TERM
	do_start
	;;
kill)
	[ -d "$DIR" ] || exit 0
	DIR=$(cd "$DIR" && pwd)
	stop_broker KILL
	;;
*) usage ;;
esac
