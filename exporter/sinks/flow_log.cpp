#include "sinks/flow_log.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <charconv>
#include <cstring>
#include <system_error>

namespace ebpfix::sinks {

namespace {

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    (void)ec;  // 24 bytes always hold a uint64
    out.append(buf, end);
}

// Go's fmtFrac: the low prec digits of v as a fraction without trailing zeros
// (nothing at all when they are zero); returns v / 10^prec.
std::uint64_t go_frac(std::string& out, std::uint64_t v, int prec) {
    std::string digits;
    bool print = false;
    for (int i = 0; i < prec; ++i) {
        const auto digit = v % 10;
        print = print || digit != 0;
        if (print) digits.insert(digits.begin(), char('0' + digit));
        v /= 10;
    }
    if (print) out += "." + digits;
    return v;
}

std::uint64_t duration_ns_of(const FlowRecord& r) {
    return r.end_ms >= r.start_ms ? (r.end_ms - r.start_ms) * 1'000'000ull : 0;
}

std::string hex_flags(std::uint16_t flags) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%02x", unsigned(flags));
    return buf;
}

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (i + n > s.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
    return n;
}

}  // namespace

std::string end_reason_word(EndReason reason) {
    switch (reason) {
        case EndReason::idle_timeout: return "idle_timeout";
        case EndReason::active_timeout: return "active_timeout";
        case EndReason::end_of_flow: return "end_of_flow";
        case EndReason::forced_end: return "forced_end";
        case EndReason::lack_of_resources: return "lack_of_resources";
    }
    return "unknown_" + std::to_string(unsigned(reason));
}

std::string direction_word(Direction direction) {
    return direction == Direction::egress ? "egress" : "ingress";
}

std::string address_text(const std::array<std::uint8_t, 16>& addr, std::uint8_t ip_version) {
    char buf[INET6_ADDRSTRLEN];
    const char* text = ip_version == 4 ? inet_ntop(AF_INET, addr.data() + 12, buf, sizeof(buf))
                                       : inet_ntop(AF_INET6, addr.data(), buf, sizeof(buf));
    return text ? std::string(text) : std::string("?");
}

std::string go_duration(std::uint64_t ns) {
    constexpr std::uint64_t us = 1000, ms = 1000 * us, s = 1000 * ms;
    std::string out;
    if (ns == 0) return "0s";
    if (ns < s) {
        // Below a second Go switches units: ns, µs (U+00B5), ms, with a fraction.
        const char* unit = ns < us ? "ns" : ns < ms ? "\xc2\xb5s" : "ms";
        const int prec = ns < us ? 0 : ns < ms ? 3 : 6;
        std::string frac;
        const auto whole = go_frac(frac, ns, prec);
        append_uint(out, whole);
        return out + frac + unit;
    }
    std::string frac;
    auto secs = go_frac(frac, ns, 9);
    const auto minutes = secs / 60;
    const auto hours = minutes / 60;
    if (hours > 0) {
        append_uint(out, hours);
        out += 'h';
    }
    if (minutes > 0) {
        append_uint(out, minutes % 60);
        out += 'm';
    }
    append_uint(out, secs % 60);
    return out + frac + "s";
}

