// The summary of a timed run (`ebpfix eth0 --timeout 10s`), as pktstat-bpf prints it at
// exit (github.com/dkorunic/pktstat-bpf, output.go outputPlain / outputJSON): one line per
// flow, highest bitrate first,
//   "bitrate: 1.60 Kbps, packets: 3, bytes: 2000, proto: TCP, src: 10.0.0.1:40000, dst: 10.0.0.2:443"
// with pktstat-bpf's rate: 8 * bytes / the run's duration (every flow over the same time,
// so the rates add up to the total's), its units ("%.2f bps|Kbps|Mbps|Gbps|Tbps", 1000
// based) and its protocol names (TCP, UDP, ICMPv4, IPv6-ICMP, ...; other numbers print as
// the number where pktstat-bpf says "Unknown"). ICMP shows "src: A, dst: B, type: T,
// code: C"; IPv6 endpoints are bracketed ("[2001:db8::1]:443") so they split at the last
// colon. With an owner (attribution) pktstat-bpf's ", pid: N, comm: NAME, cgroup: PATH"
// follow, then ebpfix's ", user: NAME" and always ", direction: D, ifname: I" (a flow is a
// whole FlowKey: one 5-tuple seen on two devices or directions is two lines). Names are
// text_token()s, so a value never holds a space or a comma.
// pktstat-bpf has no totals; ebpfix adds, after a blank line, "per IP address:" (what each
// address sent as a source and received as a destination), "per protocol:" and a "total:"
// line, each with the same rate. The totals are exact sums of every record handed over.
// JSON: one object; "flows" holds pktstat-bpf's entries (its keys srcIp, dstIp, proto,
// comm, bytes, packets, bitrate, pid, srcPort, dstPort; ICMP type/code in the ports as
// pktstat-bpf has them) plus ebpfix's keys.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "sinks/sink.hpp"

namespace ebpfix::sinks {

class SummarySink : public Sink {
public:
    // run_start_ms: when the run began (wall clock, ms); 0 = the earliest record start.
    // At most max_flows flows are kept apart; records of further flows are summed into
    // one "other" line (totals stay exact).
    explicit SummarySink(std::uint64_t run_start_ms = 0, std::size_t max_flows = 100'000);

    std::string kind() const override { return "summary"; }
    std::string name() const override { return "stdout"; }
    std::string identity() const override { return "summary"; }
    void cycle(const CycleContext& ctx) override;
    SinkCounters counters() const override;

    // The summary as text lines or one JSON document, each ending in a newline.
    std::string render(bool json) const;

    struct FlowSum {
        std::uint64_t packets = 0, bytes = 0, records = 0;
        std::uint64_t start_ms = 0, end_ms = 0;  // first start, last end
    };
    std::size_t flows() const noexcept { return flows_.size(); }
    // The run's duration used for every rate: end (the latest cycle time or record end)
    // minus start, at least 1 ms.
    std::uint64_t duration_ms() const noexcept;
    const FlowSum& total() const noexcept { return total_; }
    const FlowSum& other() const noexcept { return other_; }

private:
    std::uint64_t run_start_ms_;
    std::size_t max_flows_;
    std::uint64_t earliest_start_ms_ = UINT64_MAX;
    std::uint64_t run_end_ms_ = 0;
    std::unordered_map<FlowKey, FlowSum, FlowKeyHash> flows_;
    FlowSum other_;  // flows beyond max_flows
    FlowSum total_;
    std::array<FlowSum, 256> by_protocol_{};  // every record, folded ones too
    std::unordered_map<std::uint64_t, attribution::Owner> owners_;  // socket cookie -> owner, of kept flows
    std::map<std::uint32_t, std::string> ifnames_;                 // ifindex -> name, of kept flows
};

// pktstat-bpf's formatBitrate: "%.2f" and a 1000-based unit.
std::string format_bitrate(double bits_per_second);
// pktstat-bpf's protocol name, or the number as text.
std::string protocol_name(std::uint8_t protocol);

}  // namespace ebpfix::sinks
