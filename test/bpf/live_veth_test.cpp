// Live: the program attached to one end of a veth pair whose other end sits in a
// namespace we create. Known UDP, ICMP and TCP traffic goes both ways over IPv4 and
// IPv6; every flow must come back with exact packets, bytes, flags and direction, and
// detaching must leave no TCX link and no qdisc behind. A TCP session whose packet
// count the stack decides is checked against an AF_PACKET tap on the same device.
#define BOOST_TEST_MODULE live_veth
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "capture/tc_hook.hpp"
#include "frames.hpp"
#include "support/netns.hpp"
#include "support/clock.hpp"
#include "support/root_guard.hpp"

using namespace ebpfix;
using namespace ebpfix::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kA4 = "10.250.0.1";
constexpr const char* kB4 = "10.250.0.2";
constexpr const char* kA6 = "fd00:ebf::1";
constexpr const char* kB6 = "fd00:ebf::2";

struct Fd {
    int fd = -1;
    explicit Fd(int f = -1) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        std::swap(fd, o.fd);
        return *this;
    }
};

sockaddr_in sin4(const char* addr, std::uint16_t port) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    inet_pton(AF_INET, addr, &s.sin_addr);
    return s;
}
sockaddr_in6 sin6(const char* addr, std::uint16_t port) {
    sockaddr_in6 s{};
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(port);
    inet_pton(AF_INET6, addr, &s.sin6_addr);
    return s;
}

