// The model of `ebpfix top`: snapshots of the daemon's flow table in, rows out. Rates come
// from two successive snapshots, matched by the protocol's flow key; rows are sorted like
// pktstat-bpf's keys, filtered by a substring, and can be frozen (pause). No terminal here.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "views/control_reader.hpp"

namespace ebpfix::views {

// pktstat-bpf's keys 0..4.
enum class SortKey { bit_rate = 0, packets = 1, bytes = 2, source = 3, destination = 4 };
std::string_view sort_key_name(SortKey key);

// What matches a flow of one snapshot to the same flow in the next (the control
// protocol's key). Two table entries with the same id (e.g. different VLANs) are one row.
struct FlowId {
    Address src;
    Address dst;
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    std::uint8_t protocol = 0;
    Direction direction = Direction::ingress;
    std::string ifname;
    std::optional<std::uint32_t> pid;

    friend auto operator<=>(const FlowId&, const FlowId&) = default;
};

enum Column : std::size_t {
    col_bit_rate, col_packet_rate, col_packets, col_bytes, col_protocol, col_source, col_destination,
    col_direction, col_interface, col_user, col_process, column_count
};
// Header text of each column.
extern const std::array<std::string_view, column_count> column_titles;
// Numbers are right-aligned.
bool column_is_numeric(Column column);

struct Row {
    FlowId id;
    LiveFlow flow;                      // summed over the table entries with this id
    std::optional<double> bit_rate;     // bit/s; none without an earlier snapshot
    std::optional<double> packet_rate;  // packets/s
    std::array<std::string, column_count> cells;  // as drawn, printable ASCII
    std::string text;                   // the cells joined by two spaces: what the filter reads
};

struct Totals {
    std::size_t flows = 0;
    double bit_rate = 0;     // sum over the rows that have a rate
    double packet_rate = 0;
    bool rates_known = false;  // the snapshot had an earlier one to compare with
};

class TopView {
public:
    // A new snapshot; rates against the previous one. While paused, what is shown stays.
    void update(const Snapshot& snapshot);
    bool has_snapshot() const noexcept { return shown_now_ms_.has_value(); }
    // The daemon's clock of the snapshot shown.
    std::uint64_t now_ms() const noexcept { return shown_now_ms_.value_or(0); }

    void set_sort(SortKey key);              // and the selection back to the top
    SortKey sort() const noexcept { return sort_; }
    void set_filter(std::string text);       // "" = every row; case-insensitive substring of Row::text
    const std::string& filter() const noexcept { return filter_; }
    void set_paused(bool paused);            // unpausing shows the newest snapshot
    bool paused() const noexcept { return paused_; }

    // The rows shown: filtered, then sorted.
    const std::vector<Row>& rows() const noexcept { return visible_; }
    Totals totals() const;           // every row of the snapshot shown
    Totals visible_totals() const;   // rows()
    // Whether any row of the snapshot shown has a user, uid, pid or comm.
    bool has_attribution() const noexcept { return has_attribution_; }

    // Index into rows() (0 when empty). The top row stays selected across updates; a
    // selection below it follows its flow.
    std::size_t selected() const noexcept { return selected_; }
    void move_selection(long delta);
    void select_first() { selected_ = 0; }
    void select_last() { selected_ = visible_.empty() ? 0 : visible_.size() - 1; }

private:
    struct Counts {
        std::uint64_t packets = 0, bytes = 0;
    };
    void rebuild();

    // The newest snapshot's counts, for the rates of the next one.
    std::optional<std::uint64_t> previous_now_ms_;
    std::map<FlowId, Counts> previous_counts_;
    std::vector<Row> latest_;     // rows of the newest snapshot
    bool latest_rates_known_ = false;

    std::vector<Row> shown_;      // latest_, or what it was when paused
    std::optional<std::uint64_t> shown_now_ms_;
    bool shown_rates_known_ = false;
    std::optional<std::uint64_t> latest_now_ms_;

    std::vector<Row> visible_;
    bool has_attribution_ = false;
    SortKey sort_ = SortKey::bit_rate;
    std::string filter_;
    bool paused_ = false;
    std::size_t selected_ = 0;
};

// "0 bit/s", "850 bit/s", "1.50 kbit/s", "12.3 Mbit/s", "123 Gbit/s" (SI, three digits).
std::string format_bit_rate(double bits_per_second);
// "0.0", "12.5", "1234.0".
std::string format_packet_rate(double packets_per_second);
// "TCP", "UDP", "ICMP 8/0" (type/code), "ICMPv6 128/0", "GRE", or the number.
std::string protocol_text(std::uint8_t protocol, std::uint16_t dst_port);
// "10.0.0.1:5000", "[fd00::1]:5000"; the address alone for protocols without ports.
std::string endpoint_text(const Address& address, std::uint16_t port, std::uint8_t protocol);
// Printable ASCII kept, anything else '?': what a narrow terminal can show in one cell.
std::string printable(std::string_view text);

}  // namespace ebpfix::views
