#!/usr/bin/env python3
"""Tiny hostile DNS responder on UDP (loopback only) for the attack programs.
usage: dnsd.py ADDR PORT MODE [DELAY]
MODE: good (A 127.0.0.1 / AAAA ::1 for any name, NXDOMAIN for SRV),
      mute, servfail, refused, slow (good after DELAY s), mute6 (A only, AAAA never),
      manyA (N=DELAY A records 127.0.0.x, AAAA ::1),
      tcmute (UDP: empty reply with TC set; TCP: accept and never answer),
      tcclosed (UDP: TC set; no TCP listener), tcrst (TCP: accept, read, reset),
      mute4 (AAAA only, A never), v4only (A 127.0.0.1, AAAA NOERROR/no data)"""
import socket, struct, sys, threading, time
addr, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
arg = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))

def qparse(p):
    i = 12
    while p[i] != 0:
        i += p[i] + 1
    qend = i + 5
    qtype = struct.unpack(">H", p[i + 1:i + 3])[0]
    return p[12:qend], qtype

def reply(p, rcode, answers):
    q, qtype = qparse(p)
    hdr = p[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, len(answers), 0, 0)
    body = b""
    for t, rd in answers:
        body += b"\xc0\x0c" + struct.pack(">HHIH", t, 1, 60, len(rd)) + rd
    return hdr + q + body

def answer(p, src):
    q, qtype = qparse(p)
    if mode.startswith("tc"):
        return s.sendto(p[:2] + struct.pack(">HHHHH", 0x8380, 1, 0, 0, 0) + q, src)
    if mode == "mute":
        return
    if mode == "servfail":
        return s.sendto(reply(p, 2, []), src)
    if mode == "refused":
        return s.sendto(reply(p, 5, []), src)
    if mode == "slow":
        time.sleep(arg)
    if mode == "v4only" and qtype == 28:
        return s.sendto(reply(p, 0, []), src)
    if mode == "mute4" and qtype == 1:
        return
    if mode == "mute6" and qtype == 28:
        return
    if qtype == 1:
        if mode == "manyA":
            ans = [(1, bytes([127, 0, (k >> 8) & 255, 1 + (k & 255) % 250])) for k in range(int(arg))]
        else:
            ans = [(1, socket.inet_aton("127.0.0.1"))]
        s.sendto(reply(p, 0, ans), src)
    elif qtype == 28:
        s.sendto(reply(p, 0, [(28, socket.inet_pton(socket.AF_INET6, "::1"))]), src)
    else:
        s.sendto(reply(p, 3, []), src)

if mode in ("tcmute", "tcrst"):
    def tcp():
        t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, port)); t.listen(100); keep = []
        while True:
            c, _ = t.accept()
            if mode == "tcrst":
                c.recv(1000); c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
            else:
                keep.append(c)
    threading.Thread(target=tcp, daemon=True).start()
while True:
    p, src = s.recvfrom(4096)
    try:
        if mode == "slow":
            threading.Thread(target=answer, args=(p, src), daemon=True).start()
        else:
            answer(p, src)
    except Exception as e:
        print("err", e, file=sys.stderr)
