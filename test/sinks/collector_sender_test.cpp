// CollectorSender on loopback: bursts of sendmmsg keep every message one datagram, in
// order, byte for byte; flush() sends a partial burst; every datagram a closed port
// refuses is counted as not delivered with the records, packets and octets it carried,
// and a stale refusal never costs the next message. Errors the kernel cannot be made to
// return on demand (ENOBUFS, no route, EPERM, ...) are injected through the send seam.
#define BOOST_TEST_MODULE collector_sender
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "sinks/collector_sender.hpp"
#include "ipfix/flow_encoder.hpp"

using ebpfix::sinks::CollectorSender;
using ebpfix::sinks::SenderCounters;
using Bytes = std::vector<std::uint8_t>;

namespace {

// A bound UDP socket on 127.0.0.1 or ::1 with room for every test datagram; port 0
// picks a free one.
struct Receiver {
    int fd = -1;
    std::uint16_t port = 0;
    explicit Receiver(int family = AF_INET, std::uint16_t bind_port = 0) {
        fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fd < 0) throw std::runtime_error("socket");
        int size = 4 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        sockaddr_storage s{};
        socklen_t len = 0;
        if (family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&s);
            a->sin_family = AF_INET;
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a->sin_port = htons(bind_port);
            len = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in6*>(&s);
            a->sin6_family = AF_INET6;
            a->sin6_addr = in6addr_loopback;
            a->sin6_port = htons(bind_port);
            len = sizeof *a;
        }
        if (::bind(fd, reinterpret_cast<sockaddr*>(&s), len) != 0)
            throw std::runtime_error("bind: " + std::string(std::strerror(errno)));
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len);
        port = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&s)->sin_port)
                                 : ntohs(reinterpret_cast<sockaddr_in6*>(&s)->sin6_port);
    }
    ~Receiver() {
        if (fd >= 0) ::close(fd);
    }
    std::vector<Bytes> read_all() const {
        std::vector<Bytes> out;
        Bytes buf(65536);
        for (;;) {
            const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n < 0) break;
            out.emplace_back(buf.begin(), buf.begin() + n);
        }
        return out;
    }
};

// A port on which nothing listens: bound once, then closed.
std::uint16_t closed_port(int family) {
    Receiver gone(family);
    return gone.port;
}

// Message i: 1 to 1400 bytes, every byte derived from i.
Bytes message(std::size_t i) {
    Bytes m(1 + (i * 37) % 1400);
    for (std::size_t j = 0; j < m.size(); ++j) m[j] = static_cast<std::uint8_t>(i * 7 + j);
    return m;
}

// What the messages handed to send() carried.
struct Totals {
    std::uint64_t messages = 0, records = 0, packets = 0, octets = 0;
};

// The exporter's glue: each message goes out with what the encoder counted for it.
struct EncodingExporter {
    ebpfix::ipfix::FlowEncoder encoder;
    CollectorSender& sender;
    Totals handed;
    std::vector<Bytes> messages;
    std::uint64_t losses_seen = 0;     // what take_losses() returned to export_records
    std::uint64_t pending_losses = 0;  // losses the test took while waiting, as the next export would see them

    EncodingExporter(ebpfix::ipfix::Protocol protocol, CollectorSender& s) : encoder(options(protocol)), sender(s) {}

    static ebpfix::ipfix::EncoderOptions options(ebpfix::ipfix::Protocol protocol) {
        ebpfix::ipfix::EncoderOptions o;
        o.protocol = protocol;
        o.max_message_size = 1400;  // longer than the ICMP quote (520 bytes over IPv4)
        o.template_refresh_messages = 0;
        o.template_refresh_seconds = 3600;
        return o;
    }

    void export_records(std::size_t count, std::uint64_t now_ms, std::uint8_t family) {
        // What FlowExporter does before each export.
        const std::uint64_t lost = sender.take_losses();
        losses_seen += lost;
        if (lost + std::exchange(pending_losses, 0) > 0) encoder.resend_templates();
        std::vector<ebpfix::FlowRecord> records(count);
        for (std::size_t i = 0; i < count; ++i) {
            auto& r = records[i];
            r.key.ip_version = family;
            r.key.src_addr = ebpfix::FlowKey::mapped_v4(0x0a000000u + std::uint32_t(i));
            if (family == 6) r.key.src_addr[0] = 0x20;
            r.key.protocol = 17;
            r.key.src_port = std::uint16_t(i);
            r.packets = 1 + i % 17;
            r.bytes = r.packets * (64 + i % 1000);
            r.start_ms = r.end_ms = now_ms;
        }
        ebpfix::ipfix::EncoderCounters before = encoder.counters();
        encoder.encode(records, now_ms, [&](gsl::span<const std::uint8_t> m) {
            const ebpfix::ipfix::EncoderCounters& now = encoder.counters();
            const std::uint64_t r = now.data_records - before.data_records;
            const std::uint64_t p = now.data_packets - before.data_packets;
            const std::uint64_t o = now.data_octets - before.data_octets;
            sender.send(m, r, p, o);
            handed.messages += 1;
            handed.records += r;
            handed.packets += p;
            handed.octets += o;
            messages.emplace_back(m.begin(), m.end());
            before = now;
        });
        sender.flush();
    }
};

