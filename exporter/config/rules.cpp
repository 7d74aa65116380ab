#include "config/rules.hpp"

#include <charconv>
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

}  // namespace

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
    throw std::invalid_argument("unknown protocol " + quoted(text) + "; expected ipfix or netflow9");
}

std::string_view to_string(ipfix::Protocol protocol) noexcept {
    return protocol == ipfix::Protocol::netflow9 ? "netflow9" : "ipfix";
}

void check_user_name(std::string_view name) {
    if (name.empty()) throw std::invalid_argument("user name is empty");
    if (name.size() > 32) throw std::invalid_argument("user name " + quoted(name) + " is longer than 32 bytes");
    if (name.front() == '-') throw std::invalid_argument("user name " + quoted(name) + " starts with '-'");
    for (char c : name) {
        if (!is_ascii_alnum(c) && c != '.' && c != '_' && c != '-')
            throw std::invalid_argument("user name " + quoted(name) + " contains an invalid character");
    }
}

void check_file_name(std::string_view name) {
    if (name.empty()) throw std::invalid_argument("file name is empty");
    if (name.find('\0') != std::string_view::npos) throw std::invalid_argument("file name contains a NUL byte");
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

}  // namespace ebpfix::config
