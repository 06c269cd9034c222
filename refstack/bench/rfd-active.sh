#!/bin/bash
# Active connections (what haproxy does towards its backends): refstack with
# CORES cores on afpacket connects out to `tsload --server` in the Linux
# namespace (port 9000), each core one connection at a time, CONNS per core
# (tests/interop/rfd_active.c, -O2).  Feature sets alternate per round (A B,
# B A, ...); per run: connections/s (all cores), machine CPU per connection
# (/proc/stat busy jiffies), segments that landed away from their core.
# Not a test: prints medians, spread and paired ratios to the first set.
#   RUNS=5 CORES=2 CONNS=3000 SETS="base rfd" refstack/bench/rfd-active.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
. "$ROOT/tests/interop/lib/ns.sh"
RUNS=${RUNS:-5}
CORES=${CORES:-2}
CONNS=${CONNS:-3000}
SETS=${SETS:-base rfd}
OUT=$(mktemp -d /tmp/rs-rfdb.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
TSLOAD=$(cd "$ROOT/.." && pwd)/loadgen/tsload
BIN=$ROOT/build/bench/rfd_active
mkdir -p "$ROOT/build/bench"
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$BIN" \
	"$ROOT/tests/interop/rfd_active.c" "$ROOT/librefstack.a" -lxdp -lbpf -lpthread || exit 1
ns_up rb || exit 1
ip netns exec "$NS_L" timeout 3600 "$TSLOAD" --server --host="$NS_LINUX_IP" --port=9000 \
	--req_size=64 --resp_size=64 --threads=2 >"$OUT/srv.log" 2>&1 &
t_bg_add $!
t_wait_for "$OUT/srv.log" listening 10 || { echo "tsload --server did not start" >&2; exit 1; }
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
HZ=$(getconf CLK_TCK)
echo "# rfd-active $(date -u +%Y-%m-%dT%H:%MZ): runs=$RUNS cores=$CORES conns/core=$CONNS sets='$SETS'"
echo "# set conn_per_s machine_us_per_conn away_segments failed"
: >"$OUT/runs.txt"
for ((i = 1; i <= RUNS; i++)); do
	order=$SETS
	((i % 2)) || order=$(printf '%s\n' $SETS | tac | tr '\n' ' ')
	for set in $order; do
		b0=$(busy)
		ip netns exec "$NS_S" "$BIN" "$NS_SIF" "$NS_STACK_IP" "$NS_LINUX_IP" 9000 "$CORES" "$set" \
			"$CONNS" >"$OUT/run.out" 2>&1
		b1=$(busy)
		/usr/bin/python3 - "$OUT/run.out" "$set" $((b1 - b0)) "$HZ" <<'PY' | tee -a "$OUT/runs.txt"
import re, sys
txt = open(sys.argv[1]).read()
ok = sum(int(x) for x in re.findall(r" ok=(\d+)", txt))
failed = sum(int(x) for x in re.findall(r" failed=(\d+)", txt))
away = sum(int(x) for x in re.findall(r"steer_away=(\d+)", txt))
el = float(re.search(r"elapsed_s=([\d.]+)", txt).group(1))
busy, hz = int(sys.argv[3]), int(sys.argv[4])
print(sys.argv[2], "%.1f" % (ok / el), "%.2f" % (busy * 1e6 / hz / max(ok, 1)), away, failed)
PY
	done
done
/usr/bin/python3 - "$OUT/runs.txt" $SETS <<'PY'
import statistics as S, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
sets = sys.argv[2:]
col = lambda s, i: [float(r[i]) for r in rows if r[0] == s]
for s in sets:
    c, u = col(s, 1), col(s, 2)
    print("%-6s conn/s %.0f [%.0f..%.0f]  machine cpu/conn %.1f [%.1f..%.1f] us  away segments %d  failed %d" % (
        s, S.median(c), min(c), max(c), S.median(u), min(u), max(u), sum(col(s, 3)), sum(col(s, 4))))
for s in sets[1:]:
    for name, i in (("conn/s", 1), ("machine cpu/conn", 2)):
        pr = [a / b for a, b in zip(col(s, i), col(sets[0], i)) if b]
        print("paired ratio %s/%s %-16s median %.2f [%.2f..%.2f] over %d rounds" % (
            s, sets[0], name, S.median(pr), min(pr), max(pr), len(pr)))
PY
