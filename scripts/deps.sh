#!/bin/sh
# make deps: install what tcpscale needs from Debian's archive.
# Idempotent and fast when everything is there: apt is only touched for
# packages dpkg does not already report as installed.
set -eu

PKGS="make gcc libc6-dev clang libclang-rt-14-dev valgrind linux-perf
      libxdp-dev libbpf-dev bpftool
      iproute2 ethtool iputils-ping procps curl tcpdump
      nginx-light haproxy wrk apache2-utils
      python3 python3-matplotlib python3-numpy python3-scipy python3-yaml sqlite3
      chromium nodejs
      ansible-core ansible-lint openssh-server python3-apt"
# Debian's npm, unless the nodejs installed already brings its own npm
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

# The report's browser libraries (flame graphs), pinned by package-lock.json.
npm_deps() {
	top=$(cd "$(dirname "$0")/.." && pwd)
	if [ -f "$top/node_modules/.package-lock.json" ] &&
		[ ! "$top/package-lock.json" -nt "$top/node_modules/.package-lock.json" ]; then
		return 0
	fi
	echo "deps: npm ci (report viewers: package.json)"
	(cd "$top" && npm ci --no-audit --no-fund --loglevel=error)
}

if [ -z "$missing" ]; then
	npm_deps
	echo "deps: all present"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing" >&2
	echo "deps: run 'make deps' as root to install them" >&2
	exit 1
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
# Debian starts the packaged nginx/haproxy services on install where an
# init system runs; the lab starts its own instances, so stop those.
for svc in nginx haproxy; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done
npm_deps
echo "deps: done"
