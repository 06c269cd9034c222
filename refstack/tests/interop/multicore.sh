#!/bin/bash
# Multi-core refstack on afpacket: rs-crrd and rs-httpd with --cores 2 and
# 4 (one AF_PACKET socket per core in one PACKET_FANOUT_CBPF group, one
# thread per core), TX checksum offload ON at the Linux peer (frames reach
# the stack with their checksum left partial, also after a software
# hand-off), every feature set.  Per run: crr from the Linux client with
# zero errors, and the counters that prove each frame's path: every TCP
# segment landed on its owner (steer_home) or was handed to it
# (steer_away), nothing was lost on the way (hand-off drops, bad
# checksums), every core received frames.  A 100 MB byte-exact curl fetch
# at 2 and 4 cores (RS_MC_MB, default 100) with every feature set.  Active
# connections (rfd_active.c: every core connects out to tsload --server on
# ports 80 and 9000): with rfd every source port is of its core's class and
# every reply lands on the core that connected (the fanout program steers
# it), without rfd the hash spreads the replies and the hand-off moves them.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

MB=${RS_MC_MB:-100}
SETS=${RS_MC_SETS:-base listen estab rfd fastfd full}
OUT=$(mktemp -d /tmp/rs-mc.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

CRRD=$(t_app "$ROOT" rs-crrd) || t_abort "rs-crrd is built"
HTTPD=$(t_app "$ROOT" rs-httpd) || t_abort "rs-httpd is built"
RSCTL=$(t_app "$ROOT" rsctl) || t_abort "rsctl is built"
CLIENT=$ROOT/build/interop/afpacket-client
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$CLIENT" "$ROOT/bench/afpacket-client.c" ||
	t_abort "client builds"
TSLOAD=$(cd "$ROOT/.." && pwd)/loadgen/tsload
[ -x "$TSLOAD" ] || t_abort "tsload is built (make -C loadgen)"
ACTIVE=$ROOT/build/interop/rfd_active
${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all -o "$ACTIVE" "$HERE/rfd_active.c" \
	"$ROOT/build/asan/librefstack-asan.a" -lxdp -lbpf -lpthread || t_abort "rfd_active builds"
ns_up mc || t_abort "namespaces up"
t_check "TX checksum offload is on at the Linux peer" \
	bash -c "ip netns exec $NS_L ethtool -k $NS_LIF | grep -q '^tx-checksumming: on'"

jget() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# start NAME PROGRAM ARGS... — in the stack namespace; sets S_PID, S_JOB
start() {
	local name=$1
	shift
	timeout 120 ip netns exec "$NS_S" "$@" >"$OUT/$name.log" 2>&1 &
	S_JOB=$!
	t_bg_add "$S_JOB"
	t_wait_for "$OUT/$name.log" listening 10 || return 1
	S_PID=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/$name.log")
}

# paths NAME CORES SPREAD — the counters of the live server: each frame's
# path (SPREAD 1: every core must have received frames)
paths() {
	"$RSCTL" -p "$S_PID" --json counters >"$OUT/$1.json" &&
		/usr/bin/python3 - "$OUT/$1.json" "$2" "$3" <<'PY'
import json, sys
cores = json.load(open(sys.argv[1]))["instances"][0]["cores"]
n = int(sys.argv[2])
assert len(cores) == n, len(cores)
c = [x["counters"] for x in cores]
S = lambda k: sum(x[k] for x in c)
print("# " + " | ".join("core %d: rx %d home %d away %d handed %d got %d partial %d" % (
    i, x["rx_frames"], x["steer_home"], x["steer_away"], x["xcore_handoffs"],
    x["handoff_rx"], x["afp_rx_csum_partial"]) for i, x in enumerate(c)))
assert sys.argv[3] == "0" or all(x["rx_frames"] > 0 for x in c), "a core received nothing"
assert S("steer_home") + S("steer_away") > 0
# every segment from the wire: processed where it landed or handed over
assert S("steer_away") <= S("xcore_handoffs"), "away segments not handed off"
lost = S("drop_handoff_full") + S("drop_handoff_lost")
assert lost == 0, "hand-off drops: %d" % lost
assert S("drop_tcp_csum") == 0, "bad TCP checksums: %d" % S("drop_tcp_csum")
assert S("afp_rx_csum_partial") > 0, "no partial-checksum frame seen"
assert S("steer_io_errors") == 0, "the fanout program was refused"
PY
}

for n in 2 4; do
	for set in $SETS; do
		name="$n cores, $set"
		tag=c$n-$set
		if ! start "$tag" "$CRRD" --stack refstack --if "$NS_SIF" --cores "$n" \
			--features "$set" --time-wait-ms 2000 --req 64 --resp 200; then
			t_fail "$name: rs-crrd started ($(head -3 "$OUT/$tag.log" | tr '\n' ' '))"
			continue
		fi
		ip netns exec "$NS_L" timeout 20 "$CLIENT" "$NS_STACK_IP" 12865 32 1.5 64 200 \
			>"$OUT/$tag.cl.json" 2>"$OUT/$tag.cl.err"
		conns=$(jget "$OUT/$tag.cl.json" conns 2>/dev/null)
		errs=$(jget "$OUT/$tag.cl.json" errors 2>/dev/null)/$(jget "$OUT/$tag.cl.json" connect_errors 2>/dev/null)
		t_check "$name: crr from the Linux client, $conns connections, errors $errs" \
			test "${conns:-0}" -gt 100 -a "$errs" = 0/0
		sleep 0.2
		t_check "$name: counters: every segment home or handed over, nothing lost" paths "$tag" "$n" 1
		t_stop "$S_PID" "$S_JOB"
		t_check "$name: rs-crrd clean exit, no server error" \
			grep -q "^rs-crrd: [0-9]* connections, 0 errors$" "$OUT/$tag.log"
	done
done

# ---- active connections: replies come home with rfd ----------------------
for port in 80 9000; do
	ip netns exec "$NS_L" timeout 100 "$TSLOAD" --server --host="$NS_LINUX_IP" --port=$port \
		--req_size=64 --resp_size=64 --threads=1 >"$OUT/srv$port.log" 2>&1 &
	t_bg_add $!
	t_wait_for "$OUT/srv$port.log" listening 10 || t_fail "tsload --server on port $port"
done
for n in 2 4; do
	for set in base rfd full; do
		for port in 80 9000; do
			tag="active$n-$set-$port"
			timeout 60 ip netns exec "$NS_S" "$ACTIVE" "$NS_SIF" "$NS_STACK_IP" "$NS_LINUX_IP" \
				$port "$n" "$set" 150 >"$OUT/$tag.out" 2>"$OUT/$tag.err"
			rc=$?
			sed 's/^/# /' "$OUT/$tag.out"
			t_check "$n cores, $set, active to port $port: every connection completed" \
				test $rc = 0 -a "$(grep -c ' ok=150 failed=0 ' "$OUT/$tag.out")" = "$n"
			away=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^steer_away=/) { sub(/.*=/, "", $i); s += $i }} END { print s + 0 }' "$OUT/$tag.out")
			incl=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^in_class=/) { sub(/.*=/, "", $i); s += $i }} END { print s + 0 }' "$OUT/$tag.out")
			case $set in
			base)
				t_check "$n cores, base, port $port: replies hashed, some handed over ($away), ports of any class ($incl of $((n * 150)))" \
					test "$away" -gt 0 -a "$incl" -lt $((n * 150)) ;;
			*)
				t_check "$n cores, $set, port $port: every source port of its core's class, every reply home (away $away)" \
					test "$away" = 0 -a "$incl" = $((n * 150)) ;;
			esac
		done
	done
done

head -c "${MB}M" /dev/urandom >"$OUT/big.bin"
for n in 2 4; do
	for set in $SETS; do
		name="$n cores, $set"
		tag=h$n-$set
		if ! start "$tag" "$HTTPD" --if "$NS_SIF" --cores "$n" --features "$set" \
			--file "$OUT/big.bin" --port 80; then
			t_fail "$name: rs-httpd started"
			continue
		fi
		ip netns exec "$NS_L" timeout 60 curl -sS --max-time 60 -o "$OUT/got.bin" \
			"http://$NS_STACK_IP/file"
		t_check "$name: $MB MB fetched byte-exact" cmp -s "$OUT/big.bin" "$OUT/got.bin"
		t_check "$name: counters of the transfer (one flow: one receiving core)" paths "$tag" "$n" 0
		rm -f "$OUT/got.bin"
		t_stop "$S_PID" "$S_JOB"
	done
done
for f in "$OUT"/*.log; do
	grep -q "runtime error\|AddressSanitizer" "$f" && t_fail "sanitizer report in $f"
done
t_summary
