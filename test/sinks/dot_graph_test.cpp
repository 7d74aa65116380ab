// The who-talks-to-whom graph: scripted record sets (a TCP pair, a server with three
// clients, loopback, UDP, IPv6, directions in different cycles, attribution on and off)
// are rendered, laid out by Graphviz (`dot -Tplain`, package graphviz) and read back:
// exactly the expected nodes and edges. The file is replaced atomically after each cycle.
#define BOOST_TEST_MODULE dot_graph
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "sinks/append_file.hpp"
#include "sinks/dot_graph.hpp"

using namespace ebpfix;
using namespace ebpfix::sinks;

namespace {

constexpr std::uint16_t SYN = 0x02, ACK = 0x10, PSH = 0x08;
constexpr std::uint16_t HANDSHAKE = SYN | ACK | PSH;  // a record holding a whole handshake and data

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

struct Rec {
    std::string src;
    std::uint16_t sport;
    std::string dst;
    std::uint16_t dport;
    std::uint8_t proto;
    Direction dir;
    std::uint16_t flags;
    std::uint64_t start_ms;
    std::uint64_t bytes;
    std::uint64_t owner = 0;
};

FlowRecord make(const Rec& x) {
    FlowRecord r;
    r.key.src_addr = addr(x.src);
    r.key.dst_addr = addr(x.dst);
    r.key.ip_version = x.src.find(':') != std::string::npos ? 6 : 4;
    r.key.src_port = x.sport;
    r.key.dst_port = x.dport;
    r.key.protocol = x.proto;
    r.key.direction = x.dir;
    r.key.ifindex = 2;
    r.key.owner = x.owner;
    r.tcp_flags = x.flags;
    r.packets = 1 + x.bytes / 1000;
    r.bytes = x.bytes;
    r.start_ms = x.start_ms;
    r.end_ms = x.start_ms + 10;
    return r;
}

struct Owners {
    std::map<std::uint64_t, attribution::Owner> by_cookie;
    void add(std::uint64_t cookie, const std::string& comm, std::uint32_t pid) {
        attribution::Owner o;
        o.uid = 1000;
        o.user = "alice";
        o.pid = pid;
        o.comm = comm;
        by_cookie[cookie] = o;
    }
};

void run_cycle(DotGraphSink& sink, const std::vector<Rec>& recs, const Owners* owners = nullptr) {
    std::vector<FlowRecord> records;
    for (const Rec& x : recs) records.push_back(make(x));
    CycleContext ctx;
    ctx.now_ms = 1'700'000'000'000;
    ctx.records = records;
    if (owners)
        ctx.owner = [owners](std::uint64_t c) -> const attribution::Owner* {
            const auto it = owners->by_cookie.find(c);
            return it == owners->by_cookie.end() ? nullptr : &it->second;
        };
    sink.cycle(ctx);
}

std::filesystem::path temp_dir() {
    auto dir = std::filesystem::temp_directory_path() / ("ebpfix_dot_graph_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir;
}
struct TempDirCleanup {
    ~TempDirCleanup() {
        std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                    ("ebpfix_dot_graph_" + std::to_string(::getpid())));
    }
};
BOOST_TEST_GLOBAL_FIXTURE(TempDirCleanup);

std::string temp_path(const std::string& name) { return (temp_dir() / name).string(); }

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Words of a -Tplain line: quoted strings lose their quotes and \" escapes; other
// backslash sequences (\n in a label) stay as written.
std::vector<std::string> plain_words(const std::string& line) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < line.size()) {
        if (line[i] == ' ') {
            ++i;
            continue;
        }
        std::string w;
        if (line[i] == '"') {
            for (++i; i < line.size() && line[i] != '"'; ++i) {
                if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '"') ++i;
                w += line[i];
            }
            BOOST_REQUIRE_MESSAGE(i < line.size(), "unterminated string in: " + line);
            ++i;
        } else {
            while (i < line.size() && line[i] != ' ') w += line[i++];
        }
        words.push_back(w);
    }
    return words;
}

