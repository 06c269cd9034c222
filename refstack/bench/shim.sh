#!/bin/bash
# Unmodified nginx and haproxy on refstack (LD_PRELOAD shim, rs-run) vs the
# same binaries on Linux: same tsload client (http, keep-alive off),
# alternating runs (linux, refstack:base, refstack:full, linux, ...),
# connections/s and machine CPU per connection (all CPUs' busy time from
# /proc/stat over the run, client included, divided by connections), with
# medians, spread (min-max) and ratios to Linux.
#
#   bash refstack/bench/shim.sh [nginx|haproxy]...   (default: both)
#   RUNS=5 SECS=4 CONC=64 CORES="1 2" DUMP=DIR MQ=off IFOPTS=,ownmac=1
#   SERVER_CPUS= CLIENT_CPUS= ORIGIN_CPUS= STACKS="linux refstack:base refstack:full"
#   BRNF= PCAP=
#
# STACKS: the stacks of each round, in that order (linux must be among
# them for the ratios).
#
# BRNF=off|on sets net.bridge.bridge-nf-call-iptables in the client's
# namespace, where the lab's bridge is (empty, the default: as the
# machine has it).  With br_netfilter loaded every frame crossing the
# bridge runs the IPv4 netfilter hooks and a route lookup there
# (br_nf_pre_routing, br_nf_forward_ip, ip_sabotage_in): lab cost, paid
# per frame by whichever context sends it.
#
# SERVER_CPUS, CLIENT_CPUS, ORIGIN_CPUS: CPU lists (taskset -c) for the
# server under test, the tsload client and haproxy's origins, the same for
# every stack; empty (the default): the scheduler places them.  With 1
# server core on a 2-CPU machine the scheduler may put the server beside
# the client on one CPU for a whole run: pinning tells that mode apart.
#
# IFOPTS: afpacket options for refstack after the interface's name
# (src/io_afpacket.h); the default ",ownmac=1" gives the stack a MAC of
# its own (refstack README), IFOPTS= the interface's.
#
# DUMP=DIR keeps each run's tsload JSON and, for refstack, the server's
# counters at the end of the run (rsctl --json counters: drops by reason,
# lock waits, hand-offs) in DIR; PERF=1 with DUMP also records every CPU
# during each client run (perf record -a -e cpu-clock -g: DIR/perf-*.data,
# for `perf report -i FILE --sort comm,dso,sym`).  Not for figures: perf
# costs cycles.  PCAP=1 with DUMP captures the stack's link on its Linux
# end (DIR/pcap-*.pcap, 96 bytes a frame; the stack's own capture would
# miss its frames: PACKET_QDISC_BYPASS skips the taps).
#
# Server cores: nginx worker_processes N on both (on refstack each forked
# worker is a core of the one stack, rs-run --cores N); haproxy nbthread
# N on both, with tune.listener.multi-queue off (MQ=on: haproxy 2.6's
# default, which hands each accepted connection to the least loaded
# thread; on refstack the connection then stays on the accepting thread's
# core while the other thread serves it).  haproxy's origins: nginx on a Linux backend host on the same
# L2 segment (tests/interop/shim-haproxy.sh's lab).  Needs root; run it
# through /work/tools/quiet and /work/tools/isolated.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
. "$ROOT/tests/interop/lib/ns.sh"
RUNS=${RUNS:-5}
SECS=${SECS:-4}
CONC=${CONC:-64}
CORES=${CORES:-"1 2"}
SERVERS=${*:-"nginx haproxy"}
for v in SERVER_CPUS CLIENT_CPUS ORIGIN_CPUS; do
	[ -z "${!v:-}" ] || taskset -c "${!v}" true 2>/dev/null ||
		{ echo "shim.sh: $v=${!v}: not a CPU list of this machine (taskset -c; CPUs 0-$(($(nproc) - 1)))" >&2; exit 2; }
done
PIN_S=() PIN_C=() PIN_O=()  # command prefixes: taskset -c LIST, or nothing
[ -n "${SERVER_CPUS:-}" ] && PIN_S=(taskset -c "$SERVER_CPUS")
[ -n "${CLIENT_CPUS:-}" ] && PIN_C=(taskset -c "$CLIENT_CPUS")
[ -n "${ORIGIN_CPUS:-}" ] && PIN_O=(taskset -c "$ORIGIN_CPUS")
TS=$ROOT/../loadgen/tsload
PY=/usr/bin/python3
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
OUT=$(mktemp -d /tmp/rs-shimb.XXXXXX)
ORIGIN_IP=$NS_NET.3
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	ns_down
	ip netns del "rs-shb-o" 2>/dev/null
	rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

