#include "pcap/pcap_reader.hpp"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstring>

namespace ebpfix::pcap {

namespace {

// LINKTYPE_* values (tcpdump.org/linktypes.html). libpcap maps LINKTYPE_RAW (101) in a
// file to DLT_RAW (12 on Linux); both are accepted in case a build does not.
constexpr int kEthernet = 1;
constexpr int kRawDlt = 12;
constexpr int kRawLinktype = 101;
constexpr int kSll = 113;
constexpr int kIpv4 = 228;
constexpr int kIpv6 = 229;
constexpr int kSll2 = 276;

constexpr std::size_t kSllHeader = 16;
constexpr std::size_t kSll2Header = 20;
constexpr std::uint16_t kPacketOutgoing = 4;  // sll_pkttype PACKET_OUTGOING

std::uint16_t be16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }

}  // namespace

std::optional<bpf::LinkLayer> link_layer_for(int link_type) noexcept {
    switch (link_type) {
        case kEthernet:
        case kSll:
        case kSll2: return bpf::LinkLayer::ethernet;
        case kRawDlt:
        case kRawLinktype:
        case kIpv4:
        case kIpv6: return bpf::LinkLayer::l3;
        default: return std::nullopt;
    }
}

PcapReader::PcapReader(const std::string& path) : path_(path) {
    // Our own FILE so the descriptor is close-on-exec ("e"); libpcap owns it once open.
    file_ = std::fopen(path.c_str(), "rbe");
    if (file_ == nullptr) throw PcapError(path + ": " + std::strerror(errno));
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    handle_ = pcap_fopen_offline_with_tstamp_precision(file_, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (handle_ == nullptr) {
        std::fclose(file_);
        file_ = nullptr;
        throw PcapError(path + ": " + (errbuf[0] ? errbuf : "not a pcap or pcapng file"));
    }
    link_type_ = pcap_datalink(handle_);
    if (!link_layer_for(link_type_)) {
        const char* name = pcap_datalink_val_to_name(link_type_);
        const std::string what = path + ": link type " + std::to_string(link_type_) + " (" +
                                 (name ? name : "unknown") +
                                 ") not supported; ebpfix reads Ethernet, raw IP, IPv4, IPv6, Linux SLL and SLL2";
        pcap_close(handle_);
        handle_ = nullptr;
        throw PcapError(what);
    }
}

PcapReader::~PcapReader() {
    if (handle_ != nullptr) pcap_close(handle_);  // closes file_ too
}

std::optional<Packet> PcapReader::next() {
    const long offset = std::ftell(pcap_file(handle_));
    const std::uint64_t number = counts_.packets + 1;
    pcap_pkthdr* header = nullptr;
    const u_char* bytes = nullptr;
    const int rc = pcap_next_ex(handle_, &header, &bytes);
    if (rc == PCAP_ERROR_BREAK) return std::nullopt;  // end of file
    if (rc != 1 || header == nullptr || (bytes == nullptr && header->caplen > 0)) {
        throw PcapError(path_ + ": packet " + std::to_string(number) + " at offset " + std::to_string(offset) +
                        ": " + (rc == PCAP_ERROR ? pcap_geterr(handle_) : "unreadable record"));
    }

    Packet packet;
    packet.number = number;
    // Nanosecond precision was requested: tv_usec holds nanoseconds. Times before 1970
    // (a negative tv_sec in a damaged file) become 0 rather than wrapping.
    packet.timestamp_ns = header->ts.tv_sec < 0 ? 0
                                                : std::uint64_t(header->ts.tv_sec) * 1'000'000'000ull +
                                                      std::uint64_t(header->ts.tv_usec);
    packet.caplen = header->caplen;
    packet.orig_len = header->len;
    if (packet.caplen > packet.orig_len) {
        ++counts_.length_anomalies;
        packet.orig_len = packet.caplen;
    }
    if (packet.truncated()) ++counts_.truncated_packets;
    packet.link_layer = *link_layer_for(link_type_);

    std::span<const std::uint8_t> captured(bytes, header->caplen);
    if (link_type_ == kSll || link_type_ == kSll2) {
        const std::size_t cooked = link_type_ == kSll ? kSllHeader : kSll2Header;
        frame_.clear();
        if (captured.size() < cooked) {
            // Not even the cooked header: nothing to rebuild; an empty frame that the
            // caller counts as truncated.
            ++counts_.cooked_header_cut;
        } else {
            const std::uint8_t* h = captured.data();
            const std::uint16_t protocol = link_type_ == kSll ? be16(h + 14) : be16(h);
            const std::uint16_t pkttype = link_type_ == kSll ? be16(h) : h[10];
            if (pkttype == kPacketOutgoing) packet.direction = Direction::egress;
            frame_.assign(12, 0);  // MAC addresses: not part of a flow key
            frame_.push_back(std::uint8_t(protocol >> 8));
            frame_.push_back(std::uint8_t(protocol));
            frame_.insert(frame_.end(), captured.begin() + std::ptrdiff_t(cooked), captured.end());
        }
        packet.data = std::span<const std::uint8_t>(frame_.data(), frame_.size());
    } else {
        packet.data = captured;
    }
    ++counts_.packets;
    return packet;
}

}  // namespace ebpfix::pcap
