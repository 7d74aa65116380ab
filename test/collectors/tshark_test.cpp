// Real dissector: Wireshark's cflow dissector (tshark 4.0). dumpcap captures the
// encoder's datagrams on a private loopback, then `tshark -V` must decode every message
// with no malformed packet, no expert error and no set it could not decode, and show
// each flow with the values that were encoded. IPFIX and NetFlow v9, IPv4 and IPv6
// flows, plus the options (statistics, interface table, sampling interval and algorithm),
// attribution records (userName, applicationName, the enterprise IEs under a PEN) and
// RFC 5103 biflows (reverse IEs, biflowDirection).
#define BOOST_TEST_MODULE tshark_collector
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <thread>

#include "attribution/owners.hpp"
#include "collectors/collector_flows.hpp"
#include "collectors/flow_decoder.hpp"
#include "ipfix/biflow.hpp"
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
    // tshark -T fields of the extra fields asked for: per frame one line, the fields
    // separated by tabs, each field's occurrences by commas.
    std::vector<std::string> extra;
};

// Captures the datagrams with dumpcap (stops by itself after exactly that many packets)
// and returns tshark's verbose decoding of them as cflow.
Capture capture_and_dissect(const std::string& address, std::uint16_t port,
                            const std::vector<std::vector<std::uint8_t>>& datagrams,
                            const std::vector<std::string>& extra_fields = {}) {
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
    Capture cap{r.output, sampling, datagrams.size(), {}};
    if (!extra_fields.empty()) {
        std::vector<std::string> argv{"tshark", "-n", "-r", pcap.string(), "-d",
                                      "udp.port==" + std::to_string(port) + ",cflow", "-T", "fields",
                                      "-E", "occurrence=a", "-E", "aggregator=,"};
        for (const auto& f : extra_fields) {
            argv.push_back("-e");
            argv.push_back(f);
        }
        auto extra = run_command(argv, 120s, {{"TZ", "UTC"}});
        BOOST_TEST_REQUIRE(extra.exit_code == 0, extra.output);
        // One line per frame; tshark's notes on stderr have no tab (with two or more fields).
        std::istringstream extra_lines(extra.output);
        for (std::string line; std::getline(extra_lines, line);)
            if (line.find('\t') != std::string::npos) cap.extra.push_back(line);
    }
    return cap;
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

namespace {

constexpr std::uint32_t kDocPen = 32473;  // RFC 5612: PEN for documentation; tshark names it

// The values of one field over all frames (-T fields with occurrence=a, aggregator=,).
std::vector<std::string> field_values(const Capture& cap, std::size_t column) {
    std::vector<std::string> out;
    for (const auto& line : cap.extra) {
        std::istringstream cols(line);
        std::string col;
        for (std::size_t i = 0; i <= column && std::getline(cols, col, '\t'); ++i) {
            if (i != column) continue;
            std::istringstream values(col);
            for (std::string v; std::getline(values, v, ',');)
                if (!v.empty()) out.push_back(v);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::map<std::uint64_t, attribution::Owner> test_owners() {
    std::map<std::uint64_t, attribution::Owner> owners;
    attribution::Owner a;
    a.uid = 1000;
    a.user = "alice";
    a.pid = 4242;
    a.comm = "curl";
    a.cgroup_id = 0x1f2;
    a.cgroup = "/user.slice/user-1000.slice/session-2.scope";
    owners[1] = a;
    attribution::Owner partial;  // a socket from before ebpfix started: uid only
    partial.uid = 65534;
    partial.comm = "nobodyd";
    owners[2] = partial;
    attribution::Owner b;
    b.uid = 1001;
    b.user = "j\xc3\xb6rg";
    b.pid = 77;
    b.comm = "ssh";
    b.cgroup_id = 0x2a;
    b.cgroup = "/system.slice/sshd.service";
    owners[3] = b;
    return owners;
}

void run_attribution_case(Protocol p, const std::string& address, std::uint16_t port, std::uint32_t pen) {
    std::uint64_t now = wall_ms();
    std::uint64_t origin = now - 7200123;
    auto flows = collector_flows(now, 60, 7);
    auto owners = test_owners();
    // A third without a socket, some with a cookie nobody knows (both: plain 256/257).
    for (std::size_t i = 0; i < flows.size(); ++i) flows[i].key.owner = i % 3 == 0 ? (i % 2 ? 99 : 0) : 1 + (i / 3) % 3;
    ipfix::OwnerLookup lookup = [&](std::uint64_t cookie) -> const attribution::Owner* {
        auto it = owners.find(cookie);
        return it == owners.end() ? nullptr : &it->second;
    };
    ipfix::EncoderOptions o;
    o.protocol = p;
    o.observation_domain = 78;
    o.uptime_origin_ms = origin;
    o.attribution = true;
    o.enterprise_number = pen;
    ipfix::FlowEncoder enc(o);
    std::vector<std::vector<std::uint8_t>> datagrams;
    enc.encode(flows, lookup, now, [&](gsl::span<const std::uint8_t> m) { datagrams.emplace_back(m.begin(), m.end()); });
    FlowDecoder check(p);
    for (const auto& m : datagrams) check.decode(m);

    std::vector<std::string> users, applications;
    std::map<std::uint64_t, std::size_t> owned_by;
    for (const auto& f : flows) {
        auto it = owners.find(f.key.owner);
        if (it == owners.end()) continue;
        ++owned_by[f.key.owner];
        users.push_back(it->second.user.empty() ? std::to_string(*it->second.uid) : it->second.user);
        applications.push_back(it->second.comm);
    }
    std::sort(users.begin(), users.end());
    std::sort(applications.begin(), applications.end());
    BOOST_TEST_REQUIRE(users.size() > flows.size() / 2);

    auto cap = capture_and_dissect(address, port, datagrams, {"cflow.user_name", "cflow.appl_name"});
    BOOST_TEST_MESSAGE((p == Protocol::ipfix ? "IPFIX" : "NetFlow v9") << " attribution, PEN " << pen << ": " << flows.size()
                                                                       << " flows (" << users.size() << " owned), "
                                                                       << datagrams.size() << " datagrams");
    BOOST_TEST(count_of(cap.text, "Cisco NetFlow/IPFIX\n") == datagrams.size());
    expect_clean_dissection(cap.text);
    check_flows(p, flows, cap, now, origin);  // the plain fields of owned and unowned records alike
    BOOST_TEST((field_values(cap, 0) == users), "tshark cflow.user_name differs");
    BOOST_TEST((field_values(cap, 1) == applications), "tshark cflow.appl_name differs");
    BOOST_TEST(count_of(cap.text, " User Name: alice\n") == owned_by[1]);
    BOOST_TEST(count_of(cap.text, " User Name: 65534\n") == owned_by[2]);
    BOOST_TEST(count_of(cap.text, " User Name: j\xc3\xb6rg\n") == owned_by[3]);
    const std::string entry = "Enterprise Private entry: (Example Enterprise Number for Documentation Use) Type ";
    if (pen != 0 && p == Protocol::ipfix) {
        BOOST_TEST(count_of(cap.text, entry + "1: Value (hex bytes): 00 00 10 92\n") == owned_by[1]);  // pid 4242
        BOOST_TEST(count_of(cap.text, entry + "1: Value (hex bytes): ff ff ff ff\n") == owned_by[2]);  // none
        BOOST_TEST(count_of(cap.text, entry + "2: Value (hex bytes): 00 00 ff fe\n") == owned_by[2]);  // uid 65534
        BOOST_TEST(count_of(cap.text, entry + "3: Value (hex bytes): 00 00 00 00 00 00 00 2a\n") == owned_by[3]);
        BOOST_TEST(count_of(cap.text, entry + "2: ") == users.size());
    } else {
        BOOST_TEST(count_of(cap.text, "Enterprise Private entry") == 0u);
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(ipfix_attribution_with_enterprise_ies_dissects_cleanly) {
    run_attribution_case(Protocol::ipfix, "127.0.0.1", 4739, kDocPen);
}

BOOST_AUTO_TEST_CASE(ipfix_attribution_without_pen_dissects_cleanly) {
    run_attribution_case(Protocol::ipfix, "::1", 4739, 0);
}

BOOST_AUTO_TEST_CASE(netflow9_attribution_dissects_cleanly) {
    run_attribution_case(Protocol::netflow9, "::1", 2055, kDocPen);
}

// RFC 5103 biflows: tshark shows each reverse IE with "(Reverse Type ...)" and reads it as
// the same field (cflow.octets twice per record), so its totals over all records must be
// the uniflow totals; every record as encoded, with biflowDirection.
BOOST_AUTO_TEST_CASE(ipfix_biflows_dissect_cleanly) {
    std::uint64_t now = wall_ms();
    auto records = collector_flows(now, 60, 8);
    FlowGenerator gen(8, now - 600000, now);
    for (std::size_t i = 0, n = records.size(); i < n; ++i) {
        auto rk = ipfix::reverse_key(records[i].key);
        if (!rk || i % 3 == 0) continue;
        FlowRecord back = gen.next();
        back.key = *rk;
        back.tcp_flags = back.key.protocol == 6 ? back.tcp_flags & 0xff : 0;  // flags only for TCP
        back.packets %= 1u << 30;
        back.bytes %= 1ull << 40;
        records.push_back(back);
    }
    auto biflows = ipfix::pair_biflows(records);
    ipfix::EncoderOptions o;
    o.observation_domain = 79;
    o.biflow = true;
    ipfix::FlowEncoder enc(o);
    std::vector<std::vector<std::uint8_t>> datagrams;
    enc.encode_biflows(biflows, now, [&](gsl::span<const std::uint8_t> m) { datagrams.emplace_back(m.begin(), m.end()); });
    FlowDecoder check(Protocol::ipfix);
    for (const auto& m : datagrams) check.decode(m);
    std::size_t pairs = 0;
    for (const auto& b : biflows) pairs += b.reverse ? 1 : 0;
    BOOST_TEST_MESSAGE("IPFIX biflows: " << records.size() << " records, " << biflows.size() << " biflows (" << pairs
                                         << " pairs), " << datagrams.size() << " datagrams");
    BOOST_TEST_REQUIRE(pairs > 20u);

    auto cap = capture_and_dissect("127.0.0.1", 4739, datagrams,
                                   {"cflow.octets", "cflow.packets", "cflow.biflow_direction"});
    BOOST_TEST(count_of(cap.text, "Cisco NetFlow/IPFIX\n") == datagrams.size());
    expect_clean_dissection(cap.text);
    for (const char* reverse : {"(Reverse Type 1 BYTES)\n", "(Reverse Type 2 PKTS)\n", "(Reverse Type 6 TCP_FLAGS)\n"})
        BOOST_TEST(count_of(cap.text, reverse) == biflows.size(), reverse);
    auto sum = [&](std::size_t column) {
        unsigned __int128 total = 0;
        for (const auto& v : field_values(cap, column)) total += std::stoull(v);
        return total;
    };
    unsigned __int128 packets = 0, octets = 0;
    for (const auto& r : records) {
        packets += r.packets;
        octets += r.bytes;
    }
    BOOST_TEST((sum(0) == octets), "octets: tshark total differs from the uniflow total");
    BOOST_TEST((sum(1) == packets), "packets: tshark total differs from the uniflow total");
    std::vector<std::string> directions;
    for (const auto& b : biflows) directions.push_back(std::to_string(unsigned(b.direction)));
    std::sort(directions.begin(), directions.end());
    BOOST_TEST((field_values(cap, 2) == directions));

    // Record by record (reverse flags, times and counts come before their forward ones).
    std::map<std::string, const TsharkFlow*> by_key;
    auto parsed = parse_tshark_flows(cap.text);
    for (const auto& f : parsed) {
        auto get = [&](const char* k) { auto it = f.fields.find(k); return it == f.fields.end() ? std::string() : it->second; };
        by_key[get("SrcAddr") + " " + get("DstAddr") + " " + number_in_parens(get("Protocol")) + " " + get("SrcPort")] = &f;
    }
    BOOST_TEST(by_key.size() == biflows.size());
    for (const auto& b : biflows) {
        const FlowRecord& f = b.forward;
        std::string key = address_text(f.key, true) + " " + address_text(f.key, false) + " " +
                          std::to_string(f.key.protocol) + " " + std::to_string(f.key.is_icmp() ? 0 : f.key.src_port);
        auto it = by_key.find(key);
        if (it == by_key.end()) {
            BOOST_ERROR("tshark shows no biflow " << describe(f));
            continue;
        }
        const auto& fields = it->second->fields;
        auto v = [&](const std::string& k) { auto i = fields.find(k); return i == fields.end() ? std::string("<absent>") : i->second; };
        const FlowRecord* r = b.reverse ? &*b.reverse : nullptr;
        BOOST_TEST_CONTEXT(describe(f)) {
            BOOST_TEST(v("Octets") == std::to_string(f.bytes));
            BOOST_TEST(v("Packets") == std::to_string(f.packets));
            BOOST_TEST(v("Octets #2") == std::to_string(r ? r->bytes : 0) + " (Reverse Type 1 BYTES)");
            BOOST_TEST(v("Packets #2") == std::to_string(r ? r->packets : 0) + " (Reverse Type 2 PKTS)");
            BOOST_TEST(std::strtoul(v("TCP Flags").c_str(), nullptr, 16) == (r ? r->tcp_flags & 0xffu : 0u));
            BOOST_TEST(std::strtoul(v("TCP Flags #2").c_str(), nullptr, 16) == (f.tcp_flags & 0xffu));
            BOOST_TEST(parse_tshark_utc_ms(v("StartTime")).value_or(1) == (r ? r->start_ms : 0), v("StartTime"));
            BOOST_TEST(parse_tshark_utc_ms(v("EndTime")).value_or(1) == (r ? r->end_ms : 0), v("EndTime"));
            BOOST_TEST(parse_tshark_utc_ms(v("StartTime #2")).value_or(0) == f.start_ms, v("StartTime #2"));
            BOOST_TEST(parse_tshark_utc_ms(v("EndTime #2")).value_or(0) == f.end_ms, v("EndTime #2"));
            BOOST_TEST(number_in_parens(v("Biflow Direction")) == std::to_string(unsigned(b.direction)));
            BOOST_TEST(number_in_parens(v("Direction")) == std::to_string(unsigned(f.key.direction)));
        }
    }
}
