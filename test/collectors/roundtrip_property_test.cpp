// Property tests: seeded random FlowRecords (IPv4/IPv6, TCP/UDP/SCTP/GRE/ICMP/ICMPv6, both
// directions, VLANs, every end reason, counters up to 2^64-1) go through FlowEncoder and
// come back through the strict decoder equal to what was encoded, for IPFIX and NetFlow
// v9 and many message sizes. Along the way: every message fits max_message_size, the
// strict sequence/Count rules hold over thousands of messages, templates are refreshed,
// the encoder's counters match what was decoded, and options (statistics, interface
// table, sampling) round-trip.
#define BOOST_TEST_MODULE roundtrip_property
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <random>

#include "attribution/owners.hpp"
#include "collectors/flow_decoder.hpp"
#include "collectors/flow_generator.hpp"
#include "ipfix/biflow.hpp"
#include "ipfix/flow_encoder.hpp"
#include "ipfix/record_sources.hpp"

using namespace ebpfix;
using namespace ebpfix::test;
using ipfix::Protocol;

namespace {

constexpr std::uint64_t kOrigin = 1795000000250;  // uptime origin (ms), not a whole second
constexpr std::uint64_t kNow = 1795000900777;     // export time, 900.527 s later

const char* name(Protocol p) { return p == Protocol::ipfix ? "ipfix" : "netflow9"; }

struct Stream {
    std::vector<std::vector<std::uint8_t>> messages;
    ipfix::MessageSink sink() {
        return [this](gsl::span<const std::uint8_t> m) { messages.emplace_back(m.begin(), m.end()); };
    }
};

struct Decoded {
    std::vector<FlowRecord> flows;
    std::vector<DecodedRecord> options;
    std::vector<std::size_t> messages_with_templates;  // indexes
    std::size_t template_records = 0;
    std::size_t octets = 0;
};

// Decodes a whole stream strictly; every message must fit max_size.
Decoded decode_stream(FlowDecoder& d, const std::vector<std::vector<std::uint8_t>>& messages, std::size_t max_size,
                      std::uint64_t origin_ms, std::uint64_t now_ms) {
    Decoded out;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& bytes = messages[i];
        BOOST_TEST_REQUIRE(bytes.size() <= max_size, "message " << i << " has " << bytes.size() << " > " << max_size);
        DecodedMessage m;
        try {
            m = d.decode(bytes);
        } catch (const DecodeError& e) {
            BOOST_FAIL("message " << i << " of " << messages.size() << " rejected: " << e.what());
        }
        out.octets += bytes.size();
        BOOST_TEST(m.export_time_s == now_ms / 1000);
        if (m.protocol == Protocol::netflow9) BOOST_TEST(m.sys_uptime_ms == now_ms - origin_ms);
        if (m.template_records + m.options_template_records > 0) out.messages_with_templates.push_back(i);
        out.template_records += m.template_records + m.options_template_records;
        for (const auto& rec : m.flows) out.flows.push_back(to_flow_record(rec, m, origin_ms));
        for (auto& rec : m.options) out.options.push_back(rec);
    }
    return out;
}

void expect_same_flows(std::vector<FlowRecord> sent, std::vector<FlowRecord> got) {
    BOOST_TEST_REQUIRE(got.size() == sent.size());
    for (auto& r : sent) r = exportable(r);
    auto less = [](const FlowRecord& a, const FlowRecord& b) { return carried_fields(a) < carried_fields(b); };
    std::sort(sent.begin(), sent.end(), less);
    std::sort(got.begin(), got.end(), less);
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < sent.size() && mismatches < 5; ++i)
        if (carried_fields(sent[i]) != carried_fields(got[i])) {
            ++mismatches;
            BOOST_ERROR("record differs:\n  sent " << describe(sent[i]) << "\n  got  " << describe(got[i]));
        }
}

