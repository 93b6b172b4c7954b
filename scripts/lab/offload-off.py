#!/usr/bin/env python3
"""Turn off checksum/segmentation offloads on network interfaces (no ethtool binary needed).

Usage: offload-off.py IFACE...   (run inside the interface's namespace)

veth devices hand packets around with partial checksums and as 64 KB TSO/GSO super-packets;
a capture taken from them would hold bad checksums and over-sized frames. With these off,
every packet is an ordinary MTU-sized frame with a computed checksum, like on a real wire.
"""
import array, fcntl, socket, struct, sys

SIOCETHTOOL = 0x8946
# linux/ethtool.h legacy set commands: tx csum, scatter-gather, TSO, UFO, GSO, GRO
CMDS = [0x22, 0x2C, 0x24, 0x1F, 0x19, 0x17]  # UFO, GRO, GSO, TSO, SG, TXCSUM (dependants first)


def set_off(sock, ifname, cmd):
    buf = array.array("B", struct.pack("II", cmd, 0))
    addr, _ = buf.buffer_info()
    ifr = struct.pack("16sP", ifname.encode()[:15], addr)
    try:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
    except OSError:
        pass  # not supported by this device: nothing to turn off


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for ifname in sys.argv[1:]:
        for cmd in CMDS:
            set_off(s, ifname, cmd)


if __name__ == "__main__":
    main()
