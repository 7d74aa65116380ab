// `ebpfix top` without a terminal: the flows --json parser, rates from two snapshots,
// every sort key, the filter, pause, the selection, the options, the socket client.
#define BOOST_TEST_MODULE views_top_view
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "views/control_reader.hpp"
#include "views/top_main.hpp"
#include "views/top_view.hpp"

using namespace ebpfix::views;
using ebpfix::Direction;

namespace {

// One flow line as the daemon writes it (keys in the protocol's order).
std::string flow_line(const std::string& src, const std::string& dst, unsigned sport, unsigned dport, unsigned proto,
                      std::uint64_t packets, std::uint64_t bytes, const std::string& extra = "",
                      const std::string& direction = "egress", const std::string& ifname = "eth0") {
    return "{\"src_ip\":\"" + src + "\",\"dst_ip\":\"" + dst + "\",\"src_port\":" + std::to_string(sport) +
           ",\"dst_port\":" + std::to_string(dport) + ",\"protocol\":" + std::to_string(proto) +
           ",\"direction\":\"" + direction + "\",\"ifname\":\"" + ifname + "\",\"packets\":" + std::to_string(packets) +
           ",\"bytes\":" + std::to_string(bytes) + ",\"held_packets\":0,\"held_bytes\":0,\"last_ms\":1000," +
           "\"tcp_flags\":\"0x00\"" + extra + "}\n";
}

std::string body_of(std::uint64_t now_ms, const std::vector<std::string>& lines) {
    std::string out = "{\"now_ms\":" + std::to_string(now_ms) + ",\"flows\":" + std::to_string(lines.size()) + "}\n";
    for (const std::string& l : lines) out += l;
    return out;
}

Snapshot snapshot_of(std::uint64_t now_ms, const std::vector<std::string>& lines) {
    return parse_flows_json(body_of(now_ms, lines));
}

// The source column of every row shown, top to bottom.
std::vector<std::string> sources(const TopView& view) {
    std::vector<std::string> out;
    for (const Row& r : view.rows()) out.push_back(r.cells[col_source]);
    return out;
}

std::string parse_error(const std::string& body) {
    try {
        parse_flows_json(body);
    } catch (const ReplyError& e) {
        return e.what();
    }
    return "(accepted)";
}

}  // namespace

BOOST_AUTO_TEST_CASE(parses_every_key_in_any_order_and_skips_unknown_ones) {
    const std::string body =
        "{ \"flows\" : 2 , \"now_ms\" : 1700000000123, \"future\": [1, {\"a\": null}, -2.5e3] }\n"
        // The protocol's order, with attribution.
        "{\"src_ip\":\"10.0.0.1\",\"dst_ip\":\"10.0.0.2\",\"src_port\":40000,\"dst_port\":5000,\"protocol\":17,"
        "\"direction\":\"egress\",\"ifname\":\"veth0\",\"packets\":18446744073709551615,\"bytes\":2,"
        "\"held_packets\":3,\"held_bytes\":4,\"last_ms\":5,\"tcp_flags\":\"0x1b\",\"uid\":1000,\"user\":\"al\\u00e9\","
        "\"pid\":42,\"comm\":\"iperf3 \\\"x\\\"\",\"cgroup\":\"/user.slice\\ud83d\\ude00\"}\n"
        // Another order, an unknown key, IPv6, no attribution.
        "{\"protocol\":58,\"tcp_flags\":\"0x0\",\"bytes\":104,\"packets\":1,\"dst_port\":32768,\"src_port\":0,"
        "\"new_key\":true,\"dst_ip\":\"fd00::2\",\"src_ip\":\"fd00::1\",\"direction\":\"ingress\",\"ifname\":\"e\","
        "\"held_packets\":0,\"held_bytes\":0,\"last_ms\":0}\n";
    const Snapshot s = parse_flows_json(body);
    BOOST_TEST(s.now_ms == 1700000000123u);
    BOOST_REQUIRE(s.flows.size() == 2u);
    const LiveFlow& a = s.flows[0];
    BOOST_TEST(a.src.text == "10.0.0.1");
    BOOST_TEST(a.src.family == 4);
    BOOST_TEST(a.dst.text == "10.0.0.2");
    BOOST_TEST(a.src_port == 40000);
    BOOST_TEST(a.dst_port == 5000);
    BOOST_TEST(a.protocol == 17);
    BOOST_TEST((a.direction == Direction::egress));
    BOOST_TEST(a.ifname == "veth0");
    BOOST_TEST(a.packets == 18446744073709551615ull);
    BOOST_TEST(a.bytes == 2u);
    BOOST_TEST(a.held_packets == 3u);
    BOOST_TEST(a.held_bytes == 4u);
    BOOST_TEST(a.last_ms == 5u);
    BOOST_TEST(a.tcp_flags == 0x1b);
    BOOST_TEST(a.uid.value() == 1000u);
    BOOST_TEST(a.user.value() == "al\xc3\xa9");
    BOOST_TEST(a.pid.value() == 42u);
    BOOST_TEST(a.comm.value() == "iperf3 \"x\"");
    BOOST_TEST(a.cgroup.value() == "/user.slice\xf0\x9f\x98\x80");
    const LiveFlow& b = s.flows[1];
    BOOST_TEST(b.src.family == 6);
    BOOST_TEST(b.src.text == "fd00::1");
    BOOST_TEST((b.direction == Direction::ingress));
    BOOST_TEST(b.dst_port == 32768);
    BOOST_TEST(!b.uid.has_value());
    BOOST_TEST(!b.user.has_value());
    BOOST_TEST(!b.pid.has_value());
    BOOST_TEST(!b.comm.has_value());
}

