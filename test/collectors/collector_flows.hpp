// The flows the real-collector tests export, and the process-wide setup those tests share
// (root, tools, private network namespace).
#pragma once

#include <set>
#include <tuple>
#include <vector>

#include "collectors/collector_harness.hpp"
#include "collectors/flow_generator.hpp"
#include "common/flow_types.hpp"
#include "support/netns.hpp"
#include "support/root_guard.hpp"

namespace ebpfix::test {

// Root first (netns), then the tools, then a private network namespace: the collectors
// and every datagram stay on a loopback nobody else sees.
inline void enter_collector_sandbox(const std::vector<std::string>& tools, const char* what) {
    require_root(what);
    require_tools(tools, what);
    enter_private_netns();
}

inline FlowKey key_v4(std::uint32_t src, std::uint32_t dst, std::uint16_t sport, std::uint16_t dport,
                      std::uint8_t proto) {
    FlowKey k;
    k.ip_version = 4;
    k.src_addr = FlowKey::mapped_v4(src);
    k.dst_addr = FlowKey::mapped_v4(dst);
    k.src_port = sport;
    k.dst_port = dport;
    k.protocol = proto;
    return k;
}

inline FlowKey key_v6(std::uint16_t src_tail, std::uint16_t dst_tail, std::uint16_t sport, std::uint16_t dport,
                      std::uint8_t proto) {
    FlowKey k;
    k.ip_version = 6;
    // 2001:db8::/32 (documentation prefix)
    k.src_addr = {0x20, 0x01, 0x0d, 0xb8};
    k.dst_addr = {0x20, 0x01, 0x0d, 0xb8};
    k.src_addr[14] = std::uint8_t(src_tail >> 8);
    k.src_addr[15] = std::uint8_t(src_tail);
    k.dst_addr[14] = std::uint8_t(dst_tail >> 8);
    k.dst_addr[15] = std::uint8_t(dst_tail);
    k.src_port = sport;
    k.dst_port = dport;
    k.protocol = proto;
    return k;
}

inline FlowRecord make_flow(FlowKey k, std::uint64_t packets, std::uint64_t bytes, std::uint64_t start_ms,
                            std::uint64_t end_ms, std::uint16_t flags, std::uint8_t tos, std::uint32_t ifindex,
                            Direction dir, EndReason reason, std::uint16_t vlan = 0) {
    FlowRecord r;
    k.ifindex = ifindex;
    k.direction = dir;
    k.vlan_id = vlan;
    r.key = k;
    r.packets = packets;
    r.bytes = bytes;
    r.start_ms = start_ms;
    r.end_ms = end_ms;
    r.tcp_flags = flags;
    r.tos = tos;
    r.end_reason = reason;
    return r;
}

// Six hand-picked flows (TCP, UDP, ICMP for each family; a 2^63 byte count; times with
// ms fractions) plus `random_count` seeded random ones with distinct 5-tuples. Every time
// lies in [now_ms - 600 s, now_ms].
inline std::vector<FlowRecord> collector_flows(std::uint64_t now_ms, std::size_t random_count, std::uint64_t seed) {
    std::vector<FlowRecord> flows{
        make_flow(key_v4(0x0a010001, 0x0a010002, 40000, 443, 6), 10, 1500, now_ms - 5123, now_ms - 1456, 0x1b, 0x10,
                  2, Direction::ingress, EndReason::end_of_flow, 100),
        make_flow(key_v4(0x0a010003, 0xe00000fb, 5353, 5353, 17), 4294967296ull, 9223372036854775813ull,
                  now_ms - 60001, now_ms - 1, 0, 0xb8, 3, Direction::egress, EndReason::active_timeout),
        make_flow(key_v4(0x0a010004, 0x0a010005, 0, 0x0800, 1), 3, 252, now_ms - 3999, now_ms - 1999, 0, 0, 2,
                  Direction::ingress, EndReason::idle_timeout),
        make_flow(key_v6(1, 2, 50000, 22, 6), 7, 900, now_ms - 2500, now_ms - 700, 0x18, 0x20, 4, Direction::egress,
                  EndReason::forced_end),
        make_flow(key_v6(3, 4, 12345, 53, 17), 1, 80, now_ms - 1000, now_ms - 1000, 0, 0, 4, Direction::ingress,
                  EndReason::lack_of_resources),
        make_flow(key_v6(5, 6, 0, 0x8000, 58), 2, 208, now_ms - 2222, now_ms - 1111, 0, 0, 4, Direction::ingress,
                  EndReason::idle_timeout),
    };
    std::set<std::tuple<std::array<std::uint8_t, 16>, std::array<std::uint8_t, 16>, std::uint16_t, std::uint16_t,
                        std::uint8_t>>
        seen;
    for (const auto& f : flows) seen.insert({f.key.src_addr, f.key.dst_addr, f.key.src_port, f.key.dst_port, f.key.protocol});
    FlowGenerator gen(seed, now_ms - 600000, now_ms);
    while (flows.size() < 6 + random_count) {
        FlowRecord r = gen.next();
        r.key.vlan_id &= 0x0fff;
        r.key.inner_vlan_id &= 0x0fff;
        r.tcp_flags &= 0xff;
        if (seen.insert({r.key.src_addr, r.key.dst_addr, r.key.src_port, r.key.dst_port, r.key.protocol}).second)
            flows.push_back(r);
    }
    return flows;
}

}  // namespace ebpfix::test
