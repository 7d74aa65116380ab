// The control protocol without sockets: every request and every kind of bad request, the
// response framing, and the flow and statistics bodies (JSON lines read back field by
// field with a strict parser of their own).
#define BOOST_TEST_MODULE control_protocol
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/control_protocol.hpp"
#include "sinks/flow_log.hpp"

using namespace ebpfix;
using namespace ebpfix::daemon::control;

namespace {

// --- A strict reader of one flat JSON object of strings and unsigned integers: enough
// for the flows body, and strict so that a formatting slip fails here.
struct JsonValue {
    bool is_string = false;
    std::string text;  // the decoded string, or the number's digits
};
using JsonObject = std::vector<std::pair<std::string, JsonValue>>;

void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xc0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += char(0xe0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    } else {
        out += char(0xf0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3f));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    }
}

struct JsonReader {
    std::string_view s;
    std::size_t i = 0;

    bool eat(char c) {
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    std::optional<unsigned> hex4() {
        if (i + 4 > s.size()) return std::nullopt;
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s[i++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
            else return std::nullopt;
        }
        return v;
    }
    std::optional<std::string> string() {
        if (!eat('"')) return std::nullopt;
        std::string out;
        while (i < s.size()) {
            const auto c = static_cast<unsigned char>(s[i++]);
            if (c == '"') return out;
            if (c < 0x20) return std::nullopt;  // raw control characters are not JSON
            if (c != '\\') {
                out += char(c);
                continue;
            }
            if (i >= s.size()) return std::nullopt;
            const char e = s[i++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    auto cp = hex4();
                    if (!cp) return std::nullopt;
                    if (*cp >= 0xd800 && *cp < 0xdc00) {
                        if (!eat('\\') || !eat('u')) return std::nullopt;
                        auto lo = hex4();
                        if (!lo || *lo < 0xdc00 || *lo >= 0xe000) return std::nullopt;
                        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (*lo - 0xdc00);
                    }
                    append_utf8(out, *cp);
                    break;
                }
                default: return std::nullopt;
            }
        }
        return std::nullopt;
    }
    std::optional<std::string> number() {
        const std::size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        if (i == start || (s[start] == '0' && i - start > 1)) return std::nullopt;
        return std::string(s.substr(start, i - start));
    }
};

std::optional<JsonObject> parse_object(std::string_view line) {
    JsonReader r{line};
    JsonObject obj;
    if (!r.eat('{')) return std::nullopt;
    if (!r.eat('}')) {
        do {
            auto key = r.string();
            if (!key || !r.eat(':')) return std::nullopt;
            JsonValue v;
            if (r.i < line.size() && line[r.i] == '"') {
                auto str = r.string();
                if (!str) return std::nullopt;
                v = {true, *str};
            } else {
                auto num = r.number();
                if (!num) return std::nullopt;
                v = {false, *num};
            }
            obj.emplace_back(*key, v);
        } while (r.eat(','));
        if (!r.eat('}')) return std::nullopt;
    }
    if (r.i != line.size()) return std::nullopt;
    return obj;
}