BOOST_AUTO_TEST_CASE(an_empty_table_and_a_last_line_without_newline_are_fine) {
    BOOST_TEST(parse_flows_json("{\"now_ms\":1,\"flows\":0}\n").flows.empty());
    std::string body = body_of(1, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 1, 1)});
    body.pop_back();
    BOOST_TEST(parse_flows_json(body).flows.size() == 1u);
}

BOOST_AUTO_TEST_CASE(malformed_replies_are_errors_that_name_the_place) {
    const std::string good = flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 3, 4);
    const auto with = [&](const std::string& from, const std::string& to) {
        std::string line = good;
        const auto at = line.find(from);
        BOOST_REQUIRE(at != std::string::npos);
        line.replace(at, from.size(), to);
        return body_of(1, {line});
    };
    const auto without = [&](const std::string& member) { return with(member, ""); };
    struct Case {
        std::string body;
        std::string message;  // a part of the error
    };
    const std::vector<Case> cases = {
        {"", "line 1: empty reply"},
        {"hello\n", "line 1, column 1: expected '{'"},
        {"{\"now_ms\":1}\n", "line 1: missing key 'flows'"},
        {"{\"flows\":0}\n", "line 1: missing key 'now_ms'"},
        {"{\"now_ms\":1,\"flows\":0} x\n", "line 1, column 24: unexpected text after the object"},
        {"{\"now_ms\":1,\"flows\":0,}\n", "expected a key in double quotes"},
        {"{\"now_ms\":1 \"flows\":0}\n", "expected ',' or '}'"},
        {"{\"now_ms\":1,\"flows\":0\n", "expected ',' or '}', found the end of the line"},
        {"{\"now_ms\":-1,\"flows\":0}\n", "'now_ms' must be a non-negative integer"},
        {"{\"now_ms\":1.5,\"flows\":0}\n", "'now_ms' must be an integer"},
        {"{\"now_ms\":1e3,\"flows\":0}\n", "'now_ms' must be an integer"},
        {"{\"now_ms\":01,\"flows\":0}\n", "number with a leading zero"},
        {"{\"now_ms\":18446744073709551616,\"flows\":0}\n", "'now_ms' is out of range"},
        {"{\"now_ms\":\"1\",\"flows\":0}\n", "'now_ms' must be a number"},
        {"{\"now_ms\":1,\"now_ms\":2,\"flows\":0}\n", "duplicate key 'now_ms'"},
        {"{\"now_ms\":1,\"flows\":2}\n" + good, "the header announced 2 flows, the reply has 1"},
        {"{\"now_ms\":1,\"flows\":1}\n" + good + good, "line 3: more flow lines than the 1 the header announced"},
        {"{\"now_ms\":1,\"flows\":2}\n" + good + "\n" + good, "line 3: empty line"},
        {with("\"src_port\":1", "\"src_port\":70000"), "line 2, column 53: 'src_port' is out of range (at most 65535)"},
        {with("\"protocol\":17", "\"protocol\":256"), "'protocol' is out of range (at most 255)"},
        {with("\"src_port\":1", "\"src_port\":\"1\""), "'src_port' must be a number"},
        {with("\"ifname\":\"eth0\"", "\"ifname\":5"), "'ifname' must be a string"},
        {with("10.0.0.1", "10.0.0.300"), "'src_ip': '10.0.0.300' is not an IP address"},
        {with("10.0.0.2", "[::1]"), "'dst_ip': '[::1]' is not an IP address"},
        {with("\"egress\"", "\"sideways\""), "'direction': 'sideways' is neither"},
        {with("\"0x00\"", "\"1b\""), "'tcp_flags': '1b' is not a hex number"},
        {with("\"0x00\"", "\"0x\""), "'tcp_flags': '0x' is not a hex number"},
        {with("\"0x00\"", "\"0x1g\""), "'tcp_flags': '0x1g' is not a hex number"},
        {without(",\"bytes\":4"), "line 2: missing key 'bytes'"},
        {without("\"src_ip\":\"10.0.0.1\","), "line 2: missing key 'src_ip'"},
        {without(",\"tcp_flags\":\"0x00\""), "line 2: missing key 'tcp_flags'"},
        {with("\"packets\":3", "\"packets\":3,\"packets\":3"), "duplicate key 'packets'"},
        {with("\"eth0\"", "\"eth\\q\""), "invalid escape in a string"},
        {with("\"eth0\"", "\"eth\\u12\""), "expected 4 hex digits after \\u"},
        {with("\"eth0\"", "\"\\udc00\""), "lone low surrogate"},
        {with("\"eth0\"", "\"\\ud800x\""), "high surrogate without a low one"},
        {with("\"eth0\"", "\"et\th\""), "control character in a string"},
        {with("\"eth0\"", "\"et\xffh\""), "invalid UTF-8 in a string"},
        {with("\"eth0\"", "\"et\xc3\""), "invalid UTF-8 in a string"},
        {with("\"eth0\"", "\"eth0"), "expected ',' or '}'"},
        {with("\"0x00\"}", "\"0x00\""), "expected ',' or '}', found the end of the line"},
        {with("\"eth0\"", "\"eth0\",\"x\":" + std::string(40, '[') + std::string(40, ']')), "value nested too deeply"},
        {with("\"eth0\"", "\"eth0\",\"x\":nul"), "expected a JSON value"},
        {with("\"eth0\"", "\"eth0\",\"x\":[1 2]"), "expected ',' or ']'"},
        {with("\"eth0\"", "\"eth0\",\"x\":-"), "expected digits"},
        {with("\"eth0\"", "\"eth0\",\"x\":1.e5"), "expected digits after '.'"},
        {"{\"now_ms\":1,\"flows\":1}\n[]\n", "line 2, column 1: expected '{'"},
    };
    for (const Case& c : cases) {
        const std::string message = parse_error(c.body);
        BOOST_TEST_CONTEXT("body: " << c.body) {
            BOOST_TEST(message.find(c.message) != std::string::npos, "'" << message << "' has '" << c.message << "'");
        }
    }
}

