// "HOST:PORT" as ebpfix reads it everywhere (collectors, the metrics listener): one
// parser, so that what --check-config accepts is what start accepts. Syntax only; the
// callers resolve names (the daemon at start, --check-config through check_environment).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ebpfix {

struct HostPort {
    std::string host;   // without brackets
    std::uint16_t port = 0;
};

// A listener may ask for an ephemeral port; a collector may not.
enum class PortZero : bool { refused, allowed };

// "127.0.0.1:2055", "[::1]:4739", "[fe80::1%eth0]:4739", "collector.example:2055".
// Throws std::invalid_argument "'TEXT': what is wrong" (missing port, port 0 unless
// allowed, empty host, IPv6 literal without brackets, brackets around IPv4, bad characters).
HostPort parse_host_port(std::string_view text, PortZero port_zero = PortZero::refused);

// A DNS name (RFC 1123 labels, '_' tolerated), a dotted-quad IPv4 literal or an IPv6
// literal without brackets, optionally with a %zone. Throws std::invalid_argument.
void check_host(std::string_view host);

// Linux device name rules (dev_valid_name): 1..15 bytes, not "." or "..", no '/', ':',
// whitespace or control characters. Here because an IPv6 zone is a device name.
void check_interface_name(std::string_view name);

// 'text' in quotes, control bytes as \xNN, so that a message stays one line.
std::string quoted(std::string_view text);

}  // namespace ebpfix
