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
# at 2 and 4 cores (RS_MC_MB, default 100) with base and full.
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

head -c "${MB}M" /dev/urandom >"$OUT/big.bin"
for n in 2 4; do
	for set in base full; do
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
