// NetFlow v5 datagram building; the layout and the choices are documented in the header.
#include "ipfix/netflow5_encoder.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "ipfix/record_sources.hpp"
#include "ipfix/wire.hpp"

namespace ebpfix::ipfix {
namespace {

constexpr std::uint64_t k_counter_max = 0xffffffffull;  // dPkts / dOctets are 32 bits
constexpr std::uint32_t k_ifindex_max = 0xffff;         // input / output are 16 bits
constexpr std::uint32_t k_sampling_interval_max = 0x3fff;
constexpr std::uint16_t k_sampling_mode_packet_interval = 0x4000;  // mode 01 in the two high bits

std::uint64_t pieces_for(std::uint64_t value) noexcept { return value == 0 ? 0 : (value - 1) / k_counter_max + 1; }

// How many v5 records `r` needs so packets and octets each fit 32 bits (at least 1).
std::uint64_t split_count(const FlowRecord& r) noexcept {
    return std::max<std::uint64_t>({pieces_for(r.packets), pieces_for(r.bytes), 1});
}

// Share i of n of value: value / n, the first value % n shares one more. Sums to value.
std::uint32_t share(std::uint64_t value, std::uint64_t n, std::uint64_t i) noexcept {
    return static_cast<std::uint32_t>(value / n + (i < value % n ? 1 : 0));
}

}  // namespace

Netflow5Encoder::Netflow5Encoder(const Netflow5Options& options) : opt_(options) {
    if (options.max_records == 0 || options.max_records > k_max_records)
        throw std::invalid_argument("netflow5 encoder: max_records " + std::to_string(options.max_records) +
                                    " is outside 1..30 (a v5 datagram holds at most 30 records)");
    if (options.sampling_interval > k_sampling_interval_max)
        throw std::invalid_argument("netflow5 encoder: sampling_interval " + std::to_string(options.sampling_interval) +
                                    " exceeds 16383 (the v5 header has 14 bits for it)");
    if (options.sampling_interval > 1)
        sampling_field_ = static_cast<std::uint16_t>(k_sampling_mode_packet_interval | options.sampling_interval);
    buf_.assign(k_header_size + options.max_records * k_record_size, 0);
}

void Netflow5Encoder::put_record(const FlowRecord& r, std::uint64_t now_ms, std::uint32_t packets,
                                 std::uint32_t octets, std::uint16_t input, std::uint16_t output) noexcept {
    const FlowSource s{r, opt_.uptime_origin_ms, now_ms};
    std::uint8_t* p = buf_.data() + k_header_size + count_ * k_record_size;
    put_addr4(p, s.src_v4());
    put_addr4(p + 4, s.dst_v4());
    put_u32(p + 8, 0);  // nexthop: not known
    put_u16(p + 12, input);
    put_u16(p + 14, output);
    put_u32(p + 16, packets);
    put_u32(p + 20, octets);
    put_u32(p + 24, s.start_uptime());
    put_u32(p + 28, s.end_uptime());
    put_u16(p + 32, s.src_port());  // 0 for ICMP
    put_u16(p + 34, r.key.dst_port);  // ICMP: type << 8 | code
    put_u8(p + 36, 0);
    put_u8(p + 37, s.tcp_flags_low8());
    put_u8(p + 38, s.protocol());
    put_u8(p + 39, s.tos());
    put_u32(p + 40, 0);  // src_as, dst_as
    put_u32(p + 44, 0);  // src_mask, dst_mask, pad
    ++count_;
    msg_packets_ += packets;
    msg_octets_ += octets;
}

void Netflow5Encoder::finish_datagram(std::uint64_t now_ms, const MessageSink& sink) {
    if (count_ == 0) return;
    std::uint8_t* h = buf_.data();
    const std::uint64_t origin = opt_.uptime_origin_ms;
    put_u16(h, 5);
    put_u16(h + 2, static_cast<std::uint16_t>(count_));
    put_u32(h + 4, static_cast<std::uint32_t>(now_ms > origin ? now_ms - origin : 0));
    put_u32(h + 8, static_cast<std::uint32_t>(now_ms / 1000));
    put_u32(h + 12, static_cast<std::uint32_t>(now_ms % 1000 * 1000000));
    put_u32(h + 16, sequence_);
    put_u8(h + 20, opt_.engine_type);
    put_u8(h + 21, opt_.engine_id);
    put_u16(h + 22, sampling_field_);
    const std::size_t len = k_header_size + count_ * k_record_size;
    // State first: a throwing sink loses this datagram, never the sequence numbering.
    sequence_ += static_cast<std::uint32_t>(count_);
    ++counters_.messages;
    counters_.octets += len;
    counters_.data_records += count_;
    counters_.data_packets += msg_packets_;
    counters_.data_octets += msg_octets_;
    count_ = 0;
    msg_packets_ = msg_octets_ = 0;
    sink(gsl::span<const std::uint8_t>(h, len));
}

void Netflow5Encoder::encode(std::span<const FlowRecord> records, std::uint64_t now_ms, const MessageSink& sink) {
    // Validate everything before the first byte goes out; what v5 cannot carry is
    // decided by the record alone, so it is counted here.
    for (std::size_t i = 0; i < records.size(); ++i) {
        std::uint8_t v = records[i].key.ip_version;
        if (v != 4 && v != 6)
            throw std::invalid_argument("netflow5 encoder: record " + std::to_string(i) + " has ip_version " +
                                        std::to_string(v) + " (4 or 6 expected)");
    }
    for (const FlowRecord& r : records) {
        bool oversized = r.key.ip_version == 4 && split_count(r) > k_max_split;
        if (r.key.ip_version == 4 && !oversized) continue;
        ++counters_.not_exportable_records;
        counters_.not_exportable_packets += r.packets;
        counters_.not_exportable_octets += r.bytes;
        if (oversized) ++counters_.oversized_records;
    }
    for (const FlowRecord& r : records) {
        if (r.key.ip_version != 4) continue;
        const std::uint64_t n = split_count(r);
        if (n > k_max_split) continue;
        std::uint32_t in = r.ingress_ifindex(), out = r.egress_ifindex();
        if (in > k_ifindex_max || out > k_ifindex_max) ++counters_.ifindex_clamped_records;
        const auto input = static_cast<std::uint16_t>(in > k_ifindex_max ? 0 : in);
        const auto output = static_cast<std::uint16_t>(out > k_ifindex_max ? 0 : out);
        if (n > 1) ++counters_.split_records;
        for (std::uint64_t i = 0; i < n; ++i) {
            put_record(r, now_ms, share(r.packets, n, i), share(r.bytes, n, i), input, output);
            if (count_ == opt_.max_records) finish_datagram(now_ms, sink);
        }
    }
    finish_datagram(now_ms, sink);
}

}  // namespace ebpfix::ipfix
