// The Prometheus scrape endpoint: a small HTTP/1.1 server (Boost.Beast) on the daemon's
// io_context. GET/HEAD /metrics returns render(); GET/HEAD / a short page pointing there;
// other paths 404, other methods 405, malformed requests 400.
//
// Hostile clients are bounded: each request (header and body) must arrive within
// request_timeout, a response must be taken within the same time, headers and bodies
// have size limits, and at most max_connections are served at once (more are closed on
// accept). Nothing blocks the io_context.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace ebpfix::metrics {

struct ServerLimits {
    std::chrono::milliseconds request_timeout{10000};  // per request read, and per response write
    std::size_t max_connections = 16;
    std::size_t header_limit = 8 * 1024;  // bytes of request line + headers
    std::size_t body_limit = 1024;        // scrapes have no body
};

// Parses "HOST:PORT" with the parser the configuration uses (common/host_port.hpp), PORT
// 0..65535 (0 = ephemeral), and resolves a host name (the first address). Nothing
// defaults to all addresses: write "0.0.0.0:9090" or "[::]:9090" to listen everywhere.
// Throws std::invalid_argument naming the text and what is wrong, std::system_error when
// a name does not resolve.
boost::asio::ip::tcp::endpoint parse_listen_address(std::string_view listen);

class MetricsServer {
public:
    // Binds and listens at once (throws std::invalid_argument for a bad address,
    // std::system_error naming the address when it cannot resolve or bind), then serves on io.
    MetricsServer(boost::asio::io_context& io, const std::string& listen, std::function<std::string()> render,
                  ServerLimits limits = {});
    ~MetricsServer();  // stop()
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    std::uint16_t port() const { return port_; }  // the bound port (the real one for port 0)
    boost::asio::ip::tcp::endpoint local_endpoint() const { return endpoint_; }
    std::size_t open_connections() const;

    // Closes the listener and every open connection; pending handlers finish with
    // operation_aborted. Idempotent.
    void stop();

    struct State;  // shared with the connections, which may outlive the server object

private:
    std::shared_ptr<State> state_;
    boost::asio::ip::tcp::endpoint endpoint_;
    std::uint16_t port_ = 0;
};

}  // namespace ebpfix::metrics
