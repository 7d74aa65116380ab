// Byte-exact golden tests for the IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) encoders.
// Every expected byte below is written by hand from the RFC layouts and the templates in
// docs/ipfix.md; none is produced by the encoder.
#define BOOST_TEST_MODULE ipfix_encoder_golden
#include <boost/test/unit_test.hpp>

#include <stdexcept>
#include <vector>

#include "golden_support.hpp"
#include "ipfix/flow_encoder.hpp"
#include "ipfix/wire.hpp"

using namespace ebpfix;
using namespace ebpfix::ipfix;
using ebpfix::test::Bytes;
using ebpfix::test::Capture;
using ebpfix::test::hex;
using ebpfix::test::sets_of;
using ebpfix::test::u16;
using ebpfix::test::u32;

namespace {

constexpr std::uint64_t k_now = 1700000000123;     // 0x18bcfe5687b ms, 0x6553f100 s
constexpr std::uint64_t k_origin = 1699999995000;  // 5.123 s before k_now

#define CHECK_BYTES(actual, expected)                                               \
    BOOST_CHECK_MESSAGE((actual) == (expected), "\n got      " << test::to_hex(actual) \
                                                              << "\n expected " << test::to_hex(expected))

FlowRecord tcp_v4() {
    FlowRecord r;
    r.key.src_addr = FlowKey::mapped_v4(0x0a000001);  // 10.0.0.1
    r.key.dst_addr = FlowKey::mapped_v4(0xc0a80102);  // 192.168.1.2
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
    r.tcp_flags = 0x11b;  // NS | ACK PSH SYN FIN: only the low byte is exported
    r.tos = 0x28;
    r.end_reason = EndReason::active_timeout;
    return r;
}

FlowRecord icmp6_egress() {
    FlowRecord r;
    r.key.src_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    r.key.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
    r.key.dst_port = 0x8000;  // echo request: type 128, code 0
    r.key.protocol = 58;
    r.key.ifindex = 5;
    r.key.direction = Direction::egress;
    r.key.ip_version = 6;
    r.packets = 2;
    r.bytes = 208;
    r.start_ms = 1700000000000;
    r.end_ms = 1700000000100;
    r.end_reason = EndReason::idle_timeout;
    return r;
}

FlowRecord icmp4_unreachable() {
    FlowRecord r;
    r.key.src_addr = FlowKey::mapped_v4(0x7f000001);
    r.key.dst_addr = FlowKey::mapped_v4(0x7f000002);
    r.key.dst_port = 0x0301;  // destination unreachable, host unreachable
    r.key.protocol = 1;
    r.key.ifindex = 1;
    r.key.direction = Direction::ingress;
    r.key.ip_version = 4;
    r.packets = 1;
    r.bytes = 56;
    r.start_ms = 1699999990000;  // before the sysUptime origin: clamped to 0 in v9
    r.end_ms = 1700000000200;    // after now: clamped to sysUptime in v9
    r.end_reason = EndReason::end_of_flow;
    return r;
}

EncoderOptions ipfix_options() {
    EncoderOptions o;
    o.protocol = Protocol::ipfix;
    o.observation_domain = 7;
    o.uptime_origin_ms = k_origin;
    return o;
}

EncoderOptions v9_options() {
    EncoderOptions o = ipfix_options();
    o.protocol = Protocol::netflow9;
    return o;
}

const char* k_ipfix_ipv4_template =
    "0100 0013"  // template 256, 19 fields
    " 0008 0004 000c 0004 0007 0002"            // src/dst IPv4, sourceTransportPort
    " 0020 0002 000b 0002"                      // icmpTypeCodeIPv4 (32) before destinationTransportPort (11)
    " 0004 0001 0006 0001 0005 0001"            // protocol, tcpControlBits (1 byte), ToS
    " 0098 0008 0099 0008 0001 0008 0002 0008"  // flowStart/EndMilliseconds, octets, packets
    " 000a 0004 000e 0004 003d 0001 0088 0001"  // ingress/egressInterface, direction, end reason
    " 003c 0001 003a 0002 00f5 0002";           // ipVersion, vlanId, dot1qCustomerVlanId

const char* k_ipfix_tcp_v4_record =
    "0a000001 c0a80102 3039 0000 01bb 06 1b 28"  // src 12345, no ICMP type/code, dst 443
    " 0000018bcfe56800 0000018bcfe56864"  // start, end (absolute ms)
    " 000000000001e240 0000000000000063"  // 123456 octets, 99 packets
    " 00000003 00000000 00 02 04 0064 00c8";  // ingress 3, egress 0, ingress, active, v4, VLANs 100/200

}  // namespace