Fd udp_socket(int family, const sockaddr* bind_to, socklen_t len) {
    Fd s(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (s.fd < 0 || ::bind(s.fd, bind_to, len) != 0) throw std::runtime_error("udp socket/bind failed");
    timeval tv{2, 0};
    setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return s;
}

// Receives n datagrams (or fails after the socket's timeout).
int receive_n(int fd, int n) {
    char buf[2048];
    int got = 0;
    while (got < n && ::recv(fd, buf, sizeof(buf), 0) >= 0) ++got;
    return got;
}

FlowKey key(int version, const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport,
            std::uint8_t proto, unsigned ifindex, Direction dir) {
    FlowKey k;
    k.ip_version = std::uint8_t(version);
    if (version == 4) {
        auto s = v4(src), d = v4(dst);
        k.src_addr = FlowKey::mapped_v4(std::uint32_t(s[0]) << 24 | s[1] << 16 | s[2] << 8 | s[3]);
        k.dst_addr = FlowKey::mapped_v4(std::uint32_t(d[0]) << 24 | d[1] << 16 | d[2] << 8 | d[3]);
    } else {
        k.src_addr = v6(src);
        k.dst_addr = v6(dst);
    }
    k.src_port = sport;
    k.dst_port = dport;
    k.protocol = proto;
    k.ifindex = ifindex;
    k.direction = dir;
    return k;
}

struct Totals {
    std::uint64_t packets = 0, bytes = 0;
    std::uint32_t flags = 0;
};

// AF_PACKET tap on one device: what really crossed it, per flow key, both directions.
class PacketTap {
public:
    explicit PacketTap(unsigned ifindex) : ifindex_(ifindex), sock_(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL))) {
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_protocol = htons(ETH_P_ALL);
        sll.sll_ifindex = int(ifindex);
        if (sock_.fd < 0 || ::bind(sock_.fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0)
            throw std::runtime_error("AF_PACKET tap failed");
    }
    // Reads everything queued so far into per-flow totals (IPv4 TCP/UDP only: the
    // cross-check is for the TCP session).
    std::map<FlowKey, Totals> collect() {
        std::map<FlowKey, Totals> flows;
        std::uint8_t buf[65536];
        for (;;) {
            pollfd p{sock_.fd, POLLIN, 0};
            if (::poll(&p, 1, 0) <= 0) break;
            sockaddr_ll from{};
            socklen_t fl = sizeof(from);
            ssize_t n = ::recvfrom(sock_.fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
            if (n < 14 + 20 || buf[12] != 0x08 || buf[13] != 0x00) continue;
            const std::uint8_t* ip = buf + 14;
            const unsigned ihl = (ip[0] & 0x0f) * 4u;
            const std::uint8_t proto = ip[9];
            if (proto != 6 && proto != 17) continue;
            const std::uint8_t* l4 = ip + ihl;
            FlowKey k;
            k.ip_version = 4;
            k.src_addr = FlowKey::mapped_v4(std::uint32_t(ip[12]) << 24 | ip[13] << 16 | ip[14] << 8 | ip[15]);
            k.dst_addr = FlowKey::mapped_v4(std::uint32_t(ip[16]) << 24 | ip[17] << 16 | ip[18] << 8 | ip[19]);
            k.src_port = std::uint16_t(l4[0] << 8 | l4[1]);
            k.dst_port = std::uint16_t(l4[2] << 8 | l4[3]);
            k.protocol = proto;
            k.ifindex = ifindex_;
            k.direction = from.sll_pkttype == PACKET_OUTGOING ? Direction::egress : Direction::ingress;
            auto& t = flows[k];
            t.packets += 1;
            t.bytes += std::uint32_t(ip[2] << 8 | ip[3]);
            if (proto == 6) t.flags |= l4[13];
        }
        return flows;
    }

private:
    unsigned ifindex_;
    Fd sock_;
};

std::uint32_t tcx_program_count(unsigned ifindex, int attach_type) {
    std::uint32_t count = 0;
    bpf_prog_query(int(ifindex), static_cast<bpf_attach_type>(attach_type), 0, nullptr, nullptr, &count);
    return count;
}

struct Fixture {
    Fixture() {
        require_root("live_veth (netns, veth, BPF attach)");
        enter_private_netns();
        // Fixed TCP SYN options (MSS, SACK, timestamps, window scale) give a 60-byte SYN.
        write_sysctl("net/ipv4/tcp_timestamps", "1");
        write_sysctl("net/ipv4/tcp_sack", "1");
        write_sysctl("net/ipv4/tcp_window_scaling", "1");
        write_sysctl("net/ipv4/tcp_ecn", "2");
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Fixture);

void run_live(capture::AttachMode mode, const std::string& tag) {
    const std::string peer_ns = "ebpfix-live-" + std::to_string(::getpid()) + "-" + tag;
    const std::string va = "ebxa" + tag, vb = "ebxb" + tag;
    NamedNetns ns(peer_ns);
    sh("ip link add " + va + " type veth peer name " + vb + " netns " + peer_ns);
    sh("ip addr add " + std::string(kA4) + "/24 dev " + va);
    sh("ip -6 addr add " + std::string(kA6) + "/64 dev " + va + " nodad");
    sh("ip link set " + va + " up");
    sh("ip -n " + peer_ns + " addr add " + std::string(kB4) + "/24 dev " + vb);
    sh("ip -n " + peer_ns + " -6 addr add " + std::string(kB6) + "/64 dev " + vb + " nodad");
    sh("ip -n " + peer_ns + " link set " + vb + " up");
    const unsigned ifindex = if_nametoindex(va.c_str());
    const std::uint16_t session_port = std::uint16_t(42000 + tag[0]);
    BOOST_TEST_REQUIRE(ifindex != 0u);
    BOOST_TEST((capture::link_layer_of(va) == bpf::LinkLayer::ethernet));

    bpf::FlowProgram program(bpf::ProgramOptions{});
    bpf::FlowDrainer drainer(program);
    std::map<FlowKey, Totals> counted;
    auto drain = [&] {
        std::vector<FlowDelta> flows;
        drainer.drain(monotonic_now(), 0, flows);
        for (const auto& f : flows) {
            auto& t = counted[f.key];
            t.packets += f.packets;
            t.bytes += f.bytes;
            t.flags |= f.tcp_flags;
        }
    };

    {
        auto in = std::make_unique<capture::HookAttachment>(program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet),
                                                        ifindex, Direction::ingress, mode);
        auto out = std::make_unique<capture::HookAttachment>(program.tc_program_fd(Direction::egress, bpf::LinkLayer::ethernet),
                                                         ifindex, Direction::egress, mode);
        BOOST_TEST((in->mode() == mode && out->mode() == mode));
        if (mode == capture::AttachMode::tcx) {
            BOOST_TEST(tcx_program_count(ifindex, 46) == 1u);
            BOOST_TEST(tcx_program_count(ifindex, 47) == 1u);
        } else {
            BOOST_TEST(capture::has_clsact_qdisc(ifindex));
        }
        PacketTap tap(ifindex);

        // UDP over IPv4, both ways: 10 x 100 bytes out, 7 x 50 bytes back.
        auto a_addr = sin4(kA4, 40001), b_addr = sin4(kB4, 40002);
        Fd a = udp_socket(AF_INET, reinterpret_cast<sockaddr*>(&a_addr), sizeof(a_addr));
        Fd b = ns.run_inside([&] { return udp_socket(AF_INET, reinterpret_cast<sockaddr*>(&b_addr), sizeof(b_addr)); });
        char payload[100] = {};
        for (int i = 0; i < 10; ++i)
            ::sendto(a.fd, payload, 100, 0, reinterpret_cast<sockaddr*>(&b_addr), sizeof(b_addr));
        BOOST_TEST(receive_n(b.fd, 10) == 10);
        drain();  // a flip in the middle: the flows' counts must add up across drains
        for (int i = 0; i < 7; ++i)
            ::sendto(b.fd, payload, 50, 0, reinterpret_cast<sockaddr*>(&a_addr), sizeof(a_addr));
        BOOST_TEST(receive_n(a.fd, 7) == 7);

        // UDP over IPv6: 4 x 20 bytes.
        auto a6 = sin6(kA6, 40003), b6 = sin6(kB6, 40004);
        Fd a6s = udp_socket(AF_INET6, reinterpret_cast<sockaddr*>(&a6), sizeof(a6));
        Fd b6s = ns.run_inside([&] { return udp_socket(AF_INET6, reinterpret_cast<sockaddr*>(&b6), sizeof(b6)); });
        for (int i = 0; i < 4; ++i) ::sendto(a6s.fd, payload, 20, 0, reinterpret_cast<sockaddr*>(&b6), sizeof(b6));
        BOOST_TEST(receive_n(b6s.fd, 4) == 4);

        // ICMP echo: 5 requests of 56 bytes, 5 replies.
        {
            Fd icmp_sock(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP));
            timeval tv{2, 0};
            setsockopt(icmp_sock.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            auto dst = sin4(kB4, 0);
            for (int seq = 0; seq < 5; ++seq) {
                std::uint8_t msg[64] = {8, 0, 0, 0, 0x42, 0x42, 0, std::uint8_t(seq)};
                std::uint32_t sum = 0;
                for (int i = 0; i < 64; i += 2) sum += std::uint32_t(msg[i] << 8 | msg[i + 1]);
                while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
                msg[2] = std::uint8_t(~sum >> 8), msg[3] = std::uint8_t(~sum);
                ::sendto(icmp_sock.fd, msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));
            }
            int replies = 0;
            std::uint8_t buf[256];
            while (replies < 5 && ::recv(icmp_sock.fd, buf, sizeof(buf), 0) > 0)
                if (buf[20] == 0 && buf[24] == 0x42 && buf[25] == 0x42) ++replies;
            BOOST_TEST(replies == 5);
        }

        // TCP to a closed port, 3 times: one SYN out, one RST|ACK back each.
        for (std::uint16_t i = 0; i < 3; ++i) {
            Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            int one = 1;
            setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            auto local = sin4(kA4, std::uint16_t(41001 + i)), remote = sin4(kB4, 9);
            ::bind(s.fd, reinterpret_cast<sockaddr*>(&local), sizeof(local));
            BOOST_TEST(::connect(s.fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) == -1);
            BOOST_TEST(errno == ECONNREFUSED);
        }

        // A real TCP session: the stack decides its packets; the tap tells what they were.
        {
            auto listen_addr = sin4(kB4, 8080);
            Fd listener = ns.run_inside([&] {
                Fd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
                if (::bind(l.fd, reinterpret_cast<sockaddr*>(&listen_addr), sizeof(listen_addr)) != 0 ||
                    ::listen(l.fd, 4) != 0)
                    throw std::runtime_error("listen failed");
                return l;
            });
            std::thread server([&] {
                Fd c(::accept(listener.fd, nullptr, nullptr));
                char buf[4096];
                ssize_t n;
                while ((n = ::recv(c.fd, buf, sizeof(buf), 0)) > 0) ::send(c.fd, buf, size_t(n), MSG_NOSIGNAL);
            });
            Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            // A port of its own per run: the previous run's socket may sit in TIME_WAIT.
            auto local = sin4(kA4, session_port);
            BOOST_TEST(::bind(c.fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) == 0);
            BOOST_TEST(::connect(c.fd, reinterpret_cast<sockaddr*>(&listen_addr), sizeof(listen_addr)) == 0);
            char chunk[700] = {};
            char echo[700];
            for (int i = 0; i < 5; ++i) {
                ::send(c.fd, chunk, sizeof(chunk), 0);
                size_t got = 0;
                while (got < sizeof(chunk)) {
                    ssize_t n = ::recv(c.fd, echo + got, sizeof(echo) - got, 0);
                    if (n <= 0) break;
                    got += size_t(n);
                }
            }
            ::shutdown(c.fd, SHUT_WR);
            char rest[16];
            while (::recv(c.fd, rest, sizeof(rest), 0) > 0) {
            }
            server.join();
        }
        std::this_thread::sleep_for(200ms);  // the last ACKs of the session
        auto tapped = tap.collect();
        drain();

        const auto A4_B4 = [&](std::uint16_t sp, std::uint16_t dp, std::uint8_t proto, Direction d) {
            return key(4, kA4, kB4, sp, dp, proto, ifindex, d);
        };
        const auto B4_A4 = [&](std::uint16_t sp, std::uint16_t dp, std::uint8_t proto, Direction d) {
            return key(4, kB4, kA4, sp, dp, proto, ifindex, d);
        };
        struct Want {
            FlowKey key;
            std::uint64_t packets, bytes;
            std::uint32_t flags;
            const char* what;
        };
        std::vector<Want> wants = {
            {A4_B4(40001, 40002, 17, Direction::egress), 10, 10 * 128, 0, "udp out"},
            {B4_A4(40002, 40001, 17, Direction::ingress), 7, 7 * 78, 0, "udp back"},
            {key(6, kA6, kB6, 40003, 40004, 17, ifindex, Direction::egress), 4, 4 * 68, 0, "udp6 out"},
            {A4_B4(0, 0x0800, 1, Direction::egress), 5, 5 * 84, 0, "echo requests"},
            {B4_A4(0, 0x0000, 1, Direction::ingress), 5, 5 * 84, 0, "echo replies"},
        };
        for (std::uint16_t i = 0; i < 3; ++i) {
            wants.push_back({A4_B4(std::uint16_t(41001 + i), 9, 6, Direction::egress), 1, 60, SYN, "syn"});
            wants.push_back({B4_A4(9, std::uint16_t(41001 + i), 6, Direction::ingress), 1, 40, RST | ACK, "rst"});
        }
        for (const Want& w : wants) {
            BOOST_TEST_CONTEXT(tag << ": " << w.what) {
                auto it = counted.find(w.key);
                BOOST_TEST_REQUIRE((it != counted.end()));
                BOOST_TEST(it->second.packets == w.packets);
                BOOST_TEST(it->second.bytes == w.bytes);
                BOOST_TEST(it->second.flags == w.flags);
            }
        }
        // The session, both directions, equals what the tap saw on the wire.
        for (Direction d : {Direction::egress, Direction::ingress}) {
            FlowKey k = d == Direction::egress ? A4_B4(session_port, 8080, 6, d) : B4_A4(8080, session_port, 6, d);
            BOOST_TEST_CONTEXT(tag << ": tcp session " << (d == Direction::egress ? "out" : "back")) {
                BOOST_TEST_REQUIRE((tapped.count(k) == 1u && counted.count(k) == 1u));
                BOOST_TEST(counted[k].packets == tapped[k].packets);
                BOOST_TEST(counted[k].bytes == tapped[k].bytes);
                BOOST_TEST(counted[k].flags == tapped[k].flags);
                BOOST_TEST(counted[k].packets >= 5u);  // at least SYN/FIN and some data
                BOOST_TEST((counted[k].flags & (SYN | FIN | ACK)) == (SYN | FIN | ACK));
            }
        }
        const auto counters = bpf::read_counters(program);
        BOOST_TEST(counters.parse_error.packets == 0u);
        BOOST_TEST(counters.truncated.packets == 0u);
        BOOST_TEST(counters.map_full.packets == 0u);
    }
    // Detached: no program on the device and, for clsact, our qdisc is gone too.
    BOOST_TEST(tcx_program_count(ifindex, 46) == 0u);
    BOOST_TEST(tcx_program_count(ifindex, 47) == 0u);
    BOOST_TEST(!capture::has_clsact_qdisc(ifindex));
    sh("ip link del " + va);
}

}  // namespace

