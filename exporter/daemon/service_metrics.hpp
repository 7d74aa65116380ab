// The daemon's Prometheus metrics: mirrors the exporter's counters into a registry after
// every drain cycle and serves them over HTTP on the daemon's io_context.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>

#include "daemon/flow_exporter.hpp"
#include "capture/capture.hpp"
#include "metrics/http_server.hpp"
#include "metrics/registry.hpp"

namespace ebpfix::daemon {

class ServiceMetrics {
public:
    // Binds listen ("127.0.0.1:9090"); throws naming the address when it cannot.
    ServiceMetrics(boost::asio::io_context& io, const std::string& listen);

    // After a drain cycle: copies every total and observes the cycle's duration.
    void update(const FlowExporter& exporter, const capture::Capture& capture, bool cycle_ran = true);
    void reload_result(bool ok);
    // SIGHUP, another address: bind() opens it (throws when it cannot; the old one keeps
    // serving), adopt() switches to it once nothing else of the reload can fail.
    std::unique_ptr<metrics::MetricsServer> bind(const std::string& listen);
    void adopt(std::unique_ptr<metrics::MetricsServer> server);
    void stop();
    std::uint16_t port() const { return server_ ? server_->port() : 0; }
    const metrics::Registry& registry() const { return registry_; }

private:
    boost::asio::io_context& io_;
    metrics::Registry registry_;
    std::unique_ptr<metrics::MetricsServer> server_;
    std::set<std::pair<std::string, std::string>> sinks_;  // (kind, name) in use, to drop removed outputs
};

}  // namespace ebpfix::daemon
