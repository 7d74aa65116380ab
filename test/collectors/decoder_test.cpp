// The strict decoder on hand-written messages: valid ones decode to exact values, and each
// malformed one (truncated, bad lengths, empty set, unknown template, bad padding, bad
// templates, wrong sequence/Count) is rejected with the exact message and byte offset.
// A mutation sweep checks that damaged messages only ever raise DecodeError (run under
// ASan/UBSan too) and that every truncation is rejected.
#define BOOST_TEST_MODULE flow_decoder
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>

#include "collectors/flow_decoder.hpp"
#include "collectors/wire_builder.hpp"

using namespace ebpfix;
using namespace ebpfix::test;
using ipfix::Protocol;

namespace {

constexpr std::uint32_t kExport = 1700000000;  // export time of the hand-written messages
constexpr std::uint64_t kStart = 1699999990123, kEnd = 1699999999456;

// Template 256: src/dst IPv4, ports, protocol, packets, octets, start/end ms (45-byte records).
void ipfix_v4_template(Wire& w, std::uint16_t id = 256) {
    w.begin_set(2).u16(id).u16(9);
    w.u16(8).u16(4).u16(12).u16(4).u16(7).u16(2).u16(11).u16(2).u16(4).u16(1);
    w.u16(2).u16(8).u16(1).u16(8).u16(152).u16(8).u16(153).u16(8);
    w.end_set();
}

void ipfix_v4_record(Wire& w, std::uint32_t src, std::uint16_t sport, std::uint64_t packets, std::uint64_t bytes) {
    w.u32(src).u32(0x0a000002).u16(sport).u16(443).u8(6).u64(packets).u64(bytes).u64(kStart).u64(kEnd);
}

// 157 bytes: header, template set (16..59), data set at 60 with records at 64 and 109 and
// 3 padding bytes at 154.
std::vector<std::uint8_t> valid_ipfix(std::uint32_t seq = 0, std::initializer_list<std::uint8_t> pad = {0, 0, 0}) {
    Wire w;
    w.ipfix_header(kExport, seq, 7);
    ipfix_v4_template(w);
    w.begin_set(256);
    ipfix_v4_record(w, 0x0a000001, 40000, 10, 1500);
    ipfix_v4_record(w, 0x0a000003, 40001, 0xffffffffffffffffull, 0xfffffffffffffffeull);
    w.raw(pad);
    w.end_set();
    return w.finish_ipfix();
}

// Data-only IPFIX message for template 256 (needs valid_ipfix() decoded first).
std::vector<std::uint8_t> ipfix_data_only(std::uint32_t seq) {
    Wire w;
    w.ipfix_header(kExport, seq, 7);
    w.begin_set(256);
    ipfix_v4_record(w, 0x0a000009, 1, 1, 40);
    w.end_set();
    return w.finish_ipfix();
}

// 128 bytes: header (Count 3), template FlowSet 20..63, data FlowSet 64..127 with two
// 29-byte records and 2 padding bytes.
std::vector<std::uint8_t> valid_v9(std::uint32_t seq = 100, std::uint16_t count = 3, std::uint32_t uptime = 10000,
                                   std::uint32_t first = 4000, std::uint32_t last = 9000) {
    Wire w;
    w.v9_header(count, uptime, kExport, seq, 3);
    w.begin_set(0).u16(256).u16(9);
    w.u16(8).u16(4).u16(12).u16(4).u16(7).u16(2).u16(11).u16(2).u16(4).u16(1);
    w.u16(2).u16(4).u16(1).u16(4).u16(22).u16(4).u16(21).u16(4);
    w.end_set();
    w.begin_set(256);
    w.u32(0xc0a80001).u32(0xc0a80002).u16(53).u16(5353).u8(17).u32(3).u32(300).u32(first).u32(last);
    w.u32(0xc0a80003).u32(0xc0a80004).u16(0).u16(0x0800).u8(1).u32(1).u32(84).u32(first).u32(last);
    w.zeros(2);
    w.end_set();
    return w.bytes();
}

// Expects decode() to throw DecodeError with exactly this what().
void expect_error(FlowDecoder& d, const std::vector<std::uint8_t>& msg, const std::string& expected) {
    try {
        d.decode(msg);
        BOOST_ERROR("decoded, but expected: " << expected);
    } catch (const DecodeError& e) {
        BOOST_TEST(std::string(e.what()) == expected);
    }
}

void expect_error(Protocol p, const std::vector<std::uint8_t>& msg, const std::string& expected) {
    FlowDecoder d(p);
    expect_error(d, msg, expected);
}

std::vector<std::uint8_t> ipfix_with_set(const std::function<void(Wire&)>& body) {
    Wire w;
    w.ipfix_header(kExport, 0, 7);
    body(w);
    return w.finish_ipfix();
}

}  // namespace

