#!/usr/bin/env bash
# kafka_io over TLS with client certificates, configured the way a managed
# Kafka user would (CA file, client certificate and key in `properties:`):
# produce and consume work; a client without a certificate, or one that
# does not trust the broker, is refused with a clear error.
. "${WMHOST_ROOT:-$PWD}/tests/plugins/kafka_io/lib.sh"
need_kafka
[ -n "${KAFKA_SSL_BROKERS:-}" ] || {
	skip "ssl_client_certificate_produces_and_consumes: the broker has no SSL listener (KAFKA_SSL_BROKERS unset)"
	exit 0
}
N=500
TOPIC=$(new_topic ssl)

cat >"$T/produce.yaml" <<EOF
name: produce
source: { plugin: counting, count: $N }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_SSL_BROKERS}
  topic: $TOPIC
  properties:
$(ssl_properties_yaml)
EOF
cat >"$T/consume.yaml" <<EOF
name: consume
source:
  plugin: kafka_io
  brokers: \${KAFKA_SSL_BROKERS}
  topic: $TOPIC
  group_id: g-$TOPIC
  properties:
$(ssl_properties_yaml)
sink: { plugin: console }
EOF
"$WMHOST" setup "$T/produce.yaml" 2>"$T/setup.err" &&
	"$WMHOST" run "$T/produce.yaml" >/dev/null 2>"$T/produce.err"
rc=$?
check "ssl_client_certificate_produces" test $rc -eq 0 -a "$(topic_count "$TOPIC")" -eq $N
[ $rc -eq 0 ] || tail -n 20 "$T/setup.err" "$T/produce.err"
wmhost_bg consume run "$T/consume.yaml"
pid=$BG_PID
wait_for 60 has_lines "$T/consume.out" $N
stop_wait "$pid"
rc=$?
check "ssl_client_certificate_consumes" test $rc -eq 0 -a "$(lines "$T/consume.out")" -eq $N

# refused NAME PROPERTIES-YAML REGEX: the sink delivers nothing and says why.
refused() {
	cat >"$T/$1.yaml" <<EOF
name: $1
source: { plugin: counting, count: 5 }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_SSL_BROKERS}
  topic: $TOPIC
  delivery_timeout: 2s
  properties:
$2
retry: { initial: 200ms, max: 1s }
shutdown_timeout: 2s
EOF
	wmhost_bg "$1" run "$T/$1.yaml"
	local pid=$BG_PID
	sleep 5
	stop_wait "$pid"
	if grep -q ' 0 written' "$T/$1.err" && grep -Eq "$3" "$T/$1.err"; then
		ok "$1"
	else
		not_ok "$1"
		tail -n 15 "$T/$1.err" | cut -c1-300 | sed 's/^/# /'
	fi
}
refused ssl_client_without_certificate_is_refused_with_clear_error \
	"    security.protocol: ssl
    ssl.ca.location: $KAFKA_SSL_CA" \
	'TLS handshake with the broker failed: .*ssl.certificate.location'
refused ssl_client_not_trusting_the_broker_is_refused_with_clear_error \
	"    security.protocol: ssl
    ssl.certificate.location: $KAFKA_SSL_CERT
    ssl.key.location: $KAFKA_SSL_KEY" \
	'TLS handshake with the broker failed: .*ssl.ca.location'
echo "# what the user sees without a client certificate:"
grep -E 'TLS handshake' "$T/ssl_client_without_certificate_is_refused_with_clear_error.err" | head -n 2 | cut -c1-300 | sed 's/^/# /'
sanitizer_check
