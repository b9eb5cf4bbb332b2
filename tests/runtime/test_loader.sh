#!/usr/bin/env bash
# The plugin loader refuses wrong plugins with the file and the reason.
. "$(dirname "$0")/../lib/common.sh"
TP=$WMHOST_ROOT/${WMHOST_BUILD:-build}/test-plugins

pipeline_with_sink() { # $1 = sink plugin name or path
	cat >"$T/p.yaml" <<EOF
name: p
source: {plugin: counting, count: 1}
sink: {plugin: $1, out: $T/out}
EOF
}

# expect_refusal NAME SINK PATTERN...
expect_refusal() {
	local name=$1 sink=$2
	shift 2
	pipeline_with_sink "$sink"
	"$WMHOST" check "$T/p.yaml" >"$T/o" 2>"$T/e"
	local rc=$? good=1
	[ $rc -eq 2 ] || good=0
	for pat in "$@"; do grep -qF -- "$pat" "$T/e" || good=0; done
	if [ $good = 1 ]; then ok "$name"; else not_ok "$name (rc=$rc)"; sed 's/^/#   /' "$T/e"; fi
}

expect_refusal abi_mismatch_is_refused_naming_file_and_versions bad_abi \
	"p.yaml:3:16: $TP/bad_abi.so: plugin ABI version 42, but this wmhost speaks version 1"
expect_refusal missing_entry_symbol_is_refused no_entry \
	"no_entry.so: not a wmhost plugin: it does not export 'wm_plugin_entry'"
expect_refusal malformed_descriptor_is_refused bad_desc \
	"bad_desc.so: malformed descriptor: a sink must have write()"
expect_refusal undefined_symbol_is_refused_with_dlerror needs_missing_lib \
	"needs_missing_lib.so: cannot load:" "undefined symbol: wmh_test_symbol_that_does_not_exist"
expect_refusal unknown_plugin_lists_search_path nosuchplugin \
	"plugin 'nosuchplugin' not found (looked for nosuchplugin.so in:" "$TP"
expect_refusal source_only_plugin_cannot_be_a_sink counting \
	"plugin 'counting' cannot be a sink (it is a source)"

# A plugin whose shared library dependency is missing: build one here.
echo 'int wmh_dep_value(void) { return 1; }' >"$T/dep.c"
cat >"$T/uses_dep.c" <<'EOF'
#include <wmhost/plugin.h>
int wmh_dep_value(void);
WM_EXPORT const struct wm_plugin *wm_plugin_entry(uint32_t v, const struct wm_host_api *a)
{ return wmh_dep_value() ? (void *)0 : (void *)0; }
EOF
if cc -shared -fPIC -o "$T/libwmhdep.so" "$T/dep.c" &&
	cc -shared -fPIC -I"$WMHOST_ROOT/host/include" -o "$T/uses_dep.so" "$T/uses_dep.c" -L"$T" -lwmhdep; then
	rm -f "$T/libwmhdep.so"
	expect_refusal missing_library_gets_a_hint "$T/uses_dep.so" \
		"uses_dep.so: cannot load: libwmhdep.so: cannot open shared object file" "a library the plugin needs is missing"
else
	not_ok missing_library_gets_a_hint "(could not build the test plugin)"
fi

# A plugin given by explicit path loads.
cat >"$T/p.yaml" <<EOF
name: p
source: {plugin: $TP/counting.so, count: 3}
sink: {plugin: console}
EOF
check plugin_loads_by_explicit_path "$WMHOST" check "$T/p.yaml"

# Search order: plugin_dir comes first.
mkdir -p "$T/pd" && cp "$TP/bad_abi.so" "$T/pd/console.so"
cat >"$T/p.yaml" <<EOF
name: p
plugin_dir: $T/pd
source: {plugin: counting}
sink: {plugin: console}
EOF
"$WMHOST" check "$T/p.yaml" 2>"$T/e"
check plugin_dir_is_searched_first grep -qF "$T/pd/console.so" "$T/e"
