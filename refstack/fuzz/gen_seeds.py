#!/usr/bin/python3
"""Writes the small seed corpus of fuzz_frames into fuzz/corpus/.

Each seed is: flags byte, then records [len_hi len_lo dt_ms frame]."""
import os
import struct
import sys

ME = bytes([198, 18, 21, 2])
PEER = bytes([198, 18, 21, 1])
MAC_ME = bytes([2, 0, 0, 0, 0, 2])
MAC_PEER = bytes([2, 0, 0, 0, 0, 1])


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(payload, etype=0x0800, dst=MAC_ME):
    return dst + MAC_PEER + struct.pack("!H", etype) + payload


def ipv4(proto, payload, frag=0x4000):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag,
                    64, proto, 0, PEER, ME)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def tcp(sport, dport, seq, ack, flags, data=b"", opts=b""):
    off = (20 + len(opts)) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags,
                    65535, 0, 0) + opts
    pseudo = PEER + ME + struct.pack("!BBH", 0, 6, len(h) + len(data))
    c = csum(pseudo + h + data)
    h = h[:16] + struct.pack("!H", c) + h[18:]
    return ipv4(6, h + data)


def arp(op):
    return eth(struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, MAC_PEER,
                           PEER, MAC_ME if op == 2 else bytes(6), ME), 0x0806)


def icmp_echo():
    body = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"ping" * 4
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    return eth(ipv4(1, body))


SYN_OPTS = bytes([2, 4, 5, 0xB4, 1, 3, 3, 7, 4, 2, 8, 10]) + bytes(8) + \
    bytes([0, 0])


def rec(frame, dt=1):
    return struct.pack("!HB", len(frame), dt) + frame


def seeds():
    yield "arp-request", b"\0" + rec(arp(1))
    yield "icmp-echo", b"\0" + rec(arp(2)) + rec(icmp_echo())
    syn = eth(tcp(40000, 80, 1000, 0, 0x02, opts=SYN_OPTS[:20]))
    ack = eth(tcp(40000, 80, 1001, 1, 0x10))
    data = eth(tcp(40000, 80, 1001, 1, 0x18, b"GET / HTTP/1.0\r\n\r\n"))
    fin = eth(tcp(40000, 80, 1019, 1, 0x11))
    rst = eth(tcp(40000, 80, 1019, 1, 0x04))
    yield "handshake-data-fin", b"\1" + rec(arp(2)) + rec(syn) + rec(ack) \
        + rec(data) + rec(fin, 200)
    yield "syn-rst", b"\3" + rec(arp(2)) + rec(syn) + rec(rst, 50)
    yield "fragment", b"\0" + rec(eth(ipv4(6, bytes(40), frag=0x2000)))
    synack = eth(tcp(8080, 32768, 5000, 1, 0x12, opts=SYN_OPTS[:20]))
    yield "synack-wrong-ack", b"\1" + rec(arp(2)) + rec(synack)
    yield "garbage", b"\0" + rec(bytes(range(60)))
    # bit 2+3: ACK and SEQ steered to the stack's own numbers
    yield "steered-session", b"\x0f" + rec(arp(2)) + rec(syn) + rec(ack) \
        + rec(data) + rec(eth(tcp(40000, 80, 1019, 1, 0x10, b"more" * 50))) \
        + rec(fin, 200) + rec(ack, 250)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, blob in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
