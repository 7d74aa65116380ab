// Where ebpfix sits on a hook, and what it leaves behind. A program that drops every
// packet, attached before ebpfix on the same device and direction, must not hide a single
// packet from ebpfix (TCX and clsact): ebpfix runs first. Detaching removes our link or
// filter and nothing else: foreign filters and the qdisc they need stay. A clsact filter
// left by a killed ebpfix is removed by the next attach; one of a live ebpfix is not.
#define BOOST_TEST_MODULE hook_order
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "capture/tc_hook.hpp"
#include "support/netns.hpp"
#include "support/clock.hpp"
#include "support/root_guard.hpp"
#include "test_drop.skel.h"

using namespace ebpfix;
using namespace ebpfix::test;

namespace {

constexpr const char* kA4 = "10.251.0.1";
constexpr const char* kB4 = "10.251.0.2";
constexpr const char* kMacA = "02:eb:9f:00:00:01";
constexpr const char* kMacB = "02:eb:9f:00:00:02";
constexpr std::uint16_t kPortA = 40101, kPortB = 40102;
constexpr int kTcxIngress = 46, kTcxEgress = 47;  // BPF_TCX_*, missing from Debian 12's headers

// Burst sizes (UDP payload bytes) and counts; a marker datagram is told apart by its size.
constexpr int kOutCount = 8, kOutPayload = 100;
constexpr int kBackCount = 5, kBackPayload = 60;
constexpr int kMarkerPayload = 11;

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
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

struct Fixture {
    Fixture() {
        require_root("hook_order (netns, veth, BPF attach)");
        enter_private_netns();
        // One CPU for every send: the datagrams of one socket then reach the peer in order,
        // so a marker received first proves that nothing sent before it got through.
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(static_cast<unsigned>(::sched_getcpu()), &one);
        if (::sched_setaffinity(0, sizeof(one), &one) != 0) throw std::runtime_error("sched_setaffinity failed");
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Fixture);

// va here and vb in a peer namespace, with fixed MACs and permanent neighbour entries: a
// program that drops everything would also drop ARP, and the datagrams would never leave.
class VethPair {
public:
    explicit VethPair(const std::string& tag)
        : ns_("ebpfix-order-" + std::to_string(::getpid()) + "-" + tag), a_("ebxo" + tag), b_("ebxp" + tag) {
        sh("ip link add " + a_ + " address " + kMacA + " type veth peer name " + b_ + " address " + kMacB +
           " netns " + ns_.name());
        sh("ip addr add " + std::string(kA4) + "/24 dev " + a_);
        sh("ip neigh add " + std::string(kB4) + " lladdr " + kMacB + " dev " + a_ + " nud permanent");
        sh("ip link set " + a_ + " up");
        sh("ip -n " + ns_.name() + " addr add " + std::string(kB4) + "/24 dev " + b_);
        sh("ip -n " + ns_.name() + " neigh add " + std::string(kA4) + " lladdr " + kMacA + " dev " + b_ +
           " nud permanent");
        sh("ip -n " + ns_.name() + " link set " + b_ + " up");
        ifindex_ = if_nametoindex(a_.c_str());
        if (ifindex_ == 0) throw std::runtime_error("no ifindex for " + a_);
    }
    ~VethPair() { std::system(("ip link del " + a_ + " 2>/dev/null").c_str()); }
    VethPair(const VethPair&) = delete;
    VethPair& operator=(const VethPair&) = delete;