ipfix::EncoderOptions options_for(Protocol p, std::size_t max_size) {
    ipfix::EncoderOptions o;
    o.protocol = p;
    o.observation_domain = 4242;
    o.max_message_size = max_size;
    o.uptime_origin_ms = kOrigin;
    return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_flows_round_trip_at_many_message_sizes) {
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        for (std::size_t max_size : {256u, 300u, 512u, 577u, 1000u, 1472u, 8972u, 65535u}) {
            BOOST_TEST_CONTEXT(name(p) << " max_message_size " << max_size) {
                FlowGenerator gen(max_size * 31 + unsigned(p), kOrigin, kNow);
                ipfix::FlowEncoder enc(options_for(p, max_size));
                Stream s;
                std::vector<FlowRecord> sent;
                // Several encode() calls of varied sizes, as the daemon's drain cycles make.
                for (std::size_t batch : {1u, 7u, 300u, 0u, 64u, 1000u}) {
                    auto records = gen.batch(batch);
                    enc.encode(records, kNow, s.sink());
                    sent.insert(sent.end(), records.begin(), records.end());
                }
                FlowDecoder d(p);
                auto got = decode_stream(d, s.messages, max_size, kOrigin, kNow);
                expect_same_flows(sent, got.flows);
                BOOST_TEST(got.options.empty());
                // The encoder's counters are what went on the wire.
                BOOST_TEST(enc.counters().messages == s.messages.size());
                BOOST_TEST(enc.counters().octets == got.octets);
                BOOST_TEST(enc.counters().data_records == sent.size());
                BOOST_TEST(enc.counters().template_records == got.template_records);
                BOOST_TEST(!got.messages_with_templates.empty());
                BOOST_TEST(got.messages_with_templates.front() == 0u);
            }
        }
    }
}

// Messages are filled: a stream of 1000 IPv4 records at 1472 bytes needs at most one
// message more than the ideal packing (record sizes are known from the templates).
BOOST_AUTO_TEST_CASE(messages_are_packed) {
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        FlowGenerator gen(7, kOrigin, kNow);
        std::vector<FlowRecord> records;
        while (records.size() < 1000) {
            auto r = gen.next();
            if (r.key.ip_version == 4) records.push_back(r);
        }
        ipfix::FlowEncoder enc(options_for(p, 1472));
        Stream s;
        enc.encode(records, kNow, s.sink());
        FlowDecoder d(p);
        auto got = decode_stream(d, s.messages, 1472, kOrigin, kNow);
        expect_same_flows(records, got.flows);
        const Template* t = d.find_template(4242, 256);
        BOOST_REQUIRE(t != nullptr);
        std::size_t header = p == Protocol::ipfix ? 16 : 20;
        std::size_t per_message = (1472 - header - 4) / t->min_record_length;
        std::size_t ideal = (records.size() + per_message - 1) / per_message;
        BOOST_TEST_MESSAGE(name(p) << ": " << s.messages.size() << " messages, ideal " << ideal << " ("
                                   << t->min_record_length << "-byte records)");
        BOOST_TEST(s.messages.size() <= ideal + 1);
    }
}

// Thousands of messages over many encode() calls and advancing time: sequence numbers
// stay consistent (the decoder checks each message against the previous one), templates
// come back at least every template_refresh_messages messages and after
// template_refresh_seconds, and nothing is lost.
BOOST_AUTO_TEST_CASE(sequence_numbers_and_template_refresh_over_thousands_of_messages) {
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        BOOST_TEST_CONTEXT(name(p)) {
            auto o = options_for(p, 400);
            o.template_refresh_messages = 20;
            o.template_refresh_seconds = 60;
            ipfix::FlowEncoder enc(o);
            FlowDecoder d(p);
            FlowGenerator gen(99 + unsigned(p), kOrigin, kNow);
            std::size_t total = 0, messages = 0, since_templates = 0, max_gap = 0;
            std::optional<std::uint32_t> first_sequence;
            std::uint32_t last_sequence = 0;
            std::size_t last_records = 0;
            for (int cycle = 0; cycle < 400; ++cycle) {
                std::uint64_t now = kNow + std::uint64_t(cycle) * 1000;  // one drain per second
                FlowGenerator cycle_gen(cycle * 7919 + unsigned(p), kOrigin, now);
                auto records = cycle_gen.batch(10 + cycle_gen.below(60));
                Stream s;
                enc.encode(records, now, s.sink());
                for (const auto& bytes : s.messages) {
                    BOOST_TEST_REQUIRE(bytes.size() <= 400u);
                    DecodedMessage m;
                    try {
                        m = d.decode(bytes);
                    } catch (const DecodeError& e) {
                        BOOST_FAIL("message " << messages << " rejected: " << e.what());
                    }
                    if (!first_sequence) first_sequence = m.sequence;
                    last_sequence = m.sequence;
                    last_records = m.flows.size() + m.options.size();
                    ++messages;
                    if (m.template_records > 0) {
                        since_templates = 0;
                    } else {
                        max_gap = std::max(max_gap, ++since_templates);
                    }
                }
                total += records.size();
            }
            BOOST_TEST_MESSAGE(name(p) << ": " << messages << " messages, " << total << " records, longest run without templates "
                                       << max_gap);
            BOOST_TEST(messages >= 2000u);
            BOOST_TEST(d.flow_records() == total);
            // At most template_refresh_messages messages go by without the templates.
            BOOST_TEST(max_gap <= 20u);
            if (p == Protocol::ipfix) {
                BOOST_TEST(*first_sequence == 0u);
                BOOST_TEST(std::uint32_t(last_sequence + last_records) == std::uint32_t(total));
            } else {
                BOOST_TEST(std::uint32_t(last_sequence - *first_sequence) == std::uint32_t(messages - 1));
            }
            BOOST_TEST(enc.counters().messages == messages);
        }
    }
}

