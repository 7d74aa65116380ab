#include "daemon/control_protocol.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <limits>

#include "sinks/flow_log.hpp"

namespace ebpfix::daemon::control {

namespace {

constexpr std::string_view expected_requests =
    "expected one of: statistics, flows, flows --json, expire-all, reload, templates, graph";

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    (void)ec;  // 24 bytes always hold a uint64
    out.append(buf, end);
}

std::string hex_flags(std::uint16_t flags) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%02x", unsigned(flags));
    return buf;
}

std::optional<Command> command_of(std::string_view word) noexcept {
    for (Command c : all_commands)
        if (command_word(c) == word) return c;
    return std::nullopt;
}

ParseResult failure(std::string message) { return ParseResult{std::nullopt, std::move(message)}; }

std::string quoted(std::string_view word) { return "'" + std::string(word) + "'"; }

const attribution::Owner* owner_of_flow(const FlowView& flow, const OwnerOf& owner_of) {
    return owner_of && flow.key.owner != 0 ? owner_of(flow.key.owner) : nullptr;
}

std::string ifname_of(const FlowView& flow, const IfNameOf& ifname) {
    return ifname ? ifname(flow.key.ifindex) : std::to_string(flow.key.ifindex);
}

}  // namespace

std::string_view command_word(Command command) noexcept {
    switch (command) {
        case Command::statistics: return "statistics";
        case Command::flows: return "flows";
        case Command::expire_all: return "expire-all";
        case Command::reload: return "reload";
        case Command::templates: return "templates";
        case Command::graph: return "graph";
    }
    return "?";
}

ParseResult parse_request(std::string_view line) {
    if (line.empty()) return failure("empty request; " + std::string(expected_requests));
    if (line.size() > max_request_bytes)
        return failure("request longer than " + std::to_string(max_request_bytes) + " bytes");
    for (std::size_t i = 0; i < line.size(); ++i) {
        const auto c = static_cast<unsigned char>(line[i]);
        if (c < 0x20 || c > 0x7e) {
            char buf[96];
            std::snprintf(buf, sizeof(buf), "byte 0x%02x at offset %zu is not printable ASCII", unsigned(c), i);
            return failure(buf);
        }
    }
    if (line.front() == ' ' || line.back() == ' ' || line.find("  ") != std::string_view::npos)
        return failure("words must be separated by single spaces, with none before or after");

    std::vector<std::string_view> words;
    for (std::size_t start = 0; start <= line.size();) {
        const std::size_t end = std::min(line.find(' ', start), line.size());
        words.push_back(line.substr(start, end - start));
        start = end + 1;
    }
    const auto command = command_of(words[0]);
    if (!command) return failure("unknown command " + quoted(words[0]) + "; " + std::string(expected_requests));
    const std::string name(command_word(*command));
    if (*command == Command::flows) {
        if (words.size() == 1) return ParseResult{Request{Command::flows, false}, {}};
        if (words.size() == 2 && words[1] == "--json") return ParseResult{Request{Command::flows, true}, {}};
        if (words.size() == 2) return failure("flows takes only --json, not " + quoted(words[1]));
        return failure("too many words after flows (it takes only --json)");
    }
    if (words.size() > 1) return failure(name + " takes no arguments, got " + quoted(words[1]));
    return ParseResult{Request{*command, false}, {}};
}

void finish_body(std::string& body) {
    if (!body.empty() && body.back() != '\n') body += '\n';
}

std::string response_ok(std::string_view body) {
    std::string out;
    out.reserve(ok_line.size() + body.size() + 1);
    out += ok_line;
    out += body;
    finish_body(out);
    return out;
}

std::string response_error(std::string_view message) {
    std::string out = "error: ";
    for (const char ch : message) {
        const auto c = static_cast<unsigned char>(ch);
        out += c < 0x20 || c == 0x7f ? ' ' : ch;
    }
    out += '\n';
    return out;
}

std::optional<Response> parse_response(std::string_view raw) {
    const std::size_t nl = raw.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    const std::string_view first = raw.substr(0, nl);
    Response r;
    r.body = std::string(raw.substr(nl + 1));
    if (first == "ok") {
        r.ok = true;
        return r;
    }
    constexpr std::string_view prefix = "error: ";
    if (!first.starts_with(prefix)) return std::nullopt;
    r.error = std::string(first.substr(prefix.size()));
    return r;
}

