// The stats file: one line per drain cycle, text or JSON, appended and fsync'd after each
// line so a crash never loses a cycle that was reported.
//
// flowcap (github.com/luk-kop/flowcap, main.go exportFlows) writes
//   text: "[2006-01-02 15:04:05] Exported: A active, I inactive, C closed | Total flows: N
//          | Bytes: N | Packets: N | Drops: fragments=N non_ipv4=N parse_err=N"
//   JSON: {"active","closed","drop_fragments","drop_non_ipv4","drop_parse_err","inactive",
//          "timestamp","total_bytes","total_flows","total_packets"} (Go sorts map keys).
// ebpfix keeps flowcap's keys whose meaning it shares, in flowcap's order, and names its
// own drop counters for what they count: the kernel program does not drop fragments (it
// counts them in port-0 flows) and "non-IP" here excludes IPv6, so flowcap's
// drop_fragments / drop_non_ipv4 / drop_parse_err would mislead; see CycleStats.
#pragma once

#include <cstdint>
#include <string>

#include "sinks/flow_log.hpp"

namespace ebpfix::sinks {

struct PacketsBytes {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
};

// What one drain cycle did. The daemon fills it; every field is a plain number. Key names
// in the file are the field names below (drops: "drop_X" = packets, "drop_X_bytes").
struct CycleStats {
    std::int64_t timestamp = 0;         // end of the cycle, Unix seconds (flowcap: timestamp)
    std::uint64_t active = 0;           // records exported for the active timeout (flowcap: active)
    std::uint64_t inactive = 0;         // records exported for the idle timeout (flowcap: inactive)
    std::uint64_t closed = 0;           // records exported for TCP FIN/RST (flowcap: closed)
    std::uint64_t total_flows = 0;      // flows held in the flow table after the cycle
    std::uint64_t total_bytes = 0;      // L3 bytes in the records exported this cycle
    std::uint64_t total_packets = 0;    // packets in the records exported this cycle
    PacketsBytes drop_non_ip;           // not IPv4/IPv6 (bytes: whole frame), this cycle
    PacketsBytes drop_parse_error;      // bad IP version/IHL/length, TCP doff, IPv6 ext chain
    PacketsBytes drop_truncated;        // shorter than the headers it announces
    PacketsBytes drop_map_full;         // kernel flow map full: not in any flow
    PacketsBytes sampled_out;           // left out by 1-in-N sampling (not in any flow, by design)
    PacketsBytes excluded;              // source or destination in an exclude list
    PacketsBytes own_export;            // ebpfix's own export traffic, kept out of flows
    PacketsBytes fragments;             // non-first fragments (counted in port-0 flows, not dropped)
    std::uint64_t exported_records = 0; // records handed to collectors / the flow log this cycle
    std::uint64_t evicted = 0;          // records exported early: flow table full (lack of resources)
    std::uint64_t forced = 0;           // records exported because ebpfix stops (forced end)
    std::uint64_t kernel_flows_drained = 0;  // kernel map entries read by this cycle's drain
    std::uint64_t drain_ms = 0;         // wall time of the cycle (drain, table, exports), ms
    std::uint64_t send_errors = 0;      // messages the outputs could not deliver this cycle
};

// One line without the newline. Text uses local time for the "[date time]" prefix, as flowcap.
std::string format_stats_text(const CycleStats& stats);
std::string format_stats_json(const CycleStats& stats);

class StatsFileWriter {
public:
    // path "-" = stdout (not fsync'd). Throws OutputError "PATH: reason".
    StatsFileWriter(std::string path, LogFormat format);
    ~StatsFileWriter();
    StatsFileWriter(const StatsFileWriter&) = delete;
    StatsFileWriter& operator=(const StatsFileWriter&) = delete;

    // Appends and fsyncs one line. A failure is counted, never thrown; returns success.
    bool write(const CycleStats& stats);
    // Reopens the path (logrotate); keeps the old file on failure and returns false.
    bool reopen();

    std::uint64_t lines_written() const noexcept { return lines_written_; }
    std::uint64_t write_errors() const noexcept { return write_errors_; }
    const std::string& last_error() const noexcept { return file_.last_error(); }

private:
    LogFormat format_;
    AppendFile file_;
    std::uint64_t lines_written_ = 0;
    std::uint64_t write_errors_ = 0;
};

}  // namespace ebpfix::sinks
