#!/bin/bash
# One connection in flight (tsload crr, concurrency 1) against rs-crrd on
# refstack, with the default busy-poll budget and with it off
# (--busy-poll 0, the receive path sleeping in poll() on the TPACKET_V2
# ring): every connection completes, none fails; and the busy-poll is
# bounded: an idle server sleeps (its CPU over 2 s idle stays well under
# one core's worth, where an unbounded spin would take all of it).  A
# functional check, not a timed one: the figures of refstack beside the
# Linux server (connections/s, p50/p99 at concurrency 1 2 4 16 64) are the
# benchmark's, bench/afpacket.sh with CONC="1 2 4 16 64" (BENCHMARKS.md);
# the rates of this run are printed for the log only.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

OUT=$(mktemp -d /tmp/rs-lat.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

CRRD=$(t_app "$ROOT" rs-crrd) || t_abort "rs-crrd is built"
TSLOAD=$(cd "$ROOT/.." && pwd)/loadgen/tsload
[ -x "$TSLOAD" ] || t_abort "loadgen/tsload is built"
ns_up lat || t_abort "namespaces up"

# start NAME ARGS... — rs-crrd on refstack; sets S_PID, S_JOB
start() {
	local name=$1
	shift
	timeout 60 ip netns exec "$NS_S" "$CRRD" --stack refstack --if "$NS_SIF" "$@" \
		>"$OUT/$name.log" 2>&1 &
	S_JOB=$!
	t_bg_add "$S_JOB"
	t_wait_for "$OUT/$name.log" listening 10 || return 1
	S_PID=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/$name.log")
}

# crr1 NAME — 500 connections one at a time, every one complete
crr1() {
	ip netns exec "$NS_L" timeout 30 "$TSLOAD" --engine=crr --host="$NS_STACK_IP" \
		--concurrency=1 --connections=500 --timeout=2s --runtime=20s \
		--output-format=json >"$OUT/$1.json" || return 1
	/usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
p = j["latency_us"]["total"]["percentiles"]
print("# %s: %d connections, %d errors, %.0f conn/s, p50 %.0f us, p99 %.0f us (log only)" % (
    sys.argv[2], j["connections"], j["errors"]["total"], j["cps"], p["50"], p["99"]))
sys.exit(0 if j["connections"] == 500 and j["errors"]["total"] == 0 else 1)
' "$OUT/$1.json" "$1"
}

# idle_cpu — the server's CPU share over 2 s without traffic, in %
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$S_PID/stat"; }
idle_bounded() {
	local a b
	a=$(cpu_ticks)
	sleep 2
	b=$(cpu_ticks)
	local pct=$(((b - a) * 100 / (2 * $(getconf CLK_TCK))))
	echo "# idle server: ${pct}% of a core over 2 s"
	[ "$pct" -lt 25 ]
}

start busy || t_abort "rs-crrd (default busy-poll) started"
t_check "default busy-poll: 500 connections one at a time, all complete, no error" crr1 busy-poll-50
t_check "default busy-poll: the idle server sleeps (the spin is bounded)" idle_bounded
t_stop "$S_PID" "$S_JOB"

start nobusy --busy-poll 0 || t_abort "rs-crrd --busy-poll 0 started"
t_check "--busy-poll 0: 500 connections one at a time, all complete, no error" crr1 busy-poll-0
t_check "--busy-poll 0: the idle server sleeps" idle_bounded
t_stop "$S_PID" "$S_JOB"

t_check "rs-crrd refuses --busy-poll 2000000 with a message naming it" \
	bash -c "ip netns exec $NS_S $CRRD --if $NS_SIF --busy-poll 2000000 2>&1 | grep -q -- '--busy-poll 2000000: at most 1000000 us'"
for f in "$OUT"/*.log; do
	if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$f"; then
		t_fail "sanitizer report in $(basename "$f")"
		cat "$f"
	fi
done
t_summary
