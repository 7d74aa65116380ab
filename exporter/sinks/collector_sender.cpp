#include "sinks/collector_sender.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <boost/asio/ip/udp.hpp>

#include "common/log.hpp"

namespace ebpfix::sinks {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

// Errors one read of the error queue handles at most: it never spins on a flood.
constexpr std::size_t k_errors_per_read = 4096;
// A send that fails with an earlier datagram's error is retried this often in a row,
// then the sender pauses (the message stays queued).
constexpr unsigned k_stale_retries = 8;
// Larger than any ICMP quote (IPv6: 1280 bytes minus headers).
constexpr std::size_t k_quote_buffer = 2048;

// Bytes of the message header that must be quoted for a match: they hold the sequence
// number, the export time and the length or record count.
std::size_t header_length(const std::uint8_t* message, std::size_t length) {
    const bool v9 = length >= 2 && message[0] == 0 && message[1] == 9;
    return std::min(length, v9 ? std::size_t{20} : std::size_t{16});
}

}  // namespace

CollectorSender::CollectorSender(asio::io_context& io, const std::string& host, std::uint16_t port,
                                 std::size_t max_queue_bytes, SendFunction send_function)
    : name_(host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                                : host + ":" + std::to_string(port)),
      socket_(io),
      pause_timer_(io),
      max_queue_bytes_(max_queue_bytes),
      send_function_(std::move(send_function)) {
    if (!send_function_)
        send_function_ = [](int fd, mmsghdr* messages, unsigned count, int flags) {
            return ::sendmmsg(fd, messages, count, flags);
        };
    boost::system::error_code ec;
    udp::resolver resolver(io);
    auto results = resolver.resolve(host, std::to_string(port), udp::resolver::numeric_service, ec);
    if (ec || results.empty())
        throw std::runtime_error("collector " + name_ + ": cannot resolve '" + host + "': " + ec.message());
    endpoint_ = results.begin()->endpoint();
    socket_.open(endpoint_.protocol(), ec);
    if (!ec) socket_.non_blocking(true, ec);
    if (ec) throw std::runtime_error("collector " + name_ + ": cannot open a UDP socket: " + ec.message());
    // ICMP errors go to the error queue with the quoted datagram, so a refusal can be
    // matched to the message it hit. An IPv6 socket talking to a mapped IPv4 address
    // gets ICMPv4 errors: those need the IPv4 option too.
    const int on = 1;
    const int fd = socket_.native_handle();
    const bool v6 = endpoint_.address().is_v6();
    int rc = v6 ? ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on)
                : ::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
    if (rc == 0 && v6 && endpoint_.address().to_v6().is_v4_mapped())
        rc = ::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
    if (rc != 0)
        throw std::runtime_error("collector " + name_ + ": cannot enable " + (v6 ? "IPV6_RECVERR" : "IP_RECVERR") +
                                 ": " + std::strerror(errno));
    sent_.resize(sent_history);
    // connect() also lets the kernel report ICMP errors of this peer on the socket.
    if (!connect_socket())
        log_warning("collector " + name_ + ": cannot connect yet (" + std::strerror(errno) +
                    "); messages are counted as not sent until it can");
}

CollectorSender::~CollectorSender() {
    boost::system::error_code ec;
    socket_.close(ec);
}

bool CollectorSender::connect_socket() {
    if (::connect(socket_.native_handle(), endpoint_.data(), static_cast<socklen_t>(endpoint_.size())) != 0)
        return false;
    if (counters_.send_errors > 0) log_info("collector " + name_ + ": connected");
    connected_ = true;
    return true;
}

void CollectorSender::lost(std::uint64_t records, std::uint64_t packets, std::uint64_t octets) {
    counters_.records_not_sent += records;
    counters_.packets_not_sent += packets;
    counters_.octets_not_sent += octets;
    losses_ += 1;
}

void CollectorSender::warn_send_error(const std::string& what) {
    if (counters_.send_errors == 1 || counters_.send_errors % 1000 == 0)
        log_warning("collector " + name_ + ": " + what + " (" + std::to_string(counters_.send_errors) +
                    " errors so far)");
}

void CollectorSender::lose_front(const char* what, int err) {
    const Pending& p = queue_.front();
    counters_.send_errors += 1;
    lost(p.records, p.packets, p.octets);
    queued_bytes_ -= p.bytes.size();
    queue_.pop_front();
    warn_send_error(std::string(what) + ", message lost: " + std::strerror(err));
}

void CollectorSender::remember_sent(const Pending& p) {
    Sent& s = sent_[sent_next_];
    s.length = p.bytes.size();
    s.prefix_length = std::min(p.bytes.size(), Sent::prefix_capacity);
    std::copy_n(p.bytes.begin(), s.prefix_length, s.prefix.begin());
    s.records = p.records;
    s.packets = p.packets;
    s.octets = p.octets;
    s.refused = false;
    sent_next_ = (sent_next_ + 1) % sent_history;
    sent_count_ = std::min(sent_count_ + 1, sent_history);
}