// Time-based refresh alone (message refresh off): templates return once
// template_refresh_seconds have passed, and not before.
BOOST_AUTO_TEST_CASE(templates_refresh_after_the_configured_seconds) {
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        auto o = options_for(p, 1472);
        o.template_refresh_messages = 0;
        o.template_refresh_seconds = 60;
        ipfix::FlowEncoder enc(o);
        FlowDecoder d(p);
        // One IPv4 and one IPv6 record per call, so both data templates are in use.
        auto send_at = [&](std::uint64_t now) {
            FlowGenerator gen(now, kOrigin, now);
            std::vector<FlowRecord> records;
            while (records.size() < 2) {
                auto r = gen.next();
                if (r.key.ip_version == (records.empty() ? 4 : 6)) records.push_back(r);
            }
            Stream s;
            enc.encode(records, now, s.sink());
            std::size_t templates = 0;
            for (const auto& m : s.messages) {
                auto decoded = d.decode(m);
                templates += decoded.template_records;
                BOOST_TEST(decoded.flows.size() <= 2u);
            }
            return templates;
        };
        BOOST_TEST(send_at(kNow) >= 2u);
        BOOST_TEST(send_at(kNow + 30000) == 0u);
        BOOST_TEST(send_at(kNow + 59999) == 0u);
        BOOST_TEST(send_at(kNow + 60000) >= 2u);
        BOOST_TEST(send_at(kNow + 61000) == 0u);
        enc.resend_templates();
        BOOST_TEST(send_at(kNow + 62000) >= 2u);
    }
}

namespace {

std::string fixed_text(const Bytes& b) {
    std::string s(b.begin(), b.end());
    return s.substr(0, s.find('\0'));
}

const FieldSpec* field_spec(const FlowDecoder& d, const DecodedRecord& r, std::uint16_t ie) {
    const Template* t = d.find_template(4242, r.template_id);
    if (t == nullptr) return nullptr;
    for (const auto& f : t->fields)
        if (f.id == ie && f.enterprise == 0) return &f;
    return nullptr;
}

// A string IE as text: variable-length as is; fixed-length NUL-terminated and padded.
std::string string_field(const FlowDecoder& d, const DecodedRecord& r, std::uint16_t ie) {
    const FieldSpec* f = field_spec(d, r, ie);
    if (f != nullptr && f->length == kVariableLength) return r.text(ie);
    BOOST_TEST(r.raw(ie).back() == 0, "fixed-length IE " << ie << " has no terminating NUL");
    return fixed_text(r.raw(ie));
}

}  // namespace

