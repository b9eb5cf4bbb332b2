#!/usr/bin/env bash
# The README's option reference is generated from the option tables and
# must match them; the README names the two commands.
. "$(dirname "$0")/../lib/common.sh"
cd "$WMHOST_ROOT"
check readme_option_reference_matches_option_tables tests/lib/gen-docs.sh --check
check readme_gives_the_two_commands bash -c "grep -q '^make demo' README.md && grep -q '^make check' README.md"
check ci_runs_the_readme_test_command grep -q '^make check' .ci/run
