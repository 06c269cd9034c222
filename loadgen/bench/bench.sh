#!/bin/bash
# tsload benchmark: prints figures (not a pass/fail test).
#  1. tsload http keepalive=0 (with and without socket recycling) vs
#     wrk -H 'Connection: close' against the same nginx, rotating runs
#     (A B C A B C ...): median requests/s, run-by-run ratios, CPU s per 1k
#     requests of each client.
#  2. tsload crr against its own server: connections/s, 1 and 2 client threads.
#  3. resident memory per open idle connection at 50,000 connections.
# Knobs: RUNS (default 5), DUR (seconds per run, default 5), CONC (default 16),
#        MEMCONN (default 50000), PARTS (default "http crr mem"),
#        PIN=1: in part 1 pin nginx's worker to CPU 1 and the clients to CPU 0.
set -u
cd "$(dirname "$0")/.."
TSL=./tsload
RUNS=${RUNS:-5}
DUR=${DUR:-5}
CONC=${CONC:-16}
MEMCONN=${MEMCONN:-50000}
PARTS=${PARTS:-http crr mem}
PIN=${PIN:-0}
if [ "$PIN" = 1 ]; then ON0="taskset -c 0"; AFF="worker_cpu_affinity 10;"; else ON0=""; AFF=""; fi
part() { [[ " $PARTS " == *" $1 "* ]]; }
OUT=$(mktemp -d /tmp/tsl-bench.XXXXXX)
chmod 755 "$OUT"
PORT=$((21000 + ($$ % 400) * 10))
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stats() { # stats FORMAT v1 v2 ... -> "median (min..max)"
	/usr/bin/python3 -c 'import sys,statistics as s; f=sys.argv[1]; v=[float(x) for x in sys.argv[2:]]; print(f"{s.median(v):{f}} ({min(v):{f}}..{max(v):{f}})")' "$@"
}
jval() { /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(eval(sys.argv[2]))' "$@"; }
wait_port() {
	for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done
	return 1
}

echo "# tsload benchmark $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs, $(uname -r)"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. http keepalive=0 vs wrk ------------------------------------------------
if part http; then
d=$OUT/nginx
mkdir -p $d/html $d/tmp
echo hello >$d/html/index.html
cat >$d/nginx.conf <<NGX
worker_processes 1;
$AFF
pid $d/nginx.pid;
error_log $d/error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
  uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
  server { listen 127.0.0.1:$PORT; root $d/html; }
}
NGX
nginx -e $d/error.log -c $d/nginx.conf -p $d &
NG=$!
PIDS+=("$NG")
wait_port $PORT || { echo "nginx did not start"; exit 1; }
URL=http://127.0.0.1:$PORT/
TIMEFORMAT='%U %S'
TSL_ARGS="--engine=http --port=$PORT --keepalive=0 --concurrency=$CONC --threads=1 --runtime=${DUR}s"
# One run of client $1 (tsload, tsload-norecycle, wrk): appends its requests/s
# and CPU s per 1k requests to $OUT/rate.$1 and $OUT/cpu.$1.
run_client() {
	local c req el
	case $1 in
	wrk)
		c=$( { time $ON0 wrk -t1 -c$CONC -d${DUR}s -H 'Connection: close' $URL >$OUT/w.txt; } 2>&1 )
		req=$(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*\)s.*/\1/p' $OUT/w.txt)
		el=$(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*\)s.*/\2/p' $OUT/w.txt) ;;
	*)
		local rc=1; [ "$1" = tsload-norecycle ] && rc=0
		c=$( { time $ON0 $TSL $TSL_ARGS --recycle=$rc --output-format=json --output=$OUT/t.json >/dev/null; } 2>&1 )
		req=$(jval $OUT/t.json 'j["transactions"]')
		el=$(jval $OUT/t.json 'j["elapsed_s"]') ;;
	esac
	/usr/bin/python3 -c "print($req/$el)" >>$OUT/rate.$1
	/usr/bin/python3 -c "u,s='$c'.split(); print((float(u)+float(s))/$req*1000)" >>$OUT/cpu.$1
}
CLIENTS="tsload tsload-norecycle wrk"
for i in $(seq "$RUNS"); do
	line="run $i:"
	for cl in $CLIENTS; do
		run_client $cl
		line="$line $cl $(tail -1 $OUT/rate.$cl | cut -d. -f1) req/s,"
	done
	echo "${line%,}"
done
pairs() { # pairs A B: median and list of run-by-run ratios A/B
	/usr/bin/python3 -c 'import sys,statistics as s; a=[float(x) for x in open(sys.argv[1])]; b=[float(x) for x in open(sys.argv[2])]; r=[x/y for x,y in zip(a,b)]; print(f"median {s.median(r):.2f} (" + " ".join(f"{x:.2f}" for x in r) + f"); ratio of medians {s.median(a)/s.median(b):.2f}")' "$1" "$2"
}
echo
echo "## http keepalive=0 vs wrk -H 'Connection: close' (nginx 1 worker, $CONC connections, 1 client thread, ${DUR}s x $RUNS rotating)"
echo "| client | requests/s median (min..max) | client CPU s per 1k requests median (min..max) |"
echo "|---|---|---|"
for cl in $CLIENTS; do
	echo "| $cl | $(stats .1f $(cat $OUT/rate.$cl)) | $(stats .4f $(cat $OUT/cpu.$cl)) |"
