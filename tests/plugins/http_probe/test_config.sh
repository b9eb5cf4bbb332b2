#!/usr/bin/env bash
# http_probe: configuration mistakes are refused by `wmhost check` with exit
# status 2 and a message that says where (file:line:col, or the targets
# file's file:line) and what.
. "$(dirname "$0")/lib.sh"
cd "$T"

# bad NAME EXPECTED-REGEX: `wmhost check` on the pipeline read from stdin
# must exit 2 with a message matching the regex.
bad() {
	local name=$1 re=$2
	pipeline "$T/$name.yaml"
	"$WMHOST" check "$T/$name.yaml" >"$T/$name.out" 2>&1
	local rc=$?
	if [ $rc -eq 2 ] && grep -Eq "$re" "$T/$name.out"; then
		ok "$name"
	else
		not_ok "$name"
		echo "  exit $rc, output:"
		sed 's/^/  | /' "$T/$name.out"
	fi
}

# The pipeline header takes lines 1-4, so options start on line 5.
bad unsupported_scheme_names_file_line_col 'unsupported_scheme_names_file_line_col\.yaml:7:7: url: unsupported scheme .ftp. in .ftp://127\.0\.0\.1/file.: only http and https' <<'EOF2'
  targets:
    - http://127.0.0.1/
    - ftp://127.0.0.1/file
EOF2
bad unreadable_tls_ca_file_is_a_config_error '\.yaml:5:16: tls_ca_file: cannot read ./nonexistent/ca\.pem.: No such file' <<'EOF2'
  tls_ca_file: /nonexistent/ca.pem
  targets: [ "https://127.0.0.1/" ]
EOF2
bad tls_ca_file_that_is_a_directory_is_a_config_error 'tls_ca_file: ./etc/ssl/certs. is not a file' <<'EOF2'
  tls_ca_file: /etc/ssl/certs
  targets: [ "https://127.0.0.1/" ]
EOF2
bad unreadable_target_tls_ca_file_names_its_line '\.yaml:7:49: tls_ca_file: cannot read' <<'EOF2'
  targets:
    - http://127.0.0.1/
    - { url: "https://127.0.0.1/", tls_ca_file: /nonexistent/ca.pem }
EOF2
bad unparseable_url_is_a_config_error '\.yaml:5:14: url: unparseable URL .not a url.' <<'EOF2'
  targets: [ "not a url" ]
EOF2
bad url_without_host_is_a_config_error 'url: unparseable URL .http://:80/.' <<'EOF2'
  targets: [ "http://:80/" ]
EOF2
bad invalid_pattern_names_target_offset_and_pcre2_message \
	'\.yaml:9:16: pattern: target .shop.: invalid pattern at offset 7: missing closing parenthesis' <<'EOF2'
  targets:
    - http://127.0.0.1/
    - url: http://127.0.0.1/shop
      name: shop
      pattern: "(abc|de"
