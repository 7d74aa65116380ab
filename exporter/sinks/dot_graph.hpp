// Who talks to whom over the run, as a Graphviz DOT graph (ebpf-netflow-tracer's
// net_visualizer draws processes and their TCP connections; this draws every protocol).
//
// Nodes: a process, "comm[pid]" (a box), for an endpoint whose local socket has a known
// owner with a pid (attribution); otherwise the host, its address (an ellipse). One
// directed edge per (initiator node, responder node), labelled "N connections\nB bytes":
// N distinct conversations (5-tuples; ICMP: one per address pair), B their bytes in both
// directions. A packet seen twice on its way (egress and ingress of loopback, or in and
// out of a forwarding host) counts once: per direction of a conversation the larger of
// its egress and its ingress bytes. The edge also carries connections=N and bytes=B.
//
// The initiator of a conversation (keyed by its undirected 5-tuple and protocol, so the
// two directions' records, which come separately and often in different cycles, meet):
//   1. TCP: the side that sent a record with SYN and without ACK (a handshake cut
//      between records, or never answered); ICMP: the side that sent an echo request.
//   2. TCP, both sides sent SYN (records OR their packets' flags, so a whole handshake
//      shows SYN|ACK on both): the side whose first SYN record started first.
//   3. Otherwise (UDP and the rest, or TCP that began before ebpfix): the side whose
//      first record started first.
//   Equal times (the clock has ms steps): the side with the lower port is the responder
//   (services listen on fixed low ports, clients use ephemeral ones); equal ports: the
//   lower address initiates. While only one direction has been seen and no rule 1 holds,
//   that direction's source is taken as the initiator for now; once a rule decides with
//   both directions (or rule 1 holds) the initiator is fixed for the conversation.
//
// Memory: at most max_conversations (default 100,000) conversations are kept; records
// of further conversations are counted (folded_records(), folded_bytes()), not drawn,
// and the graph's label says so. Nodes are bounded by two per conversation.
//
// The file is rewritten after every cycle that brought records: PATH.tmp is written,
// fsynced and renamed over PATH, so a reader (`dot -Tsvg PATH`) always sees a complete
// graph. Node names are sanitized: printable ASCII except '"', '\' and '%' kept, other
// bytes as %XX, so a hostile comm can neither break the DOT nor hit a label escape.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "sinks/sink.hpp"

namespace ebpfix::sinks {

class DotGraphSink : public Sink {
public:
    // Writes the (empty) graph at once. Throws OutputError "PATH: reason" when PATH.tmp
    // cannot be written or renamed, and for an empty path.
    explicit DotGraphSink(std::string path, std::size_t max_conversations = 100'000);

    std::string kind() const override { return "dot"; }
    std::string name() const override { return path_; }
    std::string identity() const override { return "dot " + path_; }
    void cycle(const CycleContext& ctx) override;
    SinkCounters counters() const override;

    // The graph as DOT text (what the file holds after the last cycle).
    std::string render() const;

    std::size_t conversations() const noexcept { return conversations_.size(); }
    std::uint64_t folded_records() const noexcept { return folded_records_; }
    std::uint64_t folded_bytes() const noexcept { return folded_bytes_; }
    std::uint64_t rewrites() const noexcept { return rewrites_; }
    std::uint64_t write_errors() const noexcept { return write_errors_; }
    const std::string& last_error() const noexcept { return last_error_; }

    // Endpoint a is the lower (address, port), b the higher.
    struct ConversationKey {
        std::array<std::uint8_t, 16> addr_a{}, addr_b{};
        std::uint16_t port_a = 0, port_b = 0;
        std::uint8_t protocol = 0, ip_version = 4;
        friend bool operator==(const ConversationKey&, const ConversationKey&) = default;
    };

private:
    struct KeyHash {
        std::size_t operator()(const ConversationKey& k) const noexcept;
    };
    // One direction of a conversation: 0 = a to b, 1 = b to a.
    struct Way {
        std::uint64_t egress_bytes = 0, ingress_bytes = 0;
        std::uint64_t first_ms = UINT64_MAX;      // earliest record start
        std::uint64_t first_syn_ms = UINT64_MAX;  // earliest start of a record with SYN
        bool opened = false;                      // SYN without ACK / ICMP echo request
    };
    static constexpr std::uint32_t no_process = UINT32_MAX;
    struct Conversation {
        Way way[2];
        std::uint32_t process[2] = {no_process, no_process};  // node of endpoint a / b
        std::int8_t initiator = -1;                            // fixed: 0 = a, 1 = b
    };
    struct Decision {
        int initiator;
        bool final;
    };
    static Decision decide(const ConversationKey& key, const Conversation& c);
    void add(const FlowRecord& r, const CycleContext& ctx);
    std::uint32_t process_node(const attribution::Owner& owner);
    bool write_file();  // false, counted and last_error_ set, when it failed

    std::string path_;
    std::size_t max_conversations_;
    std::unordered_map<ConversationKey, Conversation, KeyHash> conversations_;
    std::vector<std::string> process_names_;
    std::unordered_map<std::string, std::uint32_t> process_ids_;
    std::uint64_t records_ = 0;
    std::uint64_t folded_records_ = 0, folded_bytes_ = 0;
    std::uint64_t rewrites_ = 0, write_errors_ = 0, bytes_written_ = 0;
    std::string last_error_;
    bool dirty_ = false;  // records since the last successful write
    bool failing_ = false;
};

// A DOT node name part: printable ASCII except '"', '\' and '%' as is, other bytes %XX.
std::string dot_safe(std::string_view raw);

}  // namespace ebpfix::sinks