std::vector<std::string> split_lines(const std::string& body) {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos < body.size()) {
        const std::size_t nl = body.find('\n', pos);
        BOOST_REQUIRE_MESSAGE(nl != std::string::npos, "the body's last line has no newline");
        lines.push_back(body.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return lines;
}

std::array<std::uint8_t, 16> v4(const char* text) {
    in_addr a{};
    BOOST_REQUIRE(inet_pton(AF_INET, text, &a) == 1);
    return FlowKey::mapped_v4(ntohl(a.s_addr));
}

std::array<std::uint8_t, 16> v6(const char* text) {
    std::array<std::uint8_t, 16> out{};
    BOOST_REQUIRE(inet_pton(AF_INET6, text, out.data()) == 1);
    return out;
}

// Three flows: IPv4 UDP owned by a fully known socket, IPv6 TCP with no owner, IPv4 ICMP
// whose owner is only partly known (a uid without a name, no process).
std::vector<FlowView> sample_flows() {
    std::vector<FlowView> flows(3);
    FlowKey& a = flows[0].key;
    a.src_addr = v4("10.0.0.1");
    a.dst_addr = v4("10.0.0.2");
    a.src_port = 40000;
    a.dst_port = 53;
    a.protocol = 17;
    a.ifindex = 2;
    a.direction = Direction::egress;
    a.ip_version = 4;
    a.owner = 77;
    flows[0].packets = 12;
    flows[0].bytes = 3400;
    flows[0].held_packets = 2;
    flows[0].held_bytes = 140;
    flows[0].last_ms = 1'700'000'000'123;
    flows[0].tcp_flags = 0;

    FlowKey& b = flows[1].key;
    b.src_addr = v6("2001:db8::1");
    b.dst_addr = v6("2001:db8::2:0:0:1");
    b.src_port = 443;
    b.dst_port = 51000;
    b.protocol = 6;
    b.ifindex = 3;
    b.direction = Direction::ingress;
    b.ip_version = 6;
    b.vlan_id = 100;
    flows[1].packets = 18446744073709551615ull;  // the largest count still prints exactly
    flows[1].bytes = 1;
    flows[1].held_packets = 0;
    flows[1].held_bytes = 0;
    flows[1].last_ms = 1'700'000'001'000;
    flows[1].tcp_flags = 0x11b;  // NS bit set: three hex digits

    FlowKey& c = flows[2].key;
    c.src_addr = v4("192.0.2.7");
    c.dst_addr = v4("198.51.100.9");
    c.src_port = 0;
    c.dst_port = 8 << 8 | 0;  // echo request
    c.protocol = 1;
    c.ifindex = 9;
    c.ip_version = 4;
    c.owner = 78;
    flows[2].packets = 1;
    flows[2].bytes = 84;
    flows[2].held_packets = 1;
    flows[2].held_bytes = 84;
    flows[2].last_ms = 1'700'000'002'000;
    return flows;
}

attribution::Owner full_owner() {
    attribution::Owner o;
    o.uid = 1000;
    o.user = "alice";
    o.pid = 4242;
    o.comm = "dig \"x\"";
    o.cgroup_id = 5;
    o.cgroup = "/user.slice/user-1000.slice";
    return o;
}

attribution::Owner uid_only_owner() {
    attribution::Owner o;
    o.uid = 1234;
    return o;
}

struct Names {
    attribution::Owner full = full_owner();
    attribution::Owner partial = uid_only_owner();
    std::map<std::uint64_t, int> owner_calls;

    IfNameOf ifname() const {
        return [](std::uint32_t ifindex) -> std::string {
            if (ifindex == 2) return "eth0";
            if (ifindex == 3) return "we\"ird\nname";  // a hostile device name
            return "if" + std::to_string(ifindex);
        };
    }
    OwnerOf owner() {
        return [this](std::uint64_t cookie) -> const attribution::Owner* {
            ++owner_calls[cookie];
            if (cookie == 77) return &full;
            if (cookie == 78) return &partial;
            return nullptr;
        };
    }
};

}  // namespace

// --- Requests.

