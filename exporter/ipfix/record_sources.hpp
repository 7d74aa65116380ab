// The values the generated record writers read (the <source> column of
// templates/templates.def). One member function per source name.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "attribution/owners.hpp"
#include "common/flow_types.hpp"
#include "ipfix/biflow.hpp"
#include "ipfix/flow_encoder.hpp"

namespace ebpfix::ipfix {

// One flow record. origin_ms/now_ms serve NetFlow v9's sysUptime-relative times.
struct FlowSource {
    const FlowRecord& r;
    std::uint64_t origin_ms;
    std::uint64_t now_ms;

    std::uint32_t src_v4() const noexcept { return r.key.src_v4(); }
    std::uint32_t dst_v4() const noexcept { return r.key.dst_v4(); }
    const std::array<std::uint8_t, 16>& src_v6() const noexcept { return r.key.src_addr; }
    const std::array<std::uint8_t, 16>& dst_v6() const noexcept { return r.key.dst_addr; }
    // ICMP has no ports: its type/code goes to icmpTypeCode*, the ports are 0.
    std::uint16_t src_port() const noexcept { return r.key.is_icmp() ? 0 : r.key.src_port; }
    std::uint16_t dst_port() const noexcept { return r.key.is_icmp() ? 0 : r.key.dst_port; }
    std::uint8_t protocol() const noexcept { return r.key.protocol; }
    // tcpControlBits in one byte: the classic 8 flags; NS (bit 8) does not fit.
    std::uint8_t tcp_flags_low8() const noexcept { return static_cast<std::uint8_t>(r.tcp_flags); }
    std::uint8_t tos() const noexcept { return r.tos; }
    std::uint64_t start_ms() const noexcept { return r.start_ms; }
    std::uint64_t end_ms() const noexcept { return r.end_ms; }
    // v9 FIRST/LAST_SWITCHED: ms since the sysUptime origin, clamped into [origin, now] so
    // no record time lies after the header's sysUptime.
    std::uint32_t start_uptime() const noexcept { return uptime(r.start_ms); }
    std::uint32_t end_uptime() const noexcept { return uptime(r.end_ms); }
    std::uint64_t octets() const noexcept { return r.bytes; }
    std::uint64_t packets() const noexcept { return r.packets; }
    std::uint32_t ingress_ifindex() const noexcept { return r.ingress_ifindex(); }
    std::uint32_t egress_ifindex() const noexcept { return r.egress_ifindex(); }
    std::uint8_t direction() const noexcept { return static_cast<std::uint8_t>(r.key.direction); }
    std::uint8_t end_reason() const noexcept { return static_cast<std::uint8_t>(r.end_reason); }
    std::uint8_t ip_version() const noexcept { return r.key.ip_version; }
    // VLAN IDs are 12 bits; anything above is not a VID.
    std::uint16_t vlan_id() const noexcept { return r.key.vlan_id & 0x0fff; }
    std::uint16_t inner_vlan_id() const noexcept { return r.key.inner_vlan_id & 0x0fff; }
    std::uint16_t icmp_type_code() const noexcept { return r.icmp_type_code(); }

    std::uint32_t uptime(std::uint64_t t) const noexcept {
        std::uint64_t hi = std::max(now_ms, origin_ms);
        t = std::min(std::max(t, origin_ms), hi);
        return static_cast<std::uint32_t>(t - origin_ms);
    }
};

// A flow record with the owner of its local socket (attribution templates). The texts are
// already valid UTF-8 within their field's cap. A number the kernel did not record is all
// ones: 0 would read as root (uid) or the kernel (pid).
struct OwnedFlowSource : FlowSource {
    const attribution::Owner& owner;
    std::string_view user_text;
    std::string_view application_text;
    std::string_view cgroup_text;

    static constexpr std::uint32_t k_absent32 = 0xffffffffu;
    static constexpr std::uint64_t k_absent64 = ~std::uint64_t{0};

    std::string_view user_name() const noexcept { return user_text; }
    std::string_view application_name() const noexcept { return application_text; }
    std::uint32_t owner_pid() const noexcept { return owner.pid.value_or(k_absent32); }
    std::uint32_t owner_uid() const noexcept { return owner.uid.value_or(k_absent32); }
    std::uint64_t owner_cgroup_id() const noexcept { return owner.cgroup_id.value_or(k_absent64); }
    std::string_view owner_cgroup_path() const noexcept { return cgroup_text; }
};

// An RFC 5103 biflow: the forward record's fields, the reverse direction's counts, flags
// and times (0 when the biflow has no reverse record), and biflowDirection.
struct BiflowSource : FlowSource {
    const FlowRecord* reverse;
    BiflowDirection biflow;

