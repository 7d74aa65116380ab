// What the programs select at run time (struct ebpfix_knobs and the exclude maps):
// 1-in-N sampling, exclude prefixes, attribution. Applied without reloading anything, at
// start and on SIGHUP.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "bpf/flow_program.hpp"

namespace ebpfix::bpf {

struct Prefix {
    std::uint8_t family = 4;              // 4 or 6
    std::array<std::uint8_t, 16> addr{};  // IPv4 in the first 4 bytes
    std::uint8_t length = 0;              // prefix length in bits
};

struct KernelFilters {
    std::uint32_t sample_interval = 1;  // 1 = every packet
    bool hash_sampling = false;         // per flow (RFC 7014) instead of per packet
    std::vector<Prefix> exclude;        // source or destination inside: counted as excluded
    bool attribution = false;           // socket cookie in the flow key
};

// Brings the programs to exactly `filters`. Exclude prefixes are added before stale
// ones are removed, so a prefix in both the old and new list is never let through.
// Throws BpfError (what was applied so far stays applied).
void apply_filters(const FlowProgram& program, const KernelFilters& filters);

}  // namespace ebpfix::bpf
