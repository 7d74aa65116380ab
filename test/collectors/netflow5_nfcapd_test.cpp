// Real collector for NetFlow v5: Debian's nfcapd/nfdump 1.7.1. The v5 encoder's
// datagrams go over UDP on a private loopback to an nfcapd child; after SIGTERM `nfdump
// -o raw` must show every IPv4 flow (records of a split flow summed) with the exact
// packets, bytes, ports, protocol, times, TCP flags, ToS and interfaces, no IPv6 flow,
// and `nfdump -I` no sequence failure. A second run with 1-in-10 sampling shows that
// nfdump reads the sampling field: it scales the counts by 10.
#define BOOST_TEST_MODULE netflow5_nfcapd_collector
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include "collectors/netflow5_flows.hpp"

using namespace ebpfix;
using namespace ebpfix::test;
using namespace std::chrono_literals;

namespace {

struct Sandbox {
    Sandbox() { enter_collector_sandbox({"nfcapd", "nfdump"}, "nfcapd NetFlow v5 collector test"); }
};
BOOST_TEST_GLOBAL_FIXTURE(Sandbox);

std::uint64_t wall_ms() {
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

struct Run {
    std::vector<std::map<std::string, std::string>> records;
    std::string stat_output;
    std::size_t datagrams = 0;
    ipfix::Netflow5Counters counters;
};

Run export_to_nfcapd(std::uint16_t port, const std::vector<FlowRecord>& flows, const ipfix::Netflow5Options& options,
                     std::uint64_t now_ms) {
    TempDir dir("ebpfix-nfcapd-v5");
    Run run;
    auto datagrams = encode_netflow5(flows, options, now_ms, &run.counters);
    run.datagrams = datagrams.size();
    {
        ChildProcess nfcapd({"nfcapd", "-w", dir.path().string(), "-b", "127.0.0.1", "-p", std::to_string(port)},
                            dir.path() / "nfcapd.log");
        wait_for_udp_port(port, false, 10s);
        send_udp("127.0.0.1", port, datagrams);
        std::this_thread::sleep_for(300ms);  // let nfcapd drain its socket
        int status = nfcapd.stop(SIGTERM, 20s);
        BOOST_TEST_REQUIRE(WIFEXITED(status), "nfcapd died by a signal:\n" << nfcapd.output());
        BOOST_TEST(WEXITSTATUS(status) == 0, "nfcapd exit " << WEXITSTATUS(status) << ":\n" << nfcapd.output());
        BOOST_TEST_MESSAGE("nfcapd: " << nfcapd.output());
    }
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
        if (e.path().filename().string().rfind("nfcapd.2", 0) == 0) files.push_back(e.path());
    BOOST_TEST_REQUIRE(files.size() == 1u, "expected one closed nfcapd file, found " << files.size());
    auto raw = run_command({"nfdump", "-r", files[0].string(), "-o", "raw"}, 60s);
    BOOST_TEST_REQUIRE(raw.exit_code == 0, raw.output);
    run.records = parse_nfdump_raw(raw.output);
    if (const char* keep = std::getenv("EBPFIX_KEEP_COLLECTOR_OUTPUT"))
        std::ofstream(std::filesystem::path(keep) / ("nfdump-v5-" + std::to_string(port) + ".txt")) << raw.output;
    auto stat = run_command({"nfdump", "-r", files[0].string(), "-I"}, 60s);
    BOOST_TEST_REQUIRE(stat.exit_code == 0, stat.output);
    run.stat_output = stat.output;
    return run;
}

std::string first_token(const std::string& s) { return s.substr(0, s.find(' ')); }

// nfdump's records grouped by flow key: the records of a split flow share one key.
struct Shown {
    std::uint64_t packets = 0, bytes = 0;
    std::vector<const std::map<std::string, std::string>*> records;
};

void check_records(const std::vector<FlowRecord>& flows, const Run& run, const ipfix::Netflow5Options& options,
                   std::uint64_t scale) {
    std::map<std::string, Shown> by_key;
    for (const auto& r : run.records) {
        auto get = [&](const char* k) { auto it = r.find(k); return it == r.end() ? std::string("0") : it->second; };
        std::string proto = first_token(get("proto"));
        // nfdump shows the ICMP type.code in an "ICMP" line; its dst port is type << 8 | code.
        std::string dport = get("dst port");
        if (r.count("ICMP")) {
            std::string tc = first_token(r.at("ICMP"));
            auto dot = tc.find('.');
            dport = std::to_string(std::stoul(tc.substr(0, dot)) << 8 | std::stoul(tc.substr(dot + 1)));
        }
        Shown& s = by_key[v5_key(get("src addr"), get("src port"), get("dst addr"), dport, proto)];
        s.packets += std::stoull(get("in packets"));
        s.bytes += std::stoull(get("in bytes"));
        s.records.push_back(&r);
    }
    std::size_t v4 = 0;
    for (const auto& f : flows) {
        auto it = by_key.find(v5_key(f));
        if (f.key.ip_version == 6) {
            BOOST_TEST((it == by_key.end()), "nfdump shows the IPv6 flow " << describe(f));
            continue;
        }
        ++v4;
        if (it == by_key.end()) {
            BOOST_ERROR("nfdump has no record for " << describe(f) << " (key " << v5_key(f) << ")");
            continue;
        }
        BOOST_TEST_CONTEXT(describe(f)) {
            BOOST_TEST(it->second.packets == f.packets * scale);
            BOOST_TEST(it->second.bytes == f.bytes * scale);
            for (const auto* rec : it->second.records) {
                const auto& r = *rec;
                auto v = [&](const char* key, const char* absent) {
                    auto i = r.find(key);
                    return i == r.end() ? std::string(absent) : i->second;
                };
                auto hex = [&](const char* key) { return std::to_string(std::strtoul(v(key, "").c_str(), nullptr, 16)); };
                // v5 carries unix_nsecs, so nfdump rebuilds the times to the millisecond.
                BOOST_TEST(v("first", "<absent>") == std::to_string(f.start_ms));
                BOOST_TEST(v("last", "<absent>") == std::to_string(f.end_ms));
                BOOST_TEST(hex("tcp flags") == std::to_string(f.tcp_flags & 0xffu));
                // The raw printer shows ToS as "src tos" for ports and "dst tos" with the
                // interfaces; an ICMP record without interfaces has neither line.
                if (r.count("src tos") || r.count("dst tos"))
                    BOOST_TEST(v(r.count("src tos") ? "src tos" : "dst tos", "") == std::to_string(f.tos));
                else
                    BOOST_TEST((f.key.is_icmp() && !r.count("input") && !r.count("output")), "no ToS line");
                BOOST_TEST(v("engine type", "<absent>") == std::to_string(options.engine_type));
                BOOST_TEST(v("engine ID", "<absent>") == std::to_string(options.engine_id));
                const char* flags = options.sampling_interval > 1 ? "NETFLOW v5, Sampled" : "NETFLOW v5, Unsampled";
                BOOST_TEST(v("Flags", "").find(flags) != std::string::npos, v("Flags", "<absent>"));
                // nfdump stores the interfaces only when one is non-zero.
                BOOST_TEST(v("input", "0") == std::to_string(v5_ifindex(f.ingress_ifindex())));
                BOOST_TEST(v("output", "0") == std::to_string(v5_ifindex(f.egress_ifindex())));
            }
        }
    }
    BOOST_TEST(by_key.size() == v4, "nfdump shows " << by_key.size() << " flows, " << v4 << " IPv4 flows were sent");
    BOOST_TEST(run.records.size() == run.counters.data_records);
}

void check_stat(const Run& run) {
    BOOST_TEST(run.stat_output.find("Sequence failures: 0\n") != std::string::npos, run.stat_output);
    BOOST_TEST(run.stat_output.find("Flows: " + std::to_string(run.counters.data_records) + "\n") != std::string::npos,
               run.stat_output);
}

}  // namespace

BOOST_AUTO_TEST_CASE(netflow5_to_nfcapd_over_ipv4_loopback) {
    std::uint64_t now = wall_ms();
    auto flows = netflow5_flows(now, 400, 5);
    ipfix::Netflow5Options o;
    o.engine_type = 1;
    o.engine_id = 7;
    o.uptime_origin_ms = now - 3600000;
    auto run = export_to_nfcapd(9995, flows, o, now);
    BOOST_TEST_MESSAGE("NetFlow v5: " << flows.size() << " flows, " << run.counters.data_records << " v5 records in "
                                      << run.datagrams << " datagrams");
    BOOST_TEST(run.datagrams >= 10u);
    BOOST_TEST(run.counters.split_records >= 2u);
    BOOST_TEST(run.counters.ifindex_clamped_records >= 1u);
    BOOST_TEST(run.counters.not_exportable_records >= 2u);
    check_records(flows, run, o, 1);
    check_stat(run);
}

BOOST_AUTO_TEST_CASE(netflow5_sampling_field_makes_nfdump_scale_the_counts) {
    std::uint64_t now = wall_ms();
    auto flows = netflow5_flows(now, 40, 6);
    ipfix::Netflow5Options o;
    o.sampling_interval = 10;
    o.uptime_origin_ms = now - 600000;
    auto run = export_to_nfcapd(9996, flows, o, now);
    check_records(flows, run, o, 10);
    check_stat(run);
}
