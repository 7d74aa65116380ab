// The one interface of every output (collectors over UDP or TCP, Kafka, the flow log, the
// stats file, metrics, the live views): the daemon's core hands each sink the records and
// numbers of a cycle and knows no concrete sink (ipfixprobe's output plugins are the
// model). A sink never throws for a delivery problem and never blocks the cycle: what it
// cannot deliver it counts (records, packets, octets), and its memory is bounded.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "attribution/owners.hpp"
#include "common/flow_types.hpp"
#include "flow_abi.h"
#include "ipfix/flow_encoder.hpp"

namespace ebpfix::sinks {

// Cumulative numbers since the exporter started.
struct ExporterTotals {
    std::uint64_t drain_cycles = 0;
    std::uint64_t drained_flows = 0;    // flow deltas taken from the kernel
    std::uint64_t drained_packets = 0;  // packets the kernel put in flows
    std::uint64_t drained_bytes = 0;
    std::uint64_t exported_records = 0;
    std::uint64_t exported_packets = 0;
    std::uint64_t exported_bytes = 0;
    ebpfix_counters kernel{};           // the programs' counters
    ebpfix_pkt_bytes own_export{};      // ebpfix's own export traffic, kept out of flows
};

// What one cycle did (the stats file's line).
struct CycleSummary {
    std::int64_t timestamp_s = 0;       // end of the cycle, Unix seconds
    std::uint64_t by_reason[6] = {};    // records exported per flowEndReason (index = value)
    std::uint64_t records = 0, packets = 0, bytes = 0;
    std::uint64_t flows_held = 0;       // flows in the table after the cycle
    std::uint64_t deltas_taken = 0;     // kernel flow deltas read by this cycle
    std::uint64_t work_ms = 0;          // wall time of the cycle
    ebpfix_counters kernel_delta{};     // the programs' counters, this cycle
    ebpfix_pkt_bytes own_export_delta{};
    std::uint64_t undelivered_messages = 0;  // messages the sinks could not deliver, this cycle
};

// Counters every sink keeps, for metrics and the reliability options.
struct SinkCounters {
    std::uint64_t records_delivered = 0;  // handed to the transport (sent, written)
    std::uint64_t messages_delivered = 0;
    std::uint64_t bytes_delivered = 0;
    std::uint64_t records_not_sent = 0;   // lost, with what they counted
    std::uint64_t packets_not_sent = 0;
    std::uint64_t octets_not_sent = 0;
    std::uint64_t messages_not_sent = 0;
    std::uint64_t queue_drops = 0;        // of those, dropped because the bounded queue was full
    std::uint64_t records_not_exportable = 0;  // e.g. IPv6 flows for NetFlow v5
    std::uint64_t records_queued = 0;     // waiting (bounded)
    std::uint64_t errors = 0;             // delivery errors seen
    std::uint64_t templates_sent = 0;     // template records (IPFIX/v9)
};

// A local socket of an output (an export connection): flows on it are ebpfix's own
// traffic and are not counted as flows (protocol 17 or 6).
struct OwnSocket {
    FlowKey forward;  // local -> remote, ip_version/protocol/addresses/ports set
};

struct CycleContext {
    std::uint64_t now_ms = 0;                         // wall clock (export headers)
    std::span<const FlowRecord> records;              // this cycle's records
    const ExporterTotals* totals = nullptr;
    const CycleSummary* summary = nullptr;
    std::function<std::string(std::uint32_t)> ifname; // ifindex -> device name
    // The owner of a socket cookie (FlowKey::owner; attribution), nullptr when unknown.
    std::function<const attribution::Owner*(std::uint64_t)> owner;
    std::span<const ipfix::InterfaceInfo> interfaces; // every device seen (IPFIX interface table)
    bool final = false;                               // the last cycle: deliver everything now
};

class Sink {
public:
    virtual ~Sink() = default;

    // "ipfix", "netflow9", "netflow5", "log", "stats", "kafka", ... and where it goes:
    // the metrics labels.
    virtual std::string kind() const = 0;
    virtual std::string name() const = 0;
    // Two sinks with the same identity are the same output: a reload keeps the running one
    // (its sequence numbers, socket, queued lines).
    virtual std::string identity() const = 0;

    virtual void cycle(const CycleContext& ctx) = 0;
    // logrotate / SIGHUP: files are opened again.
    virtual void reopen() {}
    // The output has ended for good (a reader closed the pipe): it takes no more records.
    virtual bool ended() const { return false; }
    // Waiting deliveries (datagrams, lines) the event loop still has to carry out.
    virtual bool busy() const { return false; }
    // `ebpfix ctl templates`: the next message carries every template again. False for an
    // output without templates (or one that sends them once per connection, IPFIX/TCP).
    virtual bool resend_templates() { return false; }

    virtual SinkCounters counters() const = 0;
    virtual std::vector<OwnSocket> own_sockets() const { return {}; }
};

// Stands for an output that runs already, in the list a reload builds: FlowExporter puts
// the running sink of the same identity in its place. Never cycled.
class KeptSink : public Sink {
public:
    KeptSink(std::string kind, std::string name, std::string identity)
        : kind_(std::move(kind)), name_(std::move(name)), identity_(std::move(identity)) {}
    std::string kind() const override { return kind_; }
    std::string name() const override { return name_; }
    std::string identity() const override { return identity_; }
    void cycle(const CycleContext&) override {}
    SinkCounters counters() const override { return {}; }

private:
    std::string kind_, name_, identity_;
};

}  // namespace ebpfix::sinks
