// Byte-exact golden tests for the NetFlow v5 encoder. Every expected byte is written by
// hand from Cisco's v5 layout (exporter/ipfix/netflow5_encoder.hpp): literal hex for the
// single records, and for the batches a record line whose varying fields are printed
// into a hand-written hex pattern. None is produced by the encoder.
#define BOOST_TEST_MODULE netflow5_encoder_golden
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "golden_support.hpp"
#include "ipfix/netflow5_encoder.hpp"

using namespace ebpfix;
using namespace ebpfix::ipfix;
using ebpfix::test::Bytes;
using ebpfix::test::Capture;
using ebpfix::test::hex;
using ebpfix::test::u16;
using ebpfix::test::u32;

namespace {

constexpr std::uint64_t k_now = 1700000000123;     // 0x6553f100 s + 123 ms (0x0754d4c0 ns)
constexpr std::uint64_t k_origin = 1699999995000;  // sysUptime 5123 (0x1403) at k_now
constexpr std::uint64_t k_u32_max = 0xffffffffull;

// The header fields every test shares: version 5, sysUptime 5123, unix_secs, unix_nsecs.
const std::string k_time = "00001403 6553f100 0754d4c0";

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
    r.key.ip_version = 4;
    r.packets = 99;
    r.bytes = 123456;
    r.start_ms = 1700000000000;  // sysUptime 5000
    r.end_ms = 1700000000100;    // sysUptime 5100
    r.tcp_flags = 0x11b;         // NS | ACK PSH SYN FIN: only the low byte is exported
    r.tos = 0x28;
    r.end_reason = EndReason::active_timeout;
    return r;
}

const char* k_tcp_v4_record =
    "0a000001 c0a80102 00000000"  // src, dst, nexthop 0
    " 0003 0000"                  // input 3 (ingress), output 0
    " 00000063 0001e240"          // 99 packets, 123456 octets
    " 00001388 000013ec"          // First 5000, Last 5100
    " 3039 01bb 00 1b 06 28"      // ports 12345 > 443, pad, flags, TCP, ToS
    " 0000 0000 00 00 0000";      // src/dst AS, masks, pad

FlowRecord udp_v4(std::uint32_t dst, std::uint16_t sport, std::uint64_t packets, std::uint64_t bytes) {
    FlowRecord r;
    r.key.src_addr = FlowKey::mapped_v4(0x0a000001);
    r.key.dst_addr = FlowKey::mapped_v4(dst);
    r.key.src_port = sport;
    r.key.dst_port = 53;
    r.key.protocol = 17;
    r.key.ifindex = 1;
    r.key.ip_version = 4;
    r.packets = packets;
    r.bytes = bytes;
    r.start_ms = 1700000000000;
    r.end_ms = 1700000000100;
    return r;
}

// The record udp_v4() produces, with its varying fields printed into the layout.
std::string udp_record(std::uint32_t dst, std::uint16_t sport, std::uint32_t packets, std::uint32_t octets) {
    char line[200];
    std::snprintf(line, sizeof line,
                  " 0a000001 %08x 00000000 0001 0000 %08x %08x 00001388 000013ec %04x 0035 00 00 11 00"
                  " 0000 0000 00 00 0000",
                  dst, packets, octets, unsigned(sport));
    return line;
}

std::string header(unsigned count, std::uint32_t sequence, const std::string& engine_and_sampling = "00 00 0000") {
    char line[100];
    std::snprintf(line, sizeof line, "0005 %04x %s %08x %s", count, k_time.c_str(), sequence,
                  engine_and_sampling.c_str());
    return line;
}

Netflow5Options options() {
    Netflow5Options o;
    o.uptime_origin_ms = k_origin;
    return o;
}

