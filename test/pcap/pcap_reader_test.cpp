// pcap input: every fixture reads with exact counts and capture times; classic pcap in
// both byte orders and both timestamp resolutions gives the same packets; cooked (SLL,
// SLL2) frames are rebuilt as Ethernet; damaged files (zero length, cut header, cut
// record, absurd caplen, wrong magic, random bytes, every truncation and many byte flips
// of a real capture) give a PcapError naming the file and packet, never a crash.
#define BOOST_TEST_MODULE pcap_reader
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "pcap/pcap_reader.hpp"

using namespace ebpfix;
using ebpfix::pcap::PcapError;
using ebpfix::pcap::PcapReader;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint64_t kBaseNs = 1'700'000'000ull * 1'000'000'000ull;  // the fixtures' t = 0

std::filesystem::path temp_dir() {
    return std::filesystem::temp_directory_path() / ("ebpfix_pcap_test_" + std::to_string(::getpid()));
}

struct TempDir {
    TempDir() { std::filesystem::create_directories(temp_dir()); }
    ~TempDir() { std::filesystem::remove_all(temp_dir()); }
};
BOOST_TEST_GLOBAL_FIXTURE(TempDir);

std::string write_file(const std::string& name, const Bytes& bytes) {
    const auto path = (temp_dir() / name).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return path;
}

Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

void put32(Bytes& b, std::uint32_t v, bool big) {
    for (int i = 0; i < 4; ++i) b.push_back(std::uint8_t(big ? v >> (24 - 8 * i) : v >> (8 * i)));
}
void put16(Bytes& b, std::uint16_t v, bool big) {
    for (int i = 0; i < 2; ++i) b.push_back(std::uint8_t(big ? v >> (8 - 8 * i) : v >> (8 * i)));
}

struct Record {
    std::uint32_t sec;
    std::uint32_t frac;  // µs or ns, as the magic says
    Bytes data;
    std::int64_t caplen = -1;  // override (lies about the length)
    std::int64_t orig_len = -1;
};

Bytes classic(bool big, bool nano, std::uint32_t linktype, const std::vector<Record>& records,
              std::uint32_t snaplen = 65535) {
    Bytes b;
    put32(b, nano ? 0xa1b23c4d : 0xa1b2c3d4, big);
    put16(b, 2, big);
    put16(b, 4, big);
    put32(b, 0, big);
    put32(b, 0, big);
    put32(b, snaplen, big);
    put32(b, linktype, big);
    for (const Record& r : records) {
        put32(b, r.sec, big);
        put32(b, r.frac, big);
        put32(b, r.caplen >= 0 ? std::uint32_t(r.caplen) : std::uint32_t(r.data.size()), big);
        put32(b, r.orig_len >= 0 ? std::uint32_t(r.orig_len) : std::uint32_t(r.data.size()), big);
        b.insert(b.end(), r.data.begin(), r.data.end());
    }
    return b;
}

Bytes frame(std::size_t n, std::uint8_t seed) {
    Bytes f(n);
    for (std::size_t i = 0; i < n; ++i) f[i] = std::uint8_t(seed + i * 7);
    return f;
}

// Reads every packet; returns how many, or rethrows.
std::size_t read_all(const std::string& path) {
    PcapReader reader(path);
    std::size_t n = 0;
    while (reader.next()) ++n;
    return n;
}

std::string error_of(const std::string& path) {
    try {
        read_all(path);
    } catch (const PcapError& e) {
        return e.what();
    }
    return "";
}

std::string fixture(const std::string& name) { return std::string(EBPFIX_PCAP_DIR) + "/" + name; }

}  // namespace