// Lays the file out with Graphviz and returns its nodes and edges, one sorted line each:
// "node NAME SHAPE" and "edge TAIL -> HEAD LABEL".
std::string laid_out(const std::string& path) {
    const std::string command = "dot -Tplain '" + path + "' 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    BOOST_REQUIRE_MESSAGE(pipe, "cannot run dot");
    std::string output;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), pipe)) > 0;) output.append(buf, n);
    const int status = ::pclose(pipe);
    BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) != 127,
                          "Graphviz's dot is needed (apt-get install graphviz): " + output);
    BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "dot failed on " + path + ": " + output);

    std::vector<std::string> lines;
    std::istringstream in(output);
    bool stopped = false;
    for (std::string line; std::getline(in, line);) {
        const auto w = plain_words(line);
        BOOST_REQUIRE(!w.empty());
        if (w[0] == "node") {
            // node name x y width height label style shape color fillcolor
            BOOST_REQUIRE_MESSAGE(w.size() == 11, line);
            BOOST_TEST(w[6] == w[1]);  // the label is the name
            lines.push_back("node " + w[1] + " " + w[8]);
        } else if (w[0] == "edge") {
            // edge tail head n x1 y1 .. xn yn [label xl yl] style color
            BOOST_REQUIRE(w.size() >= 4);
            const std::size_t points = std::stoul(w[3]);
            const std::size_t label_at = 4 + 2 * points;
            BOOST_REQUIRE_MESSAGE(w.size() == label_at + 5, "edge without a label: " + line);
            lines.push_back("edge " + w[1] + " -> " + w[2] + " " + w[label_at]);
        } else if (w[0] == "stop") {
            stopped = true;
        } else {
            BOOST_REQUIRE_MESSAGE(w[0] == "graph", "unexpected line: " + line);
        }
    }
    BOOST_TEST(stopped);
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

// The file is what render() says, and Graphviz lays it out as `expected`.
void check_graph(const DotGraphSink& sink, const std::string& expected) {
    BOOST_TEST(read_file(sink.name()) == sink.render());
    BOOST_TEST(laid_out(sink.name()) == expected);
}

std::string sorted_lines(std::vector<std::string> lines) {
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

// The docs example: a web server with three clients (one with two connections), its
// database on loopback and its DNS server over UDP.
void docs_example(DotGraphSink& sink) {
    Owners owners;
    for (std::uint64_t c = 20; c <= 23; ++c) owners.add(c, "nginx", 200);  // accepted sockets
    owners.add(30, "nginx", 200);                                           // its database connection
    owners.add(31, "postgres", 300);
    owners.add(32, "nginx", 200);  // its DNS socket
    const std::vector<std::pair<std::string, std::uint16_t>> clients = {
        {"10.0.0.11", 50000}, {"10.0.0.11", 50001}, {"10.0.0.12", 50002}, {"10.0.0.13", 50003}};
    std::vector<Rec> requests, responses;
    for (std::size_t i = 0; i < clients.size(); ++i) {
        const auto& [client, port] = clients[i];
        const std::uint64_t t = 1000 + 10 * i;
        requests.push_back({client, port, "10.0.0.2", 80, 6, Direction::ingress, HANDSHAKE, t, 300, 20 + i});
        responses.push_back({"10.0.0.2", 80, client, port, 6, Direction::egress, HANDSHAKE, t + 1, 5000, 20 + i});
    }
    run_cycle(sink, requests, &owners);
    run_cycle(sink, responses, &owners);
    run_cycle(sink,
              {
                  // Loopback: every packet is seen leaving and arriving.
                  {"127.0.0.1", 41000, "127.0.0.1", 5432, 6, Direction::egress, HANDSHAKE, 1100, 400, 30},
                  {"127.0.0.1", 41000, "127.0.0.1", 5432, 6, Direction::ingress, HANDSHAKE, 1100, 400, 31},
                  {"127.0.0.1", 5432, "127.0.0.1", 41000, 6, Direction::egress, HANDSHAKE, 1100, 2000, 31},
                  {"127.0.0.1", 5432, "127.0.0.1", 41000, 6, Direction::ingress, HANDSHAKE, 1100, 2000, 30},
                  {"10.0.0.2", 53000, "10.0.0.53", 53, 17, Direction::egress, 0, 900, 70, 32},
                  {"10.0.0.53", 53, "10.0.0.2", 53000, 17, Direction::ingress, 0, 901, 130, 32},
              },
              &owners);
}

}  // namespace

