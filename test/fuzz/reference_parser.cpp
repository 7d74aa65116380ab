#include "fuzz/reference_parser.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace ebpfix::fuzz {

namespace {

// Headers deeper than this are not read: a parse error (bpf/parse.h EBPFIX_MAX_HDR_OFF).
constexpr std::uint64_t kDeepestHeader = 2048;
constexpr int kMaxExtensionHeaders = 8;

constexpr std::uint8_t kHopByHop = 0, kIcmp = 1, kTcp = 6, kUdp = 17, kDccp = 33, kRouting = 43,
                       kFragment = 44, kAh = 51, kIcmp6 = 58, kDestOptions = 60, kSctp = 132,
                       kUdpLite = 136;

bool is_extension_header(std::uint8_t next) {
    return next == kHopByHop || next == kRouting || next == kDestOptions || next == kAh || next == kFragment;
}

// Ends the parse with a drop verdict.
struct Stop {
    Verdict verdict;
};

class Parser {
public:
    explicit Parser(const ReferenceInput& in)
        : in_(in), captured_(in.frame.size()), wire_(std::max<std::uint64_t>(in.wire_len, in.frame.size())) {}

    ReferenceResult run() {
        ReferenceResult out;
        try {
            parse_frame();
            out.verdict = Verdict::flow;
        } catch (const Stop& stop) {
            out.verdict = stop.verdict;
        }
        if (out.verdict != Verdict::flow) {
            // Segments of a dropped packet: what the skb says, never derived from headers.
            out.packets = in_.gso_segs != 0 ? in_.gso_segs : 1;
            out.bytes = out.verdict == Verdict::non_ip ? wire_ : wire_ - l3_offset_;
            return out;
        }
        out.packets = flow_segments();
        out.bytes = ip_length_ + (out.packets - 1) * headers_length_;
        out.key = key_;
        out.key.src_port = later_fragment_ ? 0 : src_port_;
        out.key.dst_port = later_fragment_ ? 0 : dst_port_;
        out.key.ifindex = in_.ifindex;
        out.key.direction = in_.direction;
        out.tcp_flags = tcp_flags_;
        out.tos = tos_;
        out.later_fragment = later_fragment_;
        return out;
    }

private:
    bool gso() const { return in_.gso_segs > 1 || in_.gso_size > 0; }

    // A packet from a tap/virtio socket has gso_segs 0: its payload split by gso_size.
    std::uint64_t flow_segments() const {
        if (in_.gso_segs != 0) return in_.gso_segs;
        if (in_.gso_size != 0 && ip_length_ > headers_length_)
            return (ip_length_ - headers_length_ + in_.gso_size - 1) / in_.gso_size;
        return 1;
    }

    // The `length` bytes at `at` must lie within `end` (the packet or the IP datagram)
    // and within what was captured; a header that starts too deep is a parse error.
    void need(std::uint64_t at, std::uint64_t length, std::uint64_t end) const {
        if (at > kDeepestHeader) throw Stop{Verdict::parse_error};
        if (at + length > end || at + length > captured_) throw Stop{Verdict::truncated};
    }
    std::uint8_t u8(std::uint64_t at) const { return in_.frame[at]; }
    std::uint16_t u16(std::uint64_t at) const { return std::uint16_t(u8(at) << 8 | u8(at + 1)); }
    std::uint32_t u32(std::uint64_t at) const { return std::uint32_t(u16(at)) << 16 | u16(at + 2); }

    void parse_frame() {
        if (!in_.l2) {
            need(0, 1, wire_);
            l3_offset_ = 0;
            switch (u8(0) >> 4) {
                case 4: return parse_ipv4(0);
                case 6: return parse_ipv6(0);
                default: throw Stop{Verdict::non_ip};
            }
        }
        need(0, 14, wire_);
        std::uint16_t type = u16(12);
        std::uint64_t at = 14;
        int tags = 0;
        while ((type == 0x8100 || type == 0x88a8) && tags < 2) {
            need(at, 4, wire_);
            const std::uint16_t vid = u16(at) & 0x0fff;
            if (tags == 0)
                key_.vlan_id = vid;
            else
                key_.inner_vlan_id = vid;
            ++tags;
            type = u16(at + 2);
            at += 4;
        }
        // A third tag leaves a VLAN type here: not parsed, non-IP.
        l3_offset_ = at;
        if (type == 0x0800) return parse_ipv4(at);
        if (type == 0x86dd) return parse_ipv6(at);
        throw Stop{Verdict::non_ip};
    }