BOOST_AUTO_TEST_CASE(exact_counts_with_tcx_links) { run_live(capture::AttachMode::tcx, "t"); }

BOOST_AUTO_TEST_CASE(exact_counts_with_clsact_fallback) { run_live(capture::AttachMode::clsact, "c"); }

BOOST_AUTO_TEST_CASE(clsact_fallback_keeps_a_qdisc_it_did_not_create) {
    NamedNetns ns("ebpfix-live-" + std::to_string(::getpid()) + "-q");
    sh("ip link add ebxaq type veth peer name ebxbq netns " + ns.name());
    sh("ip link set ebxaq up");
    sh("tc qdisc add dev ebxaq clsact");
    const unsigned ifindex = if_nametoindex("ebxaq");
    bpf::FlowProgram program(bpf::ProgramOptions{});
    {
        capture::HookAttachment in(program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet), ifindex,
                               Direction::ingress, capture::AttachMode::clsact);
        BOOST_TEST(!in.created_qdisc());
    }
    BOOST_TEST(capture::has_clsact_qdisc(ifindex));  // someone else's qdisc stays
    sh("ip link del ebxaq");
}

BOOST_AUTO_TEST_CASE(missing_interface_is_a_clear_error) {
    BOOST_CHECK_EXCEPTION(capture::link_layer_of("ebx-nope"), bpf::BpfError, [](const bpf::BpfError& e) {
        return std::string(e.what()).find("no such network interface 'ebx-nope'") != std::string::npos;
    });
}
