#!/bin/bash
# Debian's nginx, unmodified, on refstack through the LD_PRELOAD shim
# (rs-run): one process (master_process off), a master with one worker
# and with two (forked workers as cores of one stack), sendfile on and
# off, access log on, and master + 1 and 2 workers on the ASan/UBSan
# build of the shim (rs-run --asan: no sanitizer report); a worker killed
# with SIGKILL mid-run; nginx -s reload mid-run.  The kernel's curl, ab
# and wrk in the Linux namespace: 1 MB and 50 MB bodies byte-exact
# (sha256); nginx logged exactly the requests ab counted, then exactly
# the ones wrk counted (wrk-quota.lua: no request cut by its stop); 10,000
# concurrent keep-alive connections (tsload http) all served.
# RS_SHIM_NGINX_MB (50) sets the large file.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

BIG=${RS_SHIM_NGINX_MB:-50}
WRK_QUOTA=1500
t_shim_lab shn nginx curl ab wrk
TS=$ROOT/../loadgen/tsload
RSCTL=$(t_bin "$ROOT" rsctl) || t_abort "rsctl is built"
[ -x "$TS" ] || t_abort "loadgen/tsload is built"
head -c 1048576 /dev/urandom >"$OUT/www/1m.bin"
head -c $((BIG * 1048576)) /dev/urandom >"$OUT/www/big.bin"

# conf NAME MASTER SENDFILE [KEEPALIVE_S] [WORKER_CONNECTIONS] [WORKERS]
conf() {
	cat >"$OUT/$1.conf" <<EOC
user root;
worker_processes ${6:-1};
master_process $2;
daemon off;
pid $OUT/$1.pid;
error_log $OUT/$1-error.log warn;
events { worker_connections ${5:-1024}; }
http {
	access_log $OUT/$1-access.log;
	sendfile $3;
	keepalive_timeout ${4:-0};
	keepalive_requests 100000;
	default_type application/octet-stream;
	client_body_temp_path $OUT/tmp; proxy_temp_path $OUT/tmp;
	fastcgi_temp_path $OUT/tmp; uwsgi_temp_path $OUT/tmp; scgi_temp_path $OUT/tmp;
	server { listen $NS_STACK_IP:80 backlog=16384; root $OUT/www; }
}
EOC
}

NGX_JOB=
start_nginx() { # NAME [rs-run options]
	local name=$1 i; shift
	timeout 300 ip netns exec "$NS_S" "$ROOT/rs-run" "$@" --if "$NS_SIF" --ip "$NS_STACK_IP/$NS_PREFIX" \
		-- nginx -p "$OUT" -c "$OUT/$name.conf" -e "$OUT/$name-error.log" >"$OUT/$name.out" 2>&1 &
	NGX_JOB=$!
	t_bg_add $NGX_JOB
	for i in $(seq 50); do
		ip netns exec "$NS_L" curl -s -o /dev/null -m 1 "$URL/64.bin" && return 0
		sleep 0.1
	done
	return 1
}

stop_nginx() { # NAME
	local pid
	pid=$(cat "$OUT/$1.pid" 2>/dev/null)
	t_stop "$pid" "$NGX_JOB"
}

logged() { wc -l <"$OUT/$1-access.log"; }

# curl_sha NAME FILE — fetch, compare by sha256
curl_sha() {
	ip netns exec "$NS_L" curl -sS -m 60 -o "$OUT/got.bin" "$URL/$2" &&
		[ "$(t_sha "$OUT/got.bin")" = "$(t_sha "$OUT/www/$2")" ]
}