BOOST_AUTO_TEST_CASE(ipfix_first_message_has_template_then_data) {
    FlowEncoder enc(ipfix_options());
    Capture cap;
    std::vector<FlowRecord> records{tcp_v4()};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    Bytes expected = hex(std::string("000a 00a8 6553f100 00000000 00000007")  // v10, 168 bytes, seq 0, domain 7
                         + " 0002 0054 " + k_ipfix_ipv4_template               // Template Set, 84 bytes
                         + " 0100 0044 " + k_ipfix_tcp_v4_record);             // Data Set 256, 68 bytes
    CHECK_BYTES(cap.messages[0], expected);

    // The next message: no template (not due), sequence = 1 data record sent before.
    enc.encode(records, k_now + 1000, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 2u);
    Bytes second = hex(std::string("000a 0054 6553f101 00000001 00000007 0100 0044 ") + k_ipfix_tcp_v4_record);
    CHECK_BYTES(cap.messages[1], second);

    BOOST_CHECK_EQUAL(enc.counters().messages, 2u);
    BOOST_CHECK_EQUAL(enc.counters().octets, 168u + 84u);
    BOOST_CHECK_EQUAL(enc.counters().data_records, 2u);
    BOOST_CHECK_EQUAL(enc.counters().template_records, 1u);
    BOOST_CHECK_EQUAL(enc.counters().options_records, 0u);
}

BOOST_AUTO_TEST_CASE(ipfix_ipv6_icmp_egress) {
    FlowEncoder enc(ipfix_options());
    Capture cap;
    std::vector<FlowRecord> records{icmp6_egress()};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    Bytes expected = hex(
        "000a 00c0 6553f100 00000000 00000007"      // 192 bytes
        " 0002 0054 0101 0013"                      // Template Set, template 257, 19 fields
        " 001b 0010 001c 0010 0007 0002"            // src/dst IPv6 (16), sourceTransportPort
        " 008b 0002 000b 0002"                      // icmpTypeCodeIPv6 (139) before destinationTransportPort
        " 0004 0001 0006 0001 0005 0001"
        " 0098 0008 0099 0008 0001 0008 0002 0008"
        " 000a 0004 000e 0004 003d 0001 0088 0001"
        " 003c 0001 003a 0002 00f5 0002"
        " 0101 005c"                                // Data Set 257, 92 bytes
        " 20010db8000000000000000000000001 20010db8000000000000000000000002"
        " 0000 8000 0000 3a 00 00"                  // src port 0, type 128 code 0, dst port 0, ICMPv6, no flags, ToS 0
        " 0000018bcfe56800 0000018bcfe56864 00000000000000d0 0000000000000002"
        " 00000000 00000005 01 01 06 0000 0000");   // egress 5, direction egress, idle, v6, no VLANs
    CHECK_BYTES(cap.messages[0], expected);
}

BOOST_AUTO_TEST_CASE(ipfix_mixed_families_share_one_template_set_and_message) {
    FlowEncoder enc(ipfix_options());
    Capture cap;
    std::vector<FlowRecord> records{icmp6_egress(), tcp_v4(), icmp6_egress(), tcp_v4()};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    const Bytes& m = cap.messages[0];
    // 16 + template set (4 + 80 + 80) + v4 set (4 + 2*64) + v6 set (4 + 2*88)
    BOOST_CHECK_EQUAL(m.size(), 16u + 164u + 132u + 180u);
    BOOST_CHECK_EQUAL(u16(m, 2), m.size());
    auto sets = sets_of(m, false);
    BOOST_REQUIRE_EQUAL(sets.size(), 3u);
    BOOST_CHECK_EQUAL(sets[0].id, 2);
    BOOST_CHECK_EQUAL(sets[0].length, 164);
    BOOST_CHECK_EQUAL(u16(m, 20), 256);   // first template record
    BOOST_CHECK_EQUAL(u16(m, 100), 257);  // second template record, after 4 + 19*4 bytes
    BOOST_CHECK_EQUAL(sets[1].id, 256);
    BOOST_CHECK_EQUAL(sets[1].length, 132);
    BOOST_CHECK_EQUAL(sets[2].id, 257);
    BOOST_CHECK_EQUAL(sets[2].length, 180);
}

BOOST_AUTO_TEST_CASE(netflow9_golden_ipv4_with_uptime_clamping) {
    FlowEncoder enc(v9_options());
    Capture cap;
    std::vector<FlowRecord> records{tcp_v4(), icmp4_unreachable()};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    Bytes expected = hex(
        "0009 0003 00001403 6553f100 00000000 00000007"  // v9, count 3, sysUptime 5123, secs, seq 0, source 7
        " 0000 0054 0100 0013"                           // Template FlowSet 0, template 256, 19 fields
        " 0008 0004 000c 0004 0007 0002 000b 0002 0004 0001 0006 0001 0005 0001"
        " 0016 0004 0015 0004"                           // FIRST_SWITCHED 22, LAST_SWITCHED 21
        " 0001 0008 0002 0008 000a 0004 000e 0004 003d 0001 0088 0001"
        " 003c 0001 003a 0002 00f5 0002 0020 0002"
        " 0100 0074"                                     // Data FlowSet 256: 4 + 2 * 56
        " 0a000001 c0a80102 3039 01bb 06 1b 28 00001388 000013ec"  // 5000 ms, 5100 ms uptime
        " 000000000001e240 0000000000000063 00000003 00000000 00 02 04 0064 00c8 0000"
        " 7f000001 7f000002 0000 0000 01 00 00 00000000 00001403"  // clamped to [0, 5123]
        " 0000000000000038 0000000000000001 00000001 00000000 00 03 04 0000 0000 0301");
    CHECK_BYTES(cap.messages[0], expected);

    // Second packet, 59 s later (refresh is at 60 s): sequence counts packets (1), count
    // is the one data record, no template.
    std::vector<FlowRecord> one{tcp_v4()};
    enc.encode(one, k_now + 59000, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 2u);
    const Bytes& m = cap.messages[1];
    BOOST_CHECK_EQUAL(u16(m, 2), 1);              // count
    BOOST_CHECK_EQUAL(u32(m, 4), 64123u);         // sysUptime
    BOOST_CHECK_EQUAL(u32(m, 8), 0x6553f13bu);    // unix secs
    BOOST_CHECK_EQUAL(u32(m, 12), 1u);            // sequence: one packet before
    BOOST_CHECK_EQUAL(m.size(), 20u + 4u + 56u);
}

