#!/usr/bin/python3
"""Makes the small capture fixtures in pcaps/ and what each must count to.

Deterministic: fixed timestamps, fixed addresses, no randomness, so running it again
gives the same bytes (the .pcap files are committed next to this script).

For every capture NAME it writes NAME.pcap / NAME.pcapng and NAME.expected: the flows
(key, packets, L3 bytes, TCP flags, ToS, first/last capture time) and the drop counters
that ebpfix's kernel program must report when the capture is replayed through it. The
expectations come from this script's own packet definitions, read back with scapy:
  * bytes are L3 bytes: IPv4 total length, IPv6 40 + payload length;
  * ICMP/ICMPv6 flows carry type << 8 | code as destination port, source port 0;
  * a non-first fragment counts in a flow with ports 0 and in "fragments";
  * frames that cannot be put in a flow state their drop reason explicitly (non_ip,
    parse_error, truncated) with the L3 offset their bytes are counted from; drop bytes
    are the frame's length on the wire from there;
  * a frame cut by the snap length still makes its flow, with its wire length, when
    every header the flow key needs was captured (only a cut inside them is truncated).
Frames shorter than 14 bytes are listed as "refused": BPF_PROG_TEST_RUN needs at least an
Ethernet header's worth of data, so a replay cannot run them.

The files are written by hand (struct), not by scapy's writers, to control every header:
classic pcap in both byte orders with micro- and nanosecond magic, pcapng, and link
types Ethernet (1), raw IP (101), Linux SLL (113) and SLL2 (276).

Usage: make_pcaps.py [OUTPUT_DIR]   (default: the directory of this script)
"""

import os
import struct
import sys
from collections import OrderedDict

from scapy.all import (ARP, DNS, DNSQR, DNSRR, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, ICMPv6EchoReply,
                       ICMPv6EchoRequest, Raw, conf)

conf.verb = 0

BASE_NS = 1_700_000_000 * 1_000_000_000  # 2023-11-14 22:13:20 UTC
MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276


class Frame:
    """One captured frame: the bytes on the wire, what was captured, and what it counts as."""

    def __init__(self, t_us, wire, caplen=None, drop=None, l3_off=14, direction="ingress"):
        self.ts_ns = BASE_NS + t_us * 1000  # microsecond steps: exact in every file format
        self.wire = bytes(wire)
        self.captured = self.wire[:caplen] if caplen is not None else self.wire
        self.drop = drop          # None: a flow packet; else "non_ip" / "parse_error" / "truncated"
        self.l3_off = l3_off      # where drop bytes are counted from (0: the whole frame)
        self.direction = direction


def eth(payload, ethertype=None):
    e = Ether(src=MAC_A, dst=MAC_B)
    if ethertype is not None:
        e.type = ethertype
    return e / payload


# --- What a flow frame counts as, read back from its bytes with scapy.

def flow_of(frame_bytes, l2):
    """(key, l3_bytes, tcp_flags, tos, later_fragment) of a well-formed frame."""
    pkt = Ether(frame_bytes) if l2 else (IP(frame_bytes) if frame_bytes[0] >> 4 == 4 else IPv6(frame_bytes))
    vlans = []
    layer = pkt
    while layer is not None and not isinstance(layer, (IP, IPv6)):
        if isinstance(layer, (Dot1Q, Dot1AD)):
            vlans.append(layer.vlan)
        layer = layer.payload if layer.payload else None
    assert layer is not None, "flow frame without IP"
    vlan = vlans[0] if vlans else 0
    inner = vlans[1] if len(vlans) > 1 else 0
    sport = dport = 0
    flags = 0
    later = False
    if isinstance(layer, IP):
        version, src, dst, proto, tos = 4, layer.src, layer.dst, layer.proto, layer.tos
        l3_bytes = layer.len
        if layer.frag > 0:
            later = True
        upper = layer.payload
    else:
        version, src, dst, tos = 6, layer.src, layer.dst, layer.tc
        l3_bytes = 40 + layer.plen
        proto = layer.nh
        upper = layer.payload
        while isinstance(upper, (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment)):
            proto = upper.nh
            if isinstance(upper, IPv6ExtHdrFragment) and upper.offset > 0:
                later = True
                break
            upper = upper.payload
    if not later:
        if proto == 6:
            sport, dport, flags = upper.sport, upper.dport, int(upper.flags)
        elif proto == 17:
            sport, dport = upper.sport, upper.dport
        elif (proto == 1 and version == 4) or (proto == 58 and version == 6):
            raw = bytes(upper)
            dport = raw[0] << 8 | raw[1]
    key = (version, src, dst, sport, dport, proto, vlan, inner)
    return key, l3_bytes, flags, tos, later


