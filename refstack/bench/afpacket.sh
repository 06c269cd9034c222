#!/bin/bash
# afpacket benchmark: the crr server (rs-crrd, one server logic) on
# refstack over AF_PACKET vs on the Linux kernel's sockets; same Linux
# client, same namespaces, same address, alternating runs (A B B A ...).
# Prints connections/s, latency (p50/p99, tsload client) and two CPU costs
# per connection, medians, spread and ratios, for each concurrency of a
# sweep.  Not a test: no pass/fail.
#   machine: all cores from /proc/stat (what the issue asks for; on veth
#            part of the receiver's work is charged to the sender) - it
#            also counts everything else running on the box;
#   lab:     server + client processes only (utime+stime; softirq work
#            done in their context is charged to them: tick accounting,
#            no IRQ_TIME_ACCOUNTING), robust to other load on the box.
#
#   RUNS=5 SECS=8 CONC="1 2 4 16 64" REQ=64 RESP=64 refstack/bench/afpacket.sh
# CONC: one concurrency or a list (the sweep; rounds alternate the stacks
# within each concurrency).  RS_IFOPTS: afpacket options appended to the
# interface (io_afpacket.h); RS_ARGS: more rs-crrd options for the
# refstack runs (e.g. "--busy-poll 0").
# STACKS: the servers compared, in the order of odd rounds (reversed in
# even ones): refstack (on afpacket), refstack:SET (on afpacket with the
# feature set SET, e.g. refstack:base refstack:rfd refstack:full), afxdp
# (refstack on afxdp, with XSK_IFOPTS, io_afxdp.h), linux; default
# "refstack linux".  CORES: refstack's server cores (--cores, one thread
# each; default 1).  The server is pinned to SRV_CPUS and the client to
# CLIENT_CPUS (defaults 1 and 0; with CORES > 1 both default to 0-1: the
# two server threads need both CPUs and share them with the client).
# RATIOS=first: paired ratios of every stack to the first one only
# (default: every pair).  With afxdp
# the Linux end computes its own checksums for every stack of the run
# (tests/interop/afxdp.sh says why).
#
# For the Linux runs the stack's interface gets 198.18.20.2 for the
# duration of the run (and loses it afterwards), so both servers sit at
# the same address behind the same veth.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
. "$ROOT/tests/interop/lib/ns.sh"

RUNS=${RUNS:-5}
SECS=${SECS:-8}
CONC=${CONC:-64}
REQ=${REQ:-64}
RESP=${RESP:-64}
RS_IFOPTS=${RS_IFOPTS:-}
RS_ARGS=${RS_ARGS:-}
XSK_IFOPTS=${XSK_IFOPTS:-}
STACKS=${STACKS:-refstack linux}
CORES=${CORES:-1}
if [ "$CORES" -gt 1 ]; then
	SRV_CPUS=${SRV_CPUS:-0-1} CLIENT_CPUS=${CLIENT_CPUS:-0-1}
else
	SRV_CPUS=${SRV_CPUS:-1} CLIENT_CPUS=${CLIENT_CPUS:-0}
fi
RATIOS=${RATIOS:-all}
PORT=12865
OUT=$(mktemp -d /tmp/rs-bench.XXXXXX)
RESULTS=${RESULTS:-$ROOT/build/bench/afpacket-results.txt}
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

CRRD=$(t_bin "$ROOT" rs-crrd) || { echo "afpacket.sh: build rs-crrd first (make -C refstack)" >&2; exit 1; }
mkdir -p "$ROOT/build/bench" "$(dirname "$RESULTS")"
# The client: loadgen's tsload (crr engine) when it is built, else the
# small client here (same protocol).  CLIENT=builtin forces the latter.
TSLOAD=$(cd "$ROOT/.." && pwd)/loadgen/tsload
CLIENT_KIND=${CLIENT:-auto}
if [ "$CLIENT_KIND" != builtin ] && [ -x "$TSLOAD" ]; then
	CLIENT_KIND=tsload
else
	CLIENT_KIND=builtin