BOOST_AUTO_TEST_CASE(netflow9_ipv6_record_layout) {
    FlowEncoder enc(v9_options());
    Capture cap;
    std::vector<FlowRecord> records{icmp6_egress()};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    // ICMPv6 type/code goes in ICMP_TYPE (32), not 139: RFC 3954 does not tie field 32 to
    // IPv4, and nfdump 1.7.1's v9 reader ignores 139.
    Bytes expected = hex(
        "0009 0002 00001403 6553f100 00000000 00000007"  // v9, count 2 (template + flow), source 7
        " 0000 0054 0101 0013"                           // Template FlowSet 0, template 257, 19 fields
        " 001b 0010 001c 0010 0007 0002 000b 0002 0004 0001 0006 0001 0005 0001"
        " 0016 0004 0015 0004"                           // FIRST_SWITCHED 22, LAST_SWITCHED 21
        " 0001 0008 0002 0008 000a 0004 000e 0004 003d 0001 0088 0001"
        " 003c 0001 003a 0002 00f5 0002 0020 0002"       // ..., ICMP_TYPE (32)
        " 0101 0054"                                     // Data FlowSet 257: 4 + 80
        " 20010db8000000000000000000000001 20010db8000000000000000000000002"
        " 0000 0000 3a 00 00 00001388 000013ec"          // ports 0, ICMPv6; 5000 ms, 5100 ms uptime
        " 00000000000000d0 0000000000000002"             // 208 octets, 2 packets
        " 00000000 00000005 01 01 06 0000 0000 8000");   // egress 5, egress, idle, v6, type 128 code 0
    CHECK_BYTES(cap.messages[0], expected);
}

BOOST_AUTO_TEST_CASE(ipfix_mtu_split_100_records_in_300_bytes) {
    EncoderOptions o = ipfix_options();
    o.max_message_size = 300;
    o.template_refresh_messages = 0;  // time refresh only: message 20 must not carry templates
    FlowEncoder enc(o);
    Capture cap;
    std::vector<FlowRecord> records(100, tcp_v4());
    enc.encode(records, k_now, cap.sink());
    // First: 16 + 84 template set + 4 + 3*64 = 296. Then 16 + 4 + 4*64 = 276 each: 97 = 24*4 + 1.
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 26u);
    std::uint32_t expected_sequence = 0;
    for (std::size_t i = 0; i < cap.messages.size(); ++i) {
        const Bytes& m = cap.messages[i];
        std::size_t records_in = i == 0 ? 3 : i == 25 ? 1 : 4;
        std::size_t expected_size = i == 0 ? 296 : 16 + 4 + 64 * records_in;
        BOOST_TEST_CONTEXT("message " << i) {
            BOOST_CHECK_LE(m.size(), 300u);
            BOOST_CHECK_EQUAL(m.size(), expected_size);
            BOOST_CHECK_EQUAL(u16(m, 2), m.size());
            BOOST_CHECK_EQUAL(u32(m, 8), expected_sequence);
            auto sets = sets_of(m, false);
            BOOST_REQUIRE_EQUAL(sets.size(), i == 0 ? 2u : 1u);
            BOOST_CHECK_EQUAL(sets.back().id, 256);
            BOOST_CHECK_EQUAL(sets.back().length, 4 + 64 * records_in);
        }
        expected_sequence += static_cast<std::uint32_t>(records_in);
    }
    BOOST_CHECK_EQUAL(enc.counters().data_records, 100u);
    BOOST_CHECK_EQUAL(enc.counters().messages, 26u);
}

BOOST_AUTO_TEST_CASE(netflow9_mtu_split_counts_packets) {
    EncoderOptions o = v9_options();
    o.max_message_size = 300;
    o.template_refresh_messages = 0;
    FlowEncoder enc(o);
    Capture cap;
    std::vector<FlowRecord> records(100, tcp_v4());
    enc.encode(records, k_now, cap.sink());
    // First: 20 + 84 + 4 + 3*56 = 276. Then 20 + 4 + 4*56 = 248: 97 = 24*4 + 1.
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 26u);
    for (std::size_t i = 0; i < cap.messages.size(); ++i) {
        const Bytes& m = cap.messages[i];
        std::size_t records_in = i == 0 ? 3 : i == 25 ? 1 : 4;
        BOOST_TEST_CONTEXT("message " << i) {
            BOOST_CHECK_LE(m.size(), 300u);
            BOOST_CHECK_EQUAL(m.size(), i == 0 ? 276u : 20u + 4u + 56u * records_in);
            BOOST_CHECK_EQUAL(u16(m, 2), i == 0 ? 4u : records_in);  // count includes the template
            BOOST_CHECK_EQUAL(u32(m, 12), i);                          // +1 per packet
        }
    }
}

