// The flow log: one line per flow record, in flowcap's text or JSON format plus ebpfix's
// own fields at the end, so flowcap users' parsers keep working.
//
// flowcap (github.com/luk-kop/flowcap, main.go printFlow) writes
//   text: "SRC:PORT -> DST:PORT proto=N packets=N bytes=N duration=D flags=0xNN"
//         with D in Go's time.Duration notation ("0s", "250ms", "1.5s", "2m3s")
//   JSON: encoding/json of a map, hence keys in byte order: bytes, dst_ip, dst_port,
//         duration_ns, duration_sec, packets, protocol, src_ip, src_port, tcp_flags
//         ("0x%02x" string), timestamp (export time, Unix seconds).
// ebpfix appends (text) " direction=ingress ifname=eth0 vlan=N inner_vlan=N
// end_reason=WORD" and (JSON) start_ms, end_ms, direction, ifname, vlan, inner_vlan,
// tos, icmp_type, icmp_code, end_reason after flowcap's keys. IPv6 addresses are
// bracketed in text ("[2001:db8::1]:443") so "ADDR:PORT" splits at the last colon.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "attribution/owners.hpp"
#include "common/flow_types.hpp"
#include "sinks/append_file.hpp"

namespace ebpfix::sinks {

enum class LogFormat : std::uint8_t { text, json };


// --- Pure formatting (no I/O, no clock).

// "idle_timeout", "active_timeout", "end_of_flow", "forced_end", "lack_of_resources";
// "unknown_N" for a value outside the enum.
std::string end_reason_word(EndReason reason);
// "ingress" / "egress".
std::string direction_word(Direction direction);
// The address of a key side as text: dotted IPv4 for ip_version 4, RFC 5952 IPv6 otherwise.
std::string address_text(const std::array<std::uint8_t, 16>& addr, std::uint8_t ip_version);
// Go's time.Duration.String() for a whole number of nanoseconds ("0s", "1.5ms", "2m0.5s").
std::string go_duration(std::uint64_t ns);
// A JSON string literal (with quotes): ", \ and control characters escaped, bytes that
// are not valid UTF-8 replaced by U+FFFD (as Go does), U+2028/U+2029 escaped.
std::string json_string(std::string_view raw);
// Text-log form of a hostile name: printable ASCII except backslash and '=' kept, every
// other byte as \xNN, so a line always splits on spaces; "-" for an empty name.
std::string text_token(std::string_view raw);

// One log line without the trailing newline. export_time_s is flowcap's "timestamp".
// With attribution, the owner of the flow's socket (nullptr: none known) adds
// " user=NAME comm=COMM[PID]" (text; the parts that are known) or the JSON keys uid,
// user, pid, comm, cgroup (each absent when unknown).
std::string format_text(const FlowRecord& record, std::string_view ifname,
                        const attribution::Owner* owner = nullptr);
std::string format_json(const FlowRecord& record, std::string_view ifname, std::int64_t export_time_s,
                        const attribution::Owner* owner = nullptr);

// --- The writer.

struct FlowLogOptions {
    LogFormat format = LogFormat::text;
    std::string path = "-";                 // "-" = stdout
    std::uint32_t max_export_per_cycle = 0; // 0 = no limit; the rest waits, FIFO
    // Guard against unbounded memory when the output is broken for a long time: beyond
    // this many pending lines the oldest are discarded and counted in lines_dropped().
    std::size_t max_pending = 1u << 20;
};

class FlowLogWriter {
public:
    // Opens the file (O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, 0644). Throws OutputError
    // "PATH: reason" when it cannot.
    explicit FlowLogWriter(FlowLogOptions options);
    ~FlowLogWriter();
    FlowLogWriter(const FlowLogWriter&) = delete;
    FlowLogWriter& operator=(const FlowLogWriter&) = delete;

    using IfName = std::function<std::string(std::uint32_t ifindex)>;
    // The owner of a socket cookie (FlowKey::owner), or nullptr.
    using OwnerOf = std::function<const attribution::Owner*(std::uint64_t cookie)>;

    // Queues one record (formatted when written, so "timestamp" is the write time).
    void enqueue(const FlowRecord& record, std::string ifname, const attribution::Owner* owner = nullptr);

    // One drain cycle: writes at most max_export_per_cycle lines (all if 0), oldest
    // first: the queued ones, then `records` (named with ifname). Lines go out in blocks
    // of whole lines (up to block_bytes, one write each); a block whose write fails is
    // counted in write_errors() and its lines stay queued, in order, for the next cycle,
    // as do the lines over the limit. Records written at once are never copied into the
    // queue. Returns the number of lines written.
    std::size_t write_cycle(std::span<const FlowRecord> records, const IfName& ifname, std::int64_t export_time_s,
                            const OwnerOf& owner_of = nullptr);
    std::size_t write_cycle(std::int64_t export_time_s) { return write_cycle({}, nullptr, export_time_s); }

    static constexpr std::size_t block_bytes = 64 * 1024;
    // Writes every queued line regardless of the limit (at stop). Returns lines written.
    std::size_t flush_all(std::int64_t export_time_s);

    // Closes and opens the path again (logrotate, SIGHUP). Stdout is left alone. On
    // failure the old descriptor is kept and false is returned (last_error() says why).
    bool reopen();

    // A reader that went away (EPIPE: `ebpfix eth0 | head`): the log has ended. Lines of
    // later records are counted in lines_not_written() instead of being queued.
    bool output_closed() const noexcept { return closed_; }
    std::uint64_t lines_not_written() const noexcept { return lines_not_written_; }

    std::uint64_t lines_written() const noexcept { return lines_written_; }
    std::uint64_t lines_pending() const noexcept { return pending_.size(); }
    std::uint64_t write_errors() const noexcept { return write_errors_; }
    std::uint64_t lines_dropped() const noexcept { return lines_dropped_; }
    const std::string& last_error() const noexcept { return file_.last_error(); }
    const FlowLogOptions& options() const noexcept { return options_; }

private:
    struct Pending {
        FlowRecord record;
        std::string ifname;
        std::optional<attribution::Owner> owner;
    };
    std::size_t write_some(std::size_t limit, std::int64_t export_time_s);
    void append_line(const FlowRecord& record, std::string_view ifname, std::int64_t export_time_s,
                     const attribution::Owner* owner);
    // Writes block_ (whole lines); false, counted, when the write failed.
    bool write_block();
    // Writes lines 0..count-1 (append_nth(i) adds line i to block_) in blocks; stops at
    // the first failed block. Returns the lines written.
    template <typename AppendLine>
    std::size_t write_lines(std::size_t count, AppendLine append_nth);

    FlowLogOptions options_;
    AppendFile file_;
    std::deque<Pending> pending_;
    std::string block_;
    std::uint64_t lines_written_ = 0;
    std::uint64_t write_errors_ = 0;
    std::uint64_t lines_dropped_ = 0;
    std::uint64_t lines_not_written_ = 0;
    bool closed_ = false;
};

}  // namespace ebpfix::sinks
