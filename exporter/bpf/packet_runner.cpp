#include "bpf/packet_runner.hpp"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "bpf/flow_program.hpp"

namespace ebpfix::bpf {

PacketRunResult run_packet(int prog_fd, std::span<const std::uint8_t> frame, const PacketRunOptions& options) {
    __sk_buff ctx{};
    ctx.tstamp = options.tstamp_ns;
    ctx.gso_segs = options.gso_segs;
    ctx.gso_size = options.gso_size;
    // The kernel rejects a ctx whose wire_len is below the data's length.
    // It also refuses one above 64 KiB, more than any IP packet's length field can say.
    ctx.wire_len = std::max(std::min<std::uint32_t>(options.wire_len, 65536), static_cast<std::uint32_t>(frame.size()));
    // test_run wants a writable copy for data_out; we never ask for it back.
    std::vector<std::uint8_t> data(frame.begin(), frame.end());

    bpf_test_run_opts run{};
    run.sz = sizeof(run);
    run.data_in = data.data();
    run.data_size_in = static_cast<__u32>(data.size());
    run.ctx_in = &ctx;
    run.ctx_size_in = sizeof(ctx);
    run.repeat = options.repeat;
    if (bpf_prog_test_run_opts(prog_fd, &run) != 0) throw BpfError("BPF_PROG_TEST_RUN", errno);
    return PacketRunResult{static_cast<int>(run.retval), run.duration};
}

}  // namespace ebpfix::bpf