BOOST_AUTO_TEST_CASE(valid_ipfix_decodes_exactly) {
    FlowDecoder d(Protocol::ipfix);
    auto m = d.decode(valid_ipfix());
    BOOST_TEST(m.length == 157u);
    BOOST_TEST(m.export_time_s == kExport);
    BOOST_TEST(m.domain == 7u);
    BOOST_TEST(m.sets == 2u);
    BOOST_TEST(m.template_records == 1u);
    BOOST_REQUIRE(m.flows.size() == 2u);
    BOOST_TEST(m.flows[0].offset == 64u);
    BOOST_TEST(m.flows[1].offset == 109u);
    BOOST_TEST(m.flows[1].uint(2) == 0xffffffffffffffffull);
    BOOST_TEST(m.flows[1].uint(1) == 0xfffffffffffffffeull);

    FlowRecord r = to_flow_record(m.flows[0], m);
    BOOST_TEST(r.key.ip_version == 4);
    BOOST_TEST(r.key.src_v4() == 0x0a000001u);
    BOOST_TEST(r.key.dst_v4() == 0x0a000002u);
    BOOST_TEST(r.key.src_addr[10] == 0xff);  // IPv4-mapped like FlowKey
    BOOST_TEST(r.key.src_port == 40000);
    BOOST_TEST(r.key.dst_port == 443);
    BOOST_TEST(r.key.protocol == 6);
    BOOST_TEST(r.packets == 10u);
    BOOST_TEST(r.bytes == 1500u);
    BOOST_TEST(r.start_ms == kStart);
    BOOST_TEST(r.end_ms == kEnd);

    // Sequence: 2 data records went before the next message.
    auto next = d.decode(ipfix_data_only(2));
    BOOST_TEST(next.flows.size() == 1u);
    BOOST_TEST(d.messages() == 2u);
    BOOST_TEST(d.flow_records() == 3u);
}

BOOST_AUTO_TEST_CASE(ipfix_truncated_and_bad_lengths) {
    auto good = valid_ipfix();
    expect_error(Protocol::ipfix, std::vector<std::uint8_t>(good.begin(), good.begin() + 10),
                 "offset 0: message header truncated: needs 16 bytes, 10 left");
    auto cut = std::vector<std::uint8_t>(good.begin(), good.end() - 10);
    expect_error(Protocol::ipfix, cut, "offset 2: message Length 157 != datagram length 147");
    auto longer = good;
    longer.push_back(0);
    expect_error(Protocol::ipfix, longer, "offset 2: message Length 157 != datagram length 158");

    auto bad_version = good;
    bad_version[1] = 9;
    expect_error(Protocol::ipfix, bad_version, "offset 0: version 9, expected 10");

    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) { w.u16(2).u16(3).zeros(4); }),
                 "offset 18: set length 3 < 4");
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) { w.u16(2).u16(100).u16(256).u16(1).u16(8).u16(4); }),
                 "offset 18: set length 100 runs past the message end (12 bytes left)");
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire&) {}),
                 "offset 16: message carries no set (RFC 7011 3.1: one or more Sets)");
    // Set header cut after 2 bytes.
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) { ipfix_v4_template(w); w.u16(2); }),
                 "offset 60: set header truncated: needs 4 bytes, 2 left");
    // Template whose last field specifier is cut by its set's end.
    expect_error(Protocol::ipfix,
                 ipfix_with_set([](Wire& w) { w.begin_set(2).u16(256).u16(3).u16(8).u16(4).u16(12).u16(4).end_set(); }),
                 "offset 32: field specifier 2 truncated (set ends)");
}

BOOST_AUTO_TEST_CASE(ipfix_empty_and_reserved_sets) {
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) { w.u16(2).u16(4); }), "offset 16: empty set (ID 2)");
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) { w.u16(300).u16(4); }), "offset 16: empty set (ID 300)");
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) { w.u16(1).u16(8).zeros(4); }),
                 "offset 16: set ID 1 is reserved");
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) { w.u16(4).u16(8).zeros(4); }),
                 "offset 16: set ID 4 is reserved");
    // A template set holding only 3 zero bytes of padding has no record.
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) { w.u16(2).u16(7).zeros(3); }),
                 "offset 16: template set holds no record");
    // A data set whose only content is padding.
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) {
        ipfix_v4_template(w);
        w.u16(256).u16(7).zeros(3);
    }), "offset 60: data set 256 holds no record");
}

BOOST_AUTO_TEST_CASE(ipfix_unknown_template) {
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) { w.u16(300).u16(8).u32(1); }),
                 "offset 16: data set for unknown template 300");
    // Templates are per observation domain: 256 known in domain 7 is unknown in domain 8.
    FlowDecoder d(Protocol::ipfix);
    d.decode(valid_ipfix());
    auto other = ipfix_data_only(2);
    other[15] = 8;
    expect_error(d, other, "offset 16: data set for unknown template 256");
}

