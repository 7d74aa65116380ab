// Building test frames byte by byte: Ethernet, VLAN tags, IPv4 (options, fragments),
// IPv6 (extension headers), TCP/UDP/SCTP/ICMP. Lengths are computed, never guessed.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <arpa/inet.h>

namespace ebpfix::test {

using Bytes = std::vector<std::uint8_t>;

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
inline void put16(Bytes& b, std::uint16_t v) {
    b.push_back(std::uint8_t(v >> 8));
    b.push_back(std::uint8_t(v));
}
inline void put32(Bytes& b, std::uint32_t v) {
    put16(b, std::uint16_t(v >> 16));
    put16(b, std::uint16_t(v));
}
inline Bytes zeros(std::size_t n) { return Bytes(n, 0); }

inline std::array<std::uint8_t, 4> v4(const char* text) {
    std::array<std::uint8_t, 4> a{};
    inet_pton(AF_INET, text, a.data());
    return a;
}
inline std::array<std::uint8_t, 16> v6(const char* text) {
    std::array<std::uint8_t, 16> a{};
    inet_pton(AF_INET6, text, a.data());
    return a;
}

inline Bytes eth(std::uint16_t ethertype) {
    Bytes b = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
    put16(b, ethertype);
    return b;
}
// A VLAN tag body (TCI + encapsulated type); the TPID is the preceding ethertype.
inline Bytes vlan(std::uint16_t vid, std::uint16_t next_type, std::uint8_t pcp = 0) {
    Bytes b;
    put16(b, std::uint16_t(pcp << 13 | (vid & 0x0fff)));
    put16(b, next_type);
    return b;
}

struct Ip4 {
    const char* src = "192.0.2.1";
    const char* dst = "198.51.100.2";
    std::uint8_t protocol = 17;
    std::uint8_t tos = 0;
    std::uint16_t frag_field = 0;  // flags << 13 | offset in 8-byte units
    Bytes options = {};            // padded to 4 bytes by the caller
    int version = 4;
    int ihl_override = -1;
    int tot_len_override = -1;
};
// IPv4 header for a payload of payload_len bytes.
inline Bytes ipv4(const Ip4& h, std::size_t payload_len) {
    const std::size_t ihl = 20 + h.options.size();
    Bytes b;
    b.push_back(std::uint8_t(h.version << 4 | (h.ihl_override >= 0 ? h.ihl_override : int(ihl / 4))));
    b.push_back(h.tos);
    put16(b, std::uint16_t(h.tot_len_override >= 0 ? h.tot_len_override : int(ihl + payload_len)));
    put16(b, 0x1234);
    put16(b, h.frag_field);
    b.push_back(64);
    b.push_back(h.protocol);
    put16(b, 0);
    auto s = v4(h.src), d = v4(h.dst);
    b.insert(b.end(), s.begin(), s.end());
    b.insert(b.end(), d.begin(), d.end());
    b.insert(b.end(), h.options.begin(), h.options.end());
    return b;
}

struct Ip6 {
    const char* src = "2001:db8::1";
    const char* dst = "2001:db8::2";
    std::uint8_t next = 17;
    std::uint8_t traffic_class = 0;
    int version = 6;
};
inline Bytes ipv6(const Ip6& h, std::size_t payload_len) {
    Bytes b;
    put32(b, std::uint32_t(h.version) << 28 | std::uint32_t(h.traffic_class) << 20 | 0x12345);
    put16(b, std::uint16_t(payload_len));
    b.push_back(h.next);
    b.push_back(64);
    auto s = v6(h.src), d = v6(h.dst);
    b.insert(b.end(), s.begin(), s.end());
    b.insert(b.end(), d.begin(), d.end());
    return b;
}
// Hop-by-hop, routing or destination options: (len8 + 1) * 8 bytes.
inline Bytes ext6(std::uint8_t next, std::uint8_t len8) {
    Bytes b = {next, len8};
    b.resize(std::size_t(len8 + 1) * 8, 0);
    if (b.size() >= 8) b[2] = 1, b[3] = std::uint8_t(b.size() - 4);  // one PadN option
    return b;
}
inline Bytes frag6(std::uint8_t next, std::uint16_t offset8, bool more) {
    Bytes b = {next, 0};
    put16(b, std::uint16_t(offset8 << 3 | (more ? 1 : 0)));
    put32(b, 0xabcd);
    return b;
}

inline Bytes tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, bool ns = false,
                 std::uint8_t doff_words = 5) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put32(b, 1000);
    put32(b, 2000);
    b.push_back(std::uint8_t(doff_words << 4 | (ns ? 1 : 0)));
    b.push_back(flags);
    put16(b, 65535);
    put16(b, 0);
    put16(b, 0);
    if (doff_words > 5) b.resize(std::size_t(doff_words) * 4, 1);  // NOP options
    return b;
}
inline Bytes udp(std::uint16_t sport, std::uint16_t dport, std::size_t payload_len) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put16(b, std::uint16_t(8 + payload_len));
    put16(b, 0);
    b.resize(8 + payload_len, 0xee);
    return b;
}
inline Bytes ports(std::uint16_t sport, std::uint16_t dport, std::size_t total_len) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    b.resize(total_len, 0);
    return b;
}
inline Bytes icmp(std::uint8_t type, std::uint8_t code, std::size_t payload_len) {
    Bytes b = {type, code, 0, 0, 0, 1, 0, 1};
    b.resize(8 + payload_len, 0x55);
    return b;
}

constexpr std::uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

}  // namespace ebpfix::test
