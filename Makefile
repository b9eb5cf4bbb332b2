# wmhost build. `make` builds the host and every plugins/<name>/ as a .so;
# `make check` installs what is missing, builds a normal and a sanitizer
# tree, and runs the whole suite; `make demo` runs the monitoring system.
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CC ?= cc
OPT ?= -O2 -g
SAN ?=
VERSION := 0.1.0

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wvla
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(OPT) $(SAN) -Ihost/include -Ihost
PLUGINDIR := $(PREFIX)/lib/wmhost/plugins

HOST_SRCS := $(filter-out host/main.c,$(wildcard host/*.c))
HOST_OBJS := $(HOST_SRCS:%.c=$(BUILD)/%.o)
PLUGINS := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/*.c))))
PLUGIN_SOS := $(sort $(PLUGINS:%=$(BUILD)/plugins/%.so))
TEST_PLUGIN_SRCS := $(wildcard tests/plugins_test/*.c)
TEST_PLUGIN_SOS := $(TEST_PLUGIN_SRCS:tests/plugins_test/%.c=$(BUILD)/test-plugins/%.so)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)

HOST_LIBS := $(shell pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml) -ldl -lm -pthread

.PHONY: all plugins tests tsan check check-fast demo bench install clean deps format

all: $(BUILD)/wmhost $(PLUGIN_SOS)
plugins: $(PLUGIN_SOS)
tests: all $(TEST_PLUGIN_SOS) $(UNIT_BINS) $(TOOL_BINS)

$(BUILD)/host/%.o: host/%.c $(wildcard host/*.h) host/include/wmhost/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -DWMHOST_VERSION='"$(VERSION)"' -DWMHOST_PLUGINDIR='"$(PLUGINDIR)"' -c -o $@ $<

$(BUILD)/wmhost: host/main.c $(HOST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -DWMHOST_VERSION='"$(VERSION)"' -o $@ $^ $(HOST_LIBS)

# A plugin's pkg-config modules are listed in plugins/<name>/deps.
.SECONDEXPANSION:
$(BUILD)/plugins/%.so: $$(wildcard plugins/%/*.c) $$(wildcard plugins/%/*.h) $$(wildcard plugins/%/deps) host/include/wmhost/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIC -shared -fvisibility=hidden \
	  $(if $(wildcard plugins/$*/deps),$(shell pkg-config --cflags $$(cat plugins/$*/deps))) \
	  -o $@ $(filter %.c,$^) \
	  $(if $(wildcard plugins/$*/deps),$(shell pkg-config --libs $$(cat plugins/$*/deps))) -lm

$(BUILD)/test-plugins/%.so: tests/plugins_test/%.c host/include/wmhost/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIC -shared -fvisibility=hidden -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(HOST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Itests/unit -o $@ $< $(HOST_OBJS) $(HOST_LIBS)

$(BUILD)/tools/%: tests/tools/%.c $(HOST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -o $@ $< $(HOST_OBJS) $(HOST_LIBS) $(if $(wildcard tests/tools/$*.deps),$(shell pkg-config --cflags --libs $$(cat tests/tools/$*.deps)))

# Tools that include a plugin's source rebuild when it changes.
$(BUILD)/tools/kafka_source_check: $(wildcard plugins/kafka_io/*.c plugins/kafka_io/*.h)
$(BUILD)/tools/pg_encode_check: $(wildcard plugins/pg_sink/*.c plugins/pg_sink/*.h)

deps:
	@tests/lib/deps.sh

# The whole suite: a normal build, an AddressSanitizer+UBSan build that all
# integration tests run, and a ThreadSanitizer build of the host and the test
# plugins for the runtime's threading tests (tests/runtime/test_tsan.sh).
ASAN_FLAGS := OPT='-O1 -g -fno-omit-frame-pointer' SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined'
TSAN_FLAGS := OPT='-O1 -g' SAN='-fsanitize=thread'
check: deps
	$(MAKE) tests
	$(MAKE) tests BUILD=build/asan $(ASAN_FLAGS)
	$(MAKE) tsan BUILD=build/tsan $(TSAN_FLAGS)
	tests/run

tsan: $(BUILD)/wmhost $(BUILD)/plugins/console.so $(TEST_PLUGIN_SOS)

# Unit tests and host runtime tests only (no external services).
check-fast: tests
	tests/run --fast

demo: deps all
	@tests/demo.sh $(if $(KEEP),--keep)

bench: deps all
	@bench/run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(PREFIX)/include/wmhost $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/wmhost $(DESTDIR)$(PREFIX)/bin/wmhost
	install -m 755 $(PLUGIN_SOS) $(DESTDIR)$(PLUGINDIR)/
	install -m 644 host/include/wmhost/plugin.h $(DESTDIR)$(PREFIX)/include/wmhost/plugin.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@PLUGINDIR@|$(PLUGINDIR)|g' \
	  host/wmhost-plugin.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/wmhost-plugin.pc

format:
	clang-format -i host/*.c host/*.h host/include/wmhost/*.h plugins/*/*.c

clean:
	rm -rf build
