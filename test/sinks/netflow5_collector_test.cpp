// Netflow5CollectorSink on loopback UDP: every IPv4 record arrives in strict v5
// datagrams (length, count, sequence), with exact totals; IPv6 records are counted as not
// exportable and never sent; datagrams a closed port refuses are counted as not sent with
// the records, packets and octets they carried.
#define BOOST_TEST_MODULE netflow5_collector
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "sinks/netflow5_collector.hpp"

using ebpfix::FlowRecord;
using ebpfix::sinks::CycleContext;
using ebpfix::sinks::Netflow5CollectorSettings;
using ebpfix::sinks::Netflow5CollectorSink;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint64_t start_ms = 1700000000000;

// A bound UDP socket on 127.0.0.1; port 0 picks a free one.
struct Receiver {
    int fd = -1;
    std::uint16_t port = 0;
    explicit Receiver(std::uint16_t bind_port = 0) {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fd < 0) throw std::runtime_error("socket");
        int size = 4 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(bind_port);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("bind: " + std::string(std::strerror(errno)));
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~Receiver() {
        if (fd >= 0) ::close(fd);
    }
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;
    std::vector<Bytes> read_all() const {
        std::vector<Bytes> out;
        Bytes buf(65536);
        for (;;) {
            const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n < 0) break;
            out.emplace_back(buf.begin(), buf.begin() + n);
        }
        return out;
    }
};

std::uint32_t u32(const Bytes& b, std::size_t at) {
    return std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 | std::uint32_t(b[at + 2]) << 8 | b[at + 3];
}
std::uint16_t u16(const Bytes& b, std::size_t at) { return std::uint16_t(b[at] << 8 | b[at + 1]); }

struct Decoded {
    std::uint64_t datagrams = 0, records = 0, packets = 0, octets = 0;
    std::uint32_t next_sequence = 0;
    std::uint16_t sampling = 0;
    std::uint8_t engine_type = 0, engine_id = 0;
    std::vector<std::uint32_t> sources;  // srcaddr of each record
};

// A strict reader: every datagram is version 5, 24 + 48 * count bytes, 1..30 records,
// and its flow_sequence is the number of records before it.
Decoded decode(const std::vector<Bytes>& datagrams) {
    Decoded d;
    for (const Bytes& b : datagrams) {
        BOOST_TEST_REQUIRE(b.size() >= 24u);
        BOOST_TEST_REQUIRE(u16(b, 0) == 5u);
        const std::uint16_t count = u16(b, 2);
        BOOST_TEST_REQUIRE(count >= 1u);
        BOOST_TEST_REQUIRE(count <= 30u);
        BOOST_TEST_REQUIRE(b.size() == 24u + 48u * count);
        BOOST_TEST(u32(b, 16) == d.next_sequence);
        d.next_sequence += count;
        d.engine_type = b[20];
        d.engine_id = b[21];
        d.sampling = u16(b, 22);
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t r = 24 + 48 * i;
            d.sources.push_back(u32(b, r));
            d.packets += u32(b, r + 16);
            d.octets += u32(b, r + 20);
        }
        d.records += count;
        d.datagrams += 1;
    }
    return d;
}

// count records, every third one IPv6.
std::vector<FlowRecord> records(std::size_t count, std::uint64_t now_ms, std::uint32_t first) {
    std::vector<FlowRecord> out(count);
    for (std::size_t i = 0; i < count; ++i) {
        FlowRecord& r = out[i];
        r.key.ip_version = i % 3 == 2 ? 6 : 4;
        r.key.src_addr = ebpfix::FlowKey::mapped_v4(first + std::uint32_t(i));
        r.key.dst_addr = ebpfix::FlowKey::mapped_v4(0xc0a80001u);
        if (r.key.ip_version == 6) {
            r.key.src_addr[0] = 0x20;
            r.key.dst_addr[0] = 0x20;
        }
        r.key.protocol = i % 2 ? 6 : 17;
        r.key.src_port = std::uint16_t(1000 + i);
        r.key.dst_port = 53;
        r.key.ifindex = 2;
        r.packets = 1 + i % 13;
        r.bytes = r.packets * (60 + i % 1400);
        r.start_ms = now_ms - 2000;
        r.end_ms = now_ms - 100;
    }
    return out;
}

struct Totals {
    std::uint64_t records = 0, packets = 0, octets = 0;
    void add(const FlowRecord& r) {
        records += 1;
        packets += r.packets;
        octets += r.bytes;
    }
};

CycleContext context(const std::vector<FlowRecord>& recs, std::uint64_t now_ms) {
    CycleContext ctx;
    ctx.now_ms = now_ms;
    ctx.records = recs;
    return ctx;
}

