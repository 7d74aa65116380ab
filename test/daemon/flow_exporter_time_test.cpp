// Time fields end to end through the daemon's core (kernel program -> flow table ->
// encoders -> UDP), with an injected kernel-to-wall clock: NetFlow v9 sysUptime and
// FIRST/LAST_SWITCHED count from the exporter's start (not from 1970, which wraps the
// 32-bit uptime for every exporter at once, next on 2027-01-10 14:28:17 UTC), IPFIX
// systemInitTimeMilliseconds and the reliability interval start are that start, and a
// step of the wall clock (NTP, suspend) moves the times of the records after it.
#define BOOST_TEST_MODULE flow_exporter_time
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "../bpf/frames.hpp"
#include "bpf/flow_program.hpp"
#include "bpf/packet_runner.hpp"
#include "collectors/flow_decoder.hpp"
#include "config/config.hpp"
#include "daemon/flow_exporter.hpp"
#include "daemon/outputs.hpp"
#include "support/netns.hpp"
#include "support/root_guard.hpp"

using namespace ebpfix;
using namespace ebpfix::test;

namespace {

constexpr std::uint64_t ms = 1'000'000;
// 2^32 ms after 1970 wraps at 1970 + k * 49.7 days; this is the one of 2027-01-10.
constexpr std::uint64_t wrap_ms = 42ull * 4294967296ull;

struct Receiver {
    int fd = -1;
    std::uint16_t port = 0;
    Receiver() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~Receiver() { ::close(fd); }
    std::vector<Bytes> take() {
        std::vector<Bytes> out;
        Bytes buf(65536);
        for (ssize_t n; (n = ::recv(fd, buf.data(), buf.size(), 0)) > 0;) out.emplace_back(buf.begin(), buf.begin() + n);
        return out;
    }
};

struct Fixture {
    Fixture() {
        require_root("flow_exporter_time (loads BPF)");
        enter_private_netns();
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Fixture);

config::CollectorConfig collector(std::uint16_t port, ipfix::Protocol protocol) {
    config::CollectorConfig c;
    c.host = "127.0.0.1";
    c.port = port;
    c.encoder.protocol = protocol;
    return c;
}

Bytes udp_frame(std::uint16_t sport) { return cat({eth(0x0800), ipv4(Ip4{}, 8 + 10), udp(sport, 2055, 10)}); }

}  // namespace

BOOST_AUTO_TEST_CASE(v9_uptime_and_ipfix_init_time_count_from_the_exporter_start) {
    Receiver v9_rx, ipfix_rx;
    config::Config cfg;
    cfg.log_format = config::OutputFormat::none;
    cfg.collectors = {collector(v9_rx.port, ipfix::Protocol::netflow9), collector(ipfix_rx.port, ipfix::Protocol::ipfix)};
    bpf::ProgramOptions po;
    po.map_entries = 1024;
    po.time_from_packet = true;  // packet times are the kernel times given below
    bpf::FlowProgram program(po);
    boost::asio::io_context io;

    // Kernel clock K maps to wall clock K + offset. The exporter started 10 s before the
    // 32-bit wrap; a flow runs across it.
    const std::uint64_t k0 = 1'000'000 * ms;  // some kernel time
    const std::uint64_t start_ms = wrap_ms - 10'000;
    std::int64_t offset_ns = std::int64_t((start_ms + 2'000) * ms) - std::int64_t(k0);  // k0 is 2 s after the start
    daemon::FlowExporter exporter(
        program, cfg, [&] { return flow::TimeBase{offset_ns}; }, start_ms, [](std::uint32_t) { return std::string("t0"); },
        [] { return std::vector<ipfix::InterfaceInfo>{}; },
        [&io](const config::Config& c, std::uint64_t start, const daemon::FlowExporter::Running& running) {
            return daemon::build_outputs(io, c, start, running);
        });
    const int fd = program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet);
    auto run_at = [&](std::uint64_t kernel_ns, std::uint16_t sport) {
        bpf::PacketRunOptions run;
        run.tstamp_ns = kernel_ns;
        bpf::run_packet(fd, udp_frame(sport), run);
    };
    auto wall_ms_of = [&](std::uint64_t kernel_ns) { return std::uint64_t(std::int64_t(kernel_ns) + offset_ns) / ms; };

    // Packets 6 s and 9 s after k0: wall times 8 s before and 1 s after the wrap.
    run_at(k0 + 6'000 * ms, 1000);
    run_at(k0 + 9'000 * ms, 1000);
    const std::uint64_t first_wall = wall_ms_of(k0 + 6'000 * ms), last_wall = wall_ms_of(k0 + 9'000 * ms);
    exporter.cycle(k0 + 9'500 * ms, wall_ms_of(k0 + 9'500 * ms));
    exporter.finish(wall_ms_of(k0 + 10'000 * ms));
    io.poll();

    FlowDecoder v9(ipfix::Protocol::netflow9), ix(ipfix::Protocol::ipfix);
    std::size_t v9_flows = 0, ipfix_flows = 0;
    bool saw_init = false, saw_interval = false;
    for (const Bytes& m : v9_rx.take()) {
        const DecodedMessage d = v9.decode(m);
        // sysUptime: ms since the exporter's start, small and far from the wrap.
        // (Export Time has whole seconds: sysUptime lies within a second after it.)
        const std::int64_t expected = std::int64_t(d.export_time_s) * 1000 - std::int64_t(start_ms);
        BOOST_TEST(std::int64_t(d.sys_uptime_ms) >= expected);
        BOOST_TEST(std::int64_t(d.sys_uptime_ms) < expected + 1000);
        BOOST_TEST(d.sys_uptime_ms < 60'000u);
        for (const DecodedRecord& r : d.flows) {
            ++v9_flows;
            BOOST_TEST(r.uint(22) == first_wall - start_ms);  // FIRST_SWITCHED
            BOOST_TEST(r.uint(21) == last_wall - start_ms);   // LAST_SWITCHED
            BOOST_TEST(r.uint(22) <= r.uint(21));
        }
    }
    for (const Bytes& m : ipfix_rx.take()) {
        const DecodedMessage d = ix.decode(m);
        for (const DecodedRecord& r : d.flows) {
            ++ipfix_flows;
            BOOST_TEST(r.uint(152) == first_wall);  // flowStartMilliseconds
            BOOST_TEST(r.uint(153) == last_wall);   // flowEndMilliseconds
        }
        for (const DecodedRecord& r : d.options) {
            if (r.has(160)) {  // systemInitTimeMilliseconds
                BOOST_TEST(r.uint(160) == start_ms);
                saw_init = true;
            }
            if (r.has(164) || r.has(166)) {  // ignoredPacketTotalCount / notSentFlowTotalCount
                BOOST_TEST(r.uint(323, 0) == start_ms);  // the interval starts at the start
                saw_interval = true;
            }
        }
    }
    BOOST_TEST(v9_flows == 1u);
    BOOST_TEST(ipfix_flows == 1u);
    BOOST_TEST(saw_init);
    BOOST_TEST(saw_interval);
}

BOOST_AUTO_TEST_CASE(a_wall_clock_step_moves_the_records_after_it) {
    Receiver rx;
    config::Config cfg;
    cfg.log_format = config::OutputFormat::none;
    cfg.collectors = {collector(rx.port, ipfix::Protocol::ipfix)};
    bpf::ProgramOptions po;
    po.map_entries = 1024;
    po.time_from_packet = true;
    bpf::FlowProgram program(po);
    boost::asio::io_context io;
    const std::uint64_t k0 = 5'000'000 * ms;
    std::int64_t offset_ns = std::int64_t(1'800'000'000'000 * ms) - std::int64_t(k0);
    daemon::FlowExporter exporter(
        program, cfg, [&] { return flow::TimeBase{offset_ns}; }, 1'800'000'000'000,
        [](std::uint32_t) { return std::string("t0"); }, [] { return std::vector<ipfix::InterfaceInfo>{}; },
        [&io](const config::Config& c, std::uint64_t start, const daemon::FlowExporter::Running& running) {
            return daemon::build_outputs(io, c, start, running);
        });
    const int fd = program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet);
    auto run_at = [&](std::uint64_t kernel_ns, std::uint16_t sport) {
        bpf::PacketRunOptions run;
        run.tstamp_ns = kernel_ns;
        bpf::run_packet(fd, udp_frame(sport), run);
    };

    run_at(k0 + 100 * ms, 1111);
    exporter.cycle(k0 + 200 * ms, 1'800'000'000'200);
    // The wall clock steps forward an hour (the kernel clock does not).
    const std::int64_t step = 3'600'000 * std::int64_t(ms);
    offset_ns += step;
    run_at(k0 + 300 * ms, 2222);
    exporter.finish(1'800'003'600'400);
    io.poll();

    FlowDecoder ix(ipfix::Protocol::ipfix);
    std::map<std::uint16_t, std::uint64_t> start_by_port;
    for (const Bytes& m : rx.take())
        for (const DecodedRecord& r : ix.decode(m).flows) start_by_port[std::uint16_t(r.uint(7))] = r.uint(152);
    BOOST_TEST_REQUIRE(start_by_port.size() == 2u);
    // The flow before the step was exported after it, so both carry the new base: what
    // matters is that no record keeps the start-up base for the life of the process.
    BOOST_TEST(start_by_port[2222] == 1'800'000'000'300u + 3'600'000u);
    BOOST_TEST(start_by_port[1111] == 1'800'000'000'100u + 3'600'000u);
}