BOOST_AUTO_TEST_CASE(ipfix_sequence_counts_flow_and_options_data_records) {
    FlowEncoder enc(ipfix_options());
    Capture cap;
    std::vector<FlowRecord> ten(10, tcp_v4());
    enc.encode(ten, k_now, cap.sink());
    ExporterStatistics stats;
    enc.encode_options(stats, {}, k_now, cap.sink());  // 3 statistics records, no sampling
    enc.encode(ten, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 3u);
    BOOST_CHECK_EQUAL(u32(cap.messages[0], 8), 0u);
    BOOST_CHECK_EQUAL(u32(cap.messages[1], 8), 10u);
    BOOST_CHECK_EQUAL(u32(cap.messages[2], 8), 13u);
    BOOST_CHECK_EQUAL(enc.counters().options_records, 3u);
    BOOST_CHECK_EQUAL(enc.counters().template_records, 1u + 3u);
}

BOOST_AUTO_TEST_CASE(ipfix_sequence_across_many_messages) {
    // Batches of 1..60 records split into 1472-byte messages (22 records each): every
    // header carries the number of data records sent before it.
    EncoderOptions o = ipfix_options();
    o.template_refresh_messages = 0;  // only the first message carries the template
    FlowEncoder enc(o);
    Capture cap;
    for (std::size_t n = 1; n <= 60; ++n) {
        std::vector<FlowRecord> batch(n, tcp_v4());
        enc.encode(batch, k_now, cap.sink());
    }
    BOOST_CHECK_EQUAL(cap.messages.size(), 22u * 1u + 22u * 2u + 16u * 3u);  // 1..22: 1, 23..44: 2, 45..60: 3 messages
    std::uint32_t sent = 0;
    for (const Bytes& m : cap.messages) {
        BOOST_CHECK_LE(m.size(), 1472u);
        BOOST_CHECK_EQUAL(u32(m, 8), sent);
        for (const auto& set : sets_of(m, false))
            if (set.id == 256) sent += (set.length - 4u) / 64u;
    }
    BOOST_CHECK_EQUAL(sent, 60u * 61u / 2u);
    BOOST_CHECK_EQUAL(enc.counters().data_records, sent);
}

namespace {
bool carries_template_set(const Bytes& m, bool v9) {
    auto sets = sets_of(m, v9);
    return !sets.empty() && sets.front().id == (v9 ? 0 : 2);
}
}  // namespace

BOOST_AUTO_TEST_CASE(template_refresh_by_message_count) {
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        EncoderOptions o = p == Protocol::ipfix ? ipfix_options() : v9_options();
        o.template_refresh_messages = 3;
        o.template_refresh_seconds = 0;
        FlowEncoder enc(o);
        Capture cap;
        std::vector<FlowRecord> one{tcp_v4()};
        for (int i = 0; i < 8; ++i) enc.encode(one, k_now, cap.sink());
        BOOST_REQUIRE_EQUAL(cap.messages.size(), 8u);
        // Every third message carries the templates again: 0, 3, 6.
        for (std::size_t i = 0; i < 8; ++i)
            BOOST_CHECK_MESSAGE(carries_template_set(cap.messages[i], p == Protocol::netflow9) == (i % 3 == 0),
                                "message " << i);
        BOOST_CHECK_EQUAL(enc.counters().template_records, 3u);
    }
}

BOOST_AUTO_TEST_CASE(template_refresh_by_time_and_on_request) {
    EncoderOptions o = ipfix_options();
    o.template_refresh_seconds = 10;
    o.template_refresh_messages = 0;
    FlowEncoder enc(o);
    Capture cap;
    std::vector<FlowRecord> one{tcp_v4()};
    const std::uint64_t at[] = {0, 5000, 9999, 10000, 15000, 19999, 20000};
    const bool expect[] = {true, false, false, true, false, false, true};
    for (std::uint64_t t : at) enc.encode(one, k_now + t, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 7u);
    for (std::size_t i = 0; i < 7; ++i)
        BOOST_CHECK_MESSAGE(carries_template_set(cap.messages[i], false) == expect[i], "message " << i);

    enc.resend_templates();
    enc.encode(one, k_now + 21000, cap.sink());
    enc.encode(one, k_now + 22000, cap.sink());
    BOOST_CHECK(carries_template_set(cap.messages[7], false));
    BOOST_CHECK(!carries_template_set(cap.messages[8], false));
    // Templates never count in the sequence number: 9 data records before message 9.
    enc.encode(one, k_now + 23000, cap.sink());
    BOOST_CHECK_EQUAL(u32(cap.messages[9], 8), 9u);
}

