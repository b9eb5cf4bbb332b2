#!/usr/bin/env bash
# The runtime's threads (source, sink, main/signals, acks, drain, abort, metrics)
# under ThreadSanitizer: the pipeline tests again with a TSan build; any
# race report fails the test (tests/run collects sanitizer logs).
. "$(dirname "$0")/../lib/common.sh"
TS=$WMHOST_ROOT/build/tsan
if [ ! -x "$TS/wmhost" ]; then
	echo "build/tsan is missing: make tsan BUILD=build/tsan OPT='-O1 -g' SAN='-fsanitize=thread'"
	exit 77
fi
WMHOST=$TS/wmhost WMHOST_BUILD=build/tsan WMHOST_PLUGIN_PATH=$TS/plugins:$TS/test-plugins \
	bash "$(dirname "$0")/test_pipeline.sh" | sed 's/^\(not \)\{0,1\}ok - /&tsan: /'
# the metrics thread reads the pipelines' counters and queues while they run
WMHOST=$TS/wmhost WMHOST_BUILD=build/tsan WMHOST_PLUGIN_PATH=$TS/plugins:$TS/test-plugins \
	bash "$(dirname "$0")/test_metrics.sh" | sed 's/^\(not \)\{0,1\}ok - /&tsan: /'
