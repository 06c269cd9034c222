# Lab topology for refstack interop tests and the afpacket benchmark.
# Sourced by bash scripts; everything it makes is removed by ns_down
# (install it in an EXIT trap).
#
#   namespace rs-<tag>-s  "stack host": interface rs-<tag>-s0, UP, with NO
#                          kernel IPv4 address and IPv6 disabled, so the
#                          kernel there never answers ARP, ICMP or TCP for
#                          the stack's address; refstack opens it through
#                          AF_PACKET and owns 198.18.20.2.
#   namespace rs-<tag>-l  "Linux host": interface rs-<tag>-l0 with
#                          198.18.20.1/24 — curl, nginx, the load client.
#
# Offloads: GRO, GSO and TSO are turned off on both veth ends (ethtool -K)
# so the kernel never hands the stack a frame longer than the MTU and never
# expects it to take one.  TX checksum offload stays ON on the Linux end
# by default, so the stack really gets TP_STATUS_CSUMNOTREADY frames;
# NS_TXCSUM=off turns it off too.
# NS_QUEUES=N gives both veth ends N RX and N TX queues (default 1).
#
# Only 198.18.20.0/24 (our share of the RFC 2544 198.18.0.0/15) is used.

NS_NET=198.18.20
NS_LINUX_IP=$NS_NET.1
NS_STACK_IP=$NS_NET.2
NS_PREFIX=24
NS_TAG=""

ns_log() { echo "# $*"; }

# ns_up TAG — build the two namespaces and the veth pair.
ns_up() {
	NS_TAG=$1
	NS_S=rs-$NS_TAG-s
	NS_L=rs-$NS_TAG-l
	NS_SIF=rs-$NS_TAG-s0
	NS_LIF=rs-$NS_TAG-l0
	ns_down_quiet
	ip netns add "$NS_S" || return 1
	ip netns add "$NS_L" || return 1
	ns_sysctl_quiet "$NS_S"
	ns_sysctl_quiet "$NS_L"
	local q="numrxqueues ${NS_QUEUES:-1} numtxqueues ${NS_QUEUES:-1}"
	# shellcheck disable=SC2086
	ip link add "$NS_SIF" netns "$NS_S" $q type veth peer name "$NS_LIF" netns "$NS_L" $q || return 1
	ip -n "$NS_S" link set lo up && ip -n "$NS_L" link set lo up || return 1
	ip -n "$NS_L" addr add "$NS_LINUX_IP/$NS_PREFIX" dev "$NS_LIF" || return 1
	ns_offloads "$NS_S" "$NS_SIF" || return 1
	ns_offloads "$NS_L" "$NS_LIF" || return 1
	if [ "${NS_TXCSUM:-on}" = off ]; then
		ip netns exec "$NS_L" ethtool -K "$NS_LIF" tx off >/dev/null 2>&1 || return 1
	fi
	ip -n "$NS_S" link set "$NS_SIF" up && ip -n "$NS_L" link set "$NS_LIF" up || return 1
	NS_SMAC=$(ip netns exec "$NS_S" cat /sys/class/net/"$NS_SIF"/address)
	return 0
}

# IPv6 off (no router solicitations, no DAD noise); no forwarding.
ns_sysctl_quiet() {
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=0 >/dev/null
}

ns_offloads() {
	ip netns exec "$1" ethtool -K "$2" gro off gso off tso off >/dev/null 2>&1
}

# ns_stack_has_no_ip — the property the whole design rests on.
ns_stack_has_no_ip() {
	! ip -n "$NS_S" -4 addr show dev "$NS_SIF" | grep -q inet
}

ns_down_quiet() {
	[ -n "$NS_TAG" ] || return 0
	ip netns del "rs-$NS_TAG-s" 2>/dev/null
	ip netns del "rs-$NS_TAG-l" 2>/dev/null
	ip netns del "rs-$NS_TAG-m" 2>/dev/null
	return 0
}

ns_down() { ns_down_quiet; }

# ---- small test bookkeeping shared by the interop scripts ---------------
T_PASS=0
T_FAIL=0
t_ok() { T_PASS=$((T_PASS + 1)); echo "ok - $*"; }
t_fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL - $*"; }
t_check() { # t_check "name" cmd...
	local name=$1; shift
	if "$@"; then t_ok "$name"; else t_fail "$name"; fi
}
t_summary() { echo "$T_PASS passed, $T_FAIL failed"; [ "$T_FAIL" -eq 0 ]; }
# t_abort "name": a precondition failed; count it, print the summary, stop.
t_abort() { t_fail "$*"; t_summary; exit 1; }

