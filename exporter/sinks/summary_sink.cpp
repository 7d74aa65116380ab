#include "sinks/summary_sink.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <tuple>
#include <vector>

#include "sinks/flow_log.hpp"

namespace ebpfix::sinks {

namespace {

void add(SummarySink::FlowSum& sum, const FlowRecord& r) {
    if (sum.records == 0 || r.start_ms < sum.start_ms) sum.start_ms = r.start_ms;
    sum.end_ms = std::max(sum.end_ms, r.end_ms);
    sum.packets += r.packets;
    sum.bytes += r.bytes;
    ++sum.records;
}

// Go's encoding/json prints a float64 in the shortest form that reads back the same,
// without an exponent in this range; std::to_chars in fixed notation does the same.
std::string json_number(double value) {
    char buf[400];
    const auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed);
    return std::string(buf, res.ptr);
}

std::string endpoint_text(const FlowKey& k, bool source) {
    const auto& addr = source ? k.src_addr : k.dst_addr;
    const auto port = source ? k.src_port : k.dst_port;
    const std::string a = address_text(addr, k.ip_version);
    return (k.ip_version == 4 ? a : "[" + a + "]") + ":" + std::to_string(port);
}

struct IpTotals {
    std::uint64_t sent_packets = 0, sent_bytes = 0, received_packets = 0, received_bytes = 0;
};

}  // namespace