FlowRecord v6_record() {
    FlowRecord r = tcp_v4();
    r.key.ip_version = 6;
    r.key.src_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    r.key.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
    r.packets = 7;
    r.bytes = 900;
    return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(one_tcp_record) {
    Netflow5Options o = options();
    o.engine_type = 1;
    o.engine_id = 2;
    Netflow5Encoder enc(o);
    Capture cap;
    std::vector<FlowRecord> records{tcp_v4()};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    Bytes expected = hex(std::string("0005 0001 00001403 6553f100 0754d4c0")  // v5, 1 record, uptime, secs, nsecs
                         + " 00000000 01 02 0000 "                            // sequence 0, engine 1/2, no sampling
                         + k_tcp_v4_record);
    CHECK_BYTES(cap.messages[0], expected);
    BOOST_CHECK_EQUAL(cap.messages[0].size(), 72u);

    // One second later: sysUptime 6123 (0x17eb), next second, sequence 1.
    enc.encode(records, k_now + 1000, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 2u);
    CHECK_BYTES(cap.messages[1],
                hex(std::string("0005 0001 000017eb 6553f101 0754d4c0 00000001 01 02 0000 ") + k_tcp_v4_record));

    const auto& c = enc.counters();
    BOOST_CHECK_EQUAL(c.messages, 2u);
    BOOST_CHECK_EQUAL(c.octets, 144u);
    BOOST_CHECK_EQUAL(c.data_records, 2u);
    BOOST_CHECK_EQUAL(c.data_packets, 198u);
    BOOST_CHECK_EQUAL(c.data_octets, 246912u);
    BOOST_CHECK_EQUAL(c.options_records, 0u);
    BOOST_CHECK_EQUAL(c.template_records, 0u);
    BOOST_CHECK_EQUAL(c.not_exportable_records, 0u);
    BOOST_CHECK_EQUAL(c.split_records, 0u);
    BOOST_CHECK_EQUAL(c.ifindex_clamped_records, 0u);
}

BOOST_AUTO_TEST_CASE(batch_of_31_makes_two_datagrams_sequence_0_and_30) {
    Netflow5Encoder enc(options());
    Capture cap;
    std::vector<FlowRecord> records;
    for (std::uint32_t i = 0; i < 31; ++i)
        records.push_back(udp_v4(0x0a000100 + i, std::uint16_t(1000 + i), i + 1, 100 * (i + 1)));
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 2u);

    std::string first = header(30, 0);  // count 0x1e
    for (std::uint32_t i = 0; i < 30; ++i)
        first += udp_record(0x0a000100 + i, std::uint16_t(1000 + i), i + 1, 100 * (i + 1));
    CHECK_BYTES(cap.messages[0], hex(first));
    BOOST_CHECK_EQUAL(cap.messages[0].size(), 24u + 30u * 48u);  // 1464
    CHECK_BYTES(cap.messages[1], hex(header(1, 30) + udp_record(0x0a00011e, 1030, 31, 3100)));

    // The next call continues the flow sequence: 31 records were sent before.
    std::vector<FlowRecord> one{udp_v4(0x0a000200, 7, 1, 64)};
    enc.encode(one, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 3u);
    CHECK_BYTES(cap.messages[2], hex(header(1, 31) + udp_record(0x0a000200, 7, 1, 64)));

    const auto& c = enc.counters();
    BOOST_CHECK_EQUAL(c.messages, 3u);
    BOOST_CHECK_EQUAL(c.octets, 1464u + 72u + 72u);
    BOOST_CHECK_EQUAL(c.data_records, 32u);
    BOOST_CHECK_EQUAL(c.data_packets, 31u * 32u / 2u + 1u);
    BOOST_CHECK_EQUAL(c.data_octets, 100u * 31u * 32u / 2u + 64u);
}

BOOST_AUTO_TEST_CASE(max_records_limits_each_datagram) {
    Netflow5Options o = options();
    o.max_records = 7;
    Netflow5Encoder enc(o);
    Capture cap;
    std::vector<FlowRecord> records;
    for (std::uint32_t i = 0; i < 31; ++i) records.push_back(udp_v4(0x0a000100 + i, std::uint16_t(1000 + i), 1, 60));
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 5u);
    const unsigned counts[] = {7, 7, 7, 7, 3};
    std::uint32_t at = 0;
    for (std::size_t m = 0; m < 5; ++m) {
        std::string expected = header(counts[m], at);
        for (unsigned k = 0; k < counts[m]; ++k, ++at)
            expected += udp_record(0x0a000100 + at, std::uint16_t(1000 + at), 1, 60);
        CHECK_BYTES(cap.messages[m], hex(expected));
    }
}

