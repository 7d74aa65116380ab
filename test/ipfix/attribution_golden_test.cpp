// Byte-exact golden tests for attribution (issue 13): records whose flow has a socket
// owner go in templates 264/265 (IPFIX: userName 371 and applicationName 96 as RFC 7011
// section 7 variable-length strings), 266/267 (the same plus ebpfix's enterprise IEs under
// the configured PEN) or NetFlow v9 264/265 (fixed NUL-padded strings); records without
// an owner stay in 256/257. Every expected byte is written by hand from RFC 7011 / RFC
// 3954 and templates/templates.def.
#define BOOST_TEST_MODULE ipfix_attribution_golden
#include <boost/test/unit_test.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "attribution/owners.hpp"
#include "golden_support.hpp"
#include "ipfix/flow_encoder.hpp"

using namespace ebpfix;
using namespace ebpfix::ipfix;
using ebpfix::test::Bytes;
using ebpfix::test::Capture;
using ebpfix::test::hex;
using ebpfix::test::sets_of;
using ebpfix::test::u16;

namespace {

constexpr std::uint64_t k_now = 1700000000123;     // 0x6553f100 s
constexpr std::uint64_t k_origin = 1699999995000;  // 5.123 s before k_now
constexpr std::uint32_t k_documentation_pen = 32473;  // RFC 5612: for documentation

#define CHECK_BYTES(actual, expected)                                               \
    BOOST_CHECK_MESSAGE((actual) == (expected), "\n got      " << test::to_hex(actual) \
                                                              << "\n expected " << test::to_hex(expected))

FlowRecord tcp_v4(std::uint64_t cookie) {
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
    r.key.owner = cookie;
    r.packets = 99;
    r.bytes = 123456;
    r.start_ms = 1700000000000;
    r.end_ms = 1700000000100;
    r.tcp_flags = 0x11b;
    r.tos = 0x28;
    r.end_reason = EndReason::active_timeout;
    return r;
}

FlowRecord udp_v6(std::uint64_t cookie) {
    FlowRecord r;
    r.key.src_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    r.key.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
    r.key.src_port = 5353;
    r.key.dst_port = 53;
    r.key.protocol = 17;
    r.key.ifindex = 5;
    r.key.direction = Direction::egress;
    r.key.ip_version = 6;
    r.key.owner = cookie;
    r.packets = 2;
    r.bytes = 208;
    r.start_ms = 1700000000000;
    r.end_ms = 1700000000100;
    return r;
}

attribution::Owner alice() {
    attribution::Owner o;
    o.uid = 1000;
    o.user = "alice";
    o.pid = 4242;
    o.comm = "curl";
    o.cgroup_id = 0x1f2;
    o.cgroup = "/user.slice";
    return o;
}

// A socket that existed before ebpfix started: what the packet knew (uid, no name), no
// creator, no cgroup; a command name that is not UTF-8.
attribution::Owner partial() {
    attribution::Owner o;
    o.uid = 65534;
    o.comm = "a\xff" "b";
    return o;
}

struct Owners {
    std::map<std::uint64_t, attribution::Owner> by_cookie;
    std::vector<std::uint64_t> asked;
    OwnerLookup lookup() {
        return [this](std::uint64_t cookie) -> const attribution::Owner* {
            asked.push_back(cookie);
            auto it = by_cookie.find(cookie);
            return it == by_cookie.end() ? nullptr : &it->second;
        };
    }
};

EncoderOptions ipfix_options(bool attribution = true, std::uint32_t pen = 0) {
    EncoderOptions o;
    o.protocol = Protocol::ipfix;
    o.observation_domain = 7;
    o.uptime_origin_ms = k_origin;
    o.attribution = attribution;
    o.enterprise_number = pen;
    return o;
}

EncoderOptions v9_options(std::uint32_t pen = 0) {
    EncoderOptions o = ipfix_options(true, pen);
    o.protocol = Protocol::netflow9;
    return o;
}

const std::string k_ipfix_v4_fields =
    " 0008 0004 000c 0004 0007 0002 0020 0002 000b 0002 0004 0001 0006 0001 0005 0001"
    " 0098 0008 0099 0008 0001 0008 0002 0008 000a 0004 000e 0004 003d 0001 0088 0001"
    " 003c 0001 003a 0002 00f5 0002";
const std::string k_owner_fields = " 0173 ffff 0060 ffff";  // userName 371, applicationName 96: variable
// ebpfixProcessId 1, ebpfixUserId 2, ebpfixCgroupId 3, ebpfixCgroupPath 4 (variable): enterprise bit, PEN 32473
const std::string k_pen_fields = " 8001 0004 00007ed9 8002 0004 00007ed9 8003 0008 00007ed9 8004 ffff 00007ed9";
const std::string k_tcp_v4_record =
    " 0a000001 c0a80102 3039 0000 01bb 06 1b 28 0000018bcfe56800 0000018bcfe56864"
    " 000000000001e240 0000000000000063 00000003 00000000 00 02 04 0064 00c8";

}  // namespace