BOOST_AUTO_TEST_CASE(options_round_trip) {
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        BOOST_TEST_CONTEXT(name(p)) {
            auto o = options_for(p, 1472);
            o.sampling_interval = 100;
            // Both algorithms, one per protocol: samplingAlgorithm 2 random, 1 flow hash.
            o.sampling_algorithm = p == Protocol::ipfix ? ipfix::SamplingAlgorithm::random : ipfix::SamplingAlgorithm::hash;
            const std::uint64_t algorithm_ie = p == Protocol::ipfix ? 2 : 1;
            ipfix::FlowEncoder enc(o);
            FlowDecoder d(p);
            // Some flows first, so the statistics have something to report.
            FlowGenerator gen(5, kOrigin, kNow);
            auto flows = gen.batch(50);
            Stream s;
            enc.encode(flows, kNow, s.sink());
            const auto before = enc.counters();

            ipfix::ExporterStatistics stats;
            stats.ignored_packets = 0xffffffffffffffffull;
            stats.ignored_octets = 123456789012345ull;
            stats.not_sent_flows = 3;
            stats.not_sent_packets = 40;
            stats.not_sent_octets = 5000;
            std::vector<ipfix::InterfaceInfo> ifs{{1, "lo", "loopback"},
                                                  {7, "eth0", ""},
                                                  {4000000000u, "veth-ebpfix-a", std::string(300, 'x')}};
            Stream so;
            enc.encode_options(stats, ifs, kNow + 1000, so.sink());
            auto got = decode_stream(d, s.messages, 1472, kOrigin, kNow);
            auto opts = decode_stream(d, so.messages, 1472, kOrigin, kNow + 1000);
            BOOST_TEST(got.flows.size() == 50u);
            BOOST_TEST(opts.flows.empty());

            std::map<std::uint32_t, std::pair<std::string, std::string>> names;
            int ignored = 0, not_sent = 0, sampling = 0, with_algorithm = 0, metering = 0;
            std::uint16_t if_scope = p == Protocol::ipfix ? 10 : 2;  // ingressInterface / v9 Interface
            for (const auto& r : opts.options) {
                if (r.has(82)) {
                    BOOST_TEST(r.scope.count(if_scope) == 1u);
                    auto ifindex = std::uint32_t(r.scope_uint(if_scope));
                    names[ifindex] = {string_field(d, r, 82), string_field(d, r, 83)};
                }
                if (r.has(164)) {
                    ++ignored;
                    BOOST_TEST(r.uint(164) == stats.ignored_packets);
                    BOOST_TEST(r.uint(165) == stats.ignored_octets);
                }
                if (r.has(166)) {
                    ++not_sent;
                    BOOST_TEST(r.uint(166) == stats.not_sent_flows);
                    BOOST_TEST(r.uint(167) == stats.not_sent_packets);
                    BOOST_TEST(r.uint(168) == stats.not_sent_octets);
                }
                if (r.has(34)) {
                    ++sampling;
                    BOOST_TEST(r.uint(34) == 100u);
                    // Scoped to the metering process (IPFIX) / the system (v9), whose id is the domain.
                    BOOST_TEST(r.scope_uint(p == Protocol::ipfix ? 143 : 1) == 4242u);
                }
                if (r.has(35)) {
                    ++with_algorithm;
                    BOOST_TEST(r.has(34));
                    BOOST_TEST(r.uint(35) == algorithm_ie);
                }
                if (r.has(160)) {
                    ++metering;
                    BOOST_TEST(r.uint(160) == kOrigin);
                    BOOST_TEST(r.uint(41) == before.messages);
                    BOOST_TEST(r.uint(42) == before.data_records);
                    BOOST_TEST(r.uint(40) == before.octets);
                }
            }
            BOOST_TEST(ignored == 1);
            BOOST_TEST(not_sent == 1);
            BOOST_TEST(sampling == 2);  // 258 (interval) and 263 (interval + algorithm)
            BOOST_TEST(with_algorithm == 1);
            BOOST_TEST(d.sampling_interval(4242).value_or(0) == 100u);
            BOOST_TEST(d.sampling_algorithm(4242).value_or(0) == algorithm_ie);
            BOOST_TEST(metering == 1);
            BOOST_TEST(names.size() == 3u);
            BOOST_TEST(names[1].first == "lo");
            BOOST_TEST(names[1].second == "loopback");
            BOOST_TEST(names[7].first == "eth0");
            BOOST_TEST(names[7].second == "");
            BOOST_TEST(names[4000000000u].first == "veth-ebpfix-a");
            // Both protocols send fixed-length NUL-padded names (templates 262: nfdump 1.7.1
            // drops variable-length ones): interfaceName 16, interfaceDescription 64 bytes,
            // so text is cut to length - 1 bytes to keep the terminating NUL.
            const FieldSpec* name_spec = nullptr;
            const FieldSpec* description_spec = nullptr;
            for (const auto& r : opts.options)
                if (r.has(82)) {
                    name_spec = field_spec(d, r, 82);
                    description_spec = field_spec(d, r, 83);
                }
            BOOST_REQUIRE(name_spec != nullptr);
            BOOST_REQUIRE(description_spec != nullptr);
            BOOST_TEST(name_spec->length == 16u);
            BOOST_TEST(description_spec->length == 64u);
            BOOST_TEST(names[4000000000u].second == std::string(63, 'x'));
            // The systemInitTimeMilliseconds record gives the decoder the exact uptime origin.
            BOOST_TEST(d.system_init_time_ms(4242).value_or(0) == kOrigin);
            BOOST_TEST(enc.counters().options_records == opts.options.size());
        }
    }
}

