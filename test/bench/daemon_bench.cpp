// Daemon-side costs with the daemon's own objects (FlowProgram, FlowDrainer,
// FlowExporter with one IPFIX collector), on kernel maps filled through BPF_PROG_TEST_RUN:
//   1. drain rate of a full kernel map (flows/s);
//   2. end to end: drain + flow table + encode + send of every flow to a UDP socket on
//      127.0.0.1 that this bench binds and reads (idle expiry exports every flow);
//   3. CPU time of the exporting thread per exported record;
//   4. peak RSS (VmHWM) of the whole process at the end.
// Not a test: scripts/bench.sh runs it (root needed to load the program).
//   ebpfix_daemon_bench [flows=262144] [rounds=5]
// Frames are made one at a time (not kept), so VmHWM is the daemon objects' footprint
// plus this small driver.
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "bpf/packet_runner.hpp"
#include "config/config.hpp"
#include "daemon/flow_exporter.hpp"
#include "daemon/outputs.hpp"
#include "sinks/udp_collector.hpp"
#include "flow/flow_table.hpp"
#include "frames.hpp"

using namespace ebpfix;
using namespace ebpfix::test;

namespace {

std::uint64_t clock_ns(clockid_t id) {
    timespec ts{};
    ::clock_gettime(id, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Puts `flows` distinct IPv4 TCP flows (one 64-byte-payload packet each) into the
// program's active maps. Ports carry the flow number; the template frame is patched.
void fill(int prog_fd, std::uint32_t flows) {
    Ip4 h{.protocol = 6};
    Bytes frame = cat({eth(0x0800), ipv4(h, 20 + 64), tcp(1024, 80, ACK), zeros(64)});
    const std::size_t l4 = 14 + 20;
    for (std::uint32_t i = 0; i < flows; ++i) {
        const std::uint16_t sport = std::uint16_t(1024 + i % 60000);
        const std::uint16_t dport = std::uint16_t(80 + i / 60000);
        frame[l4] = std::uint8_t(sport >> 8);
        frame[l4 + 1] = std::uint8_t(sport);
        frame[l4 + 2] = std::uint8_t(dport >> 8);
        frame[l4 + 3] = std::uint8_t(dport);
        bpf::run_packet(prog_fd, frame);
    }
}

std::string status_field(const char* name) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(name, 0) == 0) return line;
    return std::string(name) + " ?";
}

// A UDP socket on 127.0.0.1 (ephemeral port) read by a thread that counts and discards.
class UdpSink {
public:
    UdpSink() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
        if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
        // 64 MiB so a whole export burst fits even if the reader is descheduled.
        int size = 64 << 20;
        if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("bind 127.0.0.1: " + std::string(std::strerror(errno)));
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        timeval tv{0, 100000};  // lets the reader see stop_ within 100 ms
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        reader_ = std::thread([this] {
            std::vector<std::uint8_t> buf(65536);
            while (!stop_.load()) {
                const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
                if (n > 0) {
                    messages_.fetch_add(1);
                    bytes_.fetch_add(std::uint64_t(n));
                }
            }
        });
    }
    ~UdpSink() {
        stop_.store(true);
        reader_.join();
        ::close(fd_);
    }
    std::uint16_t port() const { return port_; }
    std::uint64_t messages() const { return messages_.load(); }
    std::uint64_t bytes() const { return bytes_.load(); }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> messages_{0}, bytes_{0};
    std::thread reader_;
};

}  // namespace

