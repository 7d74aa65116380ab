// A collector without a route is not fatal: in a private network namespace whose
// loopback is still down, the sender is created, every message is counted as not sent
// with what it carried, and once loopback comes up the messages that follow are
// delivered. Needs root (a network namespace); traffic stays on the namespace's loopback.
#define BOOST_TEST_MODULE collector_sender_noroute
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "sinks/collector_sender.hpp"
#include "support/netns.hpp"
#include "support/root_guard.hpp"

using ebpfix::sinks::CollectorSender;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint16_t k_port = 4739;  // the namespace is private: any port is free

int bound_socket(int family) {
    const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) throw std::runtime_error("socket");
    sockaddr_storage s{};
    socklen_t len = 0;
    if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&s);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons(k_port);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&s);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(k_port);
        len = sizeof *a;
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&s), len) != 0) throw std::runtime_error("bind");
    return fd;
}

std::vector<Bytes> read_all(int fd) {
    std::vector<Bytes> out;
    Bytes buf(65536);
    for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0) break;
        out.emplace_back(buf.begin(), buf.begin() + n);
    }
    return out;
}

Bytes message(std::size_t i) { return Bytes(100 + i, static_cast<std::uint8_t>(i)); }

}  // namespace

BOOST_AUTO_TEST_CASE(no_route_at_start_is_counted_then_recovers) {
    ebpfix::test::require_root("collector_sender_noroute_test");
    // Loopback stays down: neither 127.0.0.1 nor ::1 has a route or an address.
    if (::unshare(CLONE_NEWNET) != 0) throw std::runtime_error("unshare(CLONE_NEWNET) failed");
    boost::asio::io_context io;
    CollectorSender v4(io, "127.0.0.1", k_port);
    CollectorSender v6(io, "::1", k_port);
    for (CollectorSender* s : {&v4, &v6}) {
        for (std::size_t i = 0; i < 3; ++i) s->send(message(i), i + 1, 10 * (i + 1), 100 * (i + 1));
        s->flush();
        BOOST_TEST_CONTEXT(s->name()) {
            const auto& c = s->counters();
            BOOST_TEST(c.messages_sent == 0u);
            BOOST_TEST(c.send_errors == 3u);
            BOOST_TEST(c.records_not_sent == 6u);
            BOOST_TEST(c.packets_not_sent == 60u);
            BOOST_TEST(c.octets_not_sent == 600u);
            BOOST_TEST(s->queued_bytes() == 0u);
            BOOST_TEST(s->take_losses() == 3u);
        }
    }

    ebpfix::test::sh("ip link set lo up");
    const int rx4 = bound_socket(AF_INET);
    const int rx6 = bound_socket(AF_INET6);
    for (CollectorSender* s : {&v4, &v6}) {
        for (std::size_t i = 3; i < 6; ++i) s->send(message(i), 1, 1, 1);
        s->flush();
    }
    for (const auto& [s, fd] : {std::pair{&v4, rx4}, std::pair{&v6, rx6}}) {
        BOOST_TEST_CONTEXT(s->name()) {
            const auto got = read_all(fd);
            BOOST_TEST_REQUIRE(got.size() == 3u);
            for (std::size_t i = 0; i < 3; ++i) BOOST_TEST((got[i] == message(3 + i)), "datagram " << i);
            BOOST_TEST(s->counters().messages_sent == 3u);
            BOOST_TEST(s->counters().records_not_sent == 6u);
            BOOST_TEST(s->take_losses() == 0u);
        }
    }
    ::close(rx4);
    ::close(rx6);
}
