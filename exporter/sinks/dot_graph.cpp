#include "sinks/dot_graph.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <tuple>
#include <utility>

#include "common/log.hpp"
#include "sinks/append_file.hpp"
#include "sinks/flow_log.hpp"

namespace ebpfix::sinks {

namespace {

constexpr std::uint16_t tcp_syn = 0x02, tcp_ack = 0x10;

bool is_echo_request(const FlowKey& k) {
    const unsigned type = k.dst_port >> 8;
    return (k.ip_version == 4 && k.protocol == 1 && type == 8) ||
           (k.ip_version == 6 && k.protocol == 58 && type == 128);
}

}  // namespace

std::string dot_safe(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (const char ch : raw) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%') {
            out += ch;
        } else {
            char buf[4];
            std::snprintf(buf, sizeof(buf), "%%%02X", unsigned(c));
            out += buf;
        }
    }
    return out;
}

std::size_t DotGraphSink::KeyHash::operator()(const ConversationKey& k) const noexcept {
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&](std::uint8_t byte) {
        h ^= byte;
        h *= 1099511628211ull;
    };
    for (const auto b : k.addr_a) mix(b);
    for (const auto b : k.addr_b) mix(b);
    mix(std::uint8_t(k.port_a)), mix(std::uint8_t(k.port_a >> 8));
    mix(std::uint8_t(k.port_b)), mix(std::uint8_t(k.port_b >> 8));
    mix(k.protocol), mix(k.ip_version);
    return static_cast<std::size_t>(h);
}

DotGraphSink::DotGraphSink(std::string path, std::size_t max_conversations)
    : path_(std::move(path)), max_conversations_(max_conversations) {
    if (path_.empty()) throw OutputError("the graph file (--dot) needs a file name");
    if (!write_file()) throw OutputError(last_error_);
}

DotGraphSink::Decision DotGraphSink::decide(const ConversationKey& key, const Conversation& c) {
    const Way& w0 = c.way[0];
    const Way& w1 = c.way[1];
    auto earlier = [&](std::uint64_t t0, std::uint64_t t1) {
        if (t0 != t1) return t0 < t1 ? 0 : 1;
        if (key.port_a != key.port_b) return key.port_a > key.port_b ? 0 : 1;  // the lower port serves
        return 0;
    };
    if (w0.opened != w1.opened) return {w0.opened ? 0 : 1, true};
    if (key.protocol == 6 && w0.first_syn_ms != UINT64_MAX && w1.first_syn_ms != UINT64_MAX)
        return {earlier(w0.first_syn_ms, w1.first_syn_ms), true};
    const bool seen0 = w0.first_ms != UINT64_MAX, seen1 = w1.first_ms != UINT64_MAX;
    if (seen0 && seen1) return {earlier(w0.first_ms, w1.first_ms), true};
    return {seen0 ? 0 : 1, false};
}

std::uint32_t DotGraphSink::process_node(const attribution::Owner& owner) {
    std::string name = dot_safe(owner.comm) + "[" + std::to_string(*owner.pid) + "]";
    const auto [it, inserted] = process_ids_.try_emplace(std::move(name), std::uint32_t(process_names_.size()));
    if (inserted) process_names_.push_back(it->first);
    return it->second;
}

void DotGraphSink::add(const FlowRecord& r, const CycleContext& ctx) {
    const FlowKey& k = r.key;
    const bool icmp = k.is_icmp();
    const std::uint16_t src_port = icmp ? 0 : k.src_port, dst_port = icmp ? 0 : k.dst_port;
    const bool src_is_a = std::tie(k.src_addr, src_port) <= std::tie(k.dst_addr, dst_port);
    ConversationKey key;
    key.addr_a = src_is_a ? k.src_addr : k.dst_addr;
    key.addr_b = src_is_a ? k.dst_addr : k.src_addr;
    key.port_a = src_is_a ? src_port : dst_port;
    key.port_b = src_is_a ? dst_port : src_port;
    key.protocol = k.protocol;
    key.ip_version = k.ip_version;

    auto it = conversations_.find(key);
    if (it == conversations_.end()) {
        if (conversations_.size() >= max_conversations_) {
            ++folded_records_;
            folded_bytes_ += r.bytes;
            return;
        }
        it = conversations_.try_emplace(key).first;
    }
    Conversation& c = it->second;
    Way& way = c.way[src_is_a ? 0 : 1];
    (k.direction == Direction::egress ? way.egress_bytes : way.ingress_bytes) += r.bytes;
    way.first_ms = std::min(way.first_ms, r.start_ms);
    if (k.protocol == 6 && (r.tcp_flags & tcp_syn)) {
        way.first_syn_ms = std::min(way.first_syn_ms, r.start_ms);
        if (!(r.tcp_flags & tcp_ack)) way.opened = true;
    }
    if (is_echo_request(k)) way.opened = true;

    // The owner is the local socket's: the source of what left, the destination of what came in.
    if (ctx.owner && k.owner != 0) {
        const attribution::Owner* o = ctx.owner(k.owner);
        const bool local_is_src = k.direction == Direction::egress;
        const int side = local_is_src == src_is_a ? 0 : 1;
        if (o && o->pid && c.process[side] == no_process) c.process[side] = process_node(*o);
    }
    if (c.initiator < 0) {
        const Decision d = decide(key, c);
        if (d.final) c.initiator = std::int8_t(d.initiator);
    }
}