def expectations(frames, l2, cooked_header=0):
    flows = OrderedDict()
    drops = {r: [0, 0] for r in ("non_ip", "parse_error", "truncated")}
    fragments = [0, 0]
    refused = 0
    truncated_records = 0
    for f in frames:
        if len(f.captured) < len(f.wire):
            truncated_records += 1
        # The frame the program sees: a cooked header becomes a 14-byte Ethernet header.
        seen = len(f.captured) - cooked_header + (14 if cooked_header else 0)
        if seen < 14:
            refused += 1
            continue
        if f.drop is not None:
            wire = len(f.wire) - cooked_header + (14 if cooked_header else 0)
            drops[f.drop][0] += 1
            drops[f.drop][1] += wire - f.l3_off
            continue
        body = f.captured[cooked_header:]
        if cooked_header:
            body = bytes(12) + f.wire[(14 if cooked_header == 16 else 0):][:2] + body
        key, l3_bytes, flags, tos, later = flow_of(body, l2)
        key = key + (f.direction,)
        if later:
            fragments[0] += 1
            fragments[1] += l3_bytes
        if key not in flows:
            flows[key] = {"packets": 0, "bytes": 0, "flags": 0, "tos": tos, "first": f.ts_ns, "last": f.ts_ns}
        e = flows[key]
        e["packets"] += 1
        e["bytes"] += l3_bytes
        e["flags"] |= flags
        e["first"] = min(e["first"], f.ts_ns)
        e["last"] = max(e["last"], f.ts_ns)
    return flows, drops, fragments, refused, truncated_records


# --- File writers.

def write_pcap(path, frames, linktype, big_endian=False, nano=False, snaplen=65535):
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for f in frames:
        sec, ns = divmod(f.ts_ns, 1_000_000_000)
        frac = ns if nano else ns // 1000
        out += struct.pack(e + "IIII", sec, frac, len(f.captured), len(f.wire)) + f.captured
    with open(path, "wb") as fh:
        fh.write(out)


def pcapng_block(btype, body):
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def write_pcapng(path, frames, linktype):
    shb = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    tsresol = struct.pack("<HHB", 9, 1, 9) + b"\0" * 3  # if_tsresol = 10^-9
    idb = pcapng_block(0x00000001, struct.pack("<HHI", linktype, 0, 65535) + tsresol + struct.pack("<HH", 0, 0))
    out = shb + idb
    for f in frames:
        ts = f.ts_ns
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f.captured), len(f.wire)) + f.captured
        out += pcapng_block(0x00000006, body)
    with open(path, "wb") as fh:
        fh.write(out)


def write_expected(path, name, frames, l2, link, cooked_header=0):
    flows, drops, fragments, refused, truncated_records = expectations(frames, l2, cooked_header)
    lines = [
        "# " + name + ": written by make_pcaps.py from its packet definitions; do not edit.",
        "# flow VERSION SRC DST SPORT DPORT PROTO VLAN INNER_VLAN DIRECTION PACKETS L3_BYTES TCP_FLAGS TOS FIRST_NS LAST_NS",
        "# counter NAME PACKETS BYTES",
        "link " + link,
        "packets %d" % len(frames),
        "truncated_records %d" % truncated_records,
        "refused %d" % refused,
    ]
    for key, e in flows.items():
        version, src, dst, sport, dport, proto, vlan, inner, direction = key
        lines.append("flow %d %s %s %d %d %d %d %d %s %d %d %d %d %d %d" % (
            version, src, dst, sport, dport, proto, vlan, inner, direction, e["packets"], e["bytes"], e["flags"],
            e["tos"], e["first"], e["last"]))
    for reason in ("non_ip", "parse_error", "truncated"):
        lines.append("counter %s %d %d" % (reason, drops[reason][0], drops[reason][1]))
    lines.append("counter fragments %d %d" % (fragments[0], fragments[1]))
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