BOOST_AUTO_TEST_CASE(ipfix_bad_padding) {
    expect_error(Protocol::ipfix, valid_ipfix(0, {0, 1, 0}), "offset 155: data set: padding byte is 0x1, not 0");
    expect_error(Protocol::ipfix, valid_ipfix(0, {0, 0, 0, 0}),
                 "offset 154: data set: 4 bytes after the last record are neither a record nor valid padding (0..3 bytes)");
    // Template set padding must be zero too.
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) {
        w.begin_set(2).u16(256).u16(1).u16(8).u16(4).raw({0, 0, 7}).end_set();
    }), "offset 30: template set: padding byte is 0x7, not 0");
    // Record of 6 bytes: 5 bytes after the last one are neither record nor padding.
    expect_error(Protocol::ipfix, ipfix_with_set([](Wire& w) {
        w.begin_set(2).u16(256).u16(2).u16(8).u16(4).u16(7).u16(2).end_set();
        w.begin_set(256).u32(1).u16(2).zeros(5).end_set();
    }), "offset 42: data set: 5 bytes after the last record are neither a record nor valid padding (0..3 bytes)");
    // Valid: 1..3 zero bytes.
    FlowDecoder d(Protocol::ipfix);
    BOOST_TEST(d.decode(valid_ipfix(0, {0})).flows.size() == 2u);
}

BOOST_AUTO_TEST_CASE(ipfix_bad_templates) {
    auto tmpl = [](std::function<void(Wire&)> fields) {
        return ipfix_with_set([&](Wire& w) { w.begin_set(2); fields(w); w.end_set(); });
    };
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(256).u16(0); }),
                 "offset 22: template withdrawal for 256 (RFC 7011 8.4: not sent over UDP)");
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(255).u16(1).u16(8).u16(4); }),
                 "offset 20: template ID 255 < 256");
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(256).u16(1).u16(8).u16(5); }),
                 "offset 24: IE 8: length 5 (ipv4Address: 4)");
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(256).u16(1).u16(2).u16(9); }),
                 "offset 24: IE 2: length 9 (unsigned64: 1..8)");
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(256).u16(1).u16(152).u16(4); }),
                 "offset 24: IE 152: length 4 (dateTimeMilliseconds: 8)");
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(256).u16(1).u16(7).u16(0); }),
                 "offset 24: IE 7: zero length");
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(256).u16(1).u16(0).u16(4); }),
                 "offset 24: field 0 uses reserved IE 0");
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(256).u16(1).u16(0x8001).u16(4).u32(0); }),
                 "offset 24: enterprise bit set with enterprise number 0 (use the IANA IE)");
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(256).u16(1).u16(0x8001).u16(4); }),
                 "offset 28: enterprise number of field 0 truncated");
    // Field count says 4, the set holds 1 field.
    expect_error(Protocol::ipfix, tmpl([](Wire& w) { w.u16(256).u16(4).u16(8).u16(4); }),
                 "offset 28: field specifier 1 truncated (set ends)");

    auto opts = [](std::function<void(Wire&)> body) {
        return ipfix_with_set([&](Wire& w) { w.begin_set(3); body(w); w.end_set(); });
    };
    expect_error(Protocol::ipfix, opts([](Wire& w) { w.u16(257).u16(2).u16(0).u16(149).u16(4).u16(164).u16(8); }),
                 "offset 24: options template 257 has scope count 0");
    expect_error(Protocol::ipfix, opts([](Wire& w) { w.u16(257).u16(1).u16(2).u16(149).u16(4).u16(0); }),
                 "offset 24: scope count 2 > field count 1");

    // Same ID, other layout, later message: an error; the identical refresh is fine.
    FlowDecoder d(Protocol::ipfix);
    d.decode(valid_ipfix());
    auto refresh = ipfix_with_set([](Wire& w) { ipfix_v4_template(w); });
    refresh[11] = 2;  // sequence 2
    d.decode(refresh);
    auto changed = ipfix_with_set([](Wire& w) { w.begin_set(2).u16(256).u16(1).u16(8).u16(4).end_set(); });
    changed[11] = 2;
    expect_error(d, changed, "offset 20: template 256 redefined with a different layout without a withdrawal");
}

BOOST_AUTO_TEST_CASE(ipfix_sequence_and_atomic_state) {
    FlowDecoder d(Protocol::ipfix);
    d.decode(valid_ipfix(4000000000u));
    expect_error(d, ipfix_data_only(5), "offset 8: sequence 5, expected 4000000002 (data records sent before this message)");
    d.decode(ipfix_data_only(4000000002u));

    // Modulo 2^32: 2 records sent at 0xffffffff make the next one 1.
    FlowDecoder wrap(Protocol::ipfix);
    wrap.decode(valid_ipfix(0xffffffffu));
    wrap.decode(ipfix_data_only(1));

    // A message that fails after a valid template set installs nothing.
    FlowDecoder atomic(Protocol::ipfix);
    expect_error(atomic, ipfix_with_set([](Wire& w) { ipfix_v4_template(w); w.u16(2).u16(4); }),
                 "offset 60: empty set (ID 2)");
    BOOST_TEST(atomic.find_template(7, 256) == nullptr);
    expect_error(atomic, ipfix_data_only(0), "offset 16: data set for unknown template 256");
    BOOST_TEST(atomic.messages() == 0u);
}

