#!/bin/bash
# memif connect-request-response-close benchmark (both stacks in one
# process): connections/s over REPS alternating runs (median and range),
# then instructions per connection from callgrind, as the difference
# between N2 and N1 connections divided by N2 - N1 (set-up costs cancel).
# SET: both stacks' feature set (memif_crr -f; default base).
# OFFLOAD=1: TCP checksum offload on the link (memif_crr -o), as Linux has
# on veth and loopback; the output says which.
# CC: both stacks' congestion control (memif_crr --cc reno|bbr; default:
# RS_CC, else the stack's default, bbr); the output says which.
cd "$(dirname "$0")/.." || exit 1
BIN=build/bench/memif_crr
N=${N:-200000}
REPS=${REPS:-5}
N1=${N1:-2000}
N2=${N2:-6000}
SET=${SET:-base}
OPTS=(-f "$SET")
csum="computed and checked"
if [ -n "${CC:-}" ]; then
	OPTS+=(--cc "$CC")
fi
if [ "${OFFLOAD:-0}" = 1 ]; then
	OPTS+=(-o)
	csum="offloaded (memif_crr -o)"
fi
[ -x "$BIN" ] || { echo "memif.sh: $BIN not built (make)"; exit 1; }
med() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f (min %.0f, max %.0f, n=%d)", m, a[1], a[NR], NR}'; }
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  host: $(uname -n)  kernel: $(uname -r)"
cc=$("$BIN" -n 1 "${OPTS[@]}" | awk '{print $NF}') || exit 1
echo "commit: $(git rev-parse --short HEAD 2>/dev/null)  feature set: $SET  TCP checksums: $csum  cc: $cc"
for c in 1 16; do
	r=$(for i in $(seq "$REPS"); do "$BIN" -n "$N" -c "$c" "${OPTS[@]}" | awk '{print $8}'; done | med)
	echo "memif crr, concurrency $c, $N connections: conn/s median $r"
done
if command -v valgrind >/dev/null; then
	tmp=$(mktemp -d /tmp/rsc-cg.XXXXXX)
	trap 'rm -rf "$tmp"' EXIT
	for c in 1 16; do
		for n in "$N1" "$N2"; do
			valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$c.$n" \
				"$BIN" -n "$n" -c "$c" "${OPTS[@]}" >/dev/null 2>&1
		done
		i1=$(awk '/^summary:/ {print $2}' "$tmp/cg.$c.$N1")
		i2=$(awk '/^summary:/ {print $2}' "$tmp/cg.$c.$N2")
		echo "callgrind, concurrency $c: $i1 Ir for $N1 conns, $i2 Ir for $N2 conns"
		echo "  instructions per connection (client + server stacks and" \
			"the benchmark loop): $(( (i2 - i1) / (N2 - N1) ))  (target: full, concurrency 16 <= 14000)"
	done
else
	echo "valgrind not installed: no instruction counts"
fi
