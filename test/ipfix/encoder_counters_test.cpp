// EncoderCounters per message: the difference of the counters around each sink call is
// what that message carries. The expected numbers come from decoding the messages with
// the templates they announce (never from the encoder's own layout tables) and from the
// input records, across MTU splitting, template refresh and options messages.
#define BOOST_TEST_MODULE ipfix_encoder_counters
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <vector>

#include "golden_support.hpp"
#include "ipfix/flow_encoder.hpp"

using namespace ebpfix;
using namespace ebpfix::ipfix;
using ebpfix::test::Bytes;
using ebpfix::test::sets_of;
using ebpfix::test::u16;

namespace {

constexpr std::uint64_t k_now = 1700000000123;
constexpr std::uint16_t k_octet_delta_count = 1, k_packet_delta_count = 2;  // IANA IE ids
constexpr std::uint16_t k_variable = 65535;

struct Field {
    std::uint16_t id;
    std::uint16_t length;
};

struct Template {
    bool options;  // v9 scope field types are not IE ids: only data templates carry flows
    std::vector<Field> fields;
};

std::uint64_t be(const Bytes& b, std::size_t at, std::size_t len) {
    if (at + len > b.size()) throw std::runtime_error("field past the end of the message");
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < len; ++i) v = v << 8 | b[at + i];
    return v;
}

// What the flow records (templates with packetDeltaCount) of one message carry.
struct Carried {
    std::uint64_t records = 0, packets = 0, octets = 0;
};

// Decodes a stream of messages of one exporter; templates persist across messages.
class Decoder {
public:
    explicit Decoder(bool v9) : v9_(v9) {}

    Carried message(const Bytes& m) {
        Carried c;
        for (const auto& set : sets_of(m, v9_)) {
            std::size_t at = set.offset + 4;
            const std::size_t end = set.offset + set.length;
            if (set.id == (v9_ ? 0 : 2)) {
                while (end - at >= 4) at = read_template(m, at, false);
            } else if (set.id == (v9_ ? 1 : 3)) {
                while (end - at >= 6) at = read_template(m, at, true);
            } else if (set.id >= 256) {
                const auto it = templates_.find(set.id);
                if (it == templates_.end()) throw std::runtime_error("data set before its template");
                read_records(m, at, end, it->second, c);
            } else {
                throw std::runtime_error("unexpected set id " + std::to_string(set.id));
            }
        }
        return c;
    }

private:
    // One (options) template record; returns the offset after it.
    std::size_t read_template(const Bytes& m, std::size_t at, bool options) {
        const std::uint16_t id = u16(m, at);
        std::size_t count = 0;
        if (!options) {  // id, field count
            count = u16(m, at + 2);
            at += 4;
        } else if (v9_) {  // id, scope length, option length, both in bytes (4 per field)
            count = (std::size_t{u16(m, at + 2)} + u16(m, at + 4)) / 4;
            at += 6;
        } else {  // id, field count, scope field count (the scope fields are in the count)
            count = u16(m, at + 2);
            at += 6;
        }
        std::vector<Field> fields;
        for (std::size_t i = 0; i < count; ++i) {
            std::uint16_t fid = u16(m, at);
            const std::uint16_t len = u16(m, at + 2);
            at += 4;
            if (!v9_ && (fid & 0x8000)) {  // enterprise number follows
                fid &= 0x7fff;
                at += 4;
            }
            fields.push_back({fid, len});
        }
        templates_[id] = Template{options, std::move(fields)};
        return at;
    }

    void read_records(const Bytes& m, std::size_t at, std::size_t end, const Template& t, Carried& c) const {
        const std::vector<Field>& fields = t.fields;
        std::size_t min_record = 0;
        bool flow = false;
        for (const auto& f : fields) {
            min_record += f.length == k_variable ? 1 : f.length;
            if (f.id == k_packet_delta_count && !t.options) flow = true;
        }
        while (end - at >= min_record && min_record > 0) {  // the rest is set padding
            for (const auto& f : fields) {
                std::size_t len = f.length;
                if (len == k_variable) {
                    len = m.at(at);
                    at += 1;
                    if (len == 255) {
                        len = u16(m, at);
                        at += 2;
                    }
                }
                if (flow && f.id == k_packet_delta_count) c.packets += be(m, at, len);
                if (flow && f.id == k_octet_delta_count) c.octets += be(m, at, len);
                at += len;
            }
            if (at > end) throw std::runtime_error("record runs past its set");
            if (flow) ++c.records;
        }
    }

