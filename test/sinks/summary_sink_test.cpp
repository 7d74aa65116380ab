// The run summary: pktstat-bpf's lines in its order (bitrate over the run), owners,
// IPv6, the per-address / per-protocol / total sums (equal to the flow log's), the JSON
// document (parsed back), the flow cap, and independence from record order.
#define BOOST_TEST_MODULE summary_sink
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "sinks/file_sinks.hpp"
#include "sinks/summary_sink.hpp"

using namespace ebpfix;
using namespace ebpfix::sinks;

namespace {

constexpr std::uint64_t t0 = 1'700'000'000'000;  // run start, ms

std::array<std::uint8_t, 16> addr(const std::string& text) {
    std::array<std::uint8_t, 16> a{};
    if (text.find(':') != std::string::npos) {
        BOOST_REQUIRE(inet_pton(AF_INET6, text.c_str(), a.data()) == 1);
        return a;
    }
    in_addr v4{};
    BOOST_REQUIRE(inet_pton(AF_INET, text.c_str(), &v4) == 1);
    return FlowKey::mapped_v4(ntohl(v4.s_addr));
}

FlowRecord rec(const std::string& src, std::uint16_t sport, const std::string& dst, std::uint16_t dport,
               std::uint8_t proto, std::uint64_t packets, std::uint64_t bytes, std::uint64_t start, std::uint64_t end,
               Direction dir = Direction::egress, std::uint64_t owner = 0) {
    FlowRecord r;
    r.key.src_addr = addr(src);
    r.key.dst_addr = addr(dst);
    r.key.ip_version = src.find(':') != std::string::npos ? 6 : 4;
    r.key.src_port = sport;
    r.key.dst_port = dport;
    r.key.protocol = proto;
    r.key.direction = dir;
    r.key.ifindex = 2;
    r.key.owner = owner;
    r.packets = packets;
    r.bytes = bytes;
    r.start_ms = start;
    r.end_ms = end;
    return r;
}

struct Owners {
    std::map<std::uint64_t, attribution::Owner> by_cookie;
    std::function<const attribution::Owner*(std::uint64_t)> fn() const {
        return [this](std::uint64_t c) -> const attribution::Owner* {
            const auto it = by_cookie.find(c);
            return it == by_cookie.end() ? nullptr : &it->second;
        };
    }
};

template <typename SinkT>
void run_cycle(SinkT& sink, std::uint64_t now_ms, const std::vector<FlowRecord>& records,
               const Owners* owners = nullptr) {
    CycleContext ctx;
    ctx.now_ms = now_ms;
    ctx.records = records;
    ctx.ifname = [](std::uint32_t i) { return i == 2 ? std::string("eth0") : "if" + std::to_string(i); };
    if (owners) ctx.owner = owners->fn();
    sink.cycle(ctx);
}

// Flows A..E of the exact-text test, in two cycles; A and B belong to curl.
std::vector<FlowRecord> cycle1() {
    return {
        rec("10.0.0.1", 40000, "10.0.0.2", 443, 6, 3, 2000, t0 + 100, t0 + 900, Direction::egress, 7),
        rec("10.0.0.2", 443, "10.0.0.1", 40000, 6, 4, 12500, t0 + 120, t0 + 950, Direction::ingress, 7),
        rec("10.0.0.1", 0, "10.0.0.2", 0x0800, 1, 1, 84, t0 + 200, t0 + 200),  // ICMP echo request
    };
}
std::vector<FlowRecord> cycle2() {
    return {
        rec("10.0.0.1", 40000, "10.0.0.2", 443, 6, 2, 500, t0 + 5100, t0 + 6000, Direction::egress, 7),
        rec("2001:db8::1", 53000, "2001:db8::53", 53, 17, 2, 200, t0 + 5200, t0 + 5300),
        rec("10.0.0.1", 53001, "10.0.0.53", 53, 17, 2, 200, t0 + 5400, t0 + 5500),
    };
}

Owners curl_owner() {
    Owners o;
    attribution::Owner curl;
    curl.uid = 1000;
    curl.user = "alice";
    curl.pid = 1234;
    curl.comm = "curl";
    curl.cgroup = "/user.slice/my app";
    o.by_cookie[7] = curl;
    return o;
}

// --- A small JSON reader: enough to prove the document parses and to read it back.
struct Json {
    enum Kind { null, boolean, number, string, array, object } kind = null;
    double num = 0;
    std::string str;
    std::vector<Json> items;
    std::vector<std::pair<std::string, Json>> members;

