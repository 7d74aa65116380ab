// The control socket's protocol (docs/ebpfix.8, CONTROL SOCKET): one request line per
// connection, answered by "ok\n" + body or "error: MESSAGE\n". Pure: no I/O, no clock,
// no globals, so the parser can be fuzzed and the formats tested byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "attribution/owners.hpp"
#include "flow/flow_table.hpp"
#include "sinks/sink.hpp"

namespace ebpfix::daemon::control {

enum class Command : std::uint8_t { statistics, flows, expire_all, reload, templates, graph };

struct Request {
    Command command = Command::statistics;
    bool json = false;  // flows --json

    friend bool operator==(const Request&, const Request&) = default;
};

// The request text without its "\n" terminator may be this long at most.
inline constexpr std::size_t max_request_bytes = 256;

// The word of a command as the protocol spells it ("expire-all").
std::string_view command_word(Command command) noexcept;
// Every command, in the order the usage texts list them.
inline constexpr Command all_commands[] = {Command::statistics, Command::flows,     Command::expire_all,
                                           Command::reload,     Command::templates, Command::graph};

struct ParseResult {
    std::optional<Request> request;  // set when the line is a valid request
    std::string error;               // otherwise why not: one line of printable ASCII
};

// Parses one request line, given without its "\n". Words are separated by single spaces;
// at most max_request_bytes, printable ASCII only. Never throws except std::bad_alloc.
ParseResult parse_request(std::string_view line);

// --- Responses.

// "ok\n" + body; a body that does not end in "\n" gets one, so every line is whole.
std::string response_ok(std::string_view body);
// The same in two parts, so that a large body is sent without a copy: ok_line, then the
// body after finish_body().
inline constexpr std::string_view ok_line = "ok\n";
void finish_body(std::string& body);
// "error: MESSAGE\n"; control bytes in the message (a newline in an exception's text)
// become spaces, so the error stays one line.
std::string response_error(std::string_view message);

struct Response {
    bool ok = false;
    std::string error;  // the MESSAGE of "error: MESSAGE"
    std::string body;   // what follows the first line
};
// Reads a whole response (what the client received up to the server's close). nullopt
// when the first line is neither "ok" nor "error: ..." or has no "\n".
std::optional<Response> parse_response(std::string_view raw);

// --- Bodies.

using FlowView = flow::FlowTable::FlowView;
using IfNameOf = std::function<std::string(std::uint32_t ifindex)>;
// The owner of a socket cookie (FlowKey::owner), nullptr when unknown.
using OwnerOf = std::function<const attribution::Owner*(std::uint64_t cookie)>;

// Every flow of the table, most bytes first (then by key), for a stable, readable list.
std::vector<FlowView> snapshot_flows(const flow::FlowTable& table);

// One line per flow:
//   SRC:PORT -> DST:PORT proto=N direction=D ifname=NAME packets=N bytes=N held_packets=N
//   held_bytes=N idle=GO_DURATION flags=0xNN [vlan=N inner_vlan=N] [user=NAME]
//   [comm=COMM[PID]] [cgroup=PATH]
// after a first line "flows=COUNT now_ms=WALL_MS". IPv6 addresses are bracketed, names
// as the text flow log writes them (sinks::text_token); idle is now_ms - last_ms; the
// VLAN IDs appear when either is set.
std::string format_flows_text(std::span<const FlowView> flows, std::uint64_t now_ms, const IfNameOf& ifname,
                              const OwnerOf& owner_of);
// JSON lines: {"now_ms":WALL_MS,"flows":COUNT}, then one object per flow with the keys of
// the protocol in its order; uid, user, pid, comm and cgroup only when known.
std::string format_flows_json(std::span<const FlowView> flows, std::uint64_t now_ms, const IfNameOf& ifname,
                              const OwnerOf& owner_of);

// Named numbers, in the order they are shown. Names are words without spaces
// ("kernel_map_full_packets", "sink_ipfix_127.0.0.1:4739_records_delivered").
struct ControlStatistics {
    std::vector<std::pair<std::string, std::uint64_t>> values;

    void add(std::string name, std::uint64_t value) { values.emplace_back(std::move(name), value); }
};

// "NAME VALUE" per line, names padded to one column. Bytes of a name that are not
// printable ASCII or are spaces become '_', so every line splits into two fields.
std::string format_statistics(const ControlStatistics& statistics);

// What the exporter knows, for `statistics`: its totals, the kernel's counters, the flow
// table (size, capacity, stats) and every sink's delivered / not-sent counts.
ControlStatistics statistics_of(const sinks::ExporterTotals& totals, const flow::FlowTable& table,
                                std::span<const std::unique_ptr<sinks::Sink>> sinks);

}  // namespace ebpfix::daemon::control
