#!/bin/bash
# SYN flood benchmark: legitimate connections completed while spoofed SYNs
# flood the listener, refstack vs Linux, under each SYN-cookie setting
# (refstack's --syncookies, Linux's net.ipv4.tcp_syncookies of the server
# namespace: 0 never, 1 when the SYN backlog is full, 2 always).  The
# server is rs-crrd (--stack refstack on afpacket, --stack linux on the
# kernel's sockets) at the same address behind the same veth; the client
# (tsload crr, CONC in flight, each operation cut at 2 s: a dropped SYN
# costs a 1 s retry) first makes connections for 0.5 s (so it is a peer
# with history, as a returning client is), then bench/syn-flood sends
# SYNs at RATE per second from POOL spoofed, unused addresses of the
# lab's subnet (their SYN,ACKs wait for ARP replies that never come)
# while the client runs SECS seconds more.  Rounds rotate the servers.
# Prints per run and per cell: legitimate connections/s, failed
# operations, connect-latency p50/p99 and the SYNs actually sent; medians
# [min..max].  Not a test: no pass/fail.
#
#   RUNS=5 SECS=3 RATES="none 10000 100000" refstack/bench/synflood.sh
# RATES: SYNs per second ("none": no flood, the baseline; 0: as fast as
# the raw socket goes).  SERVERS: stack:cookies list (default every
# combination of refstack and linux with 0 1 2).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
. "$ROOT/tests/interop/lib/ns.sh"

RUNS=${RUNS:-5}
SECS=${SECS:-3}
CONC=${CONC:-4}
POOL=${POOL:-150}
RATES=${RATES:-none 10000 100000}
SERVERS=${SERVERS:-refstack:0 refstack:1 refstack:2 linux:0 linux:1 linux:2}
PORT=12865
OUT=$(mktemp -d /tmp/rs-synbench.XXXXXX)
RESULTS=${RESULTS:-$ROOT/build/bench/synflood-results.txt}
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

CRRD=$(t_bin "$ROOT" rs-crrd) || { echo "synflood.sh: build rs-crrd first (make -C refstack)" >&2; exit 1; }
TSLOAD=$(cd "$ROOT/.." && pwd)/loadgen/tsload
[ -x "$TSLOAD" ] || { echo "synflood.sh: build loadgen/tsload first (make -C loadgen)" >&2; exit 1; }
mkdir -p "$ROOT/build/bench" "$(dirname "$RESULTS")"
FLOODER=$ROOT/build/bench/syn-flood
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$FLOODER" "$HERE/syn-flood.c" || exit 1
ns_up sb || { echo "synflood.sh: namespaces" >&2; exit 1; }

# run_one STACK:COOKIES RATE — prints "STACK:COOKIES RATE conns/s failed
# connect_p50_us connect_p99_us syns_sent"
run_one() {
	local srv=$1 rate=$2 stack=${1%:*} ck=${1#*:} job pid fjob="" extra=()
	if [ "$stack" = linux ]; then
		ip netns exec "$NS_S" sysctl -qw net.ipv4.tcp_syncookies="$ck"
		ip -n "$NS_S" tcp_metrics flush all 2>/dev/null
		ip -n "$NS_S" addr add "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF"
	else
		extra=(--syncookies="$ck")
	fi
	timeout 120 ip netns exec "$NS_S" "$CRRD" --stack "$stack" --if "$NS_SIF" "${extra[@]}" \
		>"$OUT/srv.log" 2>&1 &
	job=$!
	t_bg_add "$job"
	if ! t_wait_for "$OUT/srv.log" listening 10; then
		echo "$srv $rate fail fail fail fail 0"
		return
	fi
	pid=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/srv.log")
	ip netns exec "$NS_L" timeout $((SECS + 30)) "$TSLOAD" --engine=crr --host="$NS_STACK_IP" \
		--port=$PORT --concurrency="$CONC" --ramp_time=0.5s --runtime="${SECS}s" --timeout=2s \
		--output-format=json >"$OUT/tsload.json" 2>"$OUT/tsload.err" &
	local cjob=$!
	sleep 0.5
	: >"$OUT/flood.out"
	if [ "$rate" != none ]; then
		ip netns exec "$NS_L" "$FLOODER" -d "$NS_STACK_IP" -p $PORT -s "$NS_NET.100" -n "$POOL" \
			-r "$rate" -t "$SECS" >"$OUT/flood.out" 2>&1 &
		fjob=$!
		t_bg_add "$fjob"
	fi
	wait "$cjob"
	[ -n "$fjob" ] && wait "$fjob"
	t_stop "$pid" "$job"
	if [ "$stack" = linux ]; then
		ip -n "$NS_S" addr del "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF"
		ip -n "$NS_S" neigh flush dev "$NS_SIF" 2>/dev/null
		ip netns exec "$NS_S" sysctl -qw net.ipv4.tcp_syncookies=1
	fi
	/usr/bin/python3 - "$OUT/tsload.json" "$OUT/flood.out" "$srv" "$rate" <<'EOF'
import json, sys
try:
    j = json.load(open(sys.argv[1]))["jobs"][0]
    p = j["latency_us"]["connect"]["percentiles"]
    fig = "%.0f %d %.0f %.0f" % (j["cps"], j["errors"]["total"], p["50"], p["99"])
except (OSError, ValueError, KeyError, IndexError):
    fig = "fail fail fail fail"
sent = dict(l.strip().split("=", 1) for l in open(sys.argv[2]) if "=" in l).get("sent", "0")
print(sys.argv[3], sys.argv[4], fig, sent)
EOF
}

read -r -a SRV <<<"$SERVERS"
echo "# synflood $(date -u +%Y-%m-%dT%H:%MZ): runs=$RUNS secs=$SECS conc=$CONC pool=$POOL rates='$RATES' servers='$SERVERS'"
echo "# server:cookies syns/s legit_conn/s failed_ops connect_p50_us connect_p99_us syns_sent"
: >"$OUT/runs.txt"
for rate in $RATES; do
	for ((i = 0; i < RUNS; i++)); do
		for ((k = 0; k < ${#SRV[@]}; k++)); do
			run_one "${SRV[(i + k) % ${#SRV[@]}]}" "$rate" | tee -a "$OUT/runs.txt"
		done
	done
done
cp "$OUT/runs.txt" "$RESULTS"
/usr/bin/python3 - "$OUT/runs.txt" "$SERVERS" "$SECS" <<'EOF'
import statistics as S, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
servers = sys.argv[2].split()
secs = float(sys.argv[3])
def spread(v, fmt="%.0f"):
    return (fmt + " [" + fmt + ".." + fmt + "]") % (S.median(v), min(v), max(v)) if v else "-"
print("# summary per flood rate: median [min..max] over the runs; failed = runs without figures")
for rate in dict.fromkeys(r[1] for r in rows):
    print("flood %s SYN/s" % rate)
    for srv in servers:
        rs = [r for r in rows if r[0] == srv and r[1] == rate]
        ok = [r for r in rs if r[2] != "fail"]
        col = lambda i: [float(r[i]) for r in ok]
        print("  %-11s conn/s %-22s failed ops %-14s connect p50 us %-20s p99 %-24s SYNs sent/s %s%s" % (
            srv, spread(col(2)), spread(col(3)), spread(col(4)), spread(col(5)),
            spread([v / secs for v in col(6)]),
            "  failed runs %d" % (len(rs) - len(ok)) if len(rs) != len(ok) else ""))
EOF
