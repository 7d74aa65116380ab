// Table-driven frames through the real kernel program with BPF_PROG_TEST_RUN. Each case
// states exactly which flow (key, packets, bytes, flags, ToS) or which drop counter the
// frames must land in; the whole table runs against both parser instances (direct
// packet access, and bpf_skb_load_bytes as used for non-linear skbs).
#define BOOST_TEST_MODULE kernel_cases
#include <boost/test/unit_test.hpp>

#include <optional>
#include <sstream>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "bpf/packet_runner.hpp"
#include "frames.hpp"
#include "support/clock.hpp"
#include "support/root_guard.hpp"

using namespace ebpfix;
using namespace ebpfix::test;

namespace {

constexpr std::uint32_t kTestRunIfindex = 1;  // test_run puts the skb on loopback



FlowKey key4(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport, std::uint8_t proto,
             std::uint16_t vlan = 0, std::uint16_t inner = 0, Direction dir = Direction::ingress) {
    FlowKey k;
    auto s = v4(src), d = v4(dst);
    k.src_addr = FlowKey::mapped_v4(std::uint32_t(s[0]) << 24 | s[1] << 16 | s[2] << 8 | s[3]);
    k.dst_addr = FlowKey::mapped_v4(std::uint32_t(d[0]) << 24 | d[1] << 16 | d[2] << 8 | d[3]);
    k.src_port = sport;
    k.dst_port = dport;
    k.protocol = proto;
    k.vlan_id = vlan;
    k.inner_vlan_id = inner;
    k.ifindex = kTestRunIfindex;
    k.direction = dir;
    k.ip_version = 4;
    return k;
}

FlowKey key6(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport, std::uint8_t proto,
             std::uint16_t vlan = 0, std::uint16_t inner = 0, Direction dir = Direction::ingress) {
    FlowKey k;
    k.src_addr = v6(src);
    k.dst_addr = v6(dst);
    k.src_port = sport;
    k.dst_port = dport;
    k.protocol = proto;
    k.vlan_id = vlan;
    k.inner_vlan_id = inner;
    k.ifindex = kTestRunIfindex;
    k.direction = dir;
    k.ip_version = 6;
    return k;
}

struct ExpectedFlow {
    FlowKey key;
    std::uint64_t packets;
    std::uint64_t bytes;
    std::uint32_t tcp_flags = 0;
    std::uint8_t tos = 0;
};

enum class Drop { none, non_ip, parse_error, truncated };

struct Case {
    std::string name;
    std::vector<Bytes> frames;
    std::vector<ExpectedFlow> flows;    // exactly these, nothing else
    Drop drop = Drop::none;             // every frame lands in this counter instead
    std::uint64_t drop_bytes = 0;
    std::uint64_t fragments = 0;        // non-first fragments among the frames
    std::uint64_t fragment_bytes = 0;
    bool l2 = true;
    Direction direction = Direction::ingress;
    std::uint32_t gso_segs = 0;
    std::uint32_t gso_size = 0;     // with gso_segs 0: a tap/virtio packet (SKB_GSO_DODGY)
    std::uint32_t wire_len = 0;     // > frame size: a frame cut by a capture's snaplen
};

std::vector<Case> cases() {
    std::vector<Case> t;
    const Ip4 udp4{};
    // --- IPv4 basics
    t.push_back({"ipv4_udp", {cat({eth(0x0800), ipv4(udp4, 108), udp(1000, 53, 100)})},
                 {{key4("192.0.2.1", "198.51.100.2", 1000, 53, 17), 1, 128}}});
    {
        Ip4 h{.protocol = 6};
        t.push_back({"ipv4_tcp_flags_or",
                     {cat({eth(0x0800), ipv4(h, 20), tcp(40000, 443, SYN)}),
                      cat({eth(0x0800), ipv4(h, 20), tcp(40000, 443, ACK | PSH)}),
                      cat({eth(0x0800), ipv4(h, 20), tcp(40000, 443, FIN | ACK)})},
                     {{key4("192.0.2.1", "198.51.100.2", 40000, 443, 6), 3, 120, 0x1b}}});
        t.push_back({"ipv4_tcp_ns_and_options",
                     {cat({eth(0x0800), ipv4(h, 32), tcp(1, 2, ACK, true, 8)})},
                     {{key4("192.0.2.1", "198.51.100.2", 1, 2, 6), 1, 52, 0x110}}});
    }
    {
        Ip4 h{.tos = 0xb8, .options = {0x94, 0x04, 0x00, 0x00}};  // router alert, ihl 6
        t.push_back({"ipv4_options_and_tos", {cat({eth(0x0800), ipv4(h, 18), udp(5000, 5001, 10)})},
                     {{key4("192.0.2.1", "198.51.100.2", 5000, 5001, 17), 1, 42, 0, 0xb8}}});
    }
    {
        // A 42-byte IP packet padded to the 60-byte Ethernet minimum: bytes are the IP length.
        Bytes f = cat({eth(0x0800), ipv4(udp4, 10), udp(7, 9, 2)});
        f.resize(60, 0);
        t.push_back({"ipv4_ethernet_padding", {f}, {{key4("192.0.2.1", "198.51.100.2", 7, 9, 17), 1, 30}}});
    }
    // --- VLAN
    t.push_back({"vlan_8021q", {cat({eth(0x8100), vlan(100, 0x0800), ipv4(udp4, 8), udp(1, 2, 0)})},
                 {{key4("192.0.2.1", "198.51.100.2", 1, 2, 17, 100), 1, 28}}});
    t.push_back({"qinq_8021ad", {cat({eth(0x88a8), vlan(200, 0x8100), vlan(300, 0x0800), ipv4(udp4, 8), udp(1, 2, 0)})},
                 {{key4("192.0.2.1", "198.51.100.2", 1, 2, 17, 200, 300), 1, 28}}});
    {
        Bytes f = cat({eth(0x88a8), vlan(1, 0x8100), vlan(2, 0x8100), vlan(3, 0x0800), ipv4(udp4, 8), udp(1, 2, 0)});
        t.push_back({"three_tags_not_parsed", {f}, {}, Drop::non_ip, f.size()});
    }
    {
        Bytes arp = cat({eth(0x0806), zeros(28)});
        t.push_back({"arp_non_ip", {arp, arp}, {}, Drop::non_ip, 2 * arp.size()});
    }
    // --- IPv6
    t.push_back({"ipv6_udp", {cat({eth(0x86dd), ipv6({}, 58), udp(2000, 4739, 50)})},
                 {{key6("2001:db8::1", "2001:db8::2", 2000, 4739, 17), 1, 98}}});
    {
        Ip6 h{.next = 6, .traffic_class = 0x2e};
        t.push_back({"ipv6_tcp_traffic_class",
                     {cat({eth(0x86dd), ipv6(h, 20), tcp(3000, 22, SYN)}),
                      cat({eth(0x86dd), ipv6(h, 20), tcp(3000, 22, RST)})},
                     {{key6("2001:db8::1", "2001:db8::2", 3000, 22, 6), 2, 120, 0x06, 0x2e}}});
    }
    {
        Ip6 h{.next = 0};
        Bytes ext = cat({ext6(43, 0), ext6(60, 1), ext6(17, 0)});  // hop-by-hop, routing, dstopts
        t.push_back({"ipv6_extension_chain", {cat({eth(0x86dd), ipv6(h, ext.size() + 12), ext, udp(10, 20, 4)})},
                     {{key6("2001:db8::1", "2001:db8::2", 10, 20, 17), 1, 40 + 32 + 12}}});
    }
    {
        Ip6 h{.next = 51};  // AH: (hdrlen + 2) * 4 bytes
        Bytes ah = {17, 4};
        ah.resize(24, 0);
        t.push_back({"ipv6_ah", {cat({eth(0x86dd), ipv6(h, 24 + 8), ah, udp(11, 12, 0)})},
                     {{key6("2001:db8::1", "2001:db8::2", 11, 12, 17), 1, 72}}});
    }
    {
        Ip6 h{.next = 60};
        Bytes chain;
        for (int i = 0; i < 9; ++i) chain = cat({chain, ext6(60, 0)});
        chain[chain.size() - 8] = 17;
        Bytes f = cat({eth(0x86dd), ipv6(h, chain.size() + 8), chain, udp(1, 2, 0)});
        t.push_back({"ipv6_too_many_ext_headers", {f}, {}, Drop::parse_error, f.size() - 14});
    }
    // --- Fragments: the first counts with its ports, later ones in a port-0 flow.
    {
        Ip4 first{.frag_field = 0x2000};  // MF, offset 0
        Ip4 later{.frag_field = 185};     // offset 1480, last fragment
        Bytes udp_start = udp(1111, 2222, 40);  // 48 bytes of a longer datagram
        Bytes f1 = cat({eth(0x0800), ipv4(first, 48), udp_start});
        Bytes f2 = cat({eth(0x0800), ipv4(later, 100), zeros(100)});
        t.push_back({"ipv4_fragments", {f1, f2, f2},
                     {{key4("192.0.2.1", "198.51.100.2", 1111, 2222, 17), 1, 68},
                      {key4("192.0.2.1", "198.51.100.2", 0, 0, 17), 2, 240}},
                     Drop::none, 0, 2, 240});
        Ip4 tiny{.protocol = 6, .frag_field = 0x2000};  // first fragment too short for ports
        t.push_back({"ipv4_tiny_first_fragment", {cat({eth(0x0800), ipv4(tiny, 2), zeros(2)})},
                     {{key4("192.0.2.1", "198.51.100.2", 0, 0, 6), 1, 22}}});
    }
    {
        Ip6 h{.next = 44};
        Bytes f1 = cat({eth(0x86dd), ipv6(h, 8 + 16), frag6(17, 0, true), udp(3333, 4444, 8)});
        Bytes f2 = cat({eth(0x86dd), ipv6(h, 8 + 64), frag6(17, 2, false), zeros(64)});
        t.push_back({"ipv6_fragments", {f1, f2},
                     {{key6("2001:db8::1", "2001:db8::2", 3333, 4444, 17), 1, 64},
                      {key6("2001:db8::1", "2001:db8::2", 0, 0, 17), 1, 112}},
                     Drop::none, 0, 1, 112});
    }
    // --- ICMP, SCTP, other protocols
    {
        Ip4 h{.protocol = 1};
        t.push_back({"icmp_echo", {cat({eth(0x0800), ipv4(h, 64), icmp(8, 0, 56)})},
                     {{key4("192.0.2.1", "198.51.100.2", 0, 0x0800, 1), 1, 84}}});
        t.push_back({"icmp_unreachable", {cat({eth(0x0800), ipv4(h, 36), icmp(3, 3, 28)})},
                     {{key4("192.0.2.1", "198.51.100.2", 0, 0x0303, 1), 1, 56}}});
        Ip6 h6{.next = 58};
        t.push_back({"icmpv6_echo", {cat({eth(0x86dd), ipv6(h6, 16), icmp(128, 0, 8)})},
                     {{key6("2001:db8::1", "2001:db8::2", 0, 0x8000, 58), 1, 56}}});
        Ip4 sctp{.protocol = 132};
        t.push_back({"sctp_ports", {cat({eth(0x0800), ipv4(sctp, 12), ports(36412, 36412, 12)})},
                     {{key4("192.0.2.1", "198.51.100.2", 36412, 36412, 132), 1, 32}}});
        Ip4 gre{.protocol = 47};
        t.push_back({"gre_no_ports", {cat({eth(0x0800), ipv4(gre, 24), zeros(24)})},
                     {{key4("192.0.2.1", "198.51.100.2", 0, 0, 47), 1, 44}}});
    }
    // --- Damaged frames: exactly one drop counter each, never a flow.
    {
        // test_run refuses an ETH_P_IP frame shorter than an IP header, so the cut header
        // rides in a VLAN tag: the same parser path as on a device.
        Bytes f = cat({eth(0x8100), vlan(5, 0x0800), Bytes{0x45}, zeros(9)});
        t.push_back({"ipv4_header_cut", {f}, {}, Drop::truncated, 10});
        Ip4 h{.tot_len_override = 200};
        Bytes g = cat({eth(0x0800), ipv4(h, 8), udp(1, 2, 0)});
        t.push_back({"ipv4_total_length_beyond_frame", {g}, {}, Drop::truncated, 28});
        Ip4 th{.protocol = 6};
        Bytes cut = cat({eth(0x0800), ipv4(th, 10), zeros(10)});
        t.push_back({"tcp_header_cut", {cut}, {}, Drop::truncated, 30});
        Ip4 bad_version{.version = 5};
        Bytes bv = cat({eth(0x0800), ipv4(bad_version, 8), udp(1, 2, 0)});
        t.push_back({"ipv4_bad_version", {bv}, {}, Drop::parse_error, 28});
        Ip4 bad_ihl{.ihl_override = 3};
        Bytes bi = cat({eth(0x0800), ipv4(bad_ihl, 8), udp(1, 2, 0)});
        t.push_back({"ipv4_bad_ihl", {bi}, {}, Drop::parse_error, 28});
        Ip4 short_total{.tot_len_override = 12};
        Bytes st = cat({eth(0x0800), ipv4(short_total, 8), udp(1, 2, 0)});
        t.push_back({"ipv4_total_below_header", {st}, {}, Drop::parse_error, 28});
        Ip4 bad_doff{.protocol = 6};
        Bytes bd = cat({eth(0x0800), ipv4(bad_doff, 20), tcp(1, 2, SYN, false, 2)});
        t.push_back({"tcp_data_offset_below_20", {bd}, {}, Drop::parse_error, 40});
        Ip6 v{.version = 4};
        Bytes b6 = cat({eth(0x86dd), ipv6(v, 8), udp(1, 2, 0)});
        t.push_back({"ipv6_bad_version", {b6}, {}, Drop::parse_error, 48});
        Bytes c6 = cat({eth(0x86dd), ipv6({}, 100), udp(1, 2, 0)});
        t.push_back({"ipv6_payload_beyond_frame", {c6}, {}, Drop::truncated, 48});
        Bytes vcut = cat({eth(0x8100), Bytes{0x00}});
        t.push_back({"vlan_tag_cut", {vcut}, {}, Drop::truncated, 15});
        Bytes garbage;
        for (int i = 0; i < 64; ++i) garbage.push_back(std::uint8_t(i * 37 + 11));
        garbage[12] = 0x08, garbage[13] = 0x00, garbage[14] = 0x4f;  // IPv4, ihl 15, length nonsense
        t.push_back({"garbage_ipv4", {garbage}, {}, Drop::truncated, 50});
    }
    // --- L3-only devices (tun, WireGuard): no Ethernet header.
    {
        Case c{"l3_ipv4_udp", {cat({ipv4(udp4, 28), udp(53, 5353, 20)})},
               {{key4("192.0.2.1", "198.51.100.2", 53, 5353, 17), 1, 48}}};
        c.l2 = false;
        t.push_back(c);
        Case d{"l3_ipv6_udp", {cat({ipv6({}, 8), udp(1, 2, 0)})},
               {{key6("2001:db8::1", "2001:db8::2", 1, 2, 17), 1, 48}}};
        d.l2 = false;
        t.push_back(d);
        Bytes junk = zeros(20);
        Case e{"l3_not_ip", {junk}, {}, Drop::non_ip, 20};
        e.l2 = false;
        t.push_back(e);
    }
    // --- Egress program, and a GSO super-packet (2 segments of 1448 bytes).
    {
        Case c{"egress_direction", {cat({eth(0x0800), ipv4(udp4, 8), udp(9, 9, 0)})},
               {{key4("192.0.2.1", "198.51.100.2", 9, 9, 17, 0, 0, Direction::egress), 1, 28}}};
        c.direction = Direction::egress;
        t.push_back(c);
        Ip4 h{.protocol = 6};
        Case g{"gso_tcp_two_segments", {cat({eth(0x0800), ipv4(h, 20 + 2896), tcp(5, 6, ACK), zeros(2896)})},
               {{key4("192.0.2.1", "198.51.100.2", 5, 6, 6), 2, (40 + 2896) + 40, ACK}}};
        g.gso_segs = 2;
        t.push_back(g);
    }
    // --- Review findings: each case failed before its fix.
    {
        // A GSO packet from a tap/virtio socket: gso_segs 0, segments from gso_size.
        Ip4 h{.protocol = 6};
        Case g{"gso_dodgy_segments_from_gso_size",
               {cat({eth(0x0800), ipv4(h, 20 + 3000), tcp(5, 7, ACK), zeros(3000)})},
               {{key4("192.0.2.1", "198.51.100.2", 5, 7, 6), 3, (40 + 3000) + 2 * 40, ACK}}};
        g.gso_segs = 0;
        g.gso_size = 1000;
        t.push_back(g);
    }
    {
        // Exactly eight extension headers are allowed (a ninth is a parse error, above).
        Ip6 h{.next = 60};
        Bytes chain;
        for (int i = 0; i < 8; ++i) chain = cat({chain, ext6(60, 0)});
        chain[chain.size() - 8] = 17;
        t.push_back({"ipv6_eight_ext_headers", {cat({eth(0x86dd), ipv6(h, chain.size() + 8), chain, udp(3, 4, 0)})},
                     {{key6("2001:db8::1", "2001:db8::2", 3, 4, 17), 1, std::uint64_t(40 + 64 + 8)}}});
    }
    {
        // The Mobility Header ends the chain: the flow is protocol 135, not 59.
        Ip6 h{.next = 0};
        Bytes mh = {59, 1, 5, 0};  // payload proto 59, length 1 (16 bytes), MH type 5
        mh.resize(16, 0);
        Bytes f = cat({eth(0x86dd), ipv6(h, 8 + 16), ext6(135, 0), mh});
        t.push_back({"ipv6_mobility_header", {f}, {{key6("2001:db8::1", "2001:db8::2", 0, 0, 135), 1, 64}}});
    }
    {
        // IPv4 AH is stepped over as in IPv6: the ports are the transport's.
        Ip4 h{.protocol = 51};
        Bytes ah = {17, 4};  // next header UDP, (4 + 2) * 4 = 24 bytes
        ah.resize(24, 0);
        t.push_back({"ipv4_ah", {cat({eth(0x0800), ipv4(h, 24 + 8), ah, udp(21, 22, 0)})},
                     {{key4("192.0.2.1", "198.51.100.2", 21, 22, 17), 1, 52}}});
    }
    {
        // A capture cut at 96 bytes: the headers are there, the flow counts its wire length.
        Ip4 h{.protocol = 1};
        Bytes f = cat({eth(0x0800), ipv4(h, 1008), icmp(8, 0, 1000)});
        const std::uint32_t wire = std::uint32_t(f.size());
        f.resize(96);
        Case c{"snaplen_cut_counts_wire_length", {f}, {{key4("192.0.2.1", "198.51.100.2", 0, 0x0800, 1), 1, 1028}}};
        c.wire_len = wire;
        t.push_back(c);
        // Cut inside the TCP header: truncated, with the wire bytes from L3 on.
        Ip4 th{.protocol = 6};
        Bytes g = cat({eth(0x0800), ipv4(th, 20 + 500), tcp(1, 2, ACK), zeros(500)});
        const std::uint32_t gwire = std::uint32_t(g.size());
        g.resize(14 + 20 + 10);
        Case d{"snaplen_cut_inside_tcp_header", {g}, {}, Drop::truncated, gwire - 14};
        d.wire_len = gwire;
        t.push_back(d);
    }
    return t;
}

std::string describe(const FlowKey& k) {
    std::ostringstream o;
    o << "v" << int(k.ip_version) << " proto " << int(k.protocol) << " ports " << k.src_port << "->" << k.dst_port
      << " vlan " << k.vlan_id << "/" << k.inner_vlan_id << " if " << k.ifindex << " dir " << int(k.direction);
    return o.str();
}

ebpfix_pkt_bytes drop_of(const ebpfix_counters& c, Drop d) {
    switch (d) {
        case Drop::non_ip: return c.non_ip;
        case Drop::parse_error: return c.parse_error;
        case Drop::truncated: return c.truncated;
        case Drop::none: break;
    }
    return {};
}

ebpfix_pkt_bytes minus(const ebpfix_pkt_bytes& a, const ebpfix_pkt_bytes& b) {
    return {a.packets - b.packets, a.bytes - b.bytes};
}

void run_table(bool force_load_bytes) {
    bpf::ProgramOptions options;
    options.map_entries = 1024;
    options.force_load_bytes = force_load_bytes;
    bpf::FlowProgram program(options);
    bpf::FlowDrainer drainer(program);

    for (const Case& c : cases()) {
        BOOST_TEST_CONTEXT("case " << c.name << (force_load_bytes ? " (load_bytes)" : " (direct)")) {
            const auto before = bpf::read_counters(program);
            const int fd = program.tc_program_fd(c.direction, c.l2 ? bpf::LinkLayer::ethernet : bpf::LinkLayer::l3);
            for (const Bytes& frame : c.frames) {
                bpf::PacketRunOptions run;
                run.gso_segs = c.gso_segs;
                run.gso_size = c.gso_size ? c.gso_size : c.gso_segs ? 1448 : 0;
                run.wire_len = c.wire_len;
                try {
                    auto result = bpf::run_packet(fd, frame, run);
                    BOOST_TEST(result.retval == -1);  // TC_ACT_UNSPEC / TCX_NEXT: never a verdict
                } catch (const bpf::BpfError& e) {
                    BOOST_ERROR("frame of " << frame.size() << " bytes: " << e.what());
                }
            }
            // Idle 0: every slot goes back, so each case starts from an empty table.
            std::vector<FlowDelta> drained;
            drainer.drain(monotonic_now(), 0, drained);
            const auto after = bpf::read_counters(program);

            BOOST_TEST(drained.size() == c.flows.size());
            for (const ExpectedFlow& want : c.flows) {
                const FlowDelta* got = nullptr;
                for (const auto& d : drained)
                    if (d.key == want.key) got = &d;
                BOOST_TEST_CONTEXT("flow " << describe(want.key)) {
                    BOOST_TEST_REQUIRE(got != nullptr);
                    BOOST_TEST(got->packets == want.packets);
                    BOOST_TEST(got->bytes == want.bytes);
                    BOOST_TEST(got->tcp_flags == want.tcp_flags);
                    BOOST_TEST(int(got->tos) == int(want.tos));
                    BOOST_TEST(got->first_ns > 0u);
                    BOOST_TEST(got->last_ns >= got->first_ns);
                }
            }
            if (drained.size() != c.flows.size())
                for (const auto& d : drained) BOOST_TEST_MESSAGE("drained " << describe(d.key));

            for (Drop d : {Drop::non_ip, Drop::parse_error, Drop::truncated}) {
                auto delta = minus(drop_of(after, d), drop_of(before, d));
                const bool expected_here = d == c.drop;
                BOOST_TEST(delta.packets == (expected_here ? c.frames.size() : 0u));
                BOOST_TEST(delta.bytes == (expected_here ? c.drop_bytes : 0u));
            }
            auto frag = minus(after.fragments, before.fragments);
            BOOST_TEST(frag.packets == c.fragments);
            BOOST_TEST(frag.bytes == c.fragment_bytes);
            BOOST_TEST(after.map_full.packets == before.map_full.packets);
            BOOST_TEST(after.flows_created - before.flows_created == c.flows.size());
            BOOST_TEST(drainer.slots_in_use() == 0u);
            BOOST_TEST(drainer.unmatched_bytes() == 0u);
        }
    }
}

struct RootFixture {
    RootFixture() { require_root("kernel_cases (loads BPF)"); }
};
BOOST_TEST_GLOBAL_FIXTURE(RootFixture);

}  // namespace

