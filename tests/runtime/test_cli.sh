#!/usr/bin/env bash
# The command line: commands, help, exit statuses, plugin listing, check.
. "$(dirname "$0")/../lib/common.sh"

"$WMHOST" version >"$T/o"
check version_prints_version_and_abi grep -qE '^wmhost [0-9.]+ \(plugin ABI 1\)$' "$T/o"
"$WMHOST" --help >"$T/o"
check help_lists_commands grep -q 'setup FILE' "$T/o"
for c in run check setup plugins; do
	"$WMHOST" $c --help >"$T/o" 2>&1
	check "help_for_${c}_exits_0" grep -q "usage: wmhost $c" "$T/o"
done
"$WMHOST" frobnicate 2>"$T/e"
check unknown_command_exits_2 test $? -eq 2
"$WMHOST" run 2>"$T/e"
check run_without_files_exits_2 test $? -eq 2
"$WMHOST" --log-level loud version 2>"$T/e"
check bad_log_level_exits_2 test $? -eq 2

"$WMHOST" plugins >"$T/o"
check plugins_lists_kind_version_description grep -qE '^console +sink +1\.0\.0 +prints each record' "$T/o"
"$WMHOST" plugins counting >"$T/o"
check plugins_name_shows_options grep -qE '^  count +int +10 +records to emit' "$T/o"
"$WMHOST" plugins pipeline >"$T/o"
check plugins_pipeline_shows_host_keys grep -qE 'shutdown_timeout +duration +30s' "$T/o"

cat >"$T/good.yaml" <<EOF
name: good
source: {plugin: counting, count: 3}
sink: {plugin: console}
batch: {max_records: 10, max_wait: 50ms}
EOF
"$WMHOST" check "$T/good.yaml" >"$T/o" 2>&1
check check_valid_file_exits_0 test $? -eq 0

cat >"$T/bad.yaml" <<EOF
name: bad
source: {plugin: counting}
sink: {plugin: console}
batch: {max_records: 0, max_wait: soon}
shutdwn_timeout: 5s
EOF
"$WMHOST" check "$T/bad.yaml" >"$T/o" 2>"$T/e"
rc=$?
check check_invalid_file_exits_2 test $rc -eq 2
check check_reports_unknown_pipeline_key grep -qF "$T/bad.yaml:5:1: unknown key 'shutdwn_timeout' for pipeline; allowed: name, source, sink, queue, batch, retry, dead_letter, shutdown_timeout, plugin_dir" "$T/e"
check check_reports_batch_type_error grep -qF "$T/bad.yaml:4:35: pipeline: 'max_wait' must be a duration" "$T/e"
cat >"$T/bad2.yaml" <<EOF
name: bad2
source:
  plugin: counting
  count: lots
sink: {plugin: console, colour: red}
batch: {max_records: 0}
EOF
"$WMHOST" check "$T/bad2.yaml" >"$T/o" 2>"$T/e"
check check_reports_plugin_type_error grep -qF "$T/bad2.yaml:4:10: counting: 'count' must be an integer such as 42, not 'lots'" "$T/e"
check check_reports_plugin_unknown_key grep -qF "$T/bad2.yaml:5:25: unknown key 'colour' for console; allowed: plugin, with_key, flush, stream" "$T/e"
check check_reports_semantic_error grep -qF "$T/bad2.yaml:6:22: 'max_records' must be at least 1" "$T/e"
check check_counts_errors grep -qF "wmhost: 3 configuration errors" "$T/e"

cat >"$T/env.yaml" <<'EOF'
name: ${WMH_TEST_NAME:-fallback}
source: {plugin: counting, count: "${WMH_TEST_COUNT:?set WMH_TEST_COUNT}"}
sink: {plugin: console}
EOF
"$WMHOST" check "$T/env.yaml" >"$T/o" 2>"$T/e"
check check_required_env_var_error_has_location grep -qF "$T/env.yaml:2:35: environment variable WMH_TEST_COUNT is required: set WMH_TEST_COUNT" "$T/e"
WMH_TEST_COUNT=2 "$WMHOST" check "$T/env.yaml" >"$T/o" 2>&1
check check_env_defaults_apply grep -q '^fallback: ok' "$T/o"
WMH_TEST_COUNT=sekrit-value "$WMHOST" check "$T/env.yaml" >"$T/o" 2>"$T/e"
check env_values_are_not_echoed_in_errors bash -c "grep -q 'value hidden' '$T/e' && ! grep -q sekrit '$T/e'"

printf 'name: x\nsource: {plugin: counting}\nsink: {plugin: console}\n---\nname: y\n' >"$T/two.yaml"
"$WMHOST" check "$T/two.yaml" 2>"$T/e"
check several_yaml_documents_are_refused grep -q "only one YAML document per file" "$T/e"
"$WMHOST" check "$T/missing.yaml" 2>"$T/e"
check missing_file_is_a_config_error test $? -eq 2

cat >"$T/multi.yaml" <<EOF
pipelines:
  - {name: a, source: {plugin: counting, count: 4}, sink: {plugin: console}}
  - {name: b, source: {plugin: counting, count: 6}, sink: {plugin: console}}
EOF
"$WMHOST" run "$T/multi.yaml" >"$T/o" 2>"$T/e"
check several_pipelines_run_in_one_process test "$(wc -l <"$T/o")" -eq 10
"$WMHOST" --log-format json run "$T/good.yaml" >"$T/o" 2>"$T/e"
check json_log_lines_parse python3 -c "
import json,sys
lines=[json.loads(l) for l in open('$T/e')]
assert lines and all({'ts','level','msg'} <= set(l) for l in lines)
assert any(l.get('pipeline')=='good' for l in lines)"
