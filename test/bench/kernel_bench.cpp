// Per-packet cost of the kernel program with BPF_PROG_TEST_RUN, next to an empty TC
// program in the same run (the floor of the method). Not a test: scripts/bench.sh runs it.
// Method (issue 6): N TCP flows with 64-byte payloads; the first packet of each flow is
// the new-flow path, later packets the hot path; each packet is one test_run (repeat 1),
// so every flow's entry is visited in turn, as on a busy link. "warm" repeats each frame
// 100 times inside the kernel (the same entry, no cache misses). The two reference
// programs of bpf/bench_reference.bpf.c (a bare LRU lookup-and-increment with a 16-byte
// and a 48-byte key, IPv4 only) are measured the same way in the same run. The last lines
// ("ratio ...") put ebpfix's excess over the empty program against the 16-byte
// reference's: the hot path (warm, r100) and the new flow (the insert).
//
//   ebpfix_kernel_bench [flows=65536] [hot_rounds=5] [attribution]
//       attribution: with the attribution knob on (the socket cookie in the key; test_run
//       frames carry no socket, so this is the cost of the check where none is known)
//   ebpfix_kernel_bench --attach IFNAME   the 16-byte reference on IFNAME's TCX ingress
//       until SIGINT/SIGTERM, then prints its run_time_ns / run_cnt (bench.sh live: the
//       floor of a hash-map flow counter on the same traffic; needs bpf_stats_enabled)
//       and the packets its map counted (bench.sh shapes: the reference's exactness).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <signal.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "bpf/kernel_filters.hpp"
#include "bpf/packet_runner.hpp"
#include "bench_reference.skel.h"
#include "empty.skel.h"
#include "frames.hpp"

using namespace ebpfix;
using namespace ebpfix::test;