    unsigned ifindex() const { return ifindex_; }
    const std::string& name() const { return a_; }
    const NamedNetns& peer() const { return ns_; }

private:
    NamedNetns ns_;
    std::string a_, b_;
    unsigned ifindex_ = 0;
};

// The test program that drops every packet (bpf/test_drop.bpf.c).
class DropProgram {
public:
    DropProgram() : skel_(test_drop_bpf::open_and_load()) {
        if (skel_ == nullptr) throw std::runtime_error("loading test_drop.bpf.o failed");
    }
    ~DropProgram() { test_drop_bpf::destroy(skel_); }
    DropProgram(const DropProgram&) = delete;
    DropProgram& operator=(const DropProgram&) = delete;
    int fd() const { return bpf_program__fd(skel_->progs.test_drop); }

private:
    test_drop_bpf* skel_;
};

bpf_prog_info prog_info(int prog_fd) {
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) throw std::runtime_error("bpf_obj_get_info_by_fd failed");
    return info;
}
std::uint32_t prog_id(int prog_fd) { return prog_info(prog_fd).id; }
std::string prog_name(std::uint32_t id) {
    Fd fd(bpf_prog_get_fd_by_id(id));
    if (fd.fd < 0) throw std::runtime_error("no BPF program with id " + std::to_string(id));
    return prog_info(fd.fd).name;
}

// The TCX programs on a hook, in the order they run.
std::vector<std::uint32_t> tcx_prog_ids(unsigned ifindex, int attach_type) {
    std::uint32_t ids[16] = {};
    std::uint32_t count = 16;
    if (bpf_prog_query(int(ifindex), static_cast<bpf_attach_type>(attach_type), 0, nullptr, ids, &count) != 0)
        throw std::runtime_error("bpf_prog_query failed");
    return {ids, ids + count};
}

// The program ids of every clsact filter on a hook that runs an "ebpfix_*" program.
std::vector<std::uint32_t> ebpfix_filter_progs(unsigned ifindex, Direction d) {
    std::vector<std::uint32_t> ids;
    for (const auto& f : capture::clsact_filters(ifindex, d))
        if (f.kind == "bpf" && prog_name(f.prog_id).rfind("ebpfix_", 0) == 0) ids.push_back(f.prog_id);
    return ids;
}

// libbpf's own query of our slot: the program id there, or 0 if the slot is empty.
std::uint32_t prog_in_our_slot(unsigned ifindex, Direction d) {
    bpf_tc_hook hook{};
    hook.sz = sizeof(hook);
    hook.ifindex = int(ifindex);
    hook.attach_point = d == Direction::ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    bpf_tc_opts q{};
    q.sz = sizeof(q);
    q.handle = capture::kClsactHandle;
    q.priority = capture::kClsactPriority;
    const int err = bpf_tc_query(&hook, &q);
    if (err == -ENOENT || err == -EINVAL) return 0;  // no such filter / no such priority
    if (err != 0) throw std::runtime_error("bpf_tc_query failed: " + std::to_string(err));
    return q.prog_id;
}

// `tc filter show` as a second opinion on clsact_filters(): its lines with a handle.
std::size_t tc_filter_lines(const std::string& dev, Direction d) {
    const std::string cmd = "tc filter show dev " + dev + (d == Direction::ingress ? " ingress" : " egress");
    std::unique_ptr<FILE, int (*)(FILE*)> out(::popen(cmd.c_str(), "r"), ::pclose);
    if (!out) throw std::runtime_error("popen " + cmd);
    std::size_t lines = 0;
    char line[1024];
    while (std::fgets(line, sizeof(line), out.get()) != nullptr)
        if (std::strstr(line, " handle 0x") != nullptr || std::strstr(line, " fh ") != nullptr) ++lines;
    return lines;
}

// A filter as the comparisons below need it: where it is and what it is.
using FilterId = std::tuple<std::uint32_t, std::uint32_t, std::uint32_t, std::string, std::uint32_t>;
std::vector<FilterId> foreign_filters(unsigned ifindex, Direction d) {
    std::vector<FilterId> out;
    for (const auto& f : capture::clsact_filters(ifindex, d))
        if (f.handle != capture::kClsactHandle) out.emplace_back(f.chain, f.priority, f.handle, f.kind, f.prog_id);
    return out;
}

bpf_tc_hook tc_hook(unsigned ifindex, Direction d) {
    bpf_tc_hook hook{};
    hook.sz = sizeof(hook);
    hook.ifindex = int(ifindex);
    hook.attach_point = d == Direction::ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    return hook;
}

// A foreign bpf filter (the drop program) added the way another libbpf tool would.
struct ForeignFilter {
    bpf_tc_hook hook;
    bpf_tc_opts opts{};
    ForeignFilter(unsigned ifindex, Direction d, int prog_fd, std::uint32_t priority) : hook(tc_hook(ifindex, d)) {
        const int err = bpf_tc_hook_create(&hook);
        if (err != 0 && err != -EEXIST) throw std::runtime_error("bpf_tc_hook_create failed");
        opts.sz = sizeof(opts);
        opts.prog_fd = prog_fd;
        opts.priority = priority;
        if (bpf_tc_attach(&hook, &opts) != 0) throw std::runtime_error("bpf_tc_attach of the foreign filter failed");
    }
    bool present() const {
        for (const auto& f : capture::clsact_filters(std::uint32_t(hook.ifindex),
                                                 hook.attach_point == BPF_TC_INGRESS ? Direction::ingress
                                                                                     : Direction::egress))
            if (f.handle == opts.handle && f.priority == opts.priority && f.prog_id == opts.prog_id) return true;
        return false;
    }
    void remove() {
        bpf_tc_opts d{};
        d.sz = sizeof(d);
        d.handle = opts.handle;
        d.priority = opts.priority;
        if (bpf_tc_detach(&hook, &d) != 0) throw std::runtime_error("bpf_tc_detach of the foreign filter failed");
    }
};

sockaddr_in sin4(const char* addr, std::uint16_t port) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    inet_pton(AF_INET, addr, &s.sin_addr);
    return s;
}