done
echo "tsload/wrk requests/s, run by run: $(pairs $OUT/rate.tsload $OUT/rate.wrk)"
echo "tsload/wrk CPU per request, run by run: $(pairs $OUT/cpu.tsload $OUT/cpu.wrk)"
echo "tsload recycle=1/recycle=0 requests/s, run by run: $(pairs $OUT/rate.tsload $OUT/rate.tsload-norecycle)"
echo "wrk command: wrk -t1 -c$CONC -d${DUR}s -H 'Connection: close' $URL"
echo "tsload command: tsload $TSL_ARGS [--recycle=0]"
[ "$PIN" = 1 ] && echo "all clients pinned with taskset -c 0; nginx worker on CPU 1"
kill -TERM $NG; wait $NG 2>/dev/null
fi

# ---- 2. crr against the tsload server ----------------------------------------
if part crr; then
P2=$((PORT + 1))
$TSL --server --port=$P2 --threads=2 >/dev/null 2>$OUT/srv.err &
SRV=$!
PIDS+=("$SRV")
wait_port $P2 || { echo "server did not start"; exit 1; }
C1=() C2=()
for i in $(seq "$RUNS"); do
	for t in 1 2; do
		$TSL --port=$P2 --engine=crr --concurrency=32 --threads=$t --runtime=${DUR}s \
			--output-format=json --output=$OUT/crr$t-$i.json
		v=$(jval $OUT/crr$t-$i.json 'j["cps"]')
		[ $t = 1 ] && C1+=("$v") || C2+=("$v")
	done
done
kill -TERM $SRV; wait $SRV 2>/dev/null
echo
echo "## crr against tsload --server (2 server threads, concurrency 32, ${DUR}s x $RUNS alternating)"
echo "| client threads | connections/s median (min..max) |"
echo "|---|---|"
echo "| 1 | $(stats .1f "${C1[@]}") |"
echo "| 2 | $(stats .1f "${C2[@]}") |"
echo "command: tsload --engine=crr --port=$P2 --concurrency=32 --threads=N --runtime=${DUR}s"
fi

# ---- 3. memory per idle connection ----------------------------------------------
part mem || exit 0
# Without CAP_SYS_RESOURCE a process cannot raise its hard RLIMIT_NOFILE, so
# MEMCONN connections are spread over NPROC client processes (and as many
# SO_REUSEPORT server processes); each client's VmRSS is compared with a
# client holding 1000 connections.
P3=$((PORT + 2))
HARD=$(ulimit -Hn)
NPROC=$(( (MEMCONN + HARD - 2001) / (HARD - 2000) ))
[ "$NPROC" -lt 1 ] && NPROC=1
for k in $(seq $((NPROC + 1))); do
	$TSL --server --engine=rr --port=$P3 --threads=1 >/dev/null 2>$OUT/srv3-$k.err &
	PIDS+=("$!")
done
wait_port $P3 || { echo "server did not start"; exit 1; }
start_idle() { # start_idle N SRC: a client holding N idle rr connections
	$TSL --port=$P3 --engine=rr --rate=1 --concurrency=$1 --threads=1 --runtime=300s \
		--source_addrs=$2 --output-format=json --output=$OUT/mem-$1-$RANDOM.json \
		2>>$OUT/mem.err &
	CL=$!
	PIDS+=("$CL")
}
wait_fds() { # wait_fds PID N: until the process holds N sockets
	for _ in $(seq 900); do
		[ "$(ls /proc/$1/fd 2>/dev/null | wc -l)" -ge "$2" ] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
rss() { awk '/^VmRSS:/ {print $2}' /proc/$1/status; }
start_idle 1000 127.0.0.2
B=$CL
wait_fds $B 1000 && sleep 1
RB=$(rss $B)
kill -INT $B; wait $B 2>/dev/null
PER=$(( MEMCONN / NPROC ))
CLS=()
for k in $(seq $NPROC); do
	start_idle $PER 127.0.$((k + 2)).1-127.0.$((k + 2)).3
	CLS+=("$CL")
done
RS=()
for c in "${CLS[@]}"; do wait_fds $c $PER; done
sleep 2
EST=$(ss -Htn state established "( dport = :$P3 )" | wc -l)
for c in "${CLS[@]}"; do RS+=("$(rss $c)"); done
for c in "${CLS[@]}"; do kill -INT $c; done
for c in "${CLS[@]}"; do wait $c 2>/dev/null; done
echo
echo "## memory: tsload client VmRSS with idle rr connections (open loop rate=1, loopback)"
echo "hard RLIMIT_NOFILE $HARD, so $((PER * NPROC)) connections in $NPROC client processes of $PER each;"
echo "client sockets established to the servers at measurement: $EST"
echo "| client | connections | VmRSS kB |"
echo "|---|---|---|"
echo "| baseline | 1000 | $RB |"
for k in $(seq $NPROC); do echo "| $k | $PER | ${RS[$((k - 1))]} |"; done
echo "per connection: $(/usr/bin/python3 -c "import sys; r=[int(x) for x in sys.argv[1:]]; print(f'{(sum(r)/len(r)-$RB)*1024/($PER-1000):.0f}')" "${RS[@]}") bytes of tsload memory ((VmRSS - baseline) / (connections - 1000))"
echo "command: tsload --engine=rr --rate=1 --concurrency=N --threads=1 --source_addrs=A-B (against tsload --server --engine=rr)"
