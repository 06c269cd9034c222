#!/bin/bash
# RFD's classic-BPF fanout program in the kernel against the C classifier,
# frame by frame (steer_selftest.c): a veth pair in one namespace, N
# afpacket sockets in a PACKET_FANOUT_CBPF group on one end, crafted
# frames sent on the other; each frame must reach the member
# rs_steer_frame (src/steer.h) names.  States: 2, 3 (R = 4, folded) and 4
# cores with RFD, a listener set of 600 ports (three blocks of the jump
# list), no listener, RFD off (the 4-tuple hash alone).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

NS=rs-steer-n
OUT=$(mktemp -d /tmp/rs-steer.XXXXXX)
cleanup() { ip netns del "$NS" 2>/dev/null; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

BIN=$(t_build_tool "$ROOT" steer_selftest) || t_abort "build steer_selftest"
ip netns del "$NS" 2>/dev/null
ip netns add "$NS" || t_abort "namespace"
ns_sysctl_quiet "$NS"
ip -n "$NS" link add rs-steer-a type veth peer name rs-steer-b &&
	ip -n "$NS" link set rs-steer-a up && ip -n "$NS" link set rs-steer-b up ||
	t_abort "veth pair"

# run NAME NCORES RFD NLISTEN
run() {
	local name=$1
	shift
	if timeout 60 ip netns exec "$NS" "$BIN" rs-steer-a rs-steer-b "$@" 4000 \
		>"$OUT/$name.out" 2>"$OUT/$name.err"; then
		t_ok "$name: every frame on the core the C classifier names ($(cat "$OUT/$name.out"))"
	else
		t_fail "$name: $(cat "$OUT/$name.out") $(head -5 "$OUT/$name.err" | tr '\n' ' ')"
	fi
}
run "2 cores, rfd, 20 listeners" 2 1 20
run "3 cores (R=4), rfd, 20 listeners" 3 1 20
run "4 cores, rfd, 600 listeners" 4 1 600
run "4 cores, rfd, no listener" 4 1 0
run "4 cores, no rfd (hash)" 4 0 20
t_check "frames spread over every core (4 cores, rfd)" \
	grep -Eq 'per_core=[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*$' "$OUT/4 cores, rfd, 600 listeners.out"
for f in "$OUT"/*.err; do
	grep -q "runtime error\|AddressSanitizer" "$f" && t_fail "sanitizer report in $f"
done
t_summary
