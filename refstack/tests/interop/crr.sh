#!/bin/bash
# Many short connections, kernel client -> refstack server: the benchmark's
# rs-crrd (ASan build) on afpacket, the Linux crr client with 32 in flight
# for a few seconds.  Every connection must complete without error, the
# server's TIME_WAIT entries must show in rsctl, and the same client
# against the Linux twin (--stack linux) must behave the same.  No timing
# assertions: the figures are the benchmark's business.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

OUT=$(mktemp -d /tmp/rs-crr.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

CRRD=$(t_app "$ROOT" rs-crrd) || t_abort "rs-crrd is built"
RSCTL=$(t_app "$ROOT" rsctl) || t_abort "rsctl is built"
CLIENT=$ROOT/build/interop/afpacket-client
${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$CLIENT" "$ROOT/bench/afpacket-client.c" ||
	t_abort "client builds"
ns_up crr || t_abort "namespaces up"

jget() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# serve STACK — start rs-crrd, run the client 3 s, leave the server up
serve() {
	timeout 60 ip netns exec "$NS_S" "$CRRD" --stack "$1" --if "$NS_SIF" --time-wait-ms 5000 --req 64 --resp 200 \
		>"$OUT/$1.log" 2>&1 &
	S_JOB=$!
	t_bg_add "$S_JOB"
	t_wait_for "$OUT/$1.log" listening 10 || return 1
	S_PID=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/$1.log")
	ip netns exec "$NS_L" timeout 20 "$CLIENT" "$NS_STACK_IP" 12865 32 3 64 200 >"$OUT/$1.json"
}

t_check "crr against refstack ran" serve refstack
conns=$(jget "$OUT/refstack.json" conns)
echo "# refstack: $conns connections in 3 s"
t_check "refstack served > 500 connections" test "${conns:-0}" -gt 500
t_check "no failed connection (refstack)" \
	test "$(jget "$OUT/refstack.json" errors)" = 0 -a "$(jget "$OUT/refstack.json" connect_errors)" = 0
sleep 0.3
"$RSCTL" -p "$S_PID" --json tables counters >"$OUT/rsctl.json"
t_check "rsctl: server-side TIME_WAIT entries, no stuck connections" \
	/usr/bin/python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["instances"][0]["cores"][0]
assert c["tables"]["time_wait"] > 100, c["tables"]
assert c["tables"]["established"] == 0 and c["tables"]["syn_recv"] == 0, c["tables"]
assert c["counters"]["tcp_accepts"] >= int(sys.argv[2]), c["counters"]["tcp_accepts"]
' "$OUT/rsctl.json" "$conns"
t_stop "$S_PID" "$S_JOB"
served=$(sed -n 's/^rs-crrd: \([0-9]*\) connections, [0-9]* errors$/\1/p' "$OUT/refstack.log")
serrs=$(sed -n 's/^rs-crrd: [0-9]* connections, \([0-9]*\) errors$/\1/p' "$OUT/refstack.log")
grep "^rs-crrd: .* connections" "$OUT/refstack.log" | sed 's/^/# /'
t_check "rs-crrd served every connection the client completed" \
	test "${served:-0}" -ge "$conns"
# the client drains its connections in flight before it exits
t_check "no server-side error" test "${serrs:-999}" -eq 0

ip -n "$NS_S" addr add "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF"
t_check "crr against the Linux twin ran" serve linux
t_check "Linux twin served > 500 connections, no errors" \
	test "$(jget "$OUT/linux.json" conns)" -gt 500 -a "$(jget "$OUT/linux.json" errors)" = 0
t_stop "$S_PID" "$S_JOB"
ip -n "$NS_S" addr del "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF"

for f in "$OUT"/*.log; do
	if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$f"; then
		t_fail "sanitizer report in $(basename "$f")"
		cat "$f"
	fi
done
t_summary