BOOST_AUTO_TEST_CASE(every_fixture_reads_with_exact_counts_and_times) {
    struct Want {
        const char* file;
        std::size_t packets;
        bpf::LinkLayer link;
        std::uint64_t second_ts_ns;  // capture time of packet 2
        std::uint64_t truncated;
    };
    const Want wants[] = {
        {"tcp_session_v4.pcap", 10, bpf::LinkLayer::ethernet, kBaseNs + 150'000, 0},
        {"udp_v4_v6.pcap", 5, bpf::LinkLayer::ethernet, kBaseNs + 900'000, 0},
        {"icmp_echo.pcapng", 7, bpf::LinkLayer::ethernet, kBaseNs + 50'000, 0},
        {"vlan_qinq.pcap", 7, bpf::LinkLayer::ethernet, kBaseNs + 10'000, 0},
        {"fragments.pcap", 6, bpf::LinkLayer::ethernet, kBaseNs + 100'000, 0},
        {"garbage.pcap", 12, bpf::LinkLayer::ethernet, kBaseNs + 10'000, 2},
        {"raw_ip.pcap", 6, bpf::LinkLayer::l3, kBaseNs + 5'000, 0},
        {"sll.pcap", 6, bpf::LinkLayer::ethernet, kBaseNs + 10'000, 0},
        {"sll2.pcapng", 6, bpf::LinkLayer::ethernet, kBaseNs + 10'000, 0},
        {"snaplen96.pcap", 8, bpf::LinkLayer::ethernet, kBaseNs + 100'000, 8},
    };
    for (const Want& w : wants) {
        BOOST_TEST_CONTEXT(w.file) {
            PcapReader reader(fixture(w.file));
            std::vector<pcap::Packet> packets;
            while (auto p = reader.next()) {
                BOOST_TEST(p->number == packets.size() + 1);
                BOOST_TEST((p->link_layer == w.link));
                packets.push_back(*p);
            }
            BOOST_TEST_REQUIRE(packets.size() == w.packets);
            BOOST_TEST(packets[0].timestamp_ns == kBaseNs);
            BOOST_TEST(packets[1].timestamp_ns == w.second_ts_ns);
            BOOST_TEST(reader.counts().packets == w.packets);
            BOOST_TEST(reader.counts().truncated_packets == w.truncated);
            BOOST_TEST(!reader.next().has_value());  // stays at the end
        }
    }
}

BOOST_AUTO_TEST_CASE(snaplen_cut_packet_is_reported_and_still_returned) {
    PcapReader reader(fixture("garbage.pcap"));
    std::optional<pcap::Packet> p;
    for (int i = 0; i < 4; ++i) p = reader.next();  // packet 4 was cut to 60 bytes
    BOOST_TEST_REQUIRE(p.has_value());
    BOOST_TEST(p->caplen == 60u);
    BOOST_TEST(p->orig_len == 242u);
    BOOST_TEST(p->truncated());
    BOOST_TEST(p->data.size() == 60u);
}

BOOST_AUTO_TEST_CASE(byte_orders_and_resolutions_agree) {
    const std::vector<Record> us = {{1'700'000'000, 123'456, frame(60, 1)}, {1'700'000'001, 999'999, frame(1514, 2)}};
    const std::vector<Record> ns = {{1'700'000'000, 123'456'000, frame(60, 1)},
                                    {1'700'000'001, 999'999'000, frame(1514, 2)}};
    const std::string files[] = {write_file("le_us.pcap", classic(false, false, 1, us)),
                                 write_file("be_us.pcap", classic(true, false, 1, us)),
                                 write_file("le_ns.pcap", classic(false, true, 1, ns)),
                                 write_file("be_ns.pcap", classic(true, true, 1, ns))};
    for (const auto& path : files) {
        BOOST_TEST_CONTEXT(path) {
            PcapReader reader(path);
            BOOST_TEST(reader.link_type() == 1);
            auto a = reader.next();
            BOOST_TEST_REQUIRE(a.has_value());
            BOOST_TEST(a->timestamp_ns == 1'700'000'000'123'456'000ull);
            BOOST_TEST(a->caplen == 60u);
            BOOST_TEST(Bytes(a->data.begin(), a->data.end()) == frame(60, 1));
            auto b = reader.next();
            BOOST_TEST_REQUIRE(b.has_value());
            BOOST_TEST(b->timestamp_ns == 1'700'000'001'999'999'000ull);
            BOOST_TEST(Bytes(b->data.begin(), b->data.end()) == frame(1514, 2));
            BOOST_TEST(!reader.next().has_value());
        }
    }
    // Nanoseconds survive only in the nanosecond format.
    const auto exact = write_file("ns_exact.pcap", classic(false, true, 1, {{5, 123'456'789, frame(20, 3)}}));
    PcapReader reader(exact);
    BOOST_TEST(reader.next()->timestamp_ns == 5'123'456'789ull);
}

BOOST_AUTO_TEST_CASE(raw_ip_link_types_need_the_l3_program) {
    for (std::uint32_t linktype : {101u, 228u, 229u}) {
        BOOST_TEST_CONTEXT("linktype " << linktype) {
            PcapReader reader(write_file("raw.pcap", classic(false, false, linktype, {{1, 0, frame(40, 4)}})));
            auto p = reader.next();
            BOOST_TEST_REQUIRE(p.has_value());
            BOOST_TEST((p->link_layer == bpf::LinkLayer::l3));
            BOOST_TEST(p->data.size() == 40u);
        }
    }
    BOOST_TEST((pcap::link_layer_for(1) == bpf::LinkLayer::ethernet));
    BOOST_TEST(!pcap::link_layer_for(105).has_value());
}

BOOST_AUTO_TEST_CASE(cooked_captures_become_ethernet_frames) {
    const Bytes payload = {0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    // SLL: pkttype, hatype, halen, 8 address bytes, protocol.
    Bytes sll_out = {0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0, 0x08, 0x00};
    sll_out.insert(sll_out.end(), payload.begin(), payload.end());
    Bytes sll_in = sll_out;
    sll_in[1] = 0;  // PACKET_HOST
    // SLL2: protocol, reserved, ifindex, hatype, pkttype, halen, 8 address bytes.
    Bytes sll2 = {0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0};
    sll2.insert(sll2.end(), payload.begin(), payload.end());

    PcapReader sll(write_file("sll.pcap", classic(false, false, 113, {{1, 0, sll_out}, {2, 0, sll_in}, {3, 0, Bytes(10, 0)}})));
    Bytes want = Bytes(12, 0);
    want.push_back(0x08);
    want.push_back(0x00);
    want.insert(want.end(), payload.begin(), payload.end());
    auto out = sll.next();
    BOOST_TEST_REQUIRE(out.has_value());
    BOOST_TEST(Bytes(out->data.begin(), out->data.end()) == want);
    BOOST_TEST((out->direction == Direction::egress));
    BOOST_TEST((out->link_layer == bpf::LinkLayer::ethernet));
    BOOST_TEST(out->caplen == 36u);  // the file's numbers, cooked header included
    auto in = sll.next();
    BOOST_TEST_REQUIRE(in.has_value());
    BOOST_TEST((in->direction == Direction::ingress));
    auto cut = sll.next();  // 10 bytes: not even the cooked header
    BOOST_TEST_REQUIRE(cut.has_value());
    BOOST_TEST(cut->data.empty());
    BOOST_TEST(sll.counts().cooked_header_cut == 1u);

    PcapReader sll2_reader(write_file("sll2.pcap", classic(false, false, 276, {{1, 0, sll2}})));
    auto p = sll2_reader.next();
    BOOST_TEST_REQUIRE(p.has_value());
    want[12] = 0x86, want[13] = 0xdd;
    BOOST_TEST(Bytes(p->data.begin(), p->data.end()) == want);
    BOOST_TEST((p->direction == Direction::egress));
}

BOOST_AUTO_TEST_CASE(caplen_above_orig_len_is_counted_and_fixed) {
    PcapReader reader(write_file("anomaly.pcap", classic(false, false, 1, {{1, 0, frame(64, 5), -1, 60}})));
    auto p = reader.next();
    BOOST_TEST_REQUIRE(p.has_value());
    BOOST_TEST(p->caplen == 64u);
    BOOST_TEST(p->orig_len == 64u);
    BOOST_TEST(!p->truncated());
    BOOST_TEST(reader.counts().length_anomalies == 1u);
}

BOOST_AUTO_TEST_CASE(open_errors_name_the_path) {
    const auto missing = (temp_dir() / "missing.pcap").string();
    BOOST_TEST(error_of(missing) == missing + ": No such file or directory");

    const auto empty = write_file("empty.pcap", {});
    const auto empty_error = error_of(empty);
    BOOST_TEST(empty_error.rfind(empty + ": ", 0) == 0u, empty_error);

    Bytes header = classic(false, false, 1, {});
    header.resize(10);
    const auto cut_header = write_file("cut_header.pcap", header);
    const auto cut_error = error_of(cut_header);
    BOOST_TEST(cut_error.rfind(cut_header + ": ", 0) == 0u, cut_error);
    BOOST_TEST(cut_error.find("truncated") != std::string::npos, cut_error);

    Bytes magic = classic(false, false, 1, {{1, 0, frame(60, 1)}});
    magic[0] ^= 0xff;
    const auto wrong_magic = write_file("magic.pcap", magic);
    BOOST_TEST(error_of(wrong_magic) == wrong_magic + ": unknown file format");

    const auto unsupported = write_file("wifi.pcap", classic(false, false, 105, {}));
    BOOST_TEST(error_of(unsupported) ==
               unsupported + ": link type 105 (IEEE802_11) not supported; ebpfix reads Ethernet, raw IP, IPv4, "
                             "IPv6, Linux SLL and SLL2");

    Bytes noise;
    std::uint32_t x = 12345;
    for (int i = 0; i < 4096; ++i) {
        x = x * 1103515245u + 12345u;
        noise.push_back(std::uint8_t(x >> 16));
    }
    const auto random = write_file("random.pcap", noise);
    BOOST_TEST(error_of(random) == random + ": unknown file format");
}

BOOST_AUTO_TEST_CASE(damaged_records_name_packet_and_offset) {
    const Bytes good = classic(false, false, 1, {{1, 0, frame(60, 1)}, {2, 0, frame(100, 2)}});
    // Record 2's header starts at 24 + 16 + 60 = 100, its data at 116.
    Bytes cut_record_header(good.begin(), good.begin() + 100 + 8);
    const auto p1 = write_file("cut_rec_hdr.pcap", cut_record_header);
    auto e1 = error_of(p1);
    BOOST_TEST(e1.rfind(p1 + ": packet 2 at offset 100: ", 0) == 0u, e1);

    Bytes cut_record_data(good.begin(), good.begin() + 116 + 50);
    const auto p2 = write_file("cut_rec_data.pcap", cut_record_data);
    auto e2 = error_of(p2);
    BOOST_TEST(e2.rfind(p2 + ": packet 2 at offset 100: ", 0) == 0u, e2);
    BOOST_TEST(e2.find("truncated") != std::string::npos, e2);

    const auto p3 = write_file("absurd.pcap", classic(false, false, 1, {{1, 0, frame(60, 1)}, {2, 0, frame(10, 2), 0xffffffff, 0xffffffff}}));
    auto e3 = error_of(p3);
    BOOST_TEST(e3.rfind(p3 + ": packet 2 at offset 100: ", 0) == 0u, e3);
    BOOST_TEST(e3.find("4294967295") != std::string::npos, e3);

    // The packets before the damage are still delivered.
    PcapReader reader(p3);
    BOOST_TEST(reader.next().has_value());
    BOOST_CHECK_THROW(reader.next(), PcapError);
}

BOOST_AUTO_TEST_CASE(every_truncation_of_a_real_capture) {
    // Cutting tcp_session_v4.pcap at every byte: at a record boundary the reader returns
    // exactly the whole records, anywhere else it throws for the record that was cut.
    const Bytes whole = read_file(fixture("tcp_session_v4.pcap"));
    std::vector<std::size_t> boundaries = {24};
    for (std::size_t off = 24; off + 16 <= whole.size();) {
        const std::uint32_t caplen = std::uint32_t(whole[off + 8]) | std::uint32_t(whole[off + 9]) << 8 |
                                     std::uint32_t(whole[off + 10]) << 16 | std::uint32_t(whole[off + 11]) << 24;
        off += 16 + caplen;
        boundaries.push_back(off);
    }
    BOOST_TEST_REQUIRE(boundaries.size() == 11u);
    BOOST_TEST_REQUIRE(boundaries.back() == whole.size());
    const auto path = (temp_dir() / "cut.pcap").string();
    std::size_t clean = 0, errors = 0;
    for (std::size_t len = 0; len <= whole.size(); ++len) {
        { std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(whole.data()), std::streamsize(len)); }
        std::size_t whole_records = 0;
        while (whole_records + 1 < boundaries.size() && boundaries[whole_records + 1] <= len) ++whole_records;
        const bool at_boundary = len >= 24 && boundaries[whole_records] == len;
        try {
            const std::size_t n = read_all(path);
            BOOST_TEST(at_boundary, "cut at " << len << " read without error");
            BOOST_TEST(n == whole_records, "cut at " << len);
            ++clean;
        } catch (const PcapError& e) {
            BOOST_TEST(!at_boundary, "cut at " << len << ": " << e.what());
            if (len >= 24) {
                const std::string want = path + ": packet " + std::to_string(whole_records + 1) + " at offset " +
                                         std::to_string(boundaries[whole_records]) + ": ";
                BOOST_TEST(std::string(e.what()).rfind(want, 0) == 0u, e.what());
            }
            ++errors;
        }
    }
    BOOST_TEST(clean == 11u);  // the 10 records' ends and the bare file header
    BOOST_TEST(clean + errors == whole.size() + 1);
}

BOOST_AUTO_TEST_CASE(byte_flips_never_crash) {
    // Flip bytes all over two real captures (pcap and pcapng); each damaged copy either
    // reads or throws PcapError. The sanitizer build turns any overread into a failure.
    std::size_t outcomes = 0;
    for (const char* name : {"fragments.pcap", "icmp_echo.pcapng", "sll2.pcapng"}) {
        const Bytes whole = read_file(fixture(name));
        std::uint32_t x = 99;
        for (int round = 0; round < 400; ++round) {
            Bytes damaged = whole;
            for (int k = 0; k < 4; ++k) {
                x = x * 1103515245u + 12345u;
                const std::size_t at = (x >> 8) % damaged.size();
                x = x * 1103515245u + 12345u;
                damaged[at] = std::uint8_t(x >> 16);
            }
            const auto path = write_file("flip.bin", damaged);
            try {
                PcapReader reader(path);
                while (auto p = reader.next()) BOOST_TEST_REQUIRE(p->data.size() <= 262144u + 20u);
            } catch (const PcapError& e) {
                BOOST_TEST_REQUIRE(std::string(e.what()).rfind(path + ": ", 0) == 0u);
            }
            ++outcomes;
        }
    }
    BOOST_TEST(outcomes == 1200u);
}
