#!/bin/bash
# The servers of the benchmark harness at 2 cores, in the harness's own
# shapes, on refstack through the shim, with `listen` and `full`, on a
# 2-queue veth: nginx with 2 workers and the harness's nginx.conf (from
# harness/workloads/servers.py: per-worker `reuseport` listeners on the
# stack's address, accept_mutex off, worker_cpu_affinity), and
# `tsload --server --threads=2` as the harness starts it (its per-thread
# SO_REUSEPORT listeners on the stack's address).  The Linux tsload client
# as the harness runs it (64 in flight, 2 threads, keep-alive off): zero
# errors, at least 1000 transactions in 2 s, and both cores (both nginx
# workers, both server threads) accepted connections, each core holding
# one listening socket of the port.  Two SO_REUSEPORT listeners of one
# address in one process used to be two stack listeners on one core, only
# one of which gets that core's SYNs: nginx at 2 workers completed no
# transaction, the tsload server one run in two.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

OUT=$(mktemp -d /tmp/rs-shim2c.XXXXXX)
cleanup() { t_kill_all; ns_down; [ -n "${KEEP:-}" ] || rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

TS=$ROOT/../loadgen/tsload
RSCTL=$(t_bin "$ROOT" rsctl) || t_abort "rsctl is built"
[ -x "$TS" ] || t_abort "loadgen/tsload is built"
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
command -v nginx >/dev/null || t_abort "nginx installed (make deps)"
PY=/usr/bin/python3
NS_QUEUES=2 ns_up sh2 || t_abort "namespaces up"

# the client as the harness runs it (profiles/jobs/*.ini), 2 s
client() { # TAG ENGINE PORT [tsload options]
	local tag=$1 eng=$2 port=$3; shift 3
	timeout 60 ip netns exec "$NS_L" "$TS" --host="$NS_STACK_IP" --port="$port" --engine="$eng" \
		--concurrency=64 --threads=2 --runtime=2s --ramp_time=0.5s --timeout=5s "$@" \
		--output-format=json --output="$OUT/$tag-cli.json" >"$OUT/$tag-cli.log" 2>&1
	read -r TX ERR < <($PY -c "import json,sys; j=json.load(open(sys.argv[1]))['jobs'][0]
print(j['transactions'], j['errors']['total'])" "$OUT/$tag-cli.json" 2>/dev/null)
	echo "# [$tag] client: ${TX:-none} transactions, ${ERR:-?} errors"
	t_check "[$tag] zero client errors" test "${ERR:-x}" = 0
	t_check "[$tag] at least 1000 transactions in 2 s (${TX:-none})" test "${TX:-0}" -ge 1000
}

# rsctl_json PID FILE — the stack as process PID sees it
rsctl_json() { ip netns exec "$NS_S" "$RSCTL" -p "$1" --json >"$2" 2>"$2.err" || sed 's/^/# rsctl: /' "$2.err"; }

# accepted_on_cores FILE... — every process's cores (the ones it drives:
# published) accepted, and each holds one listening socket (the server
# listens on one port)
accepted_on_cores() {
	$PY - "$@" <<'PYEOF'
import json, sys
files = sys.argv[1:]
cores = []
for f in files:
    d = json.load(open(f))["instances"][0]
    mine = [c for c in d["cores"] if c["publishes"] > 0]
    for c in mine:
        cores.append((c["core"], c["counters"]["tcp_accepts"], c["tables"]["listen"]))
print("# cores (core, accepted, listening sockets): %s" % cores)
assert len(cores) == 2, cores
assert all(a > 0 and n == 1 for _, a, n in cores), cores
PYEOF
}

# ---- nginx, 2 workers, the harness's nginx.conf -----------------------------
mkdir -p "$OUT/www"
head -c 64 /dev/urandom >"$OUT/www/64.bin"
nginx_case() { # FEATURES
	local feat=$1 tag=nginx-$1 dir=$OUT/nginx-$1 job i ok=0 mpid w files=()
	mkdir -p "$dir"
	(cd "$ROOT/.." && $PY -c "import sys; from harness.workloads import servers
print(servers.nginx_config(sys.argv[1], sys.argv[2], 2, [(sys.argv[3], 80)], True, 20000))" \
		"$dir" "$OUT/www" "$NS_STACK_IP") >"$dir/nginx.conf" || { t_fail "[$tag] the harness writes nginx.conf"; return; }
	grep -q "reuseport" "$dir/nginx.conf" || echo "# [$tag] the harness's nginx.conf has no reuseport listener any more"
	timeout 120 ip netns exec "$NS_S" taskset -c 0-1 "$ROOT/rs-run" --features "$feat" --cores 2 \
		--if "$NS_SIF" --ip "$NS_STACK_IP/$NS_PREFIX" \
		-- nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/out.log" 2>&1 &
	job=$!
	t_bg_add $job
	for i in $(seq 50); do
		ip netns exec "$NS_L" curl -s -o /dev/null -m 1 "http://$NS_STACK_IP/64.bin" && { ok=1; break; }
		sleep 0.1
	done
	t_check "[$tag] nginx serves on refstack" test $ok = 1
	[ $ok = 1 ] || { sed 's/^/# /' "$dir/out.log"; return; }
	client "$tag" http 80 --path=/64.bin --keepalive=0
	mpid=$(cat "$dir/nginx.pid")
	for w in $(pgrep -P "$mpid"); do
		rsctl_json "$w" "$dir/rsctl-$w.json"
		files+=("$dir/rsctl-$w.json")
	done
	t_check "[$tag] both workers accepted, each on its core's one listener" accepted_on_cores "${files[@]}"
	grep -h "alert\|emerg\|refstack-preload" "$dir/error.log" "$dir/out.log" 2>/dev/null | head -5 | sed 's/^/# /'
	t_check "[$tag] no alert in nginx's error log" t_not grep -q "alert\|emerg" "$dir/error.log"
	t_stop "$mpid" "$job"
}

# ---- tsload --server, 2 threads, as the harness starts it -------------------
tsload_case() { # FEATURES
	local feat=$1 tag=tsload-crr-$1 job pid
	timeout 120 ip netns exec "$NS_S" "$ROOT/rs-run" --features "$feat" --cores 2 --if "$NS_SIF" \
		--ip "$NS_STACK_IP/$NS_PREFIX" -- "$TS" --server --host="$NS_STACK_IP" --port=5001 \
		--threads=2 --cpus_allowed=0-1 --engine=crr --req_size=64 --resp_size=64 --backlog=65535 \
		--output-format=json --output="$OUT/$tag-srv.json" >"$OUT/$tag-srv.log" 2>&1 &
	job=$!
	t_bg_add $job
	t_wait_for "$OUT/$tag-srv.log" "listening" 30 || { t_fail "[$tag] server listens"; return; }
	pid=$(pgrep -P "$job")
	client "$tag" crr 5001 --req_size=64 --resp_size=64
	rsctl_json "$pid" "$OUT/$tag-rsctl.json"
	t_check "[$tag] both threads accepted, each on its core's one listener" \
		accepted_on_cores "$OUT/$tag-rsctl.json"
	t_stop "$pid" "$job"
}

for feat in ${RS_2C_SETS:-listen full}; do
	nginx_case "$feat"
done
tsload_case full
t_summary