fi
CLIENT=$ROOT/build/bench/afpacket-client
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$CLIENT" "$HERE/afpacket-client.c" || exit 1

# run_client SECONDS — one closed-loop run, JSON in the builtin's format
run_client() {
	if [ "$CLIENT_KIND" = builtin ]; then
		ip netns exec "$NS_L" timeout $(($1 + 30)) "$CLIENT" "$NS_STACK_IP" $PORT \
			"$CONC" "$1" "$REQ" "$RESP"
		return
	fi
	ip netns exec "$NS_L" timeout $(($1 + 30)) "$TSLOAD" --engine=crr --host="$NS_STACK_IP" \
		--port=$PORT --concurrency="$CONC" --runtime="$1s" --req_size="$REQ" \
		--resp_size="$RESP" --output-format=json >"$OUT/tsload.json" || return 1
	/usr/bin/python3 - "$OUT/tsload.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(json.dumps({"conns": j["connections"], "errors": j["errors"]["total"],
                  "connect_errors": 0, "seconds": j["elapsed_s"], "cps": j["cps"],
                  "concurrency": j["options"]["concurrency"],
                  "cpu_s": j["cpu"]["user_s"] + j["cpu"]["sys_s"],
                  "p50_us": j["latency_us"]["total"]["percentiles"]["50"],
                  "p99_us": j["latency_us"]["total"]["percentiles"]["99"]}))
EOF
}
HZ=$(getconf CLK_TCK)

case " $STACKS " in *" afxdp "*) NS_TXCSUM=off ;; esac
ns_up bn || { echo "afpacket.sh: namespaces" >&2; exit 1; }
ip netns exec "$NS_L" sysctl -qw net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1

# busy and total jiffies of the whole machine
cpu_jiffies() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6}' /proc/stat; }

# process CPU ticks (utime + stime) of a pid
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# run_one STACK - prints "STACK cps machine_us_per_conn conns errors
# busy_pct lab_us_per_conn p50_us p99_us conc"
run_one() {
	local stack=$1 pid spid sticks sticks0 ifspec=$NS_SIF extra=() srv=$1
	case $stack in
	refstack | refstack:*)
		ifspec="$NS_SIF$RS_IFOPTS" srv=refstack
		read -r -a extra <<<"$RS_ARGS --cores $CORES"
		[ "$stack" = refstack ] || extra+=(--features "${stack#refstack:}")
		;;
	esac
	if [ "$stack" = afxdp ]; then
		ifspec="$NS_SIF$XSK_IFOPTS" srv=refstack
		read -r -a extra <<<"--io afxdp $RS_ARGS --cores $CORES"
	fi
	if [ "$stack" = linux ]; then
		ip -n "$NS_S" addr add "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF" || return 1
	fi
	taskset -c "$SRV_CPUS" timeout $((SECS + 60)) ip netns exec "$NS_S" "$CRRD" --stack "$srv" \
		--if "$ifspec" --port $PORT --req "$REQ" --resp "$RESP" "${extra[@]}" >"$OUT/srv.log" 2>&1 &
	pid=$!
	t_bg_add "$pid"
	t_wait_for "$OUT/srv.log" listening 10 || { echo "server $stack did not start" >&2; cat "$OUT/srv.log" >&2; }
	# warm-up (ARP, caches), not measured
	run_client 1 >/dev/null
	spid=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/srv.log")
	sticks0=$(proc_ticks "${spid:-0}")
	read -r b0 t0 < <(cpu_jiffies)
	taskset -c "$CLIENT_CPUS" bash -c "$(declare -f run_client); $(declare -p CLIENT_KIND CLIENT TSLOAD NS_L NS_STACK_IP PORT CONC REQ RESP OUT); run_client $SECS" >"$OUT/cl.json"
	read -r b1 t1 < <(cpu_jiffies)
	sticks=$(proc_ticks "${spid:-0}")
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if [ "$stack" = linux ]; then
		ip -n "$NS_S" addr del "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF"
	fi
	/usr/bin/python3 - "$stack" "$OUT/cl.json" $((b1 - b0)) $((t1 - t0)) "$HZ" "$sticks0" "$sticks" "$CONC" <<'EOF'
