// A strict IPFIX-over-TCP collector for tests (RFC 7011 section 10.4), run on the test's
// io_context next to the sink. Each accepted connection is its own Transport Session with
// its own strict decoder (test/collectors/flow_decoder.hpp), so a data set whose template
// was not sent on that connection is an error. On top of the decoder's rules, per
// connection:
//  * messages are delimited by the header Length; version 10;
//  * the first message carries templates and has Sequence Number 0, and each later one
//    the number of data records (flow and options) sent before it on the connection;
//  * no template is announced twice on a connection; Export Time never goes back;
//  * a clean end (FIN) falls between two messages; only a reset may cut one.
// Anything else is recorded in errors(). kill() plays a collector that dies: it takes
// what the kernel already acknowledged (peeking, so a paused reader opens no window) and
// resets the connection.
#pragma once

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gsl/span>

#include "collectors/flow_decoder.hpp"

namespace ebpfix::test {

struct ReaderConnection {
    enum class End { open, eof, reset, killed, closed };
    std::uint16_t peer_port = 0;
    std::size_t messages = 0;
    std::size_t first_message_templates = 0;  // template records in the first message
    std::size_t template_records = 0;         // (options) template records, all messages
    std::uint32_t first_sequence = 0;
    std::vector<FlowRecord> flows;
    std::uint64_t options_records = 0;
    std::uint64_t interface_records = 0;      // options records of the interface table
    std::uint64_t last_not_sent_flows = 0;    // notSentFlowTotalCount (166), last reported
    std::size_t partial_bytes = 0;             // of a message cut off at the end
    End end = End::open;
};

class IpfixTcpReader {
public:
    struct Options {
        std::string address = "127.0.0.1";
        std::uint16_t port = 0;  // 0: any free one
        int receive_buffer = 0;  // SO_RCVBUF of accepted connections; 0: the default
        bool paused = false;     // accept but do not read
        bool listening = true;   // false: bound only, so connections are refused
    };

    IpfixTcpReader(boost::asio::io_context& io, Options options) : io_(io), options_(std::move(options)) {
        open_acceptor();
        if (options_.listening) listen();
    }
    ~IpfixTcpReader() {
        boost::system::error_code ec;
        if (acceptor_) acceptor_->close(ec);
        for (auto& c : live_)
            if (c->socket.is_open()) c->socket.close(ec);
    }
    IpfixTcpReader(const IpfixTcpReader&) = delete;
    IpfixTcpReader& operator=(const IpfixTcpReader&) = delete;

    std::uint16_t port() const noexcept { return options_.port; }

    // Starts taking connections (again, after kill(), on the same port).
    void listen() {
        if (!acceptor_) open_acceptor();
        acceptor_->listen();
        accept_next();
    }

    // The collector dies: no more listening, every connection reset after what its
    // kernel already took has been read. graceful: it closes its end instead (FIN), still
    // listening, as a collector that no longer wants a connection does (RFC 7011 10.4.4).
    void kill(bool graceful = false) {
        boost::system::error_code ec;
        if (!graceful) {
            if (acceptor_) acceptor_->close(ec);
            acceptor_.reset();
        }
        for (auto& c : live_) {
            if (!c->socket.is_open()) continue;
            const int fd = c->socket.native_handle();
            std::vector<std::uint8_t> buf;
            if (paused_ && !c->reading) {
                int n = 0;
                ::ioctl(fd, FIONREAD, &n);
                buf.resize(std::size_t(n));
                const ssize_t got = n > 0 ? ::recv(fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT) : 0;
                buf.resize(got > 0 ? std::size_t(got) : 0);
            } else {
                std::uint8_t chunk[65536];
                for (;;) {
                    const ssize_t got = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
                    if (got <= 0) break;
                    buf.insert(buf.end(), chunk, chunk + got);
                }
            }
            consume(*c, buf.data(), buf.size());
            connection(*c).partial_bytes = c->pending.size();
            connection(*c).end = graceful ? ReaderConnection::End::closed : ReaderConnection::End::killed;
            if (!graceful) c->socket.set_option(boost::asio::socket_base::linger(true, 0), ec);
            c->socket.close(ec);
        }
        paused_ = options_.paused;
    }

    // A paused reader starts reading what its connections hold.
    void resume() {
        paused_ = false;
        for (auto& c : live_)
            if (c->socket.is_open() && !c->reading) read_next(c.get());
    }
    void set_paused(bool paused) { options_.paused = paused_ = paused; }

