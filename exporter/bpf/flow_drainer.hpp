// Exact reading of the kernel's flow slots (bpf/maps.h, struct ebpfix_slot): every
// drain takes what each dirty slot counted since the previous take (atomic swaps on
// the shared memory, no syscalls) and hands it on as FlowDeltas; slots of flows idle
// long enough go back to the kernel, after their index entry is gone and every program
// that might still hold the slot has finished, with a last take in between.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "bpf/flow_program.hpp"
#include "common/flow_types.hpp"
#include "flow_abi.h"

namespace ebpfix::bpf {

struct DrainStats {
    std::uint64_t slots_taken = 0;  // dirty slots read
    std::uint64_t deltas = 0;       // FlowDeltas handed on
    std::uint64_t packets = 0;      // their packets and bytes
    std::uint64_t bytes = 0;
    std::uint64_t reclaimed = 0;    // slots given back to the kernel
    std::uint64_t take_ns = 0;      // time spent taking dirty slots
    std::uint64_t reclaim_ns = 0;   // time spent giving slots back (incl. the grace wait)
    std::uint64_t unindex_ns = 0;   // of which deleting their kernel index entries
    std::uint64_t grace_ns = 0;     // of which waiting for running programs
};

FlowKey widen_key(const ebpfix_key4& k) noexcept;
FlowKey widen_key(const ebpfix_key6& k) noexcept;
FlowKey widen_key(const ebpfix_slot_key& k) noexcept;

// Sum of the per-CPU counters.
ebpfix_counters read_counters(const FlowProgram& program);

class FlowDrainer {
public:
    explicit FlowDrainer(const FlowProgram& program);

    // Receives the deltas of one drain, a batch (at most batch_size) at a time. If it
    // throws, the batch is kept and handed over again, first, by the next call.
    using DeltaSink = std::function<void(std::span<const FlowDelta>)>;
    static constexpr std::size_t batch_size = 4096;

    // Takes every dirty slot, then gives back the slots of flows whose last packet is at
    // least idle_ns before now_ns (the programs' clock). Throws BpfError.
    DrainStats drain(std::uint64_t now_ns, std::uint64_t idle_ns, const DeltaSink& sink);
    // The same, appending every delta to out.
    DrainStats drain(std::uint64_t now_ns, std::uint64_t idle_ns, std::vector<FlowDelta>& out);

    // The last drain, after the hooks are detached: waits for running programs, then
    // takes everything.
    DrainStats drain_all(const DeltaSink& sink);

    std::uint32_t slots_in_use() const noexcept { return in_use_; }
    // Bytes taken without a packet that never found their packet: 0 unless the
    // ordering of struct ebpfix_slot is broken. Reported, never dropped silently.
    std::uint64_t unmatched_bytes() const noexcept { return unmatched_bytes_; }

private:
    struct SlotState {
        std::uint64_t last_ns = 0;  // latest packet seen in a take
        std::uint64_t carry = 0;    // bytes taken before their packet
        bool in_use = false;
    };
    void take(std::uint32_t slot, DrainStats& stats, const DeltaSink& sink);
    void take_dirty(DrainStats& stats, const DeltaSink& sink);
    void hand_over(const DeltaSink& sink);
    void reclaim(std::uint64_t now_ns, std::uint64_t idle_ns, DrainStats& stats, const DeltaSink& sink);
    // Puts a slot no program holds at the tail of the free-slot ring.
    void give_to_ring(std::uint32_t slot);
    // Gives the ring the slots programs took but could not index (bpf/maps.h).
    void take_returned_slots();

    const FlowProgram& program_;
    const SharedTables& t_;
    std::vector<SlotState> state_;
    std::uint32_t in_use_ = 0;
    std::uint64_t unmatched_bytes_ = 0;
    std::vector<FlowDelta> batch_;
    std::vector<std::uint32_t> candidates_;
    std::vector<ebpfix_key4> keys4_;
    std::vector<ebpfix_key6> keys6_;
};

}  // namespace ebpfix::bpf