BOOST_AUTO_TEST_CASE(ipfix_options_golden) {
    EncoderOptions o = ipfix_options();
    o.sampling_interval = 100;
    FlowEncoder enc(o);
    Capture cap;
    std::vector<FlowRecord> one{tcp_v4()};
    enc.encode(one, k_now, cap.sink());  // 168 bytes, 1 data record
    ExporterStatistics stats;
    stats.ignored_packets = 5;
    stats.ignored_octets = 600;
    stats.not_sent_flows = 1;
    stats.not_sent_packets = 2;
    stats.not_sent_octets = 300;
    std::vector<InterfaceInfo> ifs{{3, "eth0", "uplink"}};
    enc.encode_options(stats, ifs, k_now + 60000, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 2u);
    const std::string pad_name(24, '0');    // "eth0" + 12 NUL
    const std::string pad_desc(116, '0');   // "uplink" + 58 NUL
    Bytes expected = hex(
        "000a 019d 6553f13c 00000001 00000007"  // 413 bytes, sequence 1
        // Options Template Sets (id 3), one template each: id, field count, scope count
        " 0003 0012 0102 0002 0001 008f 0004 0022 0004"  // 258: meteringProcessId | samplingInterval
        " 0003 0016 0107 0003 0001 008f 0004 0022 0004 0023 0001"  // 263: ... | samplingInterval, samplingAlgorithm (1)
        " 0003 001e 0103 0005 0001 0095 0004 0029 0008 002a 0008 0028 0008 00a0 0008"  // 259 (RFC 7011 4.1)
        " 0003 001e 0104 0005 0001 0095 0004 00a4 0008 00a5 0008 0143 0008 0143 0008"  // 260 (4.2)
        " 0003 0022 0105 0006 0001 0090 0004 00a6 0008 00a7 0008 00a8 0008 0143 0008 0143 0008"  // 261 (4.3)
        " 0003 0016 0106 0003 0001 000a 0004 0052 0010 0053 0040"  // 262: ifindex | name 16, description 64
        // Data Sets
        " 0102 000c 00000007 00000064"  // metering process 7 samples 1 in 100
        " 0107 000d 00000007 00000064 02"  // the same, algorithm 2 = random (the default)
        " 0103 0028 00000007 0000000000000001 0000000000000001 00000000000000a8 0000018bcfe55478"
        " 0104 0028 00000007 0000000000000005 0000000000000258 0000018bcfe55478 0000018bcfe652db"
        " 0105 0030 00000007 0000000000000001 0000000000000002 000000000000012c"
        "           0000018bcfe55478 0000018bcfe652db"
        " 0106 0058 00000003 65746830" + pad_name + " 75706c696e6b" + pad_desc);  // "eth0", "uplink"
    CHECK_BYTES(cap.messages[1], expected);
    BOOST_CHECK_EQUAL(enc.counters().options_records, 6u);
    BOOST_CHECK_EQUAL(enc.counters().template_records, 7u);
}

