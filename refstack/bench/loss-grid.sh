#!/bin/bash
# Loss recovery as a sender, refstack vs Linux: the kernel's curl fetches a
# file over HTTP from rs-httpd on refstack (afpacket) and from Debian's
# nginx on the Linux kernel, in the same stack namespace at the same
# address, through the impairment bridge (tests/interop/impair.c: loss,
# duplication, delay, reordering, both directions).  Each side runs once
# per congestion control: refstack per RS_CC (rs-httpd --cc), Linux per
# LINUX_CC (the stack namespace's net.ipv4.tcp_congestion_control):
# "reno" is the loss-based one on both (NewReno with RACK-TLP, PRR and
# undo), "bbr" the model-based one (random loss barely slows it).  For
# every cell, rounds rotate the senders; each transfer is checked byte
# for byte and cut at LIMIT seconds.  Prints per run and per cell:
# transfer time (curl's time_total minus its time_connect: from the
# request to the last byte; a lost SYN or SYN,ACK costs both stacks the
# same 1 s of handshake, which is shown apart as connect),
# retransmission timeouts and retransmitted segments of
# the sender (refstack: rsctl counters; Linux: TcpExt TCPTimeouts and Tcp
# RetransSegs of the stack namespace), medians [min..max], and paired
# time ratios refstack/Linux for the matched algorithms (reno/reno,
# bbr/bbr) and for the defaults (refstack's, bbr, against this machine's
# tcp_congestion_control).  Not a test: no pass/fail.
#
#   RUNS=3 MB=10 refstack/bench/loss-grid.sh
#   CELLS="1:0:0:0 5:1:10:1000" RS_CC=bbr LINUX_CC=bbr refstack/bench/loss-grid.sh
# CELLS: loss%:dup%:reorder%:delay_us per cell (default: loss 1 3 5 10,
# each alone, with 1 ms delay, and with 1 % duplication + 10 % reordering
# + 1 ms delay).  RS_ARGS: more rs-httpd options.  LIMIT: seconds per
# transfer (default 120; a cut transfer counts as failed).  Linux's only
# other congestion control here, cubic, cannot be made a namespace's
# default (not in tcp_allowed_congestion_control).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
. "$ROOT/tests/interop/lib/ns.sh"

RUNS=${RUNS:-3}
MB=${MB:-10}
RS_ARGS=${RS_ARGS:-}
LINUX_CC=${LINUX_CC:-reno bbr}
RS_CC=${RS_CC:-reno bbr}
# the defaults: refstack's (rs_stack_conf_init) and the host's
RS_DEFAULT_CC=bbr
LINUX_DEFAULT_CC=$(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo "?")
LIMIT=${LIMIT:-120}
if [ -z "${CELLS:-}" ]; then
	CELLS=""
	for l in 1 3 5 10; do
		CELLS="$CELLS $l:0:0:0 $l:0:0:1000 $l:1:10:1000"
	done
fi
OUT=$(mktemp -d /tmp/rs-lossgrid.XXXXXX)
RESULTS=${RESULTS:-$ROOT/build/bench/loss-grid-results.txt}
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

HTTPD=$(t_bin "$ROOT" rs-httpd) || { echo "loss-grid.sh: build rs-httpd first (make -C refstack)" >&2; exit 1; }
RSCTL=$(t_bin "$ROOT" rsctl) || { echo "loss-grid.sh: build rsctl first" >&2; exit 1; }
IMPAIR=$(t_build_tool "$ROOT" impair) || exit 1
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
command -v nginx >/dev/null || { echo "loss-grid.sh: nginx not installed (make deps)" >&2; exit 1; }
mkdir -p "$(dirname "$RESULTS")" "$OUT/www" "$OUT/tmp"
head -c "${MB}M" /dev/urandom >"$OUT/www/file"

NS_TAG=lg
NS_TXCSUM=off ns_up_bridged lg || { echo "loss-grid.sh: namespaces" >&2; exit 1; }
# the bridge forwards frames as they are: the Linux sender must finish
# its checksums itself (refstack always does)
ip netns exec "$NS_S" ethtool -K "$NS_SIF" tx off >/dev/null 2>&1
t_nginx_conf "$OUT" "$NS_STACK_IP"