BOOST_AUTO_TEST_CASE(ipfix_repeated_ie_keeps_order) {
    // RFC 7011 4.2: observationTimeMilliseconds twice, interval start then end.
    auto msg = ipfix_with_set([](Wire& w) {
        w.begin_set(3).u16(260).u16(4).u16(1).u16(149).u16(4).u16(164).u16(8).u16(323).u16(8).u16(323).u16(8).end_set();
        w.begin_set(260).u32(7).u64(12).u64(kStart).u64(kEnd).end_set();
    });
    FlowDecoder d(Protocol::ipfix);
    auto m = d.decode(msg);
    BOOST_REQUIRE(m.options.size() == 1u);
    BOOST_TEST(m.options[0].uint(164) == 12u);
    BOOST_TEST(m.options[0].uint(323, 0) == kStart);
    BOOST_TEST(m.options[0].uint(323, 1) == kEnd);
    BOOST_CHECK_THROW(m.options[0].uint(323, 2), std::out_of_range);
}

BOOST_AUTO_TEST_CASE(ipfix_variable_length_options) {
    // Options template 258: scope observationDomainId, interfaceName and interfaceDescription
    // with variable length; one record with a 1-byte length and one with the 3-byte form.
    std::string long_text(300, 'd');
    auto msg = ipfix_with_set([&](Wire& w) {
        w.begin_set(3).u16(258).u16(3).u16(1).u16(149).u16(4).u16(82).u16(65535).u16(83).u16(65535).end_set();
        w.begin_set(258);
        w.u32(7).u8(4).raw({'e', 't', 'h', '0'}).u8(0);
        w.u32(7).u8(2).raw({'l', 'o'}).u8(255).u16(300);
        for (char c : long_text) w.u8(std::uint8_t(c));
        w.end_set();
    });
    FlowDecoder d(Protocol::ipfix);
    auto m = d.decode(msg);
    BOOST_TEST(m.options_template_records == 1u);
    BOOST_REQUIRE(m.options.size() == 2u);
    BOOST_TEST(m.options[0].scope_uint(149) == 7u);
    BOOST_TEST(m.options[0].text(82) == "eth0");
    BOOST_TEST(m.options[0].text(83) == "");
    BOOST_TEST(m.options[1].text(82) == "lo");
    BOOST_TEST(m.options[1].text(83) == long_text);
    BOOST_TEST(d.options_records() == 2u);

    // A variable length that runs past the set.
    auto bad = ipfix_with_set([&](Wire& w) {
        w.begin_set(3).u16(258).u16(2).u16(1).u16(149).u16(4).u16(82).u16(65535).end_set();
        w.begin_set(258).u32(7).u8(20).raw({'e', 't', 'h'}).end_set();
    });
    expect_error(Protocol::ipfix, bad, "offset 43: IE 82 of template 258 (20 bytes) runs past its set");
}

BOOST_AUTO_TEST_CASE(ipfix_value_rules) {
    auto with_record = [](std::uint16_t ie, std::uint16_t len, std::uint64_t value, std::uint32_t export_s = kExport) {
        Wire w;
        w.ipfix_header(export_s, 0, 7);
        w.begin_set(2).u16(256).u16(3).u16(8).u16(4).u16(12).u16(4).u16(ie).u16(len).end_set();
        w.begin_set(256).u32(1).u32(2);
        for (int i = len - 1; i >= 0; --i) w.u8(std::uint8_t(value >> (8 * i)));
        w.end_set();
        return w.finish_ipfix();
    };
    expect_error(Protocol::ipfix, with_record(136, 1, 9), "offset 40: flowEndReason 9 is not 1..5");
    expect_error(Protocol::ipfix, with_record(61, 1, 2), "offset 40: flowDirection 2 is not 0..1");
    expect_error(Protocol::ipfix, with_record(153, 8, std::uint64_t(kExport + 2) * 1000),
                 "offset 40: flow end (IE 153) after the export time");
    FlowDecoder d(Protocol::ipfix);
    BOOST_TEST(d.decode(with_record(153, 8, std::uint64_t(kExport) * 1000 + 999)).flows.size() == 1u);
}

