// RFC 5103 biflows (issue 15): pairing the two directions of a cycle's records, who the
// initiator is, a property test that pairing never loses or doubles a count, and the
// byte-exact biflow records (templates 268/269) written by hand from RFC 5103 / RFC 7011.
#define BOOST_TEST_MODULE ipfix_biflow
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <vector>

#include "golden_support.hpp"
#include "ipfix/biflow.hpp"
#include "ipfix/flow_encoder.hpp"

using namespace ebpfix;
using namespace ebpfix::ipfix;
using ebpfix::test::Bytes;
using ebpfix::test::Capture;
using ebpfix::test::hex;
using ebpfix::test::sets_of;

namespace {

constexpr std::uint64_t k_now = 1700000000123;  // 0x6553f100 s
constexpr std::uint16_t SYN = 0x02, ACK = 0x10, FIN = 0x01, PSH = 0x08;

#define CHECK_BYTES(actual, expected)                                               \
    BOOST_CHECK_MESSAGE((actual) == (expected), "\n got      " << test::to_hex(actual) \
                                                              << "\n expected " << test::to_hex(expected))

// 10.0.0.1:12345 -> 192.168.1.2:443 arriving on device 3.
FlowRecord client_to_server() {
    FlowRecord r;
    r.key.src_addr = FlowKey::mapped_v4(0x0a000001);
    r.key.dst_addr = FlowKey::mapped_v4(0xc0a80102);
    r.key.src_port = 12345;
    r.key.dst_port = 443;
    r.key.protocol = 6;
    r.key.ifindex = 3;
    r.key.direction = Direction::ingress;
    r.key.vlan_id = 100;
    r.key.inner_vlan_id = 200;
    r.key.ip_version = 4;
    r.packets = 99;
    r.bytes = 123456;
    r.start_ms = 1700000000000;
    r.end_ms = 1700000000100;
    r.tcp_flags = SYN | ACK | PSH | FIN;
    r.tos = 0x28;
    r.end_reason = EndReason::active_timeout;
    return r;
}

// Its other direction: leaving device 3 from 192.168.1.2:443 to 10.0.0.1:12345.
FlowRecord server_to_client() {
    FlowRecord r = client_to_server();
    r.key = *reverse_key(client_to_server().key);
    r.packets = 50;
    r.bytes = 70000;
    r.start_ms = 1700000000010;
    r.end_ms = 1700000000090;
    r.tcp_flags = SYN | ACK;
    r.tos = 0;
    return r;
}

FlowRecord icmp(std::uint8_t type, bool request_side) {
    FlowRecord r;
    r.key.ip_version = 4;
    r.key.protocol = 1;
    r.key.src_addr = FlowKey::mapped_v4(request_side ? 0x0a000001 : 0x0a000002);
    r.key.dst_addr = FlowKey::mapped_v4(request_side ? 0x0a000002 : 0x0a000001);
    r.key.dst_port = std::uint16_t(type << 8);
    r.key.ifindex = 2;
    r.key.direction = request_side ? Direction::egress : Direction::ingress;
    r.packets = 4;
    r.bytes = 336;
    r.start_ms = 1700000000000;
    r.end_ms = 1700000000050;
    return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(reverse_key_swaps_endpoints_and_direction) {
    FlowKey k = client_to_server().key;
    k.owner = 77;
    auto r = reverse_key(k);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->src_addr == k.dst_addr);
    BOOST_TEST(r->dst_addr == k.src_addr);
    BOOST_TEST(r->src_port == 443);
    BOOST_TEST(r->dst_port == 12345);
    BOOST_TEST((r->direction == Direction::egress));
    BOOST_TEST(r->ifindex == 3u);
    BOOST_TEST(r->vlan_id == 100);
    BOOST_TEST(r->inner_vlan_id == 200);
    BOOST_TEST(r->owner == 0u);  // owners are compared by pair_biflows, not keyed
    // ICMP: echo request 8 <-> reply 0, ICMPv6 128 <-> 129, the code kept; errors have none.
    FlowKey e = icmp(8, true).key;
    BOOST_TEST(reverse_key(e)->dst_port == 0x0000);
    e.dst_port = 0x0d00;
    BOOST_TEST(reverse_key(e)->dst_port == 0x0e00);
    e.dst_port = 0x0301;  // destination unreachable
    BOOST_TEST(!reverse_key(e).has_value());
    e.ip_version = 6;
    e.protocol = 58;
    e.dst_port = 0x8100;
    BOOST_TEST(reverse_key(e)->dst_port == 0x8000);
    BOOST_TEST(reverse_key(*reverse_key(e))->dst_port == 0x8100);
}

BOOST_AUTO_TEST_CASE(two_directions_make_one_biflow_initiator_first) {
    // Input order does not decide: the earlier start (the client) is forward.
    std::vector<FlowRecord> records{server_to_client(), client_to_server()};
    auto b = pair_biflows(records);
    BOOST_REQUIRE_EQUAL(b.size(), 1u);
    BOOST_TEST(b[0].forward.key.src_port == 12345);
    BOOST_REQUIRE(b[0].reverse.has_value());
    BOOST_TEST(b[0].reverse->key.src_port == 443);
    BOOST_TEST((b[0].direction == BiflowDirection::initiator));
}

BOOST_AUTO_TEST_CASE(a_syn_without_ack_marks_the_initiator_over_start_times) {
    FlowRecord client = client_to_server();
    client.tcp_flags = SYN;  // an unanswered connection attempt...
    client.start_ms = 1700000000050;
    FlowRecord server = server_to_client();
    server.tcp_flags = 0x04 | ACK;  // ...refused with RST|ACK, which started "earlier"
    server.start_ms = 1700000000000;
    std::vector<FlowRecord> records{server, client};
    auto b = pair_biflows(records);
    BOOST_REQUIRE_EQUAL(b.size(), 1u);
    BOOST_TEST(b[0].forward.key.src_port == 12345);
    BOOST_TEST((b[0].direction == BiflowDirection::initiator));
}

BOOST_AUTO_TEST_CASE(equal_start_times_keep_input_order_and_say_arbitrary) {
    FlowRecord a = client_to_server(), b = server_to_client();
    b.start_ms = a.start_ms;
    std::vector<FlowRecord> records{b, a};
    auto out = pair_biflows(records);
    BOOST_REQUIRE_EQUAL(out.size(), 1u);
    BOOST_TEST(out[0].forward.key.src_port == 443);  // first in the input
    BOOST_TEST((out[0].direction == BiflowDirection::arbitrary));
}

BOOST_AUTO_TEST_CASE(icmp_echo_pairs_request_first) {
    std::vector<FlowRecord> records{icmp(0, false), icmp(8, true)};
    auto b = pair_biflows(records);
    BOOST_REQUIRE_EQUAL(b.size(), 1u);
    BOOST_TEST(b[0].forward.key.dst_port == 0x0800);
    BOOST_TEST((b[0].direction == BiflowDirection::initiator));
    // Alone: a request is the initiator's side, a reply the responder's.
    std::vector<FlowRecord> reply_only{icmp(0, false)};
    BOOST_TEST((pair_biflows(reply_only)[0].direction == BiflowDirection::reverse_initiator));
    std::vector<FlowRecord> request_only{icmp(8, true)};
    BOOST_TEST((pair_biflows(request_only)[0].direction == BiflowDirection::initiator));
}

BOOST_AUTO_TEST_CASE(what_does_not_pair) {
    auto singles = [](std::vector<FlowRecord> records) {
        auto b = pair_biflows(records);
        bool all_single = b.size() == records.size();
        for (const auto& x : b) all_single = all_single && !x.reverse;
        return all_single;
    };
    FlowRecord other_device = server_to_client();
    other_device.key.ifindex = 4;  // the reply left by another device: not this device's biflow
    BOOST_TEST(singles({client_to_server(), other_device}));
    FlowRecord same_direction = server_to_client();
    same_direction.key.direction = Direction::ingress;
    BOOST_TEST(singles({client_to_server(), same_direction}));
    FlowRecord other_vlan = server_to_client();
    other_vlan.key.vlan_id = 101;
    BOOST_TEST(singles({client_to_server(), other_vlan}));
    FlowRecord other_port = server_to_client();
    other_port.key.dst_port = 12346;
    BOOST_TEST(singles({client_to_server(), other_port}));
    // Two different sockets (cookies) never pair; cookie 0 (the hook did not know the
    // socket) pairs with any.
    FlowRecord a = client_to_server(), b = server_to_client();
    a.key.owner = 11;
    b.key.owner = 12;
    BOOST_TEST(singles({a, b}));
    b.key.owner = 0;
    BOOST_TEST(pair_biflows(std::vector<FlowRecord>{a, b}).size() == 1u);
    // An unpaired TCP record with SYN and no ACK is the initiator's; with SYN|ACK nobody knows.
    FlowRecord syn = client_to_server();
    syn.tcp_flags = SYN;
    BOOST_TEST((pair_biflows(std::vector<FlowRecord>{syn})[0].direction == BiflowDirection::initiator));
    BOOST_TEST((pair_biflows(std::vector<FlowRecord>{server_to_client()})[0].direction == BiflowDirection::arbitrary));
}

BOOST_AUTO_TEST_CASE(the_same_socket_pairs_first) {
    // Two candidates for one reverse (the same 5-tuple seen with the socket and, by a hook
    // that did not know it, with cookie 0): the matching cookie wins; the other stays alone.
    FlowRecord a = client_to_server();
    a.key.owner = 5;
    FlowRecord anonymous = server_to_client(), owned = server_to_client();
    owned.key.owner = 5;
    owned.packets = 7;
    std::vector<FlowRecord> records{a, anonymous, owned};
    auto b = pair_biflows(records);
    BOOST_REQUIRE_EQUAL(b.size(), 2u);
    BOOST_REQUIRE(b[0].reverse.has_value());
    BOOST_TEST(b[0].reverse->packets == 7u);
    BOOST_TEST(!b[1].reverse.has_value());
    BOOST_TEST(b[1].forward.key.owner == 0u);
}

// Property: for random record sets with many planted pairs (and duplicates, and records
// whose reverse is not in the set), every input record appears exactly once in the
// biflows, so forward + reverse packets and octets sum exactly to the input's (in 128
// bits: counts go up to 2^64 - 1), and every pair is a key and its reverse_key.
BOOST_AUTO_TEST_CASE(pairing_keeps_every_record_exactly_once) {
    std::mt19937_64 rng(20240515);
    auto below = [&](std::uint64_t n) { return rng() % n; };
    std::size_t pairs = 0, alone = 0;
    for (int round = 0; round < 400; ++round) {
        std::vector<FlowRecord> records;
        std::size_t n = 1 + below(60);
        for (std::size_t i = 0; i < n; ++i) {
            FlowRecord r;
            FlowKey& k = r.key;
            k.ip_version = below(2) ? 4 : 6;
            auto addr = [&]() {
                std::uint32_t v = 0x0a000000u | std::uint32_t(below(4));  // few hosts: many collisions
                if (k.ip_version == 4) return FlowKey::mapped_v4(v);
                std::array<std::uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8};
                a[15] = std::uint8_t(v);
                return a;
            };
            k.src_addr = addr();
            k.dst_addr = addr();
            static constexpr std::uint8_t protocols[] = {6, 17, 1, 58, 47};
            k.protocol = protocols[below(5)];
            if (k.is_icmp()) {
                static constexpr std::uint16_t types[] = {0x0800, 0x0000, 0x0301, 0x8000, 0x8100};
                k.dst_port = types[below(5)];
            } else if (k.protocol != 47) {
                k.src_port = std::uint16_t(1 + below(3));
                k.dst_port = std::uint16_t(1 + below(3));
            }
            k.ifindex = std::uint32_t(1 + below(2));
            k.direction = below(2) ? Direction::egress : Direction::ingress;
            k.vlan_id = std::uint16_t(below(2));
            k.owner = below(3) == 0 ? 0 : 1 + below(2);
            r.packets = below(4) == 0 ? ~std::uint64_t{0} - below(3) : below(1000);
            r.bytes = below(4) == 0 ? ~std::uint64_t{0} - below(3) : below(100000);
            r.start_ms = 1700000000000 + below(100);
            r.end_ms = r.start_ms + below(100);
            r.tcp_flags = k.protocol == 6 ? std::uint16_t(below(0x40)) : 0;
            records.push_back(r);
            if (below(2)) {  // plant the other direction
                FlowRecord rev = r;
                if (auto rk = reverse_key(r.key)) {
                    rev.key = *rk;
                    rev.key.owner = below(2) ? r.key.owner : 0;
                    rev.packets = below(1000);
                    rev.start_ms = 1700000000000 + below(100);
                    records.push_back(rev);
                }
            }
        }
        std::shuffle(records.begin(), records.end(), rng);
        auto biflows = pair_biflows(records);
        unsigned __int128 in_packets = 0, in_octets = 0, out_packets = 0, out_octets = 0;
        for (const auto& r : records) {
            in_packets += r.packets;
            in_octets += r.bytes;
        }
        std::vector<FlowRecord> seen;
        for (const auto& b : biflows) {
            ++(b.reverse ? pairs : alone);
            out_packets += b.forward.packets;
            out_octets += b.forward.bytes;
            seen.push_back(b.forward);
            if (b.reverse) {
                out_packets += b.reverse->packets;
                out_octets += b.reverse->bytes;
                seen.push_back(*b.reverse);
                auto expected = reverse_key(b.forward.key);
                FlowKey got = b.reverse->key;
                got.owner = 0;
                BOOST_TEST_REQUIRE((expected && *expected == got));
                std::uint64_t fo = b.forward.key.owner, ro = b.reverse->key.owner;
                BOOST_TEST_REQUIRE((fo == ro || fo == 0 || ro == 0));
            }
        }
        BOOST_TEST_REQUIRE((in_packets == out_packets), "round " << round);
        BOOST_TEST_REQUIRE((in_octets == out_octets), "round " << round);
        auto less = [](const FlowRecord& a, const FlowRecord& b) {
            return std::tie(a.key, a.packets, a.bytes, a.start_ms, a.end_ms, a.tcp_flags) <
                   std::tie(b.key, b.packets, b.bytes, b.start_ms, b.end_ms, b.tcp_flags);
        };
        auto sorted_in = records;
        std::sort(sorted_in.begin(), sorted_in.end(), less);
        std::sort(seen.begin(), seen.end(), less);
        BOOST_TEST_REQUIRE(seen.size() == sorted_in.size());
        for (std::size_t i = 0; i < seen.size(); ++i) BOOST_TEST_REQUIRE(!less(seen[i], sorted_in[i]));
        // Maximal: no two leftover singles could have paired.
        std::vector<const FlowRecord*> singles;
        for (const auto& b : biflows)
            if (!b.reverse) singles.push_back(&b.forward);
        for (std::size_t i = 0; i < singles.size(); ++i)
            for (std::size_t j = i + 1; j < singles.size(); ++j) {
                auto rk = reverse_key(singles[i]->key);
                FlowKey other = singles[j]->key;
                other.owner = 0;
                std::uint64_t a = singles[i]->key.owner, b = singles[j]->key.owner;
                BOOST_TEST_REQUIRE(!(rk && *rk == other && (a == b || a == 0 || b == 0)));
            }
    }
    BOOST_TEST_MESSAGE(pairs << " pairs, " << alone << " alone");
    BOOST_TEST(pairs > 1000u);  // the sets exercise both outcomes
    BOOST_TEST(alone > 1000u);
}

