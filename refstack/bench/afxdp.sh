#!/bin/bash
# afxdp vs afpacket, frames per second on one core: the backend alone (no
# TCP stack) answering ICMP echo requests that bench/frame-blast.c floods
# from the Linux namespace over one veth pair (one queue; native XDP, copy
# mode for afxdp).  Responder: tests/interop/afp_selftest.c on afpacket,
# tests/interop/xsk_selftest.c on afxdp (the same lib/responder.h), pinned
# to CPU 1; the blaster on CPU 0.  Rounds alternate (A B, B A, ...).
# Prints per run: replies/s seen by the blaster (frames/s the responder
# received AND sent), the responder's CPU seconds per million replies
# (utime+stime of its process), and the blaster's send rate.  Not a test.
#   RUNS=5 SECS=5 refstack/bench/afxdp.sh
# connections/s beside afpacket: STACKS="refstack afxdp" bench/afpacket.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
. "$ROOT/tests/interop/lib/ns.sh"

RUNS=${RUNS:-5}
SECS=${SECS:-5}
OUT=$(mktemp -d /tmp/rs-xskbench.XXXXXX)
RESULTS=${RESULTS:-$ROOT/build/bench/afxdp-results.txt}
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -f "$ROOT/librefstack.a" ] || { echo "afxdp.sh: build refstack first (make -C refstack)" >&2; exit 1; }
mkdir -p "$ROOT/build/bench" "$(dirname "$RESULTS")"
CFL="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I$ROOT/build/bpf"
BLAST=$ROOT/build/bench/frame-blast
AFP=$ROOT/build/bench/afp_selftest
XSK=$ROOT/build/bench/xsk_selftest
${CC:-cc} $CFL -o "$BLAST" "$HERE/frame-blast.c" "$ROOT/src/io_afpacket.c" "$ROOT/src/steer_bpf.c" || exit 1
${CC:-cc} $CFL -o "$AFP" "$ROOT/tests/interop/afp_selftest.c" "$ROOT/src/io_afpacket.c" "$ROOT/src/steer_bpf.c" || exit 1
${CC:-cc} $CFL -o "$XSK" "$ROOT/tests/interop/xsk_selftest.c" "$ROOT/librefstack.a" \
	-lxdp -lbpf -lpthread || exit 1

NS_TXCSUM=off
ns_up xb || { echo "afxdp.sh: namespaces" >&2; exit 1; }
# the stack answers for its address; the Linux end must know the MAC
ip -n "$NS_L" neigh replace "$NS_STACK_IP" lladdr "$NS_SMAC" dev "$NS_LIF" nud permanent

# busy jiffies of the whole machine (both CPUs: the kernel's veth, XDP and
# copy work runs in softirq on the sending CPU)
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)

# run_one BACKEND — one measured blast; prints
# "BACKEND replies_per_s cpu_s_per_mreply sent_per_s responder_rx"
run_one() {
	local be=$1 bin job pid t0 t1 b0 b1
	bin=$AFP
	[ "$be" = afxdp ] && bin=$XSK
	taskset -c 1 timeout $((SECS + 30)) ip netns exec "$NS_S" "$bin" -i "$NS_SIF" \
		-a "$NS_STACK_IP" -t $((SECS + 20)) >"$OUT/resp.out" 2>"$OUT/resp.err" &
	job=$!
	t_bg_add "$job"
	t_wait_for "$OUT/resp.out" ready 10 || { cat "$OUT/resp.err" >&2; return 1; }
	pid=$(sed -n 's/^ready pid \([0-9]*\)$/\1/p' "$OUT/resp.out")
	# warm-up, not measured
	taskset -c 0 ip netns exec "$NS_L" "$BLAST" -i "$NS_LIF" -m "$NS_SMAC" \
		-s "$NS_LINUX_IP" -d "$NS_STACK_IP" -t 0.5 >/dev/null
	t0=$(proc_ticks "$pid")
	b0=$(cpu_busy)
	taskset -c 0 ip netns exec "$NS_L" "$BLAST" -i "$NS_LIF" -m "$NS_SMAC" \
		-s "$NS_LINUX_IP" -d "$NS_STACK_IP" -t "$SECS" >"$OUT/blast.out"
	t1=$(proc_ticks "$pid")
	b1=$(cpu_busy)
	t_stop "$pid" "$job"
	/usr/bin/python3 - "$be" "$OUT/blast.out" "$OUT/resp.out" $((t1 - t0)) "$HZ" $((b1 - b0)) <<'EOF'
import sys
be, blast, resp = sys.argv[1:4]
ticks, hz, busy = (int(x) for x in sys.argv[4:7])
b = dict(l.strip().split("=", 1) for l in open(blast) if "=" in l)
r = dict(l.strip().split("=", 1) for l in open(resp) if "=" in l)
rep = max(int(b["replies"]), 1)
print(be, b["replies_per_s"], "%.3f" % (ticks / hz * 1e6 / rep), b["sent_per_s"],
      r.get("rx_frames", "?"), "%.3f" % (busy / hz * 1e6 / rep))
EOF
}

echo "# afxdp frame-rate benchmark $(date -u +%Y-%m-%dT%H:%MZ): runs=$RUNS secs=$SECS kernel=$(uname -r)"
echo "# backend replies_per_s responder_cpu_s_per_million sent_per_s responder_rx_frames machine_cpu_s_per_million"
: >"$OUT/runs.txt"
for ((i = 1; i <= RUNS; i++)); do
	if ((i % 2)); then order="afpacket afxdp"; else order="afxdp afpacket"; fi
	for be in $order; do
		run_one "$be" | tee -a "$OUT/runs.txt"
	done
done
cp "$OUT/runs.txt" "$RESULTS"
/usr/bin/python3 - "$OUT/runs.txt" <<'EOF'
import statistics as S, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def col(be, i): return [float(r[i]) for r in rows if r[0] == be]
print("# summary (median [min..max])")
for be in ("afpacket", "afxdp"):
    f, c, m = col(be, 1), col(be, 2), col(be, 5)
    if f:
        print("%-9s replies/s %9.0f [%.0f..%.0f]  CPU s per 1e6 replies: responder %5.2f [%.2f..%.2f], machine %5.2f [%.2f..%.2f]" % (
            be, S.median(f), min(f), max(f), S.median(c), min(c), max(c), S.median(m), min(m), max(m)))
a, x = col("afxdp", 1), col("afpacket", 1)
if a and x:
    pr = [p / q for p, q in zip(a, x)]
    pc = [p / q for p, q in zip(col("afxdp", 2), col("afpacket", 2))]
    pm = [p / q for p, q in zip(col("afxdp", 5), col("afpacket", 5))]
    print("paired ratio afxdp/afpacket over %d rounds, median [min..max]: replies/s %.2f [%.2f..%.2f], "
          "responder CPU per reply %.2f [%.2f..%.2f], machine CPU per reply %.2f [%.2f..%.2f]" % (
        len(pr), S.median(pr), min(pr), max(pr), S.median(pc), min(pc), max(pc), S.median(pm), min(pm), max(pm)))
EOF
