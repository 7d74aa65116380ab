// TcpCollectorSink against a strict IPFIX-over-TCP reader on loopback (ipfix_tcp_reader.hpp),
// both driven by the test's io_context. Every record the sink is given is checked one by
// one: received exactly once, or counted as not sent, never both; a reader that dies
// mid-run (reset, with a message half read and more in the sink's send queue) and comes
// back; a full buffer dropping its oldest messages; backoff and the connection spacing.
#define BOOST_TEST_MODULE tcp_collector
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "collectors/flow_generator.hpp"
#include "sinks/tcp_collector.hpp"
#include "sinks/ipfix_tcp_reader.hpp"

using namespace ebpfix;
using namespace ebpfix::test;
using namespace std::chrono_literals;
using sinks::TcpCollectorSettings;
using sinks::TcpCollectorSink;
using Totals = IpfixTcpReader::Totals;

namespace {

std::uint64_t wall_ms() {
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// Runs the loop until pred() holds, checking after every handler; false after timeout.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& pred,
               std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        io.restart();
        io.run_one_for(5ms);
    }
    return true;
}

// Runs the loop for at least d (elapsed time is all that is asked of it).
void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
        io.restart();
        io.run_one_until(until);
    }
}

TcpCollectorSettings settings_for(std::uint16_t port, const std::string& host = "127.0.0.1") {
    TcpCollectorSettings s;
    s.host = host;
    s.port = port;
    s.encoder.observation_domain = 4242;
    s.encoder.max_message_size = 1472;
    s.encoder.template_refresh_seconds = 5;  // options cadence
    s.encoder.uptime_origin_ms = wall_ms() - 3600000;
    s.backoff_min = 5ms;
    s.backoff_max = 10s;
    s.min_connect_interval = 0ms;
    s.connect_timeout = 2s;
    return s;
}

// Records with distinct keys (id in the source address and port), IPv4 and IPv6, and
// counters that never wrap a 64-bit sum.
class Records {
public:
    explicit Records(std::uint64_t seed) : rng_(seed) {}

    std::vector<FlowRecord> next(std::size_t count, std::uint64_t now_ms, bool ipv6 = true) {
        std::vector<FlowRecord> out;
        for (std::size_t i = 0; i < count; ++i) {
            const std::uint32_t id = next_id_++;
            FlowRecord r;
            FlowKey& k = r.key;
            k.ip_version = ipv6 && id % 3 == 2 ? 6 : 4;
            if (k.ip_version == 4) {
                k.src_addr = FlowKey::mapped_v4(0x0a000000u | (id >> 16));
                k.dst_addr = FlowKey::mapped_v4(0xc0a80001u);
            } else {
                k.src_addr = {0x20, 0x01, 0x0d, 0xb8};
                k.src_addr[12] = std::uint8_t(id >> 24);
                k.src_addr[13] = std::uint8_t(id >> 16);
                k.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
            }
            k.src_port = std::uint16_t(id);
            k.dst_port = 443;
            k.protocol = id % 2 ? 6 : 17;
            k.ifindex = 2;
            k.direction = id % 4 == 0 ? Direction::egress : Direction::ingress;
            r.packets = 1 + rng_() % 5000;
            r.bytes = r.packets * (40 + rng_() % 1461);
            r.start_ms = now_ms - 1000 - rng_() % 60000;
            r.end_ms = now_ms - rng_() % 1000;
            r.tcp_flags = k.protocol == 6 ? std::uint16_t(rng_() % 256) : 0;
            r.tos = std::uint8_t(rng_() % 256);
            r.end_reason = EndReason::idle_timeout;
            out.push_back(r);
            order_[carried_fields(r)] = given_.size();
            given_.push_back(r);
        }
        return out;
    }

    const std::vector<FlowRecord>& given() const noexcept { return given_; }
    Totals totals() const { return IpfixTcpReader::totals_of(given_); }
    // Position of a received record in what was given; throws when it was never given.
    std::size_t index_of(const FlowRecord& r) const {
        auto it = order_.find(carried_fields(r));
        if (it == order_.end()) throw std::runtime_error("received a record never given: " + describe(r));
        return it->second;
    }

private:
    std::mt19937_64 rng_;
    std::uint32_t next_id_ = 1;
    std::vector<FlowRecord> given_;
    std::map<decltype(carried_fields(FlowRecord{})), std::size_t> order_;
};