    const Json& operator[](const std::string& key) const {
        for (const auto& [k, v] : members)
            if (k == key) return v;
        throw std::runtime_error("no key " + key);
    }
    bool has(const std::string& key) const {
        for (const auto& [k, v] : members)
            if (k == key) return true;
        return false;
    }
    std::uint64_t u() const { return static_cast<std::uint64_t>(num); }
};

class JsonReader {
public:
    explicit JsonReader(const std::string& text) : s_(text) {}
    Json document() {
        Json v = value();
        ws();
        if (i_ != s_.size()) fail("text after the document");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(i_));
    }
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
    }
    void expect(char c) {
        ws();
        if (i_ >= s_.size() || s_[i_] != c) fail(std::string("expected '") + c + "'");
        ++i_;
    }
    std::string string_literal() {
        expect('"');
        std::string out;
        while (true) {
            if (i_ >= s_.size()) fail("unterminated string");
            const char c = s_[i_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i_ >= s_.size()) fail("bad escape");
            const char e = s_[i_++];
            switch (e) {
                case '"': case '\\': case '/': out += e; break;
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'u':
                    if (i_ + 4 > s_.size()) fail("bad \\u escape");
                    for (int k = 0; k < 4; ++k)
                        if (!std::isxdigit(static_cast<unsigned char>(s_[i_ + k]))) fail("bad \\u escape");
                    out += "\\u" + s_.substr(i_, 4);  // kept as written: enough for these tests
                    i_ += 4;
                    break;
                default: fail("bad escape");
            }
        }
    }
    Json value() {
        ws();
        if (i_ >= s_.size()) fail("unexpected end");
        Json v;
        const char c = s_[i_];
        if (c == '{') {
            v.kind = Json::object;
            ++i_;
            ws();
            if (i_ < s_.size() && s_[i_] == '}') return ++i_, v;
            while (true) {
                std::string key = string_literal();
                expect(':');
                v.members.emplace_back(std::move(key), value());
                ws();
                if (i_ < s_.size() && s_[i_] == ',') {
                    ++i_;
                    continue;
                }
                expect('}');
                return v;
            }
        }
        if (c == '[') {
            v.kind = Json::array;
            ++i_;
            ws();
            if (i_ < s_.size() && s_[i_] == ']') return ++i_, v;
            while (true) {
                v.items.push_back(value());
                ws();
                if (i_ < s_.size() && s_[i_] == ',') {
                    ++i_;
                    continue;
                }
                expect(']');
                return v;
            }
        }
        if (c == '"') {
            v.kind = Json::string;
            v.str = string_literal();
            return v;
        }
        for (const char* word : {"true", "false", "null"}) {
            if (s_.compare(i_, std::strlen(word), word) == 0) {
                i_ += std::strlen(word);
                v.kind = word[0] == 'n' ? Json::null : Json::boolean;
                return v;
            }
        }
        // JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        const std::size_t start = i_;
        auto digits = [&] {
            const std::size_t from = i_;
            while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
            return i_ - from;
        };
        if (i_ < s_.size() && s_[i_] == '-') ++i_;
        if (i_ < s_.size() && s_[i_] == '0') ++i_;
        else if (digits() == 0) fail("bad value");
        if (i_ < s_.size() && s_[i_] == '.') {
            ++i_;
            if (digits() == 0) fail("bad fraction");
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            ++i_;
            if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
            if (digits() == 0) fail("bad exponent");
        }
        v.kind = Json::number;
        v.num = std::strtod(s_.substr(start, i_ - start).c_str(), nullptr);
        return v;
    }

    const std::string& s_;
    std::size_t i_ = 0;
};