void CollectorSender::refused(const std::uint8_t* quote, std::size_t quoted, const sock_extended_err& error) {
    counters_.send_errors += 1;
    losses_ += 1;
    // Errors come back in the order the datagrams left: the oldest message not yet found
    // refused that fits the quote is the one.
    Sent* match = nullptr;
    for (std::size_t i = 0; i < sent_count_ && match == nullptr; ++i) {
        Sent& s = sent_[(sent_next_ + sent_history - sent_count_ + i) % sent_history];
        if (s.refused || quoted > s.length || quoted < header_length(s.prefix.data(), s.length)) continue;
        const std::size_t n = std::min(quoted, s.prefix_length);
        if (std::equal(quote, quote + n, s.prefix.begin())) match = &s;
    }
    const std::string why = std::string(std::strerror(static_cast<int>(error.ee_errno))) + " (ICMP type " +
                            std::to_string(error.ee_type) + " code " + std::to_string(error.ee_code) + ")";
    if (match == nullptr) {
        counters_.refusals_unmatched += 1;
        warn_send_error("a datagram was refused: " + why + "; it matches no recent message, its records are unknown");
        return;
    }
    match->refused = true;
    counters_.messages_refused += 1;
    counters_.records_refused += match->records;
    counters_.records_not_sent += match->records;
    counters_.packets_not_sent += match->packets;
    counters_.octets_not_sent += match->octets;
    warn_send_error("message refused: " + why);
}

bool CollectorSender::read_errors(int send_errno) {
    bool reported = false;
    std::array<std::uint8_t, k_quote_buffer> quote;
    // Room for the extended error and the offender's address, aligned for cmsghdr.
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(sock_extended_err) + sizeof(sockaddr_in6))> control;
    for (std::size_t i = 0; i < k_errors_per_read; ++i) {
        iovec iov{quote.data(), quote.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;  // EAGAIN: the queue is empty
        }
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            const bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
            const bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
            if (!(v4 || v6) || c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
            sock_extended_err error;
            std::memcpy(&error, CMSG_DATA(c), sizeof error);
            // Local errors (EMSGSIZE, ...) were already returned by the send that met them.
            if (error.ee_origin != SO_EE_ORIGIN_ICMP && error.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
            if (send_errno != 0 && static_cast<int>(error.ee_errno) == send_errno) reported = true;
            refused(quote.data(), static_cast<std::size_t>(n), error);
        }
    }
    return reported;
}

std::uint64_t CollectorSender::take_losses() {
    read_errors();
    return std::exchange(losses_, 0);
}

void CollectorSender::send_queued() {
    if (!queue_.empty() && !connected_ && !connect_socket()) {
        const int err = errno;
        while (!queue_.empty()) lose_front("cannot connect", err);
        return;
    }
    std::array<mmsghdr, burst> headers;
    std::array<iovec, burst> iovs;
    unsigned stale_retries = 0;
    while (!queue_.empty()) {
        // Refusals first: each clears the error the kernel would report on this send.
        read_errors();
        const std::size_t n = std::min(queue_.size(), burst);
        for (std::size_t i = 0; i < n; ++i) {
            iovs[i] = iovec{queue_[i].bytes.data(), queue_[i].bytes.size()};
            headers[i] = mmsghdr{};
            headers[i].msg_hdr.msg_iov = &iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        const int sent = send_function_(socket_.native_handle(), headers.data(), static_cast<unsigned>(n),
                                        MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            for (int i = 0; i < sent; ++i) {
                const Pending& p = queue_.front();
                counters_.messages_sent += 1;
                counters_.bytes_sent += headers[std::size_t(i)].msg_len;
                counters_.records_sent += p.records;
                remember_sent(p);
                queued_bytes_ -= p.bytes.size();
                queue_.pop_front();
            }
            pause_length_ = std::chrono::milliseconds{0};
            stale_retries = 0;
            continue;
        }
        // Nothing was sent: the error is the front message's, or an earlier datagram's.
        const int err = sent < 0 ? errno : EAGAIN;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            wait_writable();
            return;
        }
        if (err == ENOBUFS) {
            // Writable at once: waiting for that would spin. The message was not taken
            // (or the qdisc dropped it): it is sent again after the pause.
            counters_.nobufs_retries += 1;
            pause();
            return;
        }
        const bool earlier = read_errors(err);
        if (earlier || err == ECONNREFUSED || err == EINTR) {
            // ECONNREFUSED only ever reports an ICMP error: without its queue entry (the
            // kernel dropped it) it is a refusal of a datagram that is not known.
            if (err == ECONNREFUSED && !earlier) {
                counters_.send_errors += 1;
                counters_.refusals_unmatched += 1;
                losses_ += 1;
                warn_send_error("a datagram was refused; the error matches no recent message, its records are unknown");
            }
            if (++stale_retries < k_stale_retries) continue;
            pause();
            return;
        }
        lose_front("send failed", err);
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

std::optional<udp::endpoint> CollectorSender::local_endpoint() const {
    if (!connected_) return std::nullopt;
    boost::system::error_code ec;
    const udp::endpoint local = socket_.local_endpoint(ec);
    if (ec) return std::nullopt;
    return local;
}

void CollectorSender::flush() {
    if (waiting_ || pausing_) return;  // the writable or pause handler sends the queue
    send_queued();
}

void CollectorSender::wait_writable() {
    if (waiting_) return;
    waiting_ = true;
    socket_.async_wait(udp::socket::wait_write,
                       [this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
                           // Aborted or gone: the sender is being destroyed; do not touch it.
                           if (ec == asio::error::operation_aborted || alive.expired()) return;
                           waiting_ = false;
                           flush();
                       });
}

void CollectorSender::pause() {
    if (pausing_) return;
    pausing_ = true;
    pause_length_ = pause_length_.count() == 0 ? first_pause : std::min(pause_length_ * 2, longest_pause);
    pause_timer_.expires_after(pause_length_);
    pause_timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
        if (ec == asio::error::operation_aborted || alive.expired()) return;
        pausing_ = false;
        flush();
    });
}

}  // namespace ebpfix::sinks