BOOST_AUTO_TEST_CASE(icmp_type_code_in_dstport_srcport_zero_egress_interface) {
    Netflow5Encoder enc(options());
    Capture cap;
    FlowRecord r;
    r.key.src_addr = FlowKey::mapped_v4(0x7f000001);
    r.key.dst_addr = FlowKey::mapped_v4(0x7f000002);
    r.key.src_port = 0x1234;  // not a port for ICMP: must not reach the wire
    r.key.dst_port = 0x0301;  // destination unreachable, host unreachable
    r.key.protocol = 1;
    r.key.ifindex = 7;
    r.key.direction = Direction::egress;
    r.key.ip_version = 4;
    r.packets = 2;
    r.bytes = 112;
    r.start_ms = 1700000000000;
    r.end_ms = 1700000000100;
    r.tos = 0xc0;
    std::vector<FlowRecord> records{r};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    CHECK_BYTES(cap.messages[0], hex(header(1, 0) +
                                     " 7f000001 7f000002 00000000 0000 0007"  // input 0, output 7
                                     " 00000002 00000070 00001388 000013ec"
                                     " 0000 0301 00 00 01 c0"  // srcport 0, type 3 code 1, ICMP, ToS 0xc0
                                     " 0000 0000 00 00 0000"));
}

BOOST_AUTO_TEST_CASE(sampling_field_is_mode_01_and_14_bit_interval) {
    auto field_for = [](std::uint32_t interval) {
        Netflow5Options o = options();
        o.sampling_interval = interval;
        Netflow5Encoder enc(o);
        Capture cap;
        std::vector<FlowRecord> records{tcp_v4()};
        enc.encode(records, k_now, cap.sink());
        return u16(cap.messages.at(0), 22);
    };
    BOOST_CHECK_EQUAL(field_for(0), 0x0000);
    BOOST_CHECK_EQUAL(field_for(1), 0x0000);      // 1 in 1 = not sampled
    BOOST_CHECK_EQUAL(field_for(2), 0x4002);
    BOOST_CHECK_EQUAL(field_for(100), 0x4064);    // 01 000000 1100100
    BOOST_CHECK_EQUAL(field_for(0x3fff), 0x7fff);

    // The whole header with sampling 1 in 10 and engine 3/4.
    Netflow5Options o = options();
    o.sampling_interval = 10;
    o.engine_type = 3;
    o.engine_id = 4;
    Netflow5Encoder enc(o);
    Capture cap;
    std::vector<FlowRecord> records{tcp_v4()};
    enc.encode(records, k_now, cap.sink());
    CHECK_BYTES(cap.messages.at(0), hex(header(1, 0, "03 04 400a ") + k_tcp_v4_record));
}

BOOST_AUTO_TEST_CASE(constructor_rejects_impossible_options) {
    auto make = [](std::size_t max_records, std::uint32_t sampling) {
        Netflow5Options o = options();
        o.max_records = max_records;
        o.sampling_interval = sampling;
        Netflow5Encoder enc(o);
    };
    BOOST_CHECK_THROW(make(0, 0), std::invalid_argument);
    BOOST_CHECK_THROW(make(31, 0), std::invalid_argument);
    BOOST_CHECK_THROW(make(30, 0x4000), std::invalid_argument);
    BOOST_CHECK_NO_THROW(make(1, 0x3fff));
    BOOST_CHECK_NO_THROW(make(30, 0));
    try {
        make(30, 20000);
        BOOST_ERROR("sampling interval 20000 accepted");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_EQUAL(std::string(e.what()),
                          "netflow5 encoder: sampling_interval 20000 exceeds 16383 (the v5 header has 14 bits for it)");
    }
}

