// Seeded random FlowRecords for round-trip and collector tests, and the comparison of a
// decoded record with what was encoded.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "common/flow_types.hpp"

namespace ebpfix::test {

inline std::string address_text(const FlowKey& k, bool src) {
    const auto& a = src ? k.src_addr : k.dst_addr;
    char buf[INET6_ADDRSTRLEN] = {};
    if (k.ip_version == 4)
        ::inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
    else
        ::inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
    return buf;
}

inline std::string describe(const FlowRecord& r) {
    std::ostringstream s;
    s << address_text(r.key, true) << ':' << r.key.src_port << " -> " << address_text(r.key, false) << ':'
      << r.key.dst_port << " proto " << int(r.key.protocol) << " v" << int(r.key.ip_version) << " if "
      << r.key.ifindex << (r.key.direction == Direction::ingress ? " in" : " out") << " vlan " << r.key.vlan_id
      << '/' << r.key.inner_vlan_id << " pkts " << r.packets << " bytes " << r.bytes << " t " << r.start_ms
      << ".." << r.end_ms << " flags " << r.tcp_flags << " tos " << int(r.tos) << " end "
      << int(static_cast<std::uint8_t>(r.end_reason));
    return s.str();
}

// Everything the templates carry, as a tuple: for ordering and equality.
inline auto carried_fields(const FlowRecord& r) {
    return std::tuple(r.key.ip_version, r.key.src_addr, r.key.dst_addr, r.key.src_port, r.key.dst_port,
                      r.key.protocol, r.key.ifindex, r.key.direction, r.key.vlan_id, r.key.inner_vlan_id,
                      r.packets, r.bytes, r.start_ms, r.end_ms, r.tcp_flags, r.tos, r.end_reason);
}

// What the templates can carry of a record: tcpControlBits is exported in one byte (the
// NS bit, bit 8, does not fit) and VLAN IDs are 12 bits.
inline FlowRecord exportable(FlowRecord r) {
    r.tcp_flags &= 0xff;
    r.key.vlan_id &= 0x0fff;
    r.key.inner_vlan_id &= 0x0fff;
    return r;
}

class FlowGenerator {
public:
    // Times: start in [origin_ms, now_ms], end in [start, now_ms].
    FlowGenerator(std::uint64_t seed, std::uint64_t origin_ms, std::uint64_t now_ms)
        : rng_(seed), origin_ms_(origin_ms), now_ms_(now_ms) {}

    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }

    // Counters: small, 32-bit edge, large and the 2^64-1 extreme all appear.
    std::uint64_t counter() {
        switch (below(6)) {
        case 0: return 1 + below(10);
        case 1: return 0xffffffffull + below(3) - 1;
        case 2: return rng_();
        case 3: return 0xffffffffffffffffull - below(2);
        default: return below(1u << 20);
        }
    }

    FlowRecord next() {
        FlowRecord r;
        FlowKey& k = r.key;
        k.ip_version = below(2) ? 6 : 4;
        if (k.ip_version == 4) {
            k.src_addr = FlowKey::mapped_v4(std::uint32_t(rng_()));
            k.dst_addr = FlowKey::mapped_v4(std::uint32_t(rng_()));
        } else {
            for (auto& b : k.src_addr) b = std::uint8_t(rng_());
            for (auto& b : k.dst_addr) b = std::uint8_t(rng_());
            k.src_addr[0] = 0x20;  // global unicast, never IPv4-mapped
            k.dst_addr[0] = 0x20;
        }
        static constexpr std::uint8_t kProtocols[] = {6, 17, 0 /* ICMP of the family */, 132, 47, 136};
        k.protocol = kProtocols[below(std::size(kProtocols))];
        if (k.protocol == 0) k.protocol = k.ip_version == 4 ? 1 : 58;
        if (k.is_icmp()) {
            k.src_port = 0;
            k.dst_port = std::uint16_t(rng_());  // type << 8 | code
        } else if (k.protocol == 47) {
            k.src_port = k.dst_port = 0;         // GRE has no ports
        } else {
            k.src_port = std::uint16_t(rng_());
            k.dst_port = std::uint16_t(rng_());
        }
        k.ifindex = 1 + std::uint32_t(below(0xfffffffeull));
        k.direction = below(2) ? Direction::egress : Direction::ingress;
        k.vlan_id = below(3) == 0 ? 0 : std::uint16_t(below(4096));
        k.inner_vlan_id = below(3) == 0 ? std::uint16_t(below(4096)) : 0;
        r.packets = counter();
        r.bytes = counter();
        r.start_ms = origin_ms_ + below(now_ms_ - origin_ms_ + 1);
        r.end_ms = r.start_ms + below(now_ms_ - r.start_ms + 1);
        r.tcp_flags = k.protocol == 6 ? std::uint16_t(below(0x200)) : 0;
        r.tos = std::uint8_t(rng_());
        r.end_reason = static_cast<EndReason>(1 + below(5));
        return r;
    }

    std::vector<FlowRecord> batch(std::size_t n) {
        std::vector<FlowRecord> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) out.push_back(next());
        return out;
    }

private:
    std::mt19937_64 rng_;
    std::uint64_t origin_ms_;
    std::uint64_t now_ms_;
};

}  // namespace ebpfix::test