# --- The captures.

def tcp_session_v4():
    c, s = "192.0.2.10", "198.51.100.20"
    cp, sp = 51000, 80

    def c2s(flags, seq, ack, data=b""):
        return eth(IP(src=c, dst=s, tos=0x10, id=1) / TCP(sport=cp, dport=sp, flags=flags, seq=seq, ack=ack) / data)

    def s2c(flags, seq, ack, data=b""):
        return eth(IP(src=s, dst=c, id=2) / TCP(sport=sp, dport=cp, flags=flags, seq=seq, ack=ack) / data)

    request = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n" + b"x" * 900
    return [
        Frame(0, c2s("S", 1000, 0)),
        Frame(150, s2c("SA", 5000, 1001)),
        Frame(300, c2s("A", 1001, 5001)),
        Frame(1_000, c2s("PA", 1001, 5001, request)),
        Frame(21_000, s2c("A", 5001, 1001 + len(request))),
        Frame(22_000, s2c("PA", 5001, 1001 + len(request), reply)),
        Frame(22_500, c2s("A", 1001 + len(request), 5001 + len(reply))),
        Frame(1_000_000, c2s("FA", 1001 + len(request), 5001 + len(reply))),
        Frame(1_000_200, s2c("FA", 5001 + len(reply), 1002 + len(request))),
        Frame(1_000_400, c2s("A", 1002 + len(request), 5002 + len(reply))),
    ]


def udp_v4_v6():
    query = DNS(id=0x1001, rd=1, qd=DNSQR(qname="example.com", qtype="A"))
    answer = DNS(id=0x1001, qr=1, rd=1, ra=1, qd=DNSQR(qname="example.com", qtype="A"),
                 an=DNSRR(rrname="example.com", type="A", ttl=300, rdata="192.0.2.80"))
    again = DNS(id=0x1002, rd=1, qd=DNSQR(qname="example.org", qtype="AAAA"))
    mdns = DNS(id=0, qd=DNSQR(qname="_ipp._tcp.local", qtype="PTR"))
    mdns_short = DNS(id=0, qd=DNSQR(qname="a.local", qtype="A"))
    return [
        Frame(0, eth(IP(src="192.0.2.53", dst="198.51.100.1", id=7) / UDP(sport=40001, dport=53) / query)),
        Frame(900, eth(IP(src="198.51.100.1", dst="192.0.2.53", id=8) / UDP(sport=53, dport=40001) / answer)),
        Frame(2_000, eth(IP(src="192.0.2.53", dst="198.51.100.1", id=9) / UDP(sport=40001, dport=53) / again)),
        Frame(3_000, eth(IPv6(src="2001:db8::53", dst="2001:db8:1::1", tc=0x28) / UDP(sport=5353, dport=5353) / mdns)),
        Frame(4_000, eth(IPv6(src="2001:db8::53", dst="2001:db8:1::1", tc=0x28) / UDP(sport=5353, dport=5353) /
                         mdns_short)),
    ]


def icmp_echo():
    return [
        Frame(0, eth(IP(src="192.0.2.1", dst="192.0.2.2", id=1) / ICMP(type=8, code=0, id=77, seq=1) / (b"p" * 56))),
        Frame(50, eth(IP(src="192.0.2.2", dst="192.0.2.1", id=2) / ICMP(type=0, code=0, id=77, seq=1) / (b"p" * 56))),
        Frame(1_000_000, eth(IP(src="192.0.2.1", dst="192.0.2.2", id=3) / ICMP(type=8, code=0, id=77, seq=2) / (b"p" * 56))),
        Frame(1_000_050, eth(IP(src="192.0.2.2", dst="192.0.2.1", id=4) / ICMP(type=0, code=0, id=77, seq=2) / (b"p" * 56))),
        Frame(2_000_000, eth(IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=5, seq=1, data=b"v" * 32))),
        Frame(2_000_070, eth(IPv6(src="2001:db8::2", dst="2001:db8::1") / ICMPv6EchoReply(id=5, seq=1, data=b"v" * 32))),
        Frame(2_500_000, eth(IP(src="198.51.100.9", dst="192.0.2.1", id=5) /
                             ICMP(type=3, code=3) / IP(src="192.0.2.1", dst="198.51.100.9") / UDP(sport=1, dport=2))),
    ]