BOOST_AUTO_TEST_CASE(ipv6_records_are_skipped_and_counted) {
    Netflow5Encoder enc(options());
    Capture cap;
    std::vector<FlowRecord> only_v6{v6_record(), v6_record()};
    enc.encode(only_v6, k_now, cap.sink());
    BOOST_CHECK(cap.messages.empty());  // nothing to send: no empty datagram
    BOOST_CHECK_EQUAL(enc.counters().messages, 0u);
    BOOST_CHECK_EQUAL(enc.counters().not_exportable_records, 2u);

    std::vector<FlowRecord> mixed{udp_v4(0x0a000101, 1, 1, 60), v6_record(), udp_v4(0x0a000102, 2, 3, 180)};
    enc.encode(mixed, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    // Sequence 0: the skipped records were never sent.
    CHECK_BYTES(cap.messages[0],
                hex(header(2, 0) + udp_record(0x0a000101, 1, 1, 60) + udp_record(0x0a000102, 2, 3, 180)));
    const auto& c = enc.counters();
    BOOST_CHECK_EQUAL(c.not_exportable_records, 3u);
    BOOST_CHECK_EQUAL(c.not_exportable_packets, 21u);
    BOOST_CHECK_EQUAL(c.not_exportable_octets, 2700u);
    BOOST_CHECK_EQUAL(c.oversized_records, 0u);
    BOOST_CHECK_EQUAL(c.data_records, 2u);
    BOOST_CHECK_EQUAL(c.data_packets, 4u);
    BOOST_CHECK_EQUAL(c.data_octets, 240u);
}

BOOST_AUTO_TEST_CASE(five_billion_octets_split_into_two_records_with_exact_sums) {
    Netflow5Encoder enc(options());
    Capture cap;
    std::vector<FlowRecord> records{udp_v4(0x0a000101, 5000, 3000000, 5000000000ull)};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    // ceil(5e9 / (2^32-1)) = 2 records: 1,500,000 packets (0x16e360) and 2,500,000,000
    // octets (0x9502f900) each.
    CHECK_BYTES(cap.messages[0], hex(header(2, 0) +
                                     " 0a000001 0a000101 00000000 0001 0000 0016e360 9502f900"
                                     " 00001388 000013ec 1388 0035 00 00 11 00 0000 0000 00 00 0000"
                                     " 0a000001 0a000101 00000000 0001 0000 0016e360 9502f900"
                                     " 00001388 000013ec 1388 0035 00 00 11 00 0000 0000 00 00 0000"));
    const auto& c = enc.counters();
    BOOST_CHECK_EQUAL(c.data_records, 2u);
    BOOST_CHECK_EQUAL(c.data_packets, 3000000u);
    BOOST_CHECK_EQUAL(c.data_octets, 5000000000ull);
    BOOST_CHECK_EQUAL(c.split_records, 1u);
}

BOOST_AUTO_TEST_CASE(uneven_and_packet_driven_splits_sum_exactly) {
    Netflow5Encoder enc(options());
    Capture cap;
    std::vector<FlowRecord> records{
        udp_v4(0x0a000101, 1, 3, 5000000001ull),            // 2 records: 2+1 packets, 2,500,000,001 + 2,500,000,000
        udp_v4(0x0a000102, 2, 4294967296ull, 10000000000ull),  // packets need 2, octets 3: 3 records
        udp_v4(0x0a000103, 3, 1, k_u32_max),                 // fits exactly: 1 record
        udp_v4(0x0a000104, 4, 1, k_u32_max + 1),             // 2^32: 2 records of 2^31 (one with 1 packet, one with 0)
    };
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    CHECK_BYTES(cap.messages[0],
                hex(header(8, 0) + udp_record(0x0a000101, 1, 2, 0x9502f901) + udp_record(0x0a000101, 1, 1, 0x9502f900) +
                    udp_record(0x0a000102, 2, 0x55555556, 0xc6aea156) +  // 1431655766, 3333333334
                    udp_record(0x0a000102, 2, 0x55555555, 0xc6aea155) +  // 1431655765, 3333333333
                    udp_record(0x0a000102, 2, 0x55555555, 0xc6aea155) +
                    udp_record(0x0a000103, 3, 1, 0xffffffff) + udp_record(0x0a000104, 4, 1, 0x80000000) +
                    udp_record(0x0a000104, 4, 0, 0x80000000)));
    const auto& c = enc.counters();
    BOOST_CHECK_EQUAL(c.split_records, 3u);
    BOOST_CHECK_EQUAL(c.data_records, 8u);
    BOOST_CHECK_EQUAL(c.data_packets, 3u + 4294967296ull + 1u + 1u);
    BOOST_CHECK_EQUAL(c.data_octets, 5000000001ull + 10000000000ull + k_u32_max + k_u32_max + 1);
}

BOOST_AUTO_TEST_CASE(split_record_crosses_a_datagram_boundary) {
    Netflow5Encoder enc(options());
    Capture cap;
    std::vector<FlowRecord> records;
    for (std::uint32_t i = 0; i < 29; ++i) records.push_back(udp_v4(0x0a000100 + i, std::uint16_t(i), 1, 60));
    records.push_back(udp_v4(0x0a0001ff, 999, 4, 5000000000ull));
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 2u);
    std::string first = header(30, 0);
    for (std::uint32_t i = 0; i < 29; ++i) first += udp_record(0x0a000100 + i, std::uint16_t(i), 1, 60);
    first += udp_record(0x0a0001ff, 999, 2, 0x9502f900);
    CHECK_BYTES(cap.messages[0], hex(first));
    CHECK_BYTES(cap.messages[1], hex(header(1, 30) + udp_record(0x0a0001ff, 999, 2, 0x9502f900)));
}