// The daemon's side of a cycle.
class Cycles {
public:
    Cycles(TcpCollectorSink& sink, std::uint64_t start_ms) : sink_(sink), now_ms_(start_ms) {}

    void run(const std::vector<FlowRecord>& records, bool final = false) {
        now_ms_ += 1000;
        sinks::CycleSummary summary;
        sinks::CycleContext ctx;
        ctx.now_ms = now_ms_;
        ctx.records = records;
        ctx.totals = &totals_;
        ctx.summary = &summary;
        ctx.interfaces = interfaces_;
        ctx.final = final;
        sink_.cycle(ctx);
    }
    std::uint64_t now_ms() const noexcept { return now_ms_ + 1000; }  // of the next cycle

private:
    TcpCollectorSink& sink_;
    std::uint64_t now_ms_;
    sinks::ExporterTotals totals_;
    std::vector<ipfix::InterfaceInfo> interfaces_{{1, "lo", "loopback"}, {2, "eth0", "uplink"}};
};

Totals not_sent(const sinks::SinkCounters& c) { return {c.records_not_sent, c.packets_not_sent, c.octets_not_sent}; }
Totals plus(Totals a, const Totals& b) {
    a.records += b.records;
    a.packets += b.packets;
    a.octets += b.octets;
    return a;
}

std::vector<FlowRecord> all_flows(const IpfixTcpReader& reader) {
    std::vector<FlowRecord> out;
    for (const auto& c : reader.connections()) out.insert(out.end(), c.flows.begin(), c.flows.end());
    return out;
}

// Each received record was given, exactly as given, once; returns which were received.
std::vector<bool> check_received(const Records& records, const IpfixTcpReader& reader) {
    std::vector<bool> seen(records.given().size(), false);
    for (const FlowRecord& r : all_flows(reader)) {
        std::size_t i = 0;
        BOOST_REQUIRE_NO_THROW(i = records.index_of(r));
        BOOST_TEST(!seen[i], "record received twice: " << describe(r));
        seen[i] = true;
    }
    return seen;
}

void check_reader_clean(const IpfixTcpReader& reader) {
    for (const std::string& e : reader.errors()) BOOST_ERROR("reader: " << e);
}

// What the sink counted is exactly what the reader got; the rest was counted as not sent.
void check_exact(const Records& records, const IpfixTcpReader& reader, const TcpCollectorSink& sink) {
    const sinks::SinkCounters c = sink.counters();
    const Totals got = reader.totals();
    BOOST_TEST(c.records_delivered == got.records);
    BOOST_TEST(c.records_queued == 0u);
    BOOST_TEST((plus(got, not_sent(c)) == records.totals()), "received + not sent = " << got.records + c.records_not_sent
                                                                 << " records, given " << records.totals().records);
    // Which records were lost: exactly the ones not received, with what they counted.
    const std::vector<bool> seen = check_received(records, reader);
    std::vector<FlowRecord> lost;
    for (std::size_t i = 0; i < seen.size(); ++i)
        if (!seen[i]) lost.push_back(records.given()[i]);
    BOOST_TEST((IpfixTcpReader::totals_of(lost) == not_sent(c)));
}

}  // namespace

