#include "daemon/collector_sender.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <boost/asio/ip/udp.hpp>

#include "daemon/log.hpp"

namespace ebpfix::daemon {

namespace asio = boost::asio;
using udp = asio::ip::udp;

CollectorSender::CollectorSender(asio::io_context& io, const std::string& host, std::uint16_t port,
                                 std::size_t max_queue_bytes)
    : name_(host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                                : host + ":" + std::to_string(port)),
      socket_(io),
      max_queue_bytes_(max_queue_bytes) {
    boost::system::error_code ec;
    udp::resolver resolver(io);
    auto results = resolver.resolve(host, std::to_string(port), udp::resolver::numeric_service, ec);
    if (ec || results.empty())
        throw std::runtime_error("collector " + name_ + ": cannot resolve '" + host + "': " + ec.message());
    endpoint_ = results.begin()->endpoint();
    socket_.open(endpoint_.protocol(), ec);
    if (!ec) socket_.non_blocking(true, ec);
    // connect() lets the kernel report ICMP errors (port unreachable) as send errors.
    if (!ec) socket_.connect(endpoint_, ec);
    if (ec) throw std::runtime_error("collector " + name_ + ": cannot open a UDP socket: " + ec.message());
}

CollectorSender::~CollectorSender() {
    boost::system::error_code ec;
    socket_.close(ec);
}

void CollectorSender::lost(std::uint64_t records, std::uint64_t packets, std::uint64_t octets) {
    counters_.records_not_sent += records;
    counters_.packets_not_sent += packets;
    counters_.octets_not_sent += octets;
}

bool CollectorSender::try_send(gsl::span<const std::uint8_t> message, std::uint64_t records,
                               std::uint64_t packets, std::uint64_t octets) {
    // A refused datagram leaves the error on the socket; the next send reports it. Try
    // twice so that one stale error does not cost the current message.
    for (int attempt = 0; attempt < 2; ++attempt) {
        const ssize_t n = ::send(socket_.native_handle(), message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            counters_.messages_sent += 1;
            counters_.bytes_sent += static_cast<std::uint64_t>(n);
            counters_.records_sent += records;
            return true;
        }
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) return false;
        if (err == EINTR) continue;
        counters_.send_errors += 1;
        if (counters_.send_errors == 1 || counters_.send_errors % 1000 == 0)
            log_warning("collector " + name_ + ": send failed: " + std::string(std::strerror(err)) + " (" +
                        std::to_string(counters_.send_errors) + " errors so far)");
        if (err != ECONNREFUSED || attempt == 1) {
            lost(records, packets, octets);
            return true;  // handled: counted as lost
        }
    }
    lost(records, packets, octets);
    return true;
}

void CollectorSender::send(gsl::span<const std::uint8_t> message, std::uint64_t records, std::uint64_t packets,
                           std::uint64_t octets) {
    if (queue_.empty() && try_send(message, records, packets, octets)) return;
    if (queued_bytes_ + message.size() > max_queue_bytes_) {
        counters_.queue_drops += 1;
        lost(records, packets, octets);
        if (counters_.queue_drops == 1 || counters_.queue_drops % 1000 == 0)
            log_warning("collector " + name_ + ": send queue full, message dropped (" +
                        std::to_string(counters_.queue_drops) + " so far)");
        return;
    }
    queue_.push_back(Pending{{message.begin(), message.end()}, records, packets, octets});
    queued_bytes_ += message.size();
    wait_writable();
}

void CollectorSender::wait_writable() {
    if (waiting_) return;
    waiting_ = true;
    socket_.async_wait(udp::socket::wait_write, [this](const boost::system::error_code& ec) {
        // Aborted: the sender is being destroyed; do not touch it.
        if (ec == asio::error::operation_aborted) return;
        waiting_ = false;
        while (!queue_.empty()) {
            Pending& p = queue_.front();
            if (!try_send(gsl::span<const std::uint8_t>(p.bytes.data(), p.bytes.size()), p.records, p.packets,
                          p.octets))
                break;
            queued_bytes_ -= p.bytes.size();
            queue_.pop_front();
        }
        if (!queue_.empty()) wait_writable();
    });
}

}  // namespace ebpfix::daemon