BOOST_AUTO_TEST_CASE(largest_splittable_record_and_oversized_record) {
    Netflow5Encoder enc(options());
    std::vector<Bytes> messages;
    std::uint64_t octets_seen = 0, records_seen = 0;
    std::uint32_t expected_sequence = 0;
    bool every_record_full = true, sequence_ok = true;
    MessageSink sink = [&](gsl::span<const std::uint8_t> m) {
        Bytes b(m.begin(), m.end());
        std::uint16_t count = u16(b, 2);
        sequence_ok = sequence_ok && u32(b, 16) == expected_sequence && b.size() == 24u + 48u * count;
        expected_sequence += count;
        for (std::size_t i = 0; i < count; ++i) {
            std::uint32_t octets = u32(b, 24 + 48 * i + 20);
            every_record_full = every_record_full && octets == k_u32_max;
            octets_seen += octets;
        }
        records_seen += count;
        messages.push_back(std::move(b));
    };
    const std::uint64_t largest = Netflow5Encoder::k_max_split * k_u32_max;  // 65536 records of 2^32-1
    std::vector<FlowRecord> records{udp_v4(0x0a000101, 1, 65536, largest), udp_v4(0x0a000102, 2, 1, largest + 1)};
    enc.encode(records, k_now, sink);
    BOOST_CHECK_EQUAL(records_seen, 65536u);
    BOOST_CHECK_EQUAL(messages.size(), 2185u);  // ceil(65536 / 30)
    BOOST_CHECK_EQUAL(octets_seen, largest);
    BOOST_CHECK(every_record_full);
    BOOST_CHECK(sequence_ok);
    const auto& c = enc.counters();
    BOOST_CHECK_EQUAL(c.data_octets, largest);
    BOOST_CHECK_EQUAL(c.data_packets, 65536u);
    BOOST_CHECK_EQUAL(c.split_records, 1u);
    BOOST_CHECK_EQUAL(c.oversized_records, 1u);
    BOOST_CHECK_EQUAL(c.not_exportable_records, 1u);
    BOOST_CHECK_EQUAL(c.not_exportable_packets, 1u);
    BOOST_CHECK_EQUAL(c.not_exportable_octets, largest + 1);
}

BOOST_AUTO_TEST_CASE(uptime_clamped_into_origin_and_now) {
    Netflow5Encoder enc(options());
    Capture cap;
    FlowRecord r = tcp_v4();
    r.start_ms = k_origin - 10000;  // before the origin: First 0
    r.end_ms = k_now + 5000;        // after now: Last = sysUptime 5123
    std::vector<FlowRecord> records{r};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    CHECK_BYTES(cap.messages[0], hex(header(1, 0) +
                                     " 0a000001 c0a80102 00000000 0003 0000 00000063 0001e240"
                                     " 00000000 00001403"  // First 0, Last 5123
                                     " 3039 01bb 00 1b 06 28 0000 0000 00 00 0000"));

    // A clock behind the origin: sysUptime 0 and both times 0.
    Netflow5Encoder behind(options());
    Capture cap2;
    behind.encode(records, k_origin - 2500, cap2.sink());
    BOOST_REQUIRE_EQUAL(cap2.messages.size(), 1u);
    CHECK_BYTES(cap2.messages[0], hex(std::string("0005 0001 00000000 6553f0f8 1dcd6500 00000000 00 00 0000") +
                                      " 0a000001 c0a80102 00000000 0003 0000 00000063 0001e240"
                                      " 00000000 00000000"
                                      " 3039 01bb 00 1b 06 28 0000 0000 00 00 0000"));
}

BOOST_AUTO_TEST_CASE(uptime_wraps_modulo_2_32_like_every_v5_exporter) {
    Netflow5Options o = options();
    o.uptime_origin_ms = k_now - 4294967296ull - 5000;  // up 49.7 days + 5 s: sysUptime 5000
    Netflow5Encoder enc(o);
    Capture cap;
    FlowRecord r = tcp_v4();
    r.start_ms = k_now - 10000;  // 2^32 - 5000 = 0xffffec78: before the wrap
    r.end_ms = k_now - 1000;     // 4000 = 0xfa0: after it
    std::vector<FlowRecord> records{r};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    CHECK_BYTES(cap.messages[0], hex(std::string("0005 0001 00001388 6553f100 0754d4c0 00000000 00 00 0000") +
                                     " 0a000001 c0a80102 00000000 0003 0000 00000063 0001e240"
                                     " ffffec78 00000fa0"
                                     " 3039 01bb 00 1b 06 28 0000 0000 00 00 0000"));
}

