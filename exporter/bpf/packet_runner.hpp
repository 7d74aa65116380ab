// Runs one frame through a loaded program with BPF_PROG_TEST_RUN: the --pcap input
// path and the table-driven kernel tests use the very program that runs on devices.
#pragma once

#include <cstdint>
#include <span>

namespace ebpfix::bpf {

struct PacketRunOptions {
    std::uint64_t tstamp_ns = 0;   // skb->tstamp (flow time when time_from_packet is on)
    std::uint32_t wire_len = 0;    // the packet's length on the wire when the frame was cut
                                   // by a capture's snaplen (0 = the frame's length)
    std::uint32_t gso_segs = 0;    // > 1 makes the skb a GSO super-packet
    std::uint32_t gso_size = 0;
    std::uint32_t repeat = 1;
};

struct PacketRunResult {
    int retval = 0;
    std::uint32_t duration_ns = 0;  // average per run, as the kernel measured it
};

// Throws BpfError when the kernel refuses the run (e.g. frame shorter than 14 bytes).
PacketRunResult run_packet(int prog_fd, std::span<const std::uint8_t> frame, const PacketRunOptions& options = {});

}  // namespace ebpfix::bpf