    bool v9_;
    std::map<std::uint16_t, Template> templates_;
};

// Record i: both families mixed, counts large enough to need all 8 bytes.
FlowRecord record(std::size_t i) {
    FlowRecord r;
    const bool v6 = (i * 7) % 3 == 0;
    r.key.ip_version = v6 ? 6 : 4;
    if (v6) {
        r.key.src_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, std::uint8_t(i)};
        r.key.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, std::uint8_t(i)};
    } else {
        r.key.src_addr = FlowKey::mapped_v4(0x0a000000u + std::uint32_t(i));
        r.key.dst_addr = FlowKey::mapped_v4(0x0a010000u + std::uint32_t(i));
    }
    r.key.src_port = std::uint16_t(1000 + i);
    r.key.dst_port = 443;
    r.key.protocol = 17;
    r.key.ifindex = 2;
    r.packets = 1 + i * 3 + (i % 5 == 0 ? (std::uint64_t{1} << 40) : 0);
    r.bytes = 60 * r.packets + i;
    r.start_ms = k_now - 1000;
    r.end_ms = k_now - 10;
    return r;
}

void check_per_message_sums(Protocol protocol) {
    EncoderOptions o;
    o.protocol = protocol;
    o.observation_domain = 3;
    o.max_message_size = 300;          // a few records per message: many splits
    o.template_refresh_messages = 7;   // templates come back in the middle of the stream
    o.uptime_origin_ms = k_now - 60000;
    FlowEncoder enc(o);
    Decoder decoder(protocol == Protocol::netflow9);

    std::vector<FlowRecord> first, second;
    Carried input;
    for (std::size_t i = 0; i < 150; ++i) {
        (i < 100 ? first : second).push_back(record(i));
        input.records += 1;
        input.packets += record(i).packets;
        input.octets += record(i).bytes;
    }

    // The way the exporter glues encoder and sender: counters after minus before each message.
    std::size_t messages = 0;
    Carried summed;
    EncoderCounters before = enc.counters();
    const MessageSink sink = [&](gsl::span<const std::uint8_t> span) {
        const Bytes m(span.begin(), span.end());
        const EncoderCounters& now = enc.counters();
        const Carried wire = decoder.message(m);
        BOOST_TEST_CONTEXT("message " << messages << " (" << m.size() << " bytes)") {
            BOOST_TEST(m.size() <= o.max_message_size);
            BOOST_TEST(now.data_records - before.data_records == wire.records);
            BOOST_TEST(now.data_packets - before.data_packets == wire.packets);
            BOOST_TEST(now.data_octets - before.data_octets == wire.octets);
        }
        summed.records += wire.records;
        summed.packets += wire.packets;
        summed.octets += wire.octets;
        before = now;
        ++messages;
    };
    enc.encode(first, k_now, sink);
    const std::size_t after_first = messages;
    enc.encode_options(ExporterStatistics{}, std::vector<InterfaceInfo>{{2, "eth0", "uplink"}}, k_now, sink);
    BOOST_TEST(messages > after_first);  // options messages carry no flow records: deltas 0
    enc.encode(second, k_now + 1000, sink);

    BOOST_TEST(after_first > 10u);  // the splitting under test really happened
    BOOST_TEST(summed.records == input.records);
    BOOST_TEST(summed.packets == input.packets);
    BOOST_TEST(summed.octets == input.octets);
    BOOST_TEST(enc.counters().data_records == input.records);
    BOOST_TEST(enc.counters().data_packets == input.packets);
    BOOST_TEST(enc.counters().data_octets == input.octets);
}

}  // namespace

BOOST_AUTO_TEST_CASE(ipfix_per_message_packets_and_octets_match_the_wire) { check_per_message_sums(Protocol::ipfix); }

BOOST_AUTO_TEST_CASE(netflow9_per_message_packets_and_octets_match_the_wire) {
    check_per_message_sums(Protocol::netflow9);
}

BOOST_AUTO_TEST_CASE(a_throwing_sink_still_counts_the_message_it_lost) {
    FlowEncoder enc(EncoderOptions{});
    const std::vector<FlowRecord> one{record(1)};
    BOOST_CHECK_THROW(enc.encode(one, k_now, [](gsl::span<const std::uint8_t>) { throw std::runtime_error("x"); }),
                      std::runtime_error);
    BOOST_TEST(enc.counters().data_records == 1u);
    BOOST_TEST(enc.counters().data_packets == record(1).packets);
    BOOST_TEST(enc.counters().data_octets == record(1).bytes);
}
