// Real collector: Debian's nfcapd/nfdump 1.7.1. The encoder's messages go over UDP on a
// private loopback to an nfcapd child (IPFIX over 127.0.0.1, NetFlow v9 over ::1); after
// SIGTERM (nfcapd flushes and closes its file) `nfdump -o raw` must show every flow with
// the exact addresses, ports, protocol, packets, bytes, start/end ms, TCP flags and ToS,
// and `nfdump -I` must report no sequence failure. With 1-in-10 sampling announced (the
// options first, as the exporter sends them), nfdump must store and total every packet
// and byte count times 10, exactly.
#define BOOST_TEST_MODULE nfcapd_collector
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
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
    Sandbox() { enter_collector_sandbox({"nfcapd", "nfdump"}, "nfcapd collector test"); }
};
BOOST_TEST_GLOBAL_FIXTURE(Sandbox);

std::uint64_t wall_ms() {
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string key_text(const std::string& src, const std::string& dst, const std::string& sport,
                     const std::string& dport, const std::string& proto) {
    return src + " " + sport + " > " + dst + " " + dport + " p" + proto;
}

struct Run {
    std::vector<std::map<std::string, std::string>> records;
    std::string stat_output;
    std::string exporter_output;  // nfdump -E: exporters and their samplers
    std::size_t messages = 0;
};

struct Sampling {
    std::uint32_t interval = 0;  // 0 = off: no options sent
    ipfix::SamplingAlgorithm algorithm = ipfix::SamplingAlgorithm::random;
};

Run run_nfcapd(const std::string& address, std::uint16_t port, const std::vector<std::vector<std::uint8_t>>& datagrams);

// Encodes `flows`, sends them to an nfcapd child on `address`, stops it, reads its file.
// With sampling on, the options (sampling, statistics) go first, as on the exporter's
// first cycle.
Run export_to_nfcapd(Protocol protocol, const std::string& address, std::uint16_t port,
                     const std::vector<FlowRecord>& flows, std::uint64_t now_ms, std::uint64_t origin_ms,
                     Sampling sampling = {}) {
    ipfix::EncoderOptions o;
    o.protocol = protocol;
    o.observation_domain = 77;
    o.max_message_size = 1472;
    o.uptime_origin_ms = origin_ms;
    o.sampling_interval = sampling.interval;
    o.sampling_algorithm = sampling.algorithm;
    ipfix::FlowEncoder enc(o);
    std::vector<std::vector<std::uint8_t>> datagrams;
    // Two drain cycles, so the stream has several messages and a sequence to check.
    std::size_t half = flows.size() / 2;
    auto sink = [&](gsl::span<const std::uint8_t> m) { datagrams.emplace_back(m.begin(), m.end()); };
    if (sampling.interval > 1) enc.encode_options(ipfix::ExporterStatistics{}, {}, now_ms, sink);
    enc.encode(std::span<const FlowRecord>(flows.data(), half), now_ms, sink);
    enc.encode(std::span<const FlowRecord>(flows.data() + half, flows.size() - half), now_ms, sink);
    // Our own strict decoder must accept the stream first.
    FlowDecoder check(protocol);
    for (const auto& d : datagrams) check.decode(d);
    BOOST_TEST_REQUIRE(check.flow_records() == flows.size());
    if (sampling.interval > 1) {
        BOOST_TEST_REQUIRE(check.sampling_interval(77).value_or(0) == sampling.interval);
        BOOST_TEST_REQUIRE(check.sampling_algorithm(77).value_or(0) == ipfix::sampling_algorithm_ie_value(sampling.algorithm));
    }
    return run_nfcapd(address, port, datagrams);
}

// Sends the datagrams to an nfcapd child on `address`, stops it, reads its file.
Run run_nfcapd(const std::string& address, std::uint16_t port, const std::vector<std::vector<std::uint8_t>>& datagrams) {
    TempDir dir("ebpfix-nfcapd");
    bool v6 = address.find(':') != std::string::npos;
    std::vector<std::string> argv{"nfcapd", "-w", dir.path().string(), "-b", address, "-p", std::to_string(port)};
    if (v6) argv.insert(argv.begin() + 1, "-6");
    Run run;
    run.messages = datagrams.size();
    {
        ChildProcess nfcapd(argv, dir.path() / "nfcapd.log");
        wait_for_udp_port(port, v6, 10s);
        send_udp(address, port, datagrams);
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
    // EBPFIX_KEEP_COLLECTOR_OUTPUT=DIR keeps nfdump's text for a look by hand.
    if (const char* keep = std::getenv("EBPFIX_KEEP_COLLECTOR_OUTPUT"))
        std::ofstream(std::filesystem::path(keep) / ("nfdump-" + std::to_string(port) + ".txt")) << raw.output;
    auto stat = run_command({"nfdump", "-r", files[0].string(), "-I"}, 60s);
    BOOST_TEST_REQUIRE(stat.exit_code == 0, stat.output);
    run.stat_output = stat.output;
    auto exporters = run_command({"nfdump", "-E", files[0].string()}, 60s);
    BOOST_TEST_REQUIRE(exporters.exit_code == 0, exporters.output);
    run.exporter_output = exporters.output;
    if (const char* keep = std::getenv("EBPFIX_KEEP_COLLECTOR_OUTPUT")) {
        std::ofstream(std::filesystem::path(keep) / ("nfdump-I-" + std::to_string(port) + ".txt")) << stat.output;
        std::ofstream(std::filesystem::path(keep) / ("nfdump-E-" + std::to_string(port) + ".txt")) << exporters.output;
    }
    return run;
}

std::string expected_icmp(const FlowRecord& f) {
    return std::to_string(f.key.dst_port >> 8) + "." + std::to_string(f.key.dst_port & 0xff);
}

std::string first_token(const std::string& s) { return s.substr(0, s.find(' ')); }

// Checks every flow against nfdump's records, matched by addresses, protocol and source
// port (the destination port is checked, not matched: it is where collectors disagree).
// start/end are compared with the shift the collector's time base implies (0 for IPFIX).
// `scale`: the sampling interval nfdump must multiply packets and bytes by (1 = none).
void check_records(Protocol protocol, const std::vector<FlowRecord>& flows, const Run& run, std::int64_t time_shift_ms,
                   std::uint64_t scale = 1) {
    BOOST_TEST_REQUIRE(run.records.size() == flows.size());
    std::map<std::string, const std::map<std::string, std::string>*> by_key;
    for (const auto& r : run.records) {
        auto get = [&](const char* k) { auto it = r.find(k); return it == r.end() ? std::string("0") : it->second; };
        by_key[key_text(get("src addr"), get("dst addr"), get("src port"), "*", first_token(get("proto")))] = &r;
    }
    std::size_t checked = 0, dst_port_lost = 0;
    for (const auto& f : flows) {
        std::string k = key_text(address_text(f.key, true), address_text(f.key, false), std::to_string(f.key.src_port),
                                 "*", std::to_string(f.key.protocol));
        auto it = by_key.find(k);
        if (it == by_key.end()) {
            BOOST_ERROR("nfdump has no record for " << describe(f));
            continue;
        }
        const auto& r = *it->second;
        BOOST_TEST_CONTEXT(describe(f)) {
            // Destination port / ICMP type.code: counted, with the first few examples, so a
            // systematic loss reads as one failure.
            std::string shown, sent;
            if (f.key.is_icmp()) {
                shown = r.count("ICMP") ? "ICMP " + first_token(r.at("ICMP")) : "no ICMP line";
                sent = "ICMP " + expected_icmp(f);
            } else {
                shown = r.count("dst port") ? "dst port " + r.at("dst port") : "no dst port line";
                sent = "dst port " + std::to_string(f.key.dst_port);
            }
            if (shown != sent && ++dst_port_lost <= 3)
                BOOST_TEST_MESSAGE("nfdump shows " << shown << " for " << describe(f));
            auto v = [&](const char* key) { auto f2 = r.find(key); return f2 == r.end() ? std::string("<absent>") : f2->second; };
            auto hex = [&](const char* key) { return std::to_string(std::strtoul(v(key).c_str(), nullptr, 16)); };
            BOOST_TEST(v("in packets") == std::to_string(f.packets * scale));
            BOOST_TEST(v("in bytes") == std::to_string(f.bytes * scale));
            BOOST_TEST(v("first") == std::to_string(std::int64_t(f.start_ms) + time_shift_ms));
            BOOST_TEST(v("last") == std::to_string(std::int64_t(f.end_ms) + time_shift_ms));
            BOOST_TEST(hex("tcp flags") == std::to_string(f.tcp_flags & 0xffu));
            // The raw printer of nfdump 1.7.1 has no "src tos" line for ICMP; its "dst tos"
            // carries the same ipClassOfService there (and for every record without IE 55).
            BOOST_TEST(v(r.count("src tos") ? "src tos" : "dst tos") == std::to_string(f.tos));
            BOOST_TEST(v("input") == std::to_string(f.ingress_ifindex()));
            BOOST_TEST(v("output") == std::to_string(f.egress_ifindex()));
            BOOST_TEST(v("direction") == std::to_string(unsigned(f.key.direction)));
            BOOST_TEST(v("src vlan") == std::to_string(f.key.vlan_id));
            // nfdump 1.7.1 reads flowEndReason (136) from IPFIX only; v9 shows 0x00.
            if (protocol == Protocol::ipfix) BOOST_TEST(hex("end reason") == std::to_string(unsigned(f.end_reason)));
        }
        ++checked;
    }
    BOOST_TEST(dst_port_lost == 0u, dst_port_lost << " flows lost their destination port or ICMP type.code in nfdump"
                                                   " (examples above with --log_level=message)");
    BOOST_TEST(checked == flows.size());
}

}  // namespace

BOOST_AUTO_TEST_CASE(ipfix_to_nfcapd_over_ipv4_loopback) {
    std::uint64_t now = wall_ms();
    auto flows = collector_flows(now, 300, 1);
    auto run = export_to_nfcapd(Protocol::ipfix, "127.0.0.1", 4739, flows, now, now - 3600000);
    BOOST_TEST_MESSAGE("IPFIX: " << flows.size() << " flows in " << run.messages << " messages");
    BOOST_TEST(run.messages >= 10u);
    check_records(Protocol::ipfix, flows, run, 0);
    BOOST_TEST(run.stat_output.find("Sequence failures: 0\n") != std::string::npos, run.stat_output);
    BOOST_TEST(run.stat_output.find("Flows: " + std::to_string(flows.size()) + "\n") != std::string::npos,
               run.stat_output);
}

BOOST_AUTO_TEST_CASE(netflow9_to_nfcapd_over_ipv6_loopback) {
    std::uint64_t now = wall_ms();
    auto flows = collector_flows(now, 300, 2);
    auto run = export_to_nfcapd(Protocol::netflow9, "::1", 2055, flows, now, now - 3600000);
    BOOST_TEST_MESSAGE("NetFlow v9: " << flows.size() << " flows in " << run.messages << " messages");
    BOOST_TEST(run.messages >= 10u);
    // nfcapd puts sysUptime 0 at unix_secs * 1000 - sysUptime: the export time's ms
    // fraction is lost (the v9 header carries whole seconds).
    check_records(Protocol::netflow9, flows, run, -std::int64_t(now % 1000));
    BOOST_TEST(run.stat_output.find("Sequence failures: 0\n") != std::string::npos, run.stat_output);
    BOOST_TEST(run.stat_output.find("Flows: " + std::to_string(flows.size()) + "\n") != std::string::npos,
               run.stat_output);
}

namespace {

// The collector flows with counts small enough that 10 x fits 64 bits (nfdump multiplies
// in uint64); still seeded, so every count is known.
std::vector<FlowRecord> sampled_flows(std::uint64_t now, std::uint64_t seed) {
    auto flows = collector_flows(now, 300, seed);
    for (auto& f : flows) {
        f.packets = 1 + f.packets % 1000000;
        f.bytes = 40 * f.packets + f.bytes % 1000000;
    }
    return flows;
}

std::uint64_t sum_packets(const std::vector<FlowRecord>& flows) {
    std::uint64_t n = 0;
    for (const auto& f : flows) n += f.packets;
    return n;
}

std::uint64_t sum_bytes(const std::vector<FlowRecord>& flows) {
    std::uint64_t n = 0;
    for (const auto& f : flows) n += f.bytes;
    return n;
}

// Lines that start with `head` after their indentation.
std::size_t count_lines_starting(const std::string& text, const std::string& head) {
    std::istringstream lines(text);
    std::size_t n = 0;
    for (std::string line; std::getline(lines, line);) {
        auto start = line.find_first_not_of(' ');
        if (start != std::string::npos && line.compare(start, head.size(), head) == 0) ++n;
    }
    return n;
}

// nfdump -I totals: the flows and 10 x the raw packet and byte sums.
void check_scaled_totals(const std::vector<FlowRecord>& flows, const Run& run, std::uint64_t scale) {
    const std::string& st = run.stat_output;
    BOOST_TEST(st.find("Flows: " + std::to_string(flows.size()) + "\n") != std::string::npos, st);
    BOOST_TEST(st.find("Packets: " + std::to_string(sum_packets(flows) * scale) + "\n") != std::string::npos, st);
    BOOST_TEST(st.find("Bytes: " + std::to_string(sum_bytes(flows) * scale) + "\n") != std::string::npos, st);
}

// nfdump -E: exactly one sampler for the exporter, the "generic" one nfdump 1.7.1 makes
// from samplingInterval without samplingAlgorithm (template 258): 1 packet, N - 1 skipped.
// (It ignores 263, which has both; it would not store the algorithm from either.)
void expect_one_generic_sampler(const Run& run, std::uint32_t interval) {
    const std::string& e = run.exporter_output;
    BOOST_TEST(count_lines_starting(e, "Sampler:") == 1u, e);
    BOOST_TEST(e.find("Sampler: Generic Sampler: algorithm: 0, packet interval: 1, packet space: " +
                      std::to_string(interval - 1) + "\n") != std::string::npos,
               e);
}

}  // namespace

BOOST_AUTO_TEST_CASE(ipfix_sampled_1_in_10_is_scaled_by_nfdump) {
    std::uint64_t now = wall_ms();
    auto flows = sampled_flows(now, 4);
    auto run = export_to_nfcapd(Protocol::ipfix, "127.0.0.1", 4739, flows, now, now - 3600000,
                                {10, ipfix::SamplingAlgorithm::random});
    BOOST_TEST_MESSAGE("IPFIX sampled: " << flows.size() << " flows in " << run.messages << " messages\n"
                                         << run.exporter_output);
    check_records(Protocol::ipfix, flows, run, 0, 10);
    check_scaled_totals(flows, run, 10);
    expect_one_generic_sampler(run, 10);
    // nfdump 1.7.1 counts only flow records in the IPFIX sequence but re-syncs silently
    // until its first flow record, so options sent before any flow cost no failure.
    BOOST_TEST(run.stat_output.find("Sequence failures: 0\n") != std::string::npos, run.stat_output);
}

BOOST_AUTO_TEST_CASE(netflow9_sampled_1_in_10_is_scaled_by_nfdump) {
    std::uint64_t now = wall_ms();
    auto flows = sampled_flows(now, 5);
    auto run = export_to_nfcapd(Protocol::netflow9, "::1", 2055, flows, now, now - 3600000,
                                {10, ipfix::SamplingAlgorithm::hash});
    BOOST_TEST_MESSAGE("NetFlow v9 sampled: " << flows.size() << " flows in " << run.messages << " messages\n"
                                              << run.exporter_output);
    check_records(Protocol::netflow9, flows, run, -std::int64_t(now % 1000), 10);
    check_scaled_totals(flows, run, 10);
    expect_one_generic_sampler(run, 10);
    BOOST_TEST(run.stat_output.find("Sequence failures: 0\n") != std::string::npos, run.stat_output);
}

namespace {

constexpr std::uint32_t kDocPen = 32473;  // RFC 5612: PEN for documentation

// Flows with socket owners (two in three; the rest without), encoded with attribution.
std::vector<std::vector<std::uint8_t>> encode_with_owners(Protocol protocol, std::vector<FlowRecord>& flows,
                                                          std::uint64_t now_ms, std::uint64_t origin_ms,
                                                          std::uint32_t pen) {
    std::map<std::uint64_t, attribution::Owner> owners;
    attribution::Owner a;
    a.uid = 1000;
    a.user = "alice";
    a.pid = 4242;
    a.comm = "curl";
    a.cgroup_id = 0x1f2;
    a.cgroup = "/user.slice/user-1000.slice/" + std::string(300, 's') + ".scope";  // a 3-byte length
    owners[1] = a;
    attribution::Owner partial;
    partial.uid = 65534;
    partial.comm = "nobodyd";
    owners[2] = partial;
    for (std::size_t i = 0; i < flows.size(); ++i) flows[i].key.owner = i % 3 == 0 ? 0 : 1 + i % 2;
    ipfix::EncoderOptions o;
    o.protocol = protocol;
    o.observation_domain = 77;
    o.uptime_origin_ms = origin_ms;
    o.attribution = true;
    o.enterprise_number = pen;
    ipfix::FlowEncoder enc(o);
    ipfix::OwnerLookup lookup = [&](std::uint64_t cookie) -> const attribution::Owner* {
        auto it = owners.find(cookie);
        return it == owners.end() ? nullptr : &it->second;
    };
    std::vector<std::vector<std::uint8_t>> datagrams;
    auto sink = [&](gsl::span<const std::uint8_t> m) { datagrams.emplace_back(m.begin(), m.end()); };
    std::size_t half = flows.size() / 2;
    enc.encode(std::span<const FlowRecord>(flows.data(), half), lookup, now_ms, sink);
    enc.encode(std::span<const FlowRecord>(flows.data() + half, flows.size() - half), lookup, now_ms, sink);
    FlowDecoder check(protocol);
    std::size_t owned = 0;
    for (const auto& d : datagrams)
        for (const auto& rec : check.decode(d).flows) owned += rec.has(371) ? 1 : 0;
    BOOST_TEST_REQUIRE(check.flow_records() == flows.size());
    BOOST_TEST_REQUIRE(owned == flows.size() - (flows.size() + 2) / 3);
    return datagrams;
}

}  // namespace

// nfdump ignores userName, applicationName and the enterprise IEs it does not know (it
// stores neither), and still reads every flow of the attribution templates exactly.
BOOST_AUTO_TEST_CASE(ipfix_attribution_to_nfcapd_keeps_every_flow) {
    std::uint64_t now = wall_ms();
    auto flows = collector_flows(now, 300, 9);
    auto datagrams = encode_with_owners(Protocol::ipfix, flows, now, now - 3600000, kDocPen);
    auto run = run_nfcapd("127.0.0.1", 4739, datagrams);
    BOOST_TEST_MESSAGE("IPFIX attribution: " << flows.size() << " flows in " << run.messages << " messages");
    check_records(Protocol::ipfix, flows, run, 0);
    BOOST_TEST(run.stat_output.find("Sequence failures: 0\n") != std::string::npos, run.stat_output);
    BOOST_TEST(run.stat_output.find("Flows: " + std::to_string(flows.size()) + "\n") != std::string::npos,
               run.stat_output);
}

BOOST_AUTO_TEST_CASE(netflow9_attribution_to_nfcapd_keeps_every_flow) {
    std::uint64_t now = wall_ms();
    auto flows = collector_flows(now, 300, 10);
    auto datagrams = encode_with_owners(Protocol::netflow9, flows, now, now - 3600000, kDocPen);
    auto run = run_nfcapd("::1", 2055, datagrams);
    BOOST_TEST_MESSAGE("NetFlow v9 attribution: " << flows.size() << " flows in " << run.messages << " messages");
    check_records(Protocol::netflow9, flows, run, -std::int64_t(now % 1000));
    BOOST_TEST(run.stat_output.find("Sequence failures: 0\n") != std::string::npos, run.stat_output);
    BOOST_TEST(run.stat_output.find("Flows: " + std::to_string(flows.size()) + "\n") != std::string::npos,
               run.stat_output);
}

// RFC 5103 biflows: nfdump maps the reverse octet/packet counts to its "out bytes" / "out
// packets" and reads biflowDirection; the forward fields stay the flow's (the reverse
// flags and times come first in template 268/269, see templates.def). Its -I totals add
// in and out: they equal the uniflow totals exactly.
BOOST_AUTO_TEST_CASE(ipfix_biflows_to_nfcapd) {
    std::uint64_t now = wall_ms();
    auto records = sampled_flows(now, 11);  // counts small enough for nfdump's 64-bit totals
    FlowGenerator gen(11, now - 600000, now);
    for (std::size_t i = 0, n = records.size(); i < n; ++i) {
        auto rk = ipfix::reverse_key(records[i].key);
        if (!rk || i % 4 == 0) continue;
        FlowRecord back = gen.next();
        back.key = *rk;
        back.packets = 1 + back.packets % 1000000;
        back.bytes = 40 * back.packets + back.bytes % 1000000;
        back.tcp_flags = back.key.protocol == 6 ? back.tcp_flags & 0xff : 0;  // flags only for TCP
        records.push_back(back);
    }
    auto biflows = ipfix::pair_biflows(records);
    ipfix::EncoderOptions o;
    o.observation_domain = 77;
    o.biflow = true;
    ipfix::FlowEncoder enc(o);
    std::vector<std::vector<std::uint8_t>> datagrams;
    enc.encode_biflows(biflows, now, [&](gsl::span<const std::uint8_t> m) { datagrams.emplace_back(m.begin(), m.end()); });
    FlowDecoder check(Protocol::ipfix);
    for (const auto& d : datagrams) check.decode(d);
    auto run = run_nfcapd("127.0.0.1", 4739, datagrams);
    std::size_t pairs = 0;
    for (const auto& b : biflows) pairs += b.reverse ? 1 : 0;
    BOOST_TEST_MESSAGE("IPFIX biflows: " << records.size() << " records, " << biflows.size() << " biflows (" << pairs
                                         << " pairs) in " << run.messages << " messages");
    BOOST_TEST_REQUIRE(pairs > 100u);
    // The forward records, as nfdump shows every uniflow record; then the reverse side.
    std::vector<FlowRecord> forward;
    for (const auto& b : biflows) forward.push_back(b.forward);
    check_records(Protocol::ipfix, forward, run, 0);
    std::map<std::string, const std::map<std::string, std::string>*> by_key;
    for (const auto& r : run.records) {
        auto get = [&](const char* k) { auto it = r.find(k); return it == r.end() ? std::string("0") : it->second; };
        by_key[key_text(get("src addr"), get("dst addr"), get("src port"), "*", first_token(get("proto")))] = &r;
    }
    std::size_t checked = 0;
    for (const auto& b : biflows) {
        const FlowRecord& f = b.forward;
        auto it = by_key.find(key_text(address_text(f.key, true), address_text(f.key, false),
                                       std::to_string(f.key.src_port), "*", std::to_string(f.key.protocol)));
        if (it == by_key.end()) continue;  // check_records reported it
        const auto& r = *it->second;
        auto v = [&](const char* key) { auto f2 = r.find(key); return f2 == r.end() ? std::string("<absent>") : f2->second; };
        BOOST_TEST_CONTEXT(describe(f)) {
            BOOST_TEST(v("out packets") == std::to_string(b.reverse ? b.reverse->packets : 0));
            BOOST_TEST(v("out bytes") == std::to_string(b.reverse ? b.reverse->bytes : 0));
            BOOST_TEST(std::strtoul(v("biFlow Dir").c_str(), nullptr, 16) == unsigned(b.direction));
        }
        ++checked;
    }
    BOOST_TEST(checked == biflows.size());
    BOOST_TEST(run.stat_output.find("Flows: " + std::to_string(biflows.size()) + "\n") != std::string::npos,
               run.stat_output);
    BOOST_TEST(run.stat_output.find("Packets: " + std::to_string(sum_packets(records)) + "\n") != std::string::npos,
               run.stat_output);
    BOOST_TEST(run.stat_output.find("Bytes: " + std::to_string(sum_bytes(records)) + "\n") != std::string::npos,
               run.stat_output);
}
