#!/bin/bash
# Debian's haproxy, unmodified, on refstack through the LD_PRELOAD shim
# (rs-run), mode http with keep-alive off on both sides (option
# httpclose), nbthread 1 and 2 (as many stack cores), in front of two nginx
# origins on a Linux backend host: every client request opens an active
# connection from the stack to an origin.  Bodies byte-exact (sha256); the
# origins' access logs account for every request the clients made.
#
# Topology (the shim owns one interface, so everything shares one L2
# segment): namespace rs-TAG-l holds a Linux bridge rs-TAG-br with the
# client address 198.18.20.1; its ports lead to the stack's namespace
# rs-TAG-s (198.18.20.2 on refstack, no kernel address) and to the backend
# host rs-TAG-o (198.18.20.3, nginx on ports 8081 and 8082).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

OUT=$(mktemp -d /tmp/rs-shimh.XXXXXX)
cleanup() { t_kill_all; ns_down; ip netns del "rs-$NS_TAG-o" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
for p in nginx haproxy curl ab; do
	command -v $p >/dev/null || t_abort "$p installed (make deps)"
done
RSCTL=$(t_app "$ROOT" rsctl) || t_abort "rsctl is built"
ORIGIN_IP=$NS_NET.3

# ns_up_backend TAG — the two-namespace lab, its Linux end moved onto a
# bridge, and a backend host on that bridge.
ns_up_backend() {
	ns_up "$1" || return 1
	NS_O=rs-$1-o
	local br=rs-$1-br ob=rs-$1-ob oo=rs-$1-o0
	ip netns del "$NS_O" 2>/dev/null
	ip netns add "$NS_O" || return 1
	ns_sysctl_quiet "$NS_O"
	ip -n "$NS_L" addr flush dev "$NS_LIF" || return 1
	ip -n "$NS_L" link add "$br" type bridge || return 1
	ip -n "$NS_L" link set "$NS_LIF" master "$br" || return 1
	ip link add "$ob" netns "$NS_L" type veth peer name "$oo" netns "$NS_O" || return 1
	ip -n "$NS_L" link set "$ob" master "$br" || return 1
	ns_offloads "$NS_L" "$ob" && ns_offloads "$NS_O" "$oo" || return 1
	ip -n "$NS_L" addr add "$NS_LINUX_IP/$NS_PREFIX" dev "$br" || return 1
	ip -n "$NS_O" addr add "$ORIGIN_IP/$NS_PREFIX" dev "$oo" || return 1
	ip -n "$NS_O" link set lo up && ip -n "$NS_O" link set "$oo" up &&
		ip -n "$NS_L" link set "$ob" up && ip -n "$NS_L" link set "$br" up
}
ns_up_backend shh || t_abort "lab up (client bridge, stack, backend host)"

mkdir -p "$OUT/www" "$OUT/tmp"
head -c 1048576 /dev/urandom >"$OUT/www/1m.bin"
head -c 64 /dev/urandom >"$OUT/www/64.bin"
cat >"$OUT/origin.conf" <<EOC
user root;
worker_processes 1;
daemon off;
pid $OUT/origin.pid;
error_log $OUT/origin-error.log warn;
events { worker_connections 4096; }
http {
	keepalive_timeout 0;
	default_type application/octet-stream;
	client_body_temp_path $OUT/tmp; proxy_temp_path $OUT/tmp;
	fastcgi_temp_path $OUT/tmp; uwsgi_temp_path $OUT/tmp; scgi_temp_path $OUT/tmp;
	server { listen $ORIGIN_IP:8081 backlog=4096; root $OUT/www; access_log $OUT/origin1.log; }
	server { listen $ORIGIN_IP:8082 backlog=4096; root $OUT/www; access_log $OUT/origin2.log; }
}
EOC
timeout 300 ip netns exec "$NS_O" nginx -p "$OUT" -c "$OUT/origin.conf" >"$OUT/origin.out" 2>&1 &
t_bg_add $!
origin_up() { ip netns exec "$NS_O" curl -s -o /dev/null -m 1 "http://$ORIGIN_IP:8082/64.bin"; }
for i in $(seq 50); do origin_up && break; sleep 0.1; done
t_check "nginx origins serve on the backend host" origin_up

haproxy_conf() { # THREADS
	cat >"$OUT/haproxy-$1.cfg" <<EOC
global
    nbthread $1
    maxconn 4096
    pidfile $OUT/haproxy-$1.pid
defaults
    mode http
    option httpclose
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    maxconn 4096
frontend fe
    bind $NS_STACK_IP:80 backlog 4096
    default_backend origins
backend origins
    balance roundrobin
    server o1 $ORIGIN_IP:8081
    server o2 $ORIGIN_IP:8082
EOC
}

# tcp_snmp NS FIELD: a Tcp counter of a Linux host (/proc/net/snmp)
tcp_snmp() {
	ip netns exec "$1" awk -v f="$2" '$1 == "Tcp:" && $2 !~ /^[0-9]+$/ {for (i = 2; i <= NF; i++) k[i] = $i; next}
		$1 == "Tcp:" {for (i = 2; i <= NF; i++) if (k[i] == f) print $i}' /proc/net/snmp
}
# stack_extra PID: the frames the stack sent beyond a connection's
# exchange, as it counted them, summed over its cores: retransmissions and
# tail-loss probes, RSTs, challenge ACKs, the ACKs it owed a duplicate or
# out-of-order segment, delayed ACKs, window and keepalive probes
stack_extra() {
	ip netns exec "$NS_S" "$RSCTL" -p "$1" --json counters | /usr/bin/python3 -c '
import json, sys
keys = ("tcp_retrans_segs", "tcp_tail_probes", "tcp_rst_tx", "tcp_challenge_acks",
        "tcp_dup_segs", "tcp_ooo_segs", "tcp_delayed_acks",
        "tcp_zero_window_probes", "tcp_keepalive_probes")
j = json.load(sys.stdin)["instances"]
print(sum(c["counters"][k] for i in j
          for c in i["cores"] for k in keys))'
}
origin_logged() { cat "$OUT/origin1.log" "$OUT/origin2.log" 2>/dev/null | wc -l; }

for th in 1 2; do
	tag=nbthread$th
	haproxy_conf $th
	timeout 120 ip netns exec "$NS_S" "$ROOT/rs-run" --cores $th --if "$NS_SIF" \
		--ip "$NS_STACK_IP/$NS_PREFIX" -- haproxy -db -f "$OUT/haproxy-$th.cfg" \
		>"$OUT/$tag.out" 2>&1 &
	job=$!
	t_bg_add $job
	up=1
	for i in $(seq 50); do
		ip netns exec "$NS_L" curl -s -o /dev/null -m 1 "http://$NS_STACK_IP/64.bin" && { up=0; break; }
		sleep 0.1
	done
	t_check "[$tag] haproxy on refstack forwards to the origins" test $up = 0
	[ $up = 0 ] || { sed 's/^/# /' "$OUT/$tag.out"; continue; }
	before=$(origin_logged)
	ok=0
	for i in 1 2 3 4; do
		rm -f "$OUT/got.bin"
		if ! ip netns exec "$NS_L" curl -sS -m 20 -o "$OUT/got.bin" "http://$NS_STACK_IP/1m.bin" 2>>"$OUT/curl.err"; then
			echo "# [$tag] 1 MB fetch $i: curl failed: $(tail -n 1 "$OUT/curl.err")"
		elif [ "$(t_sha "$OUT/got.bin")" != "$(t_sha "$OUT/www/1m.bin")" ]; then
			# a wrong body, not a failed fetch: keep it and say where it first differs
			cp "$OUT/got.bin" "$OUT/bad-$tag-$i.bin"
			echo "# [$tag] 1 MB fetch $i: body differs ($(stat -c %s "$OUT/got.bin") bytes):" \
				"$(cmp "$OUT/got.bin" "$OUT/www/1m.bin" 2>&1 | head -n 1)"
		else
			ok=$((ok + 1))
		fi
	done
	t_check "[$tag] 1 MB bodies through haproxy byte-exact (sha256), both origins: $ok of 4" test $ok = 4
	hpid=$(pgrep -P $job) # timeout's child: ip netns exec and rs-run exec haproxy
	cin0=$(tcp_snmp "$NS_L" InSegs) oin0=$(tcp_snmp "$NS_O" InSegs) x0=$(stack_extra "$hpid")
	pr0=$(($(tcp_snmp "$NS_L" RetransSegs) + $(tcp_snmp "$NS_O" RetransSegs)))
	ip netns exec "$NS_L" ab -q -n 3000 -c 32 "http://$NS_STACK_IP/64.bin" >"$OUT/$tag-ab.txt" 2>&1
	sleep 0.3 # the last connections' final ACKs
	cin=$(($(tcp_snmp "$NS_L" InSegs) - cin0)) oin=$(($(tcp_snmp "$NS_O" InSegs) - oin0))
	extra=$(($(stack_extra "$hpid") - x0))
	pr=$(($(tcp_snmp "$NS_L" RetransSegs) + $(tcp_snmp "$NS_O" RetransSegs) - pr0))
	abok=$(awk '/^Complete requests:/ {c=$3} /^Failed requests:/ {f=$3} /^Non-2xx/ {f+=$3} END {print c - f}' "$OUT/$tag-ab.txt")
	[ "$abok" = 3000 ] ||
		grep -E "^(Complete|Failed|Non-2xx)|apr_|Length|Exceptions" "$OUT/$tag-ab.txt" | sed 's/^/# /'
	t_check "[$tag] ab: 3000 requests through haproxy, all 200" test "$abok" = 3000
	# Frames the stack sends per request, counted by the Linux hosts'
	# kernels (Tcp InSegs).  To the client: SYN,ACK, the response with
	# its FIN, the ACK of the client's FIN (3).  To the origin: SYN, the
	# request carrying the handshake's last ACK, FIN,ACK after the
	# response (3).  The stack holds an ACK the application's answer can
	# carry for one poll step only (tcp_output.c, ack_waits_for_app): when
	# haproxy polls again before it answers, the ACK goes alone — the
	# handshake's before the request, the one of the origin's response and
	# FIN before haproxy's FIN (5 at most to the origin); and a response
	# written in one step and closed in the next goes before its FIN (4 at
	# most to the client).  With one thread haproxy answers within the
	# step (3.1 measured); with two, its threads wake each other and poll
	# in between (3.6-4.4 to the origin).  On top of these the frames the
	# stack counted as extra (stack_extra) and one ACK for every segment a
	# peer retransmitted.  A stack that sent frames it did not count
	# (duplicate ACKs, needless window updates) breaks the bound.
	if [ $th = 1 ]; then cmax=31 omax=31; else cmax=40 omax=50; fi
	bound=$((3000 * (cmax + omax) / 10 + extra + pr))
	printf '# [%s] segments per request: client %d.%02d, origin %d.%02d; counted extras: the stack %d, one ACK per peer retransmission %d\n' \
		$tag $((cin / 3000)) $((cin * 100 / 3000 % 100)) $((oin / 3000)) $((oin * 100 / 3000 % 100)) $extra $pr
	t_check "[$tag] the stack sends client and origin at most $((cmax / 10)).$((cmax % 10)) + $((omax / 10)).$((omax % 10)) segments per request beside its counted extras ($((cin + oin)) <= $bound)" \
		test $((cin + oin)) -le $bound
	sleep 0.3
	n=$(($(origin_logged) - before))
	t_check "[$tag] the origins' access logs account for every request ($n = 4 + $abok)" \
		test "$n" = $((4 + abok))
	t_stop "$(pgrep -P $job)" "$job"
	if grep -q "runtime error\|AddressSanitizer\|refstack-preload" "$OUT/$tag.out"; then
		sed 's/^/# /' "$OUT/$tag.out"
	fi
done
t_summary
