// Snapshots to rows: merge by flow id, rates from the previous snapshot, cells, order.
#include "views/top_view.hpp"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace ebpfix::views {

const std::array<std::string_view, column_count> column_titles = {
    "bitrate", "pkt/s", "packets", "bytes", "proto", "source", "destination", "dir", "iface", "user", "process"};

bool column_is_numeric(Column column) {
    return column == col_bit_rate || column == col_packet_rate || column == col_packets || column == col_bytes;
}

std::string_view sort_key_name(SortKey key) {
    switch (key) {
        case SortKey::bit_rate: return "bitrate";
        case SortKey::packets: return "packets";
        case SortKey::bytes: return "bytes";
        case SortKey::source: return "source";
        case SortKey::destination: return "destination";
    }
    return "?";
}

std::string format_bit_rate(double bits_per_second) {
    static constexpr const char* units[] = {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"};
    double v = bits_per_second < 0 ? 0 : bits_per_second;
    std::size_t unit = 0;
    // Move up while the value would print as 1000 or more in this unit.
    while (unit + 1 < std::size(units) && v >= 999.5) {
        v /= 1000;
        ++unit;
    }
    char buf[48];
    if (unit == 0 || v >= 99.95) std::snprintf(buf, sizeof(buf), "%.0f %s", v, units[unit]);
    else if (v >= 9.995) std::snprintf(buf, sizeof(buf), "%.1f %s", v, units[unit]);
    else std::snprintf(buf, sizeof(buf), "%.2f %s", v, units[unit]);
    return buf;
}

std::string format_packet_rate(double packets_per_second) {
    char buf[48];
    std::snprintf(buf, sizeof(buf), "%.1f", packets_per_second < 0 ? 0.0 : packets_per_second);
    return buf;
}

namespace {

bool has_ports(std::uint8_t protocol) {
    return protocol == 6 || protocol == 17 || protocol == 132 || protocol == 136 || protocol == 33;
}

std::string user_text(const LiveFlow& f) {
    if (f.user) return printable(*f.user);
    if (f.uid) return std::to_string(*f.uid);
    return "";
}

std::string process_text(const LiveFlow& f) {
    std::string out = f.comm ? printable(*f.comm) : std::string();
    if (f.pid) out += "[" + std::to_string(*f.pid) + "]";
    return out;
}

bool contains_ignoring_case(std::string_view text, std::string_view needle) {
    if (needle.empty()) return true;
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    return std::search(text.begin(), text.end(), needle.begin(), needle.end(),
                       [&](char a, char b) { return lower(a) == lower(b); }) != text.end();
}

void fill_cells(Row& row) {
    const LiveFlow& f = row.flow;
    auto& c = row.cells;
    c[col_bit_rate] = row.bit_rate ? format_bit_rate(*row.bit_rate) : "-";
    c[col_packet_rate] = row.packet_rate ? format_packet_rate(*row.packet_rate) : "-";
    c[col_packets] = std::to_string(f.packets);
    c[col_bytes] = std::to_string(f.bytes);
    c[col_protocol] = protocol_text(f.protocol, f.dst_port);
    c[col_source] = endpoint_text(f.src, f.src_port, f.protocol);
    c[col_destination] = endpoint_text(f.dst, f.dst_port, f.protocol);
    c[col_direction] = f.direction == Direction::egress ? "egress" : "ingress";
    c[col_interface] = printable(f.ifname);
    c[col_user] = user_text(f);
    c[col_process] = process_text(f);
    row.text.clear();
    for (std::size_t i = 0; i < column_count; ++i) {
        if (c[i].empty()) continue;
        if (!row.text.empty()) row.text += "  ";
        row.text += c[i];
    }
}

// Higher first; an unknown rate after every known one.
int compare_rate(const std::optional<double>& a, const std::optional<double>& b) {
    if (a.has_value() != b.has_value()) return a.has_value() ? -1 : 1;
    if (!a) return 0;
    return *a > *b ? -1 : *a < *b ? 1 : 0;
}

int compare_desc(std::uint64_t a, std::uint64_t b) {
    return a > b ? -1 : a < b ? 1 : 0;
}

template <typename T>
int compare_asc(const T& a, const T& b) {
    const auto c = a <=> b;
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace

std::string protocol_text(std::uint8_t protocol, std::uint16_t dst_port) {
    const auto icmp = [&](const char* name) {
        return std::string(name) + " " + std::to_string(dst_port >> 8) + "/" + std::to_string(dst_port & 0xff);
    };
    switch (protocol) {
        case 1: return icmp("ICMP");
        case 2: return "IGMP";
        case 4: return "IPIP";
        case 6: return "TCP";
        case 17: return "UDP";
        case 33: return "DCCP";
        case 41: return "IPv6";
        case 47: return "GRE";
        case 50: return "ESP";
        case 51: return "AH";
        case 58: return icmp("ICMPv6");
        case 89: return "OSPF";
        case 103: return "PIM";
        case 112: return "VRRP";
        case 132: return "SCTP";
        case 136: return "UDPLite";
    }
    return std::to_string(protocol);
}

std::string endpoint_text(const Address& address, std::uint16_t port, std::uint8_t protocol) {
    const std::string host = printable(address.text);
    if (!has_ports(protocol)) return host;
    if (address.family == 6) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x80 && c < 0xc0) continue;  // a UTF-8 continuation: its lead byte gave the '?'
        out += (c >= 0x20 && c < 0x7f) ? ch : '?';
    }
    return out;
}

void TopView::update(const Snapshot& snapshot) {
    // Merge the table entries that share an id (the daemon keys finer, e.g. by VLAN).
    std::map<FlowId, std::size_t> index;
    std::vector<Row> rows;
    rows.reserve(snapshot.flows.size());
    for (const LiveFlow& f : snapshot.flows) {
        FlowId id{f.src, f.dst, f.src_port, f.dst_port, f.protocol, f.direction, f.ifname, f.pid};
        auto [it, inserted] = index.try_emplace(id, rows.size());
        if (inserted) {
            Row row;
            row.id = std::move(id);
            row.flow = f;
            rows.push_back(std::move(row));
            continue;
        }
        LiveFlow& merged = rows[it->second].flow;
        merged.packets += f.packets;
        merged.bytes += f.bytes;
        merged.held_packets += f.held_packets;
        merged.held_bytes += f.held_bytes;
        merged.last_ms = std::max(merged.last_ms, f.last_ms);
        merged.tcp_flags |= f.tcp_flags;
    }

    // Rates need an earlier snapshot with an earlier clock.
    const bool rates_known = previous_now_ms_ && snapshot.now_ms > *previous_now_ms_;
    const double seconds = rates_known ? double(snapshot.now_ms - *previous_now_ms_) / 1000.0 : 0;
    std::map<FlowId, Counts> counts;
    for (Row& row : rows) {
        const Counts now{row.flow.packets, row.flow.bytes};
        if (rates_known) {
            Counts delta = now;
            // A flow new since the previous snapshot entered the table after it: all its
            // counts are of this interval. So are those of one that left and came back
            // (its totals restarted, so they went down).
            if (auto it = previous_counts_.find(row.id);
                it != previous_counts_.end() && now.packets >= it->second.packets && now.bytes >= it->second.bytes)
                delta = {now.packets - it->second.packets, now.bytes - it->second.bytes};
            row.packet_rate = double(delta.packets) / seconds;
            row.bit_rate = double(delta.bytes) * 8.0 / seconds;
        }
        fill_cells(row);
        counts.emplace(row.id, now);
    }
    previous_counts_ = std::move(counts);
    previous_now_ms_ = snapshot.now_ms;
    latest_ = std::move(rows);
    latest_rates_known_ = rates_known;
    latest_now_ms_ = snapshot.now_ms;
    if (!paused_) {
        shown_ = latest_;
        shown_now_ms_ = latest_now_ms_;
        shown_rates_known_ = latest_rates_known_;
        rebuild();
    }
}

void TopView::set_sort(SortKey key) {
    sort_ = key;
    rebuild();
    selected_ = 0;
}

void TopView::set_filter(std::string text) {
    filter_ = std::move(text);
    rebuild();
    selected_ = 0;
}

void TopView::set_paused(bool paused) {
    if (paused_ == paused) return;
    paused_ = paused;
    if (!paused_ && latest_now_ms_) {
        shown_ = latest_;
        shown_now_ms_ = latest_now_ms_;
        shown_rates_known_ = latest_rates_known_;
        rebuild();
    }
}

void TopView::move_selection(long delta) {
    if (visible_.empty()) {
        selected_ = 0;
        return;
    }
    const long last = long(visible_.size()) - 1;
    selected_ = std::size_t(std::clamp(long(selected_) + delta, 0L, last));
}

Totals TopView::totals() const {
    Totals t;
    t.rates_known = shown_rates_known_;
    t.flows = shown_.size();
    for (const Row& r : shown_) {
        t.bit_rate += r.bit_rate.value_or(0);
        t.packet_rate += r.packet_rate.value_or(0);
    }
    return t;
}

Totals TopView::visible_totals() const {
    Totals t;
    t.rates_known = shown_rates_known_;
    t.flows = visible_.size();
    for (const Row& r : visible_) {
        t.bit_rate += r.bit_rate.value_or(0);
        t.packet_rate += r.packet_rate.value_or(0);
    }
    return t;
}

void TopView::rebuild() {
    // The top row is a place (the busiest flow, whichever it is); any other selected row
    // is a flow, followed wherever the new order puts it.
    std::optional<FlowId> was_selected;
    if (selected_ > 0 && selected_ < visible_.size()) was_selected = visible_[selected_].id;

    visible_.clear();
    has_attribution_ = false;
    for (const Row& r : shown_) {
        has_attribution_ = has_attribution_ || r.flow.user || r.flow.uid || r.flow.pid || r.flow.comm;
        if (contains_ignoring_case(r.text, filter_)) visible_.push_back(r);
    }

    const auto compare = [this](const Row& a, const Row& b) {
        int c = 0;
        switch (sort_) {
            case SortKey::bit_rate: c = compare_rate(a.bit_rate, b.bit_rate); break;
            case SortKey::packets: c = compare_desc(a.flow.packets, b.flow.packets); break;
            case SortKey::bytes: c = compare_desc(a.flow.bytes, b.flow.bytes); break;
            case SortKey::source:
                c = compare_asc(std::tie(a.id.src, a.id.src_port), std::tie(b.id.src, b.id.src_port));
                break;
            case SortKey::destination:
                c = compare_asc(std::tie(a.id.dst, a.id.dst_port), std::tie(b.id.dst, b.id.dst_port));
                break;
        }
        // Equal keys in a fixed order, so rows do not swap places between refreshes.
        return c != 0 ? c < 0 : a.id < b.id;
    };
    std::sort(visible_.begin(), visible_.end(), compare);

    if (was_selected) {
        for (std::size_t i = 0; i < visible_.size(); ++i)
            if (visible_[i].id == *was_selected) {
                selected_ = i;
                return;
            }
    }
    move_selection(0);  // gone: stay at the same place, within the rows
}

}  // namespace ebpfix::views