import json, sys
st, f = sys.argv[1], sys.argv[2]
busy, tot, hz, s0, s1, conc = (int(x) for x in sys.argv[3:9])
d = json.load(open(f))
conns = max(d["conns"], 1)
lab = (s1 - s0) / hz + d["cpu_s"]
print(st, "%.1f" % d["cps"], "%.2f" % (busy * 1e6 / hz / conns), d["conns"], d["errors"] + d["connect_errors"],
      "%.1f" % (100.0 * busy / max(tot, 1)), "%.2f" % (lab * 1e6 / conns),
      d.get("p50_us", "nan"), d.get("p99_us", "nan"), conc)
EOF
}

echo "# afpacket crr benchmark $(date -u +%Y-%m-%dT%H:%MZ): runs=$RUNS secs=$SECS conc='$CONC' req=$REQ resp=$RESP client=$CLIENT_KIND ifopts='$RS_IFOPTS' rs_args='$RS_ARGS' stacks='$STACKS' cores=$CORES srv_cpus=$SRV_CPUS client_cpus=$CLIENT_CPUS xsk_ifopts='$XSK_IFOPTS'"
echo "# stack cps machine_us_per_conn conns errors machine_busy_pct lab_us_per_conn p50_us p99_us conc"
CONCS=$CONC
: >"$OUT/runs.txt"
for CONC in $CONCS; do
	for ((i = 1; i <= RUNS; i++)); do
		order=$STACKS
		((i % 2)) || order=$(printf '%s\n' $STACKS | tac | tr '\n' ' ')
		for s in $order; do
			run_one "$s" | tee -a "$OUT/runs.txt"
		done
	done
done
cp "$OUT/runs.txt" "$RESULTS"
/usr/bin/python3 - "$OUT/runs.txt" "$RATIOS" $STACKS <<'EOF'
import math, statistics as S, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ratios, stacks = sys.argv[2], sys.argv[3:]
def col(stack, conc, i):
    return [float(r[i]) for r in rows if r[0] == stack and r[9] == conc]
def spread(v, fmt):
    return (fmt + " [" + fmt + ".." + fmt + "]") % (S.median(v), min(v), max(v))
concs = sorted({r[9] for r in rows}, key=int)
print("# summary per concurrency (median [min..max])")
for conc in concs:
    n = 0
    for st in stacks:
        c, u, l = col(st, conc, 1), col(st, conc, 2), col(st, conc, 6)
        p50, p99 = col(st, conc, 7), col(st, conc, 8)
        if not c:
            print("conc %s %s no runs" % (conc, st)); continue
        n += 1
        print("conc %-3s %-9s conn/s %s  p50 us %s  p99 us %s  machine cpu/conn %s us  lab cpu/conn %s us  errors %d" % (
            conc, st, spread(c, "%.0f"), spread(p50, "%.0f"), spread(p99, "%.0f"),
            spread(u, "%.1f"), spread(l, "%.1f"), sum(col(st, conc, 4))))
    if n < 2:
        continue
    # the i-th run of each stack ran in the same round, side by side;
    # every stack against each one after it (refstack/linux by default)
    pairs = ([(a, stacks[0]) for a in stacks[1:]] if ratios == "first" else
             [(a, b) for k, a in enumerate(stacks) for b in stacks[k + 1:]])
    for top, base in pairs:
        for name, i in (("conn/s", 1), ("p50", 7), ("p99", 8), ("machine cpu/conn", 2),
                        ("lab cpu/conn", 6)):
            pr = [a / b for a, b in zip(col(top, conc, i), col(base, conc, i))
                  if b and not math.isnan(a) and not math.isnan(b)]
            if pr:
                print("conc %-3s paired ratio %s/%s %-12s median %.2f [%.2f..%.2f] over %d rounds" % (
                    conc, top, base, name, S.median(pr), min(pr), max(pr), len(pr)))
EOF