BOOST_AUTO_TEST_CASE(dot_safe_names) {
    BOOST_TEST(dot_safe("nginx: worker") == "nginx: worker");
    BOOST_TEST(dot_safe("a\"b\\c%d\n\xff") == "a%22b%5Cc%25d%0A%FF");
}

BOOST_AUTO_TEST_CASE(empty_graph_at_start) {
    DotGraphSink sink(temp_path("empty.dot"));
    BOOST_TEST(sink.rewrites() == 1u);
    check_graph(sink, "");
}

BOOST_AUTO_TEST_CASE(tcp_client_server_with_and_without_attribution) {
    Owners owners;
    owners.add(1, "curl", 100);
    const std::vector<Rec> recs = {
        {"10.0.0.1", 40000, "10.0.0.2", 443, 6, Direction::egress, HANDSHAKE, 1000, 700, 1},
        {"10.0.0.2", 443, "10.0.0.1", 40000, 6, Direction::ingress, HANDSHAKE, 1001, 4000, 1},
    };
    DotGraphSink on(temp_path("tcp_on.dot"));
    run_cycle(on, recs, &owners);
    check_graph(on, sorted_lines({"node curl[100] box", "node 10.0.0.2 ellipse",
                                  "edge curl[100] -> 10.0.0.2 1 connection\\n4700 bytes"}));
    BOOST_TEST(on.render().find("connections=1, bytes=4700") != std::string::npos);

    DotGraphSink off(temp_path("tcp_off.dot"));
    run_cycle(off, recs);  // no owner function: attribution off
    check_graph(off, sorted_lines({"node 10.0.0.1 ellipse", "node 10.0.0.2 ellipse",
                                   "edge 10.0.0.1 -> 10.0.0.2 1 connection\\n4700 bytes"}));

    // An owner without a pid (a partial owner) names no process: the host stays.
    Owners partial;
    partial.by_cookie[1].uid = 1000;
    DotGraphSink part(temp_path("tcp_partial.dot"));
    run_cycle(part, recs, &partial);
    check_graph(part, sorted_lines({"node 10.0.0.1 ellipse", "node 10.0.0.2 ellipse",
                                    "edge 10.0.0.1 -> 10.0.0.2 1 connection\\n4700 bytes"}));
}

BOOST_AUTO_TEST_CASE(tcp_syn_without_ack_decides_before_times) {
    // The server's record starts first (its clock step), but only the client's record has
    // SYN without ACK: the client initiated.
    DotGraphSink sink(temp_path("syn.dot"));
    run_cycle(sink, {{"10.0.0.2", 443, "10.0.0.1", 40000, 6, Direction::ingress, SYN | ACK, 900, 60},
                     {"10.0.0.1", 40000, "10.0.0.2", 443, 6, Direction::egress, SYN, 1000, 60}});
    check_graph(sink, sorted_lines({"node 10.0.0.1 ellipse", "node 10.0.0.2 ellipse",
                                    "edge 10.0.0.1 -> 10.0.0.2 1 connection\\n120 bytes"}));

    // Both show SYN (with ACK): the first SYN wins, here the lower port's side.
    DotGraphSink both(temp_path("syn_both.dot"));
    run_cycle(both, {{"10.0.0.2", 443, "10.0.0.1", 40000, 6, Direction::ingress, SYN | ACK, 900, 60},
                     {"10.0.0.1", 40000, "10.0.0.2", 443, 6, Direction::egress, HANDSHAKE, 1000, 60}});
    check_graph(both, sorted_lines({"node 10.0.0.1 ellipse", "node 10.0.0.2 ellipse",
                                    "edge 10.0.0.2 -> 10.0.0.1 1 connection\\n120 bytes"}));
}