eval "$(sed -n '/^ns_up_backend() {/,/^}/p' "$ROOT/tests/interop/shim-haproxy.sh")"
ns_up_backend shb || { echo "lab up failed" >&2; exit 1; }
if [ -n "${BRNF:-}" ]; then
	v=0; [ "$BRNF" = on ] && v=1
	ip netns exec "$NS_L" sysctl -qw net.bridge.bridge-nf-call-iptables=$v ||
		{ echo "shim.sh: BRNF=$BRNF: net.bridge.bridge-nf-call-iptables not settable in $NS_L" >&2; exit 2; }
fi
mkdir -p "$OUT/www" "$OUT/tmp"
head -c 64 /dev/urandom >"$OUT/www/64.bin"
TEMPS="client_body_temp_path $OUT/tmp; proxy_temp_path $OUT/tmp; fastcgi_temp_path $OUT/tmp; uwsgi_temp_path $OUT/tmp; scgi_temp_path $OUT/tmp;"

nginx_conf() { # FILE WORKERS LISTEN
	cat >"$1" <<EOC
user root; worker_processes $2; daemon off; pid $1.pid; error_log $1.err error;
events { worker_connections 8192; accept_mutex off; }
http { access_log off; keepalive_timeout 0; sendfile on; default_type application/octet-stream; $TEMPS
       server { listen $3 backlog=8192; root $OUT/www; } }
EOC
}
haproxy_conf() { # FILE THREADS
	cat >"$1" <<EOC
global
    nbthread $2
    maxconn 8192
    tune.listener.multi-queue ${MQ:-off}
defaults
    mode http
    option httpclose
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    maxconn 8192
frontend fe
    bind $NS_STACK_IP:80 backlog 8192
    default_backend origins
backend origins
    balance roundrobin
    server o1 $ORIGIN_IP:8081
    server o2 $ORIGIN_IP:8082
EOC
}

# origins for haproxy (Linux, backend host)
cat >"$OUT/origin.conf" <<EOC
user root; worker_processes 1; daemon off; pid $OUT/origin.pid; error_log $OUT/origin.err error;
events { worker_connections 8192; }
http { access_log off; keepalive_timeout 0; default_type application/octet-stream; $TEMPS
       server { listen $ORIGIN_IP:8081 backlog=8192; root $OUT/www; }
       server { listen $ORIGIN_IP:8082 backlog=8192; root $OUT/www; } }
EOC
ip netns exec "$NS_O" "${PIN_O[@]}" nginx -p "$OUT" -c "$OUT/origin.conf" >/dev/null 2>&1 &
PIDS+=($!)

busy_jiffies() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat; }

# start SERVER STACK CORES — prints the pid of the server (or nothing)
start_server() {
	local srv=$1 stack=$2 n=$3 conf=$OUT/$1-$2-$3.conf pre=()
	if [ "$stack" = linux ]; then
		ip -n "$NS_S" addr add "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF" 2>/dev/null
	else
		pre=("$ROOT/rs-run" --features "${stack#refstack:}" --cores "$n" --if "$NS_SIF${IFOPTS-,ownmac=1}" --ip "$NS_STACK_IP/$NS_PREFIX" --)
	fi
	if [ "$srv" = nginx ]; then
		nginx_conf "$conf" "$n" "$NS_STACK_IP:80"
		ip netns exec "$NS_S" "${PIN_S[@]}" "${pre[@]}" nginx -p "$OUT" -c "$conf" >"$conf.out" 2>&1 &
	else
		haproxy_conf "$conf" "$n"
		ip netns exec "$NS_S" "${PIN_S[@]}" "${pre[@]}" haproxy -db -f "$conf" >"$conf.out" 2>&1 &
	fi
	local pid=$! i
	PIDS+=($pid)
	for i in $(seq 50); do
		ip netns exec "$NS_L" curl -s -o /dev/null -m 1 "http://$NS_STACK_IP/64.bin" && { echo $pid; return; }
		sleep 0.1
	done
	kill $pid
}

stop_server() { # PID STACK
	kill "$1" 2>/dev/null
	for i in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
	[ "$2" = linux ] && ip -n "$NS_S" addr del "$NS_STACK_IP/$NS_PREFIX" dev "$NS_SIF" 2>/dev/null
	sleep 0.3
}