BOOST_AUTO_TEST_CASE(status_lines) {
    BOOST_TEST(reply_body("ok\nbody\n") == "body\n");
    BOOST_TEST(reply_body("ok\n") == "");
    const auto error_of = [](std::string_view reply) -> std::string {
        try {
            reply_body(reply);
        } catch (const ReplyError& e) {
            return e.what();
        }
        return "(accepted)";
    };
    BOOST_TEST(error_of("error: not allowed\n") == "the daemon answered: not allowed");
    BOOST_TEST(error_of("") == "the daemon closed the connection without a reply");
    BOOST_TEST(error_of("OK\n") == "unexpected status line 'OK' (expected 'ok' or 'error: ...')");
}

BOOST_AUTO_TEST_CASE(rates_are_the_difference_of_two_snapshots_over_their_interval) {
    TopView view;
    view.update(snapshot_of(10000, {flow_line("10.0.0.1", "10.0.0.2", 1000, 5000, 17, 10, 1000),
                                    flow_line("10.0.0.1", "10.0.0.3", 1000, 5000, 17, 50, 8000)}));
    // The first snapshot has nothing to compare with.
    BOOST_REQUIRE(view.rows().size() == 2u);
    for (const Row& r : view.rows()) {
        BOOST_TEST(!r.bit_rate.has_value());
        BOOST_TEST(r.cells[col_bit_rate] == "-");
        BOOST_TEST(r.cells[col_packet_rate] == "-");
    }
    BOOST_TEST(!view.totals().rates_known);

    // 500 ms later: +10 packets / +2000 bytes, and +0 for the other.
    view.update(snapshot_of(10500, {flow_line("10.0.0.1", "10.0.0.2", 1000, 5000, 17, 20, 3000),
                                    flow_line("10.0.0.1", "10.0.0.3", 1000, 5000, 17, 50, 8000)}));
    BOOST_REQUIRE(view.rows().size() == 2u);
    const Row& busy = view.rows()[0];  // bitrate order: the busy one first
    BOOST_TEST(busy.cells[col_destination] == "10.0.0.2:5000");
    BOOST_TEST(busy.packet_rate.value() == 20.0);
    BOOST_TEST(busy.bit_rate.value() == 32000.0);
    BOOST_TEST(busy.cells[col_bit_rate] == "32.0 kbit/s");
    BOOST_TEST(busy.cells[col_packet_rate] == "20.0");
    BOOST_TEST(busy.cells[col_packets] == "20");
    BOOST_TEST(busy.cells[col_bytes] == "3000");
    const Row& idle = view.rows()[1];
    BOOST_TEST(idle.packet_rate.value() == 0.0);
    BOOST_TEST(idle.bit_rate.value() == 0.0);
    BOOST_TEST(idle.cells[col_bit_rate] == "0 bit/s");
    const Totals t = view.totals();
    BOOST_TEST(t.rates_known);
    BOOST_TEST(t.flows == 2u);
    BOOST_TEST(t.bit_rate == 32000.0);
    BOOST_TEST(t.packet_rate == 20.0);
}