    // Bytes waiting in the kernel on the newest open connection.
    std::size_t available() const {
        for (auto it = live_.rbegin(); it != live_.rend(); ++it) {
            if (!(*it)->socket.is_open()) continue;
            int n = 0;
            if (::ioctl((*it)->socket.native_handle(), FIONREAD, &n) == 0) return std::size_t(n);
        }
        return 0;
    }

    const std::vector<ReaderConnection>& connections() const noexcept { return connections_; }
    const std::vector<std::string>& errors() const noexcept { return errors_; }
    // At least one connection, and every one has ended.
    bool all_ended() const {
        if (connections_.empty()) return false;
        for (const auto& c : connections_)
            if (c.end == ReaderConnection::End::open) return false;
        return true;
    }

    struct Totals {
        std::uint64_t records = 0, packets = 0, octets = 0;
        friend bool operator==(const Totals&, const Totals&) = default;
    };
    static Totals totals_of(const std::vector<FlowRecord>& flows) {
        Totals t;
        for (const FlowRecord& r : flows) {
            t.records += 1;
            t.packets += r.packets;
            t.octets += r.bytes;
        }
        return t;
    }
    Totals totals() const {
        Totals t;
        for (const auto& c : connections_) {
            const Totals one = totals_of(c.flows);
            t.records += one.records;
            t.packets += one.packets;
            t.octets += one.octets;
        }
        return t;
    }

private:
    struct Live {
        explicit Live(boost::asio::io_context& io) : socket(io) {}
        boost::asio::ip::tcp::socket socket;
        std::size_t index = 0;  // in connections_
        std::vector<std::uint8_t> pending;
        std::vector<std::uint8_t> chunk = std::vector<std::uint8_t>(65536);
        FlowDecoder decoder{ipfix::Protocol::ipfix};
        std::set<std::uint16_t> templates;
        std::uint32_t last_export_s = 0;
        bool reading = false;
        bool broken = false;  // a stream error: the rest cannot be delimited
    };

    ReaderConnection& connection(const Live& c) { return connections_[c.index]; }

    void error(const Live& c, const std::string& what) {
        errors_.push_back("connection " + std::to_string(c.index) + ": " + what);
    }

    void open_acceptor() {
        namespace ip = boost::asio::ip;
        const ip::tcp::endpoint at(ip::make_address(options_.address), options_.port);
        acceptor_ = std::make_unique<ip::tcp::acceptor>(io_);
        acceptor_->open(at.protocol());
        acceptor_->set_option(ip::tcp::acceptor::reuse_address(true));
        if (options_.receive_buffer > 0)  // inherited by accepted sockets
            acceptor_->set_option(boost::asio::socket_base::receive_buffer_size(options_.receive_buffer));
        acceptor_->bind(at);
        options_.port = acceptor_->local_endpoint().port();
        paused_ = options_.paused;
    }

    void accept_next() {
        auto* acceptor = acceptor_.get();
        acceptor->async_accept([this, alive = std::weak_ptr<int>(alive_), acceptor](
                                   const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket) {
            if (alive.expired() || ec || acceptor != acceptor_.get()) return;
            auto c = std::make_unique<Live>(io_);
            c->socket = std::move(socket);
            c->index = connections_.size();
            connections_.emplace_back();
            boost::system::error_code e;
            connections_.back().peer_port = c->socket.remote_endpoint(e).port();
            Live* raw = c.get();
            live_.push_back(std::move(c));
            if (!paused_) read_next(raw);
            accept_next();
        });
    }

    // Waits for data, then reads what the kernel holds (so no completion ever carries
    // bytes that kill() could not see).
    void read_next(Live* c) {
        c->reading = true;
        c->socket.async_wait(boost::asio::ip::tcp::socket::wait_read,
                             [this, alive = std::weak_ptr<int>(alive_), c](const boost::system::error_code& ec) {
                                 if (alive.expired() || ec || !c->socket.is_open()) return;
                                 read_ready(c);
                             });
    }

