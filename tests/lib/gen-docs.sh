#!/usr/bin/env bash
# Regenerates the option reference in README.md from the plugins' own option
# tables (`wmhost plugins NAME --markdown`), so the docs cannot drift.
#   tests/lib/gen-docs.sh           rewrite README.md in place
#   tests/lib/gen-docs.sh --check   exit 1 if README.md is out of date
set -eu
cd "$(dirname "$0")/../.."
WMHOST=${WMHOST:-build/wmhost}
export WMHOST_PLUGIN_PATH=${WMHOST_PLUGIN_PATH:-build/plugins}
gen() {
	echo "### Pipeline keys"
	echo
	"$WMHOST" plugins pipeline --markdown
	for p in http_probe kafka_io pg_sink console; do
		echo
		echo "### $p"
		echo
		"$WMHOST" plugins "$p" --markdown
	done
}
new=$(mktemp)
trap 'rm -f "$new"' EXIT
awk -v gen="$(gen)" '
	/<!-- BEGIN GENERATED OPTIONS -->/ { print; print gen; skip = 1; next }
	/<!-- END GENERATED OPTIONS -->/ { skip = 0 }
	!skip { print }
' README.md >"$new"
if [ "${1:-}" = "--check" ]; then
	if ! cmp -s README.md "$new"; then
		diff -u README.md "$new" | head -40
		echo "README.md option reference is out of date: run tests/lib/gen-docs.sh" >&2
		exit 1
	fi
	exit 0
fi
cp "$new" README.md