BOOST_AUTO_TEST_CASE(new_and_restarted_flows_count_whole_and_a_clock_that_did_not_advance_gives_no_rate) {
    TopView view;
    view.update(snapshot_of(1000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 100, 10000)}));
    // Second snapshot (1 s later): the first flow left and came back (totals restarted at
    // 4 / 400), a new one has 6 / 600. Both counted since the previous snapshot.
    view.update(snapshot_of(2000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 4, 400),
                                   flow_line("10.0.0.1", "10.0.0.9", 1, 2, 17, 6, 600)}));
    BOOST_REQUIRE(view.rows().size() == 2u);
    BOOST_TEST(view.rows()[0].cells[col_destination] == "10.0.0.9:2");
    BOOST_TEST(view.rows()[0].packet_rate.value() == 6.0);
    BOOST_TEST(view.rows()[0].bit_rate.value() == 4800.0);
    BOOST_TEST(view.rows()[1].packet_rate.value() == 4.0);
    BOOST_TEST(view.rows()[1].bit_rate.value() == 3200.0);
    // The same clock again (or one that stepped back): no interval, no rates.
    view.update(snapshot_of(2000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 8, 800)}));
    BOOST_TEST(!view.rows()[0].packet_rate.has_value());
    BOOST_TEST(!view.totals().rates_known);
    // The next one compares with that snapshot.
    view.update(snapshot_of(2250, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 9, 900)}));
    BOOST_TEST(view.rows()[0].packet_rate.value() == 4.0);
    BOOST_TEST(view.rows()[0].bit_rate.value() == 3200.0);
}

BOOST_AUTO_TEST_CASE(a_flow_that_disappears_leaves_the_rows_and_the_totals) {
    TopView view;
    view.update(snapshot_of(1000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 1, 100),
                                   flow_line("10.0.0.5", "10.0.0.6", 1, 2, 17, 1, 100)}));
    view.update(snapshot_of(2000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 3, 300),
                                   flow_line("10.0.0.5", "10.0.0.6", 1, 2, 17, 2, 200)}));
    view.update(snapshot_of(3000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 5, 500)}));
    BOOST_REQUIRE(view.rows().size() == 1u);
    BOOST_TEST(view.rows()[0].cells[col_source] == "10.0.0.1:1");
    BOOST_TEST(view.totals().flows == 1u);
    BOOST_TEST(view.totals().packet_rate == 2.0);
    BOOST_TEST(view.totals().bit_rate == 1600.0);
}

BOOST_AUTO_TEST_CASE(entries_with_the_same_flow_key_are_one_row) {
    // E.g. two VLANs: the daemon has two entries, the protocol's key is the same.
    TopView view;
    const std::string a = flow_line("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 100);
    const std::string b = flow_line("10.0.0.1", "10.0.0.2", 1, 2, 6, 2, 200);
    view.update(snapshot_of(1000, {a, b}));
    BOOST_REQUIRE(view.rows().size() == 1u);
    BOOST_TEST(view.rows()[0].flow.packets == 3u);
    BOOST_TEST(view.rows()[0].flow.bytes == 300u);
    view.update(snapshot_of(2000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 6, 3, 300), b}));
    BOOST_TEST(view.rows()[0].packet_rate.value() == 2.0);
    // The pid is part of the key: the same 5-tuple of two processes is two rows.
    view.update(snapshot_of(3000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 6, 3, 300, ",\"pid\":7"),
                                   flow_line("10.0.0.1", "10.0.0.2", 1, 2, 6, 3, 300, ",\"pid\":8")}));
    BOOST_TEST(view.rows().size() == 2u);
}

