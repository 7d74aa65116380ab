#include "config/rules.hpp"

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>

#include <charconv>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace ebpfix::config {
namespace detail {

namespace {

// The shortest text that reads back as the same double ("0.0004", not 0.00040000000000000002).
std::string seconds_text(double seconds) {
    char buf[400];
    auto format = std::fabs(seconds) < 1e15 ? std::chars_format::fixed : std::chars_format::general;
    auto result = std::to_chars(buf, buf + sizeof buf, seconds, format);
    return std::string(buf, result.ptr);
}

bool is_ascii_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool all_digits(std::string_view text) {
    if (text.empty()) return false;
    for (char c : text)
        if (c < '0' || c > '9') return false;
    return true;
}

// User and group names share the rules of useradd / groupadd (and numeric ids pass them).
void check_account_name(std::string_view name, std::string_view noun) {
    const std::string what(noun);
    if (name.empty()) throw std::invalid_argument(what + " name is empty");
    if (name.size() > 32) throw std::invalid_argument(what + " name " + quoted(name) + " is longer than 32 bytes");
    if (name.front() == '-') throw std::invalid_argument(what + " name " + quoted(name) + " starts with '-'");
    for (char c : name) {
        if (!is_ascii_alnum(c) && c != '.' && c != '_' && c != '-')
            throw std::invalid_argument(what + " name " + quoted(name) + " contains an invalid character");
    }
}

unsigned max_prefix(std::uint8_t family) { return family == 6 ? 128 : 32; }

void zero_host_bits(Cidr& cidr) {
    for (unsigned bit = cidr.prefix_len; bit < 128; ++bit)
        cidr.addr[bit / 8] &= std::uint8_t(~(0x80u >> (bit % 8)));
}

// traffic_meter's form: leading decimal octets, then '*' octets to the end ("10.*" = /8).
Cidr parse_wildcard(std::string_view text) {
    const std::string shown = quoted(text);
    if (text.find('/') != std::string_view::npos)
        throw std::invalid_argument(shown + ": a '*' address takes no prefix length (write 10.* or 10.0.0.0/8)");
    Cidr cidr;
    cidr.family = 4;
    cidr.text = std::string(text);
    std::size_t octets = 0;
    std::size_t digit_octets = 0;
    bool star_seen = false;
    std::string_view rest = text;
    while (true) {
        const auto dot = rest.find('.');
        const std::string_view part = rest.substr(0, dot);
        if (++octets > 4) throw std::invalid_argument(shown + ": more than 4 octets");
        if (part == "*") {
            star_seen = true;
        } else if (all_digits(part) && part.size() <= 3) {
            if (star_seen)
                throw std::invalid_argument(shown + ": a '*' octet may only be followed by more '*' octets "
                                                    "(192.168.*.* is 192.168.0.0/16)");
            unsigned value = 0;
            for (char c : part) value = value * 10 + unsigned(c - '0');
            if (value > 255 || (part.size() > 1 && part.front() == '0'))
                throw std::invalid_argument(shown + ": " + quoted(part) + " is not an octet (0 to 255)");
            cidr.addr[digit_octets++] = std::uint8_t(value);
        } else {
            throw std::invalid_argument(shown + ": " + quoted(part) + " is not an octet (0 to 255) or '*'");
        }
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
    }
    cidr.prefix_len = std::uint8_t(8 * digit_octets);
    return cidr;
}

}  // namespace

Cidr parse_cidr(std::string_view text) {
    if (text.empty()) throw std::invalid_argument("exclude entry is empty; expected ADDR/LEN, ADDR or 192.168.1.*");
    const std::string shown = quoted(text);
    if (text.find('*') != std::string_view::npos) {
        if (text.find(':') != std::string_view::npos)
            throw std::invalid_argument(shown + ": '*' octets are for IPv4; write an IPv6 prefix as ADDR/LEN "
                                                "(2001:db8::/32)");
        return parse_wildcard(text);
    }
    Cidr cidr;
    cidr.text = std::string(text);
    const auto slash = text.find('/');
    const std::string address(text.substr(0, slash));
    if (address.find('\0') != std::string::npos)
        throw std::invalid_argument(shown + ": " + quoted(address) + " is not an IPv4 or IPv6 address");
    if (address.find(':') != std::string::npos) {
        cidr.family = 6;
        in6_addr a6{};
        if (::inet_pton(AF_INET6, address.c_str(), &a6) != 1)
            throw std::invalid_argument(shown + ": " + quoted(address) + " is not an IPv6 address");
        std::memcpy(cidr.addr.data(), &a6, 16);
    } else {
        cidr.family = 4;
        in_addr a4{};
        if (::inet_pton(AF_INET, address.c_str(), &a4) != 1)
            throw std::invalid_argument(shown + ": " + quoted(address) + " is not an IPv4 or IPv6 address");
        std::memcpy(cidr.addr.data(), &a4, 4);
    }
    const unsigned max = max_prefix(cidr.family);
    unsigned length = max;
    if (slash != std::string_view::npos) {
        const std::string_view digits = text.substr(slash + 1);
        if (digits.empty()) throw std::invalid_argument(shown + ": prefix length is empty");
        if (!all_digits(digits)) throw std::invalid_argument(shown + ": prefix length " + quoted(digits) + " is not a number");
        length = digits.size() > 3 ? 1000 : 0;
        if (digits.size() <= 3)
            for (char c : digits) length = length * 10 + unsigned(c - '0');
        if (length > max)
            throw std::invalid_argument(shown + ": prefix length must be 0 to " + std::to_string(max) + " for IPv" +
                                        std::to_string(cidr.family));
    }
    cidr.prefix_len = std::uint8_t(length);
    zero_host_bits(cidr);
    return cidr;
}

void check_cidr(const Cidr& cidr) {
    const std::string shown = quoted(cidr.text);
    if (cidr.family != 4 && cidr.family != 6)
        throw std::invalid_argument("exclude entry " + shown + ": family must be 4 or 6, got " +
                                    std::to_string(cidr.family));
    if (cidr.prefix_len > max_prefix(cidr.family))
        throw std::invalid_argument("exclude entry " + shown + ": prefix length must be 0 to " +
                                    std::to_string(max_prefix(cidr.family)) + " for IPv" + std::to_string(cidr.family) +
                                    ", got " + std::to_string(cidr.prefix_len));
    Cidr zeroed = cidr;
    zero_host_bits(zeroed);
    if (cidr.family == 4)
        for (std::size_t i = 4; i < 16; ++i) zeroed.addr[i] = 0;
    if (zeroed.addr != cidr.addr) throw std::invalid_argument("exclude entry " + shown + ": host bits are not zero");
}

std::string format_ms(std::uint64_t ms) {
    std::string text = std::to_string(ms / 1000);
    if (std::uint64_t frac = ms % 1000; frac != 0) {
        char buf[8];
        std::snprintf(buf, sizeof buf, ".%03u", unsigned(frac));
        std::string f = buf;
        while (f.back() == '0') f.pop_back();
        text += f;
    }
    return text + " s";
}

std::uint64_t seconds_to_ms(double seconds, const SecondsRule& rule) {
    if (std::isnan(seconds) || std::isinf(seconds))
        throw std::invalid_argument("must be a finite number of seconds, got " + seconds_text(seconds));
    if (rule.zero_allowed ? seconds < 0 : seconds <= 0)
        throw std::invalid_argument(std::string("must be ") + (rule.zero_allowed ? "0 or more" : "greater than 0") +
                                    " seconds, got " + seconds_text(seconds));
    if (seconds > rule.max_seconds)
        throw std::invalid_argument("must be at most " + seconds_text(rule.max_seconds) + " seconds, got " +
                                    seconds_text(seconds));
    auto ms = static_cast<std::uint64_t>(std::llround(seconds * 1000.0));
    if (seconds > 0 && ms == 0)
        throw std::invalid_argument("must be at least 0.001 seconds (1 ms), got " + seconds_text(seconds));
    return ms;
}

void check_ms(std::uint64_t ms, const SecondsRule& rule) {
    if (ms == 0 && !rule.zero_allowed) throw std::invalid_argument("must be greater than 0 seconds, got 0");
    if (double(ms) > rule.max_seconds * 1000.0)
        throw std::invalid_argument("must be at most " + seconds_text(rule.max_seconds) + " seconds, got " +
                                    format_ms(ms));
}

void check_integer(std::int64_t value, const IntegerRule& rule) {
    if (value < rule.min || value > rule.max)
        throw std::invalid_argument("must be between " + std::to_string(rule.min) + " and " +
                                    std::to_string(rule.max) + ", got " + std::to_string(value));
}

OutputFormat parse_log_format(std::string_view text) {
    if (text == "text") return OutputFormat::text;
    if (text == "json") return OutputFormat::json;
    if (text == "none") return OutputFormat::none;
    throw std::invalid_argument("unknown format " + quoted(text) + "; expected text, json or none");
}

OutputFormat parse_stats_format(std::string_view text) {
    if (text == "text") return OutputFormat::text;
    if (text == "json") return OutputFormat::json;
    throw std::invalid_argument("unknown format " + quoted(text) + "; expected text or json");
}

AttachModeSetting parse_attach_mode(std::string_view text) {
    if (text == "auto") return AttachModeSetting::automatic;
    if (text == "tcx") return AttachModeSetting::tcx;
    if (text == "clsact") return AttachModeSetting::clsact;
    throw std::invalid_argument("unknown attach mode " + quoted(text) + "; expected auto, tcx or clsact");
}

ipfix::Protocol parse_protocol(std::string_view text) {
    if (text == "ipfix") return ipfix::Protocol::ipfix;
    if (text == "netflow9") return ipfix::Protocol::netflow9;
    throw std::invalid_argument("unknown protocol " + quoted(text) + "; expected ipfix, netflow9 or netflow5");
}

void check_kafka_property(const std::string& name, const std::string& value) {
    if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos)
        throw std::invalid_argument("property " + quoted(name) + " contains a NUL byte");
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[512] = {};
    const rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr));
    rd_kafka_conf_destroy(conf);
    if (res != RD_KAFKA_CONF_OK) throw std::invalid_argument("librdkafka property " + quoted(name) + ": " + errstr);
}

