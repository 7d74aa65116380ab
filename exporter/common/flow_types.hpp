// Types shared by the flow table, the encoders and the outputs. No I/O, no BPF.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace ebpfix {

// IPFIX flowEndReason (IE 136) values, RFC 7011 / IANA.
enum class EndReason : std::uint8_t {
    idle_timeout = 1,
    active_timeout = 2,
    end_of_flow = 3,  // TCP FIN (after linger) or RST
    forced_end = 4,   // ebpfix stops
    lack_of_resources = 5,  // flow table full, oldest exported early
};

enum class Direction : std::uint8_t { ingress = 0, egress = 1 };

// A flow key with both families in one shape: IPv4 addresses are IPv4-mapped
// (::ffff:a.b.c.d) and ip_version says which family the flow is.
// Ports are host byte order; ICMP/ICMPv6 carry type << 8 | code in dst_port.
struct FlowKey {
    std::array<std::uint8_t, 16> src_addr{};
    std::array<std::uint8_t, 16> dst_addr{};
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    std::uint32_t ifindex = 0;
    std::uint16_t vlan_id = 0;
    std::uint16_t inner_vlan_id = 0;
    std::uint8_t protocol = 0;
    Direction direction = Direction::ingress;
    std::uint8_t ip_version = 4;  // 4 or 6
    std::uint8_t pad = 0;
    // Cookie of the local socket that sent or received the flow (attribution), 0 = none.
    std::uint64_t owner = 0;

    friend auto operator<=>(const FlowKey&, const FlowKey&) = default;

    bool is_icmp() const noexcept {
        return (ip_version == 4 && protocol == 1) || (ip_version == 6 && protocol == 58);
    }
    // Low 4 bytes of a mapped address, network byte order as a host integer.
    std::uint32_t src_v4() const noexcept { return v4_of(src_addr); }
    std::uint32_t dst_v4() const noexcept { return v4_of(dst_addr); }

    static std::uint32_t v4_of(const std::array<std::uint8_t, 16>& a) noexcept {
        return std::uint32_t(a[12]) << 24 | std::uint32_t(a[13]) << 16 |
               std::uint32_t(a[14]) << 8 | std::uint32_t(a[15]);
    }
    static std::array<std::uint8_t, 16> mapped_v4(std::uint32_t host_order_addr) noexcept {
        std::array<std::uint8_t, 16> a{};
        a[10] = 0xff;
        a[11] = 0xff;
        a[12] = std::uint8_t(host_order_addr >> 24);
        a[13] = std::uint8_t(host_order_addr >> 16);
        a[14] = std::uint8_t(host_order_addr >> 8);
        a[15] = std::uint8_t(host_order_addr);
        return a;
    }
};
static_assert(sizeof(FlowKey) == 56);

struct FlowKeyHash {
    std::size_t operator()(const FlowKey& k) const noexcept {
        // FNV-1a over the bytes; FlowKey has no implicit padding (pad is explicit and 0).
        const auto* p = reinterpret_cast<const unsigned char*>(&k);
        std::uint64_t h = 1469598103934665603ull;
        for (std::size_t i = 0; i < sizeof(FlowKey); ++i) {
            h ^= p[i];
            h *= 1099511628211ull;
        }
        return static_cast<std::size_t>(h);
    }
};

// What the kernel counted for one flow since the previous take: the input of the flow
// table. Times are kernel CLOCK_MONOTONIC ns, or capture time when a file is replayed.
struct FlowDelta {
    FlowKey key;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t first_ns = 0;
    std::uint64_t last_ns = 0;
    std::uint16_t tcp_flags = 0;  // OR of the packets' flags; bit 8 = NS
    std::uint8_t tos = 0;         // ToS / traffic class of the flow's first packet
    // The producer's id of this flow while it keeps one (the kernel slot + 1), 0 = none.
    // Only a hint: the flow table checks the key before it trusts it.
    std::uint32_t source = 0;
};

// One exported flow record: what the encoders and logs turn into bytes or text.
// Counters are deltas since the previous record of the same flow.
struct FlowRecord {
    FlowKey key;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;       // L3 bytes (IP total length)
    std::uint64_t start_ms = 0;    // wall clock, ms since the Unix epoch
    std::uint64_t end_ms = 0;      // wall clock, ms since the Unix epoch
    std::uint16_t tcp_flags = 0;   // OR of flags; bit 8 = NS
    std::uint8_t tos = 0;
    EndReason end_reason = EndReason::idle_timeout;

    std::uint16_t icmp_type_code() const noexcept { return key.is_icmp() ? key.dst_port : 0; }
    std::uint32_t ingress_ifindex() const noexcept {
        return key.direction == Direction::ingress ? key.ifindex : 0;
    }
    std::uint32_t egress_ifindex() const noexcept {
        return key.direction == Direction::egress ? key.ifindex : 0;
    }
};

}  // namespace ebpfix
