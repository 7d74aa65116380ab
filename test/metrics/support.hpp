// Shared by the metrics tests: a MetricsServer running on its own io thread, and a
// Beast client whose every read has a deadline (a misbehaving server fails the test
// instead of hanging it). Traffic stays on loopback.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "metrics/http_server.hpp"

namespace ebpfix::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// The server and everything render() reads live on the io thread; the test thread
// reaches them only through on_io().
class ServerThread {
public:
    ServerThread(std::string listen, std::function<std::string()> render, metrics::ServerLimits limits = {})
        : guard_(asio::make_work_guard(io_)) {
        server_.emplace(io_, listen, std::move(render), limits);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~ServerThread() {
        on_io([this] { server_->stop(); });
        guard_.reset();
        thread_.join();  // returns only once stop() has ended every connection
    }

    template <typename F>
    auto on_io(F f) -> decltype(f()) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        asio::post(io_, [&task] { task(); });
        return result.get();
    }

    std::uint16_t port() const { return server_->port(); }
    std::size_t open_connections() {
        return on_io([this] { return server_->open_connections(); });
    }
    // Polls until the server holds n connections, or gives up after the timeout.
    bool wait_connections(std::size_t n, std::chrono::milliseconds timeout = 3s) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (open_connections() != n) {
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(5ms);
        }
        return true;
    }
    metrics::MetricsServer& server() { return *server_; }

private:
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    std::optional<metrics::MetricsServer> server_;
    std::thread thread_;
};

class Client {
public:
    explicit Client(std::uint16_t port, const char* address = "127.0.0.1") : stream_(io_) {
        stream_.connect(tcp::endpoint(asio::ip::make_address(address), port));
    }

    void send_raw(std::string_view bytes) { asio::write(stream_.socket(), asio::buffer(bytes.data(), bytes.size())); }

    void send(http::verb method, std::string_view target, unsigned version = 11) {
        http::request<http::empty_body> req{method, beast::string_view(target.data(), target.size()), version};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::user_agent, "ebpfix-test");
        http::write(stream_.socket(), req);
    }

    // One response, or nullopt (error() says why) when none arrives within the timeout.
    std::optional<http::response<http::string_body>> read(bool head = false, std::chrono::milliseconds timeout = 5s) {
        http::response_parser<http::string_body> parser;
        parser.skip(head);  // a response to HEAD has Content-Length but no body
        parser.body_limit(64 * 1024 * 1024);
        beast::error_code result = asio::error::would_block;
        stream_.expires_after(timeout);
        http::async_read(stream_, buffer_, parser, [&](beast::error_code ec, std::size_t) { result = ec; });
        io_.restart();
        io_.run();
        error_ = result;
        if (result) return std::nullopt;
        return parser.release();
    }

    std::optional<http::response<http::string_body>> get(std::string_view target) {
        send(http::verb::get, target);
        return read();
    }

    // Waits for the peer to close. Returns the bytes that arrived before the close, or
    // nullopt if the connection is still open after the timeout.
    std::optional<std::size_t> wait_closed(std::chrono::milliseconds timeout) {
        std::size_t received = buffer_.size();
        bool closed = false;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        char chunk[4096];
        while (!closed) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            beast::error_code result = asio::error::would_block;
            std::size_t n = 0;
            stream_.expires_after(left);
            stream_.async_read_some(asio::buffer(chunk), [&](beast::error_code ec, std::size_t got) {
                result = ec;
                n = got;
            });
            io_.restart();
            io_.run();
            if (result == beast::error::timeout) return std::nullopt;
            received += n;
            if (result) closed = true;  // EOF or reset
        }
        return received;
    }

    beast::error_code error() const { return error_; }
    void close() { stream_.close(); }

private:
    asio::io_context io_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    beast::error_code error_;
};

}  // namespace ebpfix::test
