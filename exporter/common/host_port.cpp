#include "common/host_port.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <stdexcept>

namespace ebpfix {

namespace {

bool is_ascii_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

std::string quoted(std::string_view text) {
    std::string out = "'";
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += char(c);
        }
    }
    return out + "'";
}

void check_interface_name(std::string_view name) {
    if (name.empty()) throw std::invalid_argument("interface name is empty");
    if (name.size() > 15)
        throw std::invalid_argument("interface name " + quoted(name) + " is longer than 15 bytes");
    if (name == "." || name == "..") throw std::invalid_argument("interface name " + quoted(name) + " is not valid");
    for (unsigned char c : name) {
        if (c == '/' || c == ':' || c <= 0x20 || c == 0x7f)
            throw std::invalid_argument("interface name " + quoted(name) +
                                        " may not contain '/', ':', spaces or control characters");
    }
}

void check_host(std::string_view host) {
    if (host.empty()) throw std::invalid_argument("host is empty");
    if (host.find(':') != std::string_view::npos) {
        // IPv6 literal, optionally with a zone ("fe80::1%eth0").
        std::string address(host.substr(0, host.find('%')));
        in6_addr a6{};
        if (::inet_pton(AF_INET6, address.c_str(), &a6) != 1)
            throw std::invalid_argument(quoted(host) + " is not a valid IPv6 address");
        if (auto pct = host.find('%'); pct != std::string_view::npos) check_interface_name(host.substr(pct + 1));
        return;
    }
    bool numeric = true;
    for (char c : host) numeric = numeric && ((c >= '0' && c <= '9') || c == '.');
    if (numeric) {
        // inet_pton takes only dotted quads: no "127.1", octal or hex, which resolvers
        // would read differently from what the user meant.
        in_addr a4{};
        if (::inet_pton(AF_INET, std::string(host).c_str(), &a4) != 1)
            throw std::invalid_argument(quoted(host) + " is not a valid IPv4 address");
        return;
    }
    // A DNS name (RFC 1123 labels; '_' tolerated as resolvers accept it).
    if (host.size() > 253) throw std::invalid_argument("host name is longer than 253 bytes");
    std::string_view rest = host;
    if (rest.back() == '.') rest.remove_suffix(1);  // a fully qualified "name."
    while (true) {
        auto dot = rest.find('.');
        std::string_view label = rest.substr(0, dot);
        if (label.empty() || label.size() > 63)
            throw std::invalid_argument("host name " + quoted(host) + " has an empty or too long label");
        for (char c : label) {
            if (!is_ascii_alnum(c) && c != '-' && c != '_')
                throw std::invalid_argument("host name " + quoted(host) + " contains an invalid character");
        }
        if (label.front() == '-' || label.back() == '-')
            throw std::invalid_argument("host name " + quoted(host) + " has a label starting or ending with '-'");
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
    }
}

HostPort parse_host_port(std::string_view text, PortZero port_zero) {
    std::string_view host;
    std::string_view port;
    if (text.empty()) throw std::invalid_argument("address is empty; expected HOST:PORT");
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos)
            throw std::invalid_argument(quoted(text) + ": missing ']' after the IPv6 address");
        host = text.substr(1, close - 1);
        std::string_view after = text.substr(close + 1);
        if (after.empty() || after.front() != ':')
            throw std::invalid_argument(quoted(text) + ": missing ':PORT' after ']'");
        port = after.substr(1);
        if (host.find(':') == std::string_view::npos)
            throw std::invalid_argument(quoted(text) + ": brackets are only for IPv6 addresses");
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            throw std::invalid_argument(quoted(text) + ": missing port; expected HOST:PORT");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            throw std::invalid_argument(quoted(text) + ": an IPv6 address needs brackets, e.g. [2001:db8::1]:4739");
    }
    if (host.empty()) throw std::invalid_argument(quoted(text) + ": host is empty");
    if (port.empty()) throw std::invalid_argument(quoted(text) + ": port is empty");
    const bool zero_ok = port_zero == PortZero::allowed;
    const std::string port_rule = std::string(": port must be a number from ") + (zero_ok ? "0" : "1") + " to 65535";
    unsigned long value = 0;
    for (char c : port) {
        if (c < '0' || c > '9' || value > 65535) throw std::invalid_argument(quoted(text) + port_rule);
        value = value * 10 + unsigned(c - '0');
    }
    if ((value == 0 && !zero_ok) || value > 65535) throw std::invalid_argument(quoted(text) + port_rule);
    try {
        check_host(host);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(quoted(text) + ": " + e.what());
    }
    return HostPort{std::string(host), static_cast<std::uint16_t>(value)};
}

}  // namespace ebpfix