namespace {

// RFC 3629 well-formedness (string IEs are UTF-8, RFC 7011 6.1.6).
bool valid_utf8(const std::string& s) {
    for (std::size_t i = 0; i < s.size();) {
        auto b = static_cast<unsigned char>(s[i]);
        std::size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        std::uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1fu) : len == 3 ? (b & 0x0fu) : (b & 0x07u);
        for (std::size_t k = 1; k < len; ++k) {
            auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xc0) != 0x80) return false;
            cp = cp << 6 | (c & 0x3fu);
        }
        static constexpr std::uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
        i += len;
    }
    return true;
}

}  // namespace

// Linux interface names and aliases are arbitrary bytes; what reaches the wire must be
// valid UTF-8 even when cut at the field's size (no half character at the cut).
BOOST_AUTO_TEST_CASE(interface_strings_are_valid_utf8) {
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        ipfix::FlowEncoder enc(options_for(p, 1472));
        std::string two_byte_run;
        for (int i = 0; i < 40; ++i) two_byte_run += "\xc3\xa9";  // é, 80 bytes: some cap cuts inside
        std::vector<ipfix::InterfaceInfo> ifs{{2, std::string("bad\xff\xfe") + "name", two_byte_run},
                                              {3, "\xe2\x82", std::string("nul\0in", 6)},
                                              {4, "caf\xc3\xa9-\xf0\x9f\x98\x80-long-name", two_byte_run}};
        Stream s;
        enc.encode_options({}, ifs, kNow, s.sink());
        FlowDecoder d(p);
        auto got = decode_stream(d, s.messages, 1472, kOrigin, kNow);
        int seen = 0;
        for (const auto& r : got.options) {
            if (!r.has(82)) continue;
            ++seen;
            std::string name = string_field(d, r, 82);
            std::string description = string_field(d, r, 83);
            BOOST_TEST(valid_utf8(name), "name of " << r.scope.begin()->first << " is not UTF-8");
            BOOST_TEST(valid_utf8(description), "description is not UTF-8");
            BOOST_TEST(!name.empty());
        }
        BOOST_TEST(seen == 3);
    }
}

BOOST_AUTO_TEST_CASE(v9_times_without_the_origin_follow_the_header) {
    // Without systemInitTimeMilliseconds a collector derives the origin from the header:
    // unix_secs * 1000 - sysUptime, which is kOrigin minus the export time's ms fraction.
    ipfix::FlowEncoder enc(options_for(Protocol::netflow9, 1472));
    FlowGenerator gen(11, kOrigin, kNow);
    auto records = gen.batch(20);
    Stream s;
    enc.encode(records, kNow, s.sink());
    FlowDecoder d(Protocol::netflow9);
    for (const auto& bytes : s.messages) {
        auto m = d.decode(bytes);
        for (const auto& rec : m.flows) {
            FlowRecord header_based = to_flow_record(rec, m);
            FlowRecord exact = to_flow_record(rec, m, kOrigin);
            BOOST_TEST(exact.start_ms - header_based.start_ms == kNow % 1000);
            BOOST_TEST(exact.end_ms - header_based.end_ms == kNow % 1000);
        }
    }
}