// Waits (bounded) until the kernel has reported as many refusals as expected; returns
// the losses take_losses() reported on the way.
std::uint64_t await_refusals(CollectorSender& sender, std::uint64_t expected) {
    std::uint64_t losses = sender.take_losses();
    for (int i = 0; i < 1000; ++i) {
        const auto& c = sender.counters();
        if (c.messages_refused + c.refusals_unmatched >= expected) break;
        ::usleep(1000);
        losses += sender.take_losses();
    }
    return losses;
}

bool carries_template_set(const Bytes& m, bool v9) {
    std::size_t at = v9 ? 20 : 16;
    while (at + 4 <= m.size()) {
        const unsigned id = unsigned(m[at]) << 8 | m[at + 1];
        const unsigned length = unsigned(m[at + 2]) << 8 | m[at + 3];
        if (id == (v9 ? 0u : 2u)) return true;
        if (length < 4) return false;
        at += length;
    }
    return false;
}

// Refused while nothing listens, delivered once something does.
void refused_then_accepted(int family, const char* host, ebpfix::ipfix::Protocol protocol) {
    const bool v9 = protocol == ebpfix::ipfix::Protocol::netflow9;
    const std::uint8_t ip_version = family == AF_INET ? 4 : 6;
    const std::uint16_t port = closed_port(family);
    boost::asio::io_context io;
    CollectorSender sender(io, host, port);
    EncodingExporter exporter(protocol, sender);
    for (int cycle = 0; cycle < 6; ++cycle)
        exporter.export_records(300 + 37 * cycle, 1700000000000 + cycle, ip_version);
    const Totals refused = exporter.handed;
    BOOST_TEST_REQUIRE(refused.messages > CollectorSender::burst);
    BOOST_TEST(sender.queued_bytes() == 0u);

    const std::uint64_t losses = await_refusals(sender, refused.messages);
    const SenderCounters& c = sender.counters();
    // Every message left (a stale refusal never cost the next one), and every one was
    // refused and matched to exactly what it carried.
    BOOST_TEST(c.messages_sent == refused.messages);
    BOOST_TEST(c.records_sent == refused.records);
    BOOST_TEST(c.messages_refused == refused.messages);
    BOOST_TEST(c.refusals_unmatched == 0u);
    BOOST_TEST(c.send_errors == refused.messages);
    BOOST_TEST(c.records_refused == refused.records);
    BOOST_TEST(c.records_not_sent == refused.records);
    BOOST_TEST(c.packets_not_sent == refused.packets);
    BOOST_TEST(c.octets_not_sent == refused.octets);
    BOOST_TEST(c.queue_drops == 0u);
    BOOST_TEST(exporter.losses_seen + losses == refused.messages);
    BOOST_TEST(sender.take_losses() == 0u);
    exporter.pending_losses = losses;

    // The collector comes up: the next export re-announces the templates at once (their
    // last announcement was refused), the one after does not need to.
    Receiver rx(family, port);
    const std::size_t first_new = exporter.messages.size();
    exporter.export_records(150, 1700000001000, ip_version);
    const std::size_t second_new = exporter.messages.size();
    exporter.export_records(150, 1700000002000, ip_version);
    const auto got = rx.read_all();
    const std::size_t sent_now = exporter.messages.size() - first_new;
    BOOST_TEST_REQUIRE(got.size() == sent_now);
    for (std::size_t i = 0; i < sent_now; ++i)
        BOOST_TEST((got[i] == exporter.messages[first_new + i]), "datagram " << i);
    BOOST_TEST(carries_template_set(exporter.messages[first_new], v9));
    BOOST_TEST(!carries_template_set(exporter.messages[second_new], v9));
    BOOST_TEST(sender.take_losses() == 0u);  // all received: nothing can be refused any more
    BOOST_TEST(c.messages_refused == refused.messages);
    BOOST_TEST(c.messages_sent == exporter.handed.messages);
    BOOST_TEST(c.records_sent == exporter.handed.records);
    BOOST_TEST(c.records_not_sent == refused.records);
    BOOST_TEST(c.packets_not_sent == refused.packets);
    BOOST_TEST(c.octets_not_sent == refused.octets);
}

