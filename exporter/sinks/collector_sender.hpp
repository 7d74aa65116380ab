// One UDP collector: a connected, non-blocking datagram socket on the daemon's
// io_context. Messages are queued and sent in bursts of up to `burst` datagrams with one
// sendmmsg() (on loopback that halves the cost per datagram against one send() each,
// docs/benchmarks.md): when a burst is full and at flush(). Each datagram is exactly one
// message. A full queue or a refusing collector never blocks the loop or the other
// collectors.
//
// Every message handed to send() ends in exactly one of: sent (the kernel took it), lost
// (queue full, or a send error that belongs to it), or still queued. A sent message can
// later be found refused: the socket has IP_RECVERR / IPV6_RECVERR on, so each ICMP error
// that comes back (port unreachable from a stopped collector, host unreachable, ...) is
// queued on the socket with the start of the refused datagram's payload. The error queue
// is read before each send attempt, after a failed one and by take_losses(); the quote is
// matched against the header bytes of the last `sent_history` messages (IPFIX: version,
// length, export time, sequence, domain; NetFlow v9: version, count, uptime, secs,
// sequence, source id; plus the bytes after them, as far as both are known), and the
// message found is counted as not delivered with what it carried. A refusal that matches
// nothing (quoted too little, sent too long ago, its queue entry dropped by the kernel)
// is counted in refusals_unmatched: how many records that datagram held cannot be known.
//
// Only refusals that reach the socket can be counted: UDP has no acknowledgment, the
// kernel rate-limits ICMP errors (except on loopback), firewalls drop them, and a
// collector that is up but drops datagrams sends nothing back.
//
// Send errors: EAGAIN waits until the socket is writable; ENOBUFS (no buffer, or the
// qdisc dropped the datagram) keeps the queue and retries after a pause that doubles
// from 1 ms to 100 ms while it lasts; an error the kernel reports for an earlier
// datagram (ECONNREFUSED, or an errno that an ICMP entry read just after carries) is not
// the queued message's: it is retried, never dropped for that reason. Any other error
// (no route, EPERM from a firewall, EMSGSIZE, ...) loses the front message only: it is
// counted and the next one is tried. A collector without a route at start is not fatal:
// the socket connects before the next send that can.
#pragma once

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gsl/span>

struct sock_extended_err;

namespace ebpfix::sinks {

struct SenderCounters {
    // Taken by the kernel. A message found refused later stays counted here (counters
    // only grow) and is counted in messages_refused / records_refused too.
    std::uint64_t messages_sent = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t records_sent = 0;
    // Messages not delivered for an error: refusals (matched or not) and send errors.
    std::uint64_t send_errors = 0;
    std::uint64_t queue_drops = 0;         // dropped because the queue was full
    // What the messages known lost carried: refused, failed to send, or dropped.
    std::uint64_t records_not_sent = 0;
    std::uint64_t packets_not_sent = 0;
    std::uint64_t octets_not_sent = 0;
    std::uint64_t messages_refused = 0;    // sent messages a refusal was matched to
    std::uint64_t records_refused = 0;     // their records (in records_sent and in records_not_sent)
    std::uint64_t refusals_unmatched = 0;  // refusals of a datagram that is not known: records unknown
    std::uint64_t nobufs_retries = 0;      // sends that met ENOBUFS and were retried after a pause
};

class CollectorSender {
public:
    // Sends like sendmmsg(2): the number of messages sent, or -1 with errno set. Tests
    // pass their own to inject errors the kernel cannot be made to return on demand.
    using SendFunction = std::function<int(int fd, mmsghdr* messages, unsigned count, int flags)>;

    // Resolves host:port (blocking, at start or reload) and connects the socket; when
    // there is no route yet, connecting is tried again before each send. Throws
    // std::runtime_error naming the collector when the name does not resolve or the
    // socket cannot be set up.
    CollectorSender(boost::asio::io_context& io, const std::string& host, std::uint16_t port,
                    std::size_t max_queue_bytes = 4u << 20, SendFunction send_function = {});
    ~CollectorSender();
    CollectorSender(const CollectorSender&) = delete;
    CollectorSender& operator=(const CollectorSender&) = delete;

    // Queues one message that carries `records` flow records counting `packets`/`octets`
    // (those numbers are only for the not-sent counters); sends the queue when it holds
    // a full burst.
    void send(gsl::span<const std::uint8_t> message, std::uint64_t records = 0, std::uint64_t packets = 0,
              std::uint64_t octets = 0);
    // Sends what is queued now, as far as the socket takes it; the rest is sent when the
    // socket becomes writable or after an ENOBUFS pause. Call after the last message of
    // a cycle.
    void flush();

    // Reads the refusals that came back, then returns how many messages were found not
    // delivered since the last call (refused, matched or not, failed to send, or dropped
    // from the full queue) and starts counting again. Non-zero: the collector may have
    // missed templates, or restarted without them; have the encoder send them again.
    std::uint64_t take_losses();

    static constexpr std::size_t burst = 64;
    // How many sent messages a refusal can still be matched to.
    static constexpr std::size_t sent_history = 1024;
    static constexpr std::chrono::milliseconds first_pause{1}, longest_pause{100};

    std::size_t queued_bytes() const noexcept { return queued_bytes_; }
    const SenderCounters& counters() const noexcept { return counters_; }
    const std::string& name() const noexcept { return name_; }
    const boost::asio::ip::udp::endpoint& endpoint() const noexcept { return endpoint_; }
    // The socket's local address once connected (std::nullopt before).
    std::optional<boost::asio::ip::udp::endpoint> local_endpoint() const;

private:
    struct Pending {
        std::vector<std::uint8_t> bytes;
        std::uint64_t records, packets, octets;
    };
    // What a refusal is matched against: the first bytes of a sent message.
    struct Sent {
        static constexpr std::size_t prefix_capacity = 64;
        std::array<std::uint8_t, prefix_capacity> prefix;
        std::size_t prefix_length;
        std::size_t length;
        std::uint64_t records, packets, octets;
        bool refused;
    };

    // Sends from the front of the queue until it is empty, the socket would block or
    // ENOBUFS asks for a pause.
    void send_queued();
    bool connect_socket();
    // Reads the socket's error queue to the end and counts each ICMP error. Returns true
    // when one of them carried `send_errno` (so a send that failed with it reported that
    // earlier error, not one of its own).
    bool read_errors(int send_errno = 0);
    void refused(const std::uint8_t* quote, std::size_t quoted, const sock_extended_err& error);
    void remember_sent(const Pending& p);
    void lost(std::uint64_t records, std::uint64_t packets, std::uint64_t octets);
    void lose_front(const char* what, int err);
    void warn_send_error(const std::string& what);
    void wait_writable();
    void pause();

    std::string name_;
    boost::asio::ip::udp::endpoint endpoint_;
    boost::asio::ip::udp::socket socket_;
    boost::asio::steady_timer pause_timer_;
    std::size_t max_queue_bytes_;
    SendFunction send_function_;
    bool connected_ = false;
    std::deque<Pending> queue_;
    std::size_t queued_bytes_ = 0;
    bool waiting_ = false;  // for the socket to become writable
    bool pausing_ = false;  // after ENOBUFS
    std::chrono::milliseconds pause_length_{0};
    std::vector<Sent> sent_;  // ring of the last sent_history messages
    std::size_t sent_next_ = 0;
    std::size_t sent_count_ = 0;
    std::uint64_t losses_ = 0;  // since take_losses()
    SenderCounters counters_;
    // Handlers hold a weak reference: one that runs after the sender is gone does nothing.
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace ebpfix::sinks