    void parse_ipv4(std::uint64_t ip) {
        need(ip, 20, wire_);
        if (u8(ip) >> 4 != 4) throw Stop{Verdict::parse_error};
        const std::uint64_t header = std::uint64_t(u8(ip) & 0x0f) * 4;
        std::uint64_t total = u16(ip + 2);
        if (total == 0 && gso()) total = wire_ - ip;  // BIG TCP
        if (header < 20 || total < header) throw Stop{Verdict::parse_error};
        if (total > wire_ - ip) throw Stop{Verdict::truncated};

        key_.ip_version = 4;
        key_.src_addr = FlowKey::mapped_v4(u32(ip + 12));
        key_.dst_addr = FlowKey::mapped_v4(u32(ip + 16));
        tos_ = u8(ip + 1);
        ip_length_ = total;
        headers_length_ = header;
        std::uint8_t protocol = u8(ip + 9);
        const std::uint16_t fragment = u16(ip + 6);
        const std::uint64_t end = ip + total;
        std::uint64_t l4 = ip + header;
        if (fragment & 0x1fff) {
            // A later fragment: counted in the flow with ports 0, transport not looked at.
            key_.protocol = protocol;
            later_fragment_ = true;
            return;
        }
        if (protocol == kAh) {
            need(l4, 2, end);
            const std::uint64_t ah_length = (std::uint64_t(u8(l4 + 1)) + 2) * 4;
            protocol = u8(l4);
            l4 += ah_length;
            headers_length_ = l4 - ip;
            if (l4 > end) throw Stop{Verdict::truncated};
        }
        key_.protocol = protocol;
        parse_transport(l4, end, protocol, false, (fragment & 0x2000) != 0);
    }

    void parse_ipv6(std::uint64_t ip) {
        need(ip, 40, wire_);
        if (u8(ip) >> 4 != 6) throw Stop{Verdict::parse_error};
        std::uint64_t total = 40 + std::uint64_t(u16(ip + 4));
        if (total == 40 && gso()) total = wire_ - ip;  // BIG TCP / jumbogram
        if (total > wire_ - ip) throw Stop{Verdict::truncated};

        key_.ip_version = 6;
        std::memcpy(key_.src_addr.data(), &in_.frame[ip + 8], 16);
        std::memcpy(key_.dst_addr.data(), &in_.frame[ip + 24], 16);
        tos_ = std::uint8_t(u32(ip) >> 20);
        ip_length_ = total;
        const std::uint64_t end = ip + total;
        std::uint8_t next = u8(ip + 6);
        std::uint64_t at = ip + 40;
        bool first_fragment = false;

        int walked = 0;
        while (is_extension_header(next) && walked < kMaxExtensionHeaders) {
            ++walked;
            if (at > kDeepestHeader) throw Stop{Verdict::parse_error};
            if (next == kFragment) {
                if (at + 8 > end || at + 8 > captured_) throw Stop{Verdict::truncated};
                next = u8(at);
                const std::uint16_t offset_flags = u16(at + 2);
                at += 8;
                if (offset_flags & 0xfff8) {
                    key_.protocol = next;
                    headers_length_ = at - ip;
                    later_fragment_ = true;
                    return;
                }
                first_fragment = (offset_flags & 1) != 0;  // the last fragment header decides
                continue;
            }
            if (at + 2 > end || at + 2 > captured_) throw Stop{Verdict::truncated};
            const std::uint64_t length =
                next == kAh ? (std::uint64_t(u8(at + 1)) + 2) * 4 : (std::uint64_t(u8(at + 1)) + 1) * 8;
            next = u8(at);
            at += length;
        }
        // A ninth extension header. The Mobility Header (135) is not one: it names the flow.
        if (is_extension_header(next)) throw Stop{Verdict::parse_error};
        if (at > end) throw Stop{Verdict::truncated};
        key_.protocol = next;
        headers_length_ = at - ip;
        parse_transport(at, end, next, true, first_fragment);
    }

