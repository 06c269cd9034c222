#!/bin/bash
# Kernel -> refstack: the Linux kernel's curl fetches a file from rs-httpd
# running on refstack (afpacket) in a namespace whose interface has no
# kernel address.  Byte-exact comparison; then rsctl on the live instance;
# then the same fetch under loss, reordering, duplication and delay on
# both directions (tc netem where the kernel has it; this lab kernel has
# no sch_netem, so a user-space bridge does the same: lib/ns.sh impair_up).
#
# Sizes: RS_INTEROP_MB (default 100) plain, RS_NETEM_MB (default 20) under
# netem — 100 MB through 1% loss takes minutes with NewReno on this box.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

MB=${RS_INTEROP_MB:-100}
NMB=${RS_NETEM_MB:-20}
OUT=$(mktemp -d /tmp/rs-curl.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

HTTPD=$(t_app "$ROOT" rs-httpd) || t_abort "rs-httpd is built"
RSCTL=$(t_app "$ROOT" rsctl) || t_abort "rsctl is built"
ns_up cu || t_abort "namespaces up"
t_check "stack interface has no kernel IPv4 address" ns_stack_has_no_ip
inL() { ip netns exec "$NS_L" "$@"; }

# start_httpd NAME IFSPEC FILE — sets H_PID (rs-httpd's own pid)
start_httpd() {
	timeout 240 ip netns exec "$NS_S" "$HTTPD" --if "$2" --file "$3" --port 80 \
		>"$OUT/$1.log" 2>&1 &
	H_PID=$!
	t_bg_add "$H_PID"
	t_wait_for "$OUT/$1.log" "listening" 10 || return 1
	# timeout forks: the pid rs-httpd prints is the one with the segment
	S_PID=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/$1.log")
}
stop_httpd() { t_stop "$S_PID" "$H_PID"; }

fetch() { # fetch OUTFILE SECONDS
	inL timeout "$2" curl -sS --max-time "$2" -o "$1" "http://$NS_STACK_IP/file"
}

head -c "${MB}M" /dev/urandom >"$OUT/big.bin"
head -c "${NMB}M" /dev/urandom >"$OUT/netem.bin"

# ---- plain -----------------------------------------------------------------
bad_features() {
	! "$HTTPD" --if lo --file /dev/null --features listen,bogus >"$OUT/badfeat.txt" 2>&1 &&
		grep -q "'bogus' (valid: base, full, or a comma list of listen, estab, rfd, fastfd)" "$OUT/badfeat.txt"
}
t_check "a bad --features is refused with the valid names" bad_features
RS_FEATURES=listen,rfd start_httpd plain "$NS_SIF,ownmac=1" "$OUT/big.bin" || t_fail "rs-httpd started"
ip_in0=$(ns_ip_in "$NS_S")
t_check "kernel ping answered by refstack (ARP + ICMP echo)" \
	inL ping -c 3 -i 0.2 -W 2 -q "$NS_STACK_IP"
t_check "ARP gave the Linux host the stack's own MAC $(ns_stack_mac "$NS_STACK_IP")" \
	bash -c "ip -n $NS_L neigh show $NS_STACK_IP | grep -q 'lladdr $(ns_stack_mac "$NS_STACK_IP")'"
t0=$(date +%s.%N)
t_check "curl fetched $MB MB from rs-httpd" fetch "$OUT/got.bin" 120
t1=$(date +%s.%N)
t_check "$MB MB body byte-exact (cmp)" cmp -s "$OUT/big.bin" "$OUT/got.bin"
echo "# $MB MB in $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s"
rm -f "$OUT/got.bin"
t_check "the kernel of the stack's namespace sent no TCP (RST) and no ICMP" \
	ns_kernel_silent "$NS_S"
ip_in1=$(ns_ip_in "$NS_S")
t_check "the kernel of the stack's namespace took none of its frames into IP (InReceives +$((ip_in1 - ip_in0)))" \
	test "$((ip_in1 - ip_in0))" -eq 0

# ---- rsctl on the live instance --------------------------------------------
sleep 0.3  # counters are published every 100 ms (rs_stack_conf.publish_interval_ns)
"$RSCTL" -p "$S_PID" >"$OUT/rsctl.txt" 2>&1
t_check "rsctl prints tables and counters" \
	grep -q "established" "$OUT/rsctl.txt"
t_check "rsctl shows the active feature set (RS_FEATURES=listen,rfd) and congestion control (bbr, the default)" \
	grep -q "^refstack pid $S_PID, 1 core, features listen,rfd, cc bbr$" "$OUT/rsctl.txt"
t_check "rsctl counts the accepted connection" \
	grep -Eq "^tcp_accepts +[1-9]" "$OUT/rsctl.txt"
t_check "rsctl shows the afpacket backend's counters (checksum-partial frames)" \
	grep -Eq "^afp_rx_csum_partial +[1-9]" "$OUT/rsctl.txt"
t_check "rsctl shows the listener on :80" \
	grep -Eq "LISTEN +.*:80 " "$OUT/rsctl.txt"
# a slow transfer in flight: the socket list must show it, refreshed
inL timeout 10 curl -s --limit-rate 200k --max-time 8 -o /dev/null \
	"http://$NS_STACK_IP/file" &
t_bg_add $!
sleep 1
"$RSCTL" -p "$S_PID" --json >"$OUT/rsctl.json" 2>&1
t_check "rsctl --json is valid and shows the ESTABLISHED transfer" \
	/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
i = d["instances"][0]
assert i["cores"][0]["counters"]["tcp_accepts"] >= 2, "accepts"
assert i["cores"][0]["tables"]["listen"] == 1, "listen table"
assert i["cc"] == "bbr", i["cc"]
assert i["feature_set"] == "listen,rfd" and i["features"] == ["listen", "rfd"], i["features"]
s = [x for x in i["sockets"] if x["state"] == "ESTABLISHED"]
assert s and s[0]["remote"].startswith("198.18.20.1:"), s
assert not i["sockets_stale"]
' "$OUT/rsctl.json"
t_check "rsctl sockets text view" \
	bash -c "'$RSCTL' -p $S_PID sockets | grep -q ESTABLISHED"
t_check "rsctl without -p finds the instance" \
	bash -c "'$RSCTL' tables | grep -q 'refstack pid $S_PID'"
t_check "rsctl features lists the names, --json the sets" bash -c \
	"'$RSCTL' features | tr '\\n' ' ' | grep -qx 'listen estab rfd fastfd ' &&
	 '$RSCTL' features --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d == {\"features\": [\"listen\",\"estab\",\"rfd\",\"fastfd\"], \"sets\": {\"base\": [], \"full\": [\"listen\",\"estab\",\"rfd\",\"fastfd\"]}}, d'"
t_check "rsctl names a missing instance" \
	bash -c "! '$RSCTL' -p 999999 >$OUT/miss.txt 2>&1 && grep -q refstack.999999 $OUT/miss.txt"
stop_httpd
inL ip neigh flush all  # the stack's own MAC (ownmac=1) leaves with it
t_check "rs-httpd exits cleanly on SIGTERM" grep -q "served" "$OUT/plain.log"
t_check "statistics segment removed at exit" test ! -e "/dev/shm/refstack.$S_PID"

# ---- under netem-like impairment ------------------------------------------
ns_down
impair_up "$ROOT" cu "$OUT" || t_fail "impaired lab up"
echo "# impairment by $IMP_MODE: $IMP_DESC, both directions"
start_httpd netem "$IMP_IFSPEC" "$OUT/netem.bin" || t_fail "rs-httpd started (impaired)"
t0=$(date +%s.%N)
t_check "curl fetched $NMB MB under $IMP_DESC" fetch "$OUT/got.bin" 150
t1=$(date +%s.%N)
t_check "$NMB MB under impairment byte-exact (cmp)" cmp -s "$OUT/netem.bin" "$OUT/got.bin"
echo "# $NMB MB under impairment in $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s"
"$RSCTL" -p "$S_PID" --all counters >"$OUT/rsctl-netem.txt" 2>&1
t_check "loss recovery was exercised (retransmits > 0)" \
	grep -Eq "^tcp_retrans_segs +[1-9]" "$OUT/rsctl-netem.txt"
grep -E "^(tcp_retrans_segs|tcp_fast_retrans|tcp_rto_expired|tcp_dup_segs|tcp_ooo_segs|tcp_dupacks) " \
	"$OUT/rsctl-netem.txt" | awk '{print "# " $1 "=" $2}'
stop_httpd
t_check "the link really dropped, duplicated and reordered frames" impair_check "$OUT"

for f in "$OUT"/*.log; do
	if grep -q "runtime error\|AddressSanitizer" "$f"; then
		t_fail "sanitizer report in $(basename "$f")"
		cat "$f"
	fi
done
t_summary
