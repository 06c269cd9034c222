#!/bin/bash
# The virtual-core benchmark (bench/vcores.c): for every feature set in
# SETS, core count in CORES and mode in MODES (passive: the measured stack
# accepts; active: it connects out), per connection: shared-lock
# acquisitions, cross-core hand-offs and global table lookups of the
# measured stack, and (callgrind, CG=1) instructions of both stacks and
# the driving loop.  Every figure is the difference between a run of N2
# and one of N1 connections divided by N2 - N1, so that set-up (cores,
# tables, ARP) cancels; time is virtual, so the counts repeat exactly.
#   SETS="base full" CORES="1 24" MODES=passive CG=0 bench/vcores.sh
cd "$(dirname "$0")/.." || exit 1
BIN=build/bench/vcores
SETS=${SETS:-"base listen estab rfd fastfd full"}
CORES=${CORES:-"1 2 4 8 16 24"}
MODES=${MODES:-"passive active"}
CONC=${CONC:-16}
N1=${N1:-500}
N2=${N2:-1500}
CG=${CG:-1}
[ -x "$BIN" ] || { echo "vcores.sh: $BIN not built (make)"; exit 1; }
if [ "$CG" = 1 ] && ! command -v valgrind >/dev/null; then
	echo "vcores.sh: valgrind not installed: CG=0 for counts only"
	exit 1
fi
tmp=$(mktemp -d /tmp/rsc-vc.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'; }
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  host: $(uname -n)  commit: $(git rev-parse --short HEAD 2>/dev/null)"
echo "concurrency $CONC, per connection = (run of $N2 - run of $N1) / $((N2 - N1))"
printf '%-8s %-8s %5s %12s %10s %10s %12s\n' set mode cores locks/conn \
	handoffs globallkp instr/conn
for set in $SETS; do
	for mode in $MODES; do
		for n in $CORES; do
			args=(-s "$set" -N "$n" -m "$mode" -c "$CONC")
			"$BIN" "${args[@]}" -n "$N1" >"$tmp/a" || exit 1
			"$BIN" "${args[@]}" -n "$N2" >"$tmp/b" || exit 1
			per() { # metric: per-connection value from the two runs
				awk -v a="$(field "$1" <"$tmp/a")" -v b="$(field "$1" <"$tmp/b")" \
					-v n1="$N1" -v n2="$N2" \
					'BEGIN { printf "%.3f", (b - a) / (n2 - n1) }'
			}
			ir=-
			if [ "$CG" = 1 ]; then
				for k in "$N1" "$N2"; do
					valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$k" \
						"$BIN" "${args[@]}" -n "$k" >/dev/null 2>&1 || exit 1
				done
				i1=$(awk '/^summary:/ {print $2}' "$tmp/cg.$N1")
				i2=$(awk '/^summary:/ {print $2}' "$tmp/cg.$N2")
				ir=$(( (i2 - i1) / (N2 - N1) ))
			fi
			printf '%-8s %-8s %5s %12s %10s %10s %12s\n' "$set" "$mode" "$n" \
				"$(per locks)" "$(per handoffs)" \
				"$(per global_lookups)" "$ir"
		done
	done
done