# Background processes started by a test; killed by PID in t_cleanup.
T_PIDS=()
t_bg_add() { T_PIDS+=("$1"); }
# t_mine PID — PID is still a child of this script.  Bash reaps a finished
# background job at once, and its number is then anyone's: pid_max is
# 32768 on the test machine and a busy one wraps it in minutes, so a
# reaped job's PID may be another test's process by the time we clean up.
t_mine() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	[ "${2:-}" = "$$" ]
}
# t_why JOB LOG — sets T_WHY: why a background job did not get ready (still
# running, or its exit status) and the start of its log, for a FAIL line
# (run-all.sh shows only a script's last 40 lines).  Not in $(...): a
# subshell cannot wait for the script's jobs.
t_why() {
	local rc
	if t_mine "$1"; then
		T_WHY="still running"
	else
		wait "$1" 2>/dev/null
		rc=$?
		T_WHY="exited $rc"
	fi
	T_WHY="$T_WHY: $(head -c 300 "$2" 2>/dev/null | tr '\n' ' ')"
}
# Each wrapper (timeout, ip netns exec) gets its program's pid signalled
# directly, never the wrapper alone (see t_stop); SIGKILL after 5 s.  Jobs
# already reaped are left alone (t_mine).
t_kill_all() {
	local p c kids=() i ch mine=()
	for p in "${T_PIDS[@]}"; do
		if t_mine "$p"; then
			mine+=("$p")
		elif [ -e "/proc/$p" ]; then
			echo "# t_kill_all: pid $p is no longer this script's (now $(cat "/proc/$p/comm" 2>/dev/null)): left alone"
		fi
	done
	for p in "${mine[@]}"; do
		ch=$(pgrep -P "$p" 2>/dev/null)
		[ -n "$ch" ] || { kids+=("$p"); continue; }
		for c in $ch; do
			kids+=("$c" $(pgrep -P "$c" 2>/dev/null))
		done
	done
	# the programs first; their wrappers then exit on their own
	for p in "${kids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for ((i = 0; i < 50; i++)); do
		c=0
		for p in "${kids[@]}"; do
			kill -0 "$p" 2>/dev/null && c=1
		done
		[ $c = 0 ] && break
		sleep 0.1
	done
	for p in "${kids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${mine[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${T_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	T_PIDS=()
}

# t_shim_lab TAG PROGRAM... — the start of the shim's nginx tests: OUT (a
# temporary directory, kept at exit with KEEP=1), PROGRAMs checked (nginx
# is looked for in /usr/sbin too), the lab up (ns_up TAG; NS_QUEUES as the
# caller sets it), PY, URL, OUT/tmp and OUT/www/64.bin.  At exit
# t_shim_cleanup runs the script's own t_cleanup_more (if it defines one),
# kills what the test started and takes the lab down.
t_shim_lab() {
	local tag=$1 p
	shift
	OUT=$(mktemp -d "/tmp/rs-$tag.XXXXXX")
	trap t_shim_cleanup EXIT
	trap 'exit 130' INT TERM
	command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
	for p in "$@"; do
		command -v "$p" >/dev/null || t_abort "$p installed (make deps)"
	done
	ns_up "$tag" || t_abort "namespaces up"
	PY=/usr/bin/python3
	URL=http://$NS_STACK_IP
	mkdir -p "$OUT/www" "$OUT/tmp"
	head -c 64 /dev/urandom >"$OUT/www/64.bin"
}
t_shim_cleanup() {
	! declare -F t_cleanup_more >/dev/null || t_cleanup_more
	t_kill_all
	ns_down
	[ -n "${KEEP:-}" ] || rm -rf "$OUT"
}

