// Real dissector for NetFlow v5: Wireshark's cflow dissector (tshark 4.0). dumpcap
// captures the v5 encoder's datagrams on a private loopback; `tshark -V` must decode
// every datagram with no malformed packet and no expert info, and the header and
// record fields (`tshark -T fields`) must be what was encoded: count, flow sequence
// (checked here: tshark 4.0 flags no v5 sequence gap itself), sampling mode and rate,
// engine, export time, and per flow (records of a split flow summed) the packets and
// octets, ports, protocol, interfaces, TCP flags, ToS and sysUptime times.
#define BOOST_TEST_MODULE netflow5_tshark_collector
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

#include "collectors/netflow5_flows.hpp"

using namespace ebpfix;
using namespace ebpfix::test;
using namespace std::chrono_literals;

namespace {

struct Sandbox {
    Sandbox() { enter_collector_sandbox({"dumpcap", "tshark"}, "tshark NetFlow v5 collector test"); }
};
BOOST_TEST_GLOBAL_FIXTURE(Sandbox);

std::uint64_t wall_ms() {
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// The -T fields columns, in this order.
const std::vector<std::string> k_fields{
    "frame.number",     "cflow.version",   "cflow.count",        "cflow.sysuptime",  "cflow.unix_secs",
    "cflow.unix_nsecs", "cflow.sequence",  "cflow.engine_type",  "cflow.engine_id",  "cflow.samplingmode",
    "cflow.samplerate", "cflow.srcaddr",   "cflow.dstaddr",      "cflow.nexthop",    "cflow.inputint",
    "cflow.outputint",  "cflow.packets",   "cflow.octets",       "cflow.timestart",  "cflow.timeend",
    "cflow.srcport",    "cflow.dstport",   "cflow.tcpflags",     "cflow.protocol",   "cflow.tos",
    "cflow.srcas",      "cflow.dstas",     "cflow.srcmask",      "cflow.dstmask"};

struct Dissection {
    std::string verbose;                                        // tshark -V
    std::vector<std::map<std::string, std::vector<std::string>>> frames;  // field -> one value per occurrence
};

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, sep)) out.push_back(item);
    if (!s.empty() && s.back() == sep) out.emplace_back();
    return out;
}

Dissection capture_and_dissect(std::uint16_t port, const std::vector<std::vector<std::uint8_t>>& datagrams) {
    TempDir dir("ebpfix-tshark-v5");
    auto pcap = dir.path() / "export.pcapng";
    {
        ChildProcess dumpcap({"dumpcap", "-q", "-i", "lo", "-f", "udp port " + std::to_string(port), "-c",
                              std::to_string(datagrams.size()), "-w", pcap.string()},
                             dir.path() / "dumpcap.log");
        wait_for_text(dumpcap.output_file(), "Capturing on", 20s);
        // "Capturing on" is printed a moment before the filter is live on the socket.
        std::this_thread::sleep_for(1s);
        send_udp("127.0.0.1", port, datagrams);
        auto st = dumpcap.wait_exit(10s);
        if (!st) st = dumpcap.stop(SIGTERM, 10s);  // it missed some: the frame count below fails
        BOOST_TEST_REQUIRE(WIFEXITED(*st), dumpcap.output());
        BOOST_TEST_REQUIRE(WEXITSTATUS(*st) == 0, dumpcap.output());
    }
    const std::string decode_as = "udp.port==" + std::to_string(port) + ",cflow";
    Dissection d;
    auto verbose = run_command({"tshark", "-n", "-r", pcap.string(), "-d", decode_as, "-V"}, 120s, {{"TZ", "UTC"}});
    BOOST_TEST_REQUIRE(verbose.exit_code == 0, verbose.output);
    d.verbose = verbose.output;
    std::vector<std::string> argv{"tshark", "-n", "-r", pcap.string(), "-d", decode_as, "-T", "fields",
                                  "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"};
    for (const auto& f : k_fields) {
        argv.push_back("-e");
        argv.push_back(f);
    }
    auto fields = run_command(argv, 120s, {{"TZ", "UTC"}});
    BOOST_TEST_REQUIRE(fields.exit_code == 0, fields.output);
    if (const char* keep = std::getenv("EBPFIX_KEEP_COLLECTOR_OUTPUT")) {
        std::ofstream(std::filesystem::path(keep) / ("tshark-v5-" + std::to_string(port) + ".txt")) << d.verbose;
        std::ofstream(std::filesystem::path(keep) / ("tshark-v5-fields-" + std::to_string(port) + ".txt")) << fields.output;
    }
    std::istringstream lines(fields.output);
    std::string line;
    while (std::getline(lines, line)) {
        // stderr is merged in: tshark's notes ("Running as user root ...") have no tab.
        if (line.find('\t') == std::string::npos) {
            BOOST_TEST_MESSAGE("tshark: " << line);
            continue;
        }
        auto columns = split(line, '\t');
        BOOST_TEST_REQUIRE(columns.size() == k_fields.size(), "tshark fields line: " << line);
        std::map<std::string, std::vector<std::string>> frame;
        for (std::size_t i = 0; i < columns.size(); ++i)
            frame[k_fields[i]] = columns[i].empty() ? std::vector<std::string>{} : split(columns[i], ',');
        d.frames.push_back(std::move(frame));
    }
    return d;
}

