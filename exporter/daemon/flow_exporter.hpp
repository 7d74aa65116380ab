// The daemon's core, shared by live capture and --pcap: kernel drain → flow table →
// encoders → collectors, flow log and stats. Time is passed in, so both modes (wall
// clock and capture time) run the same code. Owns no io_context and no timers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "config/config.hpp"
#include "daemon/collector_sender.hpp"
#include "flow/flow_table.hpp"
#include "ipfix/flow_encoder.hpp"
#include "output/flow_log.hpp"
#include "output/stats_file.hpp"

namespace ebpfix::daemon {

// Cumulative numbers since start, for reconciliation, the stats file and metrics.
struct ExporterTotals {
    std::uint64_t drain_cycles = 0;
    std::uint64_t drained_flows = 0;    // flow deltas taken from the kernel's slots
    std::uint64_t drained_packets = 0;  // == packets the kernel put in flows
    std::uint64_t drained_bytes = 0;
    std::uint64_t exported_records = 0;
    std::uint64_t exported_packets = 0;
    std::uint64_t exported_bytes = 0;
    ebpfix_counters kernel{};           // the kernel's drop counters (cumulative)
};

struct Collector {
    config::CollectorConfig config;
    ipfix::FlowEncoder encoder;
    std::unique_ptr<CollectorSender> sender;
};

class FlowExporter {
public:
    using IfName = std::function<std::string(std::uint32_t ifindex)>;
    using Interfaces = std::function<std::vector<ipfix::InterfaceInfo>()>;
    // Measures kernel-clock -> wall-clock; called at every cycle, so an NTP step or a
    // suspend corrects record times from the next cycle on.
    using TimeBaseSource = std::function<flow::TimeBase()>;

    // Builds the outputs of `config`. start_ms is the exporter's start on the wall clock
    // (the first capture time with --pcap): NetFlow v9 sysUptime 0 and IPFIX
    // systemInitTimeMilliseconds. Throws (ConfigError, std::runtime_error) when an output
    // cannot be opened; nothing is half-built then.
    FlowExporter(boost::asio::io_context& io, const bpf::FlowProgram& program, const config::Config& config,
                 TimeBaseSource time_base, std::uint64_t start_ms, IfName ifname, Interfaces interfaces);

    // One cycle: drain the kernel maps, merge, expire at now_ns (the flow clock), export.
    // now_ms is the wall clock put in export headers.
    void cycle(std::uint64_t now_ns, std::uint64_t now_ms);

    // Final: drain, export every open flow (reason 4), write every deferred log line.
    void finish(std::uint64_t now_ms);

    // SIGHUP: new outputs and timeouts; collectors whose settings did not change keep
    // their encoders (sequence numbers) and sockets. Throws and changes nothing on error.
    void reconfigure(const config::Config& config, std::uint64_t now_ms);

    // Makes the outputs reopen their files (logrotate).
    void reopen_files();

    const ExporterTotals& totals() const noexcept { return totals_; }
    const flow::FlowTable& table() const noexcept { return table_; }
    const std::vector<Collector>& collectors() const noexcept { return collectors_; }
    const output::FlowLogWriter* flow_log() const noexcept { return log_.get(); }
    std::uint64_t last_drain_ns() const noexcept { return last_drain_ns_; }
    // Per (ifindex, direction) packets and bytes put into flows, for metrics.
    struct InterfaceCount {
        std::uint32_t ifindex;
        Direction direction;
        std::uint64_t packets, bytes;
    };
    const std::vector<InterfaceCount>& interface_counts() const noexcept { return if_counts_; }

private:
    // Everything a configuration opens. Built completely before it replaces the old.
    struct Outputs {
        std::vector<Collector> collectors;
        std::unique_ptr<output::FlowLogWriter> log;
        std::unique_ptr<output::StatsFileWriter> stats;
    };
    Outputs build_outputs(const config::Config& config);
    void replace_outputs(Outputs outputs, std::uint64_t now_ms);
    void count_deltas(std::span<const FlowDelta> deltas, std::vector<FlowRecord>& records);
    void drain_into_table(std::uint64_t now_ns, std::vector<FlowRecord>& records);
    void export_records(const std::vector<FlowRecord>& records, std::uint64_t now_ms);
    void export_options(std::uint64_t now_ms);
    void write_stats(std::uint64_t now_ms, std::uint64_t work_ns, const std::vector<FlowRecord>& records,
                     std::uint64_t drained_flows);
    std::uint64_t send_failures() const;

    boost::asio::io_context& io_;
    const bpf::FlowProgram& program_;
    config::Config config_;
    bpf::FlowDrainer drainer_;
    flow::FlowTable table_;
    TimeBaseSource time_base_;
    std::uint64_t start_ms_;
    IfName ifname_;
    Interfaces interfaces_;
    std::vector<Collector> collectors_;
    std::unique_ptr<output::FlowLogWriter> log_;
    std::unique_ptr<output::StatsFileWriter> stats_;
    ExporterTotals totals_;
    ebpfix_counters kernel_at_last_stats_{};
    std::uint64_t send_failures_at_last_stats_ = 0;
    std::vector<InterfaceCount> if_counts_;
    std::vector<FlowRecord> records_;
    std::uint64_t last_options_ms_ = 0;
    std::uint64_t last_drain_ns_ = 0;
    std::uint64_t next_periodic_ns_ = 0;  // flow.export_interval: the next periodic export
};

flow::FlowTableConfig table_config(const config::Config& config);

}  // namespace ebpfix::daemon
