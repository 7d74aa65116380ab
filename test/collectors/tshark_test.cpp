// Real dissector: Wireshark's cflow dissector (tshark 4.0). dumpcap captures the
// encoder's datagrams on a private loopback, then `tshark -V` must decode every message
// with no malformed packet, no expert error and no set it could not decode, and show
// each flow with the values that were encoded. IPFIX and NetFlow v9, IPv4 and IPv6
// flows, plus the options (statistics, interface table, sampling interval and algorithm).
#define BOOST_TEST_MODULE tshark_collector
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <thread>

#include "collectors/collector_flows.hpp"
#include "collectors/flow_decoder.hpp"
#include "ipfix/flow_encoder.hpp"

using namespace ebpfix;
using namespace ebpfix::test;
using namespace std::chrono_literals;
using ipfix::Protocol;

namespace {

struct Sandbox {
    Sandbox() { enter_collector_sandbox({"dumpcap", "tshark"}, "tshark collector test"); }
};
BOOST_TEST_GLOBAL_FIXTURE(Sandbox);

std::uint64_t wall_ms() {
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

struct Capture {
    std::string text;        // tshark -V
    std::string sampling;    // tshark -T fields: "interval<TAB>algorithm" per frame with sampling options
    std::size_t frames = 0;  // datagrams sent = frames captured
};

// Captures the datagrams with dumpcap (stops by itself after exactly that many packets)
// and returns tshark's verbose decoding of them as cflow.
Capture capture_and_dissect(const std::string& address, std::uint16_t port,
                            const std::vector<std::vector<std::uint8_t>>& datagrams) {
    TempDir dir("ebpfix-tshark");
    auto pcap = dir.path() / "export.pcapng";
    {
        ChildProcess dumpcap({"dumpcap", "-q", "-i", "lo", "-f", "udp port " + std::to_string(port), "-c",
                              std::to_string(datagrams.size()), "-w", pcap.string()},
                             dir.path() / "dumpcap.log");
        wait_for_text(dumpcap.output_file(), "Capturing on", 20s);
        // "Capturing on" is printed a moment before the filter is live on the socket.
        std::this_thread::sleep_for(1s);
        send_udp(address, port, datagrams);
        auto st = dumpcap.wait_exit(10s);
        if (!st) st = dumpcap.stop(SIGTERM, 10s);  // it missed some: the frame count below fails
        BOOST_TEST_REQUIRE(WIFEXITED(*st), dumpcap.output());
        BOOST_TEST_REQUIRE(WEXITSTATUS(*st) == 0, dumpcap.output());
    }
    auto r = run_command({"tshark", "-n", "-r", pcap.string(), "-d", "udp.port==" + std::to_string(port) + ",cflow", "-V"},
                         120s, {{"TZ", "UTC"}});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.output);
    if (const char* keep = std::getenv("EBPFIX_KEEP_COLLECTOR_OUTPUT"))
        std::ofstream(std::filesystem::path(keep) / ("tshark-" + std::to_string(port) + ".txt")) << r.output;
    // The sampling fields by name, as a script reading tshark would take them.
    auto fields = run_command({"tshark", "-n", "-r", pcap.string(), "-d", "udp.port==" + std::to_string(port) + ",cflow",
                               "-Y", "cflow.sampling_interval", "-T", "fields", "-E", "occurrence=a", "-E",
                               "aggregator=,", "-e", "cflow.sampling_interval", "-e", "cflow.sampling_algorithm"},
                              120s, {{"TZ", "UTC"}});
    BOOST_TEST_REQUIRE(fields.exit_code == 0, fields.output);
    // The output also carries tshark's notes on stderr ("Running as user root ..."): keep
    // the field lines only.
    std::istringstream lines(fields.output);
    std::string sampling;
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line.find_first_not_of("0123456789,\t") == std::string::npos) sampling += line + "\n";
    return {r.output, sampling, datagrams.size()};
}

// Lines that mean the dissector could not decode something.
void expect_clean_dissection(const std::string& text) {
    std::istringstream lines(text);
    std::string line;
    std::size_t bad = 0;
    for (std::size_t n = 1; std::getline(lines, line); ++n) {
        for (const char* marker : {"Malformed", "Expert Info", "no template found", "Unknown", "[Data (", "Padding: [not"}) {
            if (line.find(marker) != std::string::npos && ++bad <= 10)
                BOOST_ERROR("tshark line " << n << " has \"" << marker << "\": " << line);
        }
    }
    BOOST_TEST(bad == 0u);
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
    return n;
}

