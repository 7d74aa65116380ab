// The flow table: merges what each kernel drain returned into NetFlow-style flow state
// and decides when a flow is exported (idle, active, TCP end, table full, shutdown).
// Pure logic: no I/O, no BPF, no clock reads — every time is passed in (kernel
// CLOCK_MONOTONIC ns, or capture time with --pcap). time_base_now() in time_base.cpp is
// the one function that reads clocks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/flow_types.hpp"

namespace ebpfix::flow {

struct FlowTableConfig {
    std::uint64_t idle_timeout_ns = 15'000'000'000;
    std::uint64_t active_timeout_ns = 60'000'000'000;
    std::uint64_t tcp_fin_linger_ns = 2'000'000'000;
    std::size_t max_flows = 262144;

    // Slot indices are 32-bit and the index keeps a load factor <= 1/2.
    static constexpr std::size_t max_flows_limit = std::size_t{1} << 28;

    // Throws std::invalid_argument naming the field when the table cannot work with it
    // (max_flows 0 or above max_flows_limit). Timeouts of 0 are valid: "export at the
    // next expire()".
    void validate() const;
};

// Turns kernel ns into wall-clock time once: wall_ns = kernel_ns + offset_ns.
struct TimeBase {
    std::int64_t offset_ns = 0;

    // Saturates at 0 and at UINT64_MAX instead of wrapping.
    std::uint64_t to_wall_ns(std::uint64_t kernel_ns) const noexcept;
    std::uint64_t to_wall_ms(std::uint64_t kernel_ns) const noexcept { return to_wall_ns(kernel_ns) / 1'000'000; }
};

// One bracketed reading: CLOCK_REALTIME, then CLOCK_MONOTONIC, then CLOCK_REALTIME.
struct ClockSample {
    std::uint64_t realtime_before_ns = 0;
    std::uint64_t monotonic_ns = 0;
    std::uint64_t realtime_after_ns = 0;
};

// The offset from the sample whose two realtime reads are closest together (it was
// least disturbed by preemption or interrupts, so the monotonic read lies within the
// smallest window), taking the window's midpoint. Samples where realtime went backwards
// (a clock step between the reads) are ignored. Throws std::invalid_argument when no
// sample is usable or the offset does not fit in int64.
TimeBase time_base_from_samples(std::span<const ClockSample> samples);

// Reads a few ClockSamples (CLOCK_MONOTONIC is the base of the kernel's
// bpf_ktime_get_coarse_ns clock: same offset to CLOCK_REALTIME) and returns
// time_base_from_samples of them. Call again after a wall-clock step (NTP) to re-sync.
TimeBase time_base_now();

struct ExportCounters {
    std::uint64_t records = 0;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
};

struct FlowTableStats {
    std::uint64_t deltas_in = 0;   // accepted deltas
    std::uint64_t packets_in = 0;  // their packets and bytes
    std::uint64_t bytes_in = 0;
    // Deltas with 0 packets cannot come from the kernel (an entry is born with its first
    // packet); they are dropped, counted here and not in packets_in / bytes_in.
    std::uint64_t rejected_deltas = 0;
    std::uint64_t rejected_bytes = 0;
    // Deltas with first_ns > last_ns: the two were swapped and the delta merged.
    std::uint64_t inverted_deltas = 0;

    std::uint64_t flows_created = 0;
    std::uint64_t flows_removed = 0;  // with or without a final record; created - removed = size()

    // Records exported, per IPFIX flowEndReason (index = EndReason value; [0] unused).
    std::array<ExportCounters, 6> exported_by_reason{};
    ExportCounters exported{};  // all reasons together
    std::uint64_t evictions = 0;  // = lack_of_resources records (table full or shrunk)

    const ExportCounters& by_reason(EndReason reason) const noexcept {
        return exported_by_reason[static_cast<std::size_t>(reason)];
    }
};

// Invariant at any moment: stats().packets_in == stats().exported.packets + held_packets(),
// and the same for bytes. No record ever has 0 packets.
class FlowTable {
public:
    // hash_seed: the daemon should pass a random value so that remote senders cannot
    // craft keys that collide in the index; tests pass a fixed one.
    // Throws std::invalid_argument when config.validate() does.
    FlowTable(const FlowTableConfig& config, TimeBase time_base, std::uint64_t hash_seed = 0);