BOOST_AUTO_TEST_CASE(too_small_message_size_is_refused) {
    for (Protocol p : {Protocol::ipfix, Protocol::netflow9}) {
        BOOST_CHECK_THROW(ipfix::FlowEncoder(options_for(p, 40)), std::invalid_argument);
        auto o = options_for(p, 1472);
        o.observation_domain = 0;
        BOOST_CHECK_THROW(ipfix::FlowEncoder{o}, std::invalid_argument);
    }
}

namespace {

constexpr std::uint32_t kDocPen = 32473;  // RFC 5612: PEN for documentation

// One flow record as decoded, with what attribution added: the template it came in and
// the owner fields (empty / 0 when the template has none).
using OwnedView = std::tuple<decltype(carried_fields(FlowRecord{})), std::uint16_t, std::string, std::string,
                             std::uint64_t, std::uint64_t, std::uint64_t, std::string>;

attribution::Owner random_owner(FlowGenerator& g) {
    static const char* names[] = {"alice", "j\xc3\xb6rg", "svc-backup", "", "x\xff" "y", "\xe6\x97\xa5\xe6\x9c\xac"};
    attribution::Owner o;
    if (g.below(5) != 0) o.uid = std::uint32_t(g.below(70000));
    o.user = names[g.below(std::size(names))];
    if (g.below(8) == 0) o.user = std::string(100, 'u');  // longer than any cap
    if (g.below(4) != 0) o.pid = std::uint32_t(1 + g.below(4194304));
    o.comm = g.below(6) == 0 ? std::string("worker\xc3\xa9-thread-name", 21) : std::string("curl");
    if (g.below(4) != 0) o.cgroup_id = 1 + g.below(1u << 30);
    std::size_t path = g.below(3) == 0 ? 0 : g.below(4) == 0 ? 300 + g.below(1500) : g.below(120);
    o.cgroup = path == 0 ? "" : "/" + std::string(path - 1, char('a' + g.below(26)));
    return o;
}

}  // namespace

