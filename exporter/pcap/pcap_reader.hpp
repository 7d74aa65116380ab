// Reading a capture file for --pcap: classic pcap (either byte order, micro- or
// nanosecond timestamps) and pcapng, through libpcap with nanosecond precision.
//
// Every packet comes out as the frame the kernel flow program expects, with the program
// variant it needs (bpf::LinkLayer):
//   Ethernet (linktype 1)                      -> ethernet, the frame as captured
//   raw IP (101, 12), IPv4 (228), IPv6 (229)   -> l3, the IP packet as captured
//   Linux cooked SLL (113) and SLL2 (276)      -> ethernet: the cooked header is replaced
//       by a 14-byte Ethernet header (zero MACs, the cooked protocol type), so VLAN tags
//       and non-IP frames are parsed exactly as on an Ethernet device; "outgoing"
//       packets are marked egress.
// Damage never crashes the reader: a cut or malformed file throws PcapError naming the
// path, the packet number and the file offset.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "bpf/flow_program.hpp"  // bpf::LinkLayer (the enum only; no libbpf needed)
#include "common/flow_types.hpp"

struct pcap;

namespace ebpfix::pcap {

// what(): "PATH: reason" or "PATH: packet N at offset X: reason".
class PcapError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Packet {
    std::uint64_t number = 0;        // 1-based position in the file
    std::uint64_t timestamp_ns = 0;  // capture time, ns since the Unix epoch (wall clock)
    // The frame for the program named by link_layer. Valid until the next call to next().
    // May be shorter than 14 bytes (a cut frame); BPF_PROG_TEST_RUN refuses those.
    std::span<const std::uint8_t> data;
    std::uint32_t caplen = 0;        // bytes captured, as in the file (incl. a cooked header)
    std::uint32_t orig_len = 0;      // bytes on the wire, as in the file
    bpf::LinkLayer link_layer = bpf::LinkLayer::ethernet;
    Direction direction = Direction::ingress;  // egress only for SLL/SLL2 "outgoing"
    bool truncated() const noexcept { return caplen < orig_len; }
};

struct ReaderCounts {
    std::uint64_t packets = 0;            // packets returned by next()
    std::uint64_t truncated_packets = 0;  // caplen < orig_len (snaplen cut); they still run
    std::uint64_t length_anomalies = 0;   // caplen > orig_len (a writer's bug); orig_len is raised
    std::uint64_t cooked_header_cut = 0;  // SLL/SLL2 frames shorter than their cooked header
};

class PcapReader {
public:
    // Opens and checks the file header. Throws PcapError "PATH: reason" (missing file,
    // empty file, wrong magic, unsupported link type, ...).
    explicit PcapReader(const std::string& path);
    ~PcapReader();
    PcapReader(const PcapReader&) = delete;
    PcapReader& operator=(const PcapReader&) = delete;

    // The next packet, or nullopt at the clean end of the file. Throws PcapError
    // "PATH: packet N at offset X: reason" for a damaged record.
    std::optional<Packet> next();

    // The file's link type (LINKTYPE_* / DLT_* value as libpcap reports it).
    int link_type() const noexcept { return link_type_; }
    const ReaderCounts& counts() const noexcept { return counts_; }
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
    ::pcap* handle_ = nullptr;
    std::FILE* file_ = nullptr;  // owned by handle_ once it is open
    int link_type_ = 0;
    ReaderCounts counts_;
    std::vector<std::uint8_t> frame_;  // rebuilt Ethernet frame for cooked captures
};

// The program variant a link type needs, or nullopt when ebpfix cannot read it.
std::optional<bpf::LinkLayer> link_layer_for(int link_type) noexcept;

}  // namespace ebpfix::pcap