def vlan_qinq():
    udp = UDP(sport=1234, dport=4321) / (b"v" * 20)
    return [
        Frame(0, Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=100) / IP(src="10.1.0.1", dst="10.1.0.2", id=1) / udp),
        Frame(10, Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=100) / IP(src="10.1.0.1", dst="10.1.0.2", id=2) / udp),
        Frame(20, Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=101, prio=5) / IP(src="10.1.0.1", dst="10.1.0.2", id=3) / udp),
        Frame(30, Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=200) / Dot1Q(vlan=300) /
              IP(src="10.1.0.1", dst="10.1.0.2", id=4) / udp),
        Frame(40, Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=200) / Dot1Q(vlan=300) /
              IPv6(src="2001:db8::a", dst="2001:db8::b") / udp),
        # 802.1Q in 802.1Q (old-style QinQ with two 0x8100 tags) is QinQ too.
        Frame(50, Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=7) / Dot1Q(vlan=8) /
              IP(src="10.1.0.1", dst="10.1.0.2", id=5) / udp),
        # A third tag is beyond the parser: counted as non-IP, whole frame.
        Frame(60, Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) /
              IP(src="10.1.0.1", dst="10.1.0.2", id=6) / udp, drop="non_ip", l3_off=0),
    ]


def fragments():
    frames = []
    datagram = IP(src="192.0.2.7", dst="198.51.100.7", id=4242) / UDP(sport=7000, dport=7001) / (b"f" * 3000)
    body = bytes(datagram)[20:]  # the UDP header (length, checksum of the whole datagram) and data
    pieces = [body[i:i + 1480] for i in range(0, len(body), 1480)]
    for n, piece in enumerate(pieces):
        more = n < len(pieces) - 1
        # Each fragment's own header: its length, offset and MF flag, a fresh checksum.
        frag_header = bytes(IP(src=datagram.src, dst=datagram.dst, id=datagram.id, proto=17, flags="MF" if more else 0,
                               frag=n * 1480 // 8, len=20 + len(piece)))
        frames.append(Frame(100 * n, eth(Raw(frag_header + piece), ethertype=0x0800)))
    # IPv6 with hop-by-hop, routing and destination options before TCP.
    frames.append(Frame(1_000, eth(IPv6(src="2001:db8::7", dst="2001:db8::8") / IPv6ExtHdrHopByHop() /
                                   IPv6ExtHdrRouting(addresses=[]) / IPv6ExtHdrDestOpt() /
                                   TCP(sport=443, dport=50000, flags="SA"))))
    # A fragmented IPv6 UDP datagram: 1232 + 400 bytes of a 1632-byte fragmentable part.
    # UDP header and data with the checksum over the IPv6 pseudo-header (0 is illegal in IPv6).
    payload = bytes(IPv6(src="2001:db8::7", dst="2001:db8::9") / UDP(sport=9000, dport=9001) / (b"g" * 1624))[40:]
    first_part, rest = payload[:1232], payload[1232:]
    for offset, part, more in ((0, first_part, 1), (1232 // 8, rest, 0)):
        frames.append(Frame(2_000 + offset, eth(IPv6(src="2001:db8::7", dst="2001:db8::9") /
                                                IPv6ExtHdrFragment(nh=17, offset=offset, m=more, id=0x1234) /
                                                Raw(part))))
    return frames


def garbage():
    good = eth(IP(src="192.0.2.99", dst="198.51.100.99", id=1) / UDP(sport=1, dport=2) / (b"k" * 200))
    prbs = bytearray()
    x = 0x1234567
    for _ in range(64):  # a fixed linear congruential sequence: "random" but reproducible
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        prbs.append(x >> 16 & 0xFF)
    prbs[12:14] = b"\x08\x00"                    # claims IPv4 ...
    prbs[14] = 0x4F                              # ... with a 60-byte header
    prbs[16:18] = b"\xff\xff"                    # and a total length far beyond the frame
    too_many_ext = IPv6(src="2001:db8::66", dst="2001:db8::67") / IPv6ExtHdrHopByHop()
    for _ in range(8):
        too_many_ext = too_many_ext / IPv6ExtHdrDestOpt()
    too_many_ext = too_many_ext / UDP(sport=1, dport=2)
    return [
        Frame(0, good),
        Frame(10, eth(ARP(hwsrc=MAC_A, psrc="192.0.2.99", pdst="192.0.2.1")), drop="non_ip", l3_off=0),
        Frame(20, Ether(src=MAC_A, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(bytes(range(40))),
              drop="non_ip", l3_off=0),
        # Cut by the snap length after the UDP header: still the flow's packet, wire length.
        Frame(30, good, caplen=60),
        # Cut inside the UDP ports: the key is incomplete.
        Frame(35, good, caplen=36, drop="truncated"),
        Frame(40, eth(IP(src="192.0.2.99", dst="198.51.100.99", version=5) / UDP(sport=1, dport=2)),
              drop="parse_error"),
        Frame(50, eth(IP(src="192.0.2.99", dst="198.51.100.99", ihl=3) / UDP(sport=1, dport=2)), drop="parse_error"),
        Frame(60, eth(too_many_ext), drop="parse_error"),
        # A VLAN tag cut after one byte: truncated before any L3 header, whole frame counted.
        Frame(70, Ether(src=MAC_A, dst=MAC_B, type=0x8100) / Raw(b"\x00"), drop="truncated", l3_off=0),
        Frame(80, bytes(prbs), drop="truncated"),
        # Shorter than an Ethernet header: refused by BPF_PROG_TEST_RUN.
        Frame(90, b"\x02\x00\x00\x00\x00\x0b\x02\x00\x00\x00", drop="truncated", l3_off=0),
        Frame(100, good),
    ]


def snaplen96():
    """What `tcpdump -s 96` writes for 1000-byte pings and a bulk TCP transfer."""
    a, b = "192.0.2.40", "198.51.100.40"
    a6, b6 = "2001:db8::40", "2001:db8::41"
    ping = eth(IP(src=a, dst=b, id=7) / ICMP(type=8, id=1, seq=1) / (b"p" * 972))
    pong = eth(IP(src=b, dst=a, id=8) / ICMP(type=0, id=1, seq=1) / (b"p" * 972))
    ping6 = eth(IPv6(src=a6, dst=b6) / ICMPv6EchoRequest(id=1, seq=1, data=b"q" * 952))
    bulk = eth(IP(src=a, dst=b, id=9) / TCP(sport=40000, dport=5201, flags="A") / (b"d" * 1448))
    return [
        Frame(0, ping, caplen=96),
        Frame(100, pong, caplen=96),
        Frame(1_000, ping, caplen=96),
        Frame(1_100, pong, caplen=96),
        Frame(2_000, ping6, caplen=96),
        Frame(3_000, bulk, caplen=96),
        Frame(4_000, bulk, caplen=96),
        # A capture with a tiny snap length: the TCP header itself is cut.
        Frame(5_000, bulk, caplen=50, drop="truncated"),
    ]


def raw_ip():
    return [
        Frame(0, IP(src="10.9.0.1", dst="10.9.0.2", id=1) / UDP(sport=51820, dport=51820) / (b"w" * 100)),
        Frame(5, IP(src="10.9.0.2", dst="10.9.0.1", id=2) / UDP(sport=51820, dport=51820) / (b"w" * 48)),
        Frame(9, IPv6(src="fd00::1", dst="fd00::2") / TCP(sport=22, dport=60000, flags="PA") / (b"s" * 77)),
        Frame(12, IP(src="10.9.0.1", dst="10.9.0.2", id=3) / UDP(sport=51820, dport=51820) / (b"w" * 100)),
        Frame(20, bytes(range(0x10, 0x10 + 24)), drop="non_ip", l3_off=0),  # version nibble 1
        # 12 bytes: BPF_PROG_TEST_RUN refuses it for the L3 program too (it wants 14).
        Frame(30, bytes([0x45, 0, 0, 12]) + bytes(8), drop="truncated", l3_off=0),
    ]


def sll_header(pkttype, ethertype, hatype=1):
    return struct.pack(">HHH8sH", pkttype, hatype, 6, bytes.fromhex("02000000000a") + b"\0\0", ethertype)


def sll2_header(pkttype, ethertype, ifindex=2, hatype=1):
    return struct.pack(">HHIHBB8s", ethertype, 0, ifindex, hatype, pkttype, 6, bytes.fromhex("02000000000a") + b"\0\0")


def cooked(make_header):
    ip_in = bytes(IP(src="192.0.2.30", dst="192.0.2.31", id=1) / UDP(sport=123, dport=123) / (b"n" * 48))
    ip_out = bytes(IP(src="192.0.2.31", dst="192.0.2.30", id=2) / UDP(sport=123, dport=123) / (b"n" * 48))
    v6 = bytes(IPv6(src="2001:db8::30", dst="2001:db8::31") / TCP(sport=8080, dport=40000, flags="S"))
    tagged = bytes(Dot1Q(vlan=42) / IP(src="192.0.2.30", dst="192.0.2.31", id=3) / UDP(sport=1, dport=2))
    arp = bytes(ARP(hwsrc=MAC_A, psrc="192.0.2.30", pdst="192.0.2.31"))
    return [
        Frame(0, make_header(0, 0x0800) + ip_in),
        Frame(10, make_header(4, 0x0800) + ip_out, direction="egress"),   # PACKET_OUTGOING
        Frame(20, make_header(0, 0x0800) + ip_in),
        Frame(30, make_header(0, 0x86DD) + v6),
        Frame(40, make_header(0, 0x8100) + tagged),
        Frame(50, make_header(0, 0x0806) + arp, drop="non_ip", l3_off=0),
    ]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out_dir, exist_ok=True)
    captures = [
        # name, frames, writer, linktype, l2, link, cooked header size
        ("tcp_session_v4", tcp_session_v4(), "pcap-le-us", LINKTYPE_ETHERNET, True, "ethernet", 0),
        ("udp_v4_v6", udp_v4_v6(), "pcap-be-ns", LINKTYPE_ETHERNET, True, "ethernet", 0),
        ("icmp_echo", icmp_echo(), "pcapng", LINKTYPE_ETHERNET, True, "ethernet", 0),
        ("vlan_qinq", vlan_qinq(), "pcap-be-us", LINKTYPE_ETHERNET, True, "ethernet", 0),
        ("fragments", fragments(), "pcap-le-ns", LINKTYPE_ETHERNET, True, "ethernet", 0),
        ("garbage", garbage(), "pcap-le-us", LINKTYPE_ETHERNET, True, "ethernet", 0),
        ("raw_ip", raw_ip(), "pcap-le-ns", LINKTYPE_RAW, False, "l3", 0),
        ("snaplen96", snaplen96(), "pcap-le-us", LINKTYPE_ETHERNET, True, "ethernet", 0),
        ("sll", cooked(sll_header), "pcap-le-us", LINKTYPE_LINUX_SLL, True, "ethernet", 16),
        ("sll2", cooked(sll2_header), "pcapng", LINKTYPE_LINUX_SLL2, True, "ethernet", 20),
    ]
    for name, frames, writer, linktype, l2, link, cooked_header in captures:
        if writer == "pcapng":
            path = os.path.join(out_dir, name + ".pcapng")
            write_pcapng(path, frames, linktype)
        else:
            path = os.path.join(out_dir, name + ".pcap")
            write_pcap(path, frames, linktype, big_endian="-be-" in writer, nano=writer.endswith("-ns"))
        write_expected(os.path.join(out_dir, name + ".expected"), os.path.basename(path), frames, l2, link,
                       cooked_header)
        print("wrote", path)


if __name__ == "__main__":
    main()