namespace {

// Four flows whose order differs for every sort key:
//   bit rate (bytes in the interval): F3 4000, F2 1000, F1 100, F4 0
//   packets: F1 100, F3 50, F2 10, F4 1;  bytes: F2 9000, F1 5000, F3 4500, F4 100
//   source: F2 10.0.0.1, F3 10.0.0.2, F1 10.0.0.10 (numerically, not as text), F4 (IPv6)
//   destination: F3 .7, F1 .8, F2 .9, F4 (IPv6)
TopView four_flows() {
    TopView view;
    view.update(snapshot_of(1000, {flow_line("10.0.0.10", "10.0.0.8", 1, 1, 17, 90, 4900),
                                   flow_line("10.0.0.1", "10.0.0.9", 2, 2, 17, 5, 8000),
                                   flow_line("10.0.0.2", "10.0.0.7", 3, 3, 6, 40, 500),
                                   flow_line("fd00::1", "fd00::2", 4, 4, 17, 1, 100)}));
    view.update(snapshot_of(2000, {flow_line("10.0.0.10", "10.0.0.8", 1, 1, 17, 100, 5000),
                                   flow_line("10.0.0.1", "10.0.0.9", 2, 2, 17, 10, 9000),
                                   flow_line("10.0.0.2", "10.0.0.7", 3, 3, 6, 50, 4500),
                                   flow_line("fd00::1", "fd00::2", 4, 4, 17, 1, 100)}));
    return view;
}

const std::string f1 = "10.0.0.10:1", f2 = "10.0.0.1:2", f3 = "10.0.0.2:3", f4 = "[fd00::1]:4";

}  // namespace

BOOST_AUTO_TEST_CASE(every_sort_key_orders_the_rows) {
    TopView view = four_flows();
    BOOST_TEST((view.sort() == SortKey::bit_rate));  // the default
    BOOST_TEST(sources(view) == (std::vector<std::string>{f3, f2, f1, f4}), boost::test_tools::per_element());
    view.set_sort(SortKey::packets);
    BOOST_TEST(sources(view) == (std::vector<std::string>{f1, f3, f2, f4}), boost::test_tools::per_element());
    view.set_sort(SortKey::bytes);
    BOOST_TEST(sources(view) == (std::vector<std::string>{f2, f1, f3, f4}), boost::test_tools::per_element());
    view.set_sort(SortKey::source);
    BOOST_TEST(sources(view) == (std::vector<std::string>{f2, f3, f1, f4}), boost::test_tools::per_element());
    view.set_sort(SortKey::destination);
    BOOST_TEST(sources(view) == (std::vector<std::string>{f3, f1, f2, f4}), boost::test_tools::per_element());
    view.set_sort(SortKey::bit_rate);
    BOOST_TEST(sources(view) == (std::vector<std::string>{f3, f2, f1, f4}), boost::test_tools::per_element());
    BOOST_TEST(sort_key_name(SortKey::destination) == "destination");
}

BOOST_AUTO_TEST_CASE(the_filter_keeps_rows_whose_text_has_the_substring_in_any_case) {
    TopView view = four_flows();
    view.set_filter("tcp");
    BOOST_TEST(sources(view) == (std::vector<std::string>{f3}), boost::test_tools::per_element());
    view.set_filter("10.0.0.1");  // 10.0.0.1:2 and 10.0.0.10:1
    BOOST_TEST(sources(view) == (std::vector<std::string>{f2, f1}), boost::test_tools::per_element());
    view.set_filter("FD00::");
    BOOST_TEST(sources(view) == (std::vector<std::string>{f4}), boost::test_tools::per_element());
    view.set_filter("no such text");
    BOOST_TEST(view.rows().empty());
    BOOST_TEST(view.visible_totals().flows == 0u);
    BOOST_TEST(view.totals().flows == 4u);
    view.set_filter("udp");
    BOOST_TEST(view.visible_totals().flows == 3u);
    BOOST_TEST(view.visible_totals().bit_rate == (1000.0 + 100.0) * 8);
    view.set_filter("");
    BOOST_TEST(view.rows().size() == 4u);
    // The filter stays across updates.
    view.set_filter("tcp");
    view.update(snapshot_of(3000, {flow_line("10.0.0.2", "10.0.0.7", 3, 3, 6, 60, 5000),
                                   flow_line("10.0.0.1", "10.0.0.9", 2, 2, 17, 10, 9000)}));
    BOOST_TEST(sources(view) == (std::vector<std::string>{f3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(pause_keeps_the_last_snapshot_until_it_ends) {
    TopView view;
    view.update(snapshot_of(1000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 1, 100)}));
    view.set_paused(true);
    view.update(snapshot_of(2000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 5, 500),
                                   flow_line("10.0.0.3", "10.0.0.4", 1, 2, 17, 7, 700)}));
    BOOST_TEST(view.paused());
    BOOST_REQUIRE(view.rows().size() == 1u);
    BOOST_TEST(view.rows()[0].flow.packets == 1u);
    BOOST_TEST(view.now_ms() == 1000u);
    // Sorting and filtering still work on what is shown.
    view.set_sort(SortKey::bytes);
    view.set_filter("10.0.0.2");
    BOOST_TEST(view.rows().size() == 1u);
    view.set_filter("");
    view.update(snapshot_of(3000, {flow_line("10.0.0.1", "10.0.0.2", 1, 2, 17, 9, 900),
                                   flow_line("10.0.0.3", "10.0.0.4", 1, 2, 17, 8, 800)}));
    view.set_paused(false);
    // The newest snapshot, with rates against the one before it (taken while paused).
    BOOST_TEST(view.now_ms() == 3000u);
    BOOST_REQUIRE(view.rows().size() == 2u);
    BOOST_TEST(view.rows()[0].flow.bytes == 900u);
    BOOST_TEST(view.rows()[0].packet_rate.value() == 4.0);
    BOOST_TEST(view.rows()[1].packet_rate.value() == 1.0);
}