// A send function that fails with `fail_errno` for the next `failures` calls, then sends.
struct InjectedSend {
    int fail_errno = 0;
    int failures = 0;  // < 0: for ever
    int calls = 0;
    CollectorSender::SendFunction function() {
        return [this](int fd, mmsghdr* m, unsigned n, int flags) {
            ++calls;
            if (failures != 0) {
                if (failures > 0) --failures;
                errno = fail_errno;
                return -1;
            }
            return ::sendmmsg(fd, m, n, flags);
        };
    }
};

// A send function that pretends each burst left, and really sends only `real` (once,
// on its next call) to the closed port: so a refusal can come back for a message out of
// the history, or quote less than a message header (as routers quoting 8 bytes do).
struct PretendSend {
    Bytes real;
    CollectorSender::SendFunction function() {
        return [this](int fd, mmsghdr* m, unsigned n, int) {
            if (!real.empty()) ::send(fd, real.data(), real.size(), 0);
            real.clear();
            for (unsigned i = 0; i < n; ++i) m[i].msg_len = static_cast<unsigned>(m[i].msg_hdr.msg_iov->iov_len);
            return static_cast<int>(n);
        };
    }
};

// Runs the loop until the queue is empty (bounded).
void run_until_sent(boost::asio::io_context& io, const CollectorSender& sender) {
    for (int i = 0; i < 200 && sender.queued_bytes() > 0; ++i) {
        io.restart();
        io.run_one_for(std::chrono::milliseconds(20));
    }
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
    BOOST_TEST(sender.take_losses() == 0u);
}

BOOST_AUTO_TEST_CASE(refusing_collector_counts_each_refusal_once) {
    const std::uint16_t port = closed_port(AF_INET);
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
    // The refusals that came back are read before the next send, each counted once and
    // matched to its message, whose records were never delivered; the message that send
    // carried still goes out: all four sent.
    BOOST_TEST(c.send_errors >= 1u);
    BOOST_TEST(c.send_errors <= 3u);
    BOOST_TEST(c.messages_sent == 4u);
    BOOST_TEST(c.records_sent == 8u);
    BOOST_TEST(c.messages_refused == c.send_errors);
    BOOST_TEST(c.records_not_sent == 2 * c.send_errors);
    BOOST_TEST(c.packets_not_sent == 10 * c.send_errors);
    BOOST_TEST(c.octets_not_sent == 1000 * c.send_errors);
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
    BOOST_TEST(sender.take_losses() == 1u);  // the dropped message may have held templates
}

BOOST_AUTO_TEST_CASE(closed_port_ipv4_ipfix_every_message_refused_then_delivered) {
    refused_then_accepted(AF_INET, "127.0.0.1", ebpfix::ipfix::Protocol::ipfix);
}

BOOST_AUTO_TEST_CASE(closed_port_ipv6_netflow9_every_message_refused_then_delivered) {
    refused_then_accepted(AF_INET6, "::1", ebpfix::ipfix::Protocol::netflow9);
}

BOOST_AUTO_TEST_CASE(identical_messages_are_matched_oldest_first) {
    // Two one-byte messages with the same byte (shorter than any header: matched when
    // quoted whole), both in the history before their refusals come back. Refusals come
    // in sending order, so each takes the oldest message not refused yet.
    const std::uint16_t port = closed_port(AF_INET);
    boost::asio::io_context io;
    PretendSend pretend;
    CollectorSender sender(io, "127.0.0.1", port, 4u << 20, pretend.function());
    const auto& c = sender.counters();
    sender.send(Bytes{0x42}, 1, 2, 3);
    sender.send(Bytes{0x42}, 4, 5, 6);
    sender.flush();
    pretend.real = Bytes{0x42};
    sender.send(Bytes{0x43}, 0, 0, 0);
    sender.flush();
    await_refusals(sender, 1);
    BOOST_TEST(c.messages_refused == 1u);
    BOOST_TEST(c.records_not_sent == 1u);
    BOOST_TEST(c.packets_not_sent == 2u);
    BOOST_TEST(c.octets_not_sent == 3u);
    pretend.real = Bytes{0x42};
    sender.send(Bytes{0x43}, 0, 0, 0);
    sender.flush();
    await_refusals(sender, 2);
    BOOST_TEST(c.messages_refused == 2u);
    BOOST_TEST(c.refusals_unmatched == 0u);
    BOOST_TEST(c.records_not_sent == 5u);
    BOOST_TEST(c.packets_not_sent == 7u);
    BOOST_TEST(c.octets_not_sent == 9u);
}