BOOST_AUTO_TEST_CASE(server_with_three_clients) {
    Owners owners;
    for (std::uint64_t c = 20; c <= 23; ++c) owners.add(c, "nginx", 200);
    const std::vector<std::pair<std::string, std::uint16_t>> clients = {
        {"10.0.0.11", 50000}, {"10.0.0.11", 50001}, {"10.0.0.12", 50002}, {"10.0.0.13", 50003}};
    std::vector<Rec> recs;
    for (std::size_t i = 0; i < clients.size(); ++i) {
        const auto& [client, port] = clients[i];
        const std::uint64_t t = 1000 + 10 * i;
        recs.push_back({client, port, "10.0.0.2", 80, 6, Direction::ingress, HANDSHAKE, t, 300, 20 + i});
        recs.push_back({"10.0.0.2", 80, client, port, 6, Direction::egress, HANDSHAKE, t + 1, 5000, 20 + i});
    }
    DotGraphSink sink(temp_path("server.dot"));
    run_cycle(sink, recs, &owners);
    BOOST_TEST(sink.conversations() == 4u);
    check_graph(sink, sorted_lines({"node nginx[200] box", "node 10.0.0.11 ellipse", "node 10.0.0.12 ellipse",
                                    "node 10.0.0.13 ellipse",
                                    "edge 10.0.0.11 -> nginx[200] 2 connections\\n10600 bytes",
                                    "edge 10.0.0.12 -> nginx[200] 1 connection\\n5300 bytes",
                                    "edge 10.0.0.13 -> nginx[200] 1 connection\\n5300 bytes"}));
}

BOOST_AUTO_TEST_CASE(loopback_one_process_two_processes_no_attribution) {
    // Client and server sockets in one process: one node and a self edge. Each packet
    // is seen leaving and arriving on lo, and counts once.
    Owners owners;
    owners.add(30, "selftest", 300);
    owners.add(31, "selftest", 300);
    owners.add(40, "client", 301);
    owners.add(41, "server", 302);
    auto pair = [](std::uint64_t client_cookie, std::uint64_t server_cookie) {
        return std::vector<Rec>{
            {"127.0.0.1", 45000, "127.0.0.1", 9000, 6, Direction::egress, HANDSHAKE, 2000, 600, client_cookie},
            {"127.0.0.1", 45000, "127.0.0.1", 9000, 6, Direction::ingress, HANDSHAKE, 2000, 600, server_cookie},
            {"127.0.0.1", 9000, "127.0.0.1", 45000, 6, Direction::egress, HANDSHAKE, 2000, 900, server_cookie},
            {"127.0.0.1", 9000, "127.0.0.1", 45000, 6, Direction::ingress, HANDSHAKE, 2000, 900, client_cookie},
        };
    };
    DotGraphSink self(temp_path("self.dot"));
    run_cycle(self, pair(30, 31), &owners);
    check_graph(self, sorted_lines({"node selftest[300] box",
                                    "edge selftest[300] -> selftest[300] 1 connection\\n1500 bytes"}));

    DotGraphSink two(temp_path("two.dot"));
    run_cycle(two, pair(40, 41), &owners);
    check_graph(two, sorted_lines({"node client[301] box", "node server[302] box",
                                   "edge client[301] -> server[302] 1 connection\\n1500 bytes"}));

    DotGraphSink off(temp_path("lo_off.dot"));
    run_cycle(off, pair(40, 41));
    check_graph(off, sorted_lines({"node 127.0.0.1 ellipse", "edge 127.0.0.1 -> 127.0.0.1 1 connection\\n1500 bytes"}));
}

BOOST_AUTO_TEST_CASE(udp_first_packet_decides) {
    Owners owners;
    owners.add(5, "systemd-resolve", 400);
    DotGraphSink dns(temp_path("dns.dot"));
    run_cycle(dns, {{"10.0.0.53", 53, "10.0.0.1", 53000, 17, Direction::ingress, 0, 3001, 130, 5},
                    {"10.0.0.1", 53000, "10.0.0.53", 53, 17, Direction::egress, 0, 3000, 70, 5}},
              &owners);
    check_graph(dns, sorted_lines({"node systemd-resolve[400] box", "node 10.0.0.53 ellipse",
                                   "edge systemd-resolve[400] -> 10.0.0.53 1 connection\\n200 bytes"}));

    // Seen from one direction only: that direction's source.
    DotGraphSink mdns(temp_path("mdns.dot"));
    run_cycle(mdns, {{"10.0.0.1", 5353, "224.0.0.251", 5353, 17, Direction::egress, 0, 3000, 90}});
    check_graph(mdns, sorted_lines({"node 10.0.0.1 ellipse", "node 224.0.0.251 ellipse",
                                    "edge 10.0.0.1 -> 224.0.0.251 1 connection\\n90 bytes"}));
}