BOOST_AUTO_TEST_CASE(every_command_parses_to_its_request) {
    const std::vector<std::pair<std::string, Request>> cases = {
        {"statistics", {Command::statistics, false}}, {"flows", {Command::flows, false}},
        {"flows --json", {Command::flows, true}},     {"expire-all", {Command::expire_all, false}},
        {"reload", {Command::reload, false}},         {"templates", {Command::templates, false}},
        {"graph", {Command::graph, false}}};
    for (const auto& [line, want] : cases) {
        BOOST_TEST_CONTEXT(line) {
            const ParseResult r = parse_request(line);
            BOOST_TEST_REQUIRE(r.request.has_value(), r.error);
            BOOST_TEST((*r.request == want));
            BOOST_TEST(r.error.empty());
        }
    }
    // Every command has its word, and the words are the ones above.
    std::set<std::string> words;
    for (Command c : all_commands) words.insert(std::string(command_word(c)));
    BOOST_TEST(words == (std::set<std::string>{"statistics", "flows", "expire-all", "reload", "templates", "graph"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_requests_get_an_error_saying_what_is_wrong) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "empty request"},
        {std::string(257, 'a'), "request longer than 256 bytes"},
        {"stats", "unknown command 'stats'"},
        {"Statistics", "unknown command 'Statistics'"},
        {"--json", "unknown command '--json'"},
        {"statistics now", "statistics takes no arguments, got 'now'"},
        {"flows --json extra", "too many words after flows"},
        {"flows json", "flows takes only --json, not 'json'"},
        {"flows --JSON", "flows takes only --json, not '--JSON'"},
        {"statistics --json", "statistics takes no arguments, got '--json'"},
        {"expire-all --json", "expire-all takes no arguments, got '--json'"},
        {"reload --json", "reload takes no arguments, got '--json'"},
        {"templates --json", "templates takes no arguments, got '--json'"},
        {"graph --json", "graph takes no arguments, got '--json'"},
        {" statistics", "single spaces"},
        {"statistics ", "single spaces"},
        {"flows  --json", "single spaces"},
        {" ", "single spaces"},
        {std::string("statistics\0", 11), "byte 0x00 at offset 10 is not printable ASCII"},
        {"\x01statistics", "byte 0x01 at offset 0"},
        {"statistics\r", "byte 0x0d at offset 10"},  // CRLF line endings are not accepted
        {"statistics\n", "byte 0x0a at offset 10"},  // the server strips the terminator
        {"flows\t--json", "byte 0x09 at offset 5"},
        {"reload\x7f", "byte 0x7f at offset 6"},
        {"graph\xc3\xa9", "byte 0xc3 at offset 5"},
        {"\xff", "byte 0xff at offset 0"},
    };
    for (const auto& [line, want] : cases) {
        BOOST_TEST_CONTEXT("request of " << line.size() << " bytes: " << line) {
            const ParseResult r = parse_request(line);
            BOOST_TEST(!r.request.has_value());
            BOOST_TEST(r.error.find(want) != std::string::npos, r.error);
            // The error goes on the "error: " line: one line of printable ASCII.
            for (const char ch : r.error) BOOST_TEST((ch >= 0x20 && ch < 0x7f));
        }
    }
    // An unknown word names what would have been understood.
    BOOST_TEST(parse_request("x").error.find("expected one of: statistics, flows, flows --json, expire-all, reload, "
                                             "templates, graph") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(length_limit_is_256_bytes_without_the_newline) {
    // 256 bytes is not too long (it is an unknown command); 257 is.
    BOOST_TEST(parse_request(std::string(256, 'x')).error.find("unknown command") == 0u);
    BOOST_TEST(parse_request(std::string(257, 'x')).error == "request longer than 256 bytes");
    const std::string padded = "flows " + std::string(250, 'y');  // 256 bytes, a bad option
    BOOST_TEST(padded.size() == max_request_bytes);
    BOOST_TEST(parse_request(padded).error.find("flows takes only --json") == 0u);
}

BOOST_AUTO_TEST_CASE(only_the_seven_request_lines_parse) {
    // Every line of up to three words from the protocol's vocabulary (and near misses),
    // joined by single spaces: exactly the documented lines are requests.
    const std::vector<std::string> vocabulary = {"statistics", "flows",  "--json", "expire-all", "reload",
                                                 "templates",  "graph",  "json",   "-",          ""};
    const std::set<std::string> valid = {"statistics", "flows",     "flows --json", "expire-all",
                                         "reload",     "templates", "graph"};
    std::vector<std::string> lines = {""};
    for (int words = 1; words <= 3; ++words) {
        std::vector<std::string> longer;
        for (const auto& prefix : lines)
            for (const auto& w : vocabulary) longer.push_back(prefix.empty() && words == 1 ? w : prefix + " " + w);
        lines.insert(lines.end(), longer.begin(), longer.end());
    }
    std::size_t accepted = 0;
    for (const std::string& line : lines) {
        const ParseResult r = parse_request(line);
        BOOST_TEST(r.request.has_value() == (valid.count(line) == 1), line);
        BOOST_TEST(r.request.has_value() == r.error.empty(), line);
        accepted += r.request.has_value();
    }
    std::set<std::string> distinct_accepted;
    for (const std::string& line : lines)
        if (parse_request(line).request) distinct_accepted.insert(line);
    BOOST_TEST(distinct_accepted == valid, boost::test_tools::per_element());
    BOOST_TEST(accepted >= valid.size());
}

// --- Responses.

BOOST_AUTO_TEST_CASE(responses_are_framed_and_read_back) {
    BOOST_TEST(response_ok("") == "ok\n");
    BOOST_TEST(response_ok("a") == "ok\na\n");
    BOOST_TEST(response_ok("a\nb\n") == "ok\na\nb\n");
    BOOST_TEST(response_error("busy") == "error: busy\n");
    // A message with newlines and control bytes stays on one line.
    BOOST_TEST(response_error("file.toml:3:1: bad\nsecond\r\x01line\x7f") ==
               "error: file.toml:3:1: bad second  line \n");
    BOOST_TEST(response_error("caf\xc3\xa9") == "error: caf\xc3\xa9\n");  // UTF-8 kept

    std::string body = "x";
    finish_body(body);
    BOOST_TEST(body == "x\n");
    body.clear();
    finish_body(body);
    BOOST_TEST(body.empty());
    BOOST_TEST(std::string(ok_line) == "ok\n");

    auto ok = parse_response("ok\nline 1\nline 2\n");
    BOOST_TEST_REQUIRE(ok.has_value());
    BOOST_TEST(ok->ok);
    BOOST_TEST(ok->body == "line 1\nline 2\n");
    BOOST_TEST(ok->error.empty());
    auto empty = parse_response("ok\n");
    BOOST_TEST_REQUIRE(empty.has_value());
    BOOST_TEST(empty->ok);
    BOOST_TEST(empty->body.empty());
    auto err = parse_response(response_error("not allowed"));
    BOOST_TEST_REQUIRE(err.has_value());
    BOOST_TEST(!err->ok);
    BOOST_TEST(err->error == "not allowed");
    for (const char* bad : {"", "ok", "OK\n", "okay\n", "error:busy\n", "HTTP/1.1 200 OK\r\n", "error: no newline"})
        BOOST_TEST(!parse_response(bad).has_value(), bad);
}

// --- Bodies.

BOOST_AUTO_TEST_CASE(flows_json_reads_back_field_by_field) {
    const std::vector<FlowView> flows = sample_flows();
    Names names;
    const std::uint64_t now_ms = 1'700'000'003'000;
    const std::string body = format_flows_json(flows, now_ms, names.ifname(), names.owner());
    const std::vector<std::string> lines = split_lines(body);
    BOOST_TEST_REQUIRE(lines.size() == 1 + flows.size());

    auto head = parse_object(lines[0]);
    BOOST_TEST_REQUIRE(head.has_value(), lines[0]);
    BOOST_TEST_REQUIRE(head->size() == 2u);
    BOOST_TEST((*head)[0].first == "now_ms");
    BOOST_TEST(!(*head)[0].second.is_string);
    BOOST_TEST((*head)[0].second.text == std::to_string(now_ms));
    BOOST_TEST((*head)[1].first == "flows");
    BOOST_TEST((*head)[1].second.text == std::to_string(flows.size()));

    const std::vector<std::string> key_order = {"src_ip", "dst_ip",       "src_port",     "dst_port",   "protocol",
                                                "direction", "ifname",    "packets",      "bytes",      "held_packets",
                                                "held_bytes", "last_ms",  "tcp_flags",    "uid",        "user",
                                                "pid",    "comm",         "cgroup"};
    const std::set<std::string> string_keys = {"src_ip", "dst_ip", "direction", "ifname", "tcp_flags",
                                               "user",   "comm",   "cgroup"};
    const auto ifname = names.ifname();
    for (std::size_t i = 0; i < flows.size(); ++i) {
        BOOST_TEST_CONTEXT("flow " << i << ": " << lines[i + 1]) {
            const FlowView& f = flows[i];
            auto obj = parse_object(lines[i + 1]);
            BOOST_TEST_REQUIRE(obj.has_value());
            // What the line must say, computed from the view (and the owner callback).
            std::map<std::string, std::string> want = {
                {"src_ip", sinks::address_text(f.key.src_addr, f.key.ip_version)},
                {"dst_ip", sinks::address_text(f.key.dst_addr, f.key.ip_version)},
                {"src_port", std::to_string(f.key.src_port)},
                {"dst_port", std::to_string(f.key.dst_port)},
                {"protocol", std::to_string(f.key.protocol)},
                {"direction", f.key.direction == Direction::egress ? "egress" : "ingress"},
                {"ifname", ifname(f.key.ifindex)},
                {"packets", std::to_string(f.packets)},
                {"bytes", std::to_string(f.bytes)},
                {"held_packets", std::to_string(f.held_packets)},
                {"held_bytes", std::to_string(f.held_bytes)},
                {"last_ms", std::to_string(f.last_ms)}};
            char flags[16];
            std::snprintf(flags, sizeof flags, "0x%02x", unsigned(f.tcp_flags));
            want["tcp_flags"] = flags;
            const attribution::Owner* owner = f.key.owner == 77 ? &names.full : f.key.owner == 78 ? &names.partial : nullptr;
            if (owner) {
                if (owner->uid) want["uid"] = std::to_string(*owner->uid);
                if (!owner->user.empty()) want["user"] = owner->user;
                if (owner->pid) want["pid"] = std::to_string(*owner->pid);
                if (!owner->comm.empty()) want["comm"] = owner->comm;
                if (!owner->cgroup.empty()) want["cgroup"] = owner->cgroup;
            }
            // Exactly these keys, each once, in the protocol's order.
            std::vector<std::string> got_keys, want_keys;
            for (const auto& [k, v] : *obj) got_keys.push_back(k);
            for (const auto& k : key_order)
                if (want.count(k)) want_keys.push_back(k);
            BOOST_TEST(got_keys == want_keys, boost::test_tools::per_element());
            for (const auto& [k, v] : *obj) {
                BOOST_TEST_CONTEXT("key " << k) {
                    BOOST_TEST(v.is_string == (string_keys.count(k) == 1));
                    BOOST_TEST(v.text == want[k]);
                }
            }
        }
    }
    // The spot values a reader of the protocol text would check by eye.
    BOOST_TEST(lines[1].starts_with("{\"src_ip\":\"10.0.0.1\",\"dst_ip\":\"10.0.0.2\",\"src_port\":40000,"));
    BOOST_TEST(lines[2].find("\"dst_ip\":\"2001:db8::2:0:0:1\"") != std::string::npos);
    BOOST_TEST(lines[2].find("\"packets\":18446744073709551615,") != std::string::npos);
    BOOST_TEST(lines[2].find("\"tcp_flags\":\"0x11b\"}") != std::string::npos);  // no owner: it ends here
    BOOST_TEST(lines[3].find("\"dst_port\":2048,\"protocol\":1,") != std::string::npos);  // ICMP type 8 << 8
    BOOST_TEST(lines[3].find("\"uid\":1234}") != std::string::npos);
    // The owner is asked only for flows that have a socket cookie.
    BOOST_TEST(names.owner_calls.size() == 2u);
    BOOST_TEST(names.owner_calls.count(0) == 0u);
}

BOOST_AUTO_TEST_CASE(flows_json_of_an_empty_table_and_without_callbacks) {
    BOOST_TEST(format_flows_json({}, 5, {}, {}) == "{\"now_ms\":5,\"flows\":0}\n");
    // No callbacks: the ifindex as the name, no owner keys even with a cookie.
    const std::vector<FlowView> flows = sample_flows();
    const std::string body = format_flows_json(std::span(flows).first(1), 5, {}, {});
    const auto lines = split_lines(body);
    BOOST_TEST_REQUIRE(lines.size() == 2u);
    auto obj = parse_object(lines[1]);
    BOOST_TEST_REQUIRE(obj.has_value());
    BOOST_TEST(obj->size() == 13u);
    BOOST_TEST((*obj)[6].first == "ifname");
    BOOST_TEST((*obj)[6].second.text == "2");
}

BOOST_AUTO_TEST_CASE(flows_text_one_line_per_flow) {
    const std::vector<FlowView> flows = sample_flows();
    Names names;
    const std::string body = format_flows_text(flows, 1'700'000'003'000, names.ifname(), names.owner());
    const auto lines = split_lines(body);
    BOOST_TEST_REQUIRE(lines.size() == 4u);
    BOOST_TEST(lines[0] == "flows=3 now_ms=1700000003000");
    BOOST_TEST(lines[1] ==
               "10.0.0.1:40000 -> 10.0.0.2:53 proto=17 direction=egress ifname=eth0 packets=12 bytes=3400 "
               "held_packets=2 held_bytes=140 idle=2.877s flags=0x00 user=alice comm=dig\\x20\"x\"[4242] "
               "cgroup=/user.slice/user-1000.slice");
    BOOST_TEST(lines[2] ==
               "[2001:db8::1]:443 -> [2001:db8::2:0:0:1]:51000 proto=6 direction=ingress ifname=we\"ird\\x0aname "
               "packets=18446744073709551615 bytes=1 held_packets=0 held_bytes=0 idle=2s flags=0x11b vlan=100 "
               "inner_vlan=0");
    BOOST_TEST(lines[3] ==
               "192.0.2.7:0 -> 198.51.100.9:2048 proto=1 direction=ingress ifname=if9 packets=1 bytes=84 "
               "held_packets=1 held_bytes=84 idle=1s flags=0x00 user=1234");
    // A last packet after now (a wall-clock step back) is idle 0, not a wrapped number.
    const std::string stepped = format_flows_text(std::span(flows).first(1), 1'000, names.ifname(), names.owner());
    BOOST_TEST(stepped.find(" idle=0s ") != std::string::npos);
    BOOST_TEST(format_flows_text({}, 9, {}, {}) == "flows=0 now_ms=9\n");
}

BOOST_AUTO_TEST_CASE(snapshot_lists_every_flow_of_the_table_most_bytes_first) {
    flow::FlowTable table(flow::FlowTableConfig{}, flow::TimeBase{1'000'000'000'000'000});
    std::vector<FlowRecord> out;
    std::uint64_t total_packets = 0;
    for (std::uint16_t port = 1; port <= 50; ++port) {
        FlowDelta d;
        d.key.src_addr = FlowKey::mapped_v4(0x0a000001);
        d.key.dst_addr = FlowKey::mapped_v4(0x0a000002);
        d.key.src_port = port;
        d.key.dst_port = 80;
        d.key.protocol = 6;
        d.packets = port % 7 + 1;
        d.bytes = (port * 37) % 11 * 100 + port;  // distinct, not in port order
        d.first_ns = 1'000'000'000;
        d.last_ns = 2'000'000'000 + port;
        total_packets += d.packets;
        table.add(d, out);
    }
    BOOST_TEST(out.empty());
    const std::vector<FlowView> flows = snapshot_flows(table);
    BOOST_TEST(flows.size() == table.size());
    std::set<std::uint16_t> ports;
    std::uint64_t packets = 0;
    for (std::size_t i = 0; i < flows.size(); ++i) {
        ports.insert(flows[i].key.src_port);
        packets += flows[i].packets;
        if (i > 0) BOOST_TEST(flows[i - 1].bytes >= flows[i].bytes);
        BOOST_TEST(flows[i].packets == flows[i].held_packets);  // nothing exported yet
        BOOST_TEST(flows[i].last_ms == table.time_base().to_wall_ms(2'000'000'000 + flows[i].key.src_port));
    }
    BOOST_TEST(ports.size() == 50u);
    BOOST_TEST(packets == total_packets);
}

namespace {

struct FakeSink : sinks::Sink {
    std::string kind() const override { return "ipfix"; }
    std::string name() const override { return "127.0.0.1:4739"; }
    std::string identity() const override { return "ipfix 127.0.0.1:4739"; }
    void cycle(const sinks::CycleContext&) override {}
    sinks::SinkCounters counters() const override {
        sinks::SinkCounters c;
        c.records_delivered = 41;
        c.records_not_sent = 3;
        c.packets_not_sent = 30;
        c.octets_not_sent = 3000;
        c.records_queued = 2;
        c.errors = 1;
        return c;
    }
};

std::map<std::string, std::uint64_t> as_map(const ControlStatistics& s) {
    std::map<std::string, std::uint64_t> m;
    for (const auto& [name, value] : s.values) BOOST_TEST(m.emplace(name, value).second, "twice: " << name);
    return m;
}

}  // namespace

BOOST_AUTO_TEST_CASE(statistics_name_every_number) {
    sinks::ExporterTotals totals;
    totals.drain_cycles = 10;
    totals.drained_flows = 20;
    totals.drained_packets = 30;
    totals.drained_bytes = 40;
    totals.exported_records = 5;
    totals.exported_packets = 6;
    totals.exported_bytes = 7;
    totals.kernel.map_full = {8, 800};
    totals.kernel.non_ip = {9, 900};
    totals.kernel.fragments = {11, 1100};
    totals.kernel.flows_created = 12;
    totals.kernel.insert_races = 13;
    totals.own_export = {14, 1400};
    flow::FlowTableConfig cfg;
    cfg.max_flows = 1000;
    flow::FlowTable table(cfg, flow::TimeBase{});
    std::vector<FlowRecord> out;
    FlowDelta d;
    d.packets = 3;
    d.bytes = 300;
    d.first_ns = d.last_ns = 1;
    table.add(d, out);
    std::vector<std::unique_ptr<sinks::Sink>> sink_list;
    sink_list.push_back(std::make_unique<FakeSink>());

    const auto m = as_map(statistics_of(totals, table, sink_list));
    const std::map<std::string, std::uint64_t> want = {
        {"drain_cycles", 10}, {"drained_flows", 20}, {"drained_packets", 30}, {"drained_bytes", 40},
        {"exported_records", 5}, {"exported_packets", 6}, {"exported_bytes", 7},
        {"kernel_map_full_packets", 8}, {"kernel_map_full_bytes", 800}, {"kernel_non_ip_packets", 9},
        {"kernel_non_ip_bytes", 900}, {"kernel_fragments_packets", 11}, {"kernel_fragments_bytes", 1100},
        {"kernel_parse_error_packets", 0}, {"kernel_truncated_packets", 0}, {"kernel_sampled_out_packets", 0},
        {"kernel_excluded_packets", 0}, {"kernel_flows_created", 12}, {"kernel_insert_races", 13},
        {"kernel_own_export_packets", 14}, {"kernel_own_export_bytes", 1400},
        {"flow_table_flows", 1}, {"flow_table_capacity", 1000}, {"flow_table_held_packets", 3},
        {"flow_table_held_bytes", 300}, {"flow_table_flows_created", 1}, {"flow_table_flows_removed", 0},
        {"flow_table_evictions", 0}, {"records_idle_timeout", 0}, {"records_forced_end", 0},
        {"ipfix[127.0.0.1:4739].records_delivered", 41}, {"ipfix[127.0.0.1:4739].records_not_sent", 3},
        {"ipfix[127.0.0.1:4739].packets_not_sent", 30}, {"ipfix[127.0.0.1:4739].octets_not_sent", 3000},
        {"ipfix[127.0.0.1:4739].records_queued", 2}, {"ipfix[127.0.0.1:4739].errors", 1}};
    for (const auto& [name, value] : want) {
        BOOST_TEST_CONTEXT(name) {
            BOOST_TEST_REQUIRE(m.count(name) == 1u);
            BOOST_TEST(m.at(name) == value);
        }
    }
}

BOOST_AUTO_TEST_CASE(statistics_text_is_two_aligned_fields_per_line) {
    ControlStatistics s;
    s.add("a", 1);
    s.add("longer_name", 18446744073709551615ull);
    s.add("with space\n", 3);
    s.add("", 4);
    BOOST_TEST(format_statistics(s) ==
               "a           1\n"
               "longer_name 18446744073709551615\n"
               "with_space_ 3\n"
               "_           4\n");
    BOOST_TEST(format_statistics({}) == "");
}