std::string format_bitrate(double b) {
    static constexpr const char* units[] = {"bps", "Kbps", "Mbps", "Gbps", "Tbps"};
    int unit = 0;
    while (unit < 4 && b >= 1000.0) {
        b /= 1000.0;
        ++unit;
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.2f %s", b, units[unit]);
    return buf;
}

std::string protocol_name(std::uint8_t protocol) {
    switch (protocol) {
        case 0: return "HOPOPT";
        case 1: return "ICMPv4";
        case 2: return "IGMP";
        case 4: return "IP-ENCAP";
        case 6: return "TCP";
        case 17: return "UDP";
        case 33: return "DCCP";
        case 41: return "IPv6";
        case 47: return "GRE";
        case 50: return "IPSEC-ESP";
        case 51: return "IPSEC-AH";
        case 58: return "IPv6-ICMP";
        case 89: return "OSPFIGP";
        case 103: return "PIM";
        case 112: return "VRRP";
        case 132: return "SCTP";
        case 136: return "UDPLite";
        default: return std::to_string(protocol);
    }
}

SummarySink::SummarySink(std::uint64_t run_start_ms, std::size_t max_flows)
    : run_start_ms_(run_start_ms), max_flows_(max_flows) {}

void SummarySink::cycle(const CycleContext& ctx) {
    run_end_ms_ = std::max(run_end_ms_, ctx.now_ms);
    for (const FlowRecord& r : ctx.records) {
        earliest_start_ms_ = std::min(earliest_start_ms_, r.start_ms);
        run_end_ms_ = std::max(run_end_ms_, r.end_ms);
        add(total_, r);
        add(by_protocol_[r.key.protocol], r);
        auto it = flows_.find(r.key);
        if (it == flows_.end()) {
            if (flows_.size() >= max_flows_) {
                add(other_, r);
                continue;
            }
            it = flows_.try_emplace(r.key).first;
            if (ctx.owner && r.key.owner != 0 && !owners_.count(r.key.owner)) {
                if (const attribution::Owner* o = ctx.owner(r.key.owner)) owners_.emplace(r.key.owner, *o);
            }
            if (ctx.ifname && !ifnames_.count(r.key.ifindex))
                ifnames_.emplace(r.key.ifindex, ctx.ifname(r.key.ifindex));
        }
        add(it->second, r);
    }
}

SinkCounters SummarySink::counters() const {
    SinkCounters c;
    c.records_delivered = total_.records;
    return c;
}

std::uint64_t SummarySink::duration_ms() const noexcept {
    std::uint64_t start = run_start_ms_;
    if (start == 0) start = earliest_start_ms_ == UINT64_MAX ? run_end_ms_ : earliest_start_ms_;
    return run_end_ms_ > start ? run_end_ms_ - start : 1;
}

std::string SummarySink::render(bool json) const {
    const double seconds = double(duration_ms()) / 1000.0;
    auto rate = [&](std::uint64_t bytes) { return 8.0 * double(bytes) / seconds; };

    // Highest bitrate first: with one duration for all that is most bytes; ties by
    // packets, then by key, so the order never depends on the hash table.
    std::vector<std::pair<const FlowKey*, const FlowSum*>> order;
    order.reserve(flows_.size());
    for (const auto& [key, sum] : flows_) order.emplace_back(&key, &sum);
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        if (a.second->bytes != b.second->bytes) return a.second->bytes > b.second->bytes;
        if (a.second->packets != b.second->packets) return a.second->packets > b.second->packets;
        return *a.first < *b.first;
    });

    // Per address, keyed (family, bytes) so the tie order is the address order.
    std::map<std::pair<std::uint8_t, std::array<std::uint8_t, 16>>, IpTotals> ips;
    std::array<std::uint64_t, 256> flows_of_protocol{};
    for (const auto& [key, sum] : order) {
        IpTotals& src = ips[{key->ip_version, key->src_addr}];
        src.sent_packets += sum->packets;
        src.sent_bytes += sum->bytes;
        IpTotals& dst = ips[{key->ip_version, key->dst_addr}];
        dst.received_packets += sum->packets;
        dst.received_bytes += sum->bytes;
        ++flows_of_protocol[key->protocol];
    }
    std::vector<std::pair<const std::pair<std::uint8_t, std::array<std::uint8_t, 16>>*, const IpTotals*>> ip_order;
    for (const auto& [addr, t] : ips) ip_order.emplace_back(&addr, &t);
    std::stable_sort(ip_order.begin(), ip_order.end(), [](const auto& a, const auto& b) {
        return a.second->sent_bytes + a.second->received_bytes > b.second->sent_bytes + b.second->received_bytes;
    });
    std::vector<int> proto_order;
    for (int p = 0; p < 256; ++p)
        if (by_protocol_[p].records) proto_order.push_back(p);
    std::stable_sort(proto_order.begin(), proto_order.end(),
                     [&](int a, int b) { return by_protocol_[a].bytes > by_protocol_[b].bytes; });

    auto ifname_of = [&](std::uint32_t ifindex) {
        const auto it = ifnames_.find(ifindex);
        return it != ifnames_.end() ? it->second : std::to_string(ifindex);
    };
    auto owner_of = [&](const FlowKey& k) -> const attribution::Owner* {
        if (k.owner == 0) return nullptr;
        const auto it = owners_.find(k.owner);
        return it != owners_.end() ? &it->second : nullptr;
    };
    auto n = [](std::uint64_t v) { return std::to_string(v); };

    std::string out;
    if (!json) {
        for (const auto& [key, sum] : order) {
            const FlowKey& k = *key;
            out += "bitrate: " + format_bitrate(rate(sum->bytes)) + ", packets: " + n(sum->packets) +
                   ", bytes: " + n(sum->bytes) + ", proto: " + protocol_name(k.protocol);
            if (k.is_icmp()) {
                out += ", src: " + address_text(k.src_addr, k.ip_version) +
                       ", dst: " + address_text(k.dst_addr, k.ip_version) + ", type: " + n(k.dst_port >> 8) +
                       ", code: " + n(k.dst_port & 0xff);
            } else {
                out += ", src: " + endpoint_text(k, true) + ", dst: " + endpoint_text(k, false);
            }
            if (const attribution::Owner* o = owner_of(k)) {
                if (o->pid) out += ", pid: " + n(*o->pid);
                if (!o->comm.empty()) out += ", comm: " + text_token(o->comm);
                if (!o->cgroup.empty()) out += ", cgroup: " + text_token(o->cgroup);
                if (o->uid) out += ", uid: " + n(*o->uid);
                if (!o->user.empty()) out += ", user: " + text_token(o->user);
            }
            out += ", direction: " + direction_word(k.direction) + ", ifname: " + text_token(ifname_of(k.ifindex));
            if (k.vlan_id) out += ", vlan: " + n(k.vlan_id);
            if (k.inner_vlan_id) out += ", inner_vlan: " + n(k.inner_vlan_id);
            out += '\n';
        }
        if (other_.records)
            out += "other: bitrate: " + format_bitrate(rate(other_.bytes)) + ", records: " + n(other_.records) +
                   ", packets: " + n(other_.packets) + ", bytes: " + n(other_.bytes) + '\n';
        out += "\nper IP address:\n";
        for (const auto& [addr, t] : ip_order)
            out += "ip: " + address_text(addr->second, addr->first) +
                   ", bitrate: " + format_bitrate(rate(t->sent_bytes + t->received_bytes)) +
                   ", sent packets: " + n(t->sent_packets) + ", sent bytes: " + n(t->sent_bytes) +
                   ", received packets: " + n(t->received_packets) + ", received bytes: " + n(t->received_bytes) +
                   '\n';
        out += "\nper protocol:\n";
        for (const int p : proto_order)
            out += "proto: " + protocol_name(std::uint8_t(p)) + ", bitrate: " +
                   format_bitrate(rate(by_protocol_[p].bytes)) + ", flows: " + n(flows_of_protocol[p]) +
                   ", records: " + n(by_protocol_[p].records) + ", packets: " + n(by_protocol_[p].packets) +
                   ", bytes: " + n(by_protocol_[p].bytes) + '\n';
        out += "\ntotal: bitrate: " + format_bitrate(rate(total_.bytes)) + ", flows: " + n(flows_.size()) +
               ", records: " + n(total_.records) + ", packets: " + n(total_.packets) + ", bytes: " +
               n(total_.bytes) + ", duration: " + go_duration(duration_ms() * 1'000'000) + '\n';
        return out;
    }

    out += "{\"duration_ms\":" + n(duration_ms()) + ",\"flows\":[";
    bool first = true;
    for (const auto& [key, sum] : order) {
        const FlowKey& k = *key;
        const attribution::Owner* o = owner_of(k);
        out += first ? "{" : ",{";
        first = false;
        const bool icmp = k.is_icmp();
        out += "\"srcIp\":" + json_string(address_text(k.src_addr, k.ip_version)) +
               ",\"dstIp\":" + json_string(address_text(k.dst_addr, k.ip_version)) +
               ",\"proto\":" + json_string(protocol_name(k.protocol)) +
               ",\"comm\":" + json_string(o ? o->comm : "") + ",\"bytes\":" + n(sum->bytes) +
               ",\"packets\":" + n(sum->packets) + ",\"bitrate\":" + json_number(rate(sum->bytes)) +
               ",\"pid\":" + n(o && o->pid ? *o->pid : 0) +
               ",\"srcPort\":" + n(icmp ? k.dst_port >> 8 : k.src_port) +
               ",\"dstPort\":" + n(icmp ? k.dst_port & 0xff : k.dst_port) + ",\"protocol\":" + n(k.protocol);
        if (o && o->uid) out += ",\"uid\":" + n(*o->uid);
        if (o && !o->user.empty()) out += ",\"user\":" + json_string(o->user);
        if (o && !o->cgroup.empty()) out += ",\"cgroup\":" + json_string(o->cgroup);
        out += ",\"direction\":" + json_string(direction_word(k.direction)) +
               ",\"ifname\":" + json_string(ifname_of(k.ifindex)) + ",\"vlan\":" + n(k.vlan_id) +
               ",\"inner_vlan\":" + n(k.inner_vlan_id) + ",\"start_ms\":" + n(sum->start_ms) +
               ",\"end_ms\":" + n(sum->end_ms) + "}";
    }
    out += "],\"other\":{\"bitrate\":" + json_number(rate(other_.bytes)) + ",\"records\":" + n(other_.records) +
           ",\"packets\":" + n(other_.packets) + ",\"bytes\":" + n(other_.bytes) + "},\"ips\":[";
    first = true;
    for (const auto& [addr, t] : ip_order) {
        out += first ? "{" : ",{";
        first = false;
        out += "\"ip\":" + json_string(address_text(addr->second, addr->first)) +
               ",\"bitrate\":" + json_number(rate(t->sent_bytes + t->received_bytes)) +
               ",\"sent_packets\":" + n(t->sent_packets) + ",\"sent_bytes\":" + n(t->sent_bytes) +
               ",\"received_packets\":" + n(t->received_packets) + ",\"received_bytes\":" + n(t->received_bytes) +
               "}";
    }
    out += "],\"protocols\":[";
    first = true;
    for (const int p : proto_order) {
        out += first ? "{" : ",{";
        first = false;
        out += "\"proto\":" + json_string(protocol_name(std::uint8_t(p))) + ",\"protocol\":" + n(p) +
               ",\"bitrate\":" + json_number(rate(by_protocol_[p].bytes)) + ",\"flows\":" + n(flows_of_protocol[p]) +
               ",\"records\":" + n(by_protocol_[p].records) + ",\"packets\":" + n(by_protocol_[p].packets) +
               ",\"bytes\":" + n(by_protocol_[p].bytes) + "}";
    }
    out += "],\"total\":{\"bitrate\":" + json_number(rate(total_.bytes)) + ",\"flows\":" + n(flows_.size()) +
           ",\"records\":" + n(total_.records) + ",\"packets\":" + n(total_.packets) + ",\"bytes\":" +
           n(total_.bytes) + "}}\n";
    return out;
}

}  // namespace ebpfix::sinks