BOOST_AUTO_TEST_CASE(delivers_every_record_templates_first_sequence_from_zero) {
    boost::asio::io_context io;
    IpfixTcpReader reader(io, {});
    TcpCollectorSettings s = settings_for(reader.port());
    TcpCollectorSink sink(io, s);
    BOOST_TEST(sink.kind() == "ipfix-tcp");
    BOOST_TEST(sink.name() == "127.0.0.1:" + std::to_string(reader.port()));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.connected(); }));

    // The export connection is ebpfix's own traffic: its 5-tuple, protocol 6.
    const auto own = sink.own_sockets();
    BOOST_TEST_REQUIRE(own.size() == 1u);
    BOOST_TEST(own[0].forward.protocol == 6);
    BOOST_TEST(own[0].forward.ip_version == 4);
    BOOST_TEST(own[0].forward.dst_port == reader.port());
    BOOST_TEST(FlowKey::v4_of(own[0].forward.src_addr) == 0x7f000001u);
    BOOST_TEST(FlowKey::v4_of(own[0].forward.dst_addr) == 0x7f000001u);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return reader.connections().size() == 1; }));
    BOOST_TEST(own[0].forward.src_port == reader.connections()[0].peer_port);

    Records records(1);
    Cycles cycles(sink, wall_ms());
    for (int i = 0; i < 12; ++i) {
        cycles.run(records.next(150 + 37 * std::size_t(i), cycles.now_ms()));
        io.poll();
    }
    cycles.run(records.next(10, cycles.now_ms()), true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.busy() && reader.all_ended(); }));

    check_reader_clean(reader);
    BOOST_TEST_REQUIRE(reader.connections().size() == 1u);
    const ReaderConnection& c = reader.connections()[0];
    BOOST_TEST((c.end == ReaderConnection::End::eof));  // the sink shut the connection down
    BOOST_TEST(c.partial_bytes == 0u);
    BOOST_TEST(c.first_sequence == 0u);
    BOOST_TEST(c.first_message_templates > 0u);
    BOOST_TEST((reader.totals() == records.totals()));
    check_exact(records, reader, sink);
    const sinks::SinkCounters k = sink.counters();
    BOOST_TEST(k.records_not_sent == 0u);
    BOOST_TEST(k.messages_not_sent == 0u);
    BOOST_TEST(k.messages_delivered == c.messages);
    BOOST_TEST(k.errors == 0u);
    // Each template once, on the only connection (a second one is a reader error).
    BOOST_TEST(k.templates_sent == c.template_records);
    BOOST_TEST(c.template_records > 2u);
    // Options: at the start, every 5 s of cycles and at the end; the interface table each time.
    BOOST_TEST(c.interface_records >= 3u * 2u);
    BOOST_TEST(c.interface_records % 2u == 0u);
    // The collector closed its end after the sink's: the socket is gone, no reconnect.
    BOOST_TEST(run_until(io, [&] { return sink.own_sockets().empty(); }));
    run_for(io, 20ms);
    BOOST_TEST(sink.connections() == 1u);
}

BOOST_AUTO_TEST_CASE(large_messages_over_ipv6_loopback) {
    boost::asio::io_context io;
    IpfixTcpReader::Options ro;
    ro.address = "::1";
    IpfixTcpReader reader(io, ro);
    TcpCollectorSettings s = settings_for(reader.port(), "::1");
    s.encoder.max_message_size = 65000;  // TCP frames by Length: any valid size (10.4.3)
    s.encoder.sampling_interval = 10;
    TcpCollectorSink sink(io, s);
    BOOST_TEST(sink.name() == "[::1]:" + std::to_string(reader.port()));
    Records records(2);
    Cycles cycles(sink, wall_ms());
    for (int i = 0; i < 4; ++i) cycles.run(records.next(3000, cycles.now_ms()));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.connected(); }));
    const auto own = sink.own_sockets();
    BOOST_TEST_REQUIRE(own.size() == 1u);
    BOOST_TEST(own[0].forward.ip_version == 6);
    BOOST_TEST(own[0].forward.protocol == 6);
    cycles.run(records.next(5, cycles.now_ms()), true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.busy() && reader.all_ended(); }));
    check_reader_clean(reader);
    BOOST_TEST((reader.totals() == records.totals()));
    check_exact(records, reader, sink);
    // Sampling on: its options templates too, each once.
    BOOST_TEST(sink.counters().templates_sent == reader.connections().at(0).template_records);
}