std::vector<std::vector<std::uint8_t>> encode(Protocol p, const std::vector<FlowRecord>& flows, std::uint64_t now_ms,
                                              std::uint64_t origin_ms, bool with_options,
                                              ipfix::SamplingAlgorithm algorithm) {
    ipfix::EncoderOptions o;
    o.protocol = p;
    o.observation_domain = 77;
    o.max_message_size = 1472;
    o.uptime_origin_ms = origin_ms;
    o.sampling_interval = with_options ? 10 : 0;
    o.sampling_algorithm = algorithm;
    ipfix::FlowEncoder enc(o);
    std::vector<std::vector<std::uint8_t>> out;
    auto sink = [&](gsl::span<const std::uint8_t> m) { out.emplace_back(m.begin(), m.end()); };
    enc.encode(flows, now_ms, sink);
    if (with_options) {
        ipfix::ExporterStatistics stats{11, 2200, 3, 40, 5000};
        std::vector<ipfix::InterfaceInfo> ifs{{1, "lo", "loopback"}, {4, "veth-dec0", "test veth"}};
        enc.encode_options(stats, ifs, now_ms, sink);
    }
    FlowDecoder check(p);
    for (const auto& m : out) check.decode(m);  // our strict decoder accepts it first
    return out;
}

std::string hex4(unsigned v) {
    std::ostringstream s;
    s << "0x" << std::hex << std::setw(4) << std::setfill('0') << v;
    return s.str();
}

// tshark shows "TCP (6)", "Ingress (0)", ...: the number in the last parentheses.
std::string number_in_parens(const std::string& v) {
    auto open = v.rfind('(');
    auto close = v.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) return v;
    return v.substr(open + 1, close - open - 1);
}

void check_flows(Protocol p, const std::vector<FlowRecord>& flows, const Capture& cap, std::uint64_t now_ms,
                 std::uint64_t origin_ms) {
    auto parsed = parse_tshark_flows(cap.text);
    std::map<std::string, const TsharkFlow*> by_key;
    for (const auto& f : parsed) {
        auto get = [&](const char* k) { auto it = f.fields.find(k); return it == f.fields.end() ? std::string() : it->second; };
        if (get("SrcAddr").empty()) continue;  // options records
        by_key[get("SrcAddr") + " " + get("DstAddr") + " " + number_in_parens(get("Protocol")) + " " + get("SrcPort")] = &f;
    }
    BOOST_TEST(by_key.size() == flows.size());
    std::size_t checked = 0;
    for (const auto& f : flows) {
        std::string key = address_text(f.key, true) + " " + address_text(f.key, false) + " " +
                          std::to_string(f.key.protocol) + " " + std::to_string(f.key.is_icmp() ? 0 : f.key.src_port);
        auto it = by_key.find(key);
        if (it == by_key.end()) {
            BOOST_ERROR("tshark shows no flow " << describe(f));
            continue;
        }
        const auto& fields = it->second->fields;
        auto v = [&](const std::string& k) { auto i = fields.find(k); return i == fields.end() ? std::string("<absent>") : i->second; };
        BOOST_TEST_CONTEXT(describe(f) << " (frame " << it->second->frame << ")") {
            BOOST_TEST(v("Packets") == std::to_string(f.packets));
            BOOST_TEST(v("Octets") == std::to_string(f.bytes));
            BOOST_TEST(v("DstPort") == std::to_string(f.key.is_icmp() ? 0 : f.key.dst_port));
            // icmpTypeCodeIPv4 (32) shows as one hex word; icmpTypeCodeIPv6 (139) as type and code.
            // NetFlow v9 carries ICMPv6 in ICMP_TYPE (32) as well.
            if (f.key.ip_version == 4 || p == Protocol::netflow9) {
                BOOST_TEST(v("ICMP Type") == hex4(f.icmp_type_code()));
            } else {
                BOOST_TEST(v("IPv6 ICMP Type") == std::to_string(f.icmp_type_code() >> 8));
                BOOST_TEST(v("IPv6 ICMP Code") == std::to_string(f.icmp_type_code() & 0xff));
            }
            BOOST_TEST(std::strtoul(v("TCP Flags").c_str(), nullptr, 16) == (f.tcp_flags & 0xffu), v("TCP Flags"));
            BOOST_TEST(v("IP ToS").rfind("0x", 0) == 0u);
            BOOST_TEST(std::strtoul(v("IP ToS").c_str(), nullptr, 16) == f.tos, v("IP ToS"));
            BOOST_TEST(v("InputInt") == std::to_string(f.ingress_ifindex()));
            BOOST_TEST(v("OutputInt") == std::to_string(f.egress_ifindex()));
            BOOST_TEST(number_in_parens(v("Direction")) == std::to_string(unsigned(f.key.direction)));
            BOOST_TEST(number_in_parens(v("Flow End Reason")) == std::to_string(unsigned(f.end_reason)));
            BOOST_TEST(v("Vlan Id") == std::to_string(f.key.vlan_id));
            BOOST_TEST(v("Dot1q Customer Vlan Id") == std::to_string(f.key.inner_vlan_id));
            BOOST_TEST(v("IPVersion") == std::to_string(f.key.ip_version));
            if (p == Protocol::ipfix) {
                BOOST_TEST(parse_tshark_utc_ms(v("StartTime")).value_or(0) == f.start_ms, v("StartTime"));
                BOOST_TEST(parse_tshark_utc_ms(v("EndTime")).value_or(0) == f.end_ms, v("EndTime"));
            } else {
                // FIRST/LAST_SWITCHED are shown as seconds of sysUptime.
                auto seconds = [](std::uint64_t ms) {
                    std::ostringstream s;
                    s << ms / 1000 << '.' << std::setw(3) << std::setfill('0') << ms % 1000 << "000000 seconds";
                    return s.str();
                };
                BOOST_TEST(v("StartTime") == seconds(f.start_ms - origin_ms));
                BOOST_TEST(v("EndTime") == seconds(f.end_ms - origin_ms));
            }
        }
        ++checked;
    }
    BOOST_TEST(checked == flows.size());
    (void)now_ms;
}

