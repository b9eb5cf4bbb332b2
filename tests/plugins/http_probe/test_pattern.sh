#!/usr/bin/env bash
# http_probe: PCRE2 patterns match across chunk boundaries of a streamed
# body (text split over 1-, 3- and 7-byte chunks and over 16 KiB reads),
# with inversion, anchors, lookbehind, and a bounded body.
. "$(dirname "$0")/lib.sh"
start_http

c() { echo "$HTTP_URL/chunked?chunk=$1&pad=$2&text=needle-in-haystack&tail=5&pause_ms=2"; }
pipeline "$T/p.yaml" <<EOF2
  run_once: true
  targets:
    - { url: "$(c 1 4)", name: split-1, pattern: "needle-in-haystack" }
    - { url: "$(c 3 4)", name: split-3, pattern: "needle-in-haystack" }
    - { url: "$(c 7 4)", name: split-7, pattern: "need[a-z]+-in-hay(stack)?" }
    - { url: "$(c 3 4)", name: miss-3, pattern: "needle-in-pile" }
    - { url: "$(c 3 4)", name: invert-absent, pattern: "needle-in-pile", pattern_must_not_match: true }
    - { url: "$(c 3 4)", name: invert-present, pattern: "needle-in", pattern_must_not_match: true }
    - { url: "$(c 3 4)", name: lookbehind, pattern: "(?<=needle-)in-hay" }
    - { url: "$(c 3 4)", name: anchor-start, pattern: "^xxxxneedle" }
    - { url: "$(c 3 4)", name: anchor-start-not-at-chunk, pattern: "^needle" }
    - { url: "$(c 3 4)", name: anchor-end, pattern: "stacky{5}\$" }
    - { url: "$(c 3 4)", name: word-boundary, pattern: "\\\\bin\\\\b" }
    - { url: "$(c 3 4)", name: word-boundary-miss, pattern: "\\\\beedle" }
    - { url: "$(c 3 4)", name: spanning-whole-body, pattern: "^x.*k.*y\$" }
    - { url: "$HTTP_URL/chunked?chunk=16384&pad=16375&text=needle-in-haystack&tail=40000&pause_ms=5", name: across-reads, pattern: "needle-in-haystack" }
    - { url: "$HTTP_URL/bytes/300000?chunked=1", name: late-in-body, pattern: "(?s)^(?:.{50000}){6}\$" }
    - { url: "$HTTP_URL/bytes/0", name: empty-body, pattern: "^\$" }
    - { url: "$HTTP_URL/endless", name: endless-partial, pattern: "z+q", max_body: 512KiB }
EOF2
probe "$T/p.yaml"
rc=$?
[ $rc -eq 0 ] || cat "$T/err.log"
check "pattern_run_exits_0" [ $rc -eq 0 ]
expect "pattern_split_over_1_byte_chunks_matches" split-1 'r["result"] == "ok" and r["pattern_matched"] is True and r["body_bytes"] == 27'
expect "pattern_split_over_3_byte_chunks_matches" split-3 'r["result"] == "ok" and r["pattern_matched"] is True'
expect "pattern_with_classes_split_over_7_byte_chunks_matches" split-7 'r["result"] == "ok" and r["pattern_matched"] is True'
expect "absent_pattern_over_chunks_is_pattern_mismatch" miss-3 'r["result"] == "pattern_mismatch" and r["pattern_matched"] is False'
expect "inverted_absent_pattern_is_ok" invert-absent 'r["result"] == "ok" and r["pattern_matched"] is False'
expect "inverted_present_pattern_is_pattern_mismatch" invert-present 'r["result"] == "pattern_mismatch" and r["pattern_matched"] is True and "must_not_match" in r["error"]'
expect "lookbehind_across_chunks_matches" lookbehind 'r["pattern_matched"] is True'
expect "caret_matches_body_start" anchor-start 'r["pattern_matched"] is True'
expect "caret_does_not_match_at_a_chunk_start" anchor-start-not-at-chunk 'r["pattern_matched"] is False'
expect "dollar_matches_body_end" anchor-end 'r["pattern_matched"] is True'
expect "word_boundary_sees_previous_chunk" word-boundary 'r["pattern_matched"] is True'
expect "word_boundary_inside_word_across_chunks_misses" word-boundary-miss 'r["pattern_matched"] is False'
expect "match_spanning_the_whole_chunked_body" spanning-whole-body 'r["pattern_matched"] is True'
expect "pattern_across_16KiB_reads_matches" across-reads 'r["result"] == "ok" and r["pattern_matched"] is True and r["body_bytes"] == 16375 + 18 + 40000'
expect "long_match_ending_at_body_end_matches" late-in-body 'r["result"] == "ok" and r["pattern_matched"] is True'
expect "empty_body_is_matched_once" empty-body 'r["result"] == "ok" and r["pattern_matched"] is True'
expect "endless_partial_match_is_cut_at_max_body" endless-partial 'r["result"] == "body_too_large" and r["body_bytes"] == 512 * 1024 and r["pattern_matched"] is False'