// Attribution through the strict decoder: owned records come back in 264..267 with the
// names (valid UTF-8, cut at the documented caps) and, under a PEN, pid/uid/cgroup (all
// ones when unknown); records without an owner (cookie 0, or unknown) in 256/257. Every
// record once, every message within max_message_size, at several sizes.
BOOST_AUTO_TEST_CASE(attribution_round_trips) {
    struct Case {
        Protocol p;
        std::uint32_t pen;
    };
    for (Case c : {Case{Protocol::ipfix, 0}, Case{Protocol::ipfix, kDocPen}, Case{Protocol::netflow9, kDocPen}}) {
        for (std::size_t max_size : {400u, 1472u, 65535u}) {
            BOOST_TEST_CONTEXT(name(c.p) << " PEN " << c.pen << " max_message_size " << max_size) {
                FlowGenerator gen(max_size + c.pen + unsigned(c.p), kOrigin, kNow);
                std::map<std::uint64_t, attribution::Owner> owners;
                for (std::uint64_t cookie = 1; cookie <= 40; ++cookie) owners[cookie] = random_owner(gen);
                auto o = options_for(c.p, max_size);
                o.attribution = true;
                o.enterprise_number = c.pen;
                ipfix::FlowEncoder enc(o);
                ipfix::OwnerLookup lookup = [&](std::uint64_t cookie) -> const attribution::Owner* {
                    auto it = owners.find(cookie);
                    return it == owners.end() ? nullptr : &it->second;
                };
                Stream s;
                std::vector<FlowRecord> sent;
                for (std::size_t batch : {1u, 50u, 400u}) {
                    auto records = gen.batch(batch);
                    for (auto& r : records) r.key.owner = gen.below(3) == 0 ? 0 : 1 + gen.below(45);  // 41..45 unknown
                    enc.encode(records, lookup, kNow, s.sink());
                    sent.insert(sent.end(), records.begin(), records.end());
                }
                // What each record must look like: the caps are docs/ipfix.md's.
                const bool ipfix = c.p == Protocol::ipfix, pen = ipfix && c.pen != 0;
                std::size_t user_cap = ipfix ? 64 : 31, comm_cap = ipfix ? 64 : 15;
                std::size_t base = 16 + 124 + 4 + 104 + 65 + 65;  // IPv6 record of 267 with both names at the cap
                std::size_t room = max_size - base;
                std::size_t cgroup_cap = room >= 258 ? std::min<std::size_t>(room - 3, 1024) : std::min<std::size_t>(room - 1, 254);
                std::vector<OwnedView> expected;
                for (const auto& r : sent) {
                    auto it = r.key.owner ? owners.find(r.key.owner) : owners.end();
                    bool v4 = r.key.ip_version == 4;
                    if (it == owners.end()) {
                        expected.emplace_back(carried_fields(exportable(r)), v4 ? 256 : 257, "", "", 0, 0, 0, "");
                        continue;
                    }
                    const attribution::Owner& ow = it->second;
                    std::string user, comm, cgroup;
                    std::string raw_user = !ow.user.empty() ? ow.user : ow.uid ? std::to_string(*ow.uid) : "";
                    ipfix::utf8_prefix(raw_user, user_cap, user);
                    ipfix::utf8_prefix(ow.comm, comm_cap, comm);
                    if (pen) ipfix::utf8_prefix(ow.cgroup, cgroup_cap, cgroup);
                    std::uint16_t id = pen ? (v4 ? 266 : 267) : (v4 ? 264 : 265);
                    expected.emplace_back(carried_fields(exportable(r)), id, user, comm,
                                          pen ? ow.pid.value_or(0xffffffffu) : 0, pen ? ow.uid.value_or(0xffffffffu) : 0,
                                          pen ? ow.cgroup_id.value_or(~std::uint64_t{0}) : 0, cgroup);
                }
                FlowDecoder d(c.p);
                std::vector<OwnedView> got;
                for (const auto& bytes : s.messages) {
                    BOOST_TEST_REQUIRE(bytes.size() <= max_size);
                    DecodedMessage m;
                    try {
                        m = d.decode(bytes);
                    } catch (const DecodeError& e) {
                        BOOST_FAIL("rejected: " << e.what());
                    }
                    for (const auto& rec : m.flows) {
                        FlowRecord fr = to_flow_record(rec, m, kOrigin);
                        bool owned = rec.has(371);
                        BOOST_TEST_REQUIRE(owned == rec.has(96));
                        BOOST_TEST_REQUIRE(rec.has_enterprise(kDocPen, 1) == (owned && pen));
                        got.emplace_back(carried_fields(fr), rec.template_id, owned ? rec.string_value(371) : "",
                                         owned ? rec.string_value(96) : "",
                                         owned && pen ? rec.enterprise_uint(kDocPen, 1) : 0,
                                         owned && pen ? rec.enterprise_uint(kDocPen, 2) : 0,
                                         owned && pen ? rec.enterprise_uint(kDocPen, 3) : 0,
                                         owned && pen ? rec.enterprise_text(kDocPen, 4) : "");
                    }
                }
                std::sort(expected.begin(), expected.end());
                std::sort(got.begin(), got.end());
                BOOST_TEST_REQUIRE(got.size() == expected.size());
                std::size_t owned_count = 0, mismatches = 0;
                for (std::size_t i = 0; i < got.size(); ++i) {
                    if (std::get<1>(got[i]) > 257) ++owned_count;
                    if (got[i] != expected[i] && ++mismatches <= 3)
                        BOOST_ERROR("record " << i << " differs: template " << std::get<1>(got[i]) << " user \""
                                              << std::get<2>(got[i]) << "\" vs \"" << std::get<2>(expected[i]) << "\"");
                }
                BOOST_TEST(mismatches == 0u);
                BOOST_TEST(owned_count > sent.size() / 3);  // both kinds really occur
                BOOST_TEST(owned_count < sent.size());
                BOOST_TEST(enc.counters().data_records == sent.size());
            }
        }
    }
}