std::string json_string(std::string_view raw) {
    std::string out;
    out.reserve(raw.size() + 2);
    out += '"';
    for (std::size_t i = 0; i < raw.size();) {
        const auto c = static_cast<unsigned char>(raw[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
            ++i;
        } else if (c == '\n') {
            out += "\\n", ++i;
        } else if (c == '\r') {
            out += "\\r", ++i;
        } else if (c == '\t') {
            out += "\\t", ++i;
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", unsigned(c));
            out += buf;
            ++i;
        } else if (c < 0x80) {
            out += char(c);
            ++i;
        } else {
            const auto n = utf8_sequence(raw, i);
            if (n == 0) {
                out += "\\ufffd";
                ++i;
            } else if (n == 3 && c == 0xe2 && static_cast<unsigned char>(raw[i + 1]) == 0x80 &&
                       (static_cast<unsigned char>(raw[i + 2]) & 0xfe) == 0xa8) {
                // U+2028 / U+2029 are valid JSON but end lines in JavaScript.
                out += static_cast<unsigned char>(raw[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
                i += 3;
            } else {
                out.append(raw.substr(i, n));
                i += n;
            }
        }
    }
    out += '"';
    return out;
}

std::string text_token(std::string_view raw) {
    if (raw.empty()) return "-";
    std::string out;
    for (const char ch : raw) {
        const auto c = static_cast<unsigned char>(ch);
        if (c > 0x20 && c < 0x7f && c != '\\' && c != '=') {
            out += ch;
        } else {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", unsigned(c));
            out += buf;
        }
    }
    return out;
}

std::string format_text(const FlowRecord& r, std::string_view ifname, const attribution::Owner* owner) {
    const auto& k = r.key;
    const bool v6 = k.ip_version != 4;
    std::string out;
    out.reserve(160);
    auto endpoint = [&](const std::array<std::uint8_t, 16>& addr, std::uint16_t port) {
        out += v6 ? "[" + address_text(addr, 6) + "]" : address_text(addr, 4);
        out += ':';
        append_uint(out, port);
    };
    endpoint(k.src_addr, k.src_port);
    out += " -> ";
    endpoint(k.dst_addr, k.dst_port);
    out += " proto=";
    append_uint(out, k.protocol);
    out += " packets=";
    append_uint(out, r.packets);
    out += " bytes=";
    append_uint(out, r.bytes);
    out += " duration=" + go_duration(duration_ns_of(r));
    out += " flags=" + hex_flags(r.tcp_flags);
    out += " direction=" + direction_word(k.direction);
    out += " ifname=" + text_token(ifname);
    out += " vlan=";
    append_uint(out, k.vlan_id);
    out += " inner_vlan=";
    append_uint(out, k.inner_vlan_id);
    out += " end_reason=" + end_reason_word(r.end_reason);
    if (owner != nullptr) {
        if (!owner->user.empty())
            out += " user=" + text_token(owner->user);
        else if (owner->uid)
            out += " user=" + std::to_string(*owner->uid);
        if (!owner->comm.empty() || owner->pid) {
            out += " comm=" + text_token(owner->comm);
            if (owner->pid) out += "[" + std::to_string(*owner->pid) + "]";
        }
    }
    return out;
}

std::string format_json(const FlowRecord& r, std::string_view ifname, std::int64_t export_time_s,
                        const attribution::Owner* owner) {
    const auto& k = r.key;
    const auto duration_ns = duration_ns_of(r);
    // Go's Duration.Seconds(): whole seconds plus the nanosecond rest / 1e9, then the
    // shortest decimal that reads back as the same double (strconv 'f', -1).
    const double seconds = double(duration_ns / 1'000'000'000ull) + double(duration_ns % 1'000'000'000ull) / 1e9;
    char sec_buf[64];
    auto [sec_end, ec] = std::to_chars(sec_buf, sec_buf + sizeof(sec_buf), seconds, std::chars_format::fixed);
    (void)ec;  // 64 bytes hold any duration below 1e21 s in fixed notation
    const std::uint16_t icmp = r.icmp_type_code();

    std::string out;
    out.reserve(400);
    auto key = [&](const char* name) {
        out += out.empty() ? "{\"" : ",\"";
        out += name;
        out += "\":";
    };
    auto num = [&](const char* name, std::uint64_t v) {
        key(name);
        append_uint(out, v);
    };
    auto str = [&](const char* name, std::string_view v) {
        key(name);
        out += json_string(v);
    };
    // flowcap's keys, in the order Go's encoding/json writes a map: sorted.
    num("bytes", r.bytes);
    str("dst_ip", address_text(k.dst_addr, k.ip_version));
    num("dst_port", k.dst_port);
    num("duration_ns", duration_ns);
    key("duration_sec");
    out.append(sec_buf, sec_end);
    num("packets", r.packets);
    num("protocol", k.protocol);
    str("src_ip", address_text(k.src_addr, k.ip_version));
    num("src_port", k.src_port);
    str("tcp_flags", hex_flags(r.tcp_flags));
    key("timestamp");
    out += std::to_string(export_time_s);
    // ebpfix's keys.
    num("start_ms", r.start_ms);
    num("end_ms", r.end_ms);
    str("direction", direction_word(k.direction));
    str("ifname", ifname);
    num("vlan", k.vlan_id);
    num("inner_vlan", k.inner_vlan_id);
    num("tos", r.tos);
    num("icmp_type", icmp >> 8);
    num("icmp_code", icmp & 0xff);
    str("end_reason", end_reason_word(r.end_reason));
    if (owner != nullptr) {
        if (owner->uid) num("uid", *owner->uid);
        if (!owner->user.empty()) str("user", owner->user);
        if (owner->pid) num("pid", *owner->pid);
        if (!owner->comm.empty()) str("comm", owner->comm);
        if (!owner->cgroup.empty()) str("cgroup", owner->cgroup);
    }
    out += '}';
    return out;
}

FlowLogWriter::FlowLogWriter(FlowLogOptions options)
    : options_(std::move(options)), file_(options_.path, "flow log: empty path (use \"-\" for stdout)") {}

FlowLogWriter::~FlowLogWriter() = default;

void FlowLogWriter::enqueue(const FlowRecord& record, std::string ifname, const attribution::Owner* owner) {
    if (options_.max_pending > 0 && pending_.size() >= options_.max_pending) {
        pending_.pop_front();
        ++lines_dropped_;
    }
    pending_.push_back(Pending{record, std::move(ifname),
                               owner ? std::optional<attribution::Owner>(*owner) : std::nullopt});
}

void FlowLogWriter::append_line(const FlowRecord& record, std::string_view ifname, std::int64_t export_time_s,
                                const attribution::Owner* owner) {
    block_ += options_.format == LogFormat::json ? format_json(record, ifname, export_time_s, owner)
                                                 : format_text(record, ifname, owner);
    block_ += '\n';
}

bool FlowLogWriter::write_block() {
    const int err = file_.append(block_);
    if (err == EPIPE) closed_ = true;
    if (err != 0) ++write_errors_;
    block_.clear();
    return err == 0;
}

template <typename AppendLine>
std::size_t FlowLogWriter::write_lines(std::size_t count, AppendLine append_nth) {
    std::size_t written = 0;
    while (written < count) {
        std::size_t end = written;
        while (end < count && block_.size() < block_bytes) append_nth(end++);
        if (!write_block()) break;  // the failed block's lines count as not written
        lines_written_ += end - written;
        written = end;
    }
    return written;
}

std::size_t FlowLogWriter::write_some(std::size_t limit, std::int64_t export_time_s) {
    const std::size_t written = write_lines(std::min(limit, pending_.size()), [&](std::size_t i) {
        append_line(pending_[i].record, pending_[i].ifname, export_time_s,
                    pending_[i].owner ? &*pending_[i].owner : nullptr);
    });
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(written));
    return written;
}

std::size_t FlowLogWriter::write_cycle(std::span<const FlowRecord> records, const IfName& ifname,
                                       std::int64_t export_time_s, const OwnerOf& owner_of) {
    auto owner = [&](const FlowRecord& r) -> const attribution::Owner* {
        return owner_of && r.key.owner != 0 ? owner_of(r.key.owner) : nullptr;
    };
    if (closed_) {
        lines_not_written_ += pending_.size() + records.size();
        pending_.clear();
        return 0;
    }
    const std::size_t limit = options_.max_export_per_cycle == 0 ? SIZE_MAX : options_.max_export_per_cycle;
    const std::size_t from_queue = write_some(limit, export_time_s);
    // While older lines wait (limit reached or a failed write), new records queue behind them.
    std::size_t direct = 0;
    if (pending_.empty())
        direct = write_lines(std::min(limit - from_queue, records.size()), [&](std::size_t i) {
            append_line(records[i], ifname(records[i].key.ifindex), export_time_s, owner(records[i]));
        });
    for (std::size_t i = direct; i < records.size(); ++i)
        enqueue(records[i], ifname(records[i].key.ifindex), owner(records[i]));
    return from_queue + direct;
}

std::size_t FlowLogWriter::flush_all(std::int64_t export_time_s) {
    if (closed_) return write_cycle({}, nullptr, export_time_s);
    return write_some(pending_.size(), export_time_s);
}

bool FlowLogWriter::reopen() { return file_.reopen(); }

}  // namespace ebpfix::sinks
