#!/bin/bash
# The afpacket backend alone (no TCP stack): a hand-made ARP/ICMP responder
# on rs_io_afpacket in a namespace whose interface has no kernel address,
# pinged by the Linux kernel from the peer namespace.  Checks RX ring, TX
# batch, oversize drop, TP_STATUS_CSUMNOTREADY, fanout membership, and that
# the kernel on the stack side stays silent.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

BIN=$ROOT/build/interop/afp_selftest
OUT=$(mktemp -d /tmp/rs-afpraw.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$ROOT/build/interop"
CC=${CC:-cc}
if ! $CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-o "$BIN" "$HERE/afp_selftest.c" "$ROOT/src/io_afpacket.c" "$ROOT/src/steer_bpf.c"; then
	t_fail "build afp_selftest"
	t_summary
	exit 1
fi

if ! ns_up raw; then
	t_fail "namespaces up"
	t_summary
	exit 1
fi
t_check "stack interface has no kernel IPv4 address" ns_stack_has_no_ip

val() { grep "^$2=" "$1" | cut -d= -f2; }
inL() { ip netns exec "$NS_L" "$@" >/dev/null; }

# start_responder NAME ARGS... — runs in the stack namespace, waits "ready"
start_responder() {
	local name=$1; shift
	timeout 30 ip netns exec "$NS_S" "$BIN" -a "$NS_STACK_IP" "$@" \
		>"$OUT/$name.out" 2>"$OUT/$name.err" &
	R_PID=$!
	t_bg_add "$R_PID"
	t_wait_for "$OUT/$name.out" ready 5 || return 1
	R_APP=$(sed -n 's/^ready pid \([0-9]*\)$/\1/p' "$OUT/$name.out")
}
stop_responder() { t_stop "$R_APP" "$R_PID"; }

# 1. kernel stays silent for the stack's address without a responder
t_check "kernel in stack namespace does not answer for $NS_STACK_IP" \
	bash -c "! ip netns exec $NS_L ping -c 1 -W 1 -q $NS_STACK_IP >/dev/null 2>&1"
inL ip neigh flush dev "$NS_LIF" >/dev/null 2>&1

# 2. ping through the responder: ARP then ICMP, both ways
start_responder basic -i "$NS_SIF" -t 20 || t_fail "responder ready"
t_check "kernel ping gets ARP + ICMP replies via afpacket" \
	inL ping -c 5 -i 0.2 -W 2 -q "$NS_STACK_IP"
t_check "1400-byte ping (full-size frames)" \
	inL ping -c 2 -i 0.2 -W 2 -s 1400 -q "$NS_STACK_IP"
# UDP from the kernel leaves its checksum to the (veth) offload
inL bash -c "for i in 1 2 3; do echo hello >/dev/udp/$NS_STACK_IP/9; done"
sleep 0.3
stop_responder
t_check "responder exited cleanly and printed counters" \
	grep -q '^tx_frames=' "$OUT/basic.out"
t_check "TX frames were sent (>= 7 replies)" \
	test "$(val "$OUT/basic.out" tx_frames)" -ge 7
t_check "TP_STATUS_CSUMNOTREADY frames seen and flagged" \
	test "$(val "$OUT/basic.out" rx_csum_partial)" -ge 3
t_check "own TX not looped back into the RX ring" \
	test "$(val "$OUT/basic.out" rx_outgoing)" -eq 0
t_check "no TX errors" test "$(val "$OUT/basic.out" tx_errors)" -eq 0

# 3. frames longer than frame_size are dropped and counted
start_responder small -i "$NS_SIF" -f 600 -t 20 || t_fail "responder ready (small)"
t_check "small ping still answered with frame_size=600" \
	inL ping -c 2 -i 0.2 -W 2 -q "$NS_STACK_IP"
t_check "1000-byte ping not answered with frame_size=600" \
	bash -c "! ip netns exec $NS_L ping -c 2 -i 0.2 -W 1 -s 1000 -q $NS_STACK_IP >/dev/null"
stop_responder
t_check "oversize frames counted" \
	test "$(val "$OUT/small.out" rx_oversize)" -ge 2

# 4. two sockets in one PACKET_FANOUT group (lb mode spreads frames)
start_responder fan -i "$NS_SIF,fanout=lb,block=8192" -q 2 -F 4242 -t 20 ||
	t_fail "responder ready (fanout)"
t_check "ping through a 2-socket fanout group" \
	inL ping -c 10 -i 0.1 -W 2 -q "$NS_STACK_IP"
stop_responder
t_check "both fanout members received frames" \
	test "$(val "$OUT/fan.out" q0_rx)" -gt 0 -a "$(val "$OUT/fan.out" q1_rx)" -gt 0

# 5. a tiny ring (16 frames in 4 blocks of 8 KiB) wraps under flood
start_responder flood -i "$NS_SIF,block=8192" -r 16 -t 30 || t_fail "responder ready (flood)"
ip netns exec "$NS_L" ping -f -c 1000 -W 1 "$NS_STACK_IP" >"$OUT/flood.ping" 2>&1
stop_responder
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$OUT/flood.ping")
echo "# flood: ${recv:-0}/1000 replies, the ring walked around $(val "$OUT/flood.out" rx_wraps) times"
t_check "flood ping through a 16-frame ring: >= 990/1000 replies" test "${recv:-0}" -ge 990
t_check "the ring wrapped (more than 8 times)" test "$(val "$OUT/flood.out" rx_wraps)" -gt 8

# 6. bad option strings are refused with a clear error
t_check "bad ifname option rejected" \
	bash -c "! ip netns exec $NS_S $BIN -i '$NS_SIF,batch=0' -a $NS_STACK_IP -t 1 2>$OUT/bad.err"
t_check "error names the interface spec" grep -q "open $NS_SIF,batch=0" "$OUT/bad.err"

for f in "$OUT"/*.err; do
	if grep -q "runtime error\|AddressSanitizer" "$f"; then
		t_fail "sanitizer report in $(basename "$f")"
		cat "$f"
	fi
done
t_summary
