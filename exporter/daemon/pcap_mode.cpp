#include "daemon/pcap_mode.hpp"

#include <chrono>
#include <optional>

#include <boost/asio/io_context.hpp>

#include "bpf/flow_program.hpp"
#include "bpf/packet_runner.hpp"
#include "daemon/flow_exporter.hpp"
#include "daemon/log.hpp"
#include "pcap/pcap_reader.hpp"

namespace ebpfix::daemon {

namespace {

constexpr std::uint64_t ns_per_ms = 1'000'000;

// Lets queued datagrams leave (the capture has no real-time pace to keep); a collector
// that never takes them is given up on after a while, and its drops are counted.
void let_senders_drain(boost::asio::io_context& io, const FlowExporter& exporter) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    auto queued = [&] {
        for (const auto& c : exporter.collectors())
            if (c.sender->queued_bytes() > 0) return true;
        return false;
    };
    while (queued() && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_one_for(std::chrono::milliseconds(100));
    }
    io.restart();
    io.poll();
}

}  // namespace

int run_pcap(const config::Config& config_in) {
    pcap::PcapReader reader(config_in.pcap_file);  // throws PcapError "PATH: reason"
    std::optional<pcap::Packet> packet = reader.next();

    // The capture's clock drives everything: the first packet is "start" (sysUptime 0).
    config::Config config = config_in;
    const std::uint64_t origin_ms = packet ? packet->timestamp_ns / ns_per_ms : 0;
    for (auto& c : config.collectors) c.encoder.uptime_origin_ms = origin_ms;

    boost::asio::io_context io;
    bpf::FlowProgram program(bpf::ProgramOptions{.map_entries = config.map_entries, .time_from_skb = true});
    // BPF_PROG_TEST_RUN runs packets on the namespace's loopback device.
    FlowExporter exporter(
        io, program, config, flow::TimeBase{0}, [](std::uint32_t) { return std::string("pcap"); },
        [] { return std::vector<ipfix::InterfaceInfo>{}; });

    const std::uint64_t interval_ns = config.drain_interval_ms * ns_per_ms;
    std::uint64_t next_drain_ns = packet ? packet->timestamp_ns + interval_ns : 0;
    std::uint64_t now_ns = packet ? packet->timestamp_ns : 0;
    std::uint64_t too_short = 0;
    int rc = 0;
    try {
        while (packet) {
            // Capture time may step back (merged files); flows keep min/max, the clock only advances.
            if (packet->timestamp_ns > now_ns) now_ns = packet->timestamp_ns;
            while (now_ns >= next_drain_ns) {
                exporter.cycle(next_drain_ns, next_drain_ns / ns_per_ms);
                let_senders_drain(io, exporter);
                next_drain_ns += interval_ns;
            }
            if (packet->data.size() < 14) {
                // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header, for the
                // L3 program too: such a frame never reaches the hook; it is counted here.
                ++too_short;
            } else {
                bpf::run_packet(program.program_fd(packet->direction, packet->link_layer), packet->data,
                                bpf::PacketRunOptions{.tstamp_ns = packet->timestamp_ns});
            }
            packet = reader.next();
        }
    } catch (const pcap::PcapError& e) {
        log_error(e.what());
        rc = 1;  // still export what was counted up to the damage
    } catch (const bpf::BpfError& e) {
        log_error(std::string(e.what()) + " (" + reader.path() + ")");
        rc = 1;
    }
    exporter.finish(now_ns / ns_per_ms);
    let_senders_drain(io, exporter);

    const auto& t = exporter.totals();
    log_info(reader.path() + ": " + std::to_string(reader.counts().packets) + " packets (" +
             std::to_string(reader.counts().truncated_packets) + " cut by snaplen, " + std::to_string(too_short) +
             " shorter than an Ethernet header), " + std::to_string(t.exported_records) + " flow records, " +
             std::to_string(t.exported_packets) + " packets in flows; kernel: non-IP " +
             std::to_string(t.kernel.non_ip.packets) + ", parse errors " +
             std::to_string(t.kernel.parse_error.packets) + ", truncated " +
             std::to_string(t.kernel.truncated.packets) + ", map full " + std::to_string(t.kernel.map_full.packets));
    return rc;
}

}  // namespace ebpfix::daemon