BOOST_AUTO_TEST_CASE(ifindex_above_16_bits_becomes_0_and_is_counted) {
    Netflow5Encoder enc(options());
    Capture cap;
    FlowRecord kept = udp_v4(0x0a000101, 1, 1, 60);
    kept.key.ifindex = 65535;
    FlowRecord in_big = udp_v4(0x0a000102, 2, 1, 60);
    in_big.key.ifindex = 65536;
    FlowRecord out_big = udp_v4(0x0a000103, 3, 1, 60);
    out_big.key.ifindex = 70000;
    out_big.key.direction = Direction::egress;
    std::vector<FlowRecord> records{kept, in_big, out_big};
    enc.encode(records, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    const Bytes& m = cap.messages[0];
    BOOST_CHECK_EQUAL(u16(m, 24 + 12), 0xffff);  // input of record 0
    BOOST_CHECK_EQUAL(u16(m, 24 + 14), 0);
    BOOST_CHECK_EQUAL(u16(m, 72 + 12), 0);       // 65536 does not fit
    BOOST_CHECK_EQUAL(u16(m, 72 + 14), 0);
    BOOST_CHECK_EQUAL(u16(m, 120 + 12), 0);
    BOOST_CHECK_EQUAL(u16(m, 120 + 14), 0);      // 70000 (egress) does not fit
    BOOST_CHECK_EQUAL(enc.counters().ifindex_clamped_records, 2u);
    BOOST_CHECK_EQUAL(enc.counters().data_records, 3u);
}

BOOST_AUTO_TEST_CASE(bad_ip_version_throws_before_any_datagram) {
    Netflow5Encoder enc(options());
    Capture cap;
    FlowRecord bad = tcp_v4();
    bad.key.ip_version = 5;
    std::vector<FlowRecord> records{tcp_v4(), v6_record(), bad};
    try {
        enc.encode(records, k_now, cap.sink());
        BOOST_ERROR("ip_version 5 accepted");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_EQUAL(std::string(e.what()), "netflow5 encoder: record 2 has ip_version 5 (4 or 6 expected)");
    }
    BOOST_CHECK(cap.messages.empty());
    BOOST_CHECK_EQUAL(enc.counters().messages, 0u);
    BOOST_CHECK_EQUAL(enc.counters().not_exportable_records, 0u);
}

BOOST_AUTO_TEST_CASE(counted_before_the_sink_and_a_throwing_sink_keeps_the_sequence) {
    Netflow5Options o = options();
    o.max_records = 2;
    Netflow5Encoder enc(o);
    std::vector<std::uint64_t> messages_at_call, records_at_call;
    int calls = 0;
    MessageSink throwing = [&](gsl::span<const std::uint8_t>) {
        messages_at_call.push_back(enc.counters().messages);
        records_at_call.push_back(enc.counters().data_records);
        if (++calls == 1) throw std::runtime_error("send failed");
    };
    std::vector<FlowRecord> records{udp_v4(0x0a000101, 1, 1, 60), udp_v4(0x0a000102, 2, 1, 60),
                                    udp_v4(0x0a000103, 3, 1, 60)};
    BOOST_CHECK_THROW(enc.encode(records, k_now, throwing), std::runtime_error);
    // The first datagram was counted, then lost; the third record was never encoded.
    BOOST_CHECK_EQUAL(messages_at_call.at(0), 1u);
    BOOST_CHECK_EQUAL(records_at_call.at(0), 2u);
    Capture cap;
    std::vector<FlowRecord> next{udp_v4(0x0a000104, 4, 1, 60)};
    enc.encode(next, k_now, cap.sink());
    BOOST_REQUIRE_EQUAL(cap.messages.size(), 1u);
    CHECK_BYTES(cap.messages[0], hex(header(1, 2) + udp_record(0x0a000104, 4, 1, 60)));  // 2 sent before
    BOOST_CHECK_EQUAL(enc.counters().messages, 2u);
    BOOST_CHECK_EQUAL(enc.counters().data_records, 3u);
}
