#!/bin/sh
# make deps: install what tcpscale needs from Debian's archive.
# Idempotent and fast when everything is there: apt is only touched for
# packages dpkg does not already report as installed.
set -eu

PKGS="make gcc libc6-dev clang libclang-rt-14-dev valgrind linux-perf
      iproute2 ethtool iputils-ping procps curl
      nginx-light haproxy wrk
      python3 python3-matplotlib python3-numpy python3-scipy python3-yaml sqlite3
      chromium"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
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
echo "deps: done"
