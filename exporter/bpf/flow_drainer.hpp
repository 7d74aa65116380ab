// Exact drain of the kernel flow maps: flip the active generation, then empty the
// retired one. See bpf/maps.h for why the flip leaves no window for lost updates.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "bpf/flow_program.hpp"
#include "common/flow_types.hpp"
#include "flow_abi.h"

namespace ebpfix::bpf {

// One kernel map entry: the flow's counts since the previous drain.
struct DrainedFlow {
    FlowKey key;
    ebpfix_flow_value value;
};

struct DrainStats {
    std::uint64_t flows = 0;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t flip_ns = 0;   // time spent waiting for running programs
    std::uint64_t drain_ns = 0;  // time spent reading and deleting
};

FlowKey widen_key(const ebpfix_key4& k) noexcept;
FlowKey widen_key(const ebpfix_key6& k) noexcept;

// Sum of the per-CPU counters.
ebpfix_counters read_counters(const FlowProgram& program);

class FlowDrainer {
public:
    explicit FlowDrainer(const FlowProgram& program);

    // Hands every flow counted since the previous drain to `sink`, one kernel batch
    // (at most a few thousand flows) at a time, so that the daemon never holds a whole
    // map's worth of copies. Throws BpfError.
    using BatchSink = std::function<void(std::span<const DrainedFlow>)>;
    DrainStats drain(const BatchSink& sink);
    // The same, appending every flow to out.
    DrainStats drain(std::vector<DrainedFlow>& out);

    int active_generation() const noexcept { return active_; }

private:
    template <typename Key>
    void drain_map(int map_fd, const BatchSink& sink, DrainStats& stats);

    const FlowProgram& program_;
    int active_ = 0;
    std::uint32_t batch_ = 4096;
    std::vector<std::uint8_t> keys_;
    std::vector<ebpfix_flow_value> values_;
    std::vector<DrainedFlow> batch_flows_;
};

}  // namespace ebpfix::bpf
