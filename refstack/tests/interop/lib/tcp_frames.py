#!/usr/bin/python3
"""tcp_frames.py PCAP SRC_IP — classify every TCP frame SRC_IP sent.

Reads a classic pcap (Ethernet, as tcpdump -w writes it) and follows each
connection (4-tuple; a SYN with a new sequence number starts a new one).
Each frame from SRC_IP is one of:
  new   it carries sequence space (SYN, data, FIN) beyond all the connection
        sent before: a frame of the exchange
  ack   a pure ACK whose acknowledgment number is beyond every one the
        connection sent before: it acknowledges something new
  close the connection's first RST: an abortive close (SO_LINGER 0) where a
        FIN would have gone
  rst   a later RST: the answer to a segment that arrives after it, such as
        the peer's FIN still in flight
  retx  it carries sequence space the connection already sent: a retransmission
  dup   a pure ACK acknowledging nothing new: a duplicate ACK, a window
        update, a challenge ACK, a probe
Prints one JSON object: the totals by class for each peer address, and the connections seen.  A frame missing
from the capture can only move others towards new/ack, never invent a
retx or a dup.
"""
import json
import socket
import struct
import sys


def frames(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            e = "<"
        elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
            e = ">"
        else:
            raise SystemExit("%s: not a pcap file" % path)
        link = struct.unpack(e + "I", hdr[20:24])[0] & 0xFFFF
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            _, _, incl, _ = struct.unpack(e + "IIII", rec)
            data = f.read(incl)
            if link == 1:  # Ethernet
                if len(data) < 14:
                    continue
                et = struct.unpack("!H", data[12:14])[0]
                off = 14
                if et == 0x8100:
                    et = struct.unpack("!H", data[16:18])[0]
                    off = 18
                if et != 0x0800:
                    continue
                yield data[off:]
            elif link == 113:  # Linux cooked (tcpdump -i any)
                if struct.unpack("!H", data[14:16])[0] == 0x0800:
                    yield data[16:]


def seq_gt(a, b):
    return ((a - b) & 0xFFFFFFFF) != 0 and ((a - b) & 0xFFFFFFFF) < 0x80000000


def main():
    path, src = sys.argv[1], sys.argv[2]
    conns = {}
    out = {}
    nconn = 0
    for ip in frames(path):
        if len(ip) < 20 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack("!H", ip[2:4])[0]
        s, d = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        if s != src:
            continue
        tcp = ip[ihl:]
        if len(tcp) < 20:
            continue
        sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
        thl = (tcp[12] >> 4) * 4
        fl = tcp[13]
        syn, fin, rst, isack = fl & 2, fl & 1, fl & 4, fl & 16
        plen = tot - ihl - thl
        space = plen + (1 if syn else 0) + (1 if fin else 0)
        key = (sport, d, dport)
        c = conns.get(key)
        if syn and (c is None or c["iss"] != seq):
            c = conns[key] = {"iss": seq, "end": seq, "ack": None, "rst": False}
            nconn += 1
        tally = out.setdefault(d, {"new": 0, "ack": 0, "close": 0, "rst": 0, "retx": 0, "dup": 0})
        if c is None:  # its SYN was not captured
            c = conns[key] = {"iss": seq, "end": seq, "ack": None, "rst": False}
        if rst:
            cls = "rst" if c["rst"] else "close"
            c["rst"] = True
        elif space:
            cls = "new" if seq_gt((seq + space) & 0xFFFFFFFF, c["end"]) else "retx"
        elif isack and (c["ack"] is None or seq_gt(ack, c["ack"])):
            cls = "ack"
        else:
            cls = "dup"
        tally[cls] += 1
        if space and seq_gt((seq + space) & 0xFFFFFFFF, c["end"]):
            c["end"] = (seq + space) & 0xFFFFFFFF
        if isack and (c["ack"] is None or seq_gt(ack, c["ack"])):
            c["ack"] = ack
    print(json.dumps({"peers": out, "connections": nconn}))


if __name__ == "__main__":
    main()
