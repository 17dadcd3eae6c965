#!/usr/bin/env python3
"""Hostile zone over UDP+TCP on ADDR PORT: every UDP reply is truncated (TC),
the TCP reply is as big as 64 KiB allows: SRV -> ~2,900 targets tK.<qname>
(port = PORT arg 2), A -> 4,000 records 127.x.y.z, AAAA -> 2,000 records.
Addresses are loopback only: A 127.N.x.y for target tN (127.200.x.y for other
names), AAAA ::ffff:127.N.x.y. SRV target t0 has priority 0, the rest 10;
with DELAY_T0 > 0 the answers for t0.* come that many seconds late.
usage: bigdns.py ADDR PORT TARGETPORT [DELAY_T0]"""
import socket, struct, sys, threading
import time
addr, port, tport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
delay0 = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0

def tnum(q):
    lab = q[1:1 + q[0]].decode(errors="replace")
    return int(lab[1:]) if lab.startswith("t") and lab[1:].isdigit() and int(lab[1:]) < 200 else 200

def qparse(p):
    i = 12
    while p[i] != 0:
        i += p[i] + 1
    return p[12:i + 5], struct.unpack(">H", p[i + 1:i + 3])[0]

def build(p):
    q, qt = qparse(p)
    ans = []
    if qt == 33:
        k = 0
        size = 12 + len(q)
        while True:
            lab = ("t%d" % k).encode()
            rd = struct.pack(">HHH", 0 if k == 0 else 10, 1, tport) + bytes([len(lab)]) + lab + b"\xc0\x0c"
            rr = b"\xc0\x0c" + struct.pack(">HHIH", 33, 1, 60, len(rd)) + rd
            if size + len(rr) > 65535: break
            ans.append(rr); size += len(rr); k += 1
    elif qt == 1:
        for k in range(4000):
            rd = bytes([127, tnum(q), (k >> 8) & 255, k & 255 or 1])
            ans.append(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + rd)
    elif qt == 28:
        for k in range(2000):
            rd = bytes(10) + b"\xff\xff" + bytes([127, tnum(q), 100 + ((k >> 8) & 255), k & 255 or 1])
            ans.append(b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 60, 16) + rd)
    return p[:2] + struct.pack(">HHHHH", 0x8180, 1, len(ans), 0, 0) + q + b"".join(ans)

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((addr, port))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind((addr, port)); t.listen(100)

lock = threading.Lock()
def later(c, req):
    q, qt = qparse(req)
    if delay0 and tnum(q) == 0 and qt in (1, 28):
        time.sleep(delay0)
    r = build(req)
    with lock:
        try:
            c.sendall(struct.pack(">H", len(r)) + r)
        except OSError:
            pass

def conn(c):
    buf = b""
    try:
        while True:
            d = c.recv(65536)
            if not d: return
            buf += d
            while len(buf) >= 2:
                n = struct.unpack(">H", buf[:2])[0]
                if len(buf) < 2 + n: break
                req = buf[2:2 + n]; buf = buf[2 + n:]
                threading.Thread(target=later, args=(c, req), daemon=True).start()
    except OSError:
        pass

def tcp():
    while True:
        c, _ = t.accept()
        threading.Thread(target=conn, args=(c,), daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
while True:
    p, src = u.recvfrom(4096)
    q, qt = qparse(p)
    u.sendto(p[:2] + struct.pack(">HHHHH", 0x8380, 1, 0, 0, 0) + q, src)
