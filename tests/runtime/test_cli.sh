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
check check_reports_semantic_error grep -qF "$T/bad2.yaml:6:22: 'max_records' must be between 1 and 1000000" "$T/e"
check check_counts_errors grep -qF "wmhost: 3 configuration errors" "$T/e"

# Sizes the host allocates for and durations it adds to clocks are bounded:
# a typo is a configuration error, not a heap overflow or an out-of-memory
# at run time, and a "never" of 200000000d does not wrap into "at once".
cat >"$T/huge.yaml" <<EOF
name: huge
source: {plugin: counting}
sink: {plugin: console}
queue: {capacity: 100000000000000}
batch: {max_records: 2305843009213693953, max_in_flight: 5000}
EOF
"$WMHOST" check "$T/huge.yaml" >"$T/o" 2>"$T/e"
check huge_sizes_are_config_errors_exit_2 test $? -eq 2
check huge_queue_capacity_is_an_error grep -qF "$T/huge.yaml:4:19: 'capacity' must be between 1 and 10000000" "$T/e"
check huge_batch_is_an_error grep -qF "$T/huge.yaml:5:22: 'max_records' must be between 1 and 1000000" "$T/e"
check huge_in_flight_is_an_error grep -qF "$T/huge.yaml:5:58: 'max_in_flight' must be between 1 and 1024" "$T/e"
printf 'name: long\nsource: {plugin: counting}\nsink: {plugin: console}\nshutdown_timeout: 200000000d\n' >"$T/long.yaml"
"$WMHOST" check "$T/long.yaml" >"$T/o" 2>"$T/e"
check huge_duration_is_an_error grep -qF "$T/long.yaml:4:19: pipeline: 'shutdown_timeout' must be a duration such as 250ms, 30s, 5m, 1h or 1d (at most 36500d), not '200000000d'" "$T/e"

# A dead-letter file that could never be written is a configuration error
# at its key (not a record dropped at the first bad record).
cat >"$T/dlqdir.yaml" <<EOF
name: dlqdir
source: {plugin: counting}
sink: {plugin: console}
dead_letter: {path: $T/no/such/dir/x.jsonl}
EOF
"$WMHOST" check "$T/dlqdir.yaml" >"$T/o" 2>"$T/e"
check unwritable_dead_letter_dir_exits_2 test $? -eq 2
check unwritable_dead_letter_dir_names_the_key grep -qF "$T/dlqdir.yaml:4:21: dead-letter file '$T/no/such/dir/x.jsonl': directory $T/no/such/dir: No such file or directory" "$T/e"
mkdir "$T/dlqisdir.jsonl"
cat >"$T/dlqdir2.yaml" <<EOF
name: dlqdir2
source: {plugin: counting}
sink: {plugin: console}
dead_letter: {path: $T/dlqisdir.jsonl}
EOF
"$WMHOST" check "$T/dlqdir2.yaml" >"$T/o" 2>"$T/e"
check dead_letter_path_that_is_a_directory_is_an_error grep -qF "dead-letter file '$T/dlqisdir.jsonl': it is a directory" "$T/e"

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