BOOST_AUTO_TEST_CASE(udp_directions_in_different_cycles) {
    DotGraphSink sink(temp_path("udp_cycles.dot"));
    // The answer's record comes first: for now its source is the initiator.
    run_cycle(sink, {{"10.0.0.53", 53, "10.0.0.1", 53001, 17, Direction::ingress, 0, 3101, 130}});
    check_graph(sink, sorted_lines({"node 10.0.0.1 ellipse", "node 10.0.0.53 ellipse",
                                    "edge 10.0.0.53 -> 10.0.0.1 1 connection\\n130 bytes"}));
    // The question started earlier: it decides, for good.
    run_cycle(sink, {{"10.0.0.1", 53001, "10.0.0.53", 53, 17, Direction::egress, 0, 3100, 70}});
    check_graph(sink, sorted_lines({"node 10.0.0.1 ellipse", "node 10.0.0.53 ellipse",
                                    "edge 10.0.0.1 -> 10.0.0.53 1 connection\\n200 bytes"}));
    run_cycle(sink, {{"10.0.0.53", 53, "10.0.0.1", 53001, 17, Direction::ingress, 0, 1, 30}});
    check_graph(sink, sorted_lines({"node 10.0.0.1 ellipse", "node 10.0.0.53 ellipse",
                                    "edge 10.0.0.1 -> 10.0.0.53 1 connection\\n230 bytes"}));
    BOOST_TEST(sink.conversations() == 1u);
}

BOOST_AUTO_TEST_CASE(tcp_directions_in_different_cycles) {
    DotGraphSink sink(temp_path("tcp_cycles.dot"));
    const std::string nodes = "node 10.0.0.1 ellipse\nnode 10.0.0.2 ellipse\n";
    run_cycle(sink, {{"10.0.0.2", 443, "10.0.0.1", 40000, 6, Direction::ingress, HANDSHAKE, 1005, 4000}});
    check_graph(sink, "edge 10.0.0.2 -> 10.0.0.1 1 connection\\n4000 bytes\n" + nodes);
    run_cycle(sink, {{"10.0.0.1", 40000, "10.0.0.2", 443, 6, Direction::egress, HANDSHAKE, 1000, 700}});
    check_graph(sink, "edge 10.0.0.1 -> 10.0.0.2 1 connection\\n4700 bytes\n" + nodes);
    run_cycle(sink, {{"10.0.0.1", 40000, "10.0.0.2", 443, 6, Direction::egress, ACK | PSH, 6000, 100},
                     {"10.0.0.2", 443, "10.0.0.1", 40000, 6, Direction::ingress, ACK | PSH, 6000, 100}});
    check_graph(sink, "edge 10.0.0.1 -> 10.0.0.2 1 connection\\n4900 bytes\n" + nodes);
    // Decided once: a later record, however odd, adds bytes and changes nothing else.
    run_cycle(sink, {{"10.0.0.2", 443, "10.0.0.1", 40000, 6, Direction::ingress, SYN, 500, 60}});
    check_graph(sink, "edge 10.0.0.1 -> 10.0.0.2 1 connection\\n4960 bytes\n" + nodes);
    BOOST_TEST(sink.conversations() == 1u);
}

