// A real Prometheus server (Debian package prometheus) scrapes a MetricsServer on
// 127.0.0.1 and its query API must return our values: the target is up, a counter and
// a histogram quantile come back exactly. Proves the endpoint works with what people run,
// including Prometheus' content negotiation (it asks for OpenMetrics first).
// Everything stays on loopback; the Prometheus process and its data directory are
// removed by PID and path, also when the test fails.
#define BOOST_TEST_MODULE metrics_prometheus_scrape
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics/registry.hpp"
#include "support.hpp"

using namespace ebpfix;
using namespace ebpfix::test;

namespace {

std::string find_in_path(const char* name) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

// A loopback port that was free a moment ago (Prometheus needs a fixed one).
std::uint16_t free_port() {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

class Prometheus {
public:
    Prometheus(const std::string& binary, std::uint16_t target_port) : port_(free_port()) {
        char tmpl[] = "/tmp/ebpfix-prometheus-XXXXXX";
        BOOST_TEST_REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir_ = tmpl;
        std::ofstream(dir_ / "prometheus.yml") << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                                  "scrape_configs:\n  - job_name: ebpfix\n    static_configs:\n"
                                                  "      - targets: ['127.0.0.1:"
                                               << target_port << "']\n";
        const std::string config = "--config.file=" + (dir_ / "prometheus.yml").string();
        const std::string storage = "--storage.tsdb.path=" + (dir_ / "data").string();
        const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
        const std::string log = (dir_ / "prometheus.log").string();
        pid_ = ::fork();
        BOOST_TEST_REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            ::execl(binary.c_str(), binary.c_str(), config.c_str(), storage.c_str(), listen.c_str(),
                    "--log.level=warn", static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }
    ~Prometheus() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            // Up to 10 s for a clean shutdown, then SIGKILL.
            for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) ::usleep(50000);
            if (::waitpid(pid_, &status, WNOHANG) == 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
            }
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::uint16_t port() const { return port_; }
    std::string log() const {
        std::ifstream in(dir_ / "prometheus.log");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

private:
    std::uint16_t port_;
    std::filesystem::path dir_;
    pid_t pid_ = -1;
};

// Percent-encodes a PromQL query for a URL.
std::string url_encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

// The single value of an instant query ("" while there is none). The API answers
// {"status":"success","data":{"resultType":"vector","result":[{"metric":{..},"value":[T,"V"]}]}}.
std::string query_value(std::uint16_t port, const std::string& promql) {
    try {
        Client c(port);
        const auto res = c.get("/api/v1/query?query=" + url_encode(promql));
        if (!res || res->result_int() != 200) return "";
        const std::string& body = res->body();
        const auto at = body.find("\"value\":[");
        if (at == std::string::npos) return "";
        const auto q1 = body.find('"', body.find(',', at));
        const auto q2 = body.find('"', q1 + 1);
        if (q1 == std::string::npos || q2 == std::string::npos) return "";
        return body.substr(q1 + 1, q2 - q1 - 1);
    } catch (const std::exception&) {
        return "";  // not listening yet
    }
}

std::string wait_value(std::uint16_t port, const std::string& promql, const std::string& want) {
    std::string got;
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < until) {
        got = query_value(port, promql);
        if (got == want) break;
        std::this_thread::sleep_for(200ms);
    }
    return got;
}

}  // namespace

BOOST_AUTO_TEST_CASE(prometheus_ingests_the_endpoint) {
    const std::string binary = find_in_path("prometheus");
    if (binary.empty()) {
        if (std::getenv("CI") != nullptr) BOOST_FAIL("prometheus (Debian package prometheus) is missing in CI");
        std::fprintf(stderr, "SKIPPED: prometheus not found (install the Debian package prometheus)\n");
        std::exit(77);
    }
    metrics::Registry registry;
    ServerThread server("127.0.0.1:0", [&registry] { return registry.render(); });
    server.on_io([&] {
        registry.counter("ebpfix_packets_total", "Packets.", {{"interface", "veth\"0"}, {"direction", "ingress"}})
            .set_total(123456789012);
        auto& h = registry.histogram("ebpfix_drain_duration_seconds", "Drain.", {0.001, 0.002, 0.004});
        for (double v : {0.0015, 0.0015, 0.0015, 0.003}) h.observe(v);
    });
    Prometheus prom(binary, server.port());

    BOOST_TEST(wait_value(prom.port(), "up{job=\"ebpfix\"}", "1") == "1", prom.log());
    BOOST_TEST(wait_value(prom.port(), "ebpfix_packets_total{interface=\"veth\\\"0\",direction=\"ingress\"}",
                          "123456789012") == "123456789012");
    // 3 of 4 observations in (0.001, 0.002]: the median interpolates to 0.001 + 0.001 * (2/3).
    BOOST_TEST(wait_value(prom.port(), "ebpfix_drain_duration_seconds_count", "4") == "4");
    const std::string median = query_value(prom.port(), "histogram_quantile(0.5, ebpfix_drain_duration_seconds_bucket)");
    BOOST_TEST(std::abs(std::stod(median.empty() ? "nan" : median) - (0.001 + 0.001 * 2.0 / 3.0)) < 1e-12, median);
    // The scrape is healthy: no samples dropped or rejected.
    BOOST_TEST(wait_value(prom.port(), "scrape_samples_scraped{job=\"ebpfix\"}", "7") == "7");
}