void DotGraphSink::cycle(const CycleContext& ctx) {
    for (const FlowRecord& r : ctx.records) add(r, ctx);
    records_ += ctx.records.size();
    if (!ctx.records.empty()) dirty_ = true;
    if (!dirty_) return;
    if (write_file()) {
        if (failing_) log_info("the graph file is written again: " + path_);
        failing_ = false;
    } else if (!failing_) {
        log_warning("cannot write the graph file: " + last_error_);
        failing_ = true;
    }
}

std::string DotGraphSink::render() const {
    struct EdgeSum {
        std::uint64_t connections = 0, bytes = 0;
    };
    std::map<std::string, bool> nodes;  // name -> is a process
    std::map<std::pair<std::string, std::string>, EdgeSum> edges;
    for (const auto& entry : conversations_) {
        // Named references, not a structured binding: C++20 lambdas cannot capture those (clang).
        const ConversationKey& key = entry.first;
        const Conversation& c = entry.second;
        const int from = c.initiator >= 0 ? c.initiator : decide(key, c).initiator;
        auto node = [&](int side) {
            if (c.process[side] != no_process) {
                nodes[process_names_[c.process[side]]] = true;
                return process_names_[c.process[side]];
            }
            std::string host = address_text(side == 0 ? key.addr_a : key.addr_b, key.ip_version);
            nodes.try_emplace(host, false);
            return host;
        };
        std::string tail = node(from), head = node(1 - from);
        EdgeSum& e = edges[{std::move(tail), std::move(head)}];
        ++e.connections;
        for (const Way& w : c.way) e.bytes += std::max(w.egress_bytes, w.ingress_bytes);
    }

    std::string out =
        "// Who talks to whom, by ebpfix: boxes are processes (comm[pid]), ellipses hosts; an\n"
        "// edge goes from the initiator of conversations to their responder.\n"
        "digraph ebpfix {\n"
        "    rankdir=LR;\n";
    if (folded_records_)
        out += "    labelloc=b;\n    label=\"" + std::to_string(folded_records_) + " records (" +
               std::to_string(folded_bytes_) + " bytes) of conversations beyond the limit of " +
               std::to_string(max_conversations_) + " are not drawn\";\n";
    for (const auto& [name, is_process] : nodes)
        out += "    \"" + name + "\" [shape=" + (is_process ? "box" : "ellipse") + "];\n";
    for (const auto& [ends, e] : edges) {
        const std::string n = std::to_string(e.connections), b = std::to_string(e.bytes);
        out += "    \"" + ends.first + "\" -> \"" + ends.second + "\" [label=\"" + n +
               (e.connections == 1 ? " connection" : " connections") + "\\n" + b + " bytes\", connections=" + n +
               ", bytes=" + b + "];\n";
    }
    out += "}\n";
    return out;
}

bool DotGraphSink::write_file() {
    const std::string text = render();
    const std::string tmp = path_ + ".tmp";
    auto fail = [&](const std::string& what, int err) {
        last_error_ = what + ": " + std::strerror(err);
        ++write_errors_;
        return false;
    };
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return fail(tmp, errno);
    int err = write_fully(fd, text);
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err != 0) {
        ::unlink(tmp.c_str());
        return fail(tmp, err);
    }
    if (::rename(tmp.c_str(), path_.c_str()) != 0) {
        err = errno;
        ::unlink(tmp.c_str());
        return fail(path_, err);
    }
    ++rewrites_;
    bytes_written_ += text.size();
    dirty_ = false;
    return true;
}

SinkCounters DotGraphSink::counters() const {
    SinkCounters c;
    c.records_delivered = records_;
    c.messages_delivered = rewrites_;
    c.bytes_delivered = bytes_written_;
    c.errors = write_errors_;
    return c;
}

}  // namespace ebpfix::sinks
