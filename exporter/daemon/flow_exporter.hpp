// The daemon's core, shared by live capture and --pcap: kernel slots -> flow table ->
// sinks. Time is passed in, so both modes (wall clock and capture time) run the same
// code. Owns no io_context and no timers; knows no concrete sink.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "config/config.hpp"
#include "flow/flow_table.hpp"
#include "attribution/socket_tuples.hpp"
#include "sinks/sink.hpp"

namespace ebpfix::daemon {

using sinks::ExporterTotals;

class FlowExporter {
public:
    using IfName = std::function<std::string(std::uint32_t ifindex)>;
    using Interfaces = std::function<std::vector<ipfix::InterfaceInfo>()>;
    // Measures kernel-clock -> wall-clock; called at every cycle, so an NTP step or a
    // suspend corrects record times from the next cycle on.
    using TimeBaseSource = std::function<flow::TimeBase()>;
    using SinkList = std::vector<std::unique_ptr<sinks::Sink>>;
    // Builds every output of a configuration (throws when one cannot be opened). start_ms
    // is the exporter's start on the wall clock (NetFlow v9 sysUptime 0, IPFIX
    // systemInitTimeMilliseconds).
    // `running(identity)` says whether an output with that identity runs already (a
    // reload): the builder may then return sinks::KeptSink for it instead of opening a
    // second connection that would be dropped at once.
    using Running = std::function<bool(const std::string& identity)>;
    using BuildSinks =
        std::function<SinkList(const config::Config& config, std::uint64_t start_ms, const Running& running)>;
    // The owner of a socket cookie (attribution), nullptr when unknown.
    using OwnerOf = std::function<const attribution::Owner*(std::uint64_t cookie)>;

    // Throws (ConfigError, std::runtime_error) when an output cannot be opened; nothing is
    // half-built then.
    FlowExporter(const bpf::FlowProgram& program, const config::Config& config, TimeBaseSource time_base,
                 std::uint64_t start_ms, IfName ifname, Interfaces interfaces, BuildSinks build_sinks,
                 OwnerOf owner_of = {});

    // One cycle: drain the kernel, merge, expire at now_ns (the flow clock), export.
    // now_ms is the wall clock put in export headers.
    void cycle(std::uint64_t now_ns, std::uint64_t now_ms);

    // Final: drain, export every open flow (reason 4), deliver everything held.
    void finish(std::uint64_t now_ms);

    // `ebpfix ctl expire-all`: a cycle that also ends every open flow (reason 4, forced
    // end); the flows start again with their next packet. Returns the records exported.
    std::size_t expire_all(std::uint64_t now_ns, std::uint64_t now_ms);

    // SIGHUP: new outputs and timeouts; outputs whose settings did not change are kept
    // (sequence numbers, sockets, queued lines). Throws and changes nothing on error.
    void reconfigure(const config::Config& config, std::uint64_t now_ms);

    // Makes the outputs reopen their files (logrotate).
    void reopen_files();

    const ExporterTotals& totals() const noexcept { return totals_; }
    const flow::FlowTable& table() const noexcept { return table_; }
    const SinkList& sinks() const noexcept { return sinks_; }
    const bpf::FlowDrainer& drainer() const noexcept { return drainer_; }
    // An output still has deliveries queued for the event loop.
    bool busy() const;
    std::uint64_t last_cycle_ns() const noexcept { return last_cycle_ns_; }

    // Per (ifindex, direction) packets and bytes put into flows, for metrics.
    struct InterfaceCount {
        std::uint32_t ifindex;
        Direction direction;
        std::uint64_t packets, bytes;
    };
    const std::vector<InterfaceCount>& interface_counts() const noexcept { return if_counts_; }

private:
    void count_deltas(std::span<const FlowDelta> deltas, std::vector<FlowRecord>& records);
    void drain_into_table(std::uint64_t now_ns, std::vector<FlowRecord>& records);
    void deliver(std::uint64_t now_ms, std::uint64_t work_start_ns, std::uint64_t deltas_before, bool final);
    bool own_traffic(const FlowKey& key) const noexcept;

    const bpf::FlowProgram& program_;
    config::Config config_;
    bpf::FlowDrainer drainer_;
    flow::FlowTable table_;
    TimeBaseSource time_base_;
    std::uint64_t start_ms_;
    IfName ifname_;
    Interfaces interfaces_;
    BuildSinks build_sinks_;
    OwnerOf owner_of_;
    attribution::SocketTuples tuples_;  // attribution: records without a cookie get their connection's
    SinkList sinks_;
    ExporterTotals totals_;
    ebpfix_counters kernel_at_last_cycle_{};
    ebpfix_pkt_bytes own_at_last_cycle_{};
    std::uint64_t undelivered_at_last_cycle_ = 0;
    std::vector<InterfaceCount> if_counts_;
    std::vector<FlowRecord> records_;
    std::vector<FlowDelta> kept_;        // a batch without ebpfix's own traffic
    std::vector<FlowKey> own_keys_;      // both directions of every output's socket
    std::uint64_t last_cycle_ns_ = 0;
    std::uint64_t next_periodic_ns_ = 0;  // flow.export_interval: the next periodic export
};

flow::FlowTableConfig table_config(const config::Config& config);

}  // namespace ebpfix::daemon
