#!/usr/bin/env bash
# kafka_io with SASL, configured as for a managed Kafka (sasl.mechanisms,
# sasl.username, sasl.password from the environment): SCRAM-SHA-256 and PLAIN
# produce and consume; a wrong password is refused with a clear error and
# never printed.
. "${WMHOST_ROOT:-$PWD}/tests/plugins/kafka_io/lib.sh"
need_kafka
[ -n "${KAFKA_SASL_BROKERS:-}" ] || {
	skip "sasl_produces_and_consumes: the broker has no SASL listener (KAFKA_SASL_BROKERS unset)"
	exit 0
}
N=300
export KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD

# sasl_properties MECHANISM PASSWORD-EXPRESSION
sasl_properties() {
	cat <<EOF
  properties:
    security.protocol: sasl_plaintext
    sasl.mechanisms: $1
    sasl.username: \${KAFKA_SASL_USERNAME}
    sasl.password: $2
EOF
}

for mech in SCRAM-SHA-256 PLAIN; do
	TOPIC=$(new_topic "sasl-$mech")
	cat >"$T/p-$mech.yaml" <<EOF
name: produce
source: { plugin: counting, count: $N }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_SASL_BROKERS}
  topic: $TOPIC
$(sasl_properties "$mech" '${KAFKA_SASL_PASSWORD}')
EOF
	cat >"$T/c-$mech.yaml" <<EOF
name: consume
source:
  plugin: kafka_io
  brokers: \${KAFKA_SASL_BROKERS}
  topic: $TOPIC
  group_id: g-$TOPIC
$(sasl_properties "$mech" '${KAFKA_SASL_PASSWORD}')
sink: { plugin: console }
EOF
	"$WMHOST" setup "$T/p-$mech.yaml" 2>"$T/setup-$mech.err" &&
		"$WMHOST" run "$T/p-$mech.yaml" >/dev/null 2>"$T/p-$mech.err"
	rc1=$?
	wmhost_bg "c-$mech" run "$T/c-$mech.yaml"
	pid=$BG_PID
	wait_for 60 has_lines "$T/c-$mech.out" $N
	stop_wait "$pid"
	rc2=$?
	check "sasl_${mech}_produces_and_consumes" \
		test $rc1 -eq 0 -a $rc2 -eq 0 -a "$(topic_count "$TOPIC")" -eq $N -a "$(lines "$T/c-$mech.out")" -eq $N
	[ $rc1 -eq 0 ] || tail -n 5 "$T/setup-$mech.err" "$T/p-$mech.err" | cut -c1-300
done

# A wrong password: nothing delivered, an authentication error, no secret.
export WRONG_PASSWORD=not-the-password-4711
cat >"$T/wrong.yaml" <<EOF
name: wrong
source: { plugin: counting, count: 5 }
sink:
  plugin: kafka_io
  brokers: \${KAFKA_SASL_BROKERS}
  topic: $(new_topic sasl-wrong)
  delivery_timeout: 2s
$(sasl_properties SCRAM-SHA-256 '${WRONG_PASSWORD}')
retry: { initial: 200ms, max: 1s }
shutdown_timeout: 2s
EOF
wmhost_bg wrong run "$T/wrong.yaml"
pid=$BG_PID
sleep 4
stop_wait "$pid"
check "sasl_wrong_password_is_refused_with_clear_error" \
	grep -q 'SASL authentication error: Authentication failed' "$T/wrong.err"
check "sasl_password_is_never_logged" test -z "$(grep -l "$WRONG_PASSWORD" "$T"/*.err "$T"/*.out 2>/dev/null)"
check "sasl_wrong_password_delivers_nothing" grep -q ' 0 written' "$T/wrong.err"
sanitizer_check