    // Merges one drained delta. When the key is new and the table holds max_flows flows,
    // the least recently active flow is exported early into out (lack_of_resources).
    // "Recently active" has drain granularity: flows are ordered by the drain (the
    // expire() call that ended it) in which they last got packets, and within one drain
    // by their first delta in it. O(1) amortized.
    void add(const FlowDelta& delta, std::vector<FlowRecord>& out);
    // The same for a whole drain, in order, with the same result as calling add() for
    // each delta; faster, because it prefetches the index and flow entries of the deltas
    // a few steps ahead instead of waiting for each cache miss in turn.
    // A delta's source (FlowDelta::source) finds its flow without hashing the key when
    // the last delta of that source went to a flow with the same key.
    void add(std::span<const FlowDelta> deltas, std::vector<FlowRecord>& out);

    // Exports what is due at now_ns (same clock as the deltas) into out, in one pass, and
    // ends the current drain (see add()):
    // - TCP RST seen: at once (end_of_flow);
    // - TCP FIN seen and no packet for tcp_fin_linger (or idle, if shorter): end_of_flow,
    //   so the last ACK after the FIN joins the same record;
    // - last packet + idle_timeout <= now: idle_timeout, the flow is removed;
    // - first packet of the current record + active_timeout <= now: active_timeout; the
    //   flow stays and its next record starts with fresh counters.
    // A flow with nothing held since its last record is removed without a record.
    void expire(std::uint64_t now_ns, std::vector<FlowRecord>& out);

    // Exports every flow (forced_end: ebpfix stops) and empties the table.
    void flush(std::vector<FlowRecord>& out);

    // Exports what every flow holds as an active_timeout record, the flows staying:
    // flowcap's periodic snapshot (flow.export_interval). Flows that hold nothing are
    // left alone.
    void export_held(std::vector<FlowRecord>& out);

    // SIGHUP: new timeouts and size. If max_flows shrank below size(), the least
    // recently active flows are exported into out (lack_of_resources). Throws
    // std::invalid_argument (and changes nothing) when config.validate() does.
    void reconfigure(const FlowTableConfig& config, std::vector<FlowRecord>& out);

    // What a live view shows of one flow (ebpfix ctl flows, ebpfix top).
    struct FlowView {
        FlowKey key;
        std::uint64_t packets = 0;       // since the flow entered the table
        std::uint64_t bytes = 0;
        std::uint64_t held_packets = 0;  // not yet in a record
        std::uint64_t held_bytes = 0;
        std::uint64_t last_ms = 0;       // latest packet, wall clock
        std::uint16_t tcp_flags = 0;     // of the held record
    };
    // Calls f for every flow in the table (any order). Reads only.
    template <typename F>
    void for_each_flow(F&& f) const {
        for (std::size_t i = 0; i < flows_.size(); ++i) {
            const Flow& flow = flows_[i];
            if (!(flow.state & state_in_use)) continue;
            f(FlowView{flow.key, totals_[i].packets, totals_[i].bytes, flow.packets, flow.bytes,
                       time_base_.to_wall_ms(flow.last_seen_ns), flow.tcp_flags});
        }
    }

    // Re-syncs kernel-to-wall conversion (e.g. after an NTP step); affects later records.
    void set_time_base(TimeBase time_base) noexcept { time_base_ = time_base; }

