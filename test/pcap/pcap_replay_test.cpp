// Replays every capture in pcaps/ through the real kernel program, as --pcap does: each
// packet runs through the program variant its link type needs (BPF_PROG_TEST_RUN) with
// its capture time as skb->tstamp, then one drain. The drained flows (key, packets, L3
// bytes, TCP flags, ToS, first/last seen = capture times) and the drop counters must
// equal what make_pcaps.py computed from its own packet definitions, exactly.
#define BOOST_TEST_MODULE pcap_replay
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "bpf/packet_runner.hpp"
#include "pcap/pcap_reader.hpp"
#include "support/clock.hpp"
#include "support/root_guard.hpp"

using namespace ebpfix;

namespace {

constexpr std::uint32_t kTestRunIfindex = 1;  // BPF_PROG_TEST_RUN puts the skb on loopback
constexpr std::size_t kEthernetHeader = 14;  // test_run refuses shorter data

struct ExpectedFlow {
    FlowKey key;
    std::uint64_t packets = 0, bytes = 0, first_ns = 0, last_ns = 0;
    std::uint32_t tcp_flags = 0;
    std::uint32_t tos = 0;
};

struct Expected {
    std::string link;
    std::uint64_t packets = 0, truncated_records = 0, refused = 0;
    std::vector<ExpectedFlow> flows;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> counters;
};

std::array<std::uint8_t, 16> address(int version, const std::string& text) {
    std::array<std::uint8_t, 16> a{};
    if (version == 4) {
        in_addr v4{};
        if (inet_pton(AF_INET, text.c_str(), &v4) != 1) throw std::runtime_error("bad IPv4 " + text);
        return FlowKey::mapped_v4(ntohl(v4.s_addr));
    }
    if (inet_pton(AF_INET6, text.c_str(), a.data()) != 1) throw std::runtime_error("bad IPv6 " + text);
    return a;
}

// The line format make_pcaps.py writes (see the header of each .expected file).
Expected parse_expected(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot open");
    Expected e;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream words(line);
        std::string kind;
        words >> kind;
        if (kind == "link") {
            words >> e.link;
        } else if (kind == "packets") {
            words >> e.packets;
        } else if (kind == "truncated_records") {
            words >> e.truncated_records;
        } else if (kind == "refused") {
            words >> e.refused;
        } else if (kind == "flow") {
            ExpectedFlow f;
            int version = 0;
            unsigned sport = 0, dport = 0, proto = 0, vlan = 0, inner = 0;
            std::string src, dst, direction;
            words >> version >> src >> dst >> sport >> dport >> proto >> vlan >> inner >> direction >> f.packets >>
                f.bytes >> f.tcp_flags >> f.tos >> f.first_ns >> f.last_ns;
            f.key.ip_version = std::uint8_t(version);
            f.key.src_addr = address(version, src);
            f.key.dst_addr = address(version, dst);
            f.key.src_port = std::uint16_t(sport);
            f.key.dst_port = std::uint16_t(dport);
            f.key.protocol = std::uint8_t(proto);
            f.key.vlan_id = std::uint16_t(vlan);
            f.key.inner_vlan_id = std::uint16_t(inner);
            f.key.direction = direction == "egress" ? Direction::egress : Direction::ingress;
            f.key.ifindex = kTestRunIfindex;
            e.flows.push_back(f);
        } else if (kind == "counter") {
            std::string name;
            std::uint64_t packets = 0, bytes = 0;
            words >> name >> packets >> bytes;
            e.counters[name] = {packets, bytes};
        } else {
            throw std::runtime_error(path + ":" + std::to_string(number) + ": unknown line kind '" + kind + "'");
        }
        if (words.fail()) throw std::runtime_error(path + ":" + std::to_string(number) + ": malformed line");
    }
    return e;
}

std::string describe(const FlowKey& k) {
    std::ostringstream o;
    o << "v" << int(k.ip_version) << " proto " << int(k.protocol) << " ports " << k.src_port << "->" << k.dst_port
      << " vlan " << k.vlan_id << "/" << k.inner_vlan_id << " if " << k.ifindex << " dir " << int(k.direction);
    return o.str();
}

struct RootFixture {
    RootFixture() { test::require_root("pcap_replay (loads BPF)"); }
};
BOOST_TEST_GLOBAL_FIXTURE(RootFixture);

