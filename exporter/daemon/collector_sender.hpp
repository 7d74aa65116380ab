// One UDP collector: a connected, non-blocking datagram socket on the daemon's
// io_context. Messages are queued and sent in bursts of up to `burst` datagrams with one
// sendmmsg() (on loopback that halves the cost per datagram against one send() each,
// docs/benchmarks.md): when a burst is full and at flush(). When the socket cannot take
// more, they wait in the bounded queue until it is writable. A full queue or a refusing
// collector never blocks the loop or the other collectors: the message is dropped and
// counted. Each datagram is still exactly one message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <gsl/span>

namespace ebpfix::daemon {

struct SenderCounters {
    std::uint64_t messages_sent = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t records_sent = 0;
    std::uint64_t send_errors = 0;         // the kernel refused the datagram (e.g. ICMP port unreachable)
    std::uint64_t queue_drops = 0;         // dropped because the queue was full
    std::uint64_t records_not_sent = 0;    // flow records in messages that were lost (errors + drops)
    std::uint64_t packets_not_sent = 0;    // packets those records counted
    std::uint64_t octets_not_sent = 0;
};

class CollectorSender {
public:
    // Resolves host:port (blocking, at start or reload) and connects the socket.
    // Throws std::runtime_error naming the collector when that fails.
    CollectorSender(boost::asio::io_context& io, const std::string& host, std::uint16_t port,
                    std::size_t max_queue_bytes = 4u << 20);
    ~CollectorSender();
    CollectorSender(const CollectorSender&) = delete;
    CollectorSender& operator=(const CollectorSender&) = delete;

    // Queues one message that carries `records` flow records counting `packets`/`octets`
    // (those numbers are only for the not-sent counters); sends the queue when it holds
    // a full burst.
    void send(gsl::span<const std::uint8_t> message, std::uint64_t records = 0, std::uint64_t packets = 0,
              std::uint64_t octets = 0);
    // Sends what is queued now, as far as the socket takes it; the rest is sent when the
    // socket becomes writable. Call after the last message of a cycle.
    void flush();

    static constexpr std::size_t burst = 64;

    std::size_t queued_bytes() const noexcept { return queued_bytes_; }
    const SenderCounters& counters() const noexcept { return counters_; }
    const std::string& name() const noexcept { return name_; }
    const boost::asio::ip::udp::endpoint& endpoint() const noexcept { return endpoint_; }

private:
    struct Pending {
        std::vector<std::uint8_t> bytes;
        std::uint64_t records, packets, octets;
    };
    // Sends from the front of the queue until it is empty or the socket would block.
    void send_queued();
    void lost(std::uint64_t records, std::uint64_t packets, std::uint64_t octets);
    void wait_writable();

    std::string name_;
    boost::asio::ip::udp::endpoint endpoint_;
    boost::asio::ip::udp::socket socket_;
    std::size_t max_queue_bytes_;
    std::deque<Pending> queue_;
    std::size_t queued_bytes_ = 0;
    bool waiting_ = false;
    bool retried_front_ = false;  // the front message already met one ECONNREFUSED
    SenderCounters counters_;
};

}  // namespace ebpfix::daemon
