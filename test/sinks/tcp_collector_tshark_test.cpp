// TcpCollectorSink as Wireshark sees it, and name resolution, in a private network
// namespace (root): tcpdump captures the loopback while the sink exports to the strict
// reader, the reader dies with a message half read and comes back, and tshark's cflow
// dissector must decode every message of both TCP connections with no malformed packet
// and no expert error, showing exactly the records the reader counted.
#define BOOST_TEST_MODULE tcp_collector_tshark
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "collectors/collector_harness.hpp"
#include "sinks/ipfix_tcp_reader.hpp"
#include "sinks/tcp_collector.hpp"
#include "support/netns.hpp"
#include "support/root_guard.hpp"

using namespace ebpfix;
using namespace ebpfix::test;
using namespace std::chrono_literals;
using sinks::TcpCollectorSettings;
using sinks::TcpCollectorSink;

namespace {

struct Sandbox {
    Sandbox() {
        require_root("tcp collector tshark test");
        require_tools({"tcpdump", "tshark"}, "tcp collector tshark test");
        enter_private_netns();
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Sandbox);

constexpr std::uint16_t k_port = 4739;   // the namespace is private: any port is free
constexpr std::uint16_t k_probe = 9;     // UDP probes that show the capture is live

std::uint64_t wall_ms() {
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

bool run_until(boost::asio::io_context& io, const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        io.restart();
        io.run_one_for(5ms);
    }
    return true;
}

void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
        io.restart();
        io.run_one_until(until);
    }
}

// What a pcap file (tcpdump -U writes each packet whole as it is captured) holds so far:
// Ethernet/IPv4 frames on lo.
struct CaptureSummary {
    std::size_t packets = 0;
    std::size_t probes = 0;            // UDP to k_probe
    std::size_t fins_from_reader = 0;  // TCP FIN with source port k_port
};

CaptureSummary read_capture(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<unsigned char> f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CaptureSummary s;
    if (f.size() < 24) return s;
    for (std::size_t at = 24; at + 16 <= f.size();) {
        std::uint32_t len = 0;
        std::memcpy(&len, &f[at + 8], 4);  // incl_len, host order (tcpdump writes native)
        if (at + 16 + len > f.size()) break;
        const unsigned char* p = &f[at + 16];
        ++s.packets;
        if (len >= 14 + 20 && p[12] == 0x08 && p[13] == 0x00) {
            const unsigned char* ip = p + 14;
            const std::size_t ihl = std::size_t(ip[0] & 0x0f) * 4;
            const unsigned char* l4 = ip + ihl;
            const std::size_t l4_len = len - 14 - std::min<std::size_t>(ihl, len - 14);
            if (ip[9] == 17 && l4_len >= 8 && (l4[2] << 8 | l4[3]) == k_probe) ++s.probes;
            if (ip[9] == 6 && l4_len >= 20 && (l4[0] << 8 | l4[1]) == k_port && (l4[13] & 0x01)) ++s.fins_from_reader;
        }
        at += 16 + len;
    }
    return s;
}

void send_probe() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(k_probe);
    const char byte = 0;
    ::sendto(fd, &byte, 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::close(fd);
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
    return n;
}

std::vector<FlowRecord> make_records(std::uint32_t first, std::size_t count, std::uint64_t now_ms) {
    std::vector<FlowRecord> out;
    for (std::uint32_t id = first; id < first + count; ++id) {
        FlowRecord r;
        r.key.ip_version = id % 4 == 3 ? 6 : 4;
        if (r.key.ip_version == 4) {
            r.key.src_addr = FlowKey::mapped_v4(0x0a000000u | id);
            r.key.dst_addr = FlowKey::mapped_v4(0x0a630001u);
        } else {
            r.key.src_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, std::uint8_t(id >> 24),
                              std::uint8_t(id >> 16), std::uint8_t(id >> 8), std::uint8_t(id)};
            r.key.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        }
        r.key.src_port = std::uint16_t(1024 + id % 60000);
        r.key.dst_port = 53;
        r.key.protocol = 17;
        r.key.ifindex = 3;
        r.packets = 1 + id % 97;
        r.bytes = r.packets * (60 + id % 1400);
        r.start_ms = now_ms - 4000 - id % 1000;
        r.end_ms = now_ms - 10;
        out.push_back(r);
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_name_that_does_not_resolve_is_an_error_naming_it) {
    // In the private namespace a DNS query has no route off loopback.
    boost::asio::io_context io;
    TcpCollectorSettings s;
    s.host = "no-such-collector.invalid";
    s.port = k_port;
    try {
        TcpCollectorSink sink(io, s);
        BOOST_ERROR("no exception for an unresolvable name");
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        BOOST_TEST(what.find("no-such-collector.invalid:4739") != std::string::npos, what);
        BOOST_TEST(what.find("cannot resolve 'no-such-collector.invalid'") != std::string::npos, what);
    }
}