// The reader dies between cycles (nothing in flight) and comes back: messages made while
// it was away wait, then follow the new connection's templates, numbered from 0.
BOOST_AUTO_TEST_CASE(collector_restart_reconnects_with_backoff_and_loses_nothing_queued) {
    boost::asio::io_context io;
    IpfixTcpReader reader(io, {});
    TcpCollectorSettings s = settings_for(reader.port());
    TcpCollectorSink sink(io, s);
    Records records(3);
    Cycles cycles(sink, wall_ms());
    for (int i = 0; i < 5; ++i) cycles.run(records.next(200, cycles.now_ms()));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.busy() && reader.totals() == records.totals(); }));

    reader.kill();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.connected(); }));
    for (int i = 0; i < 5; ++i) cycles.run(records.next(200, cycles.now_ms()));
    // Refused attempts, each waiting twice as long as the one before.
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.failed_attempts() >= 4; }));
    BOOST_TEST(sink.counters().records_queued == 1000u);
    // After the loss (5 ms) and four refusals: 5 * 2^5.
    BOOST_TEST(sink.backoff().count() == (5ms * 32).count());
    BOOST_TEST(sink.own_sockets().size() <= 1u);

    reader.listen();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.connections() == 2 && !sink.busy(); }));
    cycles.run(records.next(50, cycles.now_ms()), true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.busy() && reader.all_ended(); }));

    check_reader_clean(reader);
    BOOST_TEST_REQUIRE(reader.connections().size() == 2u);
    for (const ReaderConnection& c : reader.connections()) {
        BOOST_TEST(c.first_sequence == 0u);
        BOOST_TEST(c.first_message_templates > 0u);
        BOOST_TEST(c.partial_bytes == 0u);
    }
    BOOST_TEST((reader.connections()[1].end == ReaderConnection::End::eof));
    BOOST_TEST(reader.connections()[1].flows.size() == 1050u);  // what waited, then the last cycle
    BOOST_TEST((reader.totals() == records.totals()));
    check_exact(records, reader, sink);
    BOOST_TEST(sink.counters().messages_not_sent == 0u);
    BOOST_TEST(sink.counters().errors == 1u + sink.failed_attempts());
}

// The reader stops reading, so the sink's writes stall with a message half written and
// more in its kernel send queue; then it dies. The sink counts as delivered exactly what
// the reader's kernel had acknowledged, the rest of the connection as not sent, and
// sends what was still buffered on the next connection.
BOOST_AUTO_TEST_CASE(partial_and_unacknowledged_messages_are_counted_not_sent) {
    boost::asio::io_context io;
    IpfixTcpReader::Options ro;
    ro.receive_buffer = 4096;
    ro.paused = true;
    IpfixTcpReader reader(io, ro);
    TcpCollectorSettings s = settings_for(reader.port());
    TcpCollectorSink sink(io, s);
    Records records(4);
    Cycles cycles(sink, wall_ms());
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.connected(); }));
    cycles.run(records.next(20000, cycles.now_ms()));

    // Wait until nothing moves: the reader's window is closed.
    std::size_t stable = 0;
    auto last = std::tuple(std::size_t(0), std::uint64_t(0), std::uint64_t(0));
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (stable < 5 && std::chrono::steady_clock::now() < deadline) {
        run_for(io, 20ms);
        const auto c = sink.counters();
        const auto now = std::tuple(reader.available(), c.bytes_delivered, c.records_queued);
        stable = now == last ? stable + 1 : 0;
        last = now;
    }
    BOOST_TEST_REQUIRE(stable == 5u);
    BOOST_TEST_REQUIRE(reader.available() > 0u);
    BOOST_TEST_REQUIRE(sink.counters().records_queued > 0u);

    reader.kill();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.connected(); }));
    {
        const sinks::SinkCounters c = sink.counters();
        const ReaderConnection& first = reader.connections().at(0);
        // Delivered = acknowledged by the reader's kernel = what the reader holds whole.
        BOOST_TEST(c.records_delivered == first.flows.size());
        BOOST_TEST(c.messages_delivered == first.messages);
        BOOST_TEST(c.messages_not_sent >= 1u);  // the one cut off, and the unacknowledged ones
        BOOST_TEST(c.records_not_sent > 0u);
        BOOST_TEST(c.records_delivered + c.records_not_sent + c.records_queued == records.given().size());
    }

    reader.set_paused(false);
    reader.listen();
    cycles.run(records.next(100, cycles.now_ms()), true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.busy() && reader.all_ended(); }, 30s));
    check_reader_clean(reader);
    BOOST_TEST_REQUIRE(reader.connections().size() == 2u);
    BOOST_TEST((reader.connections()[0].end == ReaderConnection::End::killed));
    BOOST_TEST((reader.connections()[1].end == ReaderConnection::End::eof));
    BOOST_TEST(reader.connections()[1].first_sequence == 0u);
    check_exact(records, reader, sink);
    // Sequence numbers of the second connection count only what it carried: the reader's
    // decoder checked each; no record arrived twice (check_exact).
}

