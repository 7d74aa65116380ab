// Per-packet cost of the kernel program with BPF_PROG_TEST_RUN, next to an empty TC
// program in the same run (the floor of the method). Not a test: scripts/bench.sh runs it.
// Method (issue 6): N TCP flows with 64-byte payloads; the first packet of each flow is
// the new-flow path, later packets the hot path; each packet is one test_run (repeat 1),
// so every flow's entry is visited in turn, as on a busy link.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "bpf/packet_runner.hpp"
#include "empty.skel.h"
#include "frames.hpp"

using namespace ebpfix;
using namespace ebpfix::test;

namespace {

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

}  // namespace

int main(int argc, char** argv) {
    const std::uint32_t flows = argc > 1 ? std::uint32_t(std::atoi(argv[1])) : 65536;
    const int hot_rounds = argc > 2 ? std::atoi(argv[2]) : 5;

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
    const int fd = program.program_fd(Direction::ingress, bpf::LinkLayer::ethernet);

    std::printf("flows=%u hot_rounds=%d\n", flows, hot_rounds);
    std::printf("%-6s %10s %10s %10s %12s %12s %14s %14s\n", "family", "empty_ns", "new_ns", "hot_ns", "new-empty",
                "hot-empty", "warm(r100)", "warm-empty");
    for (int family : {4, 6}) {
        auto frames = make_frames(family, flows);
        std::vector<bpf::DrainedFlow> sink;
        drainer.drain(sink);  // start from an empty active map
        const double empty_ns = run_all(empty_fd, frames, hot_rounds);
        const double new_ns = run_all(fd, frames, 1);
        const double hot_ns = run_all(fd, frames, hot_rounds);
        // The same entry 100 times in a row: the cost without cache misses on the map.
        const double empty_warm = run_all(empty_fd, frames, 1, 100);
        const double warm_ns = run_all(fd, frames, 1, 100);
        std::printf("ipv%-3d %10.1f %10.1f %10.1f %12.1f %12.1f %14.1f %14.1f\n", family, empty_ns, new_ns, hot_ns,
                    new_ns - empty_ns, hot_ns - empty_ns, warm_ns, warm_ns - empty_warm);
        sink.clear();
        drainer.drain(sink);
        if (sink.size() != flows) std::fprintf(stderr, "warning: drained %zu flows, expected %u\n", sink.size(), flows);
    }
    empty_bpf::destroy(empty);
    return 0;
}