int main(int argc, char** argv) try {
    const std::uint32_t flows = argc > 1 ? std::uint32_t(std::strtoul(argv[1], nullptr, 10)) : 262144;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    if (flows == 0 || rounds <= 0) {
        std::fprintf(stderr, "usage: %s [flows>0] [rounds>0]\n", argv[0]);
        return 2;
    }

    // Maps sized like the daemon would be for this many flows (at least the default).
    bpf::ProgramOptions po;
    po.map_entries = std::max<std::uint32_t>(flows, 65536);
    std::printf("flows=%u map_entries=%u rounds=%d\n", flows, po.map_entries, rounds);

    // 1. Drain rate: every slot dirty (take), then every slot given back (reclaim). A
    // program of its own: a drainer owns the slots' state, so two drainers must never
    // share one program.
    {
        bpf::FlowProgram program(po);
        const int prog_fd = program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet);
        bpf::FlowDrainer drainer(program);
        std::vector<FlowDelta> sink;
        sink.reserve(flows);
        std::vector<double> take_ms, again_ms, reclaim_ms, unindex_ms, grace_ms;
        for (int r = 0; r < rounds; ++r) {
            fill(prog_fd, flows);  // new flows: every slot dirty
            sink.clear();
            const bpf::DrainStats ds = drainer.drain(clock_ns(CLOCK_MONOTONIC), UINT64_MAX, sink);
            take_ms.push_back(double(ds.take_ns) / 1e6);
            if (ds.deltas != flows || sink.size() != flows) {
                std::fprintf(stderr, "drain returned %llu flows, expected %u\n", (unsigned long long)ds.deltas, flows);
                return 1;
            }
            fill(prog_fd, flows);  // the same flows again: slots kept, dirty again
            sink.clear();
            const bpf::DrainStats again = drainer.drain(clock_ns(CLOCK_MONOTONIC), UINT64_MAX, sink);
            again_ms.push_back(double(again.take_ns) / 1e6);
            sink.clear();
            const bpf::DrainStats rs = drainer.drain(clock_ns(CLOCK_MONOTONIC), 0, sink);
            reclaim_ms.push_back(double(rs.reclaim_ns) / 1e6);
            unindex_ms.push_back(double(rs.unindex_ns) / 1e6);
            grace_ms.push_back(double(rs.grace_ns) / 1e6);
            if (rs.reclaimed != flows) {
                std::fprintf(stderr, "gave back %llu slots, expected %u\n", (unsigned long long)rs.reclaimed, flows);
                return 1;
            }
        }
        std::printf("drain: take of %u dirty slots median %.2f ms (min %.2f max %.2f) = %.2f M flows/s; "
                    "kept slots %.2f ms; giving all back %.2f ms (kernel index deletes %.2f ms, grace wait %.2f ms)\n",
                    flows, median(take_ms), *std::min_element(take_ms.begin(), take_ms.end()),
                    *std::max_element(take_ms.begin(), take_ms.end()), double(flows) / median(take_ms) / 1e3,
                    median(again_ms), median(reclaim_ms), median(unindex_ms), median(grace_ms));
    }

    // Peak RSS is reported for the daemon's objects alone: "5" resets VmHWM (Linux >= 4.0).
    std::printf("after drain part: %s\n", status_field("VmHWM").c_str());
    std::ofstream("/proc/self/clear_refs") << "5";

    // 2./3. End to end through the daemon's FlowExporter.
    bpf::FlowProgram program(po);
    const int prog_fd = program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet);
    UdpSink udp;
    boost::asio::io_context io;
    config::Config cfg;
    cfg.map_entries = po.map_entries;
    cfg.max_flows = std::max<std::uint32_t>(flows, 262144);
    cfg.log_format = config::OutputFormat::none;
    config::CollectorConfig cc;
    cc.host = "127.0.0.1";
    cc.port = udp.port();
    cc.encoder.protocol = ipfix::Protocol::ipfix;
    cfg.collectors.push_back(cc);
    daemon::FlowExporter exporter(
        program, cfg, [] { return flow::time_base_now(); }, clock_ns(CLOCK_REALTIME) / 1'000'000u,
        [](std::uint32_t) { return std::string("bench0"); }, [] { return std::vector<ipfix::InterfaceInfo>{}; },
        [&io](const config::Config& c, std::uint64_t start, const daemon::FlowExporter::Running& running) {
            return daemon::build_outputs(io, c, start, running);
        });
    const auto& collector = dynamic_cast<const sinks::UdpCollectorSink&>(*exporter.sinks().front());

    std::vector<double> wall_ms, cpu_ns_per_record;
    std::uint64_t records_before = 0;
    for (int r = 0; r < rounds; ++r) {
        fill(prog_fd, flows);
        // Past the idle timeout of every flow: this one cycle exports them all.
        const std::uint64_t now_ns = clock_ns(CLOCK_MONOTONIC) + (cfg.idle_timeout_ms + 1000) * 1'000'000u;
        const std::uint64_t now_ms = clock_ns(CLOCK_REALTIME) / 1'000'000u;
        const std::uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        const std::uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
        exporter.cycle(now_ns, now_ms);
        io.poll();  // sends whatever waited for the socket to become writable
        while (collector.sender().queued_bytes() != 0) {
            io.run_one();
        }
        const std::uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
        const std::uint64_t cpu1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        const std::uint64_t exported = exporter.totals().exported_records - records_before;
        records_before = exporter.totals().exported_records;
        if (exported != flows) {
            std::fprintf(stderr, "round %d exported %llu records, expected %u\n", r, (unsigned long long)exported,
                         flows);
            return 1;
        }
        wall_ms.push_back(double(t1 - t0) / 1e6);
        cpu_ns_per_record.push_back(double(cpu1 - cpu0) / double(exported));
    }
    // Let the reader catch up with the last datagrams.
    const auto& sc = collector.sender().counters();
    for (int i = 0; i < 50 && udp.messages() < sc.messages_sent; ++i) ::usleep(10000);

    const double m = median(wall_ms);
    std::printf("end-to-end (drain+table+ipfix encode+send): median %.1f ms (min %.1f max %.1f) for %u flows = %.2f M "
                "records/s\n",
                m, *std::min_element(wall_ms.begin(), wall_ms.end()), *std::max_element(wall_ms.begin(), wall_ms.end()),
                flows, double(flows) / m / 1e3);
    std::printf("cpu per exported record (exporting thread, user+sys): median %.0f ns (min %.0f max %.0f)\n",
                median(cpu_ns_per_record), *std::min_element(cpu_ns_per_record.begin(), cpu_ns_per_record.end()),
                *std::max_element(cpu_ns_per_record.begin(), cpu_ns_per_record.end()));
    std::printf("udp: sent %llu messages %llu bytes (%llu send errors, %llu queue drops); received %llu messages %llu "
                "bytes\n",
                (unsigned long long)sc.messages_sent, (unsigned long long)sc.bytes_sent,
                (unsigned long long)sc.send_errors, (unsigned long long)sc.queue_drops,
                (unsigned long long)udp.messages(), (unsigned long long)udp.bytes());
    std::printf("daemon objects (FlowProgram, FlowExporter, UDP sink): %s, %s\n", status_field("VmHWM").c_str(),
                status_field("VmRSS").c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "daemon_bench: %s\n", e.what());
    return 1;
}