Json parse_json(const std::string& text) { return JsonReader(text).document(); }

std::string temp_dir() {
    auto dir = std::filesystem::temp_directory_path() / ("ebpfix_summary_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir.string();
}
struct TempDirCleanup {
    ~TempDirCleanup() {
        std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                    ("ebpfix_summary_" + std::to_string(::getpid())));
    }
};
BOOST_TEST_GLOBAL_FIXTURE(TempDirCleanup);

}  // namespace

BOOST_AUTO_TEST_CASE(bitrate_units_follow_pktstat_bpf) {
    BOOST_TEST(format_bitrate(0) == "0.00 bps");
    BOOST_TEST(format_bitrate(67.2) == "67.20 bps");
    BOOST_TEST(format_bitrate(999.99) == "999.99 bps");
    BOOST_TEST(format_bitrate(1000) == "1.00 Kbps");
    BOOST_TEST(format_bitrate(12227.2) == "12.23 Kbps");
    BOOST_TEST(format_bitrate(1.5e9) == "1.50 Gbps");
    BOOST_TEST(format_bitrate(2e12) == "2.00 Tbps");
    BOOST_TEST(format_bitrate(3e15) == "3000.00 Tbps");
    BOOST_TEST(protocol_name(6) == "TCP");
    BOOST_TEST(protocol_name(58) == "IPv6-ICMP");
    BOOST_TEST(protocol_name(1) == "ICMPv4");
    BOOST_TEST(protocol_name(253) == "253");
}

BOOST_AUTO_TEST_CASE(text_summary_exact) {
    SummarySink sink(t0);
    const Owners owners = curl_owner();
    run_cycle(sink, t0 + 5000, cycle1(), &owners);
    run_cycle(sink, t0 + 10000, cycle2(), &owners);
    BOOST_TEST(sink.duration_ms() == 10000u);
    BOOST_TEST(sink.flows() == 5u);

    // Rates over the 10 s run: 8 * bytes / 10. Ties (the two UDP flows: 200 bytes, 2
    // packets) go by key, and a mapped IPv4 address sorts before 2001:db8::.
    const std::string curl = ", pid: 1234, comm: curl, cgroup: /user.slice/my\\x20app, uid: 1000, user: alice";
    const std::string expected =
        "bitrate: 10.00 Kbps, packets: 4, bytes: 12500, proto: TCP, src: 10.0.0.2:443, dst: 10.0.0.1:40000" + curl +
        ", direction: ingress, ifname: eth0\n"
        "bitrate: 2.00 Kbps, packets: 5, bytes: 2500, proto: TCP, src: 10.0.0.1:40000, dst: 10.0.0.2:443" + curl +
        ", direction: egress, ifname: eth0\n"
        "bitrate: 160.00 bps, packets: 2, bytes: 200, proto: UDP, src: 10.0.0.1:53001, dst: 10.0.0.53:53, "
        "direction: egress, ifname: eth0\n"
        "bitrate: 160.00 bps, packets: 2, bytes: 200, proto: UDP, src: [2001:db8::1]:53000, dst: [2001:db8::53]:53, "
        "direction: egress, ifname: eth0\n"
        "bitrate: 67.20 bps, packets: 1, bytes: 84, proto: ICMPv4, src: 10.0.0.1, dst: 10.0.0.2, type: 8, code: 0, "
        "direction: egress, ifname: eth0\n"
        "\n"
        "per IP address:\n"
        "ip: 10.0.0.1, bitrate: 12.23 Kbps, sent packets: 8, sent bytes: 2784, "
        "received packets: 4, received bytes: 12500\n"
        "ip: 10.0.0.2, bitrate: 12.07 Kbps, sent packets: 4, sent bytes: 12500, "
        "received packets: 6, received bytes: 2584\n"
        "ip: 10.0.0.53, bitrate: 160.00 bps, sent packets: 0, sent bytes: 0, "
        "received packets: 2, received bytes: 200\n"
        "ip: 2001:db8::1, bitrate: 160.00 bps, sent packets: 2, sent bytes: 200, "
        "received packets: 0, received bytes: 0\n"
        "ip: 2001:db8::53, bitrate: 160.00 bps, sent packets: 0, sent bytes: 0, "
        "received packets: 2, received bytes: 200\n"
        "\n"
        "per protocol:\n"
        "proto: TCP, bitrate: 12.00 Kbps, flows: 2, records: 3, packets: 9, bytes: 15000\n"
        "proto: UDP, bitrate: 320.00 bps, flows: 2, records: 2, packets: 4, bytes: 400\n"
        "proto: ICMPv4, bitrate: 67.20 bps, flows: 1, records: 1, packets: 1, bytes: 84\n"
        "\n"
        "total: bitrate: 12.39 Kbps, flows: 5, records: 6, packets: 14, bytes: 15484, duration: 10s\n";
    BOOST_TEST(sink.render(false) == expected);
}