Fd udp_socket(const sockaddr_in& bind_to) {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<const sockaddr*>(&bind_to), sizeof(bind_to)) != 0)
        throw std::runtime_error("udp socket/bind failed");
    timeval tv{3, 0};  // a guard against a hang, not a measurement
    setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return s;
}

FlowKey udp_key(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport, unsigned ifindex,
                Direction d) {
    in_addr s{}, t{};
    inet_pton(AF_INET, src, &s);
    inet_pton(AF_INET, dst, &t);
    FlowKey k;
    k.ip_version = 4;
    k.src_addr = FlowKey::mapped_v4(ntohl(s.s_addr));
    k.dst_addr = FlowKey::mapped_v4(ntohl(t.s_addr));
    k.src_port = sport;
    k.dst_port = dport;
    k.protocol = 17;
    k.ifindex = ifindex;
    k.direction = d;
    return k;
}

// UDP both ways across the pair: bursts out of va (egress) and into va (ingress).
class Traffic {
public:
    explicit Traffic(const VethPair& v)
        : a_addr_(sin4(kA4, kPortA)), b_addr_(sin4(kB4, kPortB)), a_(udp_socket(a_addr_)),
          b_(v.peer().run_inside([&] { return udp_socket(b_addr_); })) {}

    void bursts() {
        char payload[kOutPayload] = {};
        for (int i = 0; i < kOutCount; ++i)
            BOOST_TEST_REQUIRE(::sendto(a_.fd, payload, kOutPayload, 0, reinterpret_cast<sockaddr*>(&b_addr_),
                                        sizeof(b_addr_)) == kOutPayload);
        for (int i = 0; i < kBackCount; ++i)
            BOOST_TEST_REQUIRE(::sendto(b_.fd, payload, kBackPayload, 0, reinterpret_cast<sockaddr*>(&a_addr_),
                                        sizeof(a_addr_)) == kBackPayload);
    }

