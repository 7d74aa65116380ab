// UdpCollectorSink on loopback with the options of issue 15: a biflow collector next to a
// uniflow one carries exactly the same packets and octets (forward + reverse counts), in
// biflow templates; with attribution on, owned records go in the attribution templates
// (with the enterprise IEs under a PEN), the others stay in the plain ones.
#define BOOST_TEST_MODULE udp_collector
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "attribution/owners.hpp"
#include "collectors/flow_decoder.hpp"
#include "sinks/udp_collector.hpp"

using ebpfix::FlowRecord;
using ebpfix::sinks::CycleContext;
using ebpfix::sinks::UdpCollectorSettings;
using ebpfix::sinks::UdpCollectorSink;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint64_t now_ms = 1700000005000;

struct Receiver {
    int fd = -1;
    std::uint16_t port = 0;
    Receiver() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fd < 0) throw std::runtime_error("socket");
        int size = 4 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("bind: " + std::string(std::strerror(errno)));
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~Receiver() { ::close(fd); }
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

// Connections in both directions (and some one-way flows), IPv4 and IPv6, on device 3.
std::vector<FlowRecord> records() {
    std::vector<FlowRecord> out;
    for (std::uint32_t i = 0; i < 60; ++i) {
        FlowRecord r;
        r.key.ip_version = i % 4 == 3 ? 6 : 4;
        r.key.src_addr = ebpfix::FlowKey::mapped_v4(0x0a000001u + i);
        r.key.dst_addr = ebpfix::FlowKey::mapped_v4(0x0a010001u);
        if (r.key.ip_version == 6) {
            r.key.src_addr[0] = 0x20;
            r.key.dst_addr[0] = 0x20;
        }
        r.key.protocol = i % 2 ? 6 : 17;
        r.key.src_port = std::uint16_t(40000 + i);
        r.key.dst_port = 443;
        r.key.ifindex = 3;
        r.key.direction = ebpfix::Direction::egress;
        r.key.owner = i % 5 == 0 ? 0 : 1000 + i;  // every fifth without an owner
        r.packets = 3 + i % 7;
        r.bytes = r.packets * (100 + 13 * i);
        r.start_ms = now_ms - 3000 + i;
        r.end_ms = now_ms - 500;
        r.tcp_flags = r.key.protocol == 6 ? 0x02 : 0;
        out.push_back(r);
        if (i % 3 == 0) continue;  // one-way
        FlowRecord back = r;
        std::swap(back.key.src_addr, back.key.dst_addr);
        std::swap(back.key.src_port, back.key.dst_port);
        back.key.direction = ebpfix::Direction::ingress;
        back.packets = 1 + i % 5;
        back.bytes = back.packets * (60 + 7 * i);
        back.start_ms = r.start_ms + 1;
        back.tcp_flags = r.key.protocol == 6 ? 0x12 : 0;
        out.push_back(back);
    }
    return out;
}

struct Sums {
    std::uint64_t records = 0, packets = 0, octets = 0;
    std::set<std::uint16_t> templates;
};

Sums decode(const std::vector<Bytes>& datagrams) {
    using ebpfix::test::kReversePen;
    ebpfix::test::FlowDecoder decoder(ebpfix::ipfix::Protocol::ipfix);
    Sums s;
    for (const Bytes& d : datagrams) {
        const auto m = decoder.decode(d);
        for (const auto& f : m.flows) {
            s.records += 1;
            s.templates.insert(f.template_id);
            s.octets += f.uint(1);
            s.packets += f.uint(2);
            if (f.has_enterprise(kReversePen, 1)) s.octets += f.enterprise_uint(kReversePen, 1);
            if (f.has_enterprise(kReversePen, 2)) s.packets += f.enterprise_uint(kReversePen, 2);
        }
    }
    return s;
}

