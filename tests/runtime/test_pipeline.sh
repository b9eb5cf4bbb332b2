#!/usr/bin/env bash
# The runtime: count in = count out, batching windows, retries with backoff,
# dead letters, ordered acks, drain on SIGTERM, abort, fatal errors.
. "$(dirname "$0")/../lib/common.sh"

# pipe NAME SOURCE_OPTS SINK_OPTS [EXTRA_YAML]
pipe() {
	cat >"$T/$1.yaml" <<EOF
name: $1
source: {plugin: counting, $2}
sink: {plugin: flaky, out: $T/$1.out, batches: $T/$1.batches, $3}
dead_letter: {path: $T/$1.dead.jsonl}
$4
EOF
}
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
# signal_after NAME SECONDS SIGNAL: runs pipeline NAME, signals it after
# SECONDS, waits; leaves the exit status in rc and the wait in waited.
signal_after() {
	"$WMHOST" run "$T/$1.yaml" 2>"$T/$1.err" &
	local pid=$! start
	sleep "$2"
	kill "-$3" $pid
	start=$SECONDS
	wait $pid
	rc=$?
	waited=$((SECONDS - start))
}
# each seq 0..N-1 exactly once
exactly_once() { python3 - "$1" "$2" <<'EOF'
import sys
seqs=[int(l) for l in open(sys.argv[1])]
n=int(sys.argv[2])
ok = sorted(seqs)==list(range(n))
if not ok: print("#   got", len(seqs), "records,", len(set(seqs)), "distinct, expected", n)
sys.exit(0 if ok else 1)
EOF
}

pipe all 'count: 20000, streams: 4, ack_log: '"$T"'/all.acks' '' 'queue: {capacity: 256}
batch: {max_records: 100, max_wait: 50ms}'
"$WMHOST" run "$T/all.yaml" 2>"$T/all.err"
check count_in_equals_count_out_through_small_queue exactly_once "$T/all.out" 20000
check acks_reach_source_in_order_up_to_last_position bash -c "! grep -q 'ORDER BROKEN' '$T/all.acks' && for s in 0 1 2 3; do grep -q \"^\$s 4999\$\" '$T/all.acks' || exit 1; done"
check batches_are_cut_at_max_records python3 -c "
sizes=[int(l.split()[0]) for l in open('$T/all.batches')]
assert max(sizes)==100 and sum(sizes)==20000, sizes[:10]"

pipe small 'count: 5000' '' 'queue: {capacity: 64}
batch: {max_records: 100, max_wait: 5s}'
start=$SECONDS
"$WMHOST" run "$T/small.yaml" 2>"$T/small.err"
check full_queue_cuts_batch_without_waiting bash -c "[ $((SECONDS - start)) -le 3 ] && [ \$(wc -l <'$T/small.out') -eq 5000 ]"

# A finite pipeline exits as soon as its threads end: the main thread is
# woken, not left to notice on its next 100 ms tick. Measured between the
# log's "started" and "stopped" lines (process start-up and exit do not
# count), the fastest of 5 runs.
pipe quick 'count: 1' ''
best=999999
for i in 1 2 3 4 5; do
	"$WMHOST" run "$T/quick.yaml" 2>"$T/quick.err"
	ms=$(python3 - "$T/quick.err" <<'EOF'
import sys, datetime
t = {}
for line in open(sys.argv[1]):
    for word in ("started:", "stopped:"):
        if word in line:
            t[word] = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
print(int((t["stopped:"] - t["started:"]).total_seconds() * 1000) if len(t) == 2 else 999999)
EOF
)
	[ "$ms" -lt "$best" ] && best=$ms
done
check finite_pipeline_exits_without_waiting_a_tick bash -c "[ $best -lt 50 ] || { echo '#   fastest run: ${best} ms from started to stopped'; exit 1; }"

pipe window 'count: 12, rate: 10' '' 'batch: {max_records: 1000, max_wait: 300ms}'
"$WMHOST" run "$T/window.yaml" 2>"$T/window.err"
check batches_are_cut_at_max_wait python3 -c "
rows=[l.split() for l in open('$T/window.batches')]
sizes=[int(r[0]) for r in rows]
# 10 records/s with a 300ms window: batches of about 3, never all 12 at once
assert sum(sizes)==12 and max(sizes)<=5 and len(sizes)>=3, sizes"

