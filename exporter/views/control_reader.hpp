// The client side of the daemon's control socket (docs: the control protocol, version 1):
// one request per connection, the reply read to EOF, and a parser for the `flows --json`
// body. The parser takes exactly that format (any key order, unknown keys skipped) and
// turns anything else into a ReplyError naming the line and column, never a crash.
#pragma once

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/flow_types.hpp"

namespace ebpfix::views {

// An address as the daemon wrote it, with its bytes for ordering (IPv4 before IPv6,
// then numerically).
struct Address {
    std::uint8_t family = 4;                // 4 or 6
    std::array<std::uint8_t, 16> bytes{};   // IPv4 in the first 4
    std::string text;                       // as received ("10.0.0.1", "fd00::1")

    friend std::strong_ordering operator<=>(const Address& a, const Address& b) {
        if (auto c = a.family <=> b.family; c != 0) return c;
        return a.bytes <=> b.bytes;
    }
    friend bool operator==(const Address& a, const Address& b) { return a.family == b.family && a.bytes == b.bytes; }
};

// One line of `flows --json`: a flow of the daemon's flow table.
struct LiveFlow {
    Address src;
    Address dst;
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;  // ICMP: type << 8 | code
    std::uint8_t protocol = 0;
    Direction direction = Direction::ingress;
    std::string ifname;
    std::uint64_t packets = 0;       // since the flow entered the daemon's table
    std::uint64_t bytes = 0;
    std::uint64_t held_packets = 0;  // not yet exported
    std::uint64_t held_bytes = 0;
    std::uint64_t last_ms = 0;       // latest packet, wall clock
    std::uint16_t tcp_flags = 0;
    // Attribution, when the daemon knows it.
    std::optional<std::uint32_t> uid;
    std::optional<std::string> user;
    std::optional<std::uint32_t> pid;
    std::optional<std::string> comm;
    std::optional<std::string> cgroup;
};

// One reply to `flows --json`.
struct Snapshot {
    std::uint64_t now_ms = 0;  // the daemon's wall clock when it took the snapshot
    std::vector<LiveFlow> flows;
};

// The reply is not what the protocol says (or the daemon answered "error: ...").
class ReplyError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The socket cannot be reached, or the connection broke: the daemon is not (or no
// longer) there.
class ConnectionError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The body of an "ok" reply. Throws ReplyError with the daemon's message for
// "error: MESSAGE", or naming what is wrong with the status line.
std::string_view reply_body(std::string_view reply);

// Parses the body of a `flows --json` reply (after the "ok" line). Throws ReplyError
// "line N, column C: what is wrong" (lines counted from the first body line).
Snapshot parse_flows_json(std::string_view body);

// Most a reply may hold: a full flow table of the largest size is well below this.
inline constexpr std::size_t max_reply_bytes = 512u << 20;

// Connects to the UNIX socket at path, sends request_line + "\n" and reads the reply to
// EOF. Each wait (connect, write, every read) gives up after idle_timeout. Throws
// ConnectionError (naming the path and the errno text) or ReplyError (reply too large).
std::string control_request(const std::string& path, std::string_view request_line,
                            std::chrono::milliseconds idle_timeout = std::chrono::seconds(5));

// control_request(path, "flows --json") parsed.
Snapshot fetch_flows(const std::string& path);

}  // namespace ebpfix::views
