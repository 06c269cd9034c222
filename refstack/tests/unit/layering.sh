#!/bin/bash
# The layering README.md describes, checked on the objects' symbol tables:
# TCP and everything below it (rx, ARP, ICMP, IPv4 output, transmit,
# hand-off) never call the socket layer (they raise stack->sock_event),
# and only the poll loop hands frames to other cores.
cd "$(dirname "$0")/../.." || exit 1
pass=0
fail=0
check() { # check DESCRIPTION OBJECTS... ; reads forbidden symbols from $BAD
	local desc=$1 hits
	shift
	hits=$(nm -u "$@" 2>/dev/null | grep -E "$BAD" | sort -u | tr '\n' ' ')
	if [ -z "$hits" ]; then
		echo "ok - $desc"
		pass=$((pass + 1))
	else
		echo "FAIL - $desc: $hits"
		fail=$((fail + 1))
	fi
}
below=$(ls build/obj/tcp_*.o build/obj/rx.o build/obj/arp.o build/obj/icmp.o \
	build/obj/ipv4.o build/obj/tx.o build/obj/handoff.o 2>/dev/null)
if [ -z "$below" ]; then
	echo "FAIL - objects not built (make)"
	echo "0 passed, 1 failed"
	exit 1
fi
BAD=' U (rs_sock_|rs_epoll_|rs_file_get|rs_socket|rs_accept|rs_close)'
check "TCP and the layers below it never call the socket layer" $below
BAD=' U rs_handoff_push'
check "only the poll loop hands frames to other cores" \
	$(echo $below | tr ' ' '\n' | grep -v handoff.o)
BAD=' U rs_rx_parse'
check "frames are parsed and steered only at the poll entry" \
	$(ls build/obj/*.o | grep -v -e poll.o -e rx.o)
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
