#!/bin/bash
# A burst of spoofed SYNs fills the listener's SYN backlog of rs-crrd on
# refstack; the kernel's client must still connect at once, under each
# --syncookies setting (Linux's meanings): 1 (the default) answers with
# cookies once the backlog is full; 0 keeps the last quarter of it for
# peers with history and gives a new peer the place of the oldest
# embryonic connection; 2 answers every SYN with a cookie and keeps no
# state.  The spoofed sources are unused addresses of the lab's subnet
# (198.18.20.100-249): their SYN,ACKs wait for ARP replies that never come.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

OUT=$(mktemp -d /tmp/rs-synflood.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

CRRD=$(t_app "$ROOT" rs-crrd) || t_abort "rs-crrd is built"
RSCTL=$(t_app "$ROOT" rsctl) || t_abort "rsctl is built"
TSLOAD=$(cd "$ROOT/.." && pwd)/loadgen/tsload
[ -x "$TSLOAD" ] || t_abort "loadgen/tsload is built"
ns_up sf || t_abort "namespaces up"
NEW_PEER=$NS_NET.3
ip -n "$NS_L" addr add "$NEW_PEER/$NS_PREFIX" dev "$NS_LIF" || t_abort "second client address"
FLOOD=${RS_SYNFLOOD_SYNS:-3000}

# the flood: raw IPv4+TCP SYNs, sources spoofed, checksums computed here
cat >"$OUT/flood.py" <<'EOF'
import random, socket, struct, sys
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
sk = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
rnd = random.Random(7)
d = socket.inet_aton(dst)
for i in range(n):
    src = socket.inet_aton("198.18.20.%d" % (100 + i % 150))
    tcp = struct.pack("!HHIIBBHHH", 1024 + rnd.randrange(60000), port,
                      rnd.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(src + d + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xffff, 0, 64, 6, 0, src, d)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    sk.sendto(ip + tcp, (dst, 0))
EOF

# start MODE — rs-crrd with --syncookies=MODE; sets S_PID, S_JOB
start() {
	timeout 120 ip netns exec "$NS_S" "$CRRD" --stack refstack --if "$NS_SIF" \
		--syncookies="$1" >"$OUT/srv$1.log" 2>&1 &
	S_JOB=$!
	t_bg_add "$S_JOB"
	t_wait_for "$OUT/srv$1.log" listening 10 || return 1
	S_PID=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/srv$1.log")
}

# clients NAME [SRC] — 40 connections, 4 in flight, each op at most 2 s
# (a SYN the listener drops costs the client a 1 s retry, then 3 s)
clients() {
	ip netns exec "$NS_L" timeout 30 "$TSLOAD" --engine=crr --host="$NS_STACK_IP" \
		--concurrency=4 --connections=40 --timeout=2s --runtime=20s \
		${2:+--source_addrs=$2} --output-format=json >"$OUT/$1.json" 2>"$OUT/$1.err" &&
		/usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print("# %s: %d connections, %d errors, %.2f s" % (sys.argv[2], j["connections"], j["errors"]["total"], j["elapsed_s"]))
sys.exit(0 if j["connections"] >= 40 and j["errors"]["total"] == 0 and j["elapsed_s"] < 10 else 1)
' "$OUT/$1.json" "$1"
}

flood() { ip netns exec "$NS_L" /usr/bin/python3 "$OUT/flood.py" "$NS_STACK_IP" 12865 "$FLOOD"; }

# rsjson EXPR — evaluate EXPR over core 0's counters (c) and tables (t)
rsjson() {
	sleep 0.3 # counters are published every 100 ms
	"$RSCTL" -p "$S_PID" --json tables counters | /usr/bin/python3 -c '
import json, sys
core = json.load(sys.stdin)["instances"][0]["cores"][0]
c, t = core["counters"], core["tables"]
print("# syn_recv %d, cookies sent %d ok %d, evicted %d, backlog drops %d" % (
    t["syn_recv"], c["tcp_syncookies_sent"], c["tcp_syncookies_ok"],
    c["tcp_syn_evicted"], c["drop_syn_backlog"]))
sys.exit(0 if eval(sys.argv[1]) else 1)
' "$1"
}

# ---- default (1): cookies once the backlog is full ----------------------
start 1 || t_abort "rs-crrd --syncookies=1 started"
t_check "syncookies=1: clients connect before the flood" clients before1
t_check "the flood ($FLOOD SYNs) was sent" flood
t_check "syncookies=1: the flood filled the 1024-entry SYN backlog, then got cookies" \
	rsjson 't["syn_recv"] == 1024 and c["tcp_syncookies_sent"] > 0'
t_check "syncookies=1: clients connect at once during the flood (by cookie)" clients during1
t_check "... their connections were made from cookies" rsjson 'c["tcp_syncookies_ok"] >= 40'
t_stop "$S_PID" "$S_JOB"

# ---- 0: no cookies: a reserved quarter, the oldest embryonic dropped first
start 0 || t_abort "rs-crrd --syncookies=0 started"
t_check "syncookies=0: clients connect before the flood (the peer gets history)" clients before0
t_check "the flood ($FLOOD SYNs) was sent" flood
t_check "syncookies=0: the flood holds 3/4 of the backlog, newer SYNs evict the oldest" \
	rsjson 't["syn_recv"] == 768 and c["tcp_syn_evicted"] > 0 and c["tcp_syncookies_sent"] == 0'
t_check "syncookies=0: the client with history connects at once during the flood" clients during0
t_check "the flood again" flood
t_check "syncookies=0: a new client ($NEW_PEER) connects at once too" clients newpeer0 "$NEW_PEER"
t_check "... nothing was dropped for a full backlog" rsjson 'c["drop_syn_backlog"] == 0'
t_stop "$S_PID" "$S_JOB"

# ---- 2: always cookies --------------------------------------------------
start 2 || t_abort "rs-crrd --syncookies=2 started"
t_check "the flood ($FLOOD SYNs) was sent" flood
t_check "syncookies=2: every SYN answered by cookie, no embryonic state" \
	rsjson "t['syn_recv'] == 0 and c['tcp_syncookies_sent'] >= $FLOOD"
t_check "syncookies=2: clients connect" clients during2
t_stop "$S_PID" "$S_JOB"

t_check "rs-crrd refuses --syncookies=3 with a message naming it" \
	bash -c "ip netns exec $NS_S $CRRD --if $NS_SIF --syncookies=3 2>&1 | grep -q -- '--syncookies 3: 0, 1 or 2'"
for f in "$OUT"/*.log; do
	if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$f"; then
		t_fail "sanitizer report in $(basename "$f")"
		cat "$f"
	fi
done
t_summary