// Biflows against the uniflow export of the same records: the strict decoder reads the
// reverse IEs (PEN 29305), and forward + reverse packets and octets of the biflow stream
// equal the packets and octets of the uniflow stream exactly (128-bit sums: counts reach
// 2^64 - 1). Each biflow record carries its forward record's fields and its reverse's
// counts, flags and times.
BOOST_AUTO_TEST_CASE(biflow_totals_equal_the_uniflow_export) {
    for (std::size_t max_size : {300u, 1472u, 65535u}) {
        BOOST_TEST_CONTEXT("max_message_size " << max_size) {
            FlowGenerator gen(max_size * 13, kOrigin, kNow);
            std::vector<FlowRecord> records;
            for (int i = 0; i < 700; ++i) {
                FlowRecord r = gen.next();
                records.push_back(r);
                auto rk = ipfix::reverse_key(r.key);
                if (rk && gen.below(3) != 0) {
                    FlowRecord back = gen.next();
                    back.key = *rk;
                    records.push_back(back);
                }
            }
            std::shuffle(records.begin(), records.end(), std::mt19937_64(max_size));
            auto totals = [&](const std::vector<std::vector<std::uint8_t>>& messages, bool reverse) {
                FlowDecoder d(Protocol::ipfix);
                unsigned __int128 packets = 0, octets = 0;
                std::size_t n = 0;
                for (const auto& bytes : messages) {
                    BOOST_TEST_REQUIRE(bytes.size() <= max_size);
                    auto m = d.decode(bytes);
                    for (const auto& rec : m.flows) {
                        ++n;
                        packets += rec.uint(2);
                        octets += rec.uint(1);
                        if (reverse) {
                            packets += rec.enterprise_uint(kReversePen, 2);
                            octets += rec.enterprise_uint(kReversePen, 1);
                        }
                    }
                }
                return std::tuple{packets, octets, n};
            };
            ipfix::FlowEncoder uniflow(options_for(Protocol::ipfix, max_size));
            Stream u;
            uniflow.encode(records, kNow, u.sink());
            auto o = options_for(Protocol::ipfix, max_size);
            o.biflow = true;
            ipfix::FlowEncoder biflow(o);
            Stream b;
            auto biflows = ipfix::pair_biflows(records);
            biflow.encode_biflows(biflows, kNow, b.sink());
            auto [up, uo, un] = totals(u.messages, false);
            auto [bp, bo, bn] = totals(b.messages, true);
            BOOST_TEST((up == bp));
            BOOST_TEST((uo == bo));
            BOOST_TEST(un == records.size());
            BOOST_TEST(bn == biflows.size());
            BOOST_TEST(bn < un);  // pairs were made
            BOOST_TEST(biflow.counters().data_records == biflows.size());

            // Record by record: forward fields, reverse counts/flags/times, direction.
            FlowDecoder d(Protocol::ipfix);
            std::vector<std::tuple<decltype(carried_fields(FlowRecord{})), std::uint64_t, std::uint64_t, std::uint64_t,
                                   std::uint64_t, std::uint64_t, std::uint64_t>>
                sent_view, got_view;
            for (const auto& x : biflows) {
                const FlowRecord* r = x.reverse ? &*x.reverse : nullptr;
                sent_view.emplace_back(carried_fields(exportable(x.forward)), r ? r->packets : 0, r ? r->bytes : 0,
                                       r ? r->tcp_flags & 0xff : 0, r ? r->start_ms : 0, r ? r->end_ms : 0,
                                       std::uint64_t(x.direction));
            }
            for (const auto& bytes : b.messages) {
                auto m = d.decode(bytes);
                for (const auto& rec : m.flows)
                    got_view.emplace_back(carried_fields(to_flow_record(rec, m)), rec.enterprise_uint(kReversePen, 2),
                                          rec.enterprise_uint(kReversePen, 1), rec.enterprise_uint(kReversePen, 6),
                                          rec.enterprise_uint(kReversePen, 152), rec.enterprise_uint(kReversePen, 153),
                                          rec.uint(239));
            }
            std::sort(sent_view.begin(), sent_view.end());
            std::sort(got_view.begin(), got_view.end());
            BOOST_TEST((sent_view == got_view));
        }
    }
}