BOOST_AUTO_TEST_CASE(sampling_announcements) {
    // ebpfix's layout: 258 = scope meteringProcessId | samplingInterval, 263 = the same plus
    // samplingAlgorithm. Header 16, template sets at 16 and 34, data set 258 at 56 (record
    // at 60), data set 263 at 68 (records at 72, 81).
    auto msg = [](std::uint32_t interval_258, std::uint32_t interval_263, std::initializer_list<std::uint8_t> algorithms,
                  std::uint32_t seq = 0) {
        Wire w;
        w.ipfix_header(kExport, seq, 7);
        w.begin_set(3).u16(258).u16(2).u16(1).u16(143).u16(4).u16(34).u16(4).end_set();
        w.begin_set(3).u16(263).u16(3).u16(1).u16(143).u16(4).u16(34).u16(4).u16(35).u16(1).end_set();
        w.begin_set(258).u32(7).u32(interval_258).end_set();
        w.begin_set(263);
        for (auto a : algorithms) w.u32(7).u32(interval_263).u8(a);
        w.end_set();
        return w.finish_ipfix();
    };
    FlowDecoder d(Protocol::ipfix);
    BOOST_TEST(!d.sampling_interval(7).has_value());
    auto m = d.decode(msg(10, 10, {1}));
    BOOST_TEST(m.options.size() == 2u);
    BOOST_TEST(d.sampling_interval(7).value_or(0) == 10u);
    BOOST_TEST(d.sampling_algorithm(7).value_or(0) == 1u);
    BOOST_TEST(!d.sampling_interval(8).has_value());  // kept per domain

    expect_error(d, msg(0, 0, {1}, 2), "offset 60: samplingInterval 0 (1 in N needs N >= 1)");
    expect_error(d, msg(10, 10, {3}, 2), "offset 72: samplingAlgorithm 3 is not 1 (deterministic) or 2 (random)");
    expect_error(d, msg(10, 20, {1}, 2), "offset 72: samplingInterval 20 disagrees with 10 at offset 60");
    expect_error(d, msg(10, 10, {1, 2}, 2), "offset 81: samplingAlgorithm 2 disagrees with 1 at offset 72");
    // A rejected message changes nothing; a new rate in a later message (a reload) counts.
    BOOST_TEST(d.sampling_interval(7).value_or(0) == 10u);
    d.decode(msg(100, 100, {2}, 2));
    BOOST_TEST(d.sampling_interval(7).value_or(0) == 100u);
    BOOST_TEST(d.sampling_algorithm(7).value_or(0) == 2u);

    // NetFlow v9: System scope, the same fields; FlowSets padded to 4 bytes.
    Wire w;
    w.v9_header(4, 10000, kExport, 0, 3);
    w.begin_set(1).u16(258).u16(4).u16(4).u16(1).u16(4).u16(34).u16(4).zeros(2).end_set();
    w.begin_set(1).u16(263).u16(4).u16(8).u16(1).u16(4).u16(34).u16(4).u16(35).u16(1).zeros(2).end_set();
    w.begin_set(258).u32(3).u32(10).end_set();
    w.begin_set(263).u32(3).u32(10).u8(2).zeros(3).end_set();
    FlowDecoder v9(Protocol::netflow9);
    auto m9 = v9.decode(w.bytes());
    BOOST_REQUIRE(m9.options.size() == 2u);
    BOOST_TEST(m9.options[1].scope_uint(1) == 3u);
    BOOST_TEST(v9.sampling_interval(3).value_or(0) == 10u);
    BOOST_TEST(v9.sampling_algorithm(3).value_or(0) == 2u);
}

BOOST_AUTO_TEST_CASE(valid_v9_decodes_exactly) {
    FlowDecoder d(Protocol::netflow9);
    auto m = d.decode(valid_v9());
    BOOST_TEST(m.v9_count == 3u);
    BOOST_TEST(m.sys_uptime_ms == 10000u);
    BOOST_TEST(m.domain == 3u);
    BOOST_REQUIRE(m.flows.size() == 2u);
    FlowRecord udp = to_flow_record(m.flows[0], m);
    BOOST_TEST(udp.key.src_v4() == 0xc0a80001u);
    BOOST_TEST(udp.key.dst_port == 5353);
    BOOST_TEST(udp.packets == 3u);
    BOOST_TEST(udp.bytes == 300u);
    // unix_secs * 1000 - sysUptime is the wall clock of sysUptime 0.
    BOOST_TEST(udp.start_ms == std::uint64_t(kExport) * 1000 - 10000 + 4000);
    BOOST_TEST(udp.end_ms == std::uint64_t(kExport) * 1000 - 10000 + 9000);
    FlowRecord exact = to_flow_record(m.flows[0], m, 1699990000500ull);
    BOOST_TEST(exact.start_ms == 1699990004500ull);
    FlowRecord icmp = to_flow_record(m.flows[1], m);
    BOOST_TEST(icmp.key.protocol == 1);
    BOOST_TEST(icmp.key.dst_port == 0x0800);
    // Next packet: sequence +1.
    Wire w;
    w.v9_header(1, 11000, kExport + 1, 101, 3).begin_set(256);
    w.u32(1).u32(2).u16(3).u16(4).u8(17).u32(1).u32(28).u32(10500).u32(10600).zeros(3).end_set();
    BOOST_TEST(d.decode(w.bytes()).flows.size() == 1u);
}