UdpCollectorSettings settings(std::uint16_t port) {
    UdpCollectorSettings s;
    s.host = "127.0.0.1";
    s.port = port;
    s.encoder.uptime_origin_ms = now_ms - 60000;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(biflows_carry_the_totals_of_the_uniflows) {
    Receiver uni_rx, bi_rx;
    boost::asio::io_context io;
    UdpCollectorSink uni(io, settings(uni_rx.port));
    UdpCollectorSettings bs = settings(bi_rx.port);
    bs.encoder.biflow = true;
    UdpCollectorSink bi(io, bs);
    BOOST_TEST(uni.identity() != bi.identity());

    const std::vector<FlowRecord> recs = records();
    std::uint64_t packets = 0, octets = 0;
    for (const FlowRecord& r : recs) {
        packets += r.packets;
        octets += r.bytes;
    }
    CycleContext ctx;
    ctx.now_ms = now_ms;
    ctx.records = recs;
    ebpfix::sinks::ExporterTotals totals;
    ctx.totals = &totals;
    uni.cycle(ctx);
    bi.cycle(ctx);

    const Sums u = decode(uni_rx.read_all());
    const Sums b = decode(bi_rx.read_all());
    BOOST_TEST(u.records == recs.size());
    BOOST_TEST(u.packets == packets);
    BOOST_TEST(u.octets == octets);
    BOOST_TEST(b.packets == u.packets);
    BOOST_TEST(b.octets == u.octets);
    BOOST_TEST(b.records == ebpfix::ipfix::pair_biflows(recs).size());
    BOOST_TEST(b.records < u.records);
    BOOST_TEST((b.templates == std::set<std::uint16_t>{268, 269}));
    BOOST_TEST((u.templates == std::set<std::uint16_t>{256, 257}));
    BOOST_TEST(bi.counters().records_delivered == b.records);
}

BOOST_AUTO_TEST_CASE(attribution_puts_owned_records_in_their_templates) {
    const ebpfix::attribution::Owner owner{1000u, "alice", 4242u, "curl", 77u, "/user.slice"};
    const std::vector<FlowRecord> recs = records();
    for (std::uint32_t pen : {0u, 32473u}) {
        Receiver rx;
        boost::asio::io_context io;
        UdpCollectorSettings s = settings(rx.port);
        s.encoder.attribution = true;
        s.encoder.enterprise_number = pen;
        UdpCollectorSink sink(io, s);
        CycleContext ctx;
        ctx.now_ms = now_ms;
        ctx.records = recs;
        ebpfix::sinks::ExporterTotals totals;
        ctx.totals = &totals;
        ctx.owner = [&](std::uint64_t cookie) -> const ebpfix::attribution::Owner* {
            return cookie != 0 ? &owner : nullptr;
        };
        sink.cycle(ctx);
        const Sums got = decode(rx.read_all());
        BOOST_TEST(got.records == recs.size());
        const std::set<std::uint16_t> expected =
            pen == 0 ? std::set<std::uint16_t>{256, 257, 264, 265} : std::set<std::uint16_t>{256, 257, 266, 267};
        BOOST_TEST((got.templates == expected), "pen " << pen);
    }
}

// A message size left at its default fits a 1500-byte path for the collector's family:
// 1472 over IPv4, 1452 over IPv6 (20 more header bytes); one the user chose stays.
BOOST_AUTO_TEST_CASE(default_message_size_follows_the_collector_family) {
    boost::asio::io_context io;
    auto size_for = [&](const std::string& host, bool default_size) {
        UdpCollectorSettings s;
        s.host = host;
        s.port = 4739;  // connected UDP sockets send nothing here: nothing is exported
        s.default_message_size = default_size;
        UdpCollectorSink sink(io, s);
        return sink.encoder().options().max_message_size;
    };
    BOOST_TEST(size_for("127.0.0.1", true) == 1472u);
    BOOST_TEST(size_for("::1", true) == ebpfix::sinks::ipv6_max_message_size);
    BOOST_TEST(size_for("::1", false) == 1472u);
    BOOST_TEST(size_for("::ffff:127.0.0.1", true) == 1472u);
}