// Lines that mean the dissector could not decode something or flags it.
void expect_clean_dissection(const std::string& text) {
    std::istringstream lines(text);
    std::string line;
    std::size_t bad = 0;
    for (std::size_t n = 1; std::getline(lines, line); ++n) {
        for (const char* marker : {"Malformed", "Expert Info", "[Data (", "FlowSets impossible"}) {
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

// sysUptime-relative ms as tshark prints a relative time: "S.mmm000000".
std::string seconds(std::uint64_t ms) {
    std::ostringstream s;
    s << ms / 1000 << '.' << std::setw(3) << std::setfill('0') << ms % 1000 << "000000";
    return s.str();
}

std::string hex2(unsigned v) {
    std::ostringstream s;
    s << "0x" << std::hex << std::setw(2) << std::setfill('0') << v;
    return s.str();
}

struct Shown {
    std::uint64_t packets = 0, octets = 0;
    std::size_t records = 0;
    std::vector<std::map<std::string, std::string>> each;  // per record: field -> value
};

void run_case(std::uint16_t port, std::uint32_t sampling, std::size_t random_count, std::uint64_t seed) {
    std::uint64_t now = wall_ms();
    std::uint64_t origin = now - 7200123;
    auto flows = netflow5_flows(now, random_count, seed);
    ipfix::Netflow5Options o;
    o.engine_type = 2;
    o.engine_id = 9;
    o.sampling_interval = sampling;
    o.uptime_origin_ms = origin;
    ipfix::Netflow5Counters counters;
    auto datagrams = encode_netflow5(flows, o, now, &counters);
    auto d = capture_and_dissect(port, datagrams);
    BOOST_TEST_MESSAGE("NetFlow v5: " << flows.size() << " flows, " << counters.data_records << " v5 records, "
                                      << datagrams.size() << " datagrams");
    BOOST_TEST(count_of(d.verbose, "Cisco NetFlow/IPFIX\n") == datagrams.size());
    expect_clean_dissection(d.verbose);
    BOOST_TEST_REQUIRE(d.frames.size() == datagrams.size());

    // Headers: count, sequence = records before, time, engine, sampling.
    std::uint64_t records_before = 0;
    std::map<std::string, Shown> by_key;
    for (std::size_t i = 0; i < d.frames.size(); ++i) {
        auto& fr = d.frames[i];
        auto one = [&](const char* f) {
            return fr[f].size() == 1 ? fr[f][0] : "<" + std::to_string(fr[f].size()) + " values>";
        };
        BOOST_TEST_CONTEXT("frame " << one("frame.number")) {
            BOOST_TEST(one("cflow.version") == "5");
            const std::size_t count = fr["cflow.srcaddr"].size();
            BOOST_TEST(one("cflow.count") == std::to_string(count));
            BOOST_TEST(count >= 1u);
            BOOST_TEST(count <= 30u);
            BOOST_TEST(one("cflow.sequence") == std::to_string(records_before));
            BOOST_TEST(one("cflow.sysuptime") == seconds(now - origin));
            BOOST_TEST(one("cflow.unix_secs") == std::to_string(now / 1000));
            BOOST_TEST(one("cflow.unix_nsecs") == std::to_string(now % 1000 * 1000000));
            BOOST_TEST(one("cflow.engine_type") == "2");
            BOOST_TEST(one("cflow.engine_id") == "9");
            BOOST_TEST(one("cflow.samplingmode") == (sampling > 1 ? "1" : "0"));
            BOOST_TEST(one("cflow.samplerate") == std::to_string(sampling > 1 ? sampling : 0));
            for (const char* f : {"cflow.dstaddr", "cflow.nexthop", "cflow.inputint", "cflow.outputint", "cflow.packets",
                                  "cflow.octets", "cflow.timestart", "cflow.timeend", "cflow.srcport", "cflow.dstport",
                                  "cflow.tcpflags", "cflow.protocol", "cflow.tos", "cflow.srcas", "cflow.dstas",
                                  "cflow.srcmask", "cflow.dstmask"})
                BOOST_TEST_REQUIRE(fr[f].size() == count, f << " has " << fr[f].size() << " values for " << count << " records");
            for (std::size_t k = 0; k < count; ++k) {
                std::map<std::string, std::string> rec;
                for (const auto& f : k_fields)
                    if (fr[f].size() == count) rec[f] = fr[f][k];
                Shown& s = by_key[v5_key(rec["cflow.srcaddr"], rec["cflow.srcport"], rec["cflow.dstaddr"],
                                         rec["cflow.dstport"], rec["cflow.protocol"])];
                s.packets += std::stoull(rec["cflow.packets"]);
                s.octets += std::stoull(rec["cflow.octets"]);
                ++s.records;
                s.each.push_back(std::move(rec));
            }
            records_before += count;
        }
    }
    BOOST_TEST(records_before == counters.data_records);

    std::size_t v4 = 0;
    for (const auto& f : flows) {
        auto it = by_key.find(v5_key(f));
        if (f.key.ip_version == 6) {
            BOOST_TEST((it == by_key.end()), "tshark shows the IPv6 flow " << describe(f));
            continue;
        }
        ++v4;
        if (it == by_key.end()) {
            BOOST_ERROR("tshark shows no flow " << describe(f) << " (key " << v5_key(f) << ")");
            continue;
        }
        BOOST_TEST_CONTEXT(describe(f)) {
            BOOST_TEST(it->second.packets == f.packets);
            BOOST_TEST(it->second.octets == f.bytes);
            for (const auto& rec : it->second.each) {
                auto v = [&](const char* k) { auto i = rec.find(k); return i == rec.end() ? std::string("<absent>") : i->second; };
                BOOST_TEST(v("cflow.nexthop") == "0.0.0.0");
                BOOST_TEST(v("cflow.inputint") == std::to_string(v5_ifindex(f.ingress_ifindex())));
                BOOST_TEST(v("cflow.outputint") == std::to_string(v5_ifindex(f.egress_ifindex())));
                BOOST_TEST(v("cflow.timestart") == seconds(f.start_ms - origin));
                BOOST_TEST(v("cflow.timeend") == seconds(f.end_ms - origin));
                BOOST_TEST(v("cflow.tcpflags") == hex2(f.tcp_flags & 0xffu));
                BOOST_TEST(v("cflow.tos") == hex2(f.tos));
                BOOST_TEST(v("cflow.srcas") == "0");
                BOOST_TEST(v("cflow.dstas") == "0");
                BOOST_TEST(v("cflow.srcmask") == "0");
                BOOST_TEST(v("cflow.dstmask") == "0");
            }
        }
    }
    BOOST_TEST(by_key.size() == v4, "tshark shows " << by_key.size() << " flows, " << v4 << " IPv4 flows were sent");
}

}  // namespace

BOOST_AUTO_TEST_CASE(netflow5_dissects_cleanly) { run_case(2056, 0, 300, 7); }

BOOST_AUTO_TEST_CASE(netflow5_with_sampling_dissects_cleanly) { run_case(2057, 100, 40, 8); }