// NetFlow v9 ICMP_TYPE (32) is not tied to IPv4 (RFC 3954), so an ICMPv6 record may carry
// its type/code there; IPFIX's IE 32 is icmpTypeCodeIPv4 and says nothing about ICMPv6.
BOOST_AUTO_TEST_CASE(icmpv6_type_code_field_per_protocol) {
    const std::uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const std::uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    auto record = [&](Wire& w) {
        for (auto b : src) w.u8(b);
        for (auto b : dst) w.u8(b);
        w.u8(58).u16(0x8100);  // ICMPv6, echo reply: type 129, code 0
    };
    Wire v9;
    v9.v9_header(2, 10000, kExport, 0, 3);
    v9.begin_set(0).u16(256).u16(6).u16(27).u16(16).u16(28).u16(16).u16(4).u16(1).u16(32).u16(2);
    v9.u16(22).u16(4).u16(21).u16(4).end_set();
    v9.begin_set(256);
    record(v9);
    v9.u32(4000).u32(9000).zeros(1).end_set();  // 4 + 43 bytes, padded to 48
    FlowDecoder d9(Protocol::netflow9);
    auto m9 = d9.decode(v9.bytes());
    BOOST_REQUIRE(m9.flows.size() == 1u);
    FlowRecord from_v9 = to_flow_record(m9.flows[0], m9);
    BOOST_TEST(from_v9.key.ip_version == 6);
    BOOST_TEST(from_v9.key.protocol == 58);
    BOOST_TEST(from_v9.key.dst_port == 0x8100);
    BOOST_TEST(from_v9.start_ms == std::uint64_t(kExport) * 1000 - 10000 + 4000);

    Wire ipfix;
    ipfix.ipfix_header(kExport, 0, 7);
    ipfix.begin_set(2).u16(256).u16(6).u16(27).u16(16).u16(28).u16(16).u16(4).u16(1).u16(32).u16(2);
    ipfix.u16(152).u16(8).u16(153).u16(8).end_set();
    ipfix.begin_set(256);
    record(ipfix);
    ipfix.u64(std::uint64_t(kExport) * 1000 - 5000).u64(std::uint64_t(kExport) * 1000 - 1000).end_set();
    FlowDecoder dx(Protocol::ipfix);
    auto mx = dx.decode(ipfix.finish_ipfix());
    BOOST_REQUIRE(mx.flows.size() == 1u);
    FlowRecord from_ipfix = to_flow_record(mx.flows[0], mx);
    BOOST_TEST(from_ipfix.key.protocol == 58);
    BOOST_TEST(from_ipfix.key.dst_port == 0u);  // no icmpTypeCodeIPv6 (139)
}

