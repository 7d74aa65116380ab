#include "daemon/collector_sender.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
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

void CollectorSender::send_queued() {
    std::array<mmsghdr, burst> headers;
    std::array<iovec, burst> iovs;
    while (!queue_.empty()) {
        const std::size_t n = std::min(queue_.size(), burst);
        for (std::size_t i = 0; i < n; ++i) {
            iovs[i] = iovec{queue_[i].bytes.data(), queue_[i].bytes.size()};
            headers[i] = mmsghdr{};
            headers[i].msg_hdr.msg_iov = &iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        const int sent = ::sendmmsg(socket_.native_handle(), headers.data(), static_cast<unsigned>(n),
                                    MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            for (int i = 0; i < sent; ++i) {
                const Pending& p = queue_.front();
                counters_.messages_sent += 1;
                counters_.bytes_sent += headers[std::size_t(i)].msg_len;
                counters_.records_sent += p.records;
                queued_bytes_ -= p.bytes.size();
                queue_.pop_front();
            }
            retried_front_ = false;
            continue;
        }
        // Nothing was sent: the error belongs to the front message.
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) return;
        if (err == EINTR) continue;
        counters_.send_errors += 1;
        if (counters_.send_errors == 1 || counters_.send_errors % 1000 == 0)
            log_warning("collector " + name_ + ": send failed: " + std::string(std::strerror(err)) + " (" +
                        std::to_string(counters_.send_errors) + " errors so far)");
        // A refused datagram leaves the error on the socket and the next send reports it.
        // Try the front message once more so that one stale error does not cost it.
        if (err == ECONNREFUSED && !retried_front_) {
            retried_front_ = true;
            continue;
        }
        const Pending& p = queue_.front();
        lost(p.records, p.packets, p.octets);
        queued_bytes_ -= p.bytes.size();
        queue_.pop_front();
        retried_front_ = false;
    }
}

void CollectorSender::send(gsl::span<const std::uint8_t> message, std::uint64_t records, std::uint64_t packets,
                           std::uint64_t octets) {
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
    if (queue_.size() >= burst) flush();
}

void CollectorSender::flush() {
    if (waiting_) return;  // the writable handler sends the queue
    send_queued();
    if (!queue_.empty()) wait_writable();
}

void CollectorSender::wait_writable() {
    if (waiting_) return;
    waiting_ = true;
    socket_.async_wait(udp::socket::wait_write, [this](const boost::system::error_code& ec) {
        // Aborted: the sender is being destroyed; do not touch it.
        if (ec == asio::error::operation_aborted) return;
        waiting_ = false;
        flush();
    });
}

}  // namespace ebpfix::daemon
