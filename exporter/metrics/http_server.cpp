#include "metrics/http_server.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "common/host_port.hpp"

namespace ebpfix::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kIndexPage =
    "<!DOCTYPE html>\n<html><head><title>ebpfix</title></head>\n"
    "<body><h1>ebpfix</h1><p>Prometheus metrics: <a href=\"/metrics\">/metrics</a></p></body></html>\n";

// ---------------------------------------------------------------------------------------
// Listen address

tcp::endpoint parse_listen_address(std::string_view listen) {
    HostPort hp;
    try {
        hp = parse_host_port(listen, PortZero::allowed);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("metrics listen address: " + std::string(e.what()));
    }
    // A literal needs no lookup, and make_address reads a zone ("fe80::1%eth0") itself.
    boost::system::error_code ec;
    const asio::ip::address address = asio::ip::make_address(hp.host, ec);
    if (!ec) return tcp::endpoint(address, hp.port);
    // A name: the first address the resolver gives, as for collectors.
    asio::io_context io;
    tcp::resolver resolver(io);
    const auto results = resolver.resolve(hp.host, std::to_string(hp.port), tcp::resolver::numeric_service, ec);
    if (ec) throw std::system_error(ec, "metrics: cannot resolve " + std::string(listen));
    if (results.empty())
        throw std::system_error(std::make_error_code(std::errc::address_not_available),
                                "metrics: cannot resolve " + std::string(listen));
    return results.begin()->endpoint();
}

// ---------------------------------------------------------------------------------------
// Shared state and connections

namespace {
class Session;
}

struct MetricsServer::State {
    State(asio::io_context& io, std::function<std::string()> r, ServerLimits l)
        : acceptor(io), retry_timer(io), render(std::move(r)), limits(l) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry_timer;  // backs off when accept fails (EMFILE, ENOBUFS)
    std::function<std::string()> render;
    ServerLimits limits;
    std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
    bool stopped = false;
};

namespace {

using State = MetricsServer::State;

// RFC 9110 §5.6.7 IMF-fixdate, built by hand so the C locale is not assumed.
std::string http_date() {
    static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days.at(static_cast<std::size_t>(tm.tm_wday)),
                  tm.tm_mday, months.at(static_cast<std::size_t>(tm.tm_mon)), tm.tm_year + 1900, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
    return buf;
}

// The path of an origin-form ("/metrics?x") or absolute-form ("http://h/metrics")
// request target (RFC 9112 §3.2); nullopt for anything else ("*", garbage).
std::optional<std::string_view> target_path(std::string_view target) {
    if (target.starts_with("http://") || target.starts_with("https://")) {
        const auto scheme_end = target.find("://") + 3;
        const auto slash = target.find('/', scheme_end);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    if (!target.starts_with('/')) return std::nullopt;
    return target.substr(0, target.find_first_of("?#"));
}

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(std::shared_ptr<State> state, tcp::socket socket)
        : state_(std::move(state)),
          stream_(std::move(socket)),
          // Header and body are limited by the parser; the buffer bound only has to let
          // a pipelined request that fits those limits through.
          buffer_(state_->limits.header_limit + state_->limits.body_limit + 4096) {}

    ~Session() { state_->sessions.erase(this); }

    void start() {
        state_->sessions.emplace(this, weak_from_this());
        read_request();
    }

    // Called by stop(): aborts whatever is pending.
    void abort() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.close();
    }

private:
    void read_request() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(state_->limits.header_limit));
        parser_->body_limit(state_->limits.body_limit);
        stream_.expires_after(state_->limits.request_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (state_->stopped) return;
        if (ec == http::error::end_of_stream || ec == http::error::partial_message) return linger();
        if (ec == http::error::header_limit) return send_error(http::status::request_header_fields_too_large);
        if (ec == http::error::body_limit) return send_error(http::status::payload_too_large);
        // Beast parses only HTTP/1.0 and 1.1 (RFC 9110 §15.6.6).
        if (ec == http::error::bad_version) return send_error(http::status::http_version_not_supported);
        if (ec && ec.category() == beast::http::make_error_code(http::error::bad_method).category())
            return send_error(http::status::bad_request);
        if (ec) return;  // timeout, reset, aborted: drop the connection (the stream closes with us)
        handle(parser_->get());
    }

    void handle(const http::request<http::string_body>& req) {
        const bool keep_alive = req.keep_alive();
        const unsigned version = req.version() == 10 ? 10 : 11;
        // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
        if (req.version() >= 11 && req.count(http::field::host) == 0)
            return send_error(http::status::bad_request, "missing Host header\n");
        const auto path = target_path(std::string_view(req.target().data(), req.target().size()));
        if (!path) return send_error(http::status::bad_request, "bad request target\n");
        const bool head = req.method() == http::verb::head;
        const bool get_or_head = head || req.method() == http::verb::get;

        if (*path != "/metrics" && *path != "/") {
            return send(http::status::not_found, "text/plain; charset=utf-8", "not found; metrics are at /metrics\n",
                        head, keep_alive, version);
        }
        if (!get_or_head) {
            res_ = {};
            res_.set(http::field::allow, "GET, HEAD");
            return send(http::status::method_not_allowed, "text/plain; charset=utf-8", "only GET and HEAD\n", false,
                        keep_alive, version, /*keep_headers=*/true);
        }
        if (*path == "/") return send(http::status::ok, "text/html; charset=utf-8", std::string(kIndexPage), head, keep_alive, version);

        std::string body;
        try {
            body = state_->render();
        } catch (const std::exception& e) {
            return send(http::status::internal_server_error, "text/plain; charset=utf-8",
                        std::string("rendering metrics failed: ") + e.what() + "\n", head, false, version);
        }
        send(http::status::ok, kMetricsContentType, std::move(body), head, keep_alive, version);
    }

    // Errors close the connection: after a malformed request the stream position is unknown.
    void send_error(http::status status, std::string body = {}) {
        if (body.empty()) body = std::string(http::obsolete_reason(status)) + "\n";
        send(status, "text/plain; charset=utf-8", std::move(body), false, false, 11);
    }

    void send(http::status status, std::string_view content_type, std::string body, bool head_only, bool keep_alive,
              unsigned version, bool keep_headers = false) {
        if (!keep_headers) res_ = {};
        res_.version(version);
        res_.result(status);
        res_.set(http::field::server, "ebpfix");
        res_.set(http::field::date, http_date());
        res_.set(http::field::content_type, beast::string_view(content_type.data(), content_type.size()));
        res_.keep_alive(keep_alive);
        res_.body() = std::move(body);
        res_.prepare_payload();  // Content-Length of the full body, also for HEAD
        if (head_only) res_.body().clear();
        stream_.expires_after(state_->limits.request_timeout);
        http::async_write(stream_, res_, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
            if (ec || self->state_->stopped) return;
            if (keep_alive) return self->read_request();
            self->linger();
        });
    }

    // Graceful close: send FIN, then read and discard what the client still sends until
    // it closes or a short time passes. Closing with unread input would make the kernel
    // send a reset, and the client could lose the response it has not read yet.
    void linger() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.expires_after(std::min<std::chrono::milliseconds>(state_->limits.request_timeout, std::chrono::seconds(2)));
        discard();
    }

    void discard() {
        stream_.async_read_some(asio::buffer(discard_buf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (!ec && !self->state_->stopped) self->discard();
        });
    }

    std::shared_ptr<State> state_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> res_;
    std::array<char, 1024> discard_buf_{};
};