BOOST_AUTO_TEST_CASE(no_owner_no_process_columns) {
    SummarySink sink(t0);
    run_cycle(sink, t0 + 10000,
              {rec("10.0.0.1", 40000, "10.0.0.2", 443, 6, 3, 2000, t0, t0 + 900, Direction::egress, 7)});
    const std::string text = sink.render(false);
    BOOST_TEST(text.rfind("bitrate: 1.60 Kbps, packets: 3, bytes: 2000, proto: TCP, src: 10.0.0.1:40000, dst: "
                          "10.0.0.2:443, direction: egress, ifname: eth0\n\n",
                          0) == 0u);
    BOOST_TEST(text.find("comm") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(json_exact_for_one_flow) {
    SummarySink sink(t0);
    const Owners owners = curl_owner();
    run_cycle(sink, t0 + 4000,
              {rec("2001:db8::1", 40000, "2001:db8::2", 443, 6, 3, 2000, t0 + 100, t0 + 900, Direction::egress, 7)},
              &owners);
    // 8 * 2000 / 4 s = 4000 bit/s.
    const std::string expected =
        "{\"duration_ms\":4000,\"flows\":[{\"srcIp\":\"2001:db8::1\",\"dstIp\":\"2001:db8::2\",\"proto\":\"TCP\","
        "\"comm\":\"curl\",\"bytes\":2000,\"packets\":3,\"bitrate\":4000,\"pid\":1234,\"srcPort\":40000,"
        "\"dstPort\":443,\"protocol\":6,\"uid\":1000,\"user\":\"alice\",\"cgroup\":\"/user.slice/my app\","
        "\"direction\":\"egress\",\"ifname\":\"eth0\",\"vlan\":0,\"inner_vlan\":0,\"start_ms\":1700000000100,"
        "\"end_ms\":1700000000900}],\"other\":{\"bitrate\":0,\"records\":0,\"packets\":0,\"bytes\":0},"
        "\"ips\":[{\"ip\":\"2001:db8::1\",\"bitrate\":4000,\"sent_packets\":3,\"sent_bytes\":2000,"
        "\"received_packets\":0,\"received_bytes\":0},{\"ip\":\"2001:db8::2\",\"bitrate\":4000,\"sent_packets\":0,"
        "\"sent_bytes\":0,\"received_packets\":3,\"received_bytes\":2000}],\"protocols\":[{\"proto\":\"TCP\","
        "\"protocol\":6,\"bitrate\":4000,\"flows\":1,\"records\":1,\"packets\":3,\"bytes\":2000}],"
        "\"total\":{\"bitrate\":4000,\"flows\":1,\"records\":1,\"packets\":3,\"bytes\":2000}}\n";
    BOOST_TEST(sink.render(true) == expected);
    BOOST_CHECK_NO_THROW(parse_json(expected));
}

BOOST_AUTO_TEST_CASE(json_parses_and_holds_the_same_data) {
    SummarySink sink(t0);
    const Owners owners = curl_owner();
    run_cycle(sink, t0 + 5000, cycle1(), &owners);
    run_cycle(sink, t0 + 10000, cycle2(), &owners);
    const Json doc = parse_json(sink.render(true));
    BOOST_TEST(doc["duration_ms"].u() == 10000u);
    const auto& flows = doc["flows"].items;
    BOOST_REQUIRE(flows.size() == 5u);
    // Same order as the text.
    BOOST_TEST(flows[0]["bytes"].u() == 12500u);
    BOOST_TEST(flows[0]["srcIp"].str == "10.0.0.2");
    BOOST_TEST(flows[0]["comm"].str == "curl");
    BOOST_TEST(flows[0]["pid"].u() == 1234u);
    BOOST_TEST(flows[0]["bitrate"].num == 10000.0);
    BOOST_TEST(flows[2]["srcIp"].str == "10.0.0.1");
    BOOST_TEST(flows[3]["srcIp"].str == "2001:db8::1");
    BOOST_TEST(flows[3]["dstPort"].u() == 53u);
    BOOST_TEST(!flows[3].has("user"));
    BOOST_TEST(flows[3]["pid"].u() == 0u);
    // ICMP: type and code in the ports, as pktstat-bpf has them.
    BOOST_TEST(flows[4]["proto"].str == "ICMPv4");
    BOOST_TEST(flows[4]["srcPort"].u() == 8u);
    BOOST_TEST(flows[4]["dstPort"].u() == 0u);
    BOOST_TEST(flows[4]["bitrate"].num == 67.2);

    std::uint64_t flow_bytes = 0, flow_packets = 0, sent = 0, received = 0, proto_bytes = 0, proto_flows = 0;
    for (const Json& f : flows) flow_bytes += f["bytes"].u(), flow_packets += f["packets"].u();
    for (const Json& ip : doc["ips"].items) sent += ip["sent_bytes"].u(), received += ip["received_bytes"].u();
    for (const Json& p : doc["protocols"].items) proto_bytes += p["bytes"].u(), proto_flows += p["flows"].u();
    const Json& total = doc["total"];
    BOOST_TEST(total["bytes"].u() == 15484u);
    BOOST_TEST(total["packets"].u() == 14u);
    BOOST_TEST(total["records"].u() == 6u);
    BOOST_TEST(flow_bytes == total["bytes"].u());
    BOOST_TEST(flow_packets == total["packets"].u());
    BOOST_TEST(sent == total["bytes"].u());
    BOOST_TEST(received == total["bytes"].u());
    BOOST_TEST(proto_bytes == total["bytes"].u());
    BOOST_TEST(proto_flows == total["flows"].u());
}

BOOST_AUTO_TEST_CASE(totals_equal_the_flow_logs) {
    // The same cycles through the flow log (text) and the summary: the log's lines add up
    // to the summary's totals.
    const std::string path = temp_dir() + "/flows.log";
    SummarySink summary(t0);
    {
        FlowLogOptions options;
        options.path = path;
        FlowLogSink log(options);
        const Owners owners = curl_owner();
        const std::vector<std::vector<FlowRecord>> cycles = {cycle1(), cycle2(), cycle1()};
        std::uint64_t now = t0;
        for (const auto& records : cycles) {
            now += 5000;
            run_cycle(log, now, records, &owners);
            run_cycle(summary, now, records, &owners);
        }
    }
    std::ifstream in(path);
    std::uint64_t lines = 0, packets = 0, bytes = 0;
    for (std::string line; std::getline(in, line);) {
        ++lines;
        std::istringstream words(line);
        for (std::string w; words >> w;) {
            if (w.rfind("packets=", 0) == 0) packets += std::stoull(w.substr(8));
            if (w.rfind("bytes=", 0) == 0) bytes += std::stoull(w.substr(6));
        }
    }
    BOOST_TEST(lines == 9u);
    BOOST_TEST(summary.total().records == lines);
    BOOST_TEST(summary.total().packets == packets);
    BOOST_TEST(summary.total().bytes == bytes);
    const Json doc = parse_json(summary.render(true));
    BOOST_TEST(doc["total"]["bytes"].u() == bytes);
    BOOST_TEST(doc["total"]["packets"].u() == packets);
    const std::string text = summary.render(false);
    BOOST_TEST(text.find("total: bitrate: ") != std::string::npos);
    BOOST_TEST(text.find(", records: 9, packets: " + std::to_string(packets) + ", bytes: " + std::to_string(bytes) +
                         ", duration: 15s\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(record_order_does_not_matter) {
    SummarySink forward(t0), backward(t0);
    std::vector<FlowRecord> all = cycle1();
    for (const auto& r : cycle2()) all.push_back(r);
    run_cycle(forward, t0 + 5000, cycle1());
    run_cycle(forward, t0 + 10000, cycle2());
    std::vector<FlowRecord> reversed(all.rbegin(), all.rend());
    run_cycle(backward, t0 + 10000, reversed);
    BOOST_TEST(forward.render(false) == backward.render(false));
    BOOST_TEST(forward.render(true) == backward.render(true));
}

BOOST_AUTO_TEST_CASE(flow_cap_folds_into_other_and_keeps_totals) {
    SummarySink sink(t0, 2);
    std::vector<FlowRecord> records = cycle1();  // three flows
    // A again: its flow is kept.
    records.push_back(rec("10.0.0.1", 40000, "10.0.0.2", 443, 6, 1, 10, t0 + 300, t0 + 400, Direction::egress, 7));
    run_cycle(sink, t0 + 1000, records);
    BOOST_TEST(sink.flows() == 2u);
    BOOST_TEST(sink.other().records == 1u);
    BOOST_TEST(sink.other().bytes == 84u);
    BOOST_TEST(sink.total().bytes == 2000u + 12500u + 84u + 10u);
    const std::string text = sink.render(false);
    BOOST_TEST(text.find("other: bitrate: 672.00 bps, records: 1, packets: 1, bytes: 84\n") != std::string::npos);
    // Per protocol stays exact: the folded ICMP record is there.
    BOOST_TEST(text.find("proto: ICMPv4, bitrate: 672.00 bps, flows: 0, records: 1, packets: 1, bytes: 84\n") !=
               std::string::npos);
    const Json doc = parse_json(sink.render(true));
    std::uint64_t sent = 0;
    for (const Json& ip : doc["ips"].items) sent += ip["sent_bytes"].u();
    BOOST_TEST(sent + doc["other"]["bytes"].u() == doc["total"]["bytes"].u());
}

BOOST_AUTO_TEST_CASE(run_start_defaults_to_the_earliest_record) {
    SummarySink sink;
    run_cycle(sink, t0 + 2000, {rec("10.0.0.1", 1, "10.0.0.2", 2, 17, 1, 1000, t0 + 500, t0 + 600)});
    BOOST_TEST(sink.duration_ms() == 1500u);
    SummarySink empty;
    BOOST_TEST(empty.duration_ms() == 1u);
    BOOST_TEST(empty.render(false) ==
               "\nper IP address:\n\nper protocol:\n\ntotal: bitrate: 0.00 bps, flows: 0, records: 0, packets: 0, "
               "bytes: 0, duration: 1ms\n");
    BOOST_CHECK_NO_THROW(parse_json(empty.render(true)));
}

BOOST_AUTO_TEST_CASE(hostile_names_stay_one_token) {
    SummarySink sink(t0);
    Owners owners;
    attribution::Owner o;
    o.pid = 9;
    o.comm = "a, b\n\"x\"";
    owners.by_cookie[1] = o;
    run_cycle(sink, t0 + 1000, {rec("10.0.0.1", 1, "10.0.0.2", 2, 17, 1, 100, t0, t0, Direction::egress, 1)}, &owners);
    const std::string text = sink.render(false);
    BOOST_TEST(text.find(", pid: 9, comm: a,\\x20b\\x0a\"x\", direction:") != std::string::npos);
    const Json doc = parse_json(sink.render(true));
    BOOST_TEST(doc["flows"].items[0]["comm"].str == "a, b\n\"x\"");
}