BOOST_AUTO_TEST_CASE(tshark_decodes_both_connections_cleanly) {
    TempDir dir("ebpfix-tcp-tshark");
    const std::string pcap = (dir.path() / "export.pcap").string();
    // A buffer for every burst (a 1 MB write of 64 KB segments), so a loaded machine drops nothing.
    ChildProcess tcpdump({"tcpdump", "-n", "-i", "lo", "-U", "--immediate-mode", "-B", "65536", "-Z", "root", "-w", pcap,
                          "tcp port " + std::to_string(k_port) + " or udp port " + std::to_string(k_probe)},
                         dir.path() / "tcpdump.log");
    // Live once a probe is in the file: from then on every packet is captured.
    const auto live_deadline = std::chrono::steady_clock::now() + 20s;
    while (read_capture(pcap).probes == 0) {
        BOOST_TEST_REQUIRE((std::chrono::steady_clock::now() < live_deadline), tcpdump.output());
        send_probe();
        std::this_thread::sleep_for(50ms);
    }

    boost::asio::io_context io;
    IpfixTcpReader::Options ro;
    ro.port = k_port;
    ro.receive_buffer = 4096;
    ro.paused = true;
    IpfixTcpReader reader(io, ro);
    TcpCollectorSettings s;
    s.host = "127.0.0.1";
    s.port = k_port;
    s.encoder.observation_domain = 31;
    s.encoder.sampling_interval = 4;
    s.encoder.template_refresh_seconds = 3;
    s.encoder.uptime_origin_ms = wall_ms() - 60000;
    s.backoff_min = 5ms;
    s.min_connect_interval = 0ms;
    TcpCollectorSink sink(io, s);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.connected(); }));

    std::uint64_t now = wall_ms();
    std::uint32_t next = 0;
    std::size_t given = 0;
    sinks::ExporterTotals totals;
    sinks::CycleSummary summary;
    std::vector<ipfix::InterfaceInfo> interfaces{{1, "lo", "loopback"}, {3, "veth0", "test link"}};
    auto cycle = [&](std::size_t count, bool final) {
        now += 1000;
        const std::vector<FlowRecord> records = make_records(next, count, now);
        next += std::uint32_t(count);
        given += count;
        sinks::CycleContext ctx;
        ctx.now_ms = now;
        ctx.records = records;
        ctx.totals = &totals;
        ctx.summary = &summary;
        ctx.interfaces = interfaces;
        ctx.final = final;
        sink.cycle(ctx);
    };

    // The paused reader's window closes with a message half written; then it dies.
    cycle(3000, false);
    std::size_t last = 0, stable = 0;
    for (int i = 0; i < 500 && stable < 5; ++i) {
        run_for(io, 20ms);
        stable = reader.available() == last ? stable + 1 : 0;
        last = reader.available();
    }
    BOOST_TEST_REQUIRE(stable == 5u);
    reader.kill();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.connected(); }));
    cycle(200, false);
    reader.set_paused(false);
    reader.listen();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return sink.connections() == 2; }));
    for (int i = 0; i < 4; ++i) cycle(300, false);
    cycle(20, true);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return !sink.busy() && reader.all_ended(); }));
    for (const std::string& e : reader.errors()) BOOST_ERROR("reader: " << e);
    BOOST_TEST_REQUIRE(reader.connections().size() == 2u);
    const sinks::SinkCounters c = sink.counters();
    BOOST_TEST(c.records_delivered + c.records_not_sent == given);
    BOOST_TEST(reader.totals().records == c.records_delivered);

    // Every packet of the final connection is in the file once the reader's FIN is.
    const auto fin_deadline = std::chrono::steady_clock::now() + 20s;
    while (read_capture(pcap).fins_from_reader == 0 && std::chrono::steady_clock::now() < fin_deadline)
        std::this_thread::sleep_for(20ms);
    BOOST_TEST_REQUIRE(read_capture(pcap).fins_from_reader == 1u);
    tcpdump.stop(SIGTERM, 10s);
    BOOST_TEST_REQUIRE(tcpdump.output().find("\n0 packets dropped by kernel") != std::string::npos, tcpdump.output());

    const auto r = run_command({"tshark", "-n", "-r", pcap, "-d", "tcp.port==" + std::to_string(k_port) + ",cflow", "-V"},
                               120s, {{"TZ", "UTC"}});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.output);
    if (const char* keep = std::getenv("EBPFIX_KEEP_COLLECTOR_OUTPUT"))
        std::ofstream(std::string(keep) + "/tshark-tcp.txt") << r.output;
    std::istringstream lines(r.output);
    std::string line;
    std::size_t bad = 0;
    // No malformed packet and no expert error anywhere; in the IPFIX part, no expert info
    // at all (its sequence analysis, templates) and nothing it could not decode. TCP's own
    // notes (handshake, the reset, the window the paused reader closed, a retransmission
    // on a loaded machine) are TCP's business.
    bool in_ipfix = false;
    for (std::size_t n = 1; std::getline(lines, line); ++n) {
        if (!line.empty() && line[0] != ' ') in_ipfix = line == "Cisco NetFlow/IPFIX";
        for (const char* marker : {"Malformed", "Expert Info (Error"})
            if (line.find(marker) != std::string::npos && ++bad <= 10)
                BOOST_ERROR("tshark line " << n << " has \"" << marker << "\": " << line);
        if (!in_ipfix) continue;
        for (const char* marker : {"[Expert Info (", "no template found", "[Data (", "Unknown"})
            if (line.find(marker) != std::string::npos && ++bad <= 10)
                BOOST_ERROR("tshark line " << n << " has \"" << marker << "\": " << line);
    }
    BOOST_TEST(bad == 0u);
    std::size_t messages = 0;
    for (const ReaderConnection& rc : reader.connections()) messages += rc.messages;
    BOOST_TEST(count_of(r.output, "Cisco NetFlow/IPFIX\n") == messages);
    // Each flow record once: tshark's flows are the reader's, packets and octets included.
    const std::vector<TsharkFlow> flows = parse_tshark_flows(r.output);
    std::uint64_t records = 0, packets = 0, octets = 0;
    for (const TsharkFlow& f : flows) {
        auto it = f.fields.find("Packets");
        if (it == f.fields.end() || f.fields.count("SrcAddr") == 0) continue;  // options records
        records += 1;
        packets += std::stoull(it->second);
        octets += std::stoull(f.fields.at("Octets"));
    }
    const IpfixTcpReader::Totals got = reader.totals();
    BOOST_TEST(records == got.records);
    BOOST_TEST(packets == got.packets);
    BOOST_TEST(octets == got.octets);
}
