// CollectorSender on loopback: bursts of sendmmsg keep every message one datagram, in
// order, byte for byte; flush() sends a partial burst; a refusal reported by the kernel is
// counted and the message it fell on is retried, so no record is lost.
#define BOOST_TEST_MODULE collector_sender
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "daemon/collector_sender.hpp"

using ebpfix::daemon::CollectorSender;

namespace {

// A bound UDP socket on 127.0.0.1 with room for every test datagram.
struct Receiver {
    int fd = -1;
    std::uint16_t port = 0;
    Receiver() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fd < 0) throw std::runtime_error("socket");
        int size = 4 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~Receiver() {
        if (fd >= 0) ::close(fd);
    }
    std::vector<std::vector<std::uint8_t>> read_all() const {
        std::vector<std::vector<std::uint8_t>> out;
        std::vector<std::uint8_t> buf(65536);
        for (;;) {
            const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n < 0) break;
            out.emplace_back(buf.begin(), buf.begin() + n);
        }
        return out;
    }
};

// Message i: 1 to 1400 bytes, every byte derived from i.
std::vector<std::uint8_t> message(std::size_t i) {
    std::vector<std::uint8_t> m(1 + (i * 37) % 1400);
    for (std::size_t j = 0; j < m.size(); ++j) m[j] = static_cast<std::uint8_t>(i * 7 + j);
    return m;
}

}  // namespace

BOOST_AUTO_TEST_CASE(bursts_keep_each_message_one_datagram_in_order) {
    Receiver rx;
    boost::asio::io_context io;
    CollectorSender sender(io, "127.0.0.1", rx.port);
    const std::size_t n = 2 * CollectorSender::burst + 5;
    std::uint64_t bytes = 0, records = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto m = message(i);
        bytes += m.size();
        records += i % 3;
        sender.send(m, i % 3);
    }
    // Two full bursts went out; the last five wait for flush().
    BOOST_TEST(sender.counters().messages_sent == 2 * CollectorSender::burst);
    BOOST_TEST(sender.queued_bytes() > 0u);
    sender.flush();
    BOOST_TEST(sender.queued_bytes() == 0u);
    const auto& c = sender.counters();
    BOOST_TEST(c.messages_sent == n);
    BOOST_TEST(c.bytes_sent == bytes);
    BOOST_TEST(c.records_sent == records);
    BOOST_TEST(c.send_errors == 0u);
    BOOST_TEST(c.records_not_sent == 0u);
    const auto got = rx.read_all();
    BOOST_TEST_REQUIRE(got.size() == n);
    for (std::size_t i = 0; i < n; ++i) BOOST_TEST((got[i] == message(i)), "datagram " << i);
}

BOOST_AUTO_TEST_CASE(refusing_collector_counts_each_refusal_once) {
    std::uint16_t port = 0;
    {
        Receiver gone;  // bound, then closed: the port refuses
        port = gone.port;
    }
    boost::asio::io_context io;
    CollectorSender sender(io, "127.0.0.1", port);
    for (std::size_t i = 0; i < 3; ++i) sender.send(message(i), 2, 10, 1000);
    sender.flush();
    // The datagrams leave; each refusal comes back as ICMP and waits on the socket.
    BOOST_TEST(sender.counters().messages_sent == 3u);
    ::usleep(20000);  // let the last ICMP error arrive
    sender.send(message(3), 2, 10, 1000);
    sender.flush();
    const auto& c = sender.counters();
    // The pending refusal is reported on the next send, counted once, and that message
    // is tried again: all four sent, no record lost.
    BOOST_TEST(c.send_errors >= 1u);
    BOOST_TEST(c.send_errors <= 3u);
    BOOST_TEST(c.messages_sent == 4u);
    BOOST_TEST(c.records_sent == 8u);
    BOOST_TEST(c.records_not_sent == 0u);
    BOOST_TEST(c.queue_drops == 0u);
    BOOST_TEST(sender.queued_bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(full_queue_drops_and_counts_what_the_message_carried) {
    Receiver rx;
    boost::asio::io_context io;
    CollectorSender sender(io, "127.0.0.1", rx.port, /*max_queue_bytes=*/1000);
    sender.send(std::vector<std::uint8_t>(600, 1), 4, 40, 4000);
    sender.send(std::vector<std::uint8_t>(600, 2), 5, 50, 5000);  // 1200 > 1000: dropped
    const auto& c = sender.counters();
    BOOST_TEST(c.queue_drops == 1u);
    BOOST_TEST(c.records_not_sent == 5u);
    BOOST_TEST(c.packets_not_sent == 50u);
    BOOST_TEST(c.octets_not_sent == 5000u);
    sender.flush();
    BOOST_TEST(c.messages_sent == 1u);
    const auto got = rx.read_all();
    BOOST_TEST_REQUIRE(got.size() == 1u);
    BOOST_TEST(got[0].size() == 600u);
}