Transport parse_transport(std::string_view text) {
    if (text == "udp") return Transport::udp;
    if (text == "tcp") return Transport::tcp;
    throw std::invalid_argument("unknown transport " + quoted(text) + "; expected udp or tcp");
}

KafkaFormat parse_kafka_format(std::string_view text) {
    if (text == "protobuf") return KafkaFormat::protobuf;
    if (text == "json") return KafkaFormat::json;
    throw std::invalid_argument("unknown format " + quoted(text) + "; expected protobuf or json");
}

KafkaKey parse_kafka_key(std::string_view text) {
    if (text == "none") return KafkaKey::none;
    if (text == "exporter") return KafkaKey::exporter;
    if (text == "src_ip") return KafkaKey::src_ip;
    if (text == "flow") return KafkaKey::flow;
    throw std::invalid_argument("unknown key " + quoted(text) + "; expected none, exporter, src_ip or flow");
}

std::string parse_kafka_compression(std::string_view text) {
    for (std::string_view codec : {"none", "gzip", "snappy", "lz4", "zstd"})
        if (text == codec) return std::string(text);
    throw std::invalid_argument("unknown compression " + quoted(text) + "; expected none, gzip, snappy, lz4 or zstd");
}

void check_kafka_brokers(std::string_view brokers) {
    if (brokers.find_first_not_of(" \t,") == std::string_view::npos)
        throw std::invalid_argument("brokers is empty; write \"HOST:PORT[,HOST:PORT]\"");
    if (brokers.find('\0') != std::string_view::npos) throw std::invalid_argument("brokers contains a NUL byte");
}