    void read_ready(Live* c) {
        ReaderConnection& rc = connection(*c);
        for (;;) {
            const ssize_t n = ::recv(c->socket.native_handle(), c->chunk.data(), c->chunk.size(), MSG_DONTWAIT);
            if (n > 0) {
                consume(*c, c->chunk.data(), std::size_t(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                read_next(c);
                return;
            }
            rc.partial_bytes = c->pending.size();
            if (n == 0) {
                rc.end = ReaderConnection::End::eof;
                if (!c->pending.empty())
                    error(*c, "clean end (FIN) " + std::to_string(c->pending.size()) + " bytes into a message");
            } else {
                rc.end = ReaderConnection::End::reset;
                if (errno != ECONNRESET) error(*c, std::string("read error: ") + std::strerror(errno));
            }
            boost::system::error_code e;
            c->socket.close(e);
            return;
        }
    }

    static std::uint16_t u16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }
    static std::uint32_t u32(const std::uint8_t* p) {
        return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
    }

    // Template ids a message announces (the decoder checks the records themselves).
    static std::vector<std::uint16_t> announced(const std::uint8_t* m, std::size_t length) {
        std::vector<std::uint16_t> ids;
        for (std::size_t at = 16; at + 4 <= length;) {
            const std::uint16_t id = u16(m + at), set_length = u16(m + at + 2);
            if (set_length < 4 || set_length > length - at) break;
            if (id == 2 || id == 3) {
                const std::size_t end = at + set_length;
                std::size_t p = at + 4;
                while (end - p >= 4) {
                    const std::uint16_t tid = u16(m + p), count = u16(m + p + 2);
                    ids.push_back(tid);
                    p += id == 3 ? 6 : 4;
                    for (std::uint16_t f = 0; f < count && p + 4 <= end; ++f) p += (u16(m + p) & 0x8000) ? 8 : 4;
                    if (p > end) break;
                }
            }
            at += set_length;
        }
        return ids;
    }

    void consume(Live& c, const std::uint8_t* data, std::size_t n) {
        if (c.broken) return;
        c.pending.insert(c.pending.end(), data, data + n);
        std::size_t at = 0;
        while (c.pending.size() - at >= 16) {
            const std::uint8_t* m = c.pending.data() + at;
            const std::uint16_t version = u16(m), length = u16(m + 2);
            if (version != 10 || length < 16) {
                error(c, "stream offset " + std::to_string(at) + ": version " + std::to_string(version) + " length " +
                             std::to_string(length));
                c.broken = true;
                return;
            }
            if (c.pending.size() - at < length) break;
            message(c, m, length);
            if (c.broken) return;
            at += length;
        }
        c.pending.erase(c.pending.begin(), c.pending.begin() + std::ptrdiff_t(at));
    }

    void message(Live& c, const std::uint8_t* m, std::size_t length) {
        ReaderConnection& rc = connection(c);
        const std::size_t number = rc.messages++;
        for (std::uint16_t id : announced(m, length))
            if (!c.templates.insert(id).second) error(c, "message " + std::to_string(number) + " announces template " +
                                                             std::to_string(id) + " a second time");
        DecodedMessage d;
        try {
            d = c.decoder.decode(gsl::span<const std::uint8_t>(m, length));
        } catch (const DecodeError& e) {
            error(c, "message " + std::to_string(number) + ": " + e.what());
            c.broken = true;
            return;
        }
        rc.template_records += d.template_records + d.options_template_records;
        if (number == 0) {
            rc.first_sequence = d.sequence;
            rc.first_message_templates = d.template_records + d.options_template_records;
            if (d.sequence != 0) error(c, "first Sequence Number " + std::to_string(d.sequence) + ", not 0");
            if (rc.first_message_templates == 0) error(c, "the first message carries no template");
        }
        if (d.export_time_s < c.last_export_s)
            error(c, "message " + std::to_string(number) + ": Export Time " + std::to_string(d.export_time_s) +
                         " before " + std::to_string(c.last_export_s));
        c.last_export_s = d.export_time_s;
        for (const DecodedRecord& r : d.flows) {
            try {
                rc.flows.push_back(to_flow_record(r, d));
            } catch (const std::exception& e) {
                error(c, "message " + std::to_string(number) + ": " + e.what());
            }
        }
        rc.options_records += d.options.size();
        for (const DecodedRecord& r : d.options) {
            if (r.scope.count(10) != 0) rc.interface_records += 1;  // scope ingressInterface
            if (r.has(166)) rc.last_not_sent_flows = r.uint(166);
        }
    }

    boost::asio::io_context& io_;
    Options options_;
    bool paused_ = false;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
    std::vector<std::unique_ptr<Live>> live_;
    std::vector<ReaderConnection> connections_;
    std::vector<std::string> errors_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace ebpfix::test
