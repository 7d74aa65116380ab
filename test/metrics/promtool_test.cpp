// The scraped exposition must pass Prometheus' own parser and linter
// (`promtool check metrics`, exit 0 and no complaint). A negative control proves the
// check can fail. promtool comes from the Debian package "prometheus": missing, it fails
// under CI and skips visibly otherwise.
#define BOOST_TEST_MODULE metrics_promtool
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include "metrics/registry.hpp"
#include "support.hpp"

using namespace ebpfix;
using namespace ebpfix::test;

namespace {

std::string find_promtool() {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const std::string candidate = (dir.empty() ? "." : dir) + "/promtool";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

struct PromtoolResult {
    int exit_code = -1;
    std::string output;
};

// Runs `promtool check metrics` with text on stdin.
PromtoolResult promtool_check(const std::string& promtool, const std::string& text) {
    char path[] = "/tmp/ebpfix-promtool-XXXXXX";
    const int fd = ::mkstemp(path);
    BOOST_TEST_REQUIRE(fd >= 0);
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    BOOST_TEST_REQUIRE(written);
    const std::string cmd = promtool + " check metrics < " + path + " 2>&1";
    PromtoolResult r;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
        const int status = ::pclose(p);
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    ::unlink(path);
    return r;
}

std::string require_promtool() {
    const std::string promtool = find_promtool();
    if (!promtool.empty()) return promtool;
    if (std::getenv("CI") != nullptr) {
        std::fprintf(stderr, "FAILED: promtool (Debian package prometheus) is missing, and CI must not skip\n");
        std::exit(1);
    }
    std::fprintf(stderr, "SKIPPED: promtool not found (install the Debian package prometheus)\n");
    std::exit(77);
}

// Every family the daemon exports (docs/monitoring.md), in their shapes, plus hostile
// label values.
void fill_like_the_daemon(metrics::Registry& r) {
    r.gauge("ebpfix_build_info", "ebpfix version (value is always 1)", {{"version", "0.1.0"}}).set(1);
    for (const char* result : {"success", "failure"})
        r.counter("ebpfix_config_reloads_total", "SIGHUP configuration reloads by result", {{"result", result}});
    for (const char* ifname : {"eth0", "wg\"0\\x", "bad\xff\nname"})
        for (const char* dir : {"ingress", "egress"}) {
            metrics::Labels l{{"interface", ifname}, {"direction", dir}};
            r.counter("ebpfix_packets_total", "Packets counted into flows by the kernel program", l).inc(3);
            r.counter("ebpfix_bytes_total", "L3 bytes counted into flows by the kernel program", l).inc(180);
        }
    for (const char* reason : {"non_ip", "parse_error", "truncated", "map_full"}) {
        r.counter("ebpfix_kernel_drops_total", "Packets the kernel program could not put in a flow, by reason",
                  {{"reason", reason}});
        r.counter("ebpfix_kernel_drop_bytes_total", "Bytes of those packets, by reason", {{"reason", reason}});
    }
    r.gauge("ebpfix_flows_active", "Flows held in the flow table").set(17);
    r.gauge("ebpfix_flow_table_size", "Capacity of the flow table (max_flows)").set(262144);
    for (const char* reason : {"idle_timeout", "active_timeout", "end_of_flow", "forced_end", "lack_of_resources"})
        r.counter("ebpfix_flows_exported_total", "Flow records exported, by flowEndReason", {{"reason", reason}});
    for (const char* c : {"192.0.2.10:4739", "[2001:db8::10]:2055"}) {
        metrics::Labels l{{"collector", c}, {"protocol", "ipfix"}};
        r.counter("ebpfix_collector_records_total", "Flow records in messages sent to the collector", l).inc(90);
        r.counter("ebpfix_collector_messages_total", "Messages sent to the collector", l).inc(3);
        r.counter("ebpfix_collector_bytes_total", "Bytes of messages sent to the collector", l).inc(4000);
        r.counter("ebpfix_collector_send_errors_total", "Sends the kernel refused (e.g. port unreachable)", l);
        r.counter("ebpfix_templates_sent_total", "Template and options template records sent", l).inc(2);
    }
    auto& h = r.histogram("ebpfix_drain_duration_seconds", "Time of one drain cycle (flip, drain, export)",
                          metrics::exponential_buckets(0.0005, 2, 14));
    for (double v : {0.0004, 0.012, 0.02, 1.5, 9.0}) h.observe(v);
    r.gauge("ebpfix_test_special_values", "NaN and infinities render as Prometheus spells them", {{"v", "nan"}})
        .set(std::nan(""));
    r.gauge("ebpfix_test_special_values", "NaN and infinities render as Prometheus spells them", {{"v", "inf"}})
        .set(std::numeric_limits<double>::infinity());
    r.gauge("ebpfix_test_special_values", "NaN and infinities render as Prometheus spells them", {{"v", "tiny"}})
        .set(1.5e-300);
}

}  // namespace

BOOST_AUTO_TEST_CASE(scraped_body_passes_promtool) {
    const std::string promtool = require_promtool();
    metrics::Registry registry;
    fill_like_the_daemon(registry);
    ServerThread server("127.0.0.1:0", [&registry] { return registry.render(); });
    Client client(server.port());
    const auto res = client.get("/metrics");
    BOOST_TEST_REQUIRE(res.has_value(), client.error().message());
    BOOST_TEST_REQUIRE(res->result_int() == 200u);
    BOOST_TEST(res->body().size() > 3000u);
    const auto check = promtool_check(promtool, res->body());
    BOOST_TEST(check.exit_code == 0, "promtool said:\n" << check.output << "\nfor:\n" << res->body());
    BOOST_TEST(check.output == "");
}

BOOST_AUTO_TEST_CASE(promtool_rejects_what_it_should) {
    // The same harness must see failures, or the test above proves nothing.
    const std::string promtool = require_promtool();
    const auto unterminated = promtool_check(promtool, "x{a=\"1} 0\n");
    BOOST_TEST(unterminated.exit_code != 0);
    const auto lint = promtool_check(promtool, "# HELP x H.\n# TYPE x counter\nx 1\n");  // counter without _total
    BOOST_TEST(lint.exit_code != 0);
    BOOST_TEST(lint.output.find("_total") != std::string::npos, lint.output);
}
