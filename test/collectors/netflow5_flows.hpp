// The flows the NetFlow v5 collector tests export, and what a collector must show of
// them: hand-picked IPv4 flows (counts that need splitting, ICMP, an ifIndex above 16
// bits, GRE), IPv6 flows (never sent) and seeded random ones from FlowGenerator with
// counts cut to at most a few times 2^32 (so splitting stays small) and ifIndexes on
// both sides of 65535.
#pragma once

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "collectors/collector_flows.hpp"
#include "collectors/flow_generator.hpp"
#include "common/flow_types.hpp"
#include "ipfix/netflow5_encoder.hpp"

namespace ebpfix::test {

constexpr std::uint64_t k_v5_counter_max = 0xffffffffull;

inline std::vector<FlowRecord> netflow5_flows(std::uint64_t now_ms, std::size_t random_count, std::uint64_t seed) {
    std::vector<FlowRecord> flows{
        make_flow(key_v4(0x0a010001, 0x0a010002, 40000, 443, 6), 10, 1500, now_ms - 5123, now_ms - 1456, 0x11b, 0x10,
                  2, Direction::ingress, EndReason::end_of_flow),
        // 5,000,000,000 octets: two v5 records.
        make_flow(key_v4(0x0a010003, 0x0a010004, 5001, 5002, 17), 4000000, 5000000000ull, now_ms - 60001,
                  now_ms - 1, 0, 0xb8, 3, Direction::egress, EndReason::active_timeout),
        // 2^32 + 5 packets, 3e11 octets: 70 v5 records over three datagrams.
        make_flow(key_v4(0x0a010005, 0x0a010006, 5003, 5004, 17), 4294967301ull, 300000000000ull, now_ms - 120000,
                  now_ms - 2, 0, 0, 4, Direction::ingress, EndReason::active_timeout),
        make_flow(key_v4(0x0a010007, 0x0a010008, 0, 0x0800, 1), 3, 252, now_ms - 3999, now_ms - 1999, 0, 0, 3,
                  Direction::egress, EndReason::idle_timeout),
        make_flow(key_v4(0x0a010009, 0x0a01000a, 0, 0x0303, 1), 1, 56, now_ms - 700, now_ms - 700, 0, 0xc0, 2,
                  Direction::ingress, EndReason::idle_timeout),
        // ifIndex 70000 does not fit 16 bits: sent as 0.
        make_flow(key_v4(0x0a01000b, 0x0a01000c, 33000, 22, 6), 20, 4000, now_ms - 9000, now_ms - 10, 0x18, 0, 70000,
                  Direction::ingress, EndReason::forced_end),
        make_flow(key_v4(0x0a01000d, 0x0a01000e, 0, 0, 47), 5, 700, now_ms - 800, now_ms - 300, 0, 0, 65535,
                  Direction::egress, EndReason::idle_timeout),
        make_flow(key_v6(1, 2, 50000, 22, 6), 7, 900, now_ms - 2500, now_ms - 700, 0x18, 0x20, 4, Direction::egress,
                  EndReason::forced_end),
        make_flow(key_v6(5, 6, 0, 0x8000, 58), 2, 208, now_ms - 2222, now_ms - 1111, 0, 0, 4, Direction::ingress,
                  EndReason::idle_timeout),
    };
    std::set<std::tuple<std::array<std::uint8_t, 16>, std::array<std::uint8_t, 16>, std::uint16_t, std::uint16_t,
                        std::uint8_t>>
        seen;
    for (const auto& f : flows) seen.insert({f.key.src_addr, f.key.dst_addr, f.key.src_port, f.key.dst_port, f.key.protocol});
    FlowGenerator gen(seed, now_ms - 600000, now_ms);
    while (flows.size() < 9 + random_count) {
        FlowRecord r = gen.next();
        r.packets = 1 + r.packets % (3 * k_v5_counter_max);
        r.bytes = 1 + r.bytes % (4 * k_v5_counter_max);
        r.key.ifindex %= 100000;
        if (seen.insert({r.key.src_addr, r.key.dst_addr, r.key.src_port, r.key.dst_port, r.key.protocol}).second)
            flows.push_back(r);
    }
    return flows;
}

// What a v5 collector shows of a flow's interfaces: 16-bit indexes, anything larger is 0.
inline std::uint32_t v5_ifindex(std::uint32_t ifindex) { return ifindex > 0xffff ? 0 : ifindex; }

// The match key collectors can show for an IPv4 flow: addresses, ports as sent (ICMP:
// srcport 0, dstport type << 8 | code) and protocol.
inline std::string v5_key(const FlowRecord& f) {
    return address_text(f.key, true) + " " + std::to_string(f.key.is_icmp() ? 0 : f.key.src_port) + " > " +
           address_text(f.key, false) + " " + std::to_string(f.key.dst_port) + " p" + std::to_string(f.key.protocol);
}

inline std::string v5_key(const std::string& src, const std::string& sport, const std::string& dst,
                          const std::string& dport, const std::string& proto) {
    return src + " " + sport + " > " + dst + " " + dport + " p" + proto;
}

// Encodes `flows` in two calls (two drain cycles) and returns the datagrams.
inline std::vector<std::vector<std::uint8_t>> encode_netflow5(const std::vector<FlowRecord>& flows,
                                                              const ipfix::Netflow5Options& options,
                                                              std::uint64_t now_ms, ipfix::Netflow5Counters* counters) {
    ipfix::Netflow5Encoder enc(options);
    std::vector<std::vector<std::uint8_t>> datagrams;
    auto sink = [&](gsl::span<const std::uint8_t> m) { datagrams.emplace_back(m.begin(), m.end()); };
    std::size_t half = flows.size() / 2;
    enc.encode(std::span<const FlowRecord>(flows.data(), half), now_ms, sink);
    enc.encode(std::span<const FlowRecord>(flows.data() + half, flows.size() - half), now_ms, sink);
    if (counters) *counters = enc.counters();
    return datagrams;
}

}  // namespace ebpfix::test