void replay(const std::filesystem::path& capture, const std::filesystem::path& expected_path) {
    const Expected want = parse_expected(expected_path.string());
    bpf::ProgramOptions options;
    options.map_entries = 1024;
    options.time_from_packet = true;
    bpf::FlowProgram program(options);  // fresh maps and counters for each capture
    bpf::FlowDrainer drainer(program);

    pcap::PcapReader reader(capture.string());
    std::uint64_t refused = 0;
    while (auto packet = reader.next()) {
        BOOST_TEST((packet->link_layer == (want.link == "l3" ? bpf::LinkLayer::l3 : bpf::LinkLayer::ethernet)));
        const int fd = program.tc_program_fd(packet->direction, packet->link_layer);
        bpf::PacketRunOptions run;
        run.tstamp_ns = packet->timestamp_ns;
        run.wire_len = std::uint32_t(packet->data.size() + (packet->orig_len - std::min(packet->orig_len, packet->caplen)));
        if (packet->data.size() < kEthernetHeader) {
            // The kernel refuses it; the daemon must count such a frame itself.
            BOOST_CHECK_THROW(bpf::run_packet(fd, packet->data, run), bpf::BpfError);
            ++refused;
            continue;
        }
        const auto result = bpf::run_packet(fd, packet->data, run);
        BOOST_TEST(result.retval == -1, "packet " << packet->number);  // TCX_NEXT: never a verdict
    }
    BOOST_TEST(reader.counts().packets == want.packets);
    BOOST_TEST(reader.counts().truncated_packets == want.truncated_records);
    BOOST_TEST(refused == want.refused);

    std::vector<FlowDelta> drained;
    drainer.drain(test::monotonic_now(), 0, drained);
    BOOST_TEST(drained.size() == want.flows.size());
    for (const ExpectedFlow& f : want.flows) {
        BOOST_TEST_CONTEXT("flow " << describe(f.key)) {
            const FlowDelta* got = nullptr;
            for (const auto& d : drained)
                if (d.key == f.key) got = &d;
            BOOST_TEST_REQUIRE(got != nullptr);
            BOOST_TEST(got->packets == f.packets);
            BOOST_TEST(got->bytes == f.bytes);
            BOOST_TEST(got->tcp_flags == f.tcp_flags);
            BOOST_TEST(unsigned(got->tos) == f.tos);
            BOOST_TEST(got->first_ns == f.first_ns);
            BOOST_TEST(got->last_ns == f.last_ns);
        }
    }
    if (drained.size() != want.flows.size())
        for (const auto& d : drained) BOOST_TEST_MESSAGE("drained " << describe(d.key));

    const auto c = bpf::read_counters(program);
    const std::pair<const char*, ebpfix_pkt_bytes> got_counters[] = {
        {"non_ip", c.non_ip}, {"parse_error", c.parse_error}, {"truncated", c.truncated}, {"fragments", c.fragments}};
    for (const auto& [name, value] : got_counters) {
        BOOST_TEST_CONTEXT("counter " << name) {
            BOOST_TEST_REQUIRE(want.counters.count(name) == 1u);
            BOOST_TEST(value.packets == want.counters.at(name).first);
            BOOST_TEST(value.bytes == want.counters.at(name).second);
        }
    }
    BOOST_TEST(c.map_full.packets == 0u);
    BOOST_TEST(c.flows_created == want.flows.size());

    // Every packet is accounted for exactly once: flows + drops + refused = packets read.
    std::uint64_t flow_packets = 0;
    for (const auto& d : drained) flow_packets += d.packets;
    BOOST_TEST(flow_packets + c.non_ip.packets + c.parse_error.packets + c.truncated.packets + refused ==
               reader.counts().packets);
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_capture_counts_as_its_definition_says) {
    std::size_t captures = 0;
    std::vector<std::filesystem::path> expected_files;
    for (const auto& entry : std::filesystem::directory_iterator(EBPFIX_PCAP_DIR))
        if (entry.path().extension() == ".expected") expected_files.push_back(entry.path());
    std::sort(expected_files.begin(), expected_files.end());
    for (const auto& expected : expected_files) {
        auto capture = expected;
        capture.replace_extension(".pcap");
        if (!std::filesystem::exists(capture)) capture.replace_extension(".pcapng");
        BOOST_TEST_CONTEXT("capture " << capture.filename().string()) {
            BOOST_TEST_REQUIRE(std::filesystem::exists(capture));
            replay(capture, expected);
        }
        ++captures;
    }
    BOOST_TEST(captures == 10u);  // every fixture make_pcaps.py writes
}
