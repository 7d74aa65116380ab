// NetFlow v5 datagram encoder. Like FlowEncoder it turns flow records into complete
// export datagrams (one UDP payload each) and knows nothing of BPF, sockets or clocks:
// every time it uses is passed in.
//
// NetFlow v5 has no RFC; the layout is Cisco's "NetFlow Export Datagram Format" (the
// one nfdump, Wireshark's cflow dissector and softflowd use):
//
//   header (24 bytes)                       record (48 bytes)
//    0 version = 5            u16            0 srcaddr                 u32
//    2 count (1..30)          u16            4 dstaddr                 u32
//    4 sysUptime ms           u32            8 nexthop = 0             u32
//    8 unix_secs              u32           12 input ifIndex           u16
//   12 unix_nsecs             u32           14 output ifIndex          u16
//   16 flow_sequence          u32           16 dPkts                   u32
//   20 engine_type            u8            20 dOctets                 u32
//   21 engine_id              u8            24 First (sysUptime ms)    u32
//   22 sampling: mode (2 bits) interval (14) 28 Last (sysUptime ms)    u32
//                                           32 srcport, 34 dstport     u16
//                                           36 pad, 37 tcp_flags, 38 prot, 39 tos
//                                           40 src_as, 42 dst_as = 0   u16
//                                           44 src_mask, 45 dst_mask = 0, 46 pad u16
//
// What ebpfix puts there:
// * flow_sequence: the number of v5 records sent before this datagram (mod 2^32), the
//   count collectors check (nfdump: sequence[n] - sequence[n-1] == count[n-1]).
// * sysUptime: now - uptime_origin_ms; First/Last: the record's start/end clamped into
//   [origin, now], minus origin. All three wrap modulo 2^32 ms (49.7 days) as on any v5
//   exporter; collectors rebuild the absolute time from unix_secs/unix_nsecs and
//   sysUptime, and unix_nsecs carries the export time's milliseconds, so the times are
//   exact to the millisecond.
// * sampling: 0 when sampling is off (interval 0 or 1), else mode 01 (packet interval)
//   in the two high bits and the interval in the 14 low bits: 0x4000 | interval. The
//   counts are the sampled ones; collectors scale them.
// * ICMP: srcport 0, dstport = type << 8 | code (what nfdump and softflowd do).
// * tcp_flags: the low 8 bits (NS does not fit).
// * IPv6 records cannot be expressed: they are skipped and counted (not_exportable_*).
// * ifIndex is 16 bits: an index above 65535 is written as 0 (unknown) and counted
//   (ifindex_clamped_records).
// * dPkts/dOctets are 32 bits: a record whose packets or octets exceed 2^32-1 is split
//   into n = max(ceil(packets / (2^32-1)), ceil(octets / (2^32-1))) v5 records with the
//   same key and times, each carrying an even share (the first ones one more), so each
//   fits and the sums are exact (split_records counts such input records). A record
//   that would need more than k_max_split v5 records (more than ~2^48 packets or octets
//   in one export) is not sent: it is counted as oversized and not exportable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/flow_types.hpp"
#include "ipfix/flow_encoder.hpp"

namespace ebpfix::ipfix {

struct Netflow5Options {
    std::uint8_t engine_type = 0;
    std::uint8_t engine_id = 0;
    // Packet sampling 1-in-N; 0 or 1 = off. At most 0x3fff (the header has 14 bits).
    std::uint32_t sampling_interval = 0;
    // Wall-clock ms at which sysUptime is 0 (the exporter's start).
    std::uint64_t uptime_origin_ms = 0;
    // Records per datagram, 1..30 (30 records = 1464 bytes, fits a 1500-byte IPv4 path).
    std::size_t max_records = 30;
};

// EncoderCounters (messages, octets, data_records/packets/octets over the v5 records
// written; options_records and template_records stay 0) plus what v5 cannot carry.
// As with FlowEncoder, a datagram is counted before it is handed to the sink.
struct Netflow5Counters : EncoderCounters {
    std::uint64_t not_exportable_records = 0;  // input records not sent: IPv6 or oversized
    std::uint64_t not_exportable_packets = 0;
    std::uint64_t not_exportable_octets = 0;
    std::uint64_t oversized_records = 0;        // the part of not_exportable_records too large to split
    std::uint64_t split_records = 0;            // input records sent as more than one v5 record
    std::uint64_t ifindex_clamped_records = 0;  // input records with an ifIndex above 65535 (sent as 0)
};

class Netflow5Encoder {
public:
    static constexpr std::size_t k_header_size = 24;
    static constexpr std::size_t k_record_size = 48;
    static constexpr std::size_t k_max_records = 30;
    // Most v5 records one input record may be split into (2^16: ~2^48 packets or octets).
    static constexpr std::uint64_t k_max_split = 65536;

    // Throws std::invalid_argument for max_records 0 or above 30, or a sampling
    // interval above 0x3fff.
    explicit Netflow5Encoder(const Netflow5Options& options);

    // Encodes every IPv4 record, max_records per datagram; the last datagram of a call
    // may be partly filled. now_ms: wall clock, ms since the Unix epoch. Throws
    // std::invalid_argument (before any datagram) for an ip_version other than 4 or 6.
    void encode(std::span<const FlowRecord> records, std::uint64_t now_ms, const MessageSink& sink);

    const Netflow5Options& options() const noexcept { return opt_; }
    const Netflow5Counters& counters() const noexcept { return counters_; }

private:
    void put_record(const FlowRecord& r, std::uint64_t now_ms, std::uint32_t packets, std::uint32_t octets,
                    std::uint16_t input, std::uint16_t output) noexcept;
    void finish_datagram(std::uint64_t now_ms, const MessageSink& sink);

    Netflow5Options opt_;
    Netflow5Counters counters_{};
    std::uint16_t sampling_field_ = 0;
    std::vector<std::uint8_t> buf_;  // one datagram, allocated once
    std::size_t count_ = 0;          // records in the datagram under construction
    std::uint64_t msg_packets_ = 0;  // their sums
    std::uint64_t msg_octets_ = 0;
    std::uint32_t sequence_ = 0;     // v5 records sent before the datagram under construction
};

}  // namespace ebpfix::ipfix
