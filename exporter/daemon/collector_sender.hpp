// One UDP collector: a connected, non-blocking datagram socket on the daemon's
// io_context. A message is sent at once when the socket can take it; otherwise it waits
// in a bounded queue until the socket is writable. A full queue or a refusing collector
// never blocks the loop or the other collectors: the message is dropped and counted.
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

    // Sends (or queues) one message that carries `records` flow records counting
    // `packets`/`octets`; those numbers are only for the not-sent counters.
    void send(gsl::span<const std::uint8_t> message, std::uint64_t records = 0, std::uint64_t packets = 0,
              std::uint64_t octets = 0);

    std::size_t queued_bytes() const noexcept { return queued_bytes_; }
    const SenderCounters& counters() const noexcept { return counters_; }
    const std::string& name() const noexcept { return name_; }
    const boost::asio::ip::udp::endpoint& endpoint() const noexcept { return endpoint_; }

private:
    struct Pending {
        std::vector<std::uint8_t> bytes;
        std::uint64_t records, packets, octets;
    };
    // Returns false when the socket would block (message not sent, not counted).
    bool try_send(gsl::span<const std::uint8_t> message, std::uint64_t records, std::uint64_t packets,
                  std::uint64_t octets);
    void lost(std::uint64_t records, std::uint64_t packets, std::uint64_t octets);
    void wait_writable();

    std::string name_;
    boost::asio::ip::udp::endpoint endpoint_;
    boost::asio::ip::udp::socket socket_;
    std::size_t max_queue_bytes_;
    std::deque<Pending> queue_;
    std::size_t queued_bytes_ = 0;
    bool waiting_ = false;
    SenderCounters counters_;
};

}  // namespace ebpfix::daemon