BOOST_AUTO_TEST_CASE(ipfix_biflow_record_golden) {
    EncoderOptions o;
    o.observation_domain = 7;
    o.biflow = true;
    FlowEncoder enc(o);
    Capture cap;
    FlowRecord single = client_to_server();
    single.key.src_port = 40000;
    single.tcp_flags = SYN;
    std::vector<Biflow> biflows{{client_to_server(), server_to_client(), BiflowDirection::initiator},
                                {single, std::nullopt, BiflowDirection::initiator}};
    enc.encode_biflows(biflows, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    Bytes expected = hex(
        "000a 0158 6553f100 00000000 00000007"          // 344 bytes
        " 0002 0080 010c 0019"                          // Template Set, 268, 25 fields
        " 0008 0004 000c 0004 0007 0002 0020 0002 000b 0002 0004 0001"
        " 8006 0001 00007279"                           // reverse tcpControlBits: enterprise bit, PEN 29305
        " 0006 0001 0005 0001"
        " 8098 0008 00007279 8099 0008 00007279"        // reverse flowStart/EndMilliseconds
        " 0098 0008 0099 0008 0001 0008 0002 0008"
        " 8001 0008 00007279 8002 0008 00007279"        // reverse octet/packetDeltaCount
        " 000a 0004 000e 0004 003d 0001 0088 0001"
        " 00ef 0001"                                    // biflowDirection (239)
        " 003c 0001 003a 0002 00f5 0002"
        " 010c 00c8"                                    // Data Set 268: 4 + 2 x 98
        " 0a000001 c0a80102 3039 0000 01bb 06"
        " 12 1b 28"                                     // reverse flags SYN|ACK, forward FIN|SYN|PSH|ACK, ToS
        " 0000018bcfe5680a 0000018bcfe5685a"            // reverse start/end (+10 ms, +90 ms)
        " 0000018bcfe56800 0000018bcfe56864"            // forward start/end
        " 000000000001e240 0000000000000063"            // forward 123456 octets, 99 packets
        " 0000000000011170 0000000000000032"            // reverse 70000 octets, 50 packets
        " 00000003 00000000 00 02 01 04 0064 00c8"      // ingress 3, ingress, active timeout, initiator
        " 0a000001 c0a80102 9c40 0000 01bb 06"          // the unanswered SYN from port 40000
        " 00 02 28"                                     // no reverse flags, SYN
        " 0000000000000000 0000000000000000"            // no reverse packets: reverse times 0
        " 0000018bcfe56800 0000018bcfe56864"
        " 000000000001e240 0000000000000063"
        " 0000000000000000 0000000000000000"            // reverse counts 0
        " 00000003 00000000 00 02 01 04 0064 00c8");
    CHECK_BYTES(cap.messages[0], expected);
    // One data record per biflow; both directions' counts.
    BOOST_CHECK_EQUAL(enc.counters().data_records, 2u);
    BOOST_CHECK_EQUAL(enc.counters().data_packets, 99u + 50u + 99u);
    BOOST_CHECK_EQUAL(enc.counters().data_octets, 123456u + 70000u + 123456u);
}

BOOST_AUTO_TEST_CASE(ipv6_biflows_in_269_after_ipv4) {
    EncoderOptions o;
    o.observation_domain = 7;
    o.biflow = true;
    FlowEncoder enc(o);
    Capture cap;
    FlowRecord v6;
    v6.key.ip_version = 6;
    v6.key.protocol = 17;
    v6.key.src_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    v6.key.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    v6.packets = 1;
    v6.bytes = 80;
    v6.start_ms = v6.end_ms = 1700000000000;
    std::vector<Biflow> biflows{{v6, std::nullopt, BiflowDirection::arbitrary},
                                {client_to_server(), server_to_client(), BiflowDirection::initiator}};
    enc.encode_biflows(biflows, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    auto sets = sets_of(cap.messages[0], false);
    BOOST_REQUIRE_EQUAL(sets.size(), 3u);
    BOOST_CHECK_EQUAL(sets[0].length, 4 + 124 + 124);  // 268 and 269 share the Template Set
    BOOST_CHECK_EQUAL(sets[1].id, 268);
    BOOST_CHECK_EQUAL(sets[2].id, 269);
    BOOST_CHECK_EQUAL(sets[2].length, 4 + 98 + 24);
}

BOOST_AUTO_TEST_CASE(biflow_options_and_inputs_are_checked) {
    EncoderOptions o;
    o.protocol = Protocol::netflow9;
    o.biflow = true;
    BOOST_CHECK_THROW(FlowEncoder{o}, std::invalid_argument);
    o.protocol = Protocol::ipfix;
    o.biflow = false;
    FlowEncoder plain(o);
    Capture cap;
    std::vector<Biflow> one{{client_to_server(), std::nullopt, BiflowDirection::arbitrary}};
    BOOST_CHECK_THROW(plain.encode_biflows(one, k_now, cap.sink()), std::logic_error);
    o.biflow = true;
    FlowEncoder enc(o);
    std::vector<Biflow> bad{{client_to_server(), std::nullopt, BiflowDirection::arbitrary},
                            {client_to_server(), client_to_server(), BiflowDirection::initiator}};
    bad[1].reverse->key.ip_version = 6;
    try {
        enc.encode_biflows(bad, k_now, cap.sink());
        BOOST_FAIL("mixed families accepted");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_EQUAL(std::string(e.what()),
                          "encoder: biflow 1: the reverse record is not of the forward's family and protocol");
    }
    bad[1].reverse = std::nullopt;
    bad[1].direction = static_cast<BiflowDirection>(4);
    BOOST_CHECK_THROW(enc.encode_biflows(bad, k_now, cap.sink()), std::invalid_argument);
    BOOST_CHECK(cap.messages.empty());
    // With biflow on, the smallest message holds the IPv6 biflow template and one record:
    // 16 + (4 + 124) + 4 + 122.
    o.max_message_size = 269;
    BOOST_CHECK_THROW(FlowEncoder{o}, std::invalid_argument);
    o.max_message_size = 270;
    BOOST_CHECK_NO_THROW(FlowEncoder{o});
}