BOOST_AUTO_TEST_CASE(the_selection_follows_its_flow_and_stays_within_the_rows) {
    TopView view = four_flows();
    // The top row stays the top row: F2 was there at the first update (no rates yet, id
    // order), F3 is now.
    BOOST_TEST(view.selected() == 0u);
    BOOST_TEST(view.rows()[0].cells[col_source] == f3);
    view.move_selection(-1);
    BOOST_TEST(view.selected() == 0u);
    view.move_selection(2);
    BOOST_TEST(view.rows()[view.selected()].cells[col_source] == f1);
    view.move_selection(100);
    BOOST_TEST(view.selected() == 3u);
    view.move_selection(-1);
    BOOST_TEST(view.rows()[view.selected()].cells[col_source] == f1);
    // An update that reorders: the selection stays on F1, now the top row.
    view.update(snapshot_of(3000, {flow_line("10.0.0.10", "10.0.0.8", 1, 1, 17, 200, 99000),
                                   flow_line("10.0.0.1", "10.0.0.9", 2, 2, 17, 10, 9000),
                                   flow_line("10.0.0.2", "10.0.0.7", 3, 3, 6, 50, 4500),
                                   flow_line("fd00::1", "fd00::2", 4, 4, 17, 1, 100)}));
    BOOST_TEST(view.rows()[0].cells[col_source] == f1);
    BOOST_TEST(view.selected() == 0u);
    // The selected flow leaves: the selection stays at its place, within the rows.
    view.move_selection(1);
    BOOST_TEST(view.rows()[1].cells[col_source] == f2);
    view.update(snapshot_of(4000, {flow_line("10.0.0.10", "10.0.0.8", 1, 1, 17, 200, 99000),
                                   flow_line("10.0.0.2", "10.0.0.7", 3, 3, 6, 50, 4500),
                                   flow_line("fd00::1", "fd00::2", 4, 4, 17, 1, 100)}));
    BOOST_TEST(view.selected() == 1u);
    view.select_last();
    BOOST_TEST(view.selected() == 2u);
    view.update(snapshot_of(5000, {flow_line("10.0.0.10", "10.0.0.8", 1, 1, 17, 200, 99000)}));
    BOOST_TEST(view.selected() == 0u);
    // A new sort key starts at the top.
    view = four_flows();
    view.move_selection(2);
    view.set_sort(SortKey::bytes);
    BOOST_TEST(view.selected() == 0u);
}

BOOST_AUTO_TEST_CASE(cells) {
    TopView view;
    view.update(snapshot_of(1000, {flow_line("fd00::1", "fd00::2", 0, 0x8000, 58, 1, 104, "", "ingress", "veth\\u0001"),
                                   flow_line("10.0.0.1", "10.0.0.2", 0, 0x0800, 1, 1, 84, ",\"uid\":1000,\"pid\":9"),
                                   flow_line("10.0.0.1", "10.0.0.2", 1, 2, 47, 1, 84,
                                             ",\"uid\":0,\"user\":\"root\",\"pid\":1,\"comm\":\"syst\\u00e9md\"")}));
    view.set_sort(SortKey::destination);
    std::vector<std::array<std::string, column_count>> cells;
    for (const Row& r : view.rows()) cells.push_back(r.cells);
    BOOST_REQUIRE(cells.size() == 3u);
    // ICMP: type/code with the protocol, no ports.
    BOOST_TEST(cells[0][col_protocol] == "GRE");
    BOOST_TEST(cells[0][col_source] == "10.0.0.1");
    BOOST_TEST(cells[0][col_user] == "root");
    BOOST_TEST(cells[0][col_process] == "syst?md[1]");
    BOOST_TEST(cells[1][col_protocol] == "ICMP 8/0");
    BOOST_TEST(cells[1][col_destination] == "10.0.0.2");
    BOOST_TEST(cells[1][col_user] == "1000");
    BOOST_TEST(cells[1][col_process] == "[9]");
    BOOST_TEST(cells[2][col_protocol] == "ICMPv6 128/0");
    BOOST_TEST(cells[2][col_direction] == "ingress");
    BOOST_TEST(cells[2][col_interface] == "veth?");
    BOOST_TEST(cells[2][col_user] == "");
    BOOST_TEST(view.has_attribution());
    BOOST_TEST(view.rows()[2].text == "-  -  1  104  ICMPv6 128/0  fd00::1  fd00::2  ingress  veth?");
}

