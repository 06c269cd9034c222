#!/bin/bash
# The LD_PRELOAD shim's calls, one by one (shim_calls.c under rs-run, both
# built with ASan/UBSan): descriptor numbers never shared with kernel
# files while both come and go, dup/fcntl/ioctl/fstat/close_range, the
# unsupported-call errors with one warning per call, blocking connect /
# sendfile / MSG_WAITALL / SO_RCVTIMEO / refused connects, poll, select
# and epoll over a pipe and a stack socket, blocking accept4 whose idle
# wait costs no CPU.  With fastfd off (a kernel file per socket) and on
# (pooled numbers).  Peer: tsload in the Linux namespace.  At 2 cores with
# `full`: a second thread makes its core (joins the fanout group) under
# open connections of the first, and every one of them is answered; and
# two threads that never run out of work each drive a core of their own.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

OUT=$(mktemp -d /tmp/rs-shimc.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

TS=$ROOT/../loadgen/tsload
[ -x "$TS" ] || t_abort "loadgen/tsload is built"
RSCTL=$(t_app "$ROOT" rsctl) || t_abort "rsctl is built"
[ -f "$ROOT/build/asan/librefstack-preload.so" ] || t_abort "the ASan shim is built"
mkdir -p "$ROOT/build/interop"
CALLS=$ROOT/build/interop/shim_calls
${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined \
	-fno-sanitize-recover=all -o "$CALLS" "$HERE/shim_calls.c" || t_abort "shim_calls builds"
ns_up shc || t_abort "namespaces up"

timeout 120 ip netns exec "$NS_L" "$TS" --server --host="$NS_LINUX_IP" --port=9100 --engine=rr \
	--req_size=65536 --resp_size=65536 >"$OUT/peer.log" 2>&1 &
t_bg_add $!
t_wait_for "$OUT/peer.log" listening 10 || t_abort "tsload rr peer listens"

# calls NAME FEATURES ARGS... — shim_calls under rs-run; its ok/FAIL lines count
calls() {
	local name=$1 feat=$2; shift 2
	# shellcheck disable=SC2086
	timeout 60 ip netns exec "$NS_S" "$ROOT/rs-run" --asan --features "$feat" ${CALLS_OPTS:-} \
		--if "$NS_SIF" --ip "$NS_STACK_IP/$NS_PREFIX" -- "$CALLS" "$@" \
		>"$OUT/$name.out" 2>"$OUT/$name.err"
	local rc=$? line
	while IFS= read -r line; do
		case $line in
		"ok - "*) t_ok "[$feat] ${line#ok - }" ;;
		"FAIL - "*) t_fail "[$feat] ${line#FAIL - }" ;;
		"#"*) echo "$line" ;;
		esac
	done <"$OUT/$name.out"
	[ "$rc" -eq 0 ] || { t_fail "[$feat] shim_calls $1 exited $rc"; sed 's/^/# /' "$OUT/$name.err"; }
	if grep -q "AddressSanitizer\|runtime error" "$OUT/$name.err"; then
		t_fail "[$feat] sanitizer report in shim_calls $1"
		cat "$OUT/$name.err"
	fi
}

# launcher errors: named, and PROGRAM never starts
launch_fails() { # NAME PATTERN rs-run-args...
	local name=$1 pat=$2; shift 2
	rm -f "$OUT/started"
	ip netns exec "$NS_S" "$ROOT/rs-run" "$@" -- sh -c "touch $OUT/started" >"$OUT/$name.err" 2>&1
	local rc=$?
	[ $rc = 2 ] && [ ! -e "$OUT/started" ] && grep -q "$pat" "$OUT/$name.err" ||
		{ sed 's/^/# /' "$OUT/$name.err"; return 1; }
}
t_check "rs-run: a missing interface is an error naming it; PROGRAM does not start" \
	launch_fails badif "no interface 'rs-nope0'" --if rs-nope0 --ip "$NS_STACK_IP"
t_check "rs-run: a bad address is an error naming it" \
	launch_fails badip "198.18.20.256: not an IPv4" --if "$NS_SIF" --ip 198.18.20.256
t_check "rs-run: an unknown feature is an error listing the valid ones" \
	launch_fails badfeat "unknown feature 'turbo'.*listen" --if "$NS_SIF" --ip "$NS_STACK_IP" --features turbo