Netflow5CollectorSettings settings(std::uint16_t port) {
    Netflow5CollectorSettings s;
    s.host = "127.0.0.1";
    s.port = port;
    s.encoder.engine_type = 7;
    s.encoder.engine_id = 42;
    s.encoder.sampling_interval = 100;
    s.encoder.uptime_origin_ms = start_ms;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(ipv4_records_arrive_and_ipv6_are_not_exportable) {
    Receiver rx;
    boost::asio::io_context io;
    Netflow5CollectorSink sink(io, settings(rx.port));
    BOOST_TEST(sink.kind() == "netflow5");
    BOOST_TEST(sink.name() == "127.0.0.1:" + std::to_string(rx.port));
    Totals v4, v6;
    std::vector<std::uint32_t> sent_sources;
    for (int cycle = 0; cycle < 5; ++cycle) {
        const std::uint64_t now = start_ms + 1000 * std::uint64_t(cycle + 1);
        const auto recs = records(70 + 11 * cycle, now, 0x0a000000u + 1000u * std::uint32_t(cycle));
        for (const FlowRecord& r : recs) {
            if (r.key.ip_version == 4) {
                v4.add(r);
                sent_sources.push_back(0x0a000000u + 1000u * std::uint32_t(cycle) + std::uint32_t(&r - recs.data()));
            } else {
                v6.add(r);
            }
        }
        sink.cycle(context(recs, now));
    }
    const auto empty = std::vector<FlowRecord>{};
    sink.cycle(context(empty, start_ms + 9000));  // a cycle without records sends nothing
    BOOST_TEST(!sink.busy());
    const Decoded d = decode(rx.read_all());
    BOOST_TEST(d.records == v4.records);
    BOOST_TEST(d.packets == v4.packets);
    BOOST_TEST(d.octets == v4.octets);
    BOOST_TEST(d.sources == sent_sources, boost::test_tools::per_element());
    BOOST_TEST(d.engine_type == 7u);
    BOOST_TEST(d.engine_id == 42u);
    BOOST_TEST(d.sampling == (0x4000u | 100u));

    const auto c = sink.counters();
    BOOST_TEST(c.records_delivered == v4.records);
    BOOST_TEST(c.messages_delivered == d.datagrams);
    BOOST_TEST(c.records_not_exportable == v6.records);
    BOOST_TEST(v6.records > 0u);
    BOOST_TEST(c.records_not_sent == 0u);
    BOOST_TEST(c.templates_sent == 0u);
    BOOST_TEST(sink.encoder().counters().not_exportable_packets == v6.packets);
    BOOST_TEST(sink.encoder().counters().not_exportable_octets == v6.octets);

    // Its own socket is UDP from a local port to the collector.
    const auto own = sink.own_sockets();
    BOOST_TEST_REQUIRE(own.size() == 1u);
    BOOST_TEST(own[0].forward.protocol == 17u);
    BOOST_TEST(own[0].forward.dst_port == rx.port);
}

BOOST_AUTO_TEST_CASE(refused_datagrams_are_counted_as_not_sent) {
    std::uint16_t port = 0;
    {
        Receiver gone;
        port = gone.port;
    }
    boost::asio::io_context io;
    Netflow5CollectorSink sink(io, settings(port));
    Totals v4, v6;
    for (int cycle = 0; cycle < 4; ++cycle) {
        const std::uint64_t now = start_ms + 1000 * std::uint64_t(cycle + 1);
        const auto recs = records(200, now, 0x0a100000u + 1000u * std::uint32_t(cycle));
        for (const FlowRecord& r : recs) (r.key.ip_version == 4 ? v4 : v6).add(r);
        sink.cycle(context(recs, now));
    }
    const std::uint64_t datagrams = sink.encoder().counters().messages;
    BOOST_TEST_REQUIRE(datagrams > 0u);
    // Loopback reports every refusal; wait (bounded) until all are read.
    const auto empty = std::vector<FlowRecord>{};
    for (int i = 0; i < 2000 && sink.sender().counters().messages_refused < datagrams; ++i) {
        ::usleep(1000);
        sink.cycle(context(empty, start_ms + 10000));
    }
    const auto c = sink.counters();
    BOOST_TEST(sink.sender().counters().refusals_unmatched == 0u);
    BOOST_TEST(sink.sender().counters().messages_refused == datagrams);
    BOOST_TEST(c.records_not_sent == v4.records);
    BOOST_TEST(c.packets_not_sent == v4.packets);
    BOOST_TEST(c.octets_not_sent == v4.octets);
    BOOST_TEST(c.records_delivered == 0u);
    BOOST_TEST(c.records_not_exportable == v6.records);
    BOOST_TEST(c.errors == datagrams);
}

BOOST_AUTO_TEST_CASE(identity_and_bad_settings) {
    Receiver rx;
    boost::asio::io_context io;
    const Netflow5CollectorSink a(io, settings(rx.port));
    Netflow5CollectorSettings other = settings(rx.port);
    BOOST_TEST(Netflow5CollectorSink(io, other).identity() == a.identity());
    other.encoder.engine_id = 43;
    BOOST_TEST(Netflow5CollectorSink(io, other).identity() != a.identity());
    other = settings(rx.port);
    other.encoder.sampling_interval = 200;
    BOOST_TEST(Netflow5CollectorSink(io, other).identity() != a.identity());
    other.encoder.sampling_interval = 0x4000;
    BOOST_CHECK_THROW(Netflow5CollectorSink(io, other), std::invalid_argument);
}
