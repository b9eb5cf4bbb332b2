#!/usr/bin/env bash
# kafka_io's source offset bookkeeping against librdkafka's mock cluster, no
# broker (tests/tools/kafka_source_check): acks of a revoked assignment are
# never stored, a store librdkafka refuses is not taken as done, stream ids
# of finished assignments are reused, a rebalance error unassigns everything
# (rd_kafka_assign(rk, NULL), also with the cooperative protocol).
. "$WMHOST_ROOT/tests/lib/common.sh"
tool="${WMHOST_TOOLS:-$WMHOST_ROOT/build/tools}/kafka_source_check"
if [ ! -x "$tool" ]; then
	not_ok "kafka_source_check_is_built ($tool missing: run make tests)"
	exit 1
fi
"$tool" 2>"$T/check.err"
rc=$?
[ $rc -eq 0 ] || sed 's/^/# /' "$T/check.err" | tail -n 40
exit $rc