t_check "rs-run: --cores 0 is an error" \
	launch_fails badcores "cores 0" --if "$NS_SIF" --ip "$NS_STACK_IP" --cores 0
t_check "the library refuses a bad RS_IP before main even without rs-run" \
	sh -c "! ip netns exec $NS_S env RS_IF=$NS_SIF RS_IP=x LD_PRELOAD=$ROOT/librefstack-preload.so \
		sh -c 'touch $OUT/started2' 2>$OUT/lib.err && [ ! -e $OUT/started2 ] && grep -q 'RS_IP=x' $OUT/lib.err"

for feat in base fastfd; do
	calls "fds-$feat" "$feat" fds
	t_check "[$feat] one warning for two unsupported setsockopt calls, naming the call" \
		test "$(grep -c '^refstack-preload: setsockopt:' "$OUT/fds-$feat.err")" = 1
	for c in splice send ioctl; do
		t_check "[$feat] one warning naming $c" \
			test "$(grep -c "^refstack-preload: $c:" "$OUT/fds-$feat.err")" = 1
	done
	calls "client-$feat" "$feat" client "$NS_LINUX_IP" 9100
done

# blocking accept: the client starts 1.5 s after the server, which sleeps
(sleep 1.5; timeout 30 ip netns exec "$NS_L" "$TS" --host="$NS_STACK_IP" --port=9200 \
	--engine=crr --connections=20 --runtime=20s >"$OUT/crr.log" 2>&1) &
t_bg_add $!
calls server base server 9200 20

# A core that joins under running connections: the main thread accepts
# 64 connections on core 0, then a second thread makes core 1, which
# joins the fanout group, so that about half of those flows land on it
# from then on; the client sends on each only then (FLAG).  The stack
# keeps connections global while the process's cores are still joining,
# so core 1 hands their frames to core 0; in its own table, core 1's
# listener reset them (tsload's second server thread makes its core
# while the client runs: shim-tsload.sh's crr-2 cases lost connections).
LATE_N=64
(t_wait_for "$OUT/late.out" listening 30 &&
	timeout 40 ip netns exec "$NS_L" /usr/bin/python3 - "$NS_STACK_IP" 9300 $LATE_N \
		"$OUT/late.flag" >"$OUT/late-cli.log" 2>&1 <<'PYEOF'
import os, socket, sys, time
host, port, n, flag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
socks = [socket.create_connection((host, port), timeout=10) for _ in range(n)]
end = time.time() + 30
while not os.path.exists(flag) and time.time() < end:
    time.sleep(0.01)
ok, errs = 0, {}
for s in socks:
    try:
        s.sendall(b"x" * 64)
        got = b""
        while len(got) < 64:
            d = s.recv(64 - len(got))
            if not d:
                break
            got += d
        ok += got == b"x" * 64
    except OSError as e:
        errs[type(e).__name__] = errs.get(type(e).__name__, 0) + 1
    s.close()
print("answered", ok, "errors", errs)
PYEOF
) &
t_bg_add $!
CALLS_OPTS="--cores 2" calls late full latecore 9300 $LATE_N "$OUT/late.flag"
wait "$!" 2>/dev/null
sed 's/^/# client: /' "$OUT/late-cli.log"
t_check "[full] late core: the Linux client got an answer on each of its $LATE_N connections" \
	grep -q "^answered $LATE_N errors {}" "$OUT/late-cli.log"

# Threads that never run out of work: every epoll_wait finds a readable
# pipe.  Each must drive a core of its own from its first wait; a thread
# that took its core only when a wait would sleep never did (both served
# from the first core, and under load tsload's second server thread made
# its core in the middle of the client's run).
(t_wait_for "$OUT/busy.out" "^# busy" 30 && sleep 1 &&
	ip netns exec "$NS_S" "$RSCTL" -p "$(sed -n 's/^# busy //p' "$OUT/busy.out")" --json \
		>"$OUT/busy-rsctl.json" 2>&1) &
t_bg_add $!
CALLS_OPTS="--cores 2" calls busy full busycore 9400 3
wait "$!" 2>/dev/null
t_check "[full] busy threads: each drives a core of its own (2 cores polled, rsctl)" \
	/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["instances"][0]
polled = [c["core"] for c in d["cores"] if c["counters"]["polls"] > 0]
print("# cores polled:", polled)
sys.exit(len(polled) != 2)' "$OUT/busy-rsctl.json"
t_summary