pipe retry 'count: 500' 'retry_first: 4' 'retry: {initial: 50ms, max: 200ms}
batch: {max_records: 1000, max_wait: 20ms}'
start=$(date +%s%N)
"$WMHOST" run "$T/retry.yaml" 2>"$T/retry.err"
rc=$?
el=$((($(date +%s%N) - start) / 1000000))
check retry_delivers_everything_after_transient_failures exactly_once "$T/retry.out" 500
check each_retry_is_logged test "$(grep -c 'write asked to retry' "$T/retry.err")" -eq 4
check backoff_grows_and_is_capped python3 -c "
import re
d=[int(m) for m in re.findall(r'after (\d+)ms', open('$T/retry.err').read())]
# equal jitter: attempt k sleeps in [base/2, base], base = min(50*2^(k-1), 200)
bases=[50,100,200,200]
assert len(d)==4 and all(b//2 <= x <= b for x,b in zip(d,bases)), d"
check retry_run_exits_0 test $rc -eq 0

pipe partial 'count: 300' 'retry_first: 2, retry_partial: true' 'retry: {initial: 10ms, max: 20ms}
batch: {max_records: 1000, max_wait: 20ms}'
"$WMHOST" run "$T/partial.yaml" 2>"$T/partial.err"
check records_marked_done_are_not_rewritten_on_retry exactly_once "$T/partial.out" 300

pipe fail 'count: 1000, streams: 2, ack_log: '"$T"'/fail.acks' 'fail_every: 100' ''
"$WMHOST" run "$T/fail.yaml" 2>"$T/fail.err"
check refused_records_go_to_dead_letter_file test "$(lines "$T/fail.dead.jsonl")" -eq 10
check other_records_of_the_batch_are_stored test "$(lines "$T/fail.out")" -eq 990
check dead_letter_lines_carry_record_reason_position python3 -c "
import json
rows=[json.loads(l) for l in open('$T/fail.dead.jsonl')]
assert sorted(r['record']['seq'] for r in rows)==list(range(0,1000,100))
assert all(r['reason'].startswith('seq ') and r['pipeline']=='fail' and 'offset' in r for r in rows)"
check dead_lettered_positions_are_acked bash -c "grep -q '^0 499$' '$T/fail.acks' && grep -q '^1 499$' '$T/fail.acks'"

pipe srcdead 'count: 100, streams: 1, dead_every: 10, ack_log: '"$T"'/srcdead.acks' '' ''
"$WMHOST" run "$T/srcdead.yaml" 2>"$T/srcdead.err"
check source_dead_letters_reach_the_file python3 -c "
import json
rows=[json.loads(l) for l in open('$T/srcdead.dead.jsonl')]
assert len(rows)==10 and rows[0]['payload'].startswith('{not json') and rows[0]['reason']=='undecodable test payload'"
check source_dead_letters_are_acked_in_order grep -q '^0 99$' "$T/srcdead.acks"

# Drain on SIGTERM: a source that never ends, a slow sink; nothing lost.
pipe drain 'count: 0, rate: 3000' 'delay: 30ms' 'queue: {capacity: 1000}
batch: {max_records: 200, max_wait: 50ms}'
"$WMHOST" run "$T/drain.yaml" 2>"$T/drain.err" &
pid=$!
sleep 1.5
kill -TERM $pid
wait $pid
rc=$?
check sigterm_drain_exits_0 test $rc -eq 0
emitted=$(sed -n 's/.*stopped: \([0-9]*\) emitted.*/\1/p' "$T/drain.err")
check sigterm_drain_loses_nothing exactly_once "$T/drain.out" "${emitted:-0}"
check sigterm_drain_wrote_something test "${emitted:-0}" -gt 1000

# A second signal exits at once, even while a batch is stuck.
pipe twice 'count: 0, rate: 100' 'delay: 20s' 'batch: {max_records: 10, max_wait: 10ms}'
"$WMHOST" run "$T/twice.yaml" 2>"$T/twice.err" &
pid=$!
sleep 0.5
kill -TERM $pid; sleep 0.3; kill -TERM $pid
start=$SECONDS
wait $pid
rc=$?
check second_signal_exits_at_once bash -c "[ $rc -ne 0 ] && [ $((SECONDS - start)) -le 2 ] && grep -q 'second SIGTERM' '$T/twice.err'"

# A sink that never recovers: the drain gives up at shutdown_timeout.
pipe stuck 'count: 50' 'retry_first: 1000000' 'retry: {initial: 50ms, max: 100ms}
shutdown_timeout: 1s'
signal_after stuck 0.5 INT
check shutdown_timeout_bounds_the_drain test $waited -le 4
check undelivered_records_are_reported_and_exit_1 bash -c "[ $rc -eq 1 ] && grep -q '50 undelivered' '$T/stuck.err'"

# Pipelining: a sink that leaves batches in flight (WM_PENDING) and finishes
# them later, newest first. The host keeps up to max_in_flight of them and
# still releases positions to the source in order.
pipe piped 'count: 20000, streams: 4, ack_log: '"$T"'/piped.acks' 'pipelined: true, delay: 30ms' 'queue: {capacity: 2000}
batch: {max_records: 200, max_wait: 20ms, max_in_flight: 3}'
"$WMHOST" run "$T/piped.yaml" 2>"$T/piped.err"
rc=$?
check pipelined_sink_count_in_equals_count_out exactly_once "$T/piped.out" 20000
check pipelined_sink_has_max_in_flight_batches_and_no_more python3 -c "
m=max(int(l.split()[2]) for l in open('$T/piped.batches'))
assert m==3, m"
check pipelined_acks_stay_in_order_despite_out_of_order_finishes bash -c "! grep -q 'ORDER BROKEN' '$T/piped.acks' && for s in 0 1 2 3; do grep -q \"^\$s 4999\$\" '$T/piped.acks' || exit 1; done"
check pipelined_run_exits_0 test $rc -eq 0

pipe piped1 'count: 2000' 'pipelined: true, delay: 5ms' 'batch: {max_records: 100, max_wait: 20ms, max_in_flight: 1}'
"$WMHOST" run "$T/piped1.yaml" 2>"$T/piped1.err"
check max_in_flight_1_writes_one_batch_at_a_time python3 -c "
m=max(int(l.split()[2]) for l in open('$T/piped1.batches'))
assert m==1, m"
check max_in_flight_1_delivers_everything exactly_once "$T/piped1.out" 2000

pipe pipedretry 'count: 3000, streams: 2, ack_log: '"$T"'/pipedretry.acks' 'pipelined: true, delay: 10ms, retry_first: 3, fail_every: 100' 'batch: {max_records: 100, max_wait: 20ms, max_in_flight: 4}
retry: {initial: 10ms, max: 50ms}'
"$WMHOST" run "$T/pipedretry.yaml" 2>"$T/pipedretry.err"
rc=$?
check pipelined_retries_and_refusals_lose_nothing python3 -c "
seqs=[int(l) for l in open('$T/pipedretry.out')]
want=[s for s in range(3000) if s % 100]
assert sorted(seqs)==want, (len(seqs), len(set(seqs)))
assert sum(1 for _ in open('$T/pipedretry.dead.jsonl'))==30"
check pipelined_retries_are_logged test "$(grep -c 'write asked to retry' "$T/pipedretry.err")" -ge 3
check pipelined_retry_acks_reach_the_end bash -c "grep -q '^0 1499$' '$T/pipedretry.acks' && grep -q '^1 1499$' '$T/pipedretry.acks' && [ $rc -eq 0 ]"

# Batches in flight that never finish: at shutdown_timeout the host tells
# the sink to give up, counts them undelivered and exits 1.
pipe pipedstuck 'count: 0, rate: 2000' 'pipelined: true, delay: 1h' 'batch: {max_records: 100, max_wait: 20ms, max_in_flight: 2}
shutdown_timeout: 1s'
signal_after pipedstuck 0.7 TERM
check pipelined_drain_is_bounded_by_shutdown_timeout bash -c "[ $waited -le 4 ] && [ $rc -eq 1 ]"
check pipelined_undelivered_are_counted bash -c "grep -q 'stopped: .* [1-9][0-9]* undelivered' '$T/pipedstuck.err' && [ ! -s '$T/pipedstuck.out' ]"

# A batch waiting for its backoff does not hold up the others: their
# reports are still served (the sink thread does not sleep in the backoff).
pipe pipedpark 'count: 500' 'pipelined: true, delay: 10ms, retry_first: 1' 'batch: {max_records: 100, max_wait: 20ms, max_in_flight: 4}
retry: {initial: 3s, max: 3s}'
"$WMHOST" run "$T/pipedpark.yaml" 2>"$T/pipedpark.err" &
pid=$!
sleep 1
early=$(lines "$T/pipedpark.out")
wait $pid
rc=$?
check pipelined_backoff_does_not_block_other_batches test "$early" -ge 400
check pipelined_backoff_then_delivers_everything bash -c "[ $rc -eq 0 ] && python3 -c \"
seqs=sorted(int(l) for l in open('$T/pipedpark.out')); assert seqs==list(range(500)), len(seqs)\""

# Given up while parked for a retry: only what the sink wrote counts as
# written, the rest as undelivered.
pipe pipedgiveup 'count: 200' 'pipelined: true, delay: 10ms, retry_first: 1000000, retry_partial: true' 'batch: {max_records: 100, max_wait: 20ms, max_in_flight: 2}
retry: {initial: 300ms, max: 300ms}
shutdown_timeout: 1s'
signal_after pipedgiveup 0.5 TERM
check pipelined_give_up_counts_only_written_records python3 -c "
import re
m=re.search(r'stopped: (\d+) emitted, (\d+) written, (\d+) dead-lettered, (\d+) undelivered', open('$T/pipedgiveup.err').read())
e,w,d,u=map(int,m.groups())
out=sum(1 for _ in open('$T/pipedgiveup.out'))
assert (e,d)==(200,0) and w==out and w+u==200 and u>0, (e,w,d,u,out)"

pipe fatal 'count: 100' 'fatal_after: 1' 'batch: {max_records: 10, max_wait: 10ms}'
"$WMHOST" run "$T/fatal.yaml" 2>"$T/fatal.err"
rc=$?
check fatal_sink_error_stops_with_exit_1 bash -c "[ $rc -eq 1 ] && grep -q 'sink failed fatally' '$T/fatal.err'"
# ...also for what a source that never ends emits after the sink stopped
pipe fatal2 'count: 0, rate: 20000' 'fatal_after: 3' 'batch: {max_records: 10, max_wait: 10ms}'
"$WMHOST" run "$T/fatal2.yaml" 2>"$T/fatal2.err"
check fatal_stop_accounts_for_every_emitted_record python3 -c "
import re
m=re.search(r'stopped: (\d+) emitted, (\d+) written, (\d+) dead-lettered, (\d+) undelivered', open('$T/fatal2.err').read())
e,w,d,u=map(int,m.groups())
assert e==w+d+u and u>0, (e,w,d,u)"

# A source that fails: what it emitted before failing is still written and
# acknowledged (the sink drains the closed queue), and the exit status is 1.
pipe srcfail 'count: 1000, streams: 1, fail_at_end: true, ack_log: '"$T"'/srcfail.acks' 'delay: 20ms' 'batch: {max_records: 100, max_wait: 10ms}'
"$WMHOST" run "$T/srcfail.yaml" 2>"$T/srcfail.err"
rc=$?
check failed_source_exits_1 test $rc -eq 1
check failed_source_records_are_all_written exactly_once "$T/srcfail.out" 1000
check failed_source_records_are_acked grep -q '^0 999$' "$T/srcfail.acks"
check failed_source_loses_nothing grep -q 'stopped: 1000 emitted, 1000 written, 0 dead-lettered, 0 undelivered' "$T/srcfail.err"

# A sink that failed fatally gets no further batch, also while stopping.
pipe fatalonce 'count: 0, rate: 2000' 'fatal_after: 4, delay: 300ms' 'batch: {max_records: 10, max_wait: 10ms}'
signal_after fatalonce 0.5 TERM
check fatal_sink_is_not_called_again bash -c "[ \$(grep -c 'sink failed fatally' '$T/fatalonce.err') -eq 1 ] && [ $(lines "$T/fatalonce.batches") -le 4 ] && [ $waited -le 3 ]"
check fatal_sink_exit_1 test $rc -eq 1

# FATAL stops the pipeline also when the sink had marked every record of
# the batch done before answering it.
pipe fataldone 'count: 100' 'fatal_after: 3, fatal_done: true' 'batch: {max_records: 10, max_wait: 10ms}
queue: {capacity: 10}'
"$WMHOST" run "$T/fataldone.yaml" 2>"$T/fataldone.err"
rc=$?
check fatal_with_every_record_done_still_stops bash -c "[ $rc -eq 1 ] && [ $(lines "$T/fataldone.batches") -eq 3 ] && grep -q 'sink failed fatally; 0 records not delivered' '$T/fataldone.err'"

# A dead-letter file that cannot be written for a while (here its path is a
# directory): the record waits, with backoff, and is written once the path
# is usable again; nothing is dropped and the acks behind it go on.
pipe dlqwait 'count: 450, rate: 150, streams: 1, ack_log: '"$T"'/dlqwait.acks' 'fail_every: 150' 'retry: {initial: 50ms, max: 200ms}
batch: {max_records: 20, max_wait: 10ms}'
"$WMHOST" run "$T/dlqwait.yaml" 2>"$T/dlqwait.err" &
pid=$!
# seq 0 is refused at once; once its dead letter is in the file, the file
# is moved away and a directory takes its path until after the next
# refusal (at 1 s)
wait_for 5 test -s "$T/dlqwait.dead.jsonl"
mv "$T/dlqwait.dead.jsonl" "$T/dlqwait.first.jsonl"
mkdir "$T/dlqwait.dead.jsonl"
sleep 1.5
rmdir "$T/dlqwait.dead.jsonl"
wait $pid
rc=$?
check dead_letter_failure_is_retried grep -q 'dead-letter write failed; the record is kept, retry #1' "$T/dlqwait.err"
check dead_letter_failure_loses_nothing bash -c "[ $rc -eq 0 ] && [ $(lines "$T/dlqwait.first.jsonl") -eq 1 ] && [ $(lines "$T/dlqwait.dead.jsonl") -eq 2 ] && [ $(lines "$T/dlqwait.out") -eq 447 ]"
check dead_letter_failure_does_not_stall_acks grep -q '^0 449$' "$T/dlqwait.acks"

# The dead-letter line keeps the refused record's key (a replay restores
# the partitioning).
check dead_letter_lines_keep_the_key python3 -c "
import json
rows=[json.loads(l) for l in open('$T/fail.dead.jsonl')]
assert all(r['key']=='k%d' % (r['record']['seq'] % 16) for r in rows), rows[0]"

# The dead-letter file's disk fills up after the file was opened (a 4 KiB
# tmpfs, grown later): a line cut short is removed before the retry writes
# it whole, so the file stays valid JSON lines and every dead letter is
# there once.
mkdir "$T/small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=4k tmpfs "$T/small" 2>/dev/null; then
	on_exit umount "$T/small"
	pipe dlqfull 'count: 400, rate: 200, payload_bytes: 300, streams: 1, ack_log: '"$T"'/dlqfull.acks' 'fail_every: 20' 'retry: {initial: 50ms, max: 200ms}
batch: {max_records: 20, max_wait: 10ms}'
	sed -i "s|^dead_letter: .*|dead_letter: {path: $T/small/x.jsonl}|" "$T/dlqfull.yaml"
	"$WMHOST" run "$T/dlqfull.yaml" 2>"$T/dlqfull.err" &
	pid=$!
	sleep 1.5 # lines of about 500 bytes: the 4 KiB are full after 8
	mount -o remount,size=1m "$T/small"
	wait $pid
	rc=$?
	check full_dead_letter_disk_is_retried grep -q 'dead-letter write failed; the record is kept' "$T/dlqfull.err"
	check full_dead_letter_disk_keeps_whole_lines_only python3 -c "
import json
rows=[json.loads(l) for l in open('$T/small/x.jsonl')]
seqs=sorted(r['record']['seq'] for r in rows)
assert seqs==list(range(0,400,20)), seqs"
	check full_dead_letter_disk_run_exits_0 test $rc -eq 0
else
	skip "full_dead_letter_disk_is_retried: needs root to mount a small tmpfs"
fi

# The dead-letter file's directory is removed after the file was opened:
# later dead letters are not written into the deleted file (where they
# would look durable and vanish) but wait until the path works again.
mkdir "$T/dlgone"
pipe dlqgone 'count: 300, rate: 100, streams: 1, ack_log: '"$T"'/dlqgone.acks' 'fail_every: 50' 'retry: {initial: 50ms, max: 200ms}
batch: {max_records: 10, max_wait: 10ms}'
sed -i "s|^dead_letter: .*|dead_letter: {path: $T/dlgone/x.jsonl}|" "$T/dlqgone.yaml"
"$WMHOST" run "$T/dlqgone.yaml" 2>"$T/dlqgone.err" &
pid=$!
sleep 1.2 # the first three dead letters (0, 0.5 and 1 s) are written
rm -rf "$T/dlgone"
sleep 0.8
mkdir "$T/dlgone"
wait $pid
rc=$?
check dead_letters_after_the_directory_went_are_in_the_new_file bash -c "[ $rc -eq 0 ] && [ $(lines "$T/dlgone/x.jsonl") -eq 3 ] && grep -q '^0 299$' '$T/dlqgone.acks'"
