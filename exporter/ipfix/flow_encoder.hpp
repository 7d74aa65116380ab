// IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) message encoders. They turn flow records
// into complete export messages (one UDP payload each) and know nothing of BPF,
// sockets or clocks: every time they use is passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <gsl/span>

#include "common/flow_types.hpp"
#include "ipfix/biflow.hpp"

namespace ebpfix::attribution {
struct Owner;
}

namespace ebpfix::ipfix {

enum class Protocol : std::uint8_t { ipfix, netflow9 };

// How the kernel picks the 1-in-N packets (announced in samplingAlgorithm, IE 35).
enum class SamplingAlgorithm : std::uint8_t {
    random,  // each packet independently with probability 1/N
    hash,    // a hash of the flow key selects whole flows (RFC 7014 hash-based flow selection)
};

// The samplingAlgorithm (35) value for an algorithm: 2 "Random Sampling" for random,
// 1 "Deterministic Sampling" for hash (a deterministic function of the packet content,
// RFC 5475 section 6.2). docs/ipfix.md, "Sampling".
constexpr std::uint8_t sampling_algorithm_ie_value(SamplingAlgorithm a) noexcept {
    return a == SamplingAlgorithm::hash ? 1 : 2;
}

struct EncoderOptions {
    Protocol protocol = Protocol::ipfix;
    // IPFIX Observation Domain ID / NetFlow v9 Source ID. Stable, non-zero.
    std::uint32_t observation_domain = 1;
    // Largest message (= UDP payload) in bytes. 1472 fits a 1500-byte IPv4 path.
    std::size_t max_message_size = 1472;
    // Templates are re-sent when this many seconds passed since they were last sent...
    std::uint32_t template_refresh_seconds = 60;
    // ...or when this many messages were sent since (whichever comes first). 0 = never.
    std::uint32_t template_refresh_messages = 20;
    // Packet sampling 1-in-N; 0 or 1 = off (no sampling options are sent then). The
    // records carry the sampled counts; the sampling options (templates 258 and 263) tell
    // collectors to multiply them by N.
    std::uint32_t sampling_interval = 0;
    SamplingAlgorithm sampling_algorithm = SamplingAlgorithm::random;
    // Wall-clock ms at which NetFlow v9 sysUptime is 0 (the exporter's start, or the
    // first capture time with --pcap). Also systemInitTimeMilliseconds.
    std::uint64_t uptime_origin_ms = 0;
    // Attribution (docs/ipfix.md, "Attribution"): a record whose flow has a socket owner
    // (encode() with an OwnerLookup) goes in template 264/265 with userName (371) and
    // applicationName (96); records without an owner stay in 256/257.
    bool attribution = false;
    // Private Enterprise Number under which ebpfix's enterprise-specific IEs (pid, uid,
    // cgroup id and path) are sent with attribution (IPFIX templates 266/267 instead of
    // 264/265). 0 = none are sent. Never a number that is not yours. Ignored by NetFlow v9,
    // which has no enterprise fields; 29305 (RFC 5103 reverse IEs) is rejected.
    std::uint32_t enterprise_number = 0;
    // RFC 5103 biflows: encode_biflows() with templates 268/269 (IPFIX only).
    bool biflow = false;
};

// nfdump (1.7.1 to current, src/netflow/ipfix.c SetSequence) keeps only the low 16 bits
// of an Enterprise Number: under a PEN whose low bits are 0 it reads ebpfix's enterprise
// IEs 1..4 as IANA octetDeltaCount, packetDeltaCount, deltaFlowCount and
// protocolIdentifier, and under one whose low bits are 29305 as RFC 5103 reverse counts.
// True for such a PEN (worth a warning when enterprise_number is configured).
constexpr bool nfdump_misreads_enterprise_number(std::uint32_t pen) noexcept {
    std::uint32_t low = pen & 0xffff;
    return pen > 0xffff && (low == 0 || low == 29305);
}

// Exporter statistics sent as options records (RFC 7011 section 4).
struct ExporterStatistics {
    std::uint64_t ignored_packets = 0;   // packets the meter could not account (kernel drop counters)
    std::uint64_t ignored_octets = 0;
    std::uint64_t not_sent_flows = 0;    // records lost to send errors
    std::uint64_t not_sent_packets = 0;
    std::uint64_t not_sent_octets = 0;
};

struct InterfaceInfo {
    std::uint32_t ifindex = 0;
    std::string name;         // interfaceName (82)
    std::string description;  // interfaceDescription (83)
};

// What the encoder has produced so far (for metrics). Each finished message is counted
// before it is handed to the sink, so the difference of two snapshots taken around one
// sink call is exactly what that message carries (records, packets, octets).
struct EncoderCounters {
    std::uint64_t messages = 0;
    std::uint64_t octets = 0;              // bytes of messages
    std::uint64_t data_records = 0;        // flow records (a biflow is one)
    std::uint64_t data_packets = 0;        // sum of their packetDeltaCount (+ reverse, biflows)
    std::uint64_t data_octets = 0;         // sum of their octetDeltaCount (+ reverse, biflows)
    std::uint64_t options_records = 0;
    std::uint64_t template_records = 0;    // template + options template records
};

// Receives each finished message. The span is valid only during the call.
using MessageSink = std::function<void(gsl::span<const std::uint8_t>)>;

// The owner of a socket cookie (FlowKey::owner), nullptr when unknown; what
// sinks::CycleContext::owner holds. Called once per record with a non-zero cookie, before
// any message is built; the pointers must stay valid during the encode() call.
using OwnerLookup = std::function<const attribution::Owner*(std::uint64_t cookie)>;

class FlowEncoder {
public:
    // Throws std::invalid_argument when the options cannot work (message too small for
    // one record, observation_domain 0, ...).
    explicit FlowEncoder(const EncoderOptions& options);
    ~FlowEncoder();
    FlowEncoder(FlowEncoder&&) noexcept;
    FlowEncoder& operator=(FlowEncoder&&) noexcept;

    // Encodes every record, packing as many per message as fit; templates go before their
    // first use and again on refresh. now_ms: wall clock, ms since the Unix epoch.
    void encode(std::span<const FlowRecord> records, std::uint64_t now_ms, const MessageSink& sink);
    // The same with attribution: with options().attribution on, each record whose
    // key.owner the lookup resolves goes in an attribution template. An empty lookup, or
    // attribution off, encodes exactly as encode() above.
    void encode(std::span<const FlowRecord> records, const OwnerLookup& owners, std::uint64_t now_ms,
                const MessageSink& sink);

    // RFC 5103 biflows (pair_biflows() of one cycle's records), one data record each in
    // template 268/269. Needs options().biflow (throws std::logic_error otherwise). The
    // counters count one data record per biflow and both directions' packets and octets.
    void encode_biflows(std::span<const Biflow> biflows, std::uint64_t now_ms, const MessageSink& sink);

    // Options records: (when sampling is on) the sampling interval and algorithm first,
    // then exporter statistics and the interface table, with their options templates as
    // needed.
    void encode_options(const ExporterStatistics& stats, std::span<const InterfaceInfo> interfaces,
                        std::uint64_t now_ms, const MessageSink& sink);

    // Makes the next message carry every template again (e.g. after a collector restart).
    void resend_templates();

    const EncoderOptions& options() const noexcept;
    const EncoderCounters& counters() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ebpfix::ipfix