BOOST_AUTO_TEST_CASE(every_case_through_direct_packet_access) { run_table(false); }

BOOST_AUTO_TEST_CASE(every_case_through_skb_load_bytes) { run_table(true); }

BOOST_AUTO_TEST_CASE(full_map_counts_packets_in_map_full) {
    bpf::ProgramOptions options;
    options.map_entries = 4;
    bpf::FlowProgram program(options);
    bpf::FlowDrainer drainer(program);
    const int fd = program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet);
    // 10 distinct flows into a map of 4: 4 are counted as flows, 6 in map_full.
    std::uint64_t sent_bytes = 0;
    for (std::uint16_t port = 1; port <= 10; ++port) {
        Bytes f = cat({eth(0x0800), ipv4(Ip4{}, 8 + port), udp(port, 80, port)});
        sent_bytes += 28 + port;
        bpf::run_packet(fd, f);
    }
    std::vector<FlowDelta> drained;
    drainer.drain(monotonic_now(), 0, drained);
    const auto counters = bpf::read_counters(program);
    std::uint64_t drained_packets = 0, drained_bytes = 0;
    for (const auto& d : drained) drained_packets += d.packets, drained_bytes += d.bytes;
    BOOST_TEST(drained.size() == 4u);
    BOOST_TEST(counters.map_full.packets == 6u);
    BOOST_TEST(drained_packets + counters.map_full.packets == 10u);
    BOOST_TEST(drained_bytes + counters.map_full.bytes == sent_bytes);
    // The drain gave the idle slots back: new flows fit again.
    bpf::run_packet(fd, cat({eth(0x0800), ipv4(Ip4{}, 8), udp(99, 80, 0)}));
    drained.clear();
    drainer.drain(monotonic_now(), 0, drained);
    BOOST_TEST(drained.size() == 1u);
    BOOST_TEST(bpf::read_counters(program).map_full.packets == 6u);
}

BOOST_AUTO_TEST_CASE(frame_shorter_than_ethernet_is_refused_by_test_run) {
    bpf::FlowProgram program(bpf::ProgramOptions{});
    Bytes tiny = {1, 2, 3};
    BOOST_CHECK_THROW(bpf::run_packet(program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet), tiny),
                      bpf::BpfError);
}
