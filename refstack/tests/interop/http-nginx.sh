#!/bin/bash
# refstack -> kernel: rs-fetch on refstack (afpacket) downloads files from
# a real nginx (Debian's) on the Linux kernel in the peer namespace.
# Byte-exact comparison, HTTP errors and a refused port, then the same
# download under loss, reordering, duplication and delay on both
# directions (tc netem, or the user-space bridge where the kernel has no
# sch_netem, as here: lib/ns.sh impair_up).  Sizes as in http-curl.sh (RS_INTEROP_MB, RS_NETEM_MB).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/ns.sh"

MB=${RS_INTEROP_MB:-100}
NMB=${RS_NETEM_MB:-20}
OUT=$(mktemp -d /tmp/rs-ngx.XXXXXX)
cleanup() { t_kill_all; ns_down; rm -rf "$OUT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

FETCH=$(t_app "$ROOT" rs-fetch) || t_abort "rs-fetch is built"
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
command -v nginx >/dev/null || t_abort "nginx installed (make deps)"
ns_up ngx || t_abort "namespaces up"
t_check "stack interface has no kernel IPv4 address" ns_stack_has_no_ip

mkdir -p "$OUT/www" "$OUT/tmp"
head -c "${MB}M" /dev/urandom >"$OUT/www/big.bin"
head -c "${NMB}M" /dev/urandom >"$OUT/www/netem.bin"
echo "small" >"$OUT/www/small.txt"
t_nginx_conf "$OUT" "$NS_LINUX_IP"
start_nginx() {
	timeout 300 ip netns exec "$NS_L" nginx -p "$OUT" -c "$OUT/nginx.conf" -e "$OUT/nginx-error.log" \
		-g "daemon off; master_process off;" >"$OUT/nginx.out" 2>&1 &
	t_bg_add $!
	local i
	for i in $(seq 50); do
		ip netns exec "$NS_L" curl -s -o /dev/null "http://$NS_LINUX_IP/small.txt" && return 0
		sleep 0.1
	done
	return 1
}
t_check "nginx serves in the Linux namespace" start_nginx

# rs_fetch NAME IFSPEC URL [args] — rs-fetch in the stack namespace
rs_fetch() {
	local name=$1 ifspec=$2 url=$3; shift 3
	timeout 200 ip netns exec "$NS_S" "$FETCH" --if "$ifspec" "$url" "$@" \
		>"$OUT/$name.log" 2>&1
}

t0=$(date +%s.%N)
t_check "rs-fetch got $MB MB from nginx" \
	rs_fetch big "$NS_SIF" "http://$NS_LINUX_IP/big.bin" -o "$OUT/got.bin" \
	--expect-size $((MB * 1048576)) --timeout 150
t1=$(date +%s.%N)
t_check "$MB MB body byte-exact (cmp)" cmp -s "$OUT/www/big.bin" "$OUT/got.bin"
cat "$OUT/big.log" | sed 's/^/# /'
t_check "the kernel of the stack's namespace sent no TCP (RST) and no ICMP" \
	ns_kernel_silent "$NS_S"
rm -f "$OUT/got.bin"

t_check "rs-fetch reports a 404 as a failure" \
	t_not rs_fetch nf "$NS_SIF" "http://$NS_LINUX_IP/missing" --timeout 20
t_check "... naming the status" grep -q "status 404" "$OUT/nf.log"
t_check "rs-fetch to a closed port fails with connection refused" \
	t_not rs_fetch rst "$NS_SIF" "http://$NS_LINUX_IP:81/" --timeout 20
t_check "... naming the error" grep -qi "refused" "$OUT/rst.log"

echo "# plain transfer wall time $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s"

# ---- under netem-like impairment: the same nginx, a new lab -----------------
t_kill_all
ns_down
impair_up "$ROOT" ngx "$OUT" || t_fail "impaired lab up"
echo "# impairment by $IMP_MODE: $IMP_DESC, both directions"
start_nginx || t_fail "nginx restarted in the impaired lab"
t_check "rs-fetch got $NMB MB from nginx under $IMP_DESC" \
	rs_fetch netem "$IMP_IFSPEC" "http://$NS_LINUX_IP/netem.bin" -o "$OUT/got.bin" \
	--expect-size $((NMB * 1048576)) --timeout 150
t_check "$NMB MB under impairment byte-exact (cmp)" cmp -s "$OUT/www/netem.bin" "$OUT/got.bin"
sed 's/^/# /' "$OUT/netem.log"
t_check "the link really dropped, duplicated and reordered frames" impair_check "$OUT"

for f in "$OUT"/*.log; do
	if grep -q "runtime error\|AddressSanitizer" "$f"; then
		t_fail "sanitizer report in $(basename "$f")"
		cat "$f"
	fi
done
t_summary