    // With the drop gone, one marker each way: each side's first datagram must be it, so
    // nothing of the bursts reached either side.
    void expect_markers_first() {
        char marker[kMarkerPayload] = {};
        BOOST_TEST_REQUIRE(::sendto(a_.fd, marker, sizeof(marker), 0, reinterpret_cast<sockaddr*>(&b_addr_),
                                    sizeof(b_addr_)) == kMarkerPayload);
        BOOST_TEST_REQUIRE(::sendto(b_.fd, marker, sizeof(marker), 0, reinterpret_cast<sockaddr*>(&a_addr_),
                                    sizeof(a_addr_)) == kMarkerPayload);
        char buf[2048];
        BOOST_TEST(::recv(b_.fd, buf, sizeof(buf), 0) == kMarkerPayload);
        BOOST_TEST(::recv(a_.fd, buf, sizeof(buf), 0) == kMarkerPayload);
    }

private:
    sockaddr_in a_addr_, b_addr_;
    Fd a_, b_;
};

// ebpfix's counts of both bursts must be exact: every packet the drop discards after us.
void expect_bursts_counted(bpf::FlowDrainer& drainer, unsigned ifindex) {
    std::vector<FlowDelta> flows;
    drainer.drain(monotonic_now(), 0, flows);
    std::map<FlowKey, std::pair<std::uint64_t, std::uint64_t>> counted;
    for (const auto& f : flows) {
        counted[f.key].first += f.packets;
        counted[f.key].second += f.bytes;
    }
    const FlowKey out = udp_key(kA4, kB4, kPortA, kPortB, ifindex, Direction::egress);
    const FlowKey back = udp_key(kB4, kA4, kPortB, kPortA, ifindex, Direction::ingress);
    BOOST_TEST_REQUIRE(counted.count(out) == 1u);
    BOOST_TEST_REQUIRE(counted.count(back) == 1u);
    BOOST_TEST(counted[out].first == std::uint64_t(kOutCount));
    BOOST_TEST(counted[out].second == std::uint64_t(kOutCount * (20 + 8 + kOutPayload)));
    BOOST_TEST(counted[back].first == std::uint64_t(kBackCount));
    BOOST_TEST(counted[back].second == std::uint64_t(kBackCount * (20 + 8 + kBackPayload)));
}

std::unique_ptr<capture::HookAttachment> attach(const bpf::FlowProgram& program, unsigned ifindex, Direction d,
                                            capture::AttachMode mode) {
    return std::make_unique<capture::HookAttachment>(program.tc_program_fd(d, bpf::LinkLayer::ethernet), ifindex, d, mode);
}

// A process that loads its own flow program and attaches it both ways, then waits to be
// killed: what a `kill -9` of ebpfix leaves on the device.
class AttachedChild {
public:
    AttachedChild(unsigned ifindex, capture::AttachMode mode) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::close(p[0]);
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
            char status = 'x';
            try {
                bpf::FlowProgram program(bpf::ProgramOptions{});
                auto in = attach(program, ifindex, Direction::ingress, mode);
                auto out = attach(program, ifindex, Direction::egress, mode);
                status = 'r';
                if (::write(p[1], &status, 1) == 1)
                    for (;;) ::pause();
            } catch (...) {
            }
            ::_exit(1);  // the parent reads end of file: the child could not attach
        }
        ::close(p[1]);
        char status = 0;
        const ssize_t n = ::read(p[0], &status, 1);
        ::close(p[0]);
        if (n != 1 || status != 'r') {
            kill();
            throw std::runtime_error("the child could not attach");
        }
    }
    ~AttachedChild() { kill(); }
    AttachedChild(const AttachedChild&) = delete;
    AttachedChild& operator=(const AttachedChild&) = delete;

    pid_t pid() const { return pid_; }
    // SIGKILL and reap: the child's fds are closed once waitpid returns.
    void kill() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
};

}  // namespace