one_config() { # NAME MASTER SENDFILE [WORKERS [rs-run options]]
	local name=$1 base n ab_ok wrk_n i wjob w=${4:-1}
	conf "$name" "$2" "$3" 0 1024 "$w"
	start_nginx "$name" --cores "$w" "${@:5}" || { t_fail "[$name] nginx serves on refstack"; sed 's/^/# /' "$OUT/$name.out"; return; }
	t_ok "[$name] nginx serves on refstack"
	t_check "[$name] 1 MB body byte-exact (sha256)" curl_sha "$name" 1m.bin
	t_check "[$name] $BIG MB body byte-exact (sha256)" curl_sha "$name" big.bin
	base=$(logged "$name")
	ip netns exec "$NS_L" ab -q -n 2000 -c 32 "$URL/64.bin" >"$OUT/$name-ab.txt" 2>&1
	ab_ok=$(awk '/^Complete requests:/ {c=$3} /^Failed requests:/ {f=$3} END {print c - f}' "$OUT/$name-ab.txt")
	t_check "[$name] ab: 2000 requests complete, none failed" test "$ab_ok" = 2000
	sleep 0.2 # nginx logs a request after its last byte left
	n=$(($(logged "$name") - base))
	t_check "[$name] access log: exactly the 2000 requests ab counted ($n logged)" test "$n" = 2000
	# wrk stops each thread after WRK_QUOTA responses (wrk-quota.lua), on
	# one connection per thread: no request is in flight when it stops, so
	# the responses it counts are every request it sent.  wrk itself waits
	# for -d: SIGINT once nginx logged them all (it reports, then exits).
	base=$(logged "$name")
	ip netns exec "$NS_L" wrk -t2 -c2 -d60s -H "Connection: close" -s "$HERE/lib/wrk-quota.lua" \
		"$URL/64.bin" -- "$WRK_QUOTA" >"$OUT/$name-wrk.txt" 2>&1 &
	wjob=$!
	for i in $(seq 600); do
		[ "$(logged "$name")" -ge $((base + 2 * WRK_QUOTA)) ] && break
		kill -0 $wjob 2>/dev/null || break
		sleep 0.1
	done
	sleep 0.3
	kill -INT $wjob 2>/dev/null
	wait $wjob
	wrk_n=$(awk '/requests in/ {print $1}' "$OUT/$name-wrk.txt")
	grep -q "Socket errors\|Non-2xx" "$OUT/$name-wrk.txt" && sed 's/^/# wrk: /' "$OUT/$name-wrk.txt"
	sleep 0.2
	n=$(($(logged "$name") - base))
	echo "# [$name] ab ok $ab_ok, wrk $wrk_n completed, nginx logged $n of wrk's"
	t_check "[$name] wrk: both threads reached their quota ($wrk_n of $((2 * WRK_QUOTA)))" \
		test "${wrk_n:-0}" = $((2 * WRK_QUOTA))
	t_check "[$name] access log: exactly the requests wrk counted ($n logged vs $wrk_n)" test "$n" = "${wrk_n:-x}"
	t_check "[$name] access log: every logged response 200" \
		test "$(awk '$9 != 200' "$OUT/$name-access.log" | wc -l)" = 0
	stop_nginx "$name"
	t_check "[$name] nginx exited on SIGTERM" t_not kill -0 "$(cat "$OUT/$name.pid" 2>/dev/null)" 2>/dev/null
	if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error" "$OUT/$name.out" "$OUT/$name-error.log"; then
		t_fail "[$name] no sanitizer report"
		grep -h -A30 "AddressSanitizer\|LeakSanitizer\|runtime error" "$OUT/$name.out" "$OUT/$name-error.log" |
			head -60 | sed 's/^/# /'
	elif [ "${5:-}" = --asan ]; then
		t_ok "[$name] no sanitizer report (the shim under ASan/UBSan)"
	fi
}

one_config single-sendfile off on
one_config single-nosendfile off off
one_config master-sendfile on on
one_config workers2-sendfile on on 2
one_config workers2-nosendfile on off 2
# the shim built with ASan/UBSan (rs-run --asan), 1 and 2 workers
one_config asan-workers1 on on 1 --asan
one_config asan-workers2 on on 2 --asan