// With no collector, the buffer keeps the newest messages: the oldest are dropped and
// counted with exactly what they carried, and options are not queued for nobody.
BOOST_AUTO_TEST_CASE(full_buffer_drops_the_oldest_messages_and_counts_them) {
    boost::asio::io_context io;
    IpfixTcpReader::Options ro;
    ro.listening = false;  // bound, refusing
    IpfixTcpReader reader(io, ro);
    TcpCollectorSettings s = settings_for(reader.port());
    s.max_buffer_bytes = 16 << 10;
    s.backoff_max = 20ms;
    TcpCollectorSink sink(io, s);
    Records records(5);
    Cycles cycles(sink, wall_ms());
    for (int i = 0; i < 12; ++i) {
        cycles.run(records.next(60, cycles.now_ms(), false));
        run_until(io, [&] { return sink.failed_attempts() > std::uint64_t(i); }, 1s);
        // Bounded: 16 KiB of 64-byte records, less headers.
        BOOST_TEST(sink.counters().records_queued <= (16u << 10) / 64u);
    }
    BOOST_TEST(sink.counters().records_not_sent > 0u);
    BOOST_TEST(sink.counters().messages_not_sent > 0u);
    BOOST_TEST(!sink.connected());

    reader.listen();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.connected(); }));
    cycles.run({}, true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.busy() && reader.all_ended(); }));
    check_reader_clean(reader);
    check_exact(records, reader, sink);
    // Oldest first: every record lost was given before every record received.
    const std::vector<bool> seen = check_received(records, reader);
    const auto first_seen = std::find(seen.begin(), seen.end(), true);
    BOOST_TEST_REQUIRE((first_seen != seen.end()));
    BOOST_TEST((std::find(first_seen, seen.end(), false) == seen.end()));
    BOOST_TEST(std::size_t(first_seen - seen.begin()) == sink.counters().records_not_sent);
    // The last exporting-reliability options report every record dropped (RFC 7011 4.3).
    BOOST_TEST(reader.connections().at(0).last_not_sent_flows == sink.counters().records_not_sent);
}

// A collector that closes its end (FIN) is done with the connection: the sink reconnects.
BOOST_AUTO_TEST_CASE(collector_closing_its_end_makes_the_sink_reconnect) {
    boost::asio::io_context io;
    IpfixTcpReader reader(io, {});
    TcpCollectorSink sink(io, settings_for(reader.port()));
    Records records(6);
    Cycles cycles(sink, wall_ms());
    cycles.run(records.next(300, cycles.now_ms()));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.busy() && reader.totals() == records.totals(); }));
    reader.kill(true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.connections() == 2 && sink.connected(); }));
    cycles.run(records.next(300, cycles.now_ms()), true);
    // The kernel completes the handshake before the reader accepts: wait for both.
    BOOST_TEST_REQUIRE(run_until(io, [&] {
        return !sink.busy() && reader.connections().size() == 2u && reader.all_ended();
    }));
    check_reader_clean(reader);
    BOOST_TEST_REQUIRE(reader.connections().size() == 2u);
    BOOST_TEST((reader.connections()[0].end == ReaderConnection::End::closed));
    BOOST_TEST(reader.connections()[1].first_sequence == 0u);
    BOOST_TEST((reader.totals() == records.totals()));
    check_exact(records, reader, sink);
}

// A collector that takes no connection (its accept queue is full, so SYNs go unanswered):
// the attempt is given up after connect_timeout, and tried again.
BOOST_AUTO_TEST_CASE(a_silent_collector_times_the_connect_out) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor full(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    full.listen(0);
    const std::uint16_t port = full.local_endpoint().port();
    boost::asio::ip::tcp::socket first(io);
    first.connect({boost::asio::ip::make_address("127.0.0.1"), port});  // fills the queue
    TcpCollectorSettings s = settings_for(port);
    s.connect_timeout = 200ms;
    TcpCollectorSink sink(io, s);
    // While connecting, the SYN's 5-tuple is already ebpfix's own traffic.
    const auto own = sink.own_sockets();
    BOOST_TEST_REQUIRE(own.size() == 1u);
    BOOST_TEST(own[0].forward.dst_port == port);
    BOOST_TEST(own[0].forward.src_port != 0);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.failed_attempts() >= 2; }, 5s));
    BOOST_TEST(!sink.connected());
    BOOST_TEST(sink.connections() == 0u);
    BOOST_TEST(sink.counters().errors == sink.failed_attempts());
}

