#!/bin/bash
# The afxdp backend on a veth pair with RS_XSK_QUEUES (2) RX/TX queues per
# end, native XDP (veth has it; copy mode: veth has no zero-copy).
#  1. the backend alone: xsk_selftest (ARP/ICMP responder, lib/responder.h)
#     with one instance per queue and with one instance owning both;
#     frames reach every queue's socket, the XDP program leaves with the
#     process (bpf_link), also after SIGKILL;
#     steering: TCP segments to 64 ports (RFD: port P belongs to core
#     P & 1) land on either queue; without steering about half reach the
#     wrong core (the XDP program counts them as "away"), with steer=xdp
#     the program puts each one in its owner's guest socket on the arrival
#     queue: none misplaced;
#  2. every open error a user can cause names the interface and the reason;
#  3. the Linux tsload crr client against rs-crrd on afxdp: zero errors;
#  4. curl fetches a file from rs-httpd on afxdp, byte-exact.
# The Linux end computes its own checksums (NS_TXCSUM=off): on veth the
# XDP program sees a CHECKSUM_PARTIAL skb's data before the checksum is
# filled in, and AF_XDP has no flag for it (afpacket has
# TP_STATUS_CSUMNOTREADY).  A NIC delivers complete checksums.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

MB=${RS_XSK_MB:-20}
OUT=$(mktemp -d /tmp/rs-xsk.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

LIB=$ROOT/build/asan/librefstack-asan.a
BIN=$ROOT/build/interop/xsk_selftest
mkdir -p "$ROOT/build/interop"
${CC:-cc} -std=c11 -D_GNU_SOURCE -I"$ROOT/build/bpf" -Wall -Wextra -Werror -g -O1 \
	-fsanitize=address,undefined -fno-sanitize-recover=all -o "$BIN" \
	"$HERE/xsk_selftest.c" "$LIB" -lxdp -lbpf -lpthread || t_abort "xsk_selftest builds"
CRRD=$(t_app "$ROOT" rs-crrd) || t_abort "rs-crrd is built"
HTTPD=$(t_app "$ROOT" rs-httpd) || t_abort "rs-httpd is built"
RSCTL=$(t_app "$ROOT" rsctl) || t_abort "rsctl is built"
TSLOAD=$(cd "$ROOT/.." && pwd)/loadgen/tsload
[ -x "$TSLOAD" ] || t_abort "tsload is built (make -C loadgen)"

NS_QUEUES=${RS_XSK_QUEUES:-2}
NS_TXCSUM=off
Q=$NS_QUEUES
ns_up xsk || t_abort "namespaces up"
t_check "stack interface has no kernel IPv4 address" ns_stack_has_no_ip
inL() { ip netns exec "$NS_L" "$@"; }
val() { grep "^$2=" "$1" | cut -d= -f2; }
has_xdp() { ip -n "$NS_S" link show dev "$NS_SIF" | grep -q " xdp"; }

# ---- 1. the backend alone ---------------------------------------------------
# start_selftest NAME IFSPEC CORES — waits for "ready"; sets R_APP, R_JOB.
# If it is not ready within 10 s (or exits first), R_WHY says how and why
# (the program's stderr), for the caller's FAIL line: run-all.sh shows only
# the last 40 lines of a script, the FAIL lines are what a CI log keeps.
start_selftest() {
	local i
	R_APP= R_WHY=
	timeout 30 ip netns exec "$NS_S" "$BIN" -i "$2" -a "$NS_STACK_IP" -c "$3" -t 25 \
		>"$OUT/$1.out" 2>"$OUT/$1.err" &
	R_JOB=$!
	t_bg_add "$R_JOB"
	for ((i = 0; i < 100; i++)); do
		grep -q '^ready pid' "$OUT/$1.out" 2>/dev/null && break
		kill -0 "$R_JOB" 2>/dev/null || break
		sleep 0.1
	done
	R_APP=$(sed -n 's/^ready pid \([0-9]*\)$/\1/p' "$OUT/$1.out")
	[ -n "$R_APP" ] && return 0
	t_why "$R_JOB" "$OUT/$1.err"
	R_WHY="no ready line in 10 s, $T_WHY"
	cat "$OUT/$1.err"
	return 1
}
# UDP datagrams to 64 ports: the Linux end hashes flows over its TX
# queues, which are the stack end's RX queues
udp_spray() {
	inL bash -c "for p in \$(seq 2000 2063); do echo x >/dev/udp/$NS_STACK_IP/\$p; done"
}

start_selftest percore "$NS_SIF" "$Q" || t_fail "selftest ready ($Q cores, one queue each): $R_WHY"
t_check "XDP program attached while the backend is open" has_xdp
t_check "kernel ping gets ARP + ICMP replies via afxdp" \
	inL ping -c 5 -i 0.2 -W 2 -q "$NS_STACK_IP"
t_check "1400-byte ping (full-size frames)" inL ping -c 2 -i 0.2 -W 2 -s 1400 -q "$NS_STACK_IP"
udp_spray
inL ping -f -c 1000 -W 1 "$NS_STACK_IP" >"$OUT/flood.ping" 2>&1
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$OUT/flood.ping")
t_stop "$R_APP" "$R_JOB"
sed 's/^/# /' "$OUT/percore.out"
t_check "flood ping: >= 990/1000 replies (got ${recv:-0})" test "${recv:-0}" -ge 990
for ((c = 0; c < Q; c++)); do
	t_check "core $c has one socket, on queue $c" test "$(val "$OUT/percore.out" c${c}_queues)" = 1
	t_check "core $c received frames" test "$(val "$OUT/percore.out" c${c}_rx)" -gt 0
done
t_check "no frame passed to the kernel, none dropped" \
	test "$(val "$OUT/percore.out" xdp_pass)" = 0 -a "$(val "$OUT/percore.out" rx_dropped)" = 0
t_check "every frame the program saw reached a socket" \
	test "$(val "$OUT/percore.out" xdp_rx)" = "$(val "$OUT/percore.out" rx_frames)"
t_check "TX: >= 1000 replies sent, no invalid descriptor" \
	test "$(val "$OUT/percore.out" tx_frames)" -ge 1000 -a "$(val "$OUT/percore.out" tx_invalid)" = 0
t_check "veth binds in copy mode (no zero-copy driver)" test "$(val "$OUT/percore.out" zerocopy)" = 0
t_check "XDP program gone after the process exited" t_not has_xdp

start_selftest onecore "$NS_SIF,wakeup=0" 1 || t_fail "selftest ready (1 core, $Q queues): $R_WHY"
t_check "one core owning $Q queues answers ping (wakeup=0)" \
	inL ping -c 3 -i 0.2 -W 2 -q "$NS_STACK_IP"
udp_spray
sleep 0.2
kill -KILL "$R_APP"
wait "$R_JOB" 2>/dev/null
t_check "XDP program gone after SIGKILL (bpf_link)" t_not has_xdp

start_selftest skb "$NS_SIF,xdp=skb,bind=copy" 1 || t_fail "selftest ready (generic XDP): $R_WHY"
t_check "generic XDP (xdp=skb) answers ping" inL ping -c 3 -i 0.2 -W 2 -q "$NS_STACK_IP"
t_stop "$R_APP" "$R_JOB"
t_check "1 core: $Q sockets (got $(val "$OUT/skb.out" c0_queues))" \
	test "$(val "$OUT/skb.out" c0_queues)" = "$Q"

# TCP SYNs from the Linux end to 64 ports, each from a new source port
tcp_spray() {
	local p pids=()
	for p in $(seq 3000 3063); do
		inL timeout 0.3 bash -c "echo x >/dev/tcp/$NS_STACK_IP/$p" 2>/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
}
sum() { echo $(($(val "$1" c0_$2) + $(val "$1" c1_$2))); }
if [ "$Q" = 2 ]; then
	start_selftest nosteer "$NS_SIF" 2 || t_fail "selftest ready (2 cores, no steering): $R_WHY"
	tcp_spray
	t_stop "$R_APP" "$R_JOB"
	mis=$(sum "$OUT/nosteer.out" tcp_misplaced)
	echo "# no steering: $mis of $(sum "$OUT/nosteer.out" tcp) TCP segments on the wrong core," \
		"XDP counted $(val "$OUT/nosteer.out" xdp_away) away"
	t_check "without steering, segments reach the wrong core" test "$mis" -gt 0
	t_check "the XDP program's away count is the misplaced count" \
		test "$(val "$OUT/nosteer.out" xdp_away)" = "$mis"

	start_selftest steer "$NS_SIF,steer=xdp" 2 || t_fail "selftest ready (steer=xdp): $R_WHY"
	t_check "steer=xdp: ping still answered" inL ping -c 3 -i 0.2 -W 2 -q "$NS_STACK_IP"
	tcp_spray
	t_stop "$R_APP" "$R_JOB"
	sed 's/^/# /' "$OUT/steer.out" | grep -E "c._|xdp_"
	t_check "steer=xdp: every core has a socket on each queue" \
		test "$(val "$OUT/steer.out" c0_queues)" = 2 -a "$(val "$OUT/steer.out" c1_queues)" = 2
	t_check "steer=xdp: TCP segments seen on both cores" \
		test "$(val "$OUT/steer.out" c0_tcp)" -gt 0 -a "$(val "$OUT/steer.out" c1_tcp)" -gt 0
	t_check "steer=xdp: no TCP segment on the wrong core" \
		test "$(sum "$OUT/steer.out" tcp_misplaced)" = 0
	t_check "steer=xdp: every away segment steered, through guest sockets" \
		test "$(val "$OUT/steer.out" xdp_steered)" = "$(val "$OUT/steer.out" xdp_away)" -a \
		"$(val "$OUT/steer.out" xdp_steered)" -gt 0 -a \
		"$(sum "$OUT/steer.out" rx_guest)" = "$(val "$OUT/steer.out" xdp_steered)"
fi

# ---- 2. errors that name the interface and the reason -----------------------
# open_fails NAME IFSPEC CORES PATTERN — the open fails with PATTERN
open_fails() {
	! ip netns exec "$NS_S" "$BIN" -i "$2" -a "$NS_STACK_IP" -c "$3" -t 1 \
		>/dev/null 2>"$OUT/$1.err" || return 1
	sed 's/^/# /' "$OUT/$1.err"
	grep -q -- "$4" "$OUT/$1.err"
}
t_check "more cores than queues refused, queue count named" \
	open_fails fewq "$NS_SIF" $((Q + 1)) "$NS_SIF has $Q RX queues for $((Q + 1)) cores"
ip -n "$NS_S" link set dev lo mtu 1500
t_check "no native XDP (lo) named, xdp=skb suggested" \
	open_fails lo lo 1 "lo: the driver has no native XDP"
t_check "zero-copy refused on veth, bind=copy suggested" \
	open_fails zc "$NS_SIF,bind=zc" 1 "$NS_SIF: cannot bind .*no zero-copy"
t_check "unknown interface named" open_fails nodev rs-xsk-none 1 "no interface rs-xsk-none"
t_check "bad option named" open_fails badopt "$NS_SIF,frames=100" 1 "frames=100 is not a power of two"
ip -n "$NS_S" link set dev "$NS_SIF" mtu 3000
t_check "MTU too large for a UMEM frame" open_fails mtu "$NS_SIF" 1 "MTU 3000 does not fit"
ip -n "$NS_S" link set dev "$NS_SIF" mtu 1500
ip -n "$NS_S" link set dev "$NS_SIF" xdpgeneric obj "$ROOT/build/bpf/rs_xsk.bpf.o" sec xdp
t_check "another XDP program on the interface named" \
	open_fails busy "$NS_SIF" 1 "$NS_SIF: another XDP program is attached"
ip -n "$NS_S" link set dev "$NS_SIF" xdpgeneric off
t_check "the app prints the backend's reason" bash -c \
	"! ip netns exec $NS_S $CRRD --stack refstack --io afxdp --if rs-xsk-none 2>$OUT/app.err; grep -q 'no interface rs-xsk-none' $OUT/app.err"
t_check "the app refuses an unknown backend" bash -c \
	"! ip netns exec $NS_S $CRRD --stack refstack --io nosuch --if $NS_SIF 2>$OUT/app2.err; grep -q 'unknown backend' $OUT/app2.err"

# ---- 3. crr from the Linux tsload client --------------------------------------
timeout 60 ip netns exec "$NS_S" "$CRRD" --stack refstack --io afxdp --if "$NS_SIF" \
	--time-wait-ms 5000 --req 64 --resp 200 >"$OUT/crrd.log" 2>&1 &
S_JOB=$!
t_bg_add "$S_JOB"
t_wait_for "$OUT/crrd.log" listening 10 ||
	{ t_why "$S_JOB" "$OUT/crrd.log"; t_fail "rs-crrd on afxdp started ($T_WHY)"; }
S_PID=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/crrd.log")
inL timeout 30 "$TSLOAD" --engine=crr --host="$NS_STACK_IP" --port=12865 --concurrency=32 \
	--runtime=3s --req_size=64 --resp_size=200 --output-format=json >"$OUT/tsload.json"
jq() { /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(eval(sys.argv[2]))' "$OUT/tsload.json" "$1"; }
conns=$(jq 'j["connections"]')
echo "# tsload -> rs-crrd on afxdp: ${conns:-0} connections in 3 s"
t_check "tsload completed > 500 connections" test "${conns:-0}" -gt 500
t_check "zero tsload errors" test "$(jq 'j["errors"]["total"]')" = 0
sleep 0.3
"$RSCTL" -p "$S_PID" --json counters >"$OUT/rsctl.json"
t_check "rsctl: the afxdp counters (one core, $Q queues, frames on them)" \
	/usr/bin/python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["instances"][0]["cores"][0]["counters"]
assert c["xsk_nqueues"] == int(sys.argv[2]), c["xsk_nqueues"]
assert c["xsk_rx_frames"] > 1000 and c["xsk_xdp_rx"] >= c["xsk_rx_frames"], c
assert c["xsk_xdp_pass"] == 0 and c["xsk_rx_dropped"] == 0, c
assert c["tcp_accepts"] >= int(sys.argv[3]), c["tcp_accepts"]
' "$OUT/rsctl.json" "$Q" "${conns:-0}"
t_stop "$S_PID" "$S_JOB"
grep "^rs-crrd: .* connections" "$OUT/crrd.log" | sed 's/^/# /'
served=$(sed -n 's/^rs-crrd: \([0-9]*\) connections, [0-9]* errors$/\1/p' "$OUT/crrd.log")
serrs=$(sed -n 's/^rs-crrd: [0-9]* connections, \([0-9]*\) errors$/\1/p' "$OUT/crrd.log")
t_check "rs-crrd served every connection tsload completed" test "${served:-0}" -ge "${conns:-1}"
# tsload stops at the end of its runtime with its 32 connections in flight
# (it does not drain them): the server may count those as cut short, no more
t_check "rs-crrd: server-side errors only from the cut-off (<= 32, got ${serrs:-?})" \
	test "${serrs:-999}" -le 32

# ---- 3b. two cores, one per queue: crr with steer=none and steer=xdp ----------
# The listener is core 0's (no local listen table in base/rfd), so a SYN or
# segment that lands on queue 1 is handed to core 0 in software.  The XDP
# program classifies every client segment as passive (the stack told it
# port 12865 has a listener: rs_io_ops.steer -> rs_afxdp_set_listener), so
# none is "away" and steer=xdp moves none; the software hand-off does.
for steer in none xdp; do
	timeout 60 ip netns exec "$NS_S" "$CRRD" --stack refstack --io afxdp --cores 2 \
		--features rfd --if "$NS_SIF,steer=$steer" --time-wait-ms 2000 --req 64 --resp 200 \
		>"$OUT/crrd2-$steer.log" 2>&1 &
	S_JOB=$!
	t_bg_add "$S_JOB"
	if ! t_wait_for "$OUT/crrd2-$steer.log" listening 10; then
		t_fail "2 cores, steer=$steer: rs-crrd started ($(head -2 "$OUT/crrd2-$steer.log" | tr '\n' ' '))"
		continue
	fi
	S_PID=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/crrd2-$steer.log")
	inL timeout 30 "$TSLOAD" --engine=crr --host="$NS_STACK_IP" --port=12865 --concurrency=32 \
		--runtime=2s --req_size=64 --resp_size=200 --output-format=json >"$OUT/tsload.json"
	conns=$(jq 'j["connections"]')
	t_check "2 cores, steer=$steer: tsload crr, ${conns:-0} connections, zero errors" \
		test "${conns:-0}" -gt 300 -a "$(jq 'j["errors"]["total"]')" = 0
	sleep 0.3
	"$RSCTL" -p "$S_PID" --json counters >"$OUT/rsctl2-$steer.json"
	t_check "2 cores, steer=$steer: both queues delivered, away segments handed over, none lost" \
		/usr/bin/python3 -c '
import json, sys
c = [x["counters"] for x in json.load(open(sys.argv[1]))["instances"][0]["cores"]]
S = lambda k: sum(x[k] for x in c)
print("# " + " | ".join("core %d: rx %d home %d away %d handed %d xdp_rss %d xdp_away %d guest %d" % (
    i, x["xsk_rx_frames"], x["steer_home"], x["steer_away"], x["xcore_handoffs"],
    x["xsk_xdp_rss"], x["xsk_xdp_away"], x["xsk_rx_guest"]) for i, x in enumerate(c)))
assert len(c) == 2 and all(x["xsk_rx_frames"] > 0 for x in c), "a core received nothing"
assert c[1]["steer_away"] > 0 and c[1]["xcore_handoffs"] >= c[1]["steer_away"], "no hand-off"
assert S("drop_handoff_full") + S("drop_handoff_lost") + S("drop_tcp_csum") == 0
assert S("xsk_xdp_rss") > 0 and S("xsk_xdp_away") == 0, "listener set not in the XDP map"
assert S("steer_io_errors") == 0
' "$OUT/rsctl2-$steer.json"
	t_stop "$S_PID" "$S_JOB"
done

# ---- 3c. two cores connecting out (haproxy's side), steer=xdp -------------------
# With rfd each core's source ports are of its class and the XDP program
# moves a reply that arrived on the other queue to its core (guest socket):
# the stack sees every reply at home.  Without rfd the stack owns
# connections by hash, so the program must classify nothing (every frame
# "rss", none steered) and the software hand-off moves the misplaced ones.
ACTIVE=$ROOT/build/interop/rfd_active
${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined \
	-fno-sanitize-recover=all -o "$ACTIVE" "$HERE/rfd_active.c" "$LIB" -lxdp -lbpf -lpthread ||
	t_fail "rfd_active builds"
inL timeout 100 "$TSLOAD" --server --host="$NS_LINUX_IP" --port=9000 --req_size=64 \
	--resp_size=64 --threads=1 >"$OUT/srv9000.log" 2>&1 &
t_bg_add $!
t_wait_for "$OUT/srv9000.log" listening 10 || t_fail "tsload --server on port 9000"
sumf() { awk -v k="$2" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { sub(/.*=/, "", $i); s += $i }} END { print s + 0 }' "$1"; }
for set in rfd base; do
	timeout 60 ip netns exec "$NS_S" "$ACTIVE" "afxdp:$NS_SIF,steer=xdp" "$NS_STACK_IP" \
		"$NS_LINUX_IP" 9000 2 "$set" 150 >"$OUT/active-$set.out" 2>"$OUT/active-$set.err"
	rc=$?
	sed 's/^/# /' "$OUT/active-$set.out" "$OUT/active-$set.err"
	t_check "2 cores, $set, active on afxdp: every connection completed" \
		test $rc = 0 -a "$(grep -c ' ok=150 failed=0 ' "$OUT/active-$set.out")" = 2
	away=$(sumf "$OUT/active-$set.out" steer_away)
	xaway=$(sumf "$OUT/active-$set.out" xdp_away)
	xsteer=$(sumf "$OUT/active-$set.out" xdp_steered)
	if [ "$set" = rfd ]; then
		t_check "rfd: the XDP program steered the away replies ($xsteer of $xaway), the stack found all home (away $away)" \
			test "$xsteer" -gt 0 -a "$xsteer" = "$xaway" -a "$away" = 0
	else
		t_check "base: the XDP program classified nothing (away $xaway, steered $xsteer), the hand-off moved $away" \
			test "$xaway" = 0 -a "$xsteer" = 0 -a "$away" -gt 0
	fi
done

# ---- 4. byte-exact transfer -----------------------------------------------------
head -c "${MB}M" /dev/urandom >"$OUT/big.bin"
timeout 120 ip netns exec "$NS_S" "$HTTPD" --io afxdp --if "$NS_SIF" --file "$OUT/big.bin" \
	--port 80 >"$OUT/httpd.log" 2>&1 &
H_JOB=$!
t_bg_add "$H_JOB"
t_wait_for "$OUT/httpd.log" listening 10 ||
	{ t_why "$H_JOB" "$OUT/httpd.log"; t_fail "rs-httpd on afxdp started ($T_WHY)"; }
H_PID=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/httpd.log")
t_check "curl fetched $MB MB from rs-httpd on afxdp" \
	inL timeout 60 curl -sS --max-time 60 -o "$OUT/got.bin" "http://$NS_STACK_IP/file"
t_check "$MB MB body byte-exact (cmp)" cmp -s "$OUT/big.bin" "$OUT/got.bin"
t_stop "$H_PID" "$H_JOB"
t_check "the kernel of the stack's namespace sent no TCP (RST) and no ICMP" \
	ns_kernel_silent "$NS_S"

for f in "$OUT"/*.log "$OUT"/*.err; do
	[ -f "$f" ] || continue
	if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$f"; then
		t_fail "sanitizer report in $(basename "$f")"
		cat "$f"
	fi
done
t_summary