one_run() { # SERVER STACK CORES RUN
	local srv=$1 stack=$2 n=$3 r=$4 pid j0 j1 res=$OUT/r-$1-$2-$3-$4.json
	# the origins forget the previous run's TIME_WAITs: a SYN of another
	# stack on a 4-tuple they still hold fails PAWS (RST and a SYN retry,
	# the previous run's doing, not this one's)
	ip netns exec "$NS_O" ss -K -t -n state time-wait >/dev/null 2>&1
	# and every host learns the server's MAC afresh (refstack's is its
	# own, not the interface's: io_afpacket.c)
	ip -n "$NS_L" neigh flush all >/dev/null 2>&1
	ip -n "$NS_O" neigh flush all >/dev/null 2>&1
	pid=$(start_server "$srv" "$stack" "$n")
	[ -n "$pid" ] || { echo "$srv $stack $n $r failed-to-start"; return; }
	local perf=
	if [ -n "${PERF:-}" ] && [ -n "${DUMP:-}" ]; then
		mkdir -p "$DUMP"
		perf record -q -a -g -e cpu-clock -o "$DUMP/perf-$srv-$stack-$n-$r.data" >/dev/null 2>&1 &
		perf=$!
		PIDS+=($perf)
		sleep 0.5
	fi
	local cap=
	if [ -n "${PCAP:-}" ] && [ -n "${DUMP:-}" ]; then
		mkdir -p "$DUMP"
		ip netns exec "$NS_L" tcpdump -q -n -s 96 -i "$NS_LIF" -w "$DUMP/pcap-$srv-$stack-$n-$r.pcap" tcp 2>/dev/null &
		cap=$!
		PIDS+=($cap)
		sleep 0.5
	fi
	j0=$(busy_jiffies)
	ip netns exec "$NS_L" "${PIN_C[@]}" "$TS" --engine=http --keepalive=0 --host="$NS_STACK_IP" --port=80 \
		--path=/64.bin --concurrency="$CONC" --threads=1 --runtime="${SECS}s" \
		--output-format=json --output="$res" >/dev/null 2>&1
	j1=$(busy_jiffies)
	if [ -n "$perf" ]; then
		kill -INT "$perf"
		wait "$perf" 2>/dev/null
	fi
	if [ -n "$cap" ]; then
		kill -INT "$cap"
		wait "$cap" 2>/dev/null
	fi
	if [ -n "${DUMP:-}" ]; then
		mkdir -p "$DUMP"
		cp "$res" "$DUMP/"
		[ "$stack" = linux ] || ip netns exec "$NS_S" "$ROOT/rsctl" -p "$pid" --json counters \
			>"$DUMP/rsctl-$srv-$stack-$n-$r.json" 2>&1
	fi
	stop_server "$pid" "$stack"
	$PY - "$res" "$srv" "$stack" "$n" "$r" "$((j1 - j0))" <<'PYEOF'
import json, sys
res, srv, stack, n, r, jif = sys.argv[1:]
j = json.load(open(res))["jobs"][0]
c = j["connections"]
cpu_us = int(jif) * 10000.0 / c if c else float("nan")
p99 = j["latency_us"]["total"]["percentiles"].get("99", float("nan")) / 1000.0
print(srv, stack, n, r, "%.1f" % j["cps"], "%.2f" % cpu_us, j["errors"]["total"], "%.2f" % p99)
PYEOF
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') runs=$RUNS secs=$SECS conc=$CONC kernel=$(uname -r) cpus=$(nproc) pinned: server ${SERVER_CPUS:-no} client ${CLIENT_CPUS:-no} origins ${ORIGIN_CPUS:-no} bridge-nf-call-iptables=$(ip netns exec "$NS_L" sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null || echo -)"
echo "# server stack cores run conn_per_s machine_cpu_us_per_conn errors p99_ms"
for srv in $SERVERS; do
	for n in $CORES; do
		for r in $(seq "$RUNS"); do
			for stack in ${STACKS:-linux refstack:base refstack:full}; do
				one_run "$srv" "$stack" "$n" "$r"
			done
		done
	done
done | tee "$OUT/all.txt"
$PY - "$OUT/all.txt" <<'PYEOF'
import statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if line.startswith("#") or len(f) < 8:
        continue
    rows.setdefault((f[0], f[2], f[1]), {})[int(f[3])] = (float(f[4]), float(f[5]), int(f[6]), float(f[7]))

def spread(v, fmt):
    return (fmt + " (" + fmt + "-" + fmt + ")") % (st.median(v), min(v), max(v))

def ratios(v, base, i):
    """run r of a stack over run r of Linux (the runs alternate, so each
    pair ran side by side)"""
    return [v[r][i] / base[r][i] for r in v if r in base and base[r][i] > 0]

print("\n| server | cores | stack | runs | conn/s median (min-max) | x Linux, per run pair | "
      "machine CPU us/conn median (min-max) | x Linux, per run pair | p99 ms median (max) | errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
order = ["linux", "refstack:base", "refstack:full"]
for (srv, n, stack) in sorted(rows, key=lambda k: (k[0], k[1], order.index(k[2]))):
    v = rows[(srv, n, stack)]
    base = rows.get((srv, n, "linux"), {})
    cps = [x[0] for x in v.values()]
    cpu = [x[1] for x in v.values()]
    rc, ru = ratios(v, base, 0), ratios(v, base, 1)
    p99 = [x[3] for x in v.values()]
    print("| %s | %s | %s | %d | %s | %s | %s | %s | %.1f (%.1f) | %d |" % (
        srv, n, stack, len(v), spread(cps, "%.0f"), spread(rc, "%.2f") if rc and stack != "linux" else "-",
        spread(cpu, "%.1f"), spread(ru, "%.2f") if ru and stack != "linux" else "-",
        st.median(p99), max(p99), sum(x[2] for x in v.values())))
PYEOF
