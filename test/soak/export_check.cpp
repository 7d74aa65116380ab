// soak_export_check: runs the strict IPFIX / NetFlow v9 decoder (test/collectors) over a
// capture of ebpfix's UDP export and prints what it found as one JSON object.
//
//   soak_export_check --pcap FILE --ipfix PORT --netflow9 PORT
//
// The capture is taken on the collectors' side (loopback), so it holds every datagram the
// exporter sent, also those sent while a collector was down. Those drew an ICMP / ICMPv6
// port unreachable, which quotes the start of the datagram; such a datagram is "refused":
// decoded (the stream must stay valid across it) but its records are reported apart,
// because ebpfix counts them as not sent. Per stream (destination port):
//  * every datagram is decoded strictly; a DecodeError is a malformed message, except a
//    sequence number that jumps forward: that is a gap (messages the exporter never sent),
//    reported with its size, and decoding goes on from a fresh decoder, which then needs
//    the templates the exporter resends after a loss. A sequence that goes back is an error.
//  * flow records' packetDeltaCount (2) and octetDeltaCount (1) are summed;
//  * the last options records of RFC 7011 4.2 / 4.3 (ignoredPacketTotalCount 164,
//    notSentFlowTotalCount 166, notSentPacketTotalCount 167, notSentOctetTotalCount 168)
//    are reported as the exporter's own totals.
// Exit status: 0 when the file was read (the caller judges the numbers), 2 on bad usage or
// an unreadable capture.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "collectors/flow_decoder.hpp"

namespace {

using ebpfix::ipfix::Protocol;
using ebpfix::test::DecodedMessage;
using ebpfix::test::DecodeError;
using ebpfix::test::FlowDecoder;

struct Usage : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The quote an ICMP error carries is matched against this much of a datagram's start.
constexpr std::size_t kQuoteMatchBytes = 64;
// Refusals arrive right after their datagram: only the recent ones are kept for matching.
constexpr std::size_t kRecentDatagrams = 4096;

struct Sent {
    std::vector<std::uint8_t> head;  // the first kQuoteMatchBytes bytes of the UDP payload
    std::uint64_t records = 0, packets = 0, octets = 0;
    bool refused = false;
};

struct Stream {
    Protocol protocol;
    std::uint16_t port;
    std::optional<FlowDecoder> decoder;
    std::optional<std::uint32_t> next_sequence;
    std::deque<Sent> recent;
    std::uint64_t messages = 0, flow_records = 0, packets = 0, octets = 0, options_records = 0;
    std::uint64_t template_records = 0, options_template_records = 0;
    std::uint64_t refused_messages = 0, refused_records = 0, refused_packets = 0, refused_octets = 0;
    std::uint64_t unmatched_refusals = 0;
    std::uint64_t malformed = 0, gaps = 0, gap_size = 0, backwards = 0, decoder_restarts = 0;
    std::vector<std::string> errors;  // the first few, with frame numbers
    std::map<std::uint16_t, std::uint64_t> last_option;  // IE -> value of the last options record carrying it
    std::uint32_t first_export_s = 0, last_export_s = 0;

    Stream(Protocol p, std::uint16_t port_) : protocol(p), port(port_) { decoder.emplace(p); }