BOOST_AUTO_TEST_CASE(v9_rejections) {
    auto good = valid_v9();
    expect_error(Protocol::netflow9, valid_v9(100, 2), "offset 2: Count 2 != 3 records in the packet");
    expect_error(Protocol::netflow9, valid_v9(100, 3, 8000),
                 "offset 68: LAST_SWITCHED 9000 > sysUptime 8000");
    expect_error(Protocol::netflow9, valid_v9(100, 3, 10000, 9500, 9000), "offset 68: FIRST_SWITCHED after LAST_SWITCHED");
    expect_error(Protocol::netflow9, std::vector<std::uint8_t>(good.begin(), good.begin() + 19),
                 "offset 0: message header truncated: needs 20 bytes, 19 left");
    expect_error(Protocol::netflow9, std::vector<std::uint8_t>(good.begin(), good.end() - 4),
                 "offset 66: FlowSet length 64 runs past the packet end (60 bytes left)");
    auto trailing = good;
    trailing.push_back(0);
    trailing.push_back(0);
    expect_error(Protocol::netflow9, trailing,
                 "offset 128: FlowSet header (trailing bytes after the last FlowSet?) truncated: needs 4 bytes, 2 left");

    FlowDecoder d(Protocol::netflow9);
    d.decode(good);
    expect_error(d, valid_v9(100), "offset 12: package sequence 100, expected 101 (+1 per packet)");

    auto v9 = [](std::function<void(Wire&)> body, std::uint16_t count = 1) {
        Wire w;
        w.v9_header(count, 10000, kExport, 1, 3);
        body(w);
        return w.bytes();
    };
    expect_error(Protocol::netflow9, v9([](Wire& w) { w.u16(0).u16(4); }), "offset 20: empty FlowSet (ID 0)");
    expect_error(Protocol::netflow9, v9([](Wire& w) { w.u16(2).u16(8).u32(0); }), "offset 20: FlowSet ID 2 is reserved");
    expect_error(Protocol::netflow9, v9([](Wire& w) { w.u16(400).u16(8).u32(0); }),
                 "offset 20: data FlowSet for unknown template 400");
    expect_error(Protocol::netflow9, v9([](Wire& w) { w.begin_set(0).u16(256).u16(1).u16(82).u16(65535).end_set(); }),
                 "offset 28: IE 82: length 65535 (NetFlow v9 has no variable-length fields)");
    expect_error(Protocol::netflow9, v9([](Wire& w) { w.begin_set(0).u16(256).u16(0).end_set(); }),
                 "offset 26: template 256 has no field");
    // Options templates: scope length must be a positive multiple of 4, scope types 1..5.
    expect_error(Protocol::netflow9, v9([](Wire& w) {
        w.begin_set(1).u16(257).u16(0).u16(4).u16(40).u16(8).zeros(2).end_set();
    }), "offset 26: option scope length 0 is not a positive multiple of 4");
    expect_error(Protocol::netflow9, v9([](Wire& w) {
        w.begin_set(1).u16(257).u16(4).u16(6).u16(1).u16(4).u16(40).u16(8).zeros(2).end_set();
    }), "offset 28: option length 6 is not a multiple of 4");
    expect_error(Protocol::netflow9, v9([](Wire& w) {
        w.begin_set(1).u16(257).u16(4).u16(4).u16(9).u16(4).u16(40).u16(8).zeros(2).end_set();
    }), "offset 30: v9 scope field type 9 is not 1..5");
    expect_error(Protocol::netflow9, v9([](Wire& w) {
        w.begin_set(1).u16(257).u16(4).u16(8).u16(1).u16(4).u16(40).u16(8).end_set();
    }), "offset 24: options template 257 runs past its FlowSet");
    expect_error(Protocol::netflow9, v9([](Wire& w) {
        w.begin_set(1).u16(257).u16(4).u16(4).u16(1).u16(4).u16(40).u16(8).raw({0, 5}).end_set();
    }), "offset 39: options template FlowSet: padding byte is 0x5, not 0");

    // A valid options template and record: scope System (1) 4 bytes, exported packets.
    FlowDecoder opt(Protocol::netflow9);
    auto m = opt.decode(v9([](Wire& w) {
        w.begin_set(1).u16(257).u16(4).u16(4).u16(1).u16(4).u16(41).u16(8).zeros(2).end_set();
        w.begin_set(257).u32(3).u64(123456789).end_set();
    }, 2));
    BOOST_REQUIRE(m.options.size() == 1u);
    BOOST_TEST(m.options[0].scope_uint(1) == 3u);
    BOOST_TEST(m.options[0].uint(41) == 123456789u);
}

namespace {

constexpr std::uint32_t kDocPen = 32473;  // RFC 5612: PEN for documentation

struct OwnedBiflow {
    std::string user = "alice";
    std::uint8_t direction = 1;
    std::uint64_t reverse_start = kStart, reverse_end = kEnd;
};

// 128 bytes: template 300 (16..75) with variable-length userName (371) and
// applicationName (96), an enterprise field (32473, 1), reverse octetDeltaCount and
// reverse flowStart/EndMilliseconds (29305), biflowDirection; one record at 80.
std::vector<std::uint8_t> owned_biflow_ipfix(const OwnedBiflow& v) {
    Wire w;
    w.ipfix_header(kExport, 0, 7);
    w.begin_set(2).u16(300).u16(9);
    w.u16(8).u16(4).u16(12).u16(4).u16(371).u16(65535).u16(96).u16(65535);
    w.u16(0x8001).u16(4).u32(kDocPen).u16(0x8001).u16(8).u32(kReversePen).u16(239).u16(1);
    w.u16(0x8098).u16(8).u32(kReversePen).u16(0x8099).u16(8).u32(kReversePen);
    w.end_set();
    w.begin_set(300).u32(0x0a000001).u32(0x0a000002);
    w.u8(std::uint8_t(v.user.size()));
    for (char c : v.user) w.u8(std::uint8_t(c));
    w.u8(4).raw({'c', 'u', 'r', 'l'}).u32(4242).u64(70000).u8(v.direction).u64(v.reverse_start).u64(v.reverse_end);
    w.end_set();
    return w.finish_ipfix();
}

}  // namespace

