#!/bin/bash
# Debian's nginx as it runs by default (`daemon on`: the launching process
# exits once the daemon child is the master) on refstack through the
# LD_PRELOAD shim, master + 2 workers, while ab keeps 8 connections busy:
# `nginx -s reload` again and again, with the base feature set (children
# parked on the global listen socket) and with `full` (a local listen copy
# per worker, whose queued and half-open connections must move to the
# global socket when an old worker closes it).  Asserted: not one client
# error over all reloads, nginx logged exactly the requests ab counted
# (back-to-back ab runs of 2000: no run is cut), old workers gone, the
# pid file names the daemon, `nginx -s quit` stops it and no nginx
# process of the test is left.
# RS_RELOADS (5 per feature set) sets how many reloads.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

RELOADS=${RS_RELOADS:-5}
MPID=
# the daemon is no child of this shell: stop it and its workers by pid
daemon_kill() {
	local p
	[ -n "$MPID" ] || return 0
	for p in $(pgrep -P "$MPID") "$MPID"; do
		kill -KILL "$p" 2>/dev/null
	done
	MPID=
}
t_cleanup_more() { daemon_kill; }
t_shim_lab shr nginx curl ab

# conf NAME — nginx's defaults (daemon on, master on), 2 workers
conf() {
	cat >"$OUT/$1.conf" <<EOC
user root;
worker_processes 2;
pid $OUT/$1.pid;
error_log $OUT/$1-error.log notice;
events { worker_connections 1024; }
http {
	access_log $OUT/$1-access.log;
	keepalive_timeout 0;
	default_type application/octet-stream;
	client_body_temp_path $OUT/tmp; proxy_temp_path $OUT/tmp;
	fastcgi_temp_path $OUT/tmp; uwsgi_temp_path $OUT/tmp; scgi_temp_path $OUT/tmp;
	server { listen $NS_STACK_IP:80 backlog=4096; root $OUT/www; }
}
EOC
}

workers() { pgrep -P "$MPID" | sort | tr '\n' ' '; }
ngx() { ip netns exec "$NS_S" nginx -p "$OUT" -c "$OUT/$1.conf" -e "$OUT/$1-error.log" "${@:2}"; }

one_set() { # FEATURES
	local name=daemon-$1 i rc done failed old new gone left
	conf "$name"
	timeout 20 ip netns exec "$NS_S" "$ROOT/rs-run" --features "$1" --cores 2 \
		--if "$NS_SIF" --ip "$NS_STACK_IP/$NS_PREFIX" \
		-- nginx -p "$OUT" -c "$OUT/$name.conf" -e "$OUT/$name-error.log" >"$OUT/$name.out" 2>&1
	rc=$?
	MPID=$(cat "$OUT/$name.pid" 2>/dev/null)
	t_check "[$1] the launching process returned 0 after daemonising ($rc)" test "$rc" = 0
	t_check "[$1] the pid file names a live daemon ($MPID)" kill -0 "${MPID:-0}"
	[ -n "$MPID" ] || return
	for i in $(seq 50); do
		ip netns exec "$NS_L" curl -s -o /dev/null -m 1 "$URL/64.bin" && break
		sleep 0.1
	done
	t_check "[$1] the daemon's workers serve" ip netns exec "$NS_L" curl -sf -o /dev/null -m 2 "$URL/64.bin"
	old=$(workers)
	# ab runs of 2000 requests back to back until the reloads are over:
	# each run's count is exact (ab -t would cut the requests in flight at
	# its time limit: nginx logs them, ab does not count them)
	rm -f "$OUT/$name.stop"
	(
		k=0
		while [ ! -e "$OUT/$name.stop" ] && [ $k -lt 500 ]; do
			ip netns exec "$NS_L" timeout 120 ab -r -q -s 10 -n 2000 -c 8 "$URL/64.bin" \
				>"$OUT/$name-ab.$k.txt" 2>&1
			k=$((k + 1))
		done
	) &
	ajob=$!
	t_bg_add $ajob
	sleep 1
	for i in $(seq "$RELOADS"); do
		ngx "$name" -s reload 2>>"$OUT/$name.out"
		sleep 1
	done
	touch "$OUT/$name.stop"
	wait $ajob
	read -r done failed < <(cat "$OUT/$name"-ab.*.txt | awk '/^Complete requests:/ {c+=$3} /^Failed requests:/ {f+=$3} END {print c+0, f+0}')
	new=$(workers)
	echo "# [$1] $RELOADS reloads under ab -c 8: $done complete, $failed failed; workers $old -> $new"
	cat "$OUT/$name"-ab.*.txt | grep -E "Connect:|Receive:|Length:|Exceptions:|^apr_" | sed 's/^/# ab: /'
	t_check "[$1] $RELOADS reloads under ab -c 8: no client error ($done requests, $failed failed)" \
		test "$done" -gt 1000 -a "$failed" = 0
	t_check "[$1] the workers were replaced ($old -> $new)" test -n "$new" -a "$new" != "$old"
	gone=1
	for i in $old; do kill -0 "$i" 2>/dev/null && gone=0; done
	t_check "[$1] the old workers drained and exited" test $gone = 1
	t_check "[$1] access log: exactly the requests ab counted ($(grep -c ApacheBench "$OUT/$name-access.log") vs $done)" \
		test "$(grep -c ApacheBench "$OUT/$name-access.log")" = "$done"
	ngx "$name" -s quit 2>>"$OUT/$name.out"
	for i in $(seq 100); do
		kill -0 "$MPID" 2>/dev/null || break
		sleep 0.1
	done
	left=$(pgrep -f "nginx.*$OUT/$name.conf" | tr '\n' ' ')
	t_check "[$1] nginx -s quit: the daemon exited and no process is left (${left:-none})" \
		test -z "$left"
	t_check "[$1] the daemon removed its pid file" test ! -e "$OUT/$name.pid"
	[ -z "$left" ] && MPID=
	daemon_kill
	if grep -q "runtime error\|AddressSanitizer\|refstack-preload" "$OUT/$name.out" "$OUT/$name-error.log"; then
		t_fail "[$1] no stack error or sanitizer report"
		grep "runtime error\|AddressSanitizer\|refstack-preload" "$OUT/$name.out" "$OUT/$name-error.log" | head -20 | sed 's/^/# /'
	else
		t_ok "[$1] no stack error or sanitizer report"
	fi
}

for set in ${RS_RELOAD_SETS:-base full}; do
	one_set "$set"
done
t_summary