BOOST_AUTO_TEST_CASE(backoff_doubles_to_its_cap_and_resets_after_a_long_connection) {
    boost::asio::io_context io;
    IpfixTcpReader::Options ro;
    ro.listening = false;
    IpfixTcpReader reader(io, ro);
    TcpCollectorSettings s = settings_for(reader.port());
    s.backoff_min = 10ms;
    s.backoff_max = 80ms;
    TcpCollectorSink sink(io, s);
    for (std::uint64_t k = 1; k <= 5; ++k) {
        BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.failed_attempts() == k; }));
        BOOST_TEST(sink.backoff().count() == std::min<std::int64_t>(10 << k, 80));
    }
    reader.listen();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.connected(); }));
    run_for(io, 100ms);  // longer than backoff_max
    reader.kill();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.connected(); }));
    BOOST_TEST(sink.backoff().count() == 20);  // reset to 10 ms, the next one doubled
}

BOOST_AUTO_TEST_CASE(attempts_are_spaced_by_min_connect_interval) {
    boost::asio::io_context io;
    IpfixTcpReader::Options ro;
    ro.listening = false;
    IpfixTcpReader reader(io, ro);
    TcpCollectorSettings s = settings_for(reader.port());
    s.backoff_min = 1ms;
    s.backoff_max = 1ms;
    s.min_connect_interval = 300ms;
    TcpCollectorSink sink(io, s);
    std::vector<std::chrono::steady_clock::time_point> failures;
    for (std::uint64_t k = 1; k <= 3; ++k) {
        BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.failed_attempts() == k; }, 5s));
        failures.push_back(std::chrono::steady_clock::now());
    }
    // Each refusal comes back within a loopback round trip of its attempt.
    for (std::size_t i = 1; i < failures.size(); ++i) BOOST_TEST((failures[i] - failures[i - 1] >= 250ms));
    BOOST_TEST(TcpCollectorSettings{}.min_connect_interval.count() == 60000);  // RFC 7011 10.4.4 default
}

BOOST_AUTO_TEST_CASE(settings_that_cannot_work_are_refused) {
    boost::asio::io_context io;
    TcpCollectorSettings s = settings_for(4739);
    s.encoder.protocol = ipfix::Protocol::netflow9;
    BOOST_CHECK_THROW(TcpCollectorSink(io, s), std::invalid_argument);
    s = settings_for(4739);
    s.max_buffer_bytes = 2000;
    BOOST_CHECK_THROW(TcpCollectorSink(io, s), std::invalid_argument);
    s = settings_for(4739);
    s.backoff_max = 1ms;
    BOOST_CHECK_THROW(TcpCollectorSink(io, s), std::invalid_argument);
    s = settings_for(0);
    BOOST_CHECK_THROW(TcpCollectorSink(io, s), std::invalid_argument);
    s = settings_for(4739);
    s.encoder.observation_domain = 0;  // the encoder's own check
    BOOST_CHECK_THROW(TcpCollectorSink(io, s), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(identity_names_every_setting) {
    boost::asio::io_context io;
    IpfixTcpReader::Options ro;
    ro.listening = false;
    IpfixTcpReader reader(io, ro), other(io, ro);
    const TcpCollectorSettings base = settings_for(reader.port());
    const std::string id = TcpCollectorSink(io, base).identity();
    std::vector<std::function<void(TcpCollectorSettings&)>> changes{
        [](auto& s) { s.host = "::1"; },
        [&](auto& s) { s.port = other.port(); },
        [](auto& s) { s.encoder.observation_domain += 1; },
        [](auto& s) { s.encoder.max_message_size += 1; },
        [](auto& s) { s.encoder.template_refresh_seconds += 1; },
        [](auto& s) { s.encoder.sampling_interval = 100; },
        [](auto& s) { s.encoder.uptime_origin_ms += 1; },
        [](auto& s) { s.max_buffer_bytes += 1; },
        [](auto& s) { s.backoff_min += 1ms; },
        [](auto& s) { s.backoff_max += 1ms; },
        [](auto& s) { s.min_connect_interval += 1ms; },
        [](auto& s) { s.connect_timeout += 1ms; },
        [](auto& s) { s.unacked_timeout += 1ms; },
    };
    for (std::size_t i = 0; i < changes.size(); ++i) {
        TcpCollectorSettings s = base;
        changes[i](s);
        BOOST_TEST(TcpCollectorSink(io, s).identity() != id, "change " << i << " leaves the identity " << id);
    }
}