    std::size_t size() const noexcept { return size_; }
    const FlowTableStats& stats() const noexcept { return stats_; }
    const FlowTableConfig& config() const noexcept { return config_; }
    const TimeBase& time_base() const noexcept { return time_base_; }
    // Packets / bytes currently held (not yet exported); for reconciliation.
    std::uint64_t held_packets() const noexcept { return held_packets_; }
    std::uint64_t held_bytes() const noexcept { return held_bytes_; }

private:
    // 128 bytes, aligned: exactly two cache lines, both prefetched by the batch add().
    struct alignas(64) Flow {
        FlowKey key;
        std::uint64_t packets = 0;  // held since the previous record
        std::uint64_t bytes = 0;
        std::uint64_t first_ns = 0;  // of the held record; meaningful while packets > 0
        std::uint64_t last_ns = 0;
        std::uint64_t last_seen_ns = 0;  // latest packet of the flow, across records
        std::uint64_t drain = 0;         // drain_ when it last got packets
        std::uint32_t hash = 0;          // low 32 bits of the key's hash: its index position
        std::uint16_t tcp_flags = 0;     // of the held record
        std::uint8_t tos = 0;            // of the held record's earliest delta
        std::uint8_t state = 0;          // state_* bits
    };
    // Flows in order of activity, oldest first. A flow gets a new entry (and id) the
    // first time it gets packets in a drain; older entries of it become stale and are
    // skipped when popped, or dropped when the queue is compacted.
    struct ActivityEntry {
        std::uint32_t slot;
        std::uint64_t activity;
    };
    static constexpr std::uint8_t state_in_use = 1;
    static constexpr std::uint8_t state_fin = 2;
    static constexpr std::uint8_t state_rst = 4;

    std::uint32_t hash_key(const FlowKey& key) const noexcept;
    // hash32 is the key's hash when hashed is true, else computed when needed.
    void add_hashed(const FlowDelta& delta, std::uint32_t hash32, bool hashed, std::vector<FlowRecord>& out);
    // The slot + 1 that delta.source last went to, 0 if none.
    std::uint32_t by_source(const FlowDelta& delta) const noexcept {
        return delta.source < by_source_.size() ? by_source_[delta.source] : 0;
    }
    void remember_source(const FlowDelta& delta, std::uint32_t slot);
    void prefetch_slot(std::uint32_t slot) const noexcept;
    void prefetch_flow(std::uint32_t hash32) const noexcept;
    std::uint64_t due_ns(const Flow& flow) const noexcept;
    void merge(Flow& flow, const FlowDelta& delta) noexcept;
    void mark_active(std::uint32_t slot);
    void emit(Flow& flow, EndReason reason, std::vector<FlowRecord>& out);
    // Exports what the flow holds (if anything) and removes it.
    void end_flow(std::uint32_t slot, EndReason reason, std::vector<FlowRecord>& out);
    void remove_slot(std::uint32_t slot) noexcept;
    void evict_oldest(std::vector<FlowRecord>& out);
    void compact_activity_queue();
    void grow_index(std::size_t capacity);
    void clear() noexcept;

    FlowTableConfig config_;
    TimeBase time_base_;
    std::uint64_t seed_a_ = 0;
    std::uint64_t seed_b_ = 0;

    // Flows live in slots; flows_ and due_ are parallel. due_ is kept apart so that
    // expire() scans 8 bytes per slot, not the whole flow.
    std::vector<Flow> flows_;
    std::vector<std::uint64_t> due_;  // when something is next due; UINT64_MAX = never/free
    // Parallel too: packets and bytes of the flow since it entered the table, for the live
    // views only (kept apart so that the flow stays two cache lines).
    struct Totals {
        std::uint64_t packets = 0, bytes = 0;
    };
    std::vector<Totals> totals_;
    // Parallel: the id of each flow's newest entry in activity_queue_, 0 for a free slot.
    // Apart from the flow so that compacting the queue reads 8 bytes a slot.
    std::vector<std::uint64_t> activity_;
    // Source id -> slot + 1 of the flow its last delta went to (FlowDelta::source);
    // stale entries are harmless, as the key is compared before an entry is used.
    std::vector<std::uint32_t> by_source_;
    static constexpr std::uint32_t max_source = 1u << 24;  // larger ids go by the key alone
    std::vector<std::uint32_t> free_slots_;

    std::vector<ActivityEntry> activity_queue_;
    std::size_t activity_head_ = 0;  // entries before it were popped
    std::uint64_t last_activity_ = 0;
    std::uint64_t drain_ = 1;  // incremented by each expire()

    // Open addressing, linear probing, backward-shift deletion (no tombstones).
    // An entry is hash32 << 32 | (slot + 1); 0 = empty.
    std::vector<std::uint64_t> index_;
    std::size_t index_mask_ = 0;

    std::size_t size_ = 0;
    std::uint64_t held_packets_ = 0;
    std::uint64_t held_bytes_ = 0;
    FlowTableStats stats_;
};

}  // namespace ebpfix::flow