namespace {

std::uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

std::vector<Bytes> make_frames(int family, std::uint32_t flows) {
    std::vector<Bytes> frames;
    frames.reserve(flows);
    for (std::uint32_t i = 0; i < flows; ++i) {
        const std::uint16_t sport = std::uint16_t(1024 + i % 60000);
        const std::uint16_t dport = std::uint16_t(80 + i / 60000);
        if (family == 4) {
            Ip4 h{.protocol = 6};
            Bytes f = cat({eth(0x0800), ipv4(h, 20 + 64), tcp(sport, dport, ACK), zeros(64)});
            frames.push_back(std::move(f));
        } else {
            Ip6 h{.next = 6};
            frames.push_back(cat({eth(0x86dd), ipv6(h, 20 + 64), tcp(sport, dport, ACK), zeros(64)}));
        }
    }
    return frames;
}

// Average ns per packet over every frame, each run `rounds` times (one test_run each,
// the kernel repeating the packet `repeat` times in place).
double run_all(int fd, const std::vector<Bytes>& frames, int rounds, std::uint32_t repeat = 1) {
    std::uint64_t total = 0, count = 0;
    bpf::PacketRunOptions run;
    run.repeat = repeat;
    for (int r = 0; r < rounds; ++r)
        for (const Bytes& f : frames) {
            total += bpf::run_packet(fd, f, run).duration_ns;
            ++count;
        }
    return double(total) / double(count);
}

struct Costs {
    double new_ns, hot_ns, warm_ns;
};

// new: the first packet of every flow; hot: `rounds` more packets of every flow, in turn;
// warm: each frame repeated 100 times in place. The map must start without these flows.
Costs measure(int fd, const std::vector<Bytes>& frames, int rounds) {
    Costs c;
    c.new_ns = run_all(fd, frames, 1);
    c.hot_ns = run_all(fd, frames, rounds);
    c.warm_ns = run_all(fd, frames, 1, 100);
    return c;
}

// Packets and flows counted in the 16-byte reference's map.
void map_totals(int map_fd, unsigned long long& packets, unsigned long long& flows) {
    packets = flows = 0;
    std::uint8_t key[16], next[16];
    struct {
        std::uint64_t packets, bytes;
    } value;
    void* prev = nullptr;
    while (bpf_map_get_next_key(map_fd, prev, next) == 0) {
        if (bpf_map_lookup_elem(map_fd, next, &value) == 0) {
            packets += value.packets;
            ++flows;
        }
        std::memcpy(key, next, sizeof key);
        prev = key;
    }
}

void print_row(const char* program, int family, const Costs& c, const Costs& empty) {
    std::printf("%-10s ipv%-3d %10.1f %10.1f %10.1f %12.1f %12.1f %12.1f %12.1f\n", program, family, empty.hot_ns,
                c.new_ns, c.hot_ns, c.new_ns - empty.hot_ns, c.hot_ns - empty.hot_ns, c.warm_ns,
                c.warm_ns - empty.warm_ns);
}

int attach_reference(const char* ifname) {
    const unsigned ifindex = if_nametoindex(ifname);
    if (ifindex == 0) {
        std::fprintf(stderr, "no interface %s\n", ifname);
        return 1;
    }
    bench_reference_bpf* r = bench_reference_bpf::open_and_load();
    if (r == nullptr) {
        std::fprintf(stderr, "cannot load the reference programs (root needed)\n");
        return 1;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    const int prog_fd = bpf_program__fd(r->progs.ref_lru16_count);
    // 46 = BPF_TCX_INGRESS (Debian 12's headers predate the name).
    const int link = bpf_link_create(prog_fd, int(ifindex), bpf_attach_type(46), nullptr);
    if (link < 0) {
        std::fprintf(stderr, "cannot attach to %s: %s\n", ifname, std::strerror(-link));
        bench_reference_bpf::destroy(r);
        return 1;
    }
    std::printf("lru16-ref attached to %s ingress\n", ifname);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    bpf_obj_get_info_by_fd(prog_fd, &info, &len);
    ::close(link);  // detached first: the totals below are final
    unsigned long long packets = 0, flows = 0;
    map_totals(bpf_map__fd(r->maps.ref_lru16), packets, flows);
    std::printf("lru16-ref on %s: run_cnt %llu run_time_ns %llu = %.1f ns/run; map packets %llu flows %llu\n", ifname,
                (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns,
                info.run_cnt ? double(info.run_time_ns) / double(info.run_cnt) : 0.0, packets, flows);
    bench_reference_bpf::destroy(r);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--attach") == 0) return attach_reference(argv[2]);
    const std::uint32_t flows = argc > 1 ? std::uint32_t(std::atoi(argv[1])) : 65536;
    const int hot_rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    const bool attribution = argc > 3 && std::strcmp(argv[3], "attribution") == 0;

    empty_bpf* empty = empty_bpf::open_and_load();
    if (empty == nullptr) {
        std::fprintf(stderr, "cannot load the empty program (root needed)\n");
        return 1;
    }
    const int empty_fd = bpf_program__fd(empty->progs.ebpfix_empty);

    bpf::ProgramOptions options;
    options.map_entries = std::max<std::uint32_t>(flows, 1024);
    bpf::FlowProgram program(options);
    bpf::FlowDrainer drainer(program);
    if (attribution) {
        bpf::KernelFilters filters;
        filters.attribution = true;
        bpf::apply_filters(program, filters);
    }
    const int fd = program.tc_program_fd(Direction::ingress, bpf::LinkLayer::ethernet);

    std::printf("flows=%u hot_rounds=%d attribution=%s (ns per packet; *-empty = above the empty program)\n", flows,
                hot_rounds, attribution ? "on" : "off");
    std::printf("%-10s %-6s %10s %10s %10s %12s %12s %12s %12s\n", "program", "family", "empty_ns", "new_ns", "hot_ns",
                "new-empty", "hot-empty", "warm(r100)", "warm-empty");
    Costs ebpfix_costs[2], ebpfix_empty[2], ref16{}, ref16_empty{};
    for (int family : {4, 6}) {
        auto frames = make_frames(family, flows);
        std::vector<FlowDelta> sink;
        drainer.drain(monotonic_ns(), 0, sink);  // start with every slot free
        const Costs e = measure(empty_fd, frames, hot_rounds);
        const Costs c = measure(fd, frames, hot_rounds);
        print_row("ebpfix", family, c, e);
        ebpfix_costs[family == 6] = c;
        ebpfix_empty[family == 6] = e;
        sink.clear();
        drainer.drain(monotonic_ns(), 0, sink);
        if (sink.size() != flows) std::fprintf(stderr, "warning: drained %zu flows, expected %u\n", sink.size(), flows);
    }
    // The references last, so that freeing their maps cannot disturb the figures above.
    // Their LRU maps get twice the flows, so that the LRU never has to evict during a run.
    const auto frames = make_frames(4, flows);
    for (int ref = 0; ref < 2; ++ref) {
        bench_reference_bpf* r = bench_reference_bpf::open();
        if (r == nullptr || bpf_map__set_max_entries(r->maps.ref_lru16, 2 * options.map_entries) != 0 ||
            bpf_map__set_max_entries(r->maps.ref_lru48, 2 * options.map_entries) != 0 ||
            bench_reference_bpf::load(r) != 0) {
            std::fprintf(stderr, "cannot load the reference programs\n");
            return 1;
        }
        const int rfd = bpf_program__fd(ref == 0 ? r->progs.ref_lru16_count : r->progs.ref_lru48_count);
        const Costs e = measure(empty_fd, frames, hot_rounds);
        const Costs c = measure(rfd, frames, hot_rounds);
        print_row(ref == 0 ? "lru16-ref" : "lru48-ref", 4, c, e);
        if (ref == 0) {
            ref16 = c;
            ref16_empty = e;
        }
        bench_reference_bpf::destroy(r);
    }
    // Issue 16's kernel targets, each against the 16-byte reference of the same run.
    const double ref_hot = ref16.warm_ns - ref16_empty.warm_ns, ref_new = ref16.new_ns - ref16_empty.hot_ns;
    for (int family : {4, 6}) {
        const Costs& c = ebpfix_costs[family == 6];
        const Costs& e = ebpfix_empty[family == 6];
        const double hot = c.warm_ns - e.warm_ns, created = c.new_ns - e.hot_ns;
        std::printf("ratio flows=%u ipv%d: hot-path excess ebpfix %.1f ns / bare16 %.1f ns = %.2f (target <= 1.25); "
                    "new-flow excess ebpfix %.1f ns / bare insert %.1f ns = %.2f (target <= 1.00)\n",
                    flows, family, hot, ref_hot, ref_hot > 0 ? hot / ref_hot : 0.0, created, ref_new,
                    ref_new > 0 ? created / ref_new : 0.0);
    }
    empty_bpf::destroy(empty);
    return 0;
}
