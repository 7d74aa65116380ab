#include "ipfix/biflow.hpp"

#include <unordered_map>
#include <utility>

namespace ebpfix::ipfix {
namespace {

constexpr std::uint16_t k_tcp_syn = 0x02, k_tcp_ack = 0x10;

// ICMP request type -> reply type (IANA ICMP / ICMPv6 parameters): echo, timestamp,
// information and address mask for IPv4, echo for IPv6.
struct IcmpPair {
    std::uint8_t request;
    std::uint8_t reply;
};
constexpr IcmpPair k_icmp4_pairs[] = {{8, 0}, {13, 14}, {15, 16}, {17, 18}};
constexpr IcmpPair k_icmp6_pairs[] = {{128, 129}};

std::span<const IcmpPair> icmp_pairs(const FlowKey& k) noexcept {
    if (k.ip_version == 4) return k_icmp4_pairs;
    return k_icmp6_pairs;
}

// +1 request, -1 reply, 0 neither (or not ICMP).
int icmp_role(const FlowKey& k) noexcept {
    if (!k.is_icmp()) return 0;
    auto type = static_cast<std::uint8_t>(k.dst_port >> 8);
    for (const IcmpPair& p : icmp_pairs(k)) {
        if (type == p.request) return 1;
        if (type == p.reply) return -1;
    }
    return 0;
}

bool syn_without_ack(const FlowRecord& r) noexcept {
    return r.key.protocol == 6 && (r.tcp_flags & k_tcp_syn) && !(r.tcp_flags & k_tcp_ack);
}

FlowKey without_owner(FlowKey k) noexcept {
    k.owner = 0;
    return k;
}

// Which of a pair started the connection: true when `a` did, false when `b` did, nullopt
// when nothing tells.
std::optional<bool> a_initiated(const FlowRecord& a, const FlowRecord& b) noexcept {
    if (a.key.protocol == 6 && syn_without_ack(a) != syn_without_ack(b)) return syn_without_ack(a);
    if (int role = icmp_role(a.key); role != 0) return role > 0;
    if (a.start_ms != b.start_ms) return a.start_ms < b.start_ms;
    return std::nullopt;
}

BiflowDirection single_direction(const FlowRecord& r) noexcept {
    if (syn_without_ack(r)) return BiflowDirection::initiator;
    int role = icmp_role(r.key);
    if (role > 0) return BiflowDirection::initiator;
    if (role < 0) return BiflowDirection::reverse_initiator;
    return BiflowDirection::arbitrary;
}

}  // namespace

std::optional<FlowKey> reverse_key(const FlowKey& key) noexcept {
    FlowKey r = key;
    r.owner = 0;
    std::swap(r.src_addr, r.dst_addr);
    r.direction = key.direction == Direction::ingress ? Direction::egress : Direction::ingress;
    if (key.is_icmp()) {
        // ICMP ports are 0 and the type/code lives in dst_port: the reply keeps the code.
        auto type = static_cast<std::uint8_t>(key.dst_port >> 8);
        auto code = static_cast<std::uint16_t>(key.dst_port & 0xff);
        for (const IcmpPair& p : icmp_pairs(key)) {
            if (type != p.request && type != p.reply) continue;
            std::uint8_t other = type == p.request ? p.reply : p.request;
            r.dst_port = static_cast<std::uint16_t>(other << 8 | code);
            return r;
        }
        return std::nullopt;
    }
    std::swap(r.src_port, r.dst_port);
    return r;
}

std::vector<Biflow> pair_biflows(std::span<const FlowRecord> records) {
    // Records by key without the owner, in input order.
    std::unordered_map<FlowKey, std::vector<std::size_t>, FlowKeyHash> by_key;
    by_key.reserve(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) by_key[without_owner(records[i].key)].push_back(i);

    std::vector<bool> used(records.size(), false);
    std::vector<Biflow> out;
    out.reserve(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (used[i]) continue;
        used[i] = true;
        const FlowRecord& a = records[i];
        std::optional<std::size_t> partner;
        if (auto other = reverse_key(a.key)) {
            auto it = by_key.find(*other);
            if (it != by_key.end()) {
                // The same socket first; a 0 owner (a hook that did not know the socket)
                // pairs with any; two different sockets never pair.
                for (std::size_t j : it->second) {
                    if (used[j]) continue;
                    std::uint64_t ob = records[j].key.owner;
                    if (ob == a.key.owner) {
                        partner = j;
                        break;
                    }
                    if (!partner && (ob == 0 || a.key.owner == 0)) partner = j;
                }
            }
        }
        if (!partner) {
            out.push_back(Biflow{a, std::nullopt, single_direction(a)});
            continue;
        }
        used[*partner] = true;
        const FlowRecord& b = records[*partner];
        std::optional<bool> a_first = a_initiated(a, b);
        BiflowDirection direction = a_first ? BiflowDirection::initiator : BiflowDirection::arbitrary;
        if (a_first.value_or(true))
            out.push_back(Biflow{a, b, direction});
        else
            out.push_back(Biflow{b, a, direction});
    }
    return out;
}

}  // namespace ebpfix::ipfix