    void note(std::uint64_t frame, const std::string& what) {
        if (errors.size() < 20) errors.push_back("frame " + std::to_string(frame) + ": " + what);
    }
};

std::uint16_t be16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }
std::uint32_t be32(const std::uint8_t* p) {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

bool is_sequence_error(const DecodeError& e, Protocol protocol) {
    // The decoder checks the header's sequence first: offset 8 (IPFIX) / 12 (v9).
    return e.offset() == (protocol == Protocol::ipfix ? 8u : 12u) &&
           std::strstr(e.what(), "sequence") != nullptr;
}

void decode_datagram(Stream& s, std::uint64_t frame, const std::uint8_t* data, std::size_t len) {
    Sent sent;
    sent.head.assign(data, data + std::min(len, kQuoteMatchBytes));
    // Sequence number: IPFIX header offset 8, v9 offset 12.
    if (len >= (s.protocol == Protocol::ipfix ? 12u : 16u)) {
        const std::uint32_t seq = be32(data + (s.protocol == Protocol::ipfix ? 8 : 12));
        if (s.next_sequence && seq != *s.next_sequence) {
            const std::uint32_t ahead = seq - *s.next_sequence;
            if (ahead < 0x80000000u) {
                ++s.gaps;
                s.gap_size += ahead;
                s.note(frame, "sequence gap: " + std::to_string(seq) + " after expecting " +
                                  std::to_string(*s.next_sequence) + " (" + std::to_string(ahead) +
                                  (s.protocol == Protocol::ipfix ? " records)" : " messages)"));
            } else {
                ++s.backwards;
                s.note(frame, "sequence went back: " + std::to_string(seq) + ", expected " +
                                  std::to_string(*s.next_sequence));
            }
        }
    }
    DecodedMessage m;
    try {
        try {
            m = s.decoder->decode({data, len});
        } catch (const DecodeError& e) {
            if (!is_sequence_error(e, s.protocol)) throw;
            // A gap (or a step back, already reported): start over; the templates must
            // come again with this message, as after any loss.
            s.decoder.emplace(s.protocol);
            ++s.decoder_restarts;
            m = s.decoder->decode({data, len});
        }
    } catch (const DecodeError& e) {
        ++s.malformed;
        s.note(frame, std::string("malformed: ") + e.what());
        // Keep the sequence in step with what the header says, so one bad message is
        // reported once and not as a gap too.
        // (IPFIX: how many records it held is unknown, so the next one is not checked.)
        if (s.protocol == Protocol::netflow9 && len >= 16)
            s.next_sequence = be32(data + 12) + 1;
        else
            s.next_sequence.reset();
        s.recent.push_back(std::move(sent));
        if (s.recent.size() > kRecentDatagrams) s.recent.pop_front();
        return;
    }
    s.next_sequence = s.protocol == Protocol::ipfix
                          ? std::uint32_t(m.sequence + m.flows.size() + m.options.size())
                          : m.sequence + 1;
    ++s.messages;
    if (s.first_export_s == 0) s.first_export_s = m.export_time_s;
    s.last_export_s = m.export_time_s;
    s.template_records += m.template_records;
    s.options_template_records += m.options_template_records;
    for (const auto& r : m.flows) {
        try {
            sent.packets += r.uint(2);
            sent.octets += r.uint(1);
        } catch (const std::exception& e) {
            ++s.malformed;
            s.note(frame, std::string("flow record without counts: ") + e.what());
        }
    }
    sent.records = m.flows.size();
    s.flow_records += sent.records;
    s.packets += sent.packets;
    s.octets += sent.octets;
    s.options_records += m.options.size();
    for (const auto& r : m.options)
        for (std::uint16_t ie : {40, 41, 42, 164, 165, 166, 167, 168})
            if (r.has(ie)) s.last_option[ie] = r.uint(ie);
    s.recent.push_back(std::move(sent));
    if (s.recent.size() > kRecentDatagrams) s.recent.pop_front();
}

void refusal(Stream& s, std::uint64_t frame, const std::uint8_t* quote, std::size_t len) {
    const std::size_t n = std::min(len, kQuoteMatchBytes);
    for (auto it = s.recent.rbegin(); it != s.recent.rend(); ++it) {
        if (it->refused || it->head.size() < n || std::memcmp(it->head.data(), quote, n) != 0) continue;
        it->refused = true;
        ++s.refused_messages;
        s.refused_records += it->records;
        s.refused_packets += it->packets;
        s.refused_octets += it->octets;
        return;
    }
    ++s.unmatched_refusals;
    s.note(frame, "an ICMP port unreachable quotes no datagram seen before it");
}

struct Pcap {
    std::vector<std::uint8_t> data;
    bool swapped = false;
    std::uint32_t linktype = 0;
};

std::uint32_t rd32(const Pcap& p, std::size_t off) {
    std::uint32_t v;
    std::memcpy(&v, p.data.data() + off, 4);
    return p.swapped ? __builtin_bswap32(v) : v;
}

// The L3 packet of a frame (start, length), or nothing for another link type's framing.
std::optional<std::pair<std::size_t, std::uint16_t>> l3_of(const Pcap& p, std::size_t off, std::size_t len) {
    const std::uint8_t* f = p.data.data() + off;
    switch (p.linktype) {
    case 1:  // Ethernet (tcpdump on lo writes zero MACs)
        if (len < 14) return std::nullopt;
        return std::make_pair(off + 14, be16(f + 12));
    case 113:  // Linux cooked v1
        if (len < 16) return std::nullopt;
        return std::make_pair(off + 16, be16(f + 14));
    case 276:  // Linux cooked v2
        if (len < 20) return std::nullopt;
        return std::make_pair(off + 20, be16(f));
    case 101:  // raw IP
        if (len < 1) return std::nullopt;
        return std::make_pair(off, std::uint16_t((f[0] >> 4) == 6 ? 0x86dd : 0x0800));
    default:
        return std::nullopt;
    }
}

struct Totals {
    std::uint64_t frames = 0, other = 0, truncated_frames = 0;
};

Stream* stream_of(std::map<std::uint16_t, Stream>& streams, std::uint16_t port) {
    auto it = streams.find(port);
    return it == streams.end() ? nullptr : &it->second;
}

// One IP packet: UDP to a collector port, or an ICMP error quoting one.
void packet(std::map<std::uint16_t, Stream>& streams, Totals& t, std::uint64_t frame, const std::uint8_t* ip,
            std::size_t len, std::uint16_t ethertype, bool quoted) {
    std::size_t l4 = 0;
    std::uint8_t proto = 0;
    std::size_t ip_len = len;
    if (ethertype == 0x0800) {
        if (len < 20 || (ip[0] >> 4) != 4) return;
        l4 = std::size_t(ip[0] & 0xf) * 4;
        proto = ip[9];
        if (!quoted) ip_len = std::min<std::size_t>(len, be16(ip + 2));
        if ((be16(ip + 6) & 0x3fff) != 0 && !quoted) {
            ++t.other;  // a fragment: the export never needs one on loopback
            return;
        }
    } else if (ethertype == 0x86dd) {
        if (len < 40 || (ip[0] >> 4) != 6) return;
        l4 = 40;
        proto = ip[6];
        if (!quoted) ip_len = std::min<std::size_t>(len, 40 + std::size_t(be16(ip + 4)));
    } else {
        ++t.other;
        return;
    }
    if (l4 + 8 > ip_len) return;
    const std::uint8_t* h = ip + l4;
    if (proto == 17) {
        const std::uint16_t dport = be16(h + 2);
        Stream* s = stream_of(streams, dport);
        if (!s) {
            if (!quoted) ++t.other;
            return;
        }
        if (quoted) {
            refusal(*s, frame, h + 8, ip_len - l4 - 8);
            return;
        }
        const std::size_t udp_len = be16(h + 4);
        if (udp_len < 8 || l4 + udp_len > ip_len) {
            ++s->malformed;
            s->note(frame, "UDP length does not fit the packet (capture cut short?)");
            return;
        }
        decode_datagram(*s, frame, h + 8, udp_len - 8);
        return;
    }
    if (quoted) return;
    // ICMP destination unreachable / port unreachable (type 3 code 3), ICMPv6 type 1 code 4.
    if ((proto == 1 && h[0] == 3 && h[1] == 3) || (proto == 58 && h[0] == 1 && h[1] == 4)) {
        packet(streams, t, frame, h + 8, ip_len - l4 - 8, proto == 1 ? 0x0800 : 0x86dd, true);
        return;
    }
    ++t.other;
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

void print_stream(std::ostream& o, const Stream& s) {
    o << "{\"protocol\":\"" << (s.protocol == Protocol::ipfix ? "ipfix" : "netflow9") << "\",\"port\":" << s.port
      << ",\"messages\":" << s.messages << ",\"flow_records\":" << s.flow_records << ",\"packets\":" << s.packets
      << ",\"octets\":" << s.octets << ",\"options_records\":" << s.options_records
      << ",\"template_records\":" << s.template_records
      << ",\"options_template_records\":" << s.options_template_records
      << ",\"refused_messages\":" << s.refused_messages << ",\"refused_records\":" << s.refused_records
      << ",\"refused_packets\":" << s.refused_packets << ",\"refused_octets\":" << s.refused_octets
      << ",\"unmatched_refusals\":" << s.unmatched_refusals << ",\"malformed\":" << s.malformed
      << ",\"sequence_gaps\":" << s.gaps << ",\"sequence_gap_size\":" << s.gap_size
      << ",\"sequence_backwards\":" << s.backwards << ",\"decoder_restarts\":" << s.decoder_restarts
      << ",\"first_export_s\":" << s.first_export_s << ",\"last_export_s\":" << s.last_export_s
      << ",\"last_options\":{";
    bool first = true;
    for (const auto& [ie, v] : s.last_option) {
        o << (first ? "" : ",") << "\"" << ie << "\":" << v;
        first = false;
    }
    o << "},\"errors\":[";
    for (std::size_t i = 0; i < s.errors.size(); ++i) o << (i ? "," : "") << json_string(s.errors[i]);
    o << "]}";
}

int run(int argc, char** argv) {
    std::string path;
    std::map<std::uint16_t, Stream> streams;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) throw Usage("missing value after " + a);
        const std::string v = argv[++i];
        if (a == "--pcap") {
            path = v;
        } else if (a == "--ipfix" || a == "--netflow9") {
            char* end = nullptr;
            const unsigned long port = std::strtoul(v.c_str(), &end, 10);
            if (*end != '\0' || port == 0 || port > 65535) throw Usage("bad port '" + v + "'");
            streams.emplace(std::uint16_t(port),
                            Stream(a == "--ipfix" ? Protocol::ipfix : Protocol::netflow9, std::uint16_t(port)));
        } else {
            throw Usage("unknown option " + a);
        }
    }
    if (path.empty() || streams.empty()) throw Usage("need --pcap FILE and at least one of --ipfix/--netflow9 PORT");

    Pcap p;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    p.data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (p.data.size() < 24) throw std::runtime_error(path + ": not a pcap file (too short)");
    std::uint32_t magic;
    std::memcpy(&magic, p.data.data(), 4);
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du) {
        p.swapped = false;
    } else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u) {
        p.swapped = true;
    } else {
        throw std::runtime_error(path + ": not a classic pcap file (magic)");
    }
    p.linktype = rd32(p, 20) & 0x0fffffffu;
    Totals t;
    std::size_t off = 24;
    while (off + 16 <= p.data.size()) {
        const std::uint32_t incl = rd32(p, off + 8), orig = rd32(p, off + 12);
        if (off + 16 + incl > p.data.size()) {
            ++t.truncated_frames;  // a record cut at the end of the file
            break;
        }
        ++t.frames;
        if (incl < orig) ++t.truncated_frames;
        if (auto l3 = l3_of(p, off + 16, incl)) {
            const std::size_t start = l3->first;
            packet(streams, t, t.frames, p.data.data() + start, incl - (start - off - 16), l3->second, false);
        } else {
            ++t.other;
        }
        off += 16 + incl;
    }
    std::ostringstream o;
    o << "{\"frames\":" << t.frames << ",\"other_frames\":" << t.other << ",\"cut_frames\":" << t.truncated_frames
      << ",\"linktype\":" << p.linktype << ",\"streams\":[";
    bool first = true;
    for (const auto& [port, s] : streams) {
        o << (first ? "" : ",");
        print_stream(o, s);
        first = false;
    }
    o << "]}";
    std::cout << o.str() << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const Usage& e) {
        std::cerr << "soak_export_check: " << e.what() << "\n"
                  << "usage: soak_export_check --pcap FILE [--ipfix PORT] [--netflow9 PORT]\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "soak_export_check: " << e.what() << "\n";
        return 2;
    }
}
