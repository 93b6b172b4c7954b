#!/usr/bin/env python3
"""Send one DNS query over UDP and print the answer's rcode and answer count (no dig here).

  dnsq.py SERVER NAME [TYPE]      TYPE: A, AAAA, TXT, MX (default A)
"""
import random, socket, struct, sys

TYPES = {"A": 1, "NS": 2, "MX": 15, "TXT": 16, "AAAA": 28}


def main():
    server, name = sys.argv[1], sys.argv[2]
    qtype = TYPES[(sys.argv[3] if len(sys.argv) > 3 else "A").upper()]
    qid = random.getrandbits(16)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(q, (server, 53))
    try:
        r, _ = s.recvfrom(4096)
    except socket.timeout:
        print("timeout")
        return 1
    flags, _, an = struct.unpack(">HHH", r[2:8])
    print("rcode=%d answers=%d" % (flags & 0xF, an))
    return 0


if __name__ == "__main__":
    sys.exit(main())