BOOST_AUTO_TEST_CASE(tcx_runs_ahead_of_a_program_that_drops_everything) {
    VethPair v("t");
    const unsigned ifindex = v.ifindex();
    bpf::FlowProgram program(bpf::ProgramOptions{});
    bpf::FlowDrainer drainer(program);
    DropProgram drop;
    const std::uint32_t drop_id = prog_id(drop.fd());
    Fd drop_in(bpf_link_create(drop.fd(), int(ifindex), static_cast<bpf_attach_type>(kTcxIngress), nullptr));
    Fd drop_out(bpf_link_create(drop.fd(), int(ifindex), static_cast<bpf_attach_type>(kTcxEgress), nullptr));
    BOOST_TEST_REQUIRE((drop_in.fd >= 0 && drop_out.fd >= 0));
    Traffic traffic(v);
    {
        auto in = attach(program, ifindex, Direction::ingress, capture::AttachMode::tcx);
        auto out = attach(program, ifindex, Direction::egress, capture::AttachMode::tcx);
        BOOST_TEST((in->mode() == capture::AttachMode::tcx && out->mode() == capture::AttachMode::tcx));
        const std::uint32_t in_id = prog_id(program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet));
        const std::uint32_t out_id = prog_id(program.tc_program_fd(Direction::egress, bpf::LinkLayer::ethernet));
        BOOST_TEST((tcx_prog_ids(ifindex, kTcxIngress) == std::vector<std::uint32_t>{in_id, drop_id}));
        BOOST_TEST((tcx_prog_ids(ifindex, kTcxEgress) == std::vector<std::uint32_t>{out_id, drop_id}));

        traffic.bursts();
        expect_bursts_counted(drainer, ifindex);
    }
    // Our links are gone; the other program's stay where they were.
    BOOST_TEST((tcx_prog_ids(ifindex, kTcxIngress) == std::vector<std::uint32_t>{drop_id}));
    BOOST_TEST((tcx_prog_ids(ifindex, kTcxEgress) == std::vector<std::uint32_t>{drop_id}));
    drop_in.reset();
    drop_out.reset();
    BOOST_TEST(tcx_prog_ids(ifindex, kTcxIngress).empty());
    traffic.expect_markers_first();
}

BOOST_AUTO_TEST_CASE(clsact_runs_ahead_of_a_filter_that_drops_everything) {
    // The drop filter at a priority the kernel picks (after ours), and at priority 1 too.
    for (const std::uint32_t drop_priority : {0u, 1u}) {
        BOOST_TEST_CONTEXT("drop filter priority " << drop_priority) {
            VethPair v("c" + std::to_string(drop_priority));
            const unsigned ifindex = v.ifindex();
            bpf::FlowProgram program(bpf::ProgramOptions{});
            bpf::FlowDrainer drainer(program);
            DropProgram drop;
            ForeignFilter drop_in(ifindex, Direction::ingress, drop.fd(), drop_priority);
            ForeignFilter drop_out(ifindex, Direction::egress, drop.fd(), drop_priority);
            Traffic traffic(v);
            {
                auto in = attach(program, ifindex, Direction::ingress, capture::AttachMode::clsact);
                auto out = attach(program, ifindex, Direction::egress, capture::AttachMode::clsact);
                BOOST_TEST((in->mode() == capture::AttachMode::clsact && out->mode() == capture::AttachMode::clsact));
                BOOST_TEST(!in->created_qdisc());
                BOOST_TEST(in->attach_notes().empty());
                BOOST_TEST(prog_in_our_slot(ifindex, Direction::ingress) ==
                           prog_id(program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet)));

                traffic.bursts();
                expect_bursts_counted(drainer, ifindex);
            }
            // Our filters are gone; the drop filters and their qdisc stay.
            BOOST_TEST(prog_in_our_slot(ifindex, Direction::ingress) == 0u);
            BOOST_TEST(prog_in_our_slot(ifindex, Direction::egress) == 0u);
            BOOST_TEST((drop_in.present() && drop_out.present()));
            BOOST_TEST(capture::has_clsact_qdisc(ifindex));
            drop_in.remove();
            drop_out.remove();
            traffic.expect_markers_first();
        }
    }
}

