// The kernel fuzz check: one frame, built from the fuzz input, through the real flow
// program (BPF_PROG_TEST_RUN, both parser instances: direct packet access and
// bpf_skb_load_bytes), drained at once, then compared with the reference parser.
// Needs root (loads BPF programs).
//
// Input layout (kernel_fuzz corpus files):
//   byte 0      bit 0: egress program; bit 1: the bare-L3 program (else Ethernet);
//               bit 2: GSO, bytes 1-4 apply; bit 3: cut by a snaplen, bytes 5-6 apply
//   bytes 1-2   gso_segs (big endian)
//   bytes 3-4   gso_size
//   bytes 5-6   bytes on the wire beyond the frame (wire length = frame + this, <= 64 KiB)
//   bytes 7..   the frame (at most kMaxFrame bytes are used)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/flow_types.hpp"
#include "fuzz/reference_parser.hpp"

namespace ebpfix::fuzz {

struct KernelFrame {
    std::vector<std::uint8_t> frame;
    bool egress = false;
    bool l3 = false;
    std::uint16_t gso_segs = 0;
    std::uint16_t gso_size = 0;
    std::uint32_t wire_len = 0;  // 0 = the frame's length
};

// test_run copies the frame into one page with room for the skb's head and tail.
inline constexpr std::size_t kMaxFrame = 3000;
inline constexpr std::size_t kKernelHeader = 7;

std::optional<KernelFrame> decode_kernel_input(std::span<const std::uint8_t> input);
std::vector<std::uint8_t> encode_kernel_input(const KernelFrame& frame);

struct KernelCheckStats {
    std::uint64_t inputs = 0;
    std::uint64_t checked = 0;     // frames that ran and were compared
    std::uint64_t too_short = 0;   // no header, or frames under 14 bytes: test_run refuses them
    std::uint64_t refused = 0;     // IPv4 (IPv6) ethertype at bytes 12-13 and under 34 (54) bytes
    std::uint64_t flows = 0, non_ip = 0, parse_error = 0, truncated = 0;
    std::uint64_t later_fragments = 0;
};

class KernelChecker {
public:
    // Loads the programs once (small maps, flow times from the packet so that the
    // drain needs no grace period). Throws bpf::BpfError.
    KernelChecker();
    ~KernelChecker();
    KernelChecker(const KernelChecker&) = delete;
    KernelChecker& operator=(const KernelChecker&) = delete;

    // Throws InvariantBroken (input_checks.hpp) with the frame in hex on any disagreement.
    void check(std::span<const std::uint8_t> input);
    const KernelCheckStats& stats() const noexcept { return stats_; }

private:
    struct Instance;
    // What both agreed on, or nullopt when test_run refused the frame.
    std::optional<ReferenceResult> run_one(Instance& instance, const KernelFrame& frame);

    std::unique_ptr<Instance> direct_;
    std::unique_ptr<Instance> load_bytes_;
    std::uint64_t clock_ns_ = 1'000'000'000;
    KernelCheckStats stats_;
};

}  // namespace ebpfix::fuzz
