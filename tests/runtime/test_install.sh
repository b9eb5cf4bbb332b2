#!/usr/bin/env bash
# `make install` gives a third party all it needs to build a plugin out of
# tree: the header, a pkg-config file, and a wmhost that loads the result.
. "$(dirname "$0")/../lib/common.sh"
cd "$WMHOST_ROOT"
# -o all: installs the build under test as it is. Letting `install` rebuild
# it would relink a sanitizer build with the default flags whenever a source
# is newer, and every later test would run a broken binary.
make -s install -o all BUILD="${WMHOST_BUILD:-build}" PREFIX=/opt/wmh DESTDIR="$T/root" >"$T/install.log" 2>&1
check install_puts_binary_header_pkgconfig_plugins bash -c "test -x '$T/root/opt/wmh/bin/wmhost' && test -f '$T/root/opt/wmh/include/wmhost/plugin.h' && test -f '$T/root/opt/wmh/lib/pkgconfig/wmhost-plugin.pc' && test -f '$T/root/opt/wmh/lib/wmhost/plugins/console.so'"

mkdir -p "$T/out-of-tree" && cp examples/ticker/ticker.c "$T/out-of-tree/"
cd "$T/out-of-tree"
flags=$(PKG_CONFIG_SYSROOT_DIR="$T/root" PKG_CONFIG_PATH="$T/root/opt/wmh/lib/pkgconfig" pkg-config --cflags --libs wmhost-plugin)
check example_plugin_builds_with_pkgconfig_only cc -Wall -Wextra -Werror -o ticker.so ticker.c $flags
cat >"$T/p.yaml" <<EOF
name: tick
source: {plugin: $T/out-of-tree/ticker.so, interval: 10ms, count: 3, message: hello}
sink: {plugin: console}
EOF
WMHOST_PLUGIN_PATH="$T/root/opt/wmh/lib/wmhost/plugins" "$T/root/opt/wmh/bin/wmhost" run "$T/p.yaml" >"$T/o" 2>"$T/e"
check installed_wmhost_runs_out_of_tree_plugin bash -c "[ \$(grep -c '\"message\":\"hello\"' '$T/o') -eq 3 ]"