BOOST_AUTO_TEST_CASE(clsact_detach_keeps_filters_added_after_ebpfix_and_their_qdisc) {
    VethPair v("a");
    const unsigned ifindex = v.ifindex();
    bpf::FlowProgram program(bpf::ProgramOptions{});
    DropProgram drop;
    auto in = attach(program, ifindex, Direction::ingress, capture::AttachMode::clsact);
    auto out = attach(program, ifindex, Direction::egress, capture::AttachMode::clsact);
    BOOST_TEST(in->created_qdisc());  // no qdisc was there: ebpfix made it
    sh("tc filter add dev " + v.name() + " ingress u32 match u32 0 0");
    ForeignFilter foreign_out(ifindex, Direction::egress, drop.fd(), 5);
    const auto foreign_in_before = foreign_filters(ifindex, Direction::ingress);
    const auto foreign_out_before = foreign_filters(ifindex, Direction::egress);
    BOOST_TEST(foreign_in_before.size() == 2u);  // u32: its hash table and its key
    BOOST_TEST(foreign_out_before.size() == 1u);
    BOOST_TEST(capture::clsact_filters(ifindex, Direction::ingress).size() == tc_filter_lines(v.name(), Direction::ingress));
    BOOST_TEST(capture::clsact_filters(ifindex, Direction::egress).size() == tc_filter_lines(v.name(), Direction::egress));
    // ebpfix is first on both hooks.
    for (Direction d : {Direction::ingress, Direction::egress}) {
        const auto filters = capture::clsact_filters(ifindex, d);
        BOOST_TEST_REQUIRE(!filters.empty());
        BOOST_TEST(filters.front().handle == capture::kClsactHandle);
        BOOST_TEST(filters.front().priority == capture::kClsactPriority);
        for (const auto& f : filters) BOOST_TEST(f.priority >= capture::kClsactPriority);
    }

    in.reset();
    out.reset();
    BOOST_TEST(capture::has_clsact_qdisc(ifindex));
    BOOST_TEST((foreign_filters(ifindex, Direction::ingress) == foreign_in_before));
    BOOST_TEST((foreign_filters(ifindex, Direction::egress) == foreign_out_before));
    BOOST_TEST(foreign_out.present());
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::ingress).empty());
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::egress).empty());
    BOOST_TEST(tc_filter_lines(v.name(), Direction::ingress) == 2u);
}

BOOST_AUTO_TEST_CASE(clsact_detach_keeps_filters_that_were_there_before) {
    VethPair v("b");
    const unsigned ifindex = v.ifindex();
    bpf::FlowProgram program(bpf::ProgramOptions{});
    DropProgram drop;
    sh("tc qdisc add dev " + v.name() + " clsact");
    sh("tc filter add dev " + v.name() + " egress u32 match u32 0 0");
    ForeignFilter foreign_in(ifindex, Direction::ingress, drop.fd(), 1);  // even at our priority
    const auto foreign_in_before = foreign_filters(ifindex, Direction::ingress);
    const auto foreign_out_before = foreign_filters(ifindex, Direction::egress);
    {
        auto in = attach(program, ifindex, Direction::ingress, capture::AttachMode::clsact);
        auto out = attach(program, ifindex, Direction::egress, capture::AttachMode::clsact);
        BOOST_TEST((!in->created_qdisc() && !out->created_qdisc()));
        BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::ingress).size() == 1u);
        BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::egress).size() == 1u);
    }
    BOOST_TEST(capture::has_clsact_qdisc(ifindex));
    BOOST_TEST((foreign_filters(ifindex, Direction::ingress) == foreign_in_before));
    BOOST_TEST((foreign_filters(ifindex, Direction::egress) == foreign_out_before));
    BOOST_TEST(foreign_in.present());
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::ingress).empty());
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::egress).empty());
}