// Kafka's legal topic names (kafka.common.internals.Topic), as the sink checks them.
void check_kafka_topic(std::string_view topic) {
    if (topic.empty()) throw std::invalid_argument("topic is empty");
    if (topic.size() > 249) throw std::invalid_argument("topic " + quoted(topic) + " is longer than 249 characters");
    if (topic == "." || topic == "..") throw std::invalid_argument("topic " + quoted(topic) + " is not a topic name");
    for (char c : topic) {
        const bool legal = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                           c == '_' || c == '-';
        if (!legal)
            throw std::invalid_argument("topic " + quoted(topic) + ": only letters, digits, '.', '_' and '-' are allowed");
    }
}

std::string_view to_string(ipfix::Protocol protocol) noexcept {
    return protocol == ipfix::Protocol::netflow9 ? "netflow9" : "ipfix";
}

CaptureMode parse_capture_mode(std::string_view text) {
    if (text == "tc") return CaptureMode::tc;
    if (text == "xdp") return CaptureMode::xdp;
    if (text == "cgroup") return CaptureMode::cgroup;
    throw std::invalid_argument("unknown capture mode " + quoted(text) + "; expected tc, xdp or cgroup");
}

XdpMode parse_xdp_mode(std::string_view text) {
    if (text == "auto") return XdpMode::automatic;
    if (text == "native") return XdpMode::native;
    if (text == "generic") return XdpMode::generic;
    throw std::invalid_argument("unknown XDP mode " + quoted(text) + "; expected auto, native or generic");
}