BOOST_AUTO_TEST_CASE(refusal_too_old_or_quoted_too_short_is_counted_unmatched) {
    const std::uint16_t port = closed_port(AF_INET);
    boost::asio::io_context io;
    PretendSend pretend;
    CollectorSender sender(io, "127.0.0.1", port, 4u << 20, pretend.function());
    const auto& c = sender.counters();
    // Too old: message 1, then a full history of others, then message 1's refusal.
    sender.send(message(1), 3, 30, 300);
    for (std::size_t i = 0; i < CollectorSender::sent_history; ++i) sender.send(message(2 + i % 200), 1, 1, 1);
    sender.flush();
    pretend.real = message(1);
    sender.send(message(2), 1, 1, 1);
    sender.flush();
    await_refusals(sender, 1);
    BOOST_TEST(c.refusals_unmatched == 1u);
    BOOST_TEST(c.messages_refused == 0u);
    BOOST_TEST(c.records_not_sent == 0u);  // its records cannot be known
    BOOST_TEST(c.send_errors == 1u);
    // Quoted too short: only 8 bytes of message 500 come back; message 500 is recent.
    const Bytes long_message = message(500);
    pretend.real.assign(long_message.begin(), long_message.begin() + 8);
    sender.send(long_message, 9, 90, 900);
    sender.flush();
    await_refusals(sender, 2);
    BOOST_TEST(c.refusals_unmatched == 2u);
    BOOST_TEST(c.messages_refused == 0u);
    // The same path with the whole message quoted matches it.
    pretend.real = message(600);
    sender.send(message(600), 9, 90, 900);
    sender.flush();
    await_refusals(sender, 3);
    BOOST_TEST(c.refusals_unmatched == 2u);
    BOOST_TEST(c.messages_refused == 1u);
    BOOST_TEST(c.records_not_sent == 9u);
    BOOST_TEST(c.packets_not_sent == 90u);
    BOOST_TEST(c.octets_not_sent == 900u);
    BOOST_TEST(c.send_errors == 3u);
}

BOOST_AUTO_TEST_CASE(enobufs_pauses_instead_of_spinning_and_keeps_the_queue) {
    Receiver rx;
    boost::asio::io_context io;
    InjectedSend inject{ENOBUFS, -1};
    CollectorSender sender(io, "127.0.0.1", rx.port, 4u << 20, inject.function());
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < 10; ++i) {
        sender.send(message(i), i, 10 * i, 100 * i);
        bytes += message(i).size();
    }
    sender.flush();
    BOOST_TEST(inject.calls == 1);
    // During the pause neither flush() nor a new message sends.
    sender.send(message(10), 10, 100, 1000);
    bytes += message(10).size();
    sender.flush();
    BOOST_TEST(inject.calls == 1);
    // 200 ms of loop: pauses of 1, 2, 4, ... 64, 100 ms allow at most 8 attempts (a
    // busy loop would make thousands).
    io.run_for(std::chrono::milliseconds(200));
    BOOST_TEST(inject.calls >= 1);
    BOOST_TEST(inject.calls <= 8);
    const auto& c = sender.counters();
    BOOST_TEST(c.nobufs_retries == std::uint64_t(inject.calls));
    BOOST_TEST(c.messages_sent == 0u);
    BOOST_TEST(c.send_errors == 0u);
    BOOST_TEST(c.records_not_sent == 0u);
    BOOST_TEST(sender.queued_bytes() == bytes);
    BOOST_TEST(sender.take_losses() == 0u);

    inject.failures = 0;  // the buffers free up
    run_until_sent(io, sender);
    BOOST_TEST(sender.queued_bytes() == 0u);
    BOOST_TEST(c.messages_sent == 11u);
    BOOST_TEST(c.records_sent == 55u);
    BOOST_TEST(c.records_not_sent == 0u);
    const auto got = rx.read_all();
    BOOST_TEST_REQUIRE(got.size() == 11u);
    for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST((got[i] == message(i)), "datagram " << i);
}