BOOST_AUTO_TEST_CASE(ipv6_tcp_and_icmpv6_share_an_edge) {
    DotGraphSink sink(temp_path("v6.dot"));
    run_cycle(sink, {
                        // Equal start times: the lower port (443) is the responder.
                        {"2001:db8::2", 443, "2001:db8::1", 40000, 6, Direction::ingress, HANDSHAKE, 1000, 3000},
                        {"2001:db8::1", 40000, "2001:db8::2", 443, 6, Direction::egress, HANDSHAKE, 1000, 500},
                        // The echo request decides, though the reply's record starts first.
                        {"2001:db8::2", 0, "2001:db8::1", 0x8100, 58, Direction::ingress, 0, 1999, 104},
                        {"2001:db8::1", 0, "2001:db8::2", 0x8000, 58, Direction::egress, 0, 2000, 104},
                    });
    BOOST_TEST(sink.conversations() == 2u);
    check_graph(sink, sorted_lines({"node 2001:db8::1 ellipse", "node 2001:db8::2 ellipse",
                                    "edge 2001:db8::1 -> 2001:db8::2 2 connections\\n3708 bytes"}));
    BOOST_TEST(sink.render().find("\"2001:db8::1\" -> \"2001:db8::2\"") != std::string::npos);

    Owners owners;
    owners.add(9, "ssh", 900);
    DotGraphSink owned(temp_path("v6_owned.dot"));
    run_cycle(owned, {{"2001:db8::1", 40000, "2001:db8::2", 22, 6, Direction::egress, SYN, 1000, 60, 9}}, &owners);
    check_graph(owned, sorted_lines({"node ssh[900] box", "node 2001:db8::2 ellipse",
                                     "edge ssh[900] -> 2001:db8::2 1 connection\\n60 bytes"}));
}

BOOST_AUTO_TEST_CASE(hostile_comm_is_one_safe_node) {
    Owners owners;
    owners.add(1, "a\"b\\c d%\n", 5);
    DotGraphSink sink(temp_path("hostile.dot"));
    run_cycle(sink, {{"10.0.0.1", 40000, "10.0.0.2", 443, 6, Direction::egress, SYN, 1000, 60, 1}}, &owners);
    check_graph(sink, sorted_lines({"node a%22b%5Cc d%25%0A[5] box", "node 10.0.0.2 ellipse",
                                    "edge a%22b%5Cc d%25%0A[5] -> 10.0.0.2 1 connection\\n60 bytes"}));
}

BOOST_AUTO_TEST_CASE(conversation_cap_counts_and_folds) {
    DotGraphSink sink(temp_path("cap.dot"), 2);
    run_cycle(sink, {{"10.0.0.1", 1001, "10.0.0.9", 80, 6, Direction::egress, SYN, 1000, 60},
                     {"10.0.0.2", 1002, "10.0.0.9", 80, 6, Direction::egress, SYN, 1000, 60},
                     {"10.0.0.3", 1003, "10.0.0.9", 80, 6, Direction::egress, SYN, 1000, 60},
                     {"10.0.0.9", 80, "10.0.0.3", 1003, 6, Direction::ingress, SYN | ACK, 1001, 40},
                     // Kept conversations still add up past the cap.
                     {"10.0.0.9", 80, "10.0.0.1", 1001, 6, Direction::ingress, SYN | ACK, 1001, 40}});
    BOOST_TEST(sink.conversations() == 2u);
    BOOST_TEST(sink.folded_records() == 2u);
    BOOST_TEST(sink.folded_bytes() == 100u);
    BOOST_TEST(sink.render().find("label=\"2 records (100 bytes) of conversations beyond the limit of 2 are not "
                                  "drawn\"") != std::string::npos);
    check_graph(sink, sorted_lines({"node 10.0.0.1 ellipse", "node 10.0.0.2 ellipse", "node 10.0.0.9 ellipse",
                                    "edge 10.0.0.1 -> 10.0.0.9 1 connection\\n100 bytes",
                                    "edge 10.0.0.2 -> 10.0.0.9 1 connection\\n60 bytes"}));
}