BOOST_AUTO_TEST_CASE(netflow9_sampling_options_golden) {
    EncoderOptions o = v9_options();
    o.sampling_interval = 10;
    o.sampling_algorithm = SamplingAlgorithm::hash;
    FlowEncoder enc(o);
    Capture cap;
    enc.encode_options(ExporterStatistics{}, {}, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    Bytes expected = hex(
        "0009 000a 00001403 6553f100 00000000 00000007"  // count 10 = 5 templates + 5 records
        // 258: System scope (4 bytes) | SAMPLING_INTERVAL 34 (4); 18 bytes + 2 padding
        " 0001 0014 0102 0004 0004 0001 0004 0022 0004 0000"
        // 263: System | SAMPLING_INTERVAL 34 (4), SAMPLING_ALGORITHM 35 (1); 22 + 2 padding
        " 0001 0018 0107 0004 0008 0001 0004 0022 0004 0023 0001 0000"
        " 0001 0020 0103 0004 0010 0001 0004 0029 0008 002a 0008 0028 0008 00a0 0008 0000"
        " 0001 0020 0104 0004 0010 0001 0004 00a4 0008 00a5 0008 0143 0008 0143 0008 0000"
        " 0001 0024 0105 0004 0014 0001 0004 00a6 0008 00a7 0008 00a8 0008 0143 0008 0143 0008 0000"
        " 0102 000c 00000007 0000000a"         // Source ID 7 samples 1 in 10
        " 0107 0010 00000007 0000000a 01 000000"  // algorithm 1 = deterministic (flow hash), 3 padding
        " 0103 0028 00000007 0000000000000000 0000000000000000 0000000000000000 0000018bcfe55478"
        " 0104 0028 00000007 0000000000000000 0000000000000000 0000018bcfe55478 0000018bcfe5687b"
        " 0105 0030 00000007 0000000000000000 0000000000000000 0000000000000000"
        "           0000018bcfe55478 0000018bcfe5687b");
    CHECK_BYTES(cap.messages[0], expected);
    BOOST_CHECK_EQUAL(enc.counters().options_records, 5u);
}

namespace {
// The bytes of every set with this id, in message order.
std::vector<Bytes> sets_with_id(const Bytes& m, bool v9, std::uint16_t id) {
    std::vector<Bytes> out;
    for (const auto& set : sets_of(m, v9))
        if (set.id == id)
            out.emplace_back(m.begin() + static_cast<long>(set.offset),
                             m.begin() + static_cast<long>(set.offset + set.length));
    return out;
}
// The options template records the message carries, by id (IPFIX set 3 / v9 FlowSet 1,
// one template per set).
std::vector<std::uint16_t> options_templates_in(const Bytes& m, bool v9) {
    std::vector<std::uint16_t> ids;
    for (const auto& set : sets_of(m, v9))
        if (set.id == (v9 ? 1 : 3)) ids.push_back(u16(m, set.offset + 4));
    return ids;
}
std::vector<std::uint16_t> data_sets_in(const Bytes& m, bool v9) {
    std::vector<std::uint16_t> ids;
    for (const auto& set : sets_of(m, v9))
        if (set.id >= 256) ids.push_back(set.id);
    return ids;
}
}  // namespace

BOOST_AUTO_TEST_CASE(ipfix_sampling_records_hash_algorithm) {
    EncoderOptions o = ipfix_options();
    o.sampling_interval = 10;
    o.sampling_algorithm = SamplingAlgorithm::hash;
    FlowEncoder enc(o);
    Capture cap;
    enc.encode_options(ExporterStatistics{}, {}, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    const Bytes& m = cap.messages[0];
    auto templates = sets_with_id(m, false, 3);  // Options Template Sets
    BOOST_REQUIRE_EQUAL(templates.size(), 5u);    // 258, 263, 259, 260, 261
    CHECK_BYTES(templates[0], hex("0003 0012 0102 0002 0001 008f 0004 0022 0004"));
    CHECK_BYTES(templates[1], hex("0003 0016 0107 0003 0001 008f 0004 0022 0004 0023 0001"));
    auto d258 = sets_with_id(m, false, 258);
    auto d263 = sets_with_id(m, false, 263);
    BOOST_REQUIRE_EQUAL(d258.size(), 1u);
    BOOST_REQUIRE_EQUAL(d263.size(), 1u);
    CHECK_BYTES(d258[0], hex("0102 000c 00000007 0000000a"));
    CHECK_BYTES(d263[0], hex("0107 000d 00000007 0000000a 01"));  // 1 = deterministic (flow hash)
    // The sampling records come first, before the statistics.
    BOOST_CHECK((data_sets_in(m, false) == std::vector<std::uint16_t>{258, 263, 259, 260, 261}));
}

BOOST_AUTO_TEST_CASE(no_sampling_records_for_interval_0_or_1) {
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        for (std::uint32_t interval : {0u, 1u}) {
            BOOST_TEST_CONTEXT((p == Protocol::ipfix ? "IPFIX" : "v9") << " interval " << interval) {
                EncoderOptions o = p == Protocol::ipfix ? ipfix_options() : v9_options();
                o.sampling_interval = interval;
                o.sampling_algorithm = SamplingAlgorithm::hash;
                FlowEncoder enc(o);
                Capture cap;
                enc.encode_options(ExporterStatistics{}, {}, k_now, cap.sink());
                BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
                bool v9 = p == Protocol::netflow9;
                BOOST_CHECK((options_templates_in(cap.messages[0], v9) == std::vector<std::uint16_t>{259, 260, 261}));
                BOOST_CHECK((data_sets_in(cap.messages[0], v9) == std::vector<std::uint16_t>{259, 260, 261}));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(sampling_records_in_every_options_export_templates_on_refresh) {
    // The records go with every encode_options (the exporter calls it on the first cycle,
    // every template refresh interval and the last cycle); their templates when due.
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        BOOST_TEST_CONTEXT((p == Protocol::ipfix ? "IPFIX" : "v9")) {
            EncoderOptions o = p == Protocol::ipfix ? ipfix_options() : v9_options();
            o.sampling_interval = 64;
            o.template_refresh_seconds = 60;
            o.template_refresh_messages = 0;
            FlowEncoder enc(o);
            Capture cap;
            bool v9 = p == Protocol::netflow9;
            const std::uint64_t at[] = {0, 30000, 60000, 61000};
            const bool templates[] = {true, false, true, false};
            for (std::size_t i = 0; i < 4; ++i) {
                enc.encode_options(ExporterStatistics{}, {}, k_now + at[i], cap.sink());
                BOOST_REQUIRE_EQUAL(cap.messages.size(), i + 1);
                const Bytes& m = cap.messages[i];
                BOOST_TEST_CONTEXT("export " << i) {
                    auto ids = options_templates_in(m, v9);
                    BOOST_CHECK((ids == (templates[i] ? std::vector<std::uint16_t>{258, 263, 259, 260, 261}
                                                      : std::vector<std::uint16_t>{})));
                    BOOST_CHECK((data_sets_in(m, v9) == std::vector<std::uint16_t>{258, 263, 259, 260, 261}));
                    auto d258 = sets_with_id(m, v9, 258);
                    BOOST_REQUIRE_EQUAL(d258.size(), 1u);
                    BOOST_CHECK_EQUAL(u32(d258[0], 8), 64u);  // after set header and scope
                }
            }
            // After resend_templates() (a lost message) they go again at once.
            enc.resend_templates();
            enc.encode_options(ExporterStatistics{}, {}, k_now + 62000, cap.sink());
            BOOST_CHECK((options_templates_in(cap.messages.back(), v9) ==
                         std::vector<std::uint16_t>{258, 263, 259, 260, 261}));
        }
    }
}

BOOST_AUTO_TEST_CASE(sampled_flow_records_carry_the_raw_counts_in_the_same_layout) {
    // Sampling changes only the options: data templates 256/257 and their records are the
    // same bytes, packet and octet counts as the kernel counted them (collectors scale).
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        EncoderOptions plain = p == Protocol::ipfix ? ipfix_options() : v9_options();
        EncoderOptions sampled = plain;
        sampled.sampling_interval = 10;
        sampled.sampling_algorithm = SamplingAlgorithm::hash;
        FlowEncoder a(plain), b(sampled);
        Capture ca, cb;
        std::vector<FlowRecord> records{tcp_v4(), icmp6_egress()};
        a.encode(records, k_now, ca.sink());
        b.encode(records, k_now, cb.sink());
        BOOST_REQUIRE_EQUAL(ca.messages.size(), 1u);
        BOOST_CHECK(ca.messages == cb.messages);
    }
}

BOOST_AUTO_TEST_CASE(netflow9_options_golden_with_padding) {
    FlowEncoder enc(v9_options());  // sampling off: no sampling options
    Capture cap;
    ExporterStatistics stats;
    stats.ignored_packets = 5;
    stats.ignored_octets = 600;
    stats.not_sent_flows = 1;
    stats.not_sent_packets = 2;
    stats.not_sent_octets = 300;
    std::vector<InterfaceInfo> ifs{{3, "eth0", "uplink"}};
    enc.encode_options(stats, ifs, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    const std::string pad_name(24, '0');    // "eth0" + 12 NUL
    const std::string pad_desc(116, '0');   // "uplink" + 58 NUL
    Bytes expected = hex(
        "0009 0008 00001403 6553f100 00000000 00000007"  // count 8 = 4 templates + 4 records
        // Options Template FlowSets (id 1): id, scope bytes, option bytes (4 per field), scope, fields, padding
        " 0001 0020 0103 0004 0010 0001 0004 0029 0008 002a 0008 0028 0008 00a0 0008 0000"
        " 0001 0020 0104 0004 0010 0001 0004 00a4 0008 00a5 0008 0143 0008 0143 0008 0000"
        " 0001 0024 0105 0004 0014 0001 0004 00a6 0008 00a7 0008 00a8 0008 0143 0008 0143 0008 0000"
        " 0001 0018 0106 0004 0008 0002 0004 0052 0010 0053 0040 0000"  // Interface scope
        " 0103 0028 00000007 0000000000000000 0000000000000000 0000000000000000 0000018bcfe55478"
        " 0104 0028 00000007 0000000000000005 0000000000000258 0000018bcfe55478 0000018bcfe5687b"
        " 0105 0030 00000007 0000000000000001 0000000000000002 000000000000012c"
        "           0000018bcfe55478 0000018bcfe5687b"
        " 0106 0058 00000003 65746830" + pad_name + " 75706c696e6b" + pad_desc);
    CHECK_BYTES(cap.messages[0], expected);
}

BOOST_AUTO_TEST_CASE(options_split_across_messages) {
    EncoderOptions o = ipfix_options();
    o.max_message_size = 300;
    FlowEncoder enc(o);
    Capture cap;
    std::vector<InterfaceInfo> ifs;
    for (std::uint32_t i = 1; i <= 20; ++i) ifs.push_back({i, "eth" + std::to_string(i), "port"});
    enc.encode_options(ExporterStatistics{}, ifs, k_now, cap.sink());
    // Message 1: 16 + 4 options template sets (30 + 30 + 34 + 22) + the 3 statistics records
    // (4 + 36, 4 + 36, 4 + 44) = 260; an interface record (4 + 84) no longer fits.
    // Then 16 + 4 + 3 * 84 = 272 per message: 20 = 6 * 3 + 2.
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 8u);
    std::uint32_t sequence = 0;
    for (std::size_t i = 0; i < cap.messages.size(); ++i) {
        const Bytes& m = cap.messages[i];
        std::size_t records_in = i == 0 ? 3 : i == 7 ? 2 : 3;
        BOOST_TEST_CONTEXT("message " << i) {
            BOOST_CHECK_EQUAL(m.size(), i == 0 ? 260u : 16u + 4u + 84u * records_in);
            BOOST_CHECK_LE(m.size(), 300u);
            BOOST_CHECK_EQUAL(u32(m, 8), sequence);  // options data records count too
            auto sets = sets_of(m, false);
            BOOST_CHECK_EQUAL(sets.size(), i == 0 ? 7u : 1u);
            if (i > 0) BOOST_CHECK_EQUAL(sets[0].id, 262);
        }
        sequence += static_cast<std::uint32_t>(records_in);
    }
    BOOST_CHECK_EQUAL(enc.counters().options_records, 23u);
    BOOST_CHECK_EQUAL(enc.counters().template_records, 4u);
}

BOOST_AUTO_TEST_CASE(hostile_interface_texts_are_sanitized_and_capped) {
    FlowEncoder enc(ipfix_options());
    Capture cap;
    std::string bad_name("e\xff" "t\0h", 5);                   // invalid byte, embedded NUL
    std::string long_desc(100, 'x');                            // cut to 63 bytes + NUL
    std::string cut_utf8 = std::string(62, 'y') + "\xc3\xa9";  // \u00e9 would end at byte 64: dropped whole
    std::vector<InterfaceInfo> ifs{{9, bad_name, long_desc},
                                   {10, "w\xc3\xa9", cut_utf8},
                                   {11, "\xc0\xaf\xed\xa0\x80", "\xf4\x90\x80\x80"}};  // overlong, surrogate, > U+10FFFF
    enc.encode_options(ExporterStatistics{}, ifs, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    const Bytes& m = cap.messages[0];
    auto sets = sets_of(m, false);
    BOOST_REQUIRE_EQUAL(sets.back().id, 262);
    Bytes data(m.begin() + static_cast<long>(sets.back().offset), m.end());
    auto repeat = [](const char* byte, int n) {
        std::string out;
        for (int i = 0; i < n; ++i) out += byte;
        return out;
    };
    Bytes expected = hex("0106 0100"  // 4 + 3 * (4 + 16 + 64)
                         " 00000009 653f743f68" + repeat("00", 11) + repeat("78", 63) + "00" +  // "e?t?h", 63 x 'x'
                         " 0000000a 77c3a9" + repeat("00", 13) + repeat("79", 62) + "0000" +  // "w\u00e9", 62 x 'y'
                         " 0000000b 3f3f3f3f3f" + repeat("00", 11) + "3f3f3f3f" + repeat("00", 60));
    CHECK_BYTES(data, expected);
}

BOOST_AUTO_TEST_CASE(variable_length_encoding_rfc7011_section7) {
    // The writer for variable-length fields (templates may use length 65535 in IPFIX).
    std::vector<std::uint8_t> out(400, 0xee);
    std::string s254(254, 'a'), s255(255, 'b');
    BOOST_CHECK_EQUAL(put_var_string(out.data(), "") - out.data(), 1);
    BOOST_CHECK_EQUAL(out[0], 0);
    BOOST_CHECK_EQUAL(put_var_string(out.data(), s254) - out.data(), 255);
    BOOST_CHECK_EQUAL(out[0], 254);  // below 255: one length byte
    BOOST_CHECK_EQUAL(out[1], 'a');
    BOOST_CHECK_EQUAL(put_var_string(out.data(), s255) - out.data(), 258);
    Bytes head(out.begin(), out.begin() + 4);
    CHECK_BYTES(head, hex("ff 00ff 62"));  // 255, then the length in two bytes
    BOOST_CHECK_EQUAL(var_string_size(254), 255u);
    BOOST_CHECK_EQUAL(var_string_size(255), 258u);
}

BOOST_AUTO_TEST_CASE(rejected_options) {
    auto rejects = [](EncoderOptions o, const char* what) {
        BOOST_TEST_CONTEXT(what) { BOOST_CHECK_THROW(FlowEncoder{o}, std::invalid_argument); }
    };
    EncoderOptions o = ipfix_options();
    o.observation_domain = 0;
    rejects(o, "observation domain 0");
    o = ipfix_options();
    o.max_message_size = 191;  // an IPv6 message needs 16 + 84 (template set) + 4 + 88 = 192
    rejects(o, "message too small");
    o.max_message_size = 65536;
    rejects(o, "message above 65535");
    o = v9_options();
    o.max_message_size = 187;  // 20 + 84 + 4 + 80 = 188 (v9 uses whole 4-byte units: 184)
    rejects(o, "v9 message too small");
    o = ipfix_options();
    o.template_refresh_seconds = 0;
    o.template_refresh_messages = 0;
    rejects(o, "no template refresh at all");
    o = ipfix_options();
    o.protocol = static_cast<Protocol>(7);
    rejects(o, "unknown protocol");
    o = ipfix_options();
    o.sampling_interval = 10;
    o.sampling_algorithm = static_cast<SamplingAlgorithm>(9);
    rejects(o, "unknown sampling algorithm");
    try {
        FlowEncoder{o};
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_EQUAL(std::string(e.what()), "encoder: unknown sampling_algorithm 9 (random or hash)");
    }

    o = ipfix_options();
    o.max_message_size = 192;  // the smallest that works
    BOOST_CHECK_NO_THROW(FlowEncoder{o});
    o = v9_options();
    o.max_message_size = 188;
    BOOST_CHECK_NO_THROW(FlowEncoder{o});
}

BOOST_AUTO_TEST_CASE(bad_record_is_rejected_before_anything_is_sent) {
    FlowEncoder enc(ipfix_options());
    Capture cap;
    std::vector<FlowRecord> records{tcp_v4(), tcp_v4()};
    records[1].key.ip_version = 5;
    try {
        enc.encode(records, k_now, cap.sink());
        BOOST_FAIL("encode accepted ip_version 5");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_EQUAL(std::string(e.what()), "encoder: record 1 has ip_version 5 (4 or 6 expected)");
    }
    BOOST_CHECK(cap.messages.empty());
    std::vector<FlowRecord> none;
    enc.encode(none, k_now, cap.sink());
    BOOST_CHECK(cap.messages.empty());  // nothing to say: no message, never an empty one
}