    std::uint64_t reverse_octets() const noexcept { return reverse ? reverse->bytes : 0; }
    std::uint64_t reverse_packets() const noexcept { return reverse ? reverse->packets : 0; }
    std::uint8_t reverse_tcp_flags_low8() const noexcept {
        return reverse ? static_cast<std::uint8_t>(reverse->tcp_flags) : 0;
    }
    std::uint64_t reverse_start_ms() const noexcept { return reverse ? reverse->start_ms : 0; }
    std::uint64_t reverse_end_ms() const noexcept { return reverse ? reverse->end_ms : 0; }
    std::uint8_t biflow_direction() const noexcept { return static_cast<std::uint8_t>(biflow); }
};

// One options record: statistics, sampling or one interface.
struct OptionsSource {
    std::uint32_t domain;
    std::uint32_t sampling;
    SamplingAlgorithm algorithm;
    const EncoderCounters& before;  // encoder totals before this options export
    const ExporterStatistics& stats;
    std::uint64_t origin_ms;
    std::uint64_t now_ms;
    std::uint32_t if_index = 0;
    std::string_view if_name;
    std::string_view if_description;

    // One Metering and one Exporting Process per observation domain: both are identified
    // by the observation domain ID (documented in docs/ipfix.md).
    std::uint32_t metering_process_id() const noexcept { return domain; }
    std::uint32_t exporting_process_id() const noexcept { return domain; }
    std::uint32_t observation_domain_id() const noexcept { return domain; }
    std::uint32_t sampling_interval() const noexcept { return sampling; }
    std::uint8_t sampling_algorithm() const noexcept { return sampling_algorithm_ie_value(algorithm); }
    std::uint64_t exported_messages() const noexcept { return before.messages; }
    std::uint64_t exported_flow_records() const noexcept { return before.data_records; }
    std::uint64_t exported_octets() const noexcept { return before.octets; }
    std::uint64_t system_init_ms() const noexcept { return origin_ms; }
    std::uint64_t ignored_packets() const noexcept { return stats.ignored_packets; }
    std::uint64_t ignored_octets() const noexcept { return stats.ignored_octets; }
    std::uint64_t not_sent_flows() const noexcept { return stats.not_sent_flows; }
    std::uint64_t not_sent_packets() const noexcept { return stats.not_sent_packets; }
    std::uint64_t not_sent_octets() const noexcept { return stats.not_sent_octets; }
    // The totals are counted since the exporter started.
    std::uint64_t interval_start_ms() const noexcept { return origin_ms; }
    std::uint64_t interval_end_ms() const noexcept { return now_ms; }
    std::uint32_t ifindex() const noexcept { return if_index; }
    std::string_view interface_name() const noexcept { return if_name; }
    std::string_view interface_description() const noexcept { return if_description; }
};

// Copies the longest prefix of `in` that is at most max_bytes of valid UTF-8 (RFC 3629)
// into out; every invalid byte and every NUL becomes '?'. Collectors decode string IEs
// as UTF-8, and interface names are arbitrary bytes on Linux.
inline void utf8_prefix(std::string_view in, std::size_t max_bytes, std::string& out) {
    out.clear();
    std::size_t i = 0;
    while (i < in.size()) {
        auto b = static_cast<unsigned char>(in[i]);
        std::size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
        bool valid = len != 0 && i + len <= in.size() && b != 0;
        std::uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1fu) : len == 3 ? (b & 0x0fu) : (b & 0x07u);
        for (std::size_t k = 1; valid && k < len; ++k) {
            auto c = static_cast<unsigned char>(in[i + k]);
            if ((c & 0xc0) != 0x80) valid = false;
            cp = cp << 6 | (c & 0x3fu);
        }
        if (valid) {  // reject overlong forms, surrogates and code points above U+10FFFF
            static constexpr std::uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
            valid = cp >= min_cp[len] && !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
        }
        if (!valid) len = 1;
        if (out.size() + len > max_bytes) break;
        if (valid) {
            out.append(in.substr(i, len));
        } else {
            out.push_back('?');
        }
        i += len;
    }
}

}  // namespace ebpfix::ipfix