BOOST_AUTO_TEST_CASE(owner_strings_enterprise_and_reverse_fields) {
    FlowDecoder d(Protocol::ipfix);
    auto m = d.decode(owned_biflow_ipfix(OwnedBiflow{}));
    BOOST_TEST(m.length == 128u);
    BOOST_REQUIRE(m.flows.size() == 1u);
    const auto& r = m.flows[0];
    BOOST_TEST(r.offset == 80u);
    BOOST_TEST(r.text(371) == "alice");
    BOOST_TEST(r.text(96) == "curl");
    BOOST_TEST(r.enterprise_uint(kDocPen, 1) == 4242u);
    BOOST_TEST(r.enterprise_uint(kReversePen, 1) == 70000u);
    BOOST_TEST(r.enterprise_uint(kReversePen, 152) == kStart);
    BOOST_TEST(r.uint(239) == 1u);
    BOOST_TEST(!r.has(1));  // a reverse IE is not its forward IE
    BOOST_CHECK_THROW(r.enterprise_uint(kDocPen, 2), std::out_of_range);

    OwnedBiflow bad;
    bad.user = "\xc3\x28";  // a lead byte without its continuation
    expect_error(Protocol::ipfix, owned_biflow_ipfix(bad), "offset 80: IE 371 (string): invalid UTF-8 at byte 0");
    bad.user = "\xed\xa0\x80";  // a UTF-16 surrogate
    expect_error(Protocol::ipfix, owned_biflow_ipfix(bad),
                 "offset 80: IE 371 (string): invalid UTF-8 (overlong, surrogate or above U+10FFFF) at byte 0");
    bad = {};
    bad.direction = 4;
    expect_error(Protocol::ipfix, owned_biflow_ipfix(bad), "offset 80: biflowDirection 4 is not 0..3 (RFC 5103 6.3)");
    bad = {};
    std::swap(bad.reverse_start, bad.reverse_end);
    expect_error(Protocol::ipfix, owned_biflow_ipfix(bad), "offset 80: reverse flow start (IE 152) after its end");
    bad = {};
    bad.reverse_end = std::uint64_t(kExport + 1) * 1000;
    expect_error(Protocol::ipfix, owned_biflow_ipfix(bad), "offset 80: reverse flow end (IE 153) after the export time");

    // A reverse IE has its forward IE's type (RFC 5103 6.1); another PEN's IE is unknown.
    auto one_field = [](std::uint32_t pen, std::uint16_t length) {
        return ipfix_with_set([&](Wire& w) { w.begin_set(2).u16(256).u16(1).u16(0x8001).u16(length).u32(pen).end_set(); });
    };
    expect_error(Protocol::ipfix, one_field(kReversePen, 9), "offset 24: IE 1: length 9 (unsigned64: 1..8)");
    FlowDecoder lenient(Protocol::ipfix);
    BOOST_TEST(lenient.decode(one_field(kDocPen, 9)).template_records == 1u);
}

BOOST_AUTO_TEST_CASE(v9_fixed_strings_are_nul_padded) {
    auto with_name = [](std::initializer_list<std::uint8_t> name) {
        Wire w;
        w.v9_header(2, 10000, kExport, 0, 3);
        w.begin_set(0).u16(256).u16(3).u16(8).u16(4).u16(12).u16(4).u16(371).u16(8).end_set();
        w.begin_set(256).u32(1).u32(2).raw(name).end_set();
        return w.bytes();
    };
    FlowDecoder d(Protocol::netflow9);
    auto m = d.decode(with_name({'r', 'o', 'o', 't', 0, 0, 0, 0}));
    BOOST_REQUIRE(m.flows.size() == 1u);
    BOOST_TEST(m.flows[0].string_value(371) == "root");
    BOOST_TEST(m.flows[0].text(371).size() == 8u);
    expect_error(Protocol::netflow9, with_name({'r', 'o', 'o', 't', 0, 'x', 0, 0}),
                 "offset 44: IE 371 (string): byte 5 follows a NUL but is not NUL padding");
}

// Damaged messages may decode or be rejected, but only ever with DecodeError (never a
// crash, an out-of-bounds read under ASan, or another exception); every truncation of a
// valid message is rejected.
BOOST_AUTO_TEST_CASE(mutations_never_crash_and_truncations_are_rejected) {
    std::mt19937_64 rng(20261123);
    std::size_t rejected = 0, accepted = 0;
    for (int which = 0; which < 3; ++which) {
        Protocol p = which == 1 ? Protocol::netflow9 : Protocol::ipfix;
        auto good = which == 0 ? valid_ipfix() : which == 1 ? valid_v9() : owned_biflow_ipfix(OwnedBiflow{});
        for (std::size_t len = 0; len < good.size(); ++len) {
            FlowDecoder d(p);
            BOOST_CHECK_THROW(d.decode(gsl::span<const std::uint8_t>(good.data(), len)), DecodeError);
        }
        for (int i = 0; i < 20000; ++i) {
            auto msg = good;
            int flips = 1 + int(rng() % 4);
            for (int f = 0; f < flips; ++f) msg[rng() % msg.size()] = std::uint8_t(rng());
            FlowDecoder d(p);
            try {
                d.decode(msg);
                ++accepted;
            } catch (const DecodeError&) {
                ++rejected;
            }
        }
    }
    BOOST_TEST_MESSAGE("mutations: " << accepted << " accepted, " << rejected << " rejected");
    BOOST_TEST(accepted + rejected == 60000u);
    BOOST_TEST(rejected > 0u);
}