SampleAlgorithm parse_sample_algorithm(std::string_view text) {
    if (text == "random") return SampleAlgorithm::random;
    if (text == "hash") return SampleAlgorithm::hash;
    throw std::invalid_argument("unknown sampling algorithm " + quoted(text) + "; expected random or hash");
}

void check_user_name(std::string_view name) { check_account_name(name, "user"); }

void check_group_name(std::string_view name) { check_account_name(name, "group"); }

void check_file_name(std::string_view name) {
    if (name.empty()) throw std::invalid_argument("file name is empty");
    if (name.find('\0') != std::string_view::npos) throw std::invalid_argument("file name contains a NUL byte");
}

void check_directory_name(std::string_view name) {
    if (name.empty()) throw std::invalid_argument("directory name is empty");
    if (name.find('\0') != std::string_view::npos) throw std::invalid_argument("directory name contains a NUL byte");
}

void check_cgroup_path(std::string_view path) {
    if (path.empty()) throw std::invalid_argument("cgroup path is empty");
    if (path.find('\0') != std::string_view::npos) throw std::invalid_argument("cgroup path contains a NUL byte");
    if (path.front() != '/')
        throw std::invalid_argument("cgroup path " + quoted(path) + " is not absolute; write it from / (e.g. /sys/fs/cgroup)");
}

void check_socket_path(std::string_view path) {
    if (path.find('\0') != std::string_view::npos)
        throw std::invalid_argument("control socket path contains a NUL byte");
    if (path.empty() || path.front() != '/')
        throw std::invalid_argument("control socket path " + quoted(path) +
                                    " is not absolute; write it from / (e.g. /run/ebpfix/control.sock), or \"\" for none");
    // sockaddr_un.sun_path is 108 bytes with the terminating NUL.
    if (path.size() > 107)
        throw std::invalid_argument("control socket path " + quoted(path) +
                                    " is longer than 107 bytes (the limit of a Unix socket address)");
}

}  // namespace detail

std::string_view to_string(OutputFormat format) noexcept {
    switch (format) {
        case OutputFormat::text: return "text";
        case OutputFormat::json: return "json";
        case OutputFormat::none: break;
    }
    return "none";
}

std::string_view to_string(AttachModeSetting mode) noexcept {
    switch (mode) {
        case AttachModeSetting::tcx: return "tcx";
        case AttachModeSetting::clsact: return "clsact";
        case AttachModeSetting::automatic: break;
    }
    return "auto";
}

std::string_view to_string(CaptureMode mode) noexcept {
    switch (mode) {
        case CaptureMode::xdp: return "xdp";
        case CaptureMode::cgroup: return "cgroup";
        case CaptureMode::tc: break;
    }
    return "tc";
}

std::string_view to_string(XdpMode mode) noexcept {
    switch (mode) {
        case XdpMode::native: return "native";
        case XdpMode::generic: return "generic";
        case XdpMode::automatic: break;
    }
    return "auto";
}

std::string_view to_string(SampleAlgorithm algorithm) noexcept {
    return algorithm == SampleAlgorithm::hash ? "hash" : "random";
}

std::string_view to_string(Transport transport) noexcept { return transport == Transport::tcp ? "tcp" : "udp"; }

std::string_view to_string(KafkaFormat format) noexcept { return format == KafkaFormat::json ? "json" : "protobuf"; }

std::string_view to_string(KafkaKey key) noexcept {
    switch (key) {
        case KafkaKey::exporter: return "exporter";
        case KafkaKey::src_ip: return "src_ip";
        case KafkaKey::flow: return "flow";
        case KafkaKey::none: break;
    }
    return "none";
}

}  // namespace ebpfix::config
