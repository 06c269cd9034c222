#!/bin/bash
# tsload --server, unmodified, on refstack through the LD_PRELOAD shim
# (rs-run, ASan/UBSan build), against the Linux tsload client: crr and rr,
# 1 and 2 server threads (as many stack cores): zero errors, the server
# answered every transaction the client counted, every thread drove a core
# of its own, and rsctl sees the shimmed process (cores, counters, its
# listening socket), and with 2 threads crr each core accepted connections
# of its own (a thread accepts on its core's copy of the listener).  An
# idle server sleeps (CPU under 5 % of a core).  The 2-thread server once
# more under ThreadSanitizer (rs-run --tsan, base and full): the threads
# run in parallel on their cores, and no data race is reported.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

OUT=$(mktemp -d /tmp/rs-shimt.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

TS=$ROOT/../loadgen/tsload
RSCTL=$(t_app "$ROOT" rsctl) || t_abort "rsctl is built"
[ -x "$TS" ] || t_abort "loadgen/tsload is built"
ns_up sht || t_abort "namespaces up"
PY=/usr/bin/python3

# jget FILE EXPR — a value from tsload's JSON report (j = jobs[0])
jget() { $PY -c "import json,sys; j=json.load(open(sys.argv[1]))['jobs'][0]; print($2)" "$1"; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_case() { # ENGINE THREADS [SANITIZER FEATURES]
	local eng=$1 th=$2 san=${3:-asan} feat=${4:-base} tag=$1-$2 pid cli srv
	[ "$san" = asan ] || tag=$tag-$san-$feat
	cli=$OUT/$tag.json srv=$OUT/$tag-srv.json
	timeout 120 ip netns exec "$NS_S" "$ROOT/rs-run" --$san --features "$feat" --cores "$th" --if "$NS_SIF" \
		--ip "$NS_STACK_IP/$NS_PREFIX" -- "$TS" --server --host=0.0.0.0 --port=12865 \
		--engine="$eng" --threads="$th" --output-format=json --output="$srv" \
		>"$OUT/$tag-srv.log" 2>&1 &
	pid=$!
	t_bg_add $pid
	t_wait_for "$OUT/$tag-srv.log" "listening" 60 || { t_fail "[$tag] server listens"; return; }
	local job=$pid
	for i in $(seq 20); do # timeout's child: ip netns exec and rs-run exec tsload
		pid=$(pgrep -P "$job") && break
		sleep 0.05
	done
	if [ "$tag" = crr-1 ]; then
		local c0 c1
		c0=$(cpu_ticks $pid); sleep 1; c1=$(cpu_ticks $pid)
		t_check "[$tag] idle server sleeps: $((c1 - c0)) ticks of CPU in 1 s (< 5)" test $((c1 - c0)) -lt 5
	fi
	timeout 60 ip netns exec "$NS_L" "$TS" --host="$NS_STACK_IP" --port=12865 --engine="$eng" \
		--concurrency=16 --threads=2 --runtime=2s --output-format=json --output="$cli" \
		>"$OUT/$tag-cli.log" 2>&1
	t_check "[$tag] client ran" test -s "$cli"
	ip netns exec "$NS_S" "$RSCTL" -p "$pid" --json >"$OUT/$tag-rsctl.json" 2>"$OUT/$tag-rsctl.err" ||
		sed "s/^/# rsctl: /" "$OUT/$tag-rsctl.err"
	kill -INT "$pid"
	wait "$job" 2>/dev/null
	local tx err stx
	tx=$(jget "$cli" "j['transactions']")
	err=$(jget "$cli" "j['errors']['total']")
	stx=$(jget "$srv" "j['transactions']")
	echo "# [$tag] client: $tx transactions, $err errors; server answered $stx"
	t_check "[$tag] zero client errors" test "$err" = 0
	[ "$err" = 0 ] || echo "# [$tag] client errors by kind: $(jget "$cli" "j['errors']")"
	t_check "[$tag] transactions made (> 100)" test "$tx" -gt 100
	t_check "[$tag] the server answered every transaction the client counted" test "$stx" -ge "$tx"
	t_check "[$tag] rsctl sees the shimmed process: $th core(s), each polled, a listener on 12865" \
		$PY - "$OUT/$tag-rsctl.json" "$th" "$eng" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))["instances"][0]
n = int(sys.argv[2])
# the stack has core slots for forked workers too: n of them driven here
cores = [c for c in d["cores"] if c["publishes"] > 0]
assert d["ncores"] >= n and len(cores) == n, (d["ncores"], len(cores))
assert all(c["counters"]["polls"] > 0 for c in cores), cores
assert sum(c["counters"]["tcp_accepts"] for c in cores) > 0
# threads are cores: each accepted on its own core (crr: thousands of
# connections; rr's 16 come in one burst at the start, and one thread may
# take them all from the shared queue of the base stack)
if sys.argv[3] == "crr":
    assert all(c["counters"]["tcp_accepts"] > 0 for c in cores), [c["counters"]["tcp_accepts"] for c in cores]
assert any(s["state"] == "LISTEN" and s["local"].endswith(":12865") for s in d["sockets"])
PYEOF
	if grep -q "AddressSanitizer\|runtime error\|ThreadSanitizer" "$OUT/$tag-srv.log"; then
		t_fail "[$tag] sanitizer report"
		cat "$OUT/$tag-srv.log"
	fi
}

for eng in crr rr; do
	for th in 1 2; do
		run_case "$eng" "$th"
	done
done
[ -f "$ROOT/build/tsan/librefstack-preload.so" ] || t_abort "the TSan shim is built"
for feat in base full; do
	run_case crr 2 tsan "$feat"
done
t_summary