BOOST_AUTO_TEST_CASE(ipfix_owned_record_in_264_unowned_in_256) {
    FlowEncoder enc(ipfix_options());
    Capture cap;
    Owners owners;
    owners.by_cookie[0x1234] = alice();
    // Owned, no socket (cookie 0: never looked up), a cookie the directory does not know.
    std::vector<FlowRecord> records{tcp_v4(0x1234), tcp_v4(0), tcp_v4(0x9999)};
    enc.encode(records, owners.lookup(), k_now, cap.sink());
    BOOST_TEST((owners.asked == std::vector<std::uint64_t>{0x1234, 0x9999}));
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    Bytes expected = hex("000a 018f 6553f100 00000000 00000007"     // 399 bytes, sequence 0, domain 7
                         " 0002 00ac"                               // one Template Set, 4 + 80 + 88
                         " 0100 0013" + k_ipfix_v4_fields +         // 256 as always
                         " 0108 0015" + k_ipfix_v4_fields + k_owner_fields +  // 264: 21 fields
                         " 0100 0084" + k_tcp_v4_record + k_tcp_v4_record +  // the two without an owner
                         " 0108 004f" + k_tcp_v4_record +           // 4 + 64 + 6 + 5
                         " 05 616c696365 04 6375726c");             // "alice", "curl"
    CHECK_BYTES(cap.messages[0], expected);
    BOOST_CHECK_EQUAL(enc.counters().data_records, 3u);
    BOOST_CHECK_EQUAL(enc.counters().data_packets, 3u * 99u);
    BOOST_CHECK_EQUAL(enc.counters().template_records, 2u);
}