EOF2
bad invalid_plugin_level_pattern_is_a_config_error '\.yaml:6:12: pattern: invalid pattern at offset 2: missing terminating \]' <<'EOF2'
  targets: [ http://127.0.0.1/ ]
  pattern: "[z"
EOF2
bad utf_mode_pattern_is_refused 'pattern: invalid pattern at offset 6: using UTF is disabled' <<'EOF2'
  targets: [ http://127.0.0.1/ ]
  pattern: "(*UTF)caf."
EOF2

printf '# comment\n\nhttp://127.0.0.1/ fine\nhttps://127.0.0.1/ (bad\n' >"$T/badpat.txt"
bad targets_file_bad_pattern_names_file_and_line 'targets_file: .*badpat\.txt:4: invalid pattern at offset 4: missing closing parenthesis' <<EOF2
  targets_file: $T/badpat.txt
EOF2
printf 'http://127.0.0.1/\n  gopher://127.0.0.1/ x\n' >"$T/badurl.txt"
bad targets_file_bad_url_names_file_and_line 'badurl\.txt:2: unsupported scheme .gopher.' <<EOF2
  targets_file: $T/badurl.txt
EOF2
bad missing_targets_file_is_a_config_error "cannot open .*nope\\.txt.: No such file" <<EOF2
  targets_file: $T/nope.txt
EOF2
bad bad_status_spec_is_a_config_error '\.yaml:[0-9]+:[0-9]+: expect_status: .*invalid status .2000-3000.' <<'EOF2'
  targets:
    - { url: "http://127.0.0.1/", name: a, expect_status: "200, 2000-3000" }
EOF2
bad reversed_status_range_is_a_config_error "invalid status .399-200." <<'EOF2'
  targets: [ http://127.0.0.1/ ]
  expect_status: 399-200
EOF2
bad bad_ip_version_is_a_config_error "ip_version: '5' is not one of: any, 4, 6" <<'EOF2'
  targets: [ { url: "http://127.0.0.1/", ip_version: "5" } ]
EOF2
bad bad_http_version_is_a_config_error "bad_http_version_is_a_config_error\.yaml:5:56: http_version: '3' is not one of: auto, 1\.0, 1\.1, 2, 2-prior-knowledge" <<'EOF2'
  targets: [ { url: "http://127.0.0.1/", http_version: "3" } ]
EOF2
bad bad_method_is_a_config_error "method: 'get me' is not an HTTP method" <<'EOF2'
  targets: [ http://127.0.0.1/ ]
  method: get me
EOF2
# HEAD reads no body: a pattern would never be found (or, inverted, always
# "absent"), so the pair is refused wherever it is set.
bad head_with_pattern_on_a_target_names_its_method '\.yaml:7:52: method: target .h.: HEAD reads no body, so a pattern could never be found in it' <<'EOF2'
  targets:
    - http://127.0.0.1/
    - { url: "http://127.0.0.1/", name: h, method: HEAD, pattern: "ok" }
EOF2
bad head_with_plugin_level_pattern_names_the_targets_method '\.yaml:7:52: method: target .h.: HEAD reads no body' <<'EOF2'
  pattern: ok
  targets:
    - { url: "http://127.0.0.1/", name: h, method: HEAD }
EOF2
bad plugin_level_head_with_target_pattern_names_the_pattern '\.yaml:7:53: pattern: target .p.: method HEAD \(plugin level\): HEAD reads no body' <<'EOF2'
  method: HEAD
  targets:
    - { url: "http://127.0.0.1/", name: p, pattern: "ok", pattern_must_not_match: true }
EOF2
bad plugin_level_head_with_plugin_level_pattern_is_a_config_error '\.yaml:5:11: method: with the plugin-level pattern: HEAD reads no body' <<'EOF2'
  method: HEAD
  pattern: ok
  targets: [ http://127.0.0.1/ ]
EOF2
printf 'http://127.0.0.1/a\nhttp://127.0.0.1/b some pattern\n' >"$T/headpat.txt"
bad targets_file_pattern_with_plugin_level_head_names_file_and_line 'targets_file: .*headpat\.txt:2: method HEAD \(plugin level\): HEAD reads no body' <<EOF2
  method: HEAD
  targets_file: $T/headpat.txt
EOF2
bad zero_interval_is_a_config_error 'interval: must be greater than 0' <<'EOF2'
  targets: [ { url: "http://127.0.0.1/", interval: 0s } ]
EOF2
bad no_targets_is_a_config_error 'no targets' <<'EOF2'
  interval: 5s
EOF2
bad unknown_target_key_lists_allowed_keys "unknown key 'patern'.*allowed: url, name" <<'EOF2'
  targets: [ { url: "http://127.0.0.1/", patern: x } ]
EOF2
bad header_with_line_break_is_a_config_error 'invalid header' <<'EOF2'
  targets: [ http://127.0.0.1/ ]
  headers: { "X-A": "a\r\nInjected: yes" }
EOF2

pipeline "$T/good.yaml" <<'EOF2'
  interval: 1m
  timeout: 5s
  expect_status: [200-299, 301]
  headers: { X-Agent: wmhost }
  targets:
    - { url: "https://127.0.0.1/", http_version: "1.1" }
    - { url: "http://[::1]:8080/x", name: v6, ip_version: "6", pattern: "ok|fine", pattern_must_not_match: true }
    - { url: "http://127.0.0.1/api", method: POST, body: "{}", headers: { Content-Type: application/json }, max_body: 64KiB }
    - { url: "http://127.0.0.1/head", method: HEAD }
EOF2
"$WMHOST" check "$T/good.yaml" >"$T/good.out" 2>&1
check "valid_config_passes_check" [ $? -eq 0 ]
"$WMHOST" plugins http_probe >"$T/doc.txt" 2>&1
check "plugin_docs_list_the_options_with_defaults" grep -q "expect_status" "$T/doc.txt"