# bridge_start LOSS DUP REORDER DELAY_US / bridge_stop
bridge_start() {
	timeout 3600 ip netns exec "$NS_M" "$IMPAIR" -a "$NS_MA" -b "$NS_MB" -l "$1" -d "$2" \
		-r "$3" -D "$4" -t 3590 >"$OUT/impair.out" 2>&1 &
	B_JOB=$!
	t_bg_add "$B_JOB"
	t_wait_for "$OUT/impair.out" ready 30 ||
		echo "# loss-grid.sh: the bridge for cell $1:$2:$3:$4 was not ready within 30 s" >&2
	B_PID=$(sed -n 's/^ready pid \([0-9]*\)$/\1/p' "$OUT/impair.out")
}
# without the bridge's own pid (not ready in time) its timeout wrapper
# (the job) takes the SIGTERM and passes it on
bridge_stop() { t_stop "${B_PID:-$B_JOB}" "$B_JOB"; }

# kernel counters of the stack namespace: "TCPTimeouts RetransSegs"
kstats() {
	ip netns exec "$NS_S" awk '
		/^TcpExt:/ && !h { for (i = 1; i <= NF; i++) x[$i] = i; h = 1; next }
		/^TcpExt:/ { to = $x["TCPTimeouts"] }
		/^Tcp:/ && !g { for (i = 1; i <= NF; i++) y[$i] = i; g = 1; next }
		/^Tcp:/ { rt = $y["RetransSegs"] }
		END { print to + 0, rt + 0 }' /proc/net/netstat /proc/net/snmp
}

# fetch — curl from the Linux namespace; prints "TRANSFER_S CONNECT_S",
# "fail 0" on error
fetch() {
	local t
	rm -f "$OUT/got"
	t=$(ip netns exec "$NS_L" timeout $((LIMIT + 10)) curl -sS --max-time "$LIMIT" -o "$OUT/got" \
		-w '%{time_total} %{time_connect}' "http://$NS_STACK_IP/file" 2>"$OUT/curl.err") ||
		{ echo fail 0; return; }
	cmp -s "$OUT/www/file" "$OUT/got" || { echo fail 0; return; }
	awk '{ printf "%.6f %.6f\n", $1 - $2, $2 }' <<<"$t"
}

# run_one SENDER CELL — SENDER refstack-CC or linux-CC; prints
# "SENDER CELL seconds rtos retrans connect_seconds"
run_one() {
	local stack=$1 cell=$2 job pid t c a b extra=()
	if [ "${stack%%-*}" = refstack ]; then
		read -r -a extra <<<"$RS_ARGS"
		timeout 600 ip netns exec "$NS_S" "$HTTPD" --if "$NS_SIF" --file "$OUT/www/file" \
			--port 80 --cc "${stack#refstack-}" "${extra[@]}" >"$OUT/httpd.log" 2>&1 &
		job=$!
		t_bg_add "$job"
		t_wait_for "$OUT/httpd.log" "listening.*pid [0-9]" 10 || { echo "$stack $cell fail 0 0 0"; return; }
		pid=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$OUT/httpd.log")
		read -r t c < <(fetch)
		sleep 0.3 # the counters are published every 100 ms
		a=$("$RSCTL" -p "$pid" --all counters | awk '$1 == "tcp_rto_expired" {print $2}')
		b=$("$RSCTL" -p "$pid" --all counters | awk '$1 == "tcp_retrans_segs" {print $2}')
		# without its pid the timeout wrapper (the job) passes SIGTERM on
		t_stop "${pid:-$job}" "$job"
	else
		ip netns exec "$NS_S" sysctl -qw net.ipv4.tcp_congestion_control="${stack#linux-}" || {
			echo "$stack $cell fail 0 0 0"; return; }
		ip -n "$NS_S" addr add "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF"
		timeout 600 ip netns exec "$NS_S" nginx -p "$OUT" -c "$OUT/nginx.conf" \
			-e "$OUT/nginx-error.log" -g "daemon off; master_process off;" >"$OUT/nginx.out" 2>&1 &
		job=$!
		t_bg_add "$job"
		sleep 0.3
		read -r a0 b0 < <(kstats)
		read -r t c < <(fetch)
		read -r a b < <(kstats)
		a=$((a - a0))
		b=$((b - b0))
		pid=$(cat "$OUT/nginx.pid" 2>/dev/null)
		t_stop "${pid:-$job}" "$job"
		ip -n "$NS_S" addr del "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF"
		ip -n "$NS_S" neigh flush dev "$NS_SIF" 2>/dev/null
	fi
	echo "$stack $cell $t ${a:-0} ${b:-0} $c"
}