BOOST_AUTO_TEST_CASE(enobufs_is_retried_until_the_send_succeeds) {
    Receiver rx;
    boost::asio::io_context io;
    InjectedSend inject{ENOBUFS, 3};
    CollectorSender sender(io, "127.0.0.1", rx.port, 4u << 20, inject.function());
    sender.send(message(0), 1);
    sender.flush();  // 1st failure: pause
    run_until_sent(io, sender);
    BOOST_TEST(inject.calls == 4);  // three failures, then the send
    BOOST_TEST(sender.counters().nobufs_retries == 3u);
    // A later failure is paused and retried the same way.
    inject.failures = 1;
    sender.send(message(1), 1);
    sender.flush();
    run_until_sent(io, sender);
    BOOST_TEST(inject.calls == 6);
    BOOST_TEST(sender.counters().messages_sent == 2u);
    BOOST_TEST(rx.read_all().size() == 2u);
}

BOOST_AUTO_TEST_CASE(other_send_errors_lose_exactly_the_front_message) {
    for (const int err : {EHOSTUNREACH, ENETUNREACH, EPERM, EMSGSIZE, EACCES}) {
        BOOST_TEST_CONTEXT("errno " << err << " (" << std::strerror(err) << ")") {
            Receiver rx;
            boost::asio::io_context io;
            InjectedSend inject{err, 1};
            CollectorSender sender(io, "127.0.0.1", rx.port, 4u << 20, inject.function());
            for (std::size_t i = 0; i < 5; ++i) sender.send(message(i), i + 1, 10 * (i + 1), 1000 * (i + 1));
            sender.flush();
            const auto& c = sender.counters();
            BOOST_TEST(c.send_errors == 1u);
            BOOST_TEST(c.records_not_sent == 1u);
            BOOST_TEST(c.packets_not_sent == 10u);
            BOOST_TEST(c.octets_not_sent == 1000u);
            BOOST_TEST(c.messages_sent == 4u);
            BOOST_TEST(c.records_sent == 2u + 3u + 4u + 5u);
            BOOST_TEST(c.messages_refused == 0u);
            BOOST_TEST(sender.queued_bytes() == 0u);
            BOOST_TEST(sender.take_losses() == 1u);
            const auto got = rx.read_all();
            BOOST_TEST_REQUIRE(got.size() == 4u);
            for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST((got[i] == message(i + 1)), "datagram " << i);
        }
    }
}

BOOST_AUTO_TEST_CASE(refused_send_is_retried_never_dropped) {
    // ECONNREFUSED from the send itself reports an earlier datagram's refusal: the queued
    // message was not sent. Without an error queue entry to match it is an unmatched
    // refusal; the message is retried and delivered.
    Receiver rx;
    boost::asio::io_context io;
    InjectedSend inject{ECONNREFUSED, 2};
    CollectorSender sender(io, "127.0.0.1", rx.port, 4u << 20, inject.function());
    for (std::size_t i = 0; i < 3; ++i) sender.send(message(i), 2, 20, 200);
    sender.flush();
    const auto& c = sender.counters();
    BOOST_TEST(inject.calls == 3);
    BOOST_TEST(c.send_errors == 2u);
    BOOST_TEST(c.refusals_unmatched == 2u);
    BOOST_TEST(c.messages_refused == 0u);
    BOOST_TEST(c.records_not_sent == 0u);
    BOOST_TEST(c.messages_sent == 3u);
    BOOST_TEST(sender.take_losses() == 2u);
    const auto got = rx.read_all();
    BOOST_TEST_REQUIRE(got.size() == 3u);
    for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST((got[i] == message(i)), "datagram " << i);
}

BOOST_AUTO_TEST_CASE(endless_refused_sends_pause_and_keep_the_message) {
    Receiver rx;
    boost::asio::io_context io;
    InjectedSend inject{ECONNREFUSED, -1};
    CollectorSender sender(io, "127.0.0.1", rx.port, 4u << 20, inject.function());
    sender.send(message(0), 2, 20, 200);
    sender.flush();
    const int after_flush = inject.calls;
    BOOST_TEST(after_flush >= 1);
    BOOST_TEST(after_flush <= 16);  // bounded retries, then a pause
    BOOST_TEST(sender.queued_bytes() == message(0).size());
    BOOST_TEST(sender.counters().records_not_sent == 0u);
    inject.failures = 0;
    run_until_sent(io, sender);
    BOOST_TEST(sender.counters().messages_sent == 1u);
    BOOST_TEST(sender.counters().records_not_sent == 0u);
    BOOST_TEST(rx.read_all().size() == 1u);
}