    // Ports (or ICMP type and code) and TCP flags. A first fragment too short to hold
    // them counts with ports 0.
    void parse_transport(std::uint64_t at, std::uint64_t end, std::uint8_t protocol, bool v6, bool first_fragment) {
        auto short_first_fragment = [&](std::uint64_t length) { return first_fragment && at + length > end; };
        switch (protocol) {
            case kTcp: {
                if (short_first_fragment(20)) return;
                need(at, 20, end);
                const std::uint64_t data_offset = std::uint64_t(u8(at + 12) >> 4) * 4;
                if (data_offset < 20) throw Stop{Verdict::parse_error};
                src_port_ = u16(at);
                dst_port_ = u16(at + 2);
                tcp_flags_ = std::uint16_t(u8(at + 13) | (u8(at + 12) & 1) << 8);
                headers_length_ += data_offset;
                return;
            }
            case kUdp:
            case kUdpLite:
                if (short_first_fragment(8)) return;
                need(at, 4, end);  // the ports are all the key needs
                src_port_ = u16(at);
                dst_port_ = u16(at + 2);
                headers_length_ += 8;
                return;
            case kSctp:
            case kDccp:
                if (short_first_fragment(4)) return;
                need(at, 4, end);
                src_port_ = u16(at);
                dst_port_ = u16(at + 2);
                return;
            case kIcmp:
            case kIcmp6:
                if ((protocol == kIcmp6) != v6) return;  // the other family's ICMP: no type/code
                if (short_first_fragment(2)) return;
                need(at, 2, end);
                dst_port_ = u16(at);  // type << 8 | code
                return;
            default:
                return;
        }
    }

    const ReferenceInput& in_;
    const std::uint64_t captured_;
    const std::uint64_t wire_;
    std::uint64_t l3_offset_ = 0;  // 0 until the Ethernet header and tags are read
    FlowKey key_;
    std::uint64_t ip_length_ = 0;
    std::uint64_t headers_length_ = 0;  // L3 + L4 header bytes, repeated per GSO segment
    std::uint16_t src_port_ = 0, dst_port_ = 0;
    std::uint16_t tcp_flags_ = 0;
    std::uint8_t tos_ = 0;
    bool later_fragment_ = false;
};

}  // namespace

ReferenceResult reference_parse(const ReferenceInput& input) { return Parser(input).run(); }

const char* to_string(Verdict verdict) noexcept {
    switch (verdict) {
        case Verdict::flow: return "flow";
        case Verdict::non_ip: return "non_ip";
        case Verdict::parse_error: return "parse_error";
        case Verdict::truncated: return "truncated";
    }
    return "?";
}

std::string describe(const FlowKey& k) {
    std::ostringstream o;
    auto address = [&](const std::array<std::uint8_t, 16>& a) {
        if (k.ip_version == 4) {
            o << int(a[12]) << "." << int(a[13]) << "." << int(a[14]) << "." << int(a[15]);
            return;
        }
        o << std::hex;
        for (std::size_t i = 0; i < 16; i += 2) o << (i ? ":" : "") << (unsigned(a[i]) << 8 | a[i + 1]);
        o << std::dec;
    };
    o << "v" << int(k.ip_version) << " ";
    address(k.src_addr);
    o << " -> ";
    address(k.dst_addr);
    o << " proto " << int(k.protocol) << " ports " << k.src_port << "->" << k.dst_port << " vlan " << k.vlan_id
      << "/" << k.inner_vlan_id << " if " << k.ifindex << " dir " << int(k.direction);
    return o.str();
}

}  // namespace ebpfix::fuzz