# Wait until a process prints a line matching a pattern into a file.
t_wait_for() { # file pattern seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# t_bin NAME — path of a refstack binary (apps/NAME, NAME at the top, or
# under build/); empty if not built.
t_bin() {
	local root=$1 name=$2 p
	for p in "$root/apps/$name" "$root/$name" "$root/build/apps/$name" "$root/build/$name"; do
		[ -x "$p" ] && [ -f "$p" ] && { echo "$p"; return 0; }
	done
	return 1
}

# t_netem NS DEV SPEC... — impair egress of DEV in namespace NS.
t_netem() {
	local ns=$1 dev=$2; shift 2
	ip netns exec "$ns" tc qdisc replace dev "$dev" root netem "$@"
}

# t_nginx_conf DIR ADDR — DIR/nginx.conf: one worker serving DIR/www on
# ADDR:80, its pid, log and temporary files under DIR.
t_nginx_conf() {
	mkdir -p "$1/tmp" "$1/www"
	cat >"$1/nginx.conf" <<EOF
worker_processes 1;
pid $1/nginx.pid;
error_log $1/nginx-error.log;
events { worker_connections 256; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $1/tmp;
	proxy_temp_path $1/tmp;
	fastcgi_temp_path $1/tmp;
	uwsgi_temp_path $1/tmp;
	scgi_temp_path $1/tmp;
	server {
		listen $2:80;
		root $1/www;
	}
}
EOF
}

# t_sha FILE — sha256 hex of a file.
t_sha() { sha256sum "$1" | cut -d' ' -f1; }
t_not() { ! "$@"; }

# t_build_tool ROOT NAME — compile tests/interop/NAME.c with the afpacket
# backend (ASan/UBSan) into build/interop/NAME; prints the path.
t_build_tool() {
	local root=$1 name=$2 bin=$1/build/interop/$2
	mkdir -p "$root/build/interop"
	${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
		-fsanitize=address,undefined -fno-sanitize-recover=all \
		-o "$bin" "$root/tests/interop/$name.c" "$root/src/io_afpacket.c" "$root/src/steer_bpf.c" >&2 || return 1
	echo "$bin"
}

# ---- impairment ------------------------------------------------------------
# IMP_LOSS/IMP_DUP/IMP_REORDER in %, IMP_DELAY_US: the netem-like
# conditions of the "under netem" tests.
IMP_LOSS=${IMP_LOSS:-1}
IMP_DUP=${IMP_DUP:-1}
IMP_REORDER=${IMP_REORDER:-10}
IMP_DELAY_US=${IMP_DELAY_US:-1000}
IMP_DESC="loss $IMP_LOSS% duplicate $IMP_DUP% delay $((IMP_DELAY_US / 1000))ms reorder $IMP_REORDER%"

# Does this kernel have sch_netem?  (This lab machine's does not.)
t_have_netem() {
	local ns=rs-$NS_TAG-probe ok=1
	ip netns add "$ns" 2>/dev/null || return 1
	ip netns exec "$ns" tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1 && ok=0
	ip netns del "$ns"
	return $ok
}

# impair_check OUTDIR — after the bridge stopped: did it impair?
impair_check() {
	[ "$IMP_MODE" = bridge ] || return 0
	t_stop "$(sed -n 's/^ready pid \([0-9]*\)$/\1/p' "$1/impair.out")" "$IMP_PID"
	sed 's/^/# impair: /' "$1/impair.out"
	local k
	for k in dropped duplicated reordered; do
		grep -Eq "^$k=[1-9]" "$1/impair.out" || return 1
	done
}

# impair_up ROOT TAG OUTDIR — a lab whose link impairs both directions.
# With sch_netem: the plain two-namespace lab with netem on both veth
# ends (the stack then needs bypass=0: PACKET_QDISC_BYPASS skips qdiscs).
# Without: a third namespace rs-TAG-m between them, running the impair
# bridge (tests/interop/impair.c, netem's semantics in user space).
# Sets IMP_MODE (netem|bridge) and IMP_IFSPEC (the stack's --if).
impair_up() {
	local root=$1 tag=$2 out=$3 bin
	NS_TAG=$tag
	if t_have_netem; then
		ns_up "$tag" || return 1
		IMP_MODE=netem
		IMP_IFSPEC="$NS_SIF,bypass=0"
		t_netem "$NS_S" "$NS_SIF" loss "$IMP_LOSS%" duplicate "$IMP_DUP%" \
			delay "${IMP_DELAY_US}us" reorder "$IMP_REORDER%" 50% &&
			t_netem "$NS_L" "$NS_LIF" loss "$IMP_LOSS%" duplicate "$IMP_DUP%" \
				delay "${IMP_DELAY_US}us" reorder "$IMP_REORDER%" 50%
		return
	fi
	bin=$(t_build_tool "$root" impair) || return 1
	IMP_MODE=bridge
	NS_TXCSUM=off ns_up_bridged "$tag" || return 1
	IMP_IFSPEC=$NS_SIF
	timeout 600 ip netns exec "$NS_M" "$bin" -a "$NS_MA" -b "$NS_MB" -l "$IMP_LOSS" \
		-d "$IMP_DUP" -D "$IMP_DELAY_US" -r "$IMP_REORDER" -t 590 \
		>"$out/impair.out" 2>&1 &
	IMP_PID=$!
	t_bg_add "$IMP_PID"
	t_wait_for "$out/impair.out" ready 10
}

# ns_up_bridged TAG — S <-> M (bridge) <-> L; the Linux end computes its
# own checksums (tx off): the bridge forwards frames as they are.
ns_up_bridged() {
	ns_up "$1" || return 1
	NS_M=rs-$1-m
	NS_MA=rs-$1-ma
	NS_MB=rs-$1-mb
	ip netns add "$NS_M" || return 1
	ns_sysctl_quiet "$NS_M"
	ip -n "$NS_L" link del "$NS_LIF" || return 1
	ip link add "$NS_SIF" netns "$NS_S" type veth peer name "$NS_MA" netns "$NS_M" || return 1
	ip link add "$NS_MB" netns "$NS_M" type veth peer name "$NS_LIF" netns "$NS_L" || return 1
	local d
	for d in "$NS_S:$NS_SIF" "$NS_M:$NS_MA" "$NS_M:$NS_MB" "$NS_L:$NS_LIF"; do
		ns_offloads "${d%%:*}" "${d#*:}" || return 1
		ip -n "${d%%:*}" link set "${d#*:}" up || return 1
	done
	ip netns exec "$NS_L" ethtool -K "$NS_LIF" tx off >/dev/null 2>&1 || return 1
	ip -n "$NS_M" link set "$NS_MA" promisc on && ip -n "$NS_M" link set "$NS_MB" promisc on &&
		ip -n "$NS_L" addr add "$NS_LINUX_IP/$NS_PREFIX" dev "$NS_LIF"
}

# t_app ROOT NAME — NAME (an app or rsctl) built here under ASan/UBSan
# against build/asan/librefstack-asan.a when that library exists and
# RS_INTEROP_ASAN is not 0, so the interop suite runs sanitized too;
# otherwise the production binary (t_bin).
t_app() {
	local root=$1 name=$2 lib=$1/build/asan/librefstack-asan.a
	local out=$1/build/interop/$2-asan src=$1/apps/$2.c
	[ "$name" = rsctl ] && src=$root/rsctl.c
	if [ "${RS_INTEROP_ASAN:-1}" != 0 ] && [ -f "$lib" ] && [ -f "$src" ]; then
		mkdir -p "$root/build/interop"
		${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
			-fno-omit-frame-pointer -fsanitize=address,undefined \
			-fno-sanitize-recover=all -o "$out" "$src" "$lib" -lxdp -lbpf -lpthread >&2 || return 1
		echo "$out"
		return 0
	fi
	t_bin "$root" "$name"
}

# ns_kernel_silent NS — the kernel of namespace NS sent no TCP segment
# (no RST) and no ICMP (/proc/net/snmp of that namespace): the replies on
# the wire for the stack's address all came from the stack.
ns_kernel_silent() {
	ip netns exec "$1" awk '
		/^Tcp:/ && !th { for (i = 1; i <= NF; i++) tc[$i] = i; th = 1; next }
		/^Tcp:/ { out += $tc["OutSegs"] + $tc["OutRsts"] }
		/^Icmp:/ && !ih { for (i = 1; i <= NF; i++) ic[$i] = i; ih = 1; next }
		/^Icmp:/ { out += $ic["OutMsgs"] }
		END { exit out != 0 }' /proc/net/snmp
}

# ns_ip_in NS — IPv4 packets the kernel of namespace NS took into its IP
# layer (/proc/net/snmp Ip InReceives; a frame for another MAC,
# PACKET_OTHERHOST, is dropped before it counts)
ns_ip_in() {
	ip netns exec "$1" awk '/^Ip:/ && !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next }
		/^Ip:/ { print $c["InReceives"] }' /proc/net/snmp
}

# ns_stack_mac ADDR — the MAC refstack's afpacket backend gives the stack
# at ADDR (io_afpacket.c: 02:52 then the address bytes)
ns_stack_mac() {
	local IFS=.
	set -- $1
	printf '02:52:%02x:%02x:%02x:%02x' "$1" "$2" "$3" "$4"
}

# t_stop APP_PID JOB — SIGTERM to the program itself, not to its `timeout`
# wrapper: timeout follows its SIGTERM with a SIGCONT, which can cancel the
# SIGSTOP of LeakSanitizer's exit-time tracer and hang the process for
# good.  Waits up to 10 s, then SIGKILL (and says so).
t_stop() {
	local pid=$1 job=$2 i
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "# pid $pid did not exit within 10 s of SIGTERM: SIGKILL"
		kill -KILL "$pid"
	fi
	wait "$job" 2>/dev/null
}
