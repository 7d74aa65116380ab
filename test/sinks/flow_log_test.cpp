// Flow log: exact flowcap-compatible lines (text and JSON), hostile interface names,
// Go duration notation, and the writer's per-cycle limit, FIFO deferral, errors, reopen.
#define BOOST_TEST_MODULE flow_log
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "sinks/flow_log.hpp"

using namespace ebpfix;
using namespace ebpfix::sinks;

namespace {

FlowRecord v4_record() {
    FlowRecord r;
    r.key.src_addr = FlowKey::mapped_v4(0xc0000201);  // 192.0.2.1
    r.key.dst_addr = FlowKey::mapped_v4(0xc6336402);  // 198.51.100.2
    r.key.src_port = 40000;
    r.key.dst_port = 443;
    r.key.protocol = 6;
    r.key.ip_version = 4;
    r.key.ifindex = 3;
    r.key.vlan_id = 100;
    r.packets = 12;
    r.bytes = 3456;
    r.start_ms = 1'700'000'000'000;
    r.end_ms = 1'700'000'001'500;
    r.tcp_flags = 0x1b;
    r.tos = 0xb8;
    r.end_reason = EndReason::end_of_flow;
    return r;
}

FlowRecord v6_icmp_record() {
    FlowRecord r;
    inet_pton(AF_INET6, "2001:db8::1", r.key.src_addr.data());
    inet_pton(AF_INET6, "2001:db8:0:0:1::2", r.key.dst_addr.data());  // two equal zero runs: RFC 5952 compresses the first
    r.key.dst_port = 0x8000;  // echo request, code 0
    r.key.protocol = 58;
    r.key.ip_version = 6;
    r.key.direction = Direction::egress;
    r.key.vlan_id = 200;
    r.key.inner_vlan_id = 300;
    r.packets = 1;
    r.bytes = 104;
    r.start_ms = 5000;
    r.end_ms = 5000;
    r.end_reason = EndReason::idle_timeout;
    return r;
}

std::string temp_path(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() / ("ebpfix_flow_log_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

struct TempDirCleanup {
    ~TempDirCleanup() {
        std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                    ("ebpfix_flow_log_" + std::to_string(::getpid())));
    }
};
BOOST_TEST_GLOBAL_FIXTURE(TempDirCleanup);

}  // namespace

BOOST_AUTO_TEST_CASE(text_line_ipv4_is_flowcap_then_ours) {
    BOOST_TEST(format_text(v4_record(), "eth0") ==
               "192.0.2.1:40000 -> 198.51.100.2:443 proto=6 packets=12 bytes=3456 duration=1.5s flags=0x1b"
               " direction=ingress ifname=eth0 vlan=100 inner_vlan=0 end_reason=end_of_flow");
}

BOOST_AUTO_TEST_CASE(text_line_ipv6_brackets_addresses) {
    BOOST_TEST(format_text(v6_icmp_record(), "wg0") ==
               "[2001:db8::1]:0 -> [2001:db8::1:0:0:2]:32768 proto=58 packets=1 bytes=104 duration=0s flags=0x00"
               " direction=egress ifname=wg0 vlan=200 inner_vlan=300 end_reason=idle_timeout");
}

BOOST_AUTO_TEST_CASE(text_line_escapes_hostile_interface_name) {
    const std::string line = format_text(v4_record(), std::string("a b=c\\\n\xff", 8));
    BOOST_TEST(line.find(" ifname=a\\x20b\\x3dc\\x5c\\x0a\\xff vlan=100") != std::string::npos);
    BOOST_TEST(format_text(v4_record(), "").find(" ifname=- ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(json_line_has_flowcap_keys_in_its_order_then_ours) {
    BOOST_TEST(format_json(v4_record(), "eth0", 1'700'000'002) ==
               "{\"bytes\":3456,\"dst_ip\":\"198.51.100.2\",\"dst_port\":443,\"duration_ns\":1500000000,"
               "\"duration_sec\":1.5,\"packets\":12,\"protocol\":6,\"src_ip\":\"192.0.2.1\",\"src_port\":40000,"
               "\"tcp_flags\":\"0x1b\",\"timestamp\":1700000002,"
               "\"start_ms\":1700000000000,\"end_ms\":1700000001500,\"direction\":\"ingress\",\"ifname\":\"eth0\","
               "\"vlan\":100,\"inner_vlan\":0,\"tos\":184,\"icmp_type\":0,\"icmp_code\":0,"
               "\"end_reason\":\"end_of_flow\"}");
}

BOOST_AUTO_TEST_CASE(json_line_icmpv6_type_code_and_zero_duration) {
    BOOST_TEST(format_json(v6_icmp_record(), "wg0", 7) ==
               "{\"bytes\":104,\"dst_ip\":\"2001:db8::1:0:0:2\",\"dst_port\":32768,\"duration_ns\":0,"
               "\"duration_sec\":0,\"packets\":1,\"protocol\":58,\"src_ip\":\"2001:db8::1\",\"src_port\":0,"
               "\"tcp_flags\":\"0x00\",\"timestamp\":7,\"start_ms\":5000,\"end_ms\":5000,\"direction\":\"egress\","
               "\"ifname\":\"wg0\",\"vlan\":200,\"inner_vlan\":300,\"tos\":0,\"icmp_type\":128,\"icmp_code\":0,"
               "\"end_reason\":\"idle_timeout\"}");
}

BOOST_AUTO_TEST_CASE(json_duration_sec_is_shortest_decimal) {
    FlowRecord r = v4_record();
    const std::pair<std::uint64_t, const char*> cases[] = {
        {1, "\"duration_sec\":0.001,"}, {100, "\"duration_sec\":0.1,"}, {2000, "\"duration_sec\":2,"},
        {3723500, "\"duration_sec\":3723.5,"}};
    for (const auto& [ms, want] : cases) {
        r.end_ms = r.start_ms + ms;
        BOOST_TEST_CONTEXT("ms " << ms) { BOOST_TEST(format_json(r, "x", 0).find(want) != std::string::npos); }
    }
    r.end_ms = r.start_ms - 10;  // clock step backwards: never a negative or huge duration
    BOOST_TEST(format_json(r, "x", 0).find("\"duration_ns\":0,\"duration_sec\":0,") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(json_string_escaping_of_hostile_names) {
    BOOST_TEST(json_string("eth0") == "\"eth0\"");
    BOOST_TEST(json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
    BOOST_TEST(json_string("\n\r\t\x01\x1f") == "\"\\n\\r\\t\\u0001\\u001f\"");
    BOOST_TEST(json_string(std::string("x\0y", 3)) == "\"x\\u0000y\"");
    BOOST_TEST(json_string("\xc3\xa9t\xc3\xa9") == "\"\xc3\xa9t\xc3\xa9\"");      // valid UTF-8 kept
    BOOST_TEST(json_string("\xff\xfe") == "\"\\ufffd\\ufffd\"");                    // invalid bytes
    BOOST_TEST(json_string("\xc0\xaf") == "\"\\ufffd\\ufffd\"");                    // overlong '/'
    BOOST_TEST(json_string("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");         // UTF-16 surrogate
    BOOST_TEST(json_string("\xe2\x82") == "\"\\ufffd\\ufffd\"");                    // cut sequence
    BOOST_TEST(json_string("\xe2\x80\xa8|\xe2\x80\xa9") == "\"\\u2028|\\u2029\"");
    BOOST_TEST(json_string("\xf0\x9f\x98\x80") == "\"\xf0\x9f\x98\x80\"");          // 4-byte emoji kept
}

BOOST_AUTO_TEST_CASE(go_duration_notation) {
    const std::pair<std::uint64_t, const char*> cases[] = {
        {0, "0s"},
        {999, "999ns"},
        {1500, "1.5\xc2\xb5s"},
        {1'000'000, "1ms"},
        {250'000'000, "250ms"},
        {1'500'000, "1.5ms"},
        {1'000'000'000, "1s"},
        {1'500'000'000, "1.5s"},
        {60'000'000'000, "1m0s"},
        {61'001'000'000, "1m1.001s"},
        {3'600'000'000'000, "1h0m0s"},
        {3'723'500'000'000, "1h2m3.5s"},
        {90'000'000'000'000, "25h0m0s"},
    };
    for (const auto& [ns, want] : cases) BOOST_TEST(go_duration(ns) == want, "ns " << ns);
}

BOOST_AUTO_TEST_CASE(end_reason_and_direction_words) {
    BOOST_TEST(end_reason_word(EndReason::idle_timeout) == "idle_timeout");
    BOOST_TEST(end_reason_word(EndReason::active_timeout) == "active_timeout");
    BOOST_TEST(end_reason_word(EndReason::end_of_flow) == "end_of_flow");
    BOOST_TEST(end_reason_word(EndReason::forced_end) == "forced_end");
    BOOST_TEST(end_reason_word(EndReason::lack_of_resources) == "lack_of_resources");
    BOOST_TEST(end_reason_word(static_cast<EndReason>(9)) == "unknown_9");
    BOOST_TEST(direction_word(Direction::ingress) == "ingress");
    BOOST_TEST(direction_word(Direction::egress) == "egress");
}

BOOST_AUTO_TEST_CASE(writer_defers_beyond_the_limit_in_fifo_order) {
    const std::string path = temp_path("deferred.log");
    FlowLogWriter writer({.format = LogFormat::text, .path = path, .max_export_per_cycle = 2});
    for (std::uint16_t port = 1; port <= 5; ++port) {
        FlowRecord r = v4_record();
        r.key.src_port = port;
        writer.enqueue(r, "eth0");
    }
    BOOST_TEST(writer.lines_pending() == 5u);
    BOOST_TEST(writer.write_cycle(100) == 2u);
    BOOST_TEST(writer.lines_pending() == 3u);
    BOOST_TEST(read_lines(path).size() == 2u);
    // A new record of the next cycle queues behind the deferred ones.
    FlowRecord late = v4_record();
    late.key.src_port = 6;
    writer.enqueue(late, "eth0");
    BOOST_TEST(writer.write_cycle(101) == 2u);
    BOOST_TEST(writer.write_cycle(102) == 2u);
    BOOST_TEST(writer.lines_pending() == 0u);
    BOOST_TEST(writer.write_cycle(103) == 0u);
    BOOST_TEST(writer.lines_written() == 6u);
    BOOST_TEST(writer.write_errors() == 0u);
    const auto lines = read_lines(path);
    BOOST_TEST_REQUIRE(lines.size() == 6u);
    for (std::size_t i = 0; i < lines.size(); ++i)
        BOOST_TEST(lines[i].rfind("192.0.2.1:" + std::to_string(i + 1) + " -> ", 0) == 0u, "line " << i);
}

BOOST_AUTO_TEST_CASE(writer_unlimited_and_flush_all) {
    const std::string path = temp_path("flush.log");
    {
        FlowLogWriter unlimited({.format = LogFormat::json, .path = path, .max_export_per_cycle = 0});
        for (int i = 0; i < 7; ++i) unlimited.enqueue(v4_record(), "eth0");
        BOOST_TEST(unlimited.write_cycle(1) == 7u);
    }
    FlowLogWriter limited({.format = LogFormat::json, .path = path, .max_export_per_cycle = 1});
    for (int i = 0; i < 4; ++i) limited.enqueue(v6_icmp_record(), "wg0");
    BOOST_TEST(limited.write_cycle(2) == 1u);
    BOOST_TEST(limited.flush_all(3) == 3u);  // at stop the limit does not apply
    BOOST_TEST(limited.lines_pending() == 0u);
    const auto lines = read_lines(path);  // appended: the first writer's lines stay
    BOOST_TEST_REQUIRE(lines.size() == 11u);
    BOOST_TEST(lines[0] == format_json(v4_record(), "eth0", 1));
    BOOST_TEST(lines[7] == format_json(v6_icmp_record(), "wg0", 2));
    BOOST_TEST(lines[10] == format_json(v6_icmp_record(), "wg0", 3));
}

BOOST_AUTO_TEST_CASE(write_errors_are_counted_and_lines_kept) {
    FlowLogWriter writer({.format = LogFormat::text, .path = "/dev/full", .max_export_per_cycle = 0});
    writer.enqueue(v4_record(), "eth0");
    writer.enqueue(v4_record(), "eth0");
    BOOST_TEST(writer.write_cycle(1) == 0u);
    BOOST_TEST(writer.write_errors() == 1u);  // the cycle stops at the first failure
    BOOST_TEST(writer.lines_pending() == 2u);
    BOOST_TEST(writer.last_error() == "/dev/full: No space left on device");
    BOOST_TEST(writer.flush_all(2) == 0u);
    BOOST_TEST(writer.write_errors() == 2u);
    BOOST_TEST(writer.lines_written() == 0u);
}

BOOST_AUTO_TEST_CASE(pending_cap_drops_oldest_and_counts) {
    FlowLogWriter writer({.format = LogFormat::text, .path = "/dev/full", .max_export_per_cycle = 0, .max_pending = 3});
    for (int i = 0; i < 5; ++i) writer.enqueue(v4_record(), "eth0");
    BOOST_TEST(writer.lines_pending() == 3u);
    BOOST_TEST(writer.lines_dropped() == 2u);
}

BOOST_AUTO_TEST_CASE(open_failure_names_the_path) {
    try {
        FlowLogWriter writer({.path = "/nonexistent-dir-ebpfix/flows.log"});
        BOOST_ERROR("no exception");
    } catch (const OutputError& e) {
        BOOST_TEST(std::string(e.what()) == "/nonexistent-dir-ebpfix/flows.log: No such file or directory");
    }
    BOOST_CHECK_THROW(FlowLogWriter({.path = ""}), OutputError);
}

BOOST_AUTO_TEST_CASE(reopen_follows_logrotate) {
    const std::string path = temp_path("rotate.log");
    const std::string rotated = path + ".1";
    FlowLogWriter writer({.format = LogFormat::text, .path = path});
    writer.enqueue(v4_record(), "before");
    writer.write_cycle(1);
    std::filesystem::rename(path, rotated);
    writer.enqueue(v4_record(), "stillold");  // before reopen: lands in the renamed file
    writer.write_cycle(2);
    BOOST_TEST(writer.reopen());
    writer.enqueue(v4_record(), "after");
    writer.write_cycle(3);
    const auto old_lines = read_lines(rotated);
    const auto new_lines = read_lines(path);
    BOOST_TEST_REQUIRE(old_lines.size() == 2u);
    BOOST_TEST_REQUIRE(new_lines.size() == 1u);
    BOOST_TEST(new_lines[0] == format_text(v4_record(), "after"));
    // A reopen that fails keeps the old descriptor and says why.
    const auto sub = std::filesystem::path(path).parent_path() / "sub";
    std::filesystem::create_directory(sub);
    FlowLogWriter doomed({.path = (sub / "x.log").string()});
    std::filesystem::remove_all(sub);
    BOOST_TEST(!doomed.reopen());
    BOOST_TEST(doomed.last_error() == (sub / "x.log").string() + ": No such file or directory");
    doomed.enqueue(v4_record(), "eth0");
    BOOST_TEST(doomed.write_cycle(4) == 1u);  // still writes to the (unlinked) old file
    BOOST_TEST(doomed.write_errors() == 0u);
}

// write_cycle(records, ...): the daemon's path. Records are written in blocks of whole
// lines after any queued ones; what the limit or a failed write holds back is queued in
// order, and nothing is lost or reordered.
namespace {
std::vector<FlowRecord> numbered(std::size_t n) {
    std::vector<FlowRecord> records(n, v4_record());
    for (std::size_t i = 0; i < n; ++i) records[i].key.src_port = static_cast<std::uint16_t>(i + 1);
    return records;
}
std::string name_of(std::uint32_t ifindex) { return "if" + std::to_string(ifindex); }
}  // namespace

BOOST_AUTO_TEST_CASE(records_written_in_blocks_in_order) {
    const std::string path = temp_path("blocks.log");
    FlowLogWriter writer({.format = LogFormat::json, .path = path});
    const auto records = numbered(1000);  // ~300 KB of JSON: several 64 KiB blocks
    BOOST_TEST(writer.write_cycle(records, name_of, 7) == 1000u);
    BOOST_TEST(writer.lines_pending() == 0u);
    BOOST_TEST(writer.lines_written() == 1000u);
    const auto lines = read_lines(path);
    BOOST_TEST_REQUIRE(lines.size() == 1000u);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        BOOST_TEST(lines[i] == format_json(records[i], "if3", 7), "line " << i);
        bytes += lines[i].size() + 1;
    }
    BOOST_TEST(bytes > 4 * FlowLogWriter::block_bytes);
}

BOOST_AUTO_TEST_CASE(records_after_queued_lines_and_over_the_limit_wait) {
    const std::string path = temp_path("limit_records.log");
    FlowLogWriter writer({.format = LogFormat::text, .path = path, .max_export_per_cycle = 3});
    const auto records = numbered(5);
    FlowRecord older = v4_record();
    older.key.src_port = 999;
    writer.enqueue(older, "old0");
    BOOST_TEST(writer.write_cycle(records, name_of, 1) == 3u);  // the queued line + records 1, 2
    BOOST_TEST(writer.lines_pending() == 3u);
    BOOST_TEST(writer.write_cycle(std::span<const FlowRecord>(records).first(1), name_of, 2) == 3u);
    BOOST_TEST(writer.lines_pending() == 1u);  // the new record waits behind records 3..5
    BOOST_TEST(writer.write_cycle(3) == 1u);
    const auto lines = read_lines(path);
    BOOST_TEST_REQUIRE(lines.size() == 7u);
    BOOST_TEST(lines[0] == format_text(older, "old0"));
    for (std::size_t i = 0; i < 5; ++i) BOOST_TEST(lines[i + 1] == format_text(records[i], "if3"), "line " << i);
    BOOST_TEST(lines[6] == format_text(records[0], "if3"));
}

BOOST_AUTO_TEST_CASE(records_of_a_failed_block_are_kept) {
    FlowLogWriter writer({.format = LogFormat::text, .path = "/dev/full"});
    const auto records = numbered(4);
    BOOST_TEST(writer.write_cycle(records, name_of, 1) == 0u);
    BOOST_TEST(writer.write_errors() == 1u);
    BOOST_TEST(writer.lines_pending() == 4u);
    BOOST_TEST(writer.lines_written() == 0u);
    // Later records queue behind them: no new write is tried while older lines wait.
    BOOST_TEST(writer.write_cycle(records, name_of, 2) == 0u);
    BOOST_TEST(writer.write_errors() == 2u);
    BOOST_TEST(writer.lines_pending() == 8u);
}