void accept_next(const std::shared_ptr<State>& state) {
    state->acceptor.async_accept([state](beast::error_code ec, tcp::socket socket) {
        if (state->stopped) return;
        if (ec) {
            if (ec == asio::error::operation_aborted) return;
            // Out of descriptors or buffers: try again shortly instead of spinning.
            state->retry_timer.expires_after(std::chrono::milliseconds(100));
            state->retry_timer.async_wait([state](beast::error_code wait_ec) {
                if (!wait_ec && !state->stopped) accept_next(state);
            });
            return;
        }
        if (state->sessions.size() >= state->limits.max_connections) {
            beast::error_code ignored;
            socket.close(ignored);  // over the cap: refuse at once
        } else {
            std::make_shared<Session>(state, std::move(socket))->start();
        }
        accept_next(state);
    });
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Server

MetricsServer::MetricsServer(asio::io_context& io, const std::string& listen, std::function<std::string()> render,
                             ServerLimits limits) {
    if (!render) throw std::invalid_argument("metrics server: no render function");
    if (limits.max_connections == 0) throw std::invalid_argument("metrics server: max_connections must be at least 1");
    if (limits.request_timeout.count() <= 0) throw std::invalid_argument("metrics server: request_timeout must be positive");
    const tcp::endpoint wanted = parse_listen_address(listen);
    state_ = std::make_shared<State>(io, std::move(render), limits);
    auto& acceptor = state_->acceptor;
    const auto check = [&](const beast::error_code& ec, const char* what) {
        if (ec) throw std::system_error(ec, "metrics: cannot " + std::string(what) + " " + listen);
    };
    beast::error_code ec;
    acceptor.open(wanted.protocol(), ec);
    check(ec, "open a socket for");
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    check(ec, "set SO_REUSEADDR on");
    acceptor.bind(wanted, ec);
    check(ec, "bind to");
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    check(ec, "listen on");
    endpoint_ = acceptor.local_endpoint(ec);
    check(ec, "read the bound address of");
    port_ = endpoint_.port();
    accept_next(state_);
}

MetricsServer::~MetricsServer() { stop(); }

std::size_t MetricsServer::open_connections() const { return state_ ? state_->sessions.size() : 0; }

void MetricsServer::stop() {
    if (!state_ || state_->stopped) return;
    state_->stopped = true;
    beast::error_code ignored;
    state_->acceptor.close(ignored);
    state_->retry_timer.cancel();
    // Copy first: closing must not run into a session erasing itself from the map.
    std::vector<std::shared_ptr<Session>> live;
    for (auto& [raw, weak] : state_->sessions)
        if (auto s = weak.lock()) live.push_back(std::move(s));
    for (auto& s : live) s->abort();
}

}  // namespace ebpfix::metrics
