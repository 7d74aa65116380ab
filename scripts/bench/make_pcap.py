#!/usr/bin/env python3
"""Pcap files for scripts/bench.sh (standard library only).

  make_pcap.py once FLOWS OUT
      FLOWS distinct IPv4 TCP flows (10.x.y.z -> 192.0.2.1:80, ACK, 64-byte payload), one
      packet each: the --pcap RSS benchmark.
  make_pcap.py zipf FLOWS S PACKETS OUT SRC_MAC DST_MAC [SEED]
      PACKETS UDP packets 192.0.2.1 -> 192.0.2.2 (64-byte payload, 92 bytes of IP) whose
      flow is drawn from a Zipf law of exponent S over FLOWS flows (flow of rank k with
      probability proportional to k^-S): the skewed live shape, replayed with tcpreplay.
      Flow k has source port 1 + k % 65535 and destination port 9 + k // 65535, so every
      packet reaches a socket the script binds on 9 and 10 (no ICMP port unreachable).
      Prints "flows_sent=N packets=P top1_share=X" (N: distinct flows in the file).
"""
import bisect
import itertools
import random
import struct
import sys


def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ipv4(src, dst, proto, payload):
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0, src, dst)
    return ip[:10] + struct.pack('!H', csum(ip)) + ip[12:] + payload


def pcap_header():
    return struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)


def record(i, frame):
    t = 1700000000 * 1000000 + i
    return struct.pack('<IIII', t // 1000000, t % 1000000, len(frame), len(frame)) + frame


def once(flows, path):
    with open(path, 'wb') as f:
        f.write(pcap_header())
        payload = bytes(64)
        for i in range(flows):
            src = bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])
            tcp = struct.pack('!HHIIBBHHH', 1024 + i % 60000, 80, 1, 1, 5 << 4, 0x10, 65535, 0, 0) + payload
            frame = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + b'\x08\x00' + ipv4(src, bytes([192, 0, 2, 1]), 6, tcp)
            f.write(record(i, frame))


def mac(text):
    b = bytes(int(x, 16) for x in text.split(':'))
    if len(b) != 6:
        raise SystemExit('make_pcap.py: bad MAC address %r' % text)
    return b


def zipf(flows, s, packets, path, src_mac, dst_mac, seed):
    if flows < 1 or flows > 65535 * 2 or packets < 1 or s <= 0:
        raise SystemExit('make_pcap.py: zipf needs 1 <= FLOWS <= 131070, PACKETS >= 1, S > 0')
    rng = random.Random(seed)
    eth = mac(dst_mac) + mac(src_mac) + b'\x08\x00'
    frames = []
    for k in range(flows):
        udp = struct.pack('!HHHH', 1 + k % 65535, 9 + k // 65535, 8 + 64, 0) + bytes(64)
        frames.append(eth + ipv4(bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]), 17, udp))
    # Rank r (1-based) is flow order[r-1]: the heavy flows are spread over the port range.
    order = list(range(flows))
    rng.shuffle(order)
    cum = list(itertools.accumulate((r + 1) ** -s for r in range(flows)))
    total = cum[-1]
    seen = set()
    top = 0
    with open(path, 'wb') as f:
        f.write(pcap_header())
        chunk = []
        for i in range(packets):
            r = bisect.bisect_left(cum, rng.random() * total)
            r = min(r, flows - 1)
            if r == 0:
                top += 1
            k = order[r]
            seen.add(k)
            chunk.append(record(i, frames[k]))
            if len(chunk) == 65536:
                f.write(b''.join(chunk))
                chunk = []
        f.write(b''.join(chunk))
    print('flows_sent=%d packets=%d top1_share=%.4f' % (len(seen), packets, top / packets))


def main(argv):
    if len(argv) == 4 and argv[1] == 'once':
        once(int(argv[2]), argv[3])
    elif len(argv) in (8, 9) and argv[1] == 'zipf':
        zipf(int(argv[2]), float(argv[3]), int(argv[4]), argv[5], argv[6], argv[7],
             int(argv[8]) if len(argv) == 9 else 16)
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