BOOST_AUTO_TEST_CASE(ipfix_owner_with_enterprise_fields_under_the_configured_pen) {
    FlowEncoder enc(ipfix_options(true, k_documentation_pen));
    Capture cap;
    Owners owners;
    owners.by_cookie[1] = alice();
    owners.by_cookie[2] = partial();
    std::vector<FlowRecord> records{tcp_v4(1), tcp_v4(2)};
    enc.encode(records, owners.lookup(), k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    Bytes expected = hex("000a 0152 6553f100 00000000 00000007"  // 338 bytes
                         " 0002 007c"                            // Template Set: 4 + 120
                         " 010a 0019" + k_ipfix_v4_fields + k_owner_fields + k_pen_fields +  // 266: 25 fields
                         " 010a 00c6" +                          // 4 + 103 + 91
                         k_tcp_v4_record +
                         " 05 616c696365 04 6375726c"            // "alice", "curl"
                         " 00001092 000003e8 00000000000001f2"   // pid 4242, uid 1000, cgroup id 0x1f2
                         " 0b 2f757365722e736c696365" +          // "/user.slice"
                         k_tcp_v4_record +
                         " 05 3635353334 03 613f62"              // uid without a name: "65534"; "a?b"
                         " ffffffff 0000fffe ffffffffffffffff"   // no pid, uid 65534, no cgroup id: all ones
                         " 00");                                 // no cgroup path: empty
    CHECK_BYTES(cap.messages[0], expected);
}

BOOST_AUTO_TEST_CASE(netflow9_owner_names_are_fixed_nul_padded_strings) {
    for (std::uint32_t pen : {0u, k_documentation_pen}) {  // v9 has no enterprise fields: the PEN changes nothing
        BOOST_TEST_CONTEXT("PEN " << pen) {
            FlowEncoder enc(v9_options(pen));
            Capture cap;
            Owners owners;
            owners.by_cookie[7] = alice();
            std::vector<FlowRecord> records{tcp_v4(7)};
            enc.encode(records, owners.lookup(), k_now, cap.sink());
            BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
            Bytes expected = hex(
                "0009 0002 00001403 6553f100 00000000 00000007"  // count 2: template + record
                " 0000 005c 0108 0015"                           // Template FlowSet, 264, 21 fields
                " 0008 0004 000c 0004 0007 0002 000b 0002 0004 0001 0006 0001 0005 0001"
                " 0016 0004 0015 0004 0001 0008 0002 0008 000a 0004 000e 0004 003d 0001 0088 0001"
                " 003c 0001 003a 0002 00f5 0002 0020 0002"
                " 0173 0020 0060 0010"                           // userName 32 bytes, applicationName 16
                " 0108 006c"                                     // Data FlowSet 264: 4 + 104, no padding
                " 0a000001 c0a80102 3039 01bb 06 1b 28 00001388 000013ec"
                " 000000000001e240 0000000000000063 00000003 00000000 00 02 04 0064 00c8 0000"
                " 616c696365 000000000000000000000000000000000000000000000000000000"  // "alice" + 27 NUL
                " 6375726c 000000000000000000000000");                                 // "curl" + 12 NUL
            CHECK_BYTES(cap.messages[0], expected);
        }
    }
}

BOOST_AUTO_TEST_CASE(netflow9_long_names_are_cut_to_keep_a_nul) {
    FlowEncoder enc(v9_options());
    Capture cap;
    Owners owners;
    attribution::Owner o = alice();
    o.user = std::string(40, 'u');
    o.comm = std::string(14, 'c') + "\xc3\xa9";  // U+00E9 would end at byte 16: dropped whole
    owners.by_cookie[7] = o;
    std::vector<FlowRecord> records{tcp_v4(7)};
    enc.encode(records, owners.lookup(), k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    const Bytes& m = cap.messages[0];
    Bytes names(m.end() - 48, m.end());
    auto repeat = [](const char* byte, int n) {
        std::string out;
        for (int i = 0; i < n; ++i) out += byte;
        return out;
    };
    // 31 x 'u' and a NUL; 14 x 'c' and two NULs.
    CHECK_BYTES(names, hex(repeat("75", 31) + "00" + repeat("63", 14) + "0000"));
}

BOOST_AUTO_TEST_CASE(ipv6_owned_records_in_265_beside_plain_ipv4) {
    FlowEncoder enc(ipfix_options());
    Capture cap;
    Owners owners;
    owners.by_cookie[5] = alice();
    std::vector<FlowRecord> records{udp_v6(5), tcp_v4(0)};
    enc.encode(records, owners.lookup(), k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    const Bytes& m = cap.messages[0];
    auto sets = sets_of(m, false);
    BOOST_REQUIRE_EQUAL(sets.size(), 3u);
    BOOST_CHECK_EQUAL(sets[0].id, 2);
    BOOST_CHECK_EQUAL(sets[0].length, 4 + 80 + 88);
    BOOST_CHECK_EQUAL(u16(m, 20), 256);  // template records in slot order: 256, then 265
    BOOST_CHECK_EQUAL(u16(m, 100), 265);
    BOOST_CHECK_EQUAL(u16(m, 102), 21);
    BOOST_CHECK_EQUAL(sets[1].id, 256);
    BOOST_CHECK_EQUAL(sets[1].length, 4 + 64);
    BOOST_CHECK_EQUAL(sets[2].id, 265);
    BOOST_CHECK_EQUAL(sets[2].length, 4 + 88 + 6 + 5);
}

BOOST_AUTO_TEST_CASE(without_owners_the_bytes_are_those_of_plain_encode) {
    // Attribution off, or on with no lookup, or on with owners nobody knows: 256/257 only,
    // the same bytes as an encoder that never heard of attribution.
    std::vector<FlowRecord> records{tcp_v4(0x1234), udp_v6(0x99), tcp_v4(0)};
    Owners owners;
    owners.by_cookie[0x1234] = alice();
    FlowEncoder reference(ipfix_options(false));
    Capture expected;
    reference.encode(records, k_now, expected.sink());

    FlowEncoder off(ipfix_options(false, k_documentation_pen));
    Capture a;
    off.encode(records, owners.lookup(), k_now, a.sink());
    BOOST_CHECK(a.messages == expected.messages);
    BOOST_CHECK(owners.asked.empty());  // attribution off: never asked

    FlowEncoder no_lookup(ipfix_options(true, k_documentation_pen));
    Capture b;
    no_lookup.encode(records, k_now, b.sink());
    BOOST_CHECK(b.messages == expected.messages);

    Owners nobody;
    FlowEncoder unknown(ipfix_options(true, k_documentation_pen));
    Capture c;
    unknown.encode(records, nobody.lookup(), k_now, c.sink());
    BOOST_CHECK(c.messages == expected.messages);
}

BOOST_AUTO_TEST_CASE(cgroup_paths_use_the_three_byte_length_and_are_capped) {
    Owners owners;
    attribution::Owner o = alice();
    o.cgroup = "/" + std::string(299, 'k');  // 300 bytes: 255, then a two-byte length
    owners.by_cookie[1] = o;
    o.cgroup = "/" + std::string(1999, 'k');  // cut to 1024 in a 1472-byte message
    owners.by_cookie[2] = o;
    FlowEncoder enc(ipfix_options(true, k_documentation_pen));
    Capture cap;
    std::vector<FlowRecord> records{tcp_v4(1), tcp_v4(2)};
    enc.encode(records, owners.lookup(), k_now, cap.sink());
    // 16 + 124 + 4 + (64+6+5+16+3+300) = 538; the second record (1118) needs a message of its own.
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 2u);
    const Bytes& first = cap.messages[0];
    BOOST_REQUIRE_EQUAL(first.size(), 538u);
    CHECK_BYTES(Bytes(first.end() - 303, first.end() - 297), hex("ff 012c 2f6b6b"));  // 255, 300, "/kk"
    const Bytes& second = cap.messages[1];
    BOOST_REQUIRE_EQUAL(second.size(), 16u + 4u + 64u + 6u + 5u + 16u + 3u + 1024u);
    CHECK_BYTES(Bytes(second.end() - 1027, second.end() - 1024), hex("ff 0400"));

    // In a 600-byte message the longest path that keeps one IPv6 record (with its
    // template) in an empty message is 600 - (16 + 124 + 4 + 104 + 65 + 65) - 1 = 221 bytes.
    EncoderOptions small = ipfix_options(true, k_documentation_pen);
    small.max_message_size = 600;
    FlowEncoder capped(small);
    Capture cap2;
    std::vector<FlowRecord> one{tcp_v4(2)};
    capped.encode(one, owners.lookup(), k_now, cap2.sink());
    BOOST_REQUIRE_EQUAL(cap2.messages.size(), 1u);
    const Bytes& m = cap2.messages[0];
    BOOST_CHECK_LE(m.size(), 600u);
    BOOST_CHECK_EQUAL(m[m.size() - 222], 221);
}

BOOST_AUTO_TEST_CASE(attribution_options_are_checked) {
    EncoderOptions o = ipfix_options(true, 29305);
    try {
        FlowEncoder{o};
        BOOST_FAIL("PEN 29305 accepted");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK(std::string(e.what()).find("29305 is the RFC 5103 reverse") != std::string::npos);
    }
    // The smallest message for attribution with the enterprise IEs: an IPv6 record with
    // both names at their cap and an empty cgroup path, with its template.
    o = ipfix_options(true, k_documentation_pen);
    o.max_message_size = 378;
    try {
        FlowEncoder{o};
        BOOST_FAIL("378 bytes accepted");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_EQUAL(std::string(e.what()),
                          "encoder: max_message_size 378 is too small: template 267 (ipfix_ipv6_owner_pen) with "
                          "one record needs 379 bytes");
    }
    o.max_message_size = 379;
    BOOST_CHECK_NO_THROW(FlowEncoder{o});
    // Attribution without a PEN: 16 + (4 + 88) + 4 + (88 + 65 + 65) = 330.
    o = ipfix_options(true, 0);
    o.max_message_size = 329;
    BOOST_CHECK_THROW(FlowEncoder{o}, std::invalid_argument);
    o.max_message_size = 330;
    BOOST_CHECK_NO_THROW(FlowEncoder{o});
    // NetFlow v9: 20 + pad4(4 + 88) + 4 + (80 + 32 + 16) = 244 (whole 4-byte units).
    o = v9_options(k_documentation_pen);
    o.max_message_size = 243;
    BOOST_CHECK_THROW(FlowEncoder{o}, std::invalid_argument);
    o.max_message_size = 244;
    BOOST_CHECK_NO_THROW(FlowEncoder{o});
    // Attribution off keeps the old minimum.
    o = ipfix_options(false, k_documentation_pen);
    o.max_message_size = 192;
    BOOST_CHECK_NO_THROW(FlowEncoder{o});
}

BOOST_AUTO_TEST_CASE(a_throwing_lookup_sends_nothing) {
    FlowEncoder enc(ipfix_options());
    Capture cap;
    std::vector<FlowRecord> records{tcp_v4(0), tcp_v4(3)};
    OwnerLookup failing = [](std::uint64_t) -> const attribution::Owner* { throw std::runtime_error("map gone"); };
    BOOST_CHECK_THROW(enc.encode(records, failing, k_now, cap.sink()), std::runtime_error);
    BOOST_CHECK(cap.messages.empty());
    BOOST_CHECK_EQUAL(enc.counters().messages, 0u);
}

BOOST_AUTO_TEST_CASE(pens_that_nfdump_misreads_are_named) {
    // nfdump truncates PENs to 16 bits (seen with nfdump 1.7.1: under 65536 it stored the
    // pid as bytes, under 94841 = 65536 + 29305 as reverse "out bytes").
    BOOST_TEST(nfdump_misreads_enterprise_number(65536));
    BOOST_TEST(nfdump_misreads_enterprise_number(94841));
    BOOST_TEST(nfdump_misreads_enterprise_number(0x7fff0000));
    BOOST_TEST(!nfdump_misreads_enterprise_number(k_documentation_pen));
    BOOST_TEST(!nfdump_misreads_enterprise_number(29305));  // rejected by the encoder instead
    BOOST_TEST(!nfdump_misreads_enterprise_number(65537));
    BOOST_TEST(!nfdump_misreads_enterprise_number(0));
}