BOOST_AUTO_TEST_CASE(formats) {
    BOOST_TEST(format_bit_rate(0) == "0 bit/s");
    BOOST_TEST(format_bit_rate(999) == "999 bit/s");
    BOOST_TEST(format_bit_rate(999.6) == "1.00 kbit/s");
    BOOST_TEST(format_bit_rate(1500) == "1.50 kbit/s");
    BOOST_TEST(format_bit_rate(12345) == "12.3 kbit/s");
    BOOST_TEST(format_bit_rate(123456) == "123 kbit/s");
    BOOST_TEST(format_bit_rate(999999) == "1.00 Mbit/s");
    BOOST_TEST(format_bit_rate(2.5e9) == "2.50 Gbit/s");
    BOOST_TEST(format_packet_rate(12.25) == "12.2");
    BOOST_TEST(format_packet_rate(3) == "3.0");
    BOOST_TEST(protocol_text(6, 0) == "TCP");
    BOOST_TEST(protocol_text(253, 0) == "253");
    BOOST_TEST(protocol_text(1, 0x0303) == "ICMP 3/3");
    Address v6;
    v6.family = 6;
    v6.text = "fd00::1";
    BOOST_TEST(endpoint_text(v6, 443, 6) == "[fd00::1]:443");
    BOOST_TEST(endpoint_text(v6, 443, 50) == "fd00::1");
    BOOST_TEST(printable("a\tb\xc3\xa9" "c") == "a?b?c");
}

BOOST_AUTO_TEST_CASE(refresh_durations) {
    using std::chrono::milliseconds;
    BOOST_TEST(parse_refresh("--refresh", "1").count() == 1000);
    BOOST_TEST(parse_refresh("--refresh", "0.5").count() == 500);
    BOOST_TEST(parse_refresh("--refresh", "500ms").count() == 500);
    BOOST_TEST(parse_refresh("--refresh", "1s").count() == 1000);
    BOOST_TEST(parse_refresh("--refresh", "1m30s").count() == 90000);
    BOOST_TEST(parse_refresh("--refresh", "250000us").count() == 250);
    BOOST_TEST(parse_refresh("--refresh", "1h").count() == 3600000);
    for (const char* bad : {"", "abc", "5x", "1.2.3s", "s", "-1", "0", "50ms", "1h1s", "inf", "nan", "1e9"}) {
        BOOST_TEST_CONTEXT(bad) { BOOST_CHECK_THROW(parse_refresh("--refresh", bad), TopUsageError); }
    }
    try {
        parse_refresh("--refresh", "5x");
    } catch (const TopUsageError& e) {
        BOOST_TEST(std::string(e.what()) ==
                   "--refresh: '5x' is not a duration; write seconds (1, 0.5) or a Go duration like 500ms, 2s or 1m");
    }
}

BOOST_AUTO_TEST_CASE(options_attach_or_standalone) {
    const auto error_of = [](std::vector<std::string> args) -> std::string {
        try {
            parse_top_options(args);
        } catch (const TopUsageError& e) {
            return e.what();
        }
        return "(accepted)";
    };
    TopOptions attach = parse_top_options({});
    BOOST_TEST(!attach.standalone());
    BOOST_TEST(attach.socket_path == "/run/ebpfix/control.sock");
    BOOST_TEST(attach.refresh.count() == 1000);
    attach = parse_top_options({"--socket=/tmp/x.sock", "--refresh", "0.5"});
    BOOST_TEST(attach.socket_path == "/tmp/x.sock");
    BOOST_TEST(attach.refresh.count() == 500);

    const TopOptions own = parse_top_options({"veth0", "-i", "veth1", "--xdp-mode", "generic", "--attribution",
                                              "--refresh=2s"});
    BOOST_TEST(own.standalone());
    BOOST_TEST(own.interfaces == (std::vector<std::string>{"veth0", "veth1"}), boost::test_tools::per_element());
    const std::vector<std::string> expected{"-c", "/dev/null", "-i", "veth0", "-i", "veth1", "--xdp-mode", "generic",
                                            "--attribution", "--log-file", "/dev/null", "--control", "/tmp/d/c.sock",
                                            "--drain-interval", "0.5"};
    BOOST_TEST(standalone_daemon_arguments(own, "/tmp/d/c.sock") == expected, boost::test_tools::per_element());
    BOOST_TEST(parse_top_options({"--cgroup", "/sys/fs/cgroup/x"}).standalone());

    BOOST_TEST(error_of({"veth0", "--socket", "/x"}) ==
               "--socket reads a running daemon, devices (or --cgroup) start a private one: give one or the other");
    BOOST_TEST(error_of({"--xdp"}) == "--xdp applies when top hooks devices itself (ebpfix top IFACE... --xdp)");
    BOOST_TEST(error_of({"--socket"}) == "--socket needs a value (PATH)");
    BOOST_TEST(error_of({"--socket="}) == "--socket: the path is empty");
    BOOST_TEST(error_of({"--xdp=1", "eth0"}) == "--xdp takes no value");
    BOOST_TEST(error_of({"--sort", "bytes"}) == "unknown option '--sort'");
    BOOST_TEST(error_of({"--refresh", "0"}) == "--refresh: '0' is out of range (0.1 s to 1 h)");
    BOOST_TEST(parse_top_options({"--help"}).show_help);
    BOOST_TEST(parse_top_options({"--", "-odd-name"}).interfaces == (std::vector<std::string>{"-odd-name"}),
               boost::test_tools::per_element());
}

