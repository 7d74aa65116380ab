// A plain C++ model of what the kernel flow program counts for one frame (the rules of
// docs/architecture.md "What a flow entry counts" and "Counting every packet exactly",
// bpf/parse.h and bpf/account.h), written for the kernel fuzz target: it must reach the
// same verdict, key, packets, bytes and flags as the kernel for any frame.
// Sampling and exclude lists are off, attribution is off, no accelerated VLAN tag.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/flow_types.hpp"

namespace ebpfix::fuzz {

struct ReferenceInput {
    std::span<const std::uint8_t> frame;  // what was captured (the skb's data)
    std::uint32_t wire_len = 0;           // on the wire; >= frame.size()
    bool l2 = true;                       // Ethernet program, else the bare-L3 one
    Direction direction = Direction::ingress;
    std::uint32_t gso_segs = 0;
    std::uint32_t gso_size = 0;
    std::uint32_t ifindex = 1;
};

enum class Verdict { flow, non_ip, parse_error, truncated };

struct ReferenceResult {
    Verdict verdict = Verdict::non_ip;
    std::uint64_t packets = 0;  // a flow's or the drop counter's
    std::uint64_t bytes = 0;
    // For a flow:
    FlowKey key;
    std::uint16_t tcp_flags = 0;
    std::uint8_t tos = 0;
    bool later_fragment = false;  // also counted in the fragments counter
};

ReferenceResult reference_parse(const ReferenceInput& input);

const char* to_string(Verdict verdict) noexcept;
std::string describe(const FlowKey& key);

}  // namespace ebpfix::fuzz