BOOST_AUTO_TEST_CASE(clsact_qdisc_we_created_goes_with_our_last_filter) {
    VethPair v("q");
    const unsigned ifindex = v.ifindex();
    bpf::FlowProgram program(bpf::ProgramOptions{});
    auto in = attach(program, ifindex, Direction::ingress, capture::AttachMode::clsact);
    auto out = attach(program, ifindex, Direction::egress, capture::AttachMode::clsact);
    BOOST_TEST((in->created_qdisc() && !out->created_qdisc()));
    in.reset();  // the attachment that created the qdisc goes first; egress still needs it
    BOOST_TEST(capture::has_clsact_qdisc(ifindex));
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::egress).size() == 1u);
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::ingress).empty());
    out.reset();
    BOOST_TEST(!capture::has_clsact_qdisc(ifindex));
}

BOOST_AUTO_TEST_CASE(clsact_attach_removes_the_filter_of_a_killed_ebpfix_but_not_of_a_live_one) {
    VethPair v("s");
    const unsigned ifindex = v.ifindex();
    bpf::FlowProgram program(bpf::ProgramOptions{});
    const std::uint32_t in_id = prog_id(program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet));
    const std::uint32_t out_id = prog_id(program.tc_program_fd(Direction::egress, bpf::LinkLayer::ethernet));

    AttachedChild child(ifindex, capture::AttachMode::clsact);
    const std::uint32_t child_in = prog_in_our_slot(ifindex, Direction::ingress);
    const std::uint32_t child_out = prog_in_our_slot(ifindex, Direction::egress);
    BOOST_TEST_REQUIRE((child_in != 0u && child_out != 0u));

    // Alive, the child's filter is not stale: a clsact attach fails and names the child.
    const std::string pid_text = "running ebpfix (pid " + std::to_string(child.pid()) + ",";
    BOOST_CHECK_EXCEPTION(attach(program, ifindex, Direction::ingress, capture::AttachMode::clsact), bpf::BpfError,
                          [&](const bpf::BpfError& e) {
                              BOOST_TEST_MESSAGE(e.what());
                              return std::string(e.what()).find(pid_text) != std::string::npos;
                          });
    // A TCX attach next to it leaves it alone too.
    {
        auto tcx = attach(program, ifindex, Direction::ingress, capture::AttachMode::tcx);
        BOOST_TEST(tcx->attach_notes().empty());
    }
    BOOST_TEST(prog_in_our_slot(ifindex, Direction::ingress) == child_in);

    child.kill();
    // Killed: its filters stay on the device, running programs nobody holds.
    BOOST_TEST(prog_in_our_slot(ifindex, Direction::ingress) == child_in);
    BOOST_TEST(prog_in_our_slot(ifindex, Direction::egress) == child_out);

    auto in = attach(program, ifindex, Direction::ingress, capture::AttachMode::clsact);
    auto out = attach(program, ifindex, Direction::egress, capture::AttachMode::clsact);
    for (const auto& [hook, stale] : {std::pair{in.get(), child_in}, std::pair{out.get(), child_out}}) {
        BOOST_TEST_REQUIRE(hook->attach_notes().size() == 1u);
        const std::string& note = hook->attach_notes().front();
        BOOST_TEST_MESSAGE(note);
        BOOST_TEST(note.find("removed a stale ebpfix clsact filter") != std::string::npos);
        BOOST_TEST(note.find(" id " + std::to_string(stale) + ",") != std::string::npos);
    }
    // Exactly one ebpfix filter per hook: ours.
    BOOST_TEST((ebpfix_filter_progs(ifindex, Direction::ingress) == std::vector<std::uint32_t>{in_id}));
    BOOST_TEST((ebpfix_filter_progs(ifindex, Direction::egress) == std::vector<std::uint32_t>{out_id}));
    BOOST_TEST(prog_in_our_slot(ifindex, Direction::ingress) == in_id);

    in.reset();
    out.reset();
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::ingress).empty());
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::egress).empty());
    BOOST_TEST(prog_in_our_slot(ifindex, Direction::ingress) == 0u);
    // The killed child created the qdisc; nobody can tell that now, so it stays (empty).
    BOOST_TEST(capture::has_clsact_qdisc(ifindex));
    BOOST_TEST(capture::clsact_filters(ifindex, Direction::ingress).empty());
}