std::vector<FlowView> snapshot_flows(const flow::FlowTable& table) {
    std::vector<FlowView> flows;
    flows.reserve(table.size());
    table.for_each_flow([&](const FlowView& f) { flows.push_back(f); });
    std::sort(flows.begin(), flows.end(), [](const FlowView& a, const FlowView& b) {
        if (a.bytes != b.bytes) return a.bytes > b.bytes;
        return a.key < b.key;
    });
    return flows;
}

std::string format_flows_text(std::span<const FlowView> flows, std::uint64_t now_ms, const IfNameOf& ifname,
                              const OwnerOf& owner_of) {
    std::string out = "flows=";
    append_uint(out, flows.size());
    out += " now_ms=";
    append_uint(out, now_ms);
    out += '\n';
    for (const FlowView& f : flows) {
        const auto& k = f.key;
        const bool v6 = k.ip_version != 4;
        auto endpoint = [&](const std::array<std::uint8_t, 16>& addr, std::uint16_t port) {
            out += v6 ? "[" + sinks::address_text(addr, 6) + "]" : sinks::address_text(addr, 4);
            out += ':';
            append_uint(out, port);
        };
        endpoint(k.src_addr, k.src_port);
        out += " -> ";
        endpoint(k.dst_addr, k.dst_port);
        out += " proto=";
        append_uint(out, k.protocol);
        out += " direction=" + sinks::direction_word(k.direction);
        out += " ifname=" + sinks::text_token(ifname_of(f, ifname));
        out += " packets=";
        append_uint(out, f.packets);
        out += " bytes=";
        append_uint(out, f.bytes);
        out += " held_packets=";
        append_uint(out, f.held_packets);
        out += " held_bytes=";
        append_uint(out, f.held_bytes);
        // A flow whose last packet lies ahead of now (a clock step) has been idle for 0.
        const std::uint64_t idle_ms = now_ms > f.last_ms ? now_ms - f.last_ms : 0;
        constexpr std::uint64_t max_idle_ms = std::numeric_limits<std::uint64_t>::max() / 1'000'000;
        out += " idle=" + sinks::go_duration(std::min(idle_ms, max_idle_ms) * 1'000'000);
        out += " flags=" + hex_flags(f.tcp_flags);
        if (k.vlan_id != 0 || k.inner_vlan_id != 0) {
            out += " vlan=";
            append_uint(out, k.vlan_id);
            out += " inner_vlan=";
            append_uint(out, k.inner_vlan_id);
        }
        if (const attribution::Owner* owner = owner_of_flow(f, owner_of)) {
            if (!owner->user.empty())
                out += " user=" + sinks::text_token(owner->user);
            else if (owner->uid)
                out += " user=" + std::to_string(*owner->uid);
            if (!owner->comm.empty() || owner->pid) {
                out += " comm=" + sinks::text_token(owner->comm);
                if (owner->pid) out += "[" + std::to_string(*owner->pid) + "]";
            }
            if (!owner->cgroup.empty()) out += " cgroup=" + sinks::text_token(owner->cgroup);
        }
        out += '\n';
    }
    return out;
}

std::string format_flows_json(std::span<const FlowView> flows, std::uint64_t now_ms, const IfNameOf& ifname,
                              const OwnerOf& owner_of) {
    std::string out = "{\"now_ms\":";
    append_uint(out, now_ms);
    out += ",\"flows\":";
    append_uint(out, flows.size());
    out += "}\n";
    for (const FlowView& f : flows) {
        const auto& k = f.key;
        bool first = true;
        auto key = [&](const char* name) {
            out += first ? "{\"" : ",\"";
            first = false;
            out += name;
            out += "\":";
        };
        auto num = [&](const char* name, std::uint64_t v) {
            key(name);
            append_uint(out, v);
        };
        auto str = [&](const char* name, std::string_view v) {
            key(name);
            out += sinks::json_string(v);
        };
        str("src_ip", sinks::address_text(k.src_addr, k.ip_version));
        str("dst_ip", sinks::address_text(k.dst_addr, k.ip_version));
        num("src_port", k.src_port);
        num("dst_port", k.dst_port);
        num("protocol", k.protocol);
        str("direction", sinks::direction_word(k.direction));
        str("ifname", ifname_of(f, ifname));
        num("packets", f.packets);
        num("bytes", f.bytes);
        num("held_packets", f.held_packets);
        num("held_bytes", f.held_bytes);
        num("last_ms", f.last_ms);
        str("tcp_flags", hex_flags(f.tcp_flags));
        if (const attribution::Owner* owner = owner_of_flow(f, owner_of)) {
            if (owner->uid) num("uid", *owner->uid);
            if (!owner->user.empty()) str("user", owner->user);
            if (owner->pid) num("pid", *owner->pid);
            if (!owner->comm.empty()) str("comm", owner->comm);
            if (!owner->cgroup.empty()) str("cgroup", owner->cgroup);
        }
        out += "}\n";
    }
    return out;
}

