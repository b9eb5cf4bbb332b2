#!/usr/bin/env bash
# pg_sink's value encoders without a server (tests/tools/pg_encode_check):
# doubles, timestamps and RFC 3339 parsing.
. "$WMHOST_ROOT/tests/lib/common.sh"
tool="${WMHOST_TOOLS:-$WMHOST_ROOT/build/tools}/pg_encode_check"
if [ ! -x "$tool" ]; then
	not_ok "pg_encode_check_is_built ($tool missing: run make tests)"
	exit 1
fi
"$tool"
