#include "daemon/pcap_mode.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include <boost/asio/io_context.hpp>

#include "bpf/flow_program.hpp"
#include "bpf/packet_runner.hpp"
#include "daemon/flow_exporter.hpp"
#include "daemon/outputs.hpp"
#include "daemon/settings.hpp"
#include "daemon/view_sinks.hpp"
#include "common/log.hpp"
#include "pcap/pcap_reader.hpp"

namespace ebpfix::daemon {

namespace {

constexpr std::uint64_t ns_per_ms = 1'000'000;

// Lets queued datagrams leave (the capture has no real-time pace to keep); a collector
// that never takes them is given up on after a while, and its drops are counted.
void let_senders_drain(boost::asio::io_context& io, const FlowExporter& exporter) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    auto queued = [&] { return exporter.busy(); };
    while (queued() && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_one_for(std::chrono::milliseconds(100));
    }
    io.restart();
    io.poll();
}

}  // namespace

int run_pcap(const config::Config& config) {
    pcap::PcapReader reader(config.pcap_file);  // throws PcapError "PATH: reason"
    std::optional<pcap::Packet> packet = reader.next();

    // The capture's clock drives everything: the first packet is "start" (sysUptime 0).
    const std::uint64_t origin_ms = packet ? packet->timestamp_ns / ns_per_ms : 0;

    boost::asio::io_context io;
    // One thread runs the program, so nothing runs while the slots are read: no grace
    // period is needed, and an interval without packets costs nothing.
    bpf::ProgramOptions options = program_options(config);
    options.hooks = bpf::HookKinds{};  // the TC program only: it is what BPF_PROG_TEST_RUN runs
    options.time_from_packet = true;
    bpf::FlowProgram program(options);
    bpf::KernelFilters filters = kernel_filters(config);
    filters.attribution = false;  // a replay has no sockets
    bpf::apply_filters(program, filters);
    FlowExporter exporter(
        program, config, [] { return flow::TimeBase{0}; }, origin_ms, [](std::uint32_t) { return std::string("pcap"); },
        [] { return std::vector<ipfix::InterfaceInfo>{}; },
        [&io](const config::Config& c, std::uint64_t start_ms, const FlowExporter::Running& running) {
            FlowExporter::SinkList out = build_outputs(io, c, start_ms, running);
            add_view_sinks(out, c, start_ms);
            return out;
        });

    const std::uint64_t interval_ns = config.drain_interval_ms * ns_per_ms;
    auto later = [](std::uint64_t t, std::uint64_t d) { return t > UINT64_MAX - d ? UINT64_MAX : t + d; };
    std::uint64_t now_ns = packet ? packet->timestamp_ns : 0;
    std::uint64_t next_drain_ns = later(now_ns, interval_ns);
    std::uint64_t too_short = 0;
    int rc = 0;
    try {
        while (packet) {
            // Capture time may step back (merged files); flows keep min/max, the clock only advances.
            if (packet->timestamp_ns > now_ns) now_ns = packet->timestamp_ns;
            while (now_ns >= next_drain_ns && next_drain_ns != UINT64_MAX) {
                exporter.cycle(next_drain_ns, next_drain_ns / ns_per_ms);
                let_senders_drain(io, exporter);
                // A gap in the capture (an idle hour, a clock jump): one more cycle at the
                // last interval boundary before the packet, none for the empty ones between.
                const std::uint64_t gap = now_ns - next_drain_ns;
                next_drain_ns = later(next_drain_ns, gap >= 2 * interval_ns ? (gap / interval_ns) * interval_ns
                                                                            : interval_ns);
            }
            if (packet->data.size() < 14) {
                // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header, for the
                // L3 program too: such a frame never reaches the hook; it is counted here.
                ++too_short;
            } else {
                // A frame cut by the snaplen still has its length on the wire.
                const std::uint64_t wire = packet->data.size() + (packet->orig_len > packet->caplen
                                                                      ? packet->orig_len - packet->caplen
                                                                      : 0);
                bpf::PacketRunOptions run;
                run.tstamp_ns = packet->timestamp_ns;
                run.wire_len = static_cast<std::uint32_t>(std::min<std::uint64_t>(wire, UINT32_MAX));
                bpf::run_packet(program.tc_program_fd(packet->direction, packet->link_layer), packet->data, run);
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
    print_summary(exporter.sinks(), config);

    const auto& t = exporter.totals();
    log_info(reader.path() + ": " + std::to_string(reader.counts().packets) + " packets (" +
             std::to_string(reader.counts().truncated_packets) + " cut by snaplen, " + std::to_string(too_short) +
             " shorter than an Ethernet header), " + std::to_string(t.exported_records) + " flow records, " +
             std::to_string(t.exported_packets) + " packets in flows; kernel: non-IP " +
             std::to_string(t.kernel.non_ip.packets) + ", parse errors " +
             std::to_string(t.kernel.parse_error.packets) + ", truncated " +
             std::to_string(t.kernel.truncated.packets) + ", map full " + std::to_string(t.kernel.map_full.packets) +
             ", sampled out " + std::to_string(t.kernel.sampled_out.packets) + ", excluded " +
             std::to_string(t.kernel.excluded.packets));
    return rc;
}

}  // namespace ebpfix::daemon