std::string format_statistics(const ControlStatistics& statistics) {
    std::size_t width = 0;
    // An empty name is written as "_", so that every line has two fields.
    auto shown_size = [](const std::string& name) { return std::max<std::size_t>(name.size(), 1); };
    for (const auto& [name, value] : statistics.values) width = std::max(width, shown_size(name));
    std::string out;
    out.reserve(statistics.values.size() * (width + 12));
    for (const auto& [name, value] : statistics.values) {
        for (const char ch : name) {
            const auto c = static_cast<unsigned char>(ch);
            out += c > 0x20 && c < 0x7f ? ch : '_';
        }
        if (name.empty()) out += '_';
        out.append(width - shown_size(name) + 1, ' ');
        append_uint(out, value);
        out += '\n';
    }
    return out;
}

ControlStatistics statistics_of(const sinks::ExporterTotals& totals, const flow::FlowTable& table,
                                std::span<const std::unique_ptr<sinks::Sink>> sinks) {
    ControlStatistics s;
    s.add("drain_cycles", totals.drain_cycles);
    s.add("drained_flows", totals.drained_flows);
    s.add("drained_packets", totals.drained_packets);
    s.add("drained_bytes", totals.drained_bytes);
    s.add("exported_records", totals.exported_records);
    s.add("exported_packets", totals.exported_packets);
    s.add("exported_bytes", totals.exported_bytes);

    const std::pair<const char*, const ebpfix_pkt_bytes*> counted[] = {
        {"non_ip", &totals.kernel.non_ip},           {"parse_error", &totals.kernel.parse_error},
        {"truncated", &totals.kernel.truncated},     {"map_full", &totals.kernel.map_full},
        {"sampled_out", &totals.kernel.sampled_out}, {"excluded", &totals.kernel.excluded},
        {"fragments", &totals.kernel.fragments},     {"own_export", &totals.own_export}};
    for (const auto& [name, pb] : counted) {
        s.add(std::string("kernel_") + name + "_packets", pb->packets);
        s.add(std::string("kernel_") + name + "_bytes", pb->bytes);
    }
    s.add("kernel_flows_created", totals.kernel.flows_created);
    s.add("kernel_insert_races", totals.kernel.insert_races);

    const auto& stats = table.stats();
    s.add("flow_table_flows", table.size());
    s.add("flow_table_capacity", table.config().max_flows);
    s.add("flow_table_held_packets", table.held_packets());
    s.add("flow_table_held_bytes", table.held_bytes());
    s.add("flow_table_flows_created", stats.flows_created);
    s.add("flow_table_flows_removed", stats.flows_removed);
    s.add("flow_table_evictions", stats.evictions);
    for (EndReason reason : {EndReason::idle_timeout, EndReason::active_timeout, EndReason::end_of_flow,
                             EndReason::forced_end, EndReason::lack_of_resources})
        s.add("records_" + sinks::end_reason_word(reason), stats.by_reason(reason).records);

    for (const auto& sink : sinks) {
        if (!sink) continue;
        const std::string prefix = sink->kind() + "[" + sink->name() + "].";
        const sinks::SinkCounters c = sink->counters();
        s.add(prefix + "records_delivered", c.records_delivered);
        s.add(prefix + "records_not_sent", c.records_not_sent);
        s.add(prefix + "packets_not_sent", c.packets_not_sent);
        s.add(prefix + "octets_not_sent", c.octets_not_sent);
        s.add(prefix + "records_queued", c.records_queued);
        s.add(prefix + "errors", c.errors);
        s.add(prefix + "records_not_exportable", c.records_not_exportable);
    }
    return s;
}

}  // namespace ebpfix::daemon::control