SENDERS=""
for cc in $RS_CC; do SENDERS="$SENDERS refstack-$cc"; done
for cc in $LINUX_CC; do SENDERS="$SENDERS linux-$cc"; done
SENDERS=${SENDERS# }
read -r -a SND <<<"$SENDERS"
echo "# loss grid $(date -u +%Y-%m-%dT%H:%MZ): runs=$RUNS size=${MB}MB limit=${LIMIT}s cells='$CELLS' senders='$SENDERS' rs_args='$RS_ARGS' defaults: refstack $RS_DEFAULT_CC, linux $LINUX_DEFAULT_CC"
echo "# sender loss:dup:reorder:delay_us seconds rtos retrans_segs connect_seconds"
: >"$OUT/runs.txt"
for cell in $CELLS; do
	IFS=: read -r l d r u <<<"$cell"
	bridge_start "$l" "$d" "$r" "$u"
	for ((i = 0; i < RUNS; i++)); do
		# rotate the order round by round
		for ((k = 0; k < ${#SND[@]}; k++)); do
			run_one "${SND[(i + k) % ${#SND[@]}]}" "$cell" | tee -a "$OUT/runs.txt"
		done
	done
	bridge_stop
done
cp "$OUT/runs.txt" "$RESULTS"
/usr/bin/python3 - "$OUT/runs.txt" "$SENDERS" "$RS_DEFAULT_CC" "$LINUX_DEFAULT_CC" <<'EOF'
import statistics as S, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
senders = sys.argv[2].split()
def col(st, cell, i):
    return [float(r[i]) for r in rows if r[0] == st and r[1] == cell and r[2] != "fail"]
def spread(v, fmt):
    if not v:
        return "-"
    return (fmt + " [" + fmt + ".." + fmt + "]") % (S.median(v), min(v), max(v))
cells = list(dict.fromkeys(r[1] for r in rows))
print("# summary: transfer seconds (request to last byte), RTOs, retransmitted segments, connect seconds: "
      "median [min..max]; failed = not byte-exact or cut")
for c in cells:
    print("cell loss:dup:reorder:delay_us %s" % c)
    for st in senders:
        fails = sum(1 for r in rows if r[0] == st and r[1] == c and r[2] == "fail")
        print("  %-12s s %-24s rtos %-18s retrans %-20s connect %-20s%s" % (
            st, spread(col(st, c, 2), "%.2f"), spread(col(st, c, 3), "%.0f"),
            spread(col(st, c, 4), "%.0f"), spread(col(st, c, 5), "%.2f"),
            "  failed %d" % fails if fails else ""))
    def by_round(st):
        return [None if r[2] == "fail" else float(r[2]) for r in rows if r[0] == st and r[1] == c]
    # matched algorithms, then the defaults; the i-th run of each sender
    # ran in the same round
    pairs = [("refstack-" + s[6:], s, "") for s in senders
             if s.startswith("linux-") and "refstack-" + s[6:] in senders]
    rd, ld = "refstack-" + sys.argv[3], "linux-" + sys.argv[4]
    if rd in senders and ld in senders:
        pairs.append((rd, ld, "  (defaults)"))
    for a_st, b_st, tag in pairs:
        pr = [a / b for a, b in zip(by_round(a_st), by_round(b_st)) if a and b]
        if pr:
            print("  time ratio %s/%-12s median %.2f [%.2f..%.2f] over %d rounds%s" % (
                a_st, b_st, S.median(pr), min(pr), max(pr), len(pr), tag))
EOF