# ---- a worker killed mid-run -------------------------------------------------
# Two workers, ab -c 8 -r (keep-alive off); one worker killed with SIGKILL
# once nginx logged 2000 of the 20000 requests (ab is then surely running:
# a kill after a fixed sleep came after ab's end on a fast run).  The
# connections the victim had accepted and not answered are lost, nothing
# else: the replacement the master forks adopts its core, closes them as
# the kernel does at exit (a RST when the request was unread, else a FIN
# before any response; counter tcp_orphans_closed) and accepts what was
# queued.  The bound: ab loses at most the connections the adopter closed
# (one answered in full but not yet closed by the victim is closed, not
# lost), and those are at most 8 (ab keeps 8 in flight, the most the
# victim can hold).  ab counts a lost connection once under Length
# whatever happened to it (its body is short): a FIN under Length only, a
# RST under Receive, Exceptions (POLLERR) and Length too; so Length is the
# connections lost, Receive and Exceptions are at most Length, Connect is
# 0.  The master logs the death in its SIGCHLD handler, on a loaded
# machine possibly after ab's end: waited for (10 s).
killed_diag() { # MASTER: what tells the kinds of failure apart
	echo "# [killed] children of the master $1 now:"
	ps -o pid=,stat=,wchan:20=,args= --ppid "$1" 2>&1 | sed 's/^/#   /'
	grep -E "^(State|SigPnd|ShdPnd|SigBlk|SigCgt)" "/proc/$1/status" 2>&1 | sed 's/^/#   master /'
	grep -E "^(Time taken|Complete|Failed|Non-2xx)" "$OUT/killed-ab.txt" | sed 's/^/# ab: /'
	tail -20 "$OUT/killed-error.log" | sed 's/^/# log: /'
	tail -5 "$OUT/killed.out" | sed 's/^/# out: /'
	ip netns exec "$NS_S" "$RSCTL" counters 2>&1 |
		grep -E "drop|reset|rst|adopt|park|handoff|orphan|recovered|accept" | sed 's/^/# /'
}
# workers_counter COUNTER PID...: the sum of a counter over the cores of the
# processes, as each last published it (a dead one's segment stays; a
# core's counters live in the shared stack: an adopter's include what the
# dead process counted on it)
workers_counter() {
	local name=$1 p sum=0 v
	shift
	for p in "$@"; do
		v=$("$RSCTL" --path "/dev/shm/refstack.$p" --json counters 2>/dev/null | $PY -c "
import json,sys
print(sum(c['counters'].get(sys.argv[1], 0) for i in json.load(sys.stdin)['instances'] for c in i['cores']))" "$name" 2>/dev/null) || return 1
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
conf killed on on 0 1024 2
if start_nginx killed --cores 2; then
	mpid=$(cat "$OUT/killed.pid")
	ip netns exec "$NS_L" timeout 60 ab -r -q -s 10 -n 20000 -c 8 "$URL/64.bin" >"$OUT/killed-ab.txt" 2>&1 &
	ajob=$!
	for i in $(seq 600); do
		[ "$(grep -c ApacheBench "$OUT/killed-access.log")" -ge 2000 ] && break
		kill -0 $ajob 2>/dev/null || break
		sleep 0.05
	done
	kids=$(ps -o pid=,args= --ppid "$mpid" | tr -s ' ' | sed 's/^ //' | paste -sd ';')
	victim=$(pgrep -P "$mpid" -f "worker process" | head -1)
	at=$(grep -c ApacheBench "$OUT/killed-access.log") # ab's, not start_nginx's curl
	running=$(kill -0 $ajob 2>/dev/null && echo yes || echo no)
	kill -KILL "$victim"
	t_kill=$(date +%s%N)
	echo "# [killed] children of the master $mpid: $kids; victim ${victim:-none}, killed after $at requests logged, ab running: $running"
	wait $ajob
	read -r done failed conn recv len exc < <(awk '/^Complete requests:/ {c=$3}
		/^Failed requests:/ {f=$3}
		/\(Connect: / {gsub(/[(),]/, ""); conn = $2; recv = $4; len = $6; exc = $8}
		END {print c+0, f+0, conn+0, recv+0, len+0, exc+0}' "$OUT/killed-ab.txt")
	# logged in the master's SIGCHLD handler, the replacement forked after it
	for i in $(seq 100); do
		grep -q "worker process $victim exited on signal 9" "$OUT/killed-error.log" &&
			[ "$(pgrep -P "$mpid" -f "worker process" | grep -vx "$victim" | wc -l)" = 2 ] && break
		sleep 0.1
	done
	w=$(pgrep -P "$mpid" -f "worker process" | grep -vx "$victim" | paste -sd ' ')
	echo "# [killed] worker $victim killed: ab $done complete, $failed failed (connect $conn, receive $recv, length $len, exceptions $exc);" \
		"workers now: $w, $(( ($(date +%s%N) - t_kill) / 1000000 )) ms after the kill"
	f0=$T_FAIL
	t_check "[killed] the worker was killed mid-run (after $at of 20000 requests, ab running: $running)" \
		test -n "$victim" -a "$running" = yes -a "$at" -lt 20000
	t_check "[killed] ab ran to its end after SIGKILL of a worker ($done of 20000)" test "$done" = 20000
	t_check "[killed] the master logged the death ('worker process $victim exited on signal 9')" \
		grep -q "worker process $victim exited on signal 9" "$OUT/killed-error.log"
	t_check "[killed] ... and replaced the worker (two workers, the victim not among them: $w)" \
		test "$(echo $w | wc -w)" = 2
	n=$(ip netns exec "$NS_L" ab -q -s 5 -n 2000 -c 8 "$URL/64.bin" 2>&1 | awk '/^Complete requests:/ {c=$3} /^Failed requests:/ {f=$3} END {print c - f}')
	t_check "[killed] afterwards the survivor and the replacement serve 2000 of 2000" test "$n" = 2000
	# read after that run: both workers have polled (and published) since
	orph=$(workers_counter tcp_orphans_closed $w)
	echo "# [killed] accepted: by the victim before the kill $(workers_counter tcp_accepts "$victim")," \
		"by the survivor and the replacement $(workers_counter tcp_accepts $w) (with the victim's, on its adopted core)"
	t_check "[killed] connections lost bounded by the victim's in flight (length $len <= the adopter's closes ${orph:-?} <= 8; receive $recv, exceptions $exc <= $len; connect $conn = 0)" \
		test "$len" -le "${orph:--1}" -a "${orph:-9}" -le 8 -a "$recv" -le "$len" -a "$exc" -le "$len" -a "$conn" = 0
	[ "$T_FAIL" = "$f0" ] || killed_diag "$mpid"
	stop_nginx killed
else
	t_fail "[killed] nginx with 2 workers serves"
fi

# ---- nginx -s reload mid-run ------------------------------------------------
# New workers (new cores, copies of the listening socket) serve, the old
# ones close their copies (what was queued or half-open on them moves to
# the global listen socket), drain and exit (their cores and TIME_WAIT
# entries leave the stack with them): not one client error.
# shim-nginx-reload.sh reloads more often, with `daemon on` and `full`.
conf reload on on 0 1024 2
if start_nginx reload --cores 2; then
	mpid=$(cat "$OUT/reload.pid")
	old=$(pgrep -P "$mpid" | sort | tr '\n' ' ')
	ip netns exec "$NS_L" timeout 60 ab -r -q -s 10 -n 20000 -c 8 "$URL/64.bin" >"$OUT/reload-ab.txt" 2>&1 &
	ajob=$!
	sleep 1
	ip netns exec "$NS_S" nginx -p "$OUT" -c "$OUT/reload.conf" -s reload 2>/dev/null
	sleep 1
	ip netns exec "$NS_S" nginx -p "$OUT" -c "$OUT/reload.conf" -s reload 2>/dev/null
	wait $ajob
	read -r done failed < <(awk '/^Complete requests:/ {c=$3} /^Failed requests:/ {f=$3} END {print c+0, f+0}' "$OUT/reload-ab.txt")
	new=$(pgrep -P "$mpid" | sort | tr '\n' ' ')
	echo "# [reload] workers before: $old after two reloads: $new; ab $done complete, $failed failed"
	t_check "[reload] two reloads under ab -c 8: 20000 requests, none failed ($done, $failed)" \
		test "$done" = 20000 -a "$failed" = 0
	t_check "[reload] the workers were replaced" test -n "$new" -a "$new" != "$old"
	t_check "[reload] access log: exactly the requests ab counted ($(grep -c ApacheBench "$OUT/reload-access.log") vs $done)" \
		test "$(grep -c ApacheBench "$OUT/reload-access.log")" = "$done"
	stop_nginx reload
else
	t_fail "[reload] nginx with 2 workers serves"
fi

# ---- 10,000 concurrent connections ------------------------------------------
conf conc on on 60 12000
if start_nginx conc --features full; then
	timeout 120 ip netns exec "$NS_L" "$TS" --engine=http --keepalive=1 --host="$NS_STACK_IP" \
		--port=80 --path=/64.bin --concurrency=10000 --threads=2 --runtime=6s --timeout=20s \
		--output-format=json --output="$OUT/conc.json" >"$OUT/conc.log" 2>&1 &
	cjob=$!
	max=0
	for i in $(seq 40); do
		sleep 0.2
		e=$(ip netns exec "$NS_S" "$RSCTL" --json tables 2>/dev/null | $PY -c "
import json,sys
print(max([sum(c['tables']['established'] for c in i['cores']) for i in json.load(sys.stdin)['instances']] or [0]))" 2>/dev/null)
		[ -n "$e" ] && [ "$e" -gt "$max" ] && max=$e
		kill -0 $cjob 2>/dev/null || break
	done
	wait $cjob
	ip netns exec "$NS_S" "$RSCTL" counters 2>&1 | grep -E "drop|tx_ring|afp_|syn|handoff" | sed 's/^/# /'
	read -r conns errs tx < <($PY -c "
import json,sys; j=json.load(open(sys.argv[1]))['jobs'][0]
print(j['connections'], j['errors']['total'], j['transactions'])" "$OUT/conc.json")
	echo "# 10k: tsload $conns connections, $tx requests, $errs errors; stack held $max established at once"
	t_check "10,000 concurrent connections to nginx: the stack held them all at once ($max)" test "$max" -ge 10000
	t_check "... every connection completed without error ($conns connections, $errs errors)" \
		test "$errs" = 0 -a "$conns" -ge 10000
	t_check "... nginx logged every request ($(logged conc) vs $tx)" test "$(logged conc)" -ge "$tx"
	stop_nginx conc
else
	t_fail "nginx with 12000 worker_connections serves"
fi

for f in "$OUT"/*.out; do
	if grep -q "runtime error\|AddressSanitizer" "$f"; then
		t_fail "sanitizer report in $(basename "$f")"
		cat "$f"
	fi
done
t_summary