void run_case(Protocol p, const std::string& address, std::uint16_t port, ipfix::SamplingAlgorithm algorithm) {
    std::uint64_t now = wall_ms();
    std::uint64_t origin = now - 7200123;
    auto flows = collector_flows(now, 120, 3);
    auto datagrams = encode(p, flows, now, origin, true, algorithm);
    auto cap = capture_and_dissect(address, port, datagrams);
    BOOST_TEST_MESSAGE((p == Protocol::ipfix ? "IPFIX" : "NetFlow v9") << ": " << flows.size() << " flows, "
                                                                       << datagrams.size() << " datagrams");
    BOOST_TEST(count_of(cap.text, "Cisco NetFlow/IPFIX\n") == datagrams.size());
    expect_clean_dissection(cap.text);
    check_flows(p, flows, cap, now, origin);
    // Options: each value encoded by encode() above appears exactly once.
    for (const char* line : {"IfName: lo\n", "IfDescr: loopback\n", "IfName: veth-dec0\n", "IfDescr: test veth\n",
                             "Ignored Packets: 11\n", "Ignored Octets: 2200\n", "Not Sent Flows: 3\n",
                             "Not Sent Packets: 40\n", "Not Sent Octets: 5000\n"})
        BOOST_TEST(count_of(cap.text, std::string(" ") + line) == 1u, "tshark shows \"" << line << "\" "
                                                                       << count_of(cap.text, line) << " times");
    // Sampling: the interval in both records (258 alone, 263 with the algorithm), the
    // algorithm once, with its IANA name.
    const bool hash = algorithm == ipfix::SamplingAlgorithm::hash;
    const std::string algorithm_line = hash ? " Sampling algorithm: Deterministic sampling (1)\n"
                                            : " Sampling algorithm: Random sampling (2)\n";
    BOOST_TEST(count_of(cap.text, " Sampling interval: 10\n") == 2u, cap.text.size());
    BOOST_TEST(count_of(cap.text, algorithm_line) == 1u, "tshark shows \"" << algorithm_line << "\" "
                                                          << count_of(cap.text, algorithm_line) << " times");
    BOOST_TEST(count_of(cap.text, " Sampling algorithm: ") == 1u);
    BOOST_TEST(cap.sampling == std::string(hash ? "10,10\t1\n" : "10,10\t2\n"), "tshark -T fields: " << cap.sampling);
    auto init = cap.text.find("System Init Time: ");
    BOOST_TEST_REQUIRE(init != std::string::npos);
    auto init_line = cap.text.substr(init + 18, cap.text.find('\n', init) - init - 18);
    BOOST_TEST(parse_tshark_utc_ms(init_line).value_or(0) == origin, init_line);
}

}  // namespace

// Random sampling announced over IPFIX, flow-hash sampling over v9: both algorithm values.
BOOST_AUTO_TEST_CASE(ipfix_dissects_cleanly_over_ipv4_loopback) {
    run_case(Protocol::ipfix, "127.0.0.1", 4739, ipfix::SamplingAlgorithm::random);
}

BOOST_AUTO_TEST_CASE(netflow9_dissects_cleanly_over_ipv6_loopback) {
    run_case(Protocol::netflow9, "::1", 2055, ipfix::SamplingAlgorithm::hash);
}