namespace {

// A one-connection server on a UNIX socket in a private directory.
struct OneReplyServer {
    std::filesystem::path dir;
    std::string path;
    int listener = -1;
    std::string received;
    std::thread thread;

    explicit OneReplyServer(std::string reply) {
        char tmpl[] = "/tmp/ebpfix-top-test.XXXXXX";
        BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        path = (dir / "control.sock").string();
        listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
        BOOST_REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
        BOOST_REQUIRE(::listen(listener, 1) == 0);
        thread = std::thread([this, reply = std::move(reply)] {
            const int c = ::accept(listener, nullptr, nullptr);
            if (c < 0) return;
            char ch;
            while (::read(c, &ch, 1) == 1) {
                received += ch;
                if (ch == '\n') break;
            }
            for (std::size_t sent = 0; sent < reply.size();) {
                const ssize_t n = ::write(c, reply.data() + sent, reply.size() - sent);
                if (n <= 0) break;
                sent += std::size_t(n);
            }
            ::close(c);
        });
    }
    ~OneReplyServer() {
        ::shutdown(listener, SHUT_RDWR);  // wakes the accept() if no client came
        if (thread.joinable()) thread.join();
        ::close(listener);
        std::filesystem::remove_all(dir);
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(fetch_sends_the_request_and_reads_the_reply_to_its_end) {
    // A large reply arrives in many reads.
    std::vector<std::string> lines;
    for (unsigned i = 0; i < 5000; ++i) lines.push_back(flow_line("10.0.0.1", "10.0.0.2", i, 2, 17, i, i * 100));
    OneReplyServer server("ok\n" + body_of(77, lines));
    const Snapshot s = fetch_flows(server.path);
    server.thread.join();
    BOOST_TEST(server.received == "flows --json\n");
    BOOST_TEST(s.now_ms == 77u);
    BOOST_REQUIRE(s.flows.size() == 5000u);
    BOOST_TEST(s.flows[4999].src_port == 4999);
    BOOST_TEST(s.flows[4999].bytes == 499900u);
}

BOOST_AUTO_TEST_CASE(fetch_errors_name_the_socket) {
    {
        OneReplyServer server("error: not allowed\n");
        try {
            fetch_flows(server.path);
            BOOST_FAIL("accepted an error reply");
        } catch (const ReplyError& e) {
            BOOST_TEST(std::string(e.what()) == "control socket " + server.path + ": flows --json: the daemon answered: not allowed");
        }
    }
    {
        OneReplyServer server("ok\n{\"now_ms\":1,\"flows\":1}\n{\"src_ip\":");
        try {
            fetch_flows(server.path);
            BOOST_FAIL("accepted a cut reply");
        } catch (const ReplyError& e) {
            BOOST_TEST(std::string(e.what()).find(": flows --json: line 2, column 11: 'src_ip' must be a string, found the end of the line") !=
                       std::string::npos, e.what());
        }
    }
    try {
        fetch_flows("/nonexistent/ebpfix/control.sock");
        BOOST_FAIL("connected to nothing");
    } catch (const ConnectionError& e) {
        BOOST_TEST(std::string(e.what()) ==
                   "control socket /nonexistent/ebpfix/control.sock: No such file or directory (is the ebpfix daemon "
                   "running?)");
    }
    BOOST_CHECK_THROW(fetch_flows(std::string(200, 'x')), ConnectionError);
}