BOOST_AUTO_TEST_CASE(tcx_links_die_with_a_killed_ebpfix_and_tcx_attach_removes_stale_clsact_filters) {
    VethPair v("k");
    const unsigned ifindex = v.ifindex();
    {
        AttachedChild child(ifindex, capture::AttachMode::tcx);
        BOOST_TEST(tcx_prog_ids(ifindex, kTcxIngress).size() == 1u);
        BOOST_TEST(tcx_prog_ids(ifindex, kTcxEgress).size() == 1u);
        child.kill();
        BOOST_TEST(tcx_prog_ids(ifindex, kTcxIngress).empty());
        BOOST_TEST(tcx_prog_ids(ifindex, kTcxEgress).empty());
    }
    AttachedChild child(ifindex, capture::AttachMode::clsact);
    const std::uint32_t stale = prog_in_our_slot(ifindex, Direction::ingress);
    BOOST_TEST_REQUIRE(stale != 0u);
    child.kill();
    bpf::FlowProgram program(bpf::ProgramOptions{});
    auto in = attach(program, ifindex, Direction::ingress, capture::AttachMode::automatic);
    BOOST_TEST((in->mode() == capture::AttachMode::tcx));
    BOOST_TEST_REQUIRE(in->attach_notes().size() == 1u);
    BOOST_TEST(in->attach_notes().front().find(" id " + std::to_string(stale) + ",") != std::string::npos);
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::ingress).empty());
    BOOST_TEST(ebpfix_filter_progs(ifindex, Direction::egress).size() == 1u);  // egress was not attached
}

BOOST_AUTO_TEST_CASE(clsact_attach_refuses_a_priority_or_slot_it_cannot_take_first) {
    VethPair v("r");
    const unsigned ifindex = v.ifindex();
    bpf::FlowProgram program(bpf::ProgramOptions{});
    DropProgram drop;
    // A classifier of another kind at priority 1: the kernel would refuse ours next to it.
    sh("tc qdisc add dev " + v.name() + " clsact");
    sh("tc filter add dev " + v.name() + " ingress prio 1 u32 match u32 0 0");
    BOOST_CHECK_EXCEPTION(attach(program, ifindex, Direction::ingress, capture::AttachMode::clsact), bpf::BpfError,
                          [](const bpf::BpfError& e) {
                              BOOST_TEST_MESSAGE(e.what());
                              return std::string(e.what()).find("held by a 'u32' filter") != std::string::npos;
                          });
    // Another program in our very slot.
    bpf_tc_hook hook = tc_hook(ifindex, Direction::egress);
    bpf_tc_opts opts{};
    opts.sz = sizeof(opts);
    opts.prog_fd = drop.fd();
    opts.handle = capture::kClsactHandle;
    opts.priority = capture::kClsactPriority;
    BOOST_TEST_REQUIRE(bpf_tc_attach(&hook, &opts) == 0);
    BOOST_CHECK_EXCEPTION(attach(program, ifindex, Direction::egress, capture::AttachMode::clsact), bpf::BpfError,
                          [](const bpf::BpfError& e) {
                              BOOST_TEST_MESSAGE(e.what());
                              return std::string(e.what()).find("runs program 'test_drop'") != std::string::npos;
                          });
    // Both refusals left everything as it was.
    BOOST_TEST(prog_in_our_slot(ifindex, Direction::egress) == prog_id(drop.fd()));
    BOOST_TEST(tc_filter_lines(v.name(), Direction::ingress) == 2u);
    BOOST_TEST(capture::has_clsact_qdisc(ifindex));
}
