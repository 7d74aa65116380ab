// Stats file: exact text and JSON lines for one cycle (every key), appending, fsync'd
// writes, errors counted rather than thrown, reopen.
#define BOOST_TEST_MODULE stats_file
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <vector>

#include "sinks/stats_file.hpp"

using namespace ebpfix::sinks;

namespace {

CycleStats sample() {
    CycleStats s;
    s.timestamp = 1'700'000'000;  // 2023-11-14 22:13:20 UTC
    s.active = 3;
    s.inactive = 4;
    s.closed = 5;
    s.total_flows = 120;
    s.total_bytes = 98765;
    s.total_packets = 432;
    s.drop_non_ip = {2, 120};
    s.drop_parse_error = {1, 40};
    s.drop_truncated = {6, 300};
    s.drop_map_full = {7, 7000};
    s.sampled_out = {10, 1000};
    s.excluded = {11, 1100};
    s.own_export = {12, 1200};
    s.fragments = {8, 800};
    s.exported_records = 14;
    s.evicted = 1;
    s.forced = 1;
    s.kernel_flows_drained = 17;
    s.drain_ms = 12;
    s.send_errors = 9;
    return s;
}

struct UtcZone {
    UtcZone() {
        ::setenv("TZ", "UTC", 1);
        ::tzset();
    }
};
BOOST_TEST_GLOBAL_FIXTURE(UtcZone);

std::string temp_path(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() / ("ebpfix_stats_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

struct Cleanup {
    ~Cleanup() {
        std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                    ("ebpfix_stats_" + std::to_string(::getpid())));
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Cleanup);

const char* kText =
    "[2023-11-14 22:13:20] Exported: 3 active, 4 inactive, 5 closed | Total flows: 120 | Bytes: 98765 |"
    " Packets: 432 | Drops: non_ip=2/120 parse_error=1/40 truncated=6/300 map_full=7/7000 sampled_out=10/1000"
    " excluded=11/1100 own_export=12/1200 | fragments=8/800"
    " exported_records=14 evicted=1 forced=1 kernel_flows_drained=17 drain_ms=12 send_errors=9";

const char* kJson =
    "{\"active\":3,\"closed\":5,\"inactive\":4,\"timestamp\":1700000000,\"total_bytes\":98765,"
    "\"total_flows\":120,\"total_packets\":432,\"drop_non_ip\":2,\"drop_non_ip_bytes\":120,"
    "\"drop_parse_error\":1,\"drop_parse_error_bytes\":40,\"drop_truncated\":6,\"drop_truncated_bytes\":300,"
    "\"drop_map_full\":7,\"drop_map_full_bytes\":7000,\"sampled_out\":10,\"sampled_out_bytes\":1000,"
    "\"excluded\":11,\"excluded_bytes\":1100,\"own_export\":12,\"own_export_bytes\":1200,"
    "\"fragments\":8,\"fragment_bytes\":800,"
    "\"exported_records\":14,\"evicted\":1,\"forced\":1,\"kernel_flows_drained\":17,\"drain_ms\":12,"
    "\"send_errors\":9}";

}  // namespace

BOOST_AUTO_TEST_CASE(text_line_every_key) { BOOST_TEST(format_stats_text(sample()) == kText); }

BOOST_AUTO_TEST_CASE(json_line_every_key) { BOOST_TEST(format_stats_json(sample()) == kJson); }

BOOST_AUTO_TEST_CASE(zero_cycle) {
    CycleStats zero;
    BOOST_TEST(format_stats_json(zero) ==
               "{\"active\":0,\"closed\":0,\"inactive\":0,\"timestamp\":0,\"total_bytes\":0,\"total_flows\":0,"
               "\"total_packets\":0,\"drop_non_ip\":0,\"drop_non_ip_bytes\":0,\"drop_parse_error\":0,"
               "\"drop_parse_error_bytes\":0,\"drop_truncated\":0,\"drop_truncated_bytes\":0,\"drop_map_full\":0,"
               "\"drop_map_full_bytes\":0,\"sampled_out\":0,\"sampled_out_bytes\":0,\"excluded\":0,"
               "\"excluded_bytes\":0,\"own_export\":0,\"own_export_bytes\":0,\"fragments\":0,"
               "\"fragment_bytes\":0,\"exported_records\":0,"
               "\"evicted\":0,\"forced\":0,\"kernel_flows_drained\":0,\"drain_ms\":0,\"send_errors\":0}");
    BOOST_TEST(format_stats_text(zero).rfind("[1970-01-01 00:00:00] Exported: 0 active,", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(writer_appends_one_line_per_cycle) {
    const std::string path = temp_path("stats.json");
    {
        std::ofstream(path) << "earlier line\n";
    }
    StatsFileWriter writer(path, LogFormat::json);
    BOOST_TEST(writer.write(sample()));
    CycleStats second = sample();
    second.timestamp += 1;
    BOOST_TEST(writer.write(second));
    BOOST_TEST(writer.lines_written() == 2u);
    BOOST_TEST(writer.write_errors() == 0u);
    const auto lines = read_lines(path);
    BOOST_TEST_REQUIRE(lines.size() == 3u);
    BOOST_TEST(lines[0] == "earlier line");
    BOOST_TEST(lines[1] == kJson);
    BOOST_TEST(lines[2] == format_stats_json(second));

    StatsFileWriter text(temp_path("stats.txt"), LogFormat::text);
    BOOST_TEST(text.write(sample()));
    BOOST_TEST(read_lines(temp_path("stats.txt")) == std::vector<std::string>{kText});
}

BOOST_AUTO_TEST_CASE(write_error_is_counted_not_thrown) {
    StatsFileWriter writer("/dev/full", LogFormat::text);
    BOOST_TEST(!writer.write(sample()));
    BOOST_TEST(!writer.write(sample()));
    BOOST_TEST(writer.write_errors() == 2u);
    BOOST_TEST(writer.lines_written() == 0u);
    BOOST_TEST(writer.last_error() == "/dev/full: No space left on device");
}

BOOST_AUTO_TEST_CASE(open_failure_names_the_path) {
    try {
        StatsFileWriter writer("/nonexistent-dir-ebpfix/stats", LogFormat::json);
        BOOST_ERROR("no exception");
    } catch (const OutputError& e) {
        BOOST_TEST(std::string(e.what()) == "/nonexistent-dir-ebpfix/stats: No such file or directory");
    }
}

BOOST_AUTO_TEST_CASE(reopen_after_rotation) {
    const std::string path = temp_path("rot.stats");
    StatsFileWriter writer(path, LogFormat::json);
    BOOST_TEST(writer.write(sample()));
    std::filesystem::rename(path, path + ".1");
    BOOST_TEST(writer.reopen());
    BOOST_TEST(writer.write(sample()));
    BOOST_TEST(read_lines(path + ".1").size() == 1u);
    BOOST_TEST(read_lines(path) == std::vector<std::string>{kJson});
}