BOOST_AUTO_TEST_CASE(file_is_replaced_whole_after_each_cycle) {
    const std::string path = temp_path("atomic.dot");
    DotGraphSink sink(path);
    std::string previous = read_file(path);
    struct stat st {};
    BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
    ino_t previous_inode = st.st_ino;
    for (int i = 0; i < 6; ++i) {
        // A reader that opened the file before the cycle keeps reading the old, complete graph.
        std::ifstream reader(path, std::ios::binary);
        BOOST_REQUIRE(reader);
        const std::uint16_t port = std::uint16_t(50000 + i);
        run_cycle(sink, {{"10.0.0.1", port, "10.0.0.2", 80, 6, Direction::egress, SYN, 1000, 60},
                         {"10.0.0.2", 80, "10.0.0.3", port, 6, Direction::egress, SYN | ACK, 1001, 60}});
        std::ostringstream old;
        old << reader.rdbuf();
        BOOST_TEST(old.str() == previous);
        BOOST_TEST(laid_out(path).find("edge 10.0.0.1 -> 10.0.0.2 " + std::to_string(i + 1) +
                                       (i == 0 ? " connection" : " connections")) != std::string::npos);
        BOOST_TEST(read_file(path) == sink.render());
        BOOST_TEST(!std::filesystem::exists(path + ".tmp"));
        BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
        BOOST_TEST(st.st_ino != previous_inode);
        previous_inode = st.st_ino;
        previous = read_file(path);
    }
    BOOST_TEST(sink.rewrites() == 7u);
    // A cycle without records leaves the file alone.
    run_cycle(sink, {});
    BOOST_TEST(sink.rewrites() == 7u);
    BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
    BOOST_TEST(st.st_ino == previous_inode);
    BOOST_TEST(sink.counters().records_delivered == 12u);
}

BOOST_AUTO_TEST_CASE(write_errors_are_counted_and_retried) {
    BOOST_CHECK_EXCEPTION(DotGraphSink("/nonexistent-ebpfix-dir/g.dot"), OutputError, [](const OutputError& e) {
        return std::string(e.what()).find("/nonexistent-ebpfix-dir/g.dot.tmp: No such file or directory") == 0;
    });
    BOOST_CHECK_THROW(DotGraphSink(""), OutputError);

    const auto dir = temp_dir() / "vanishing";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "g.dot").string();
    DotGraphSink sink(path);
    std::filesystem::remove_all(dir);
    BOOST_CHECK_NO_THROW(run_cycle(sink, {{"10.0.0.1", 1, "10.0.0.2", 2, 17, Direction::egress, 0, 1000, 60}}));
    BOOST_TEST(sink.write_errors() == 1u);
    BOOST_TEST(sink.counters().errors == 1u);
    BOOST_TEST(sink.last_error().find(path + ".tmp: ") == 0u);
    // The graph is written at the next cycle the file can be written, records or not.
    std::filesystem::create_directories(dir);
    run_cycle(sink, {});
    BOOST_TEST(sink.rewrites() == 2u);
    check_graph(sink, sorted_lines({"node 10.0.0.1 ellipse", "node 10.0.0.2 ellipse",
                                    "edge 10.0.0.1 -> 10.0.0.2 1 connection\\n60 bytes"}));
}

BOOST_AUTO_TEST_CASE(docs_example_is_current) {
    // docs/images/who-talks-to-whom.dot is this graph; EBPFIX_WRITE_DOCS_EXAMPLE=1 writes
    // it there (then: dot -Tsvg docs/images/who-talks-to-whom.dot -o docs/images/who-talks-to-whom.svg).
    DotGraphSink sink(temp_path("example.dot"));
    docs_example(sink);
    check_graph(sink, sorted_lines({"node nginx[200] box", "node postgres[300] box", "node 10.0.0.11 ellipse",
                                    "node 10.0.0.12 ellipse", "node 10.0.0.13 ellipse", "node 10.0.0.53 ellipse",
                                    "edge 10.0.0.11 -> nginx[200] 2 connections\\n10600 bytes",
                                    "edge 10.0.0.12 -> nginx[200] 1 connection\\n5300 bytes",
                                    "edge 10.0.0.13 -> nginx[200] 1 connection\\n5300 bytes",
                                    "edge nginx[200] -> postgres[300] 1 connection\\n2400 bytes",
                                    "edge nginx[200] -> 10.0.0.53 1 connection\\n200 bytes"}));
    const std::string docs = std::string(EBPFIX_SOURCE_DIR) + "/docs/images/who-talks-to-whom.dot";
    const char* write = std::getenv("EBPFIX_WRITE_DOCS_EXAMPLE");
    if (write && std::string(write) == "1") {
        std::ofstream(docs, std::ios::binary) << sink.render();
    }
    BOOST_TEST(read_file(docs) == sink.render());
}
