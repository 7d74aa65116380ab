#include "bpf/flow_program.hpp"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "bpf/abi_check.hpp"
#include "flow.skel.h"

namespace ebpfix::bpf {

BpfError::BpfError(const std::string& what, int err)
    : std::runtime_error(what + ": " + std::strerror(err < 0 ? -err : err)), err_(err < 0 ? -err : err) {}

namespace {

// libbpf prints the verifier log and attach problems at WARN; keep those, drop DEBUG.
int print_libbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    // An existing clsact qdisc is expected (we then only add our filter), not a warning.
    if (std::strstr(fmt, "Kernel error message") != nullptr) {
        va_list copy;
        va_copy(copy, args);
        const char* msg = va_arg(copy, const char*);
        va_end(copy);
        if (msg != nullptr && std::strstr(msg, "Exclusivity flag on") != nullptr) return 0;
    }
    return std::vfprintf(stderr, fmt, args);
}

}  // namespace

FlowProgram::FlowProgram(const ProgramOptions& options) : map_entries_(options.map_entries) {
    static std::once_flag print_once;
    std::call_once(print_once, [] { libbpf_set_print(print_libbpf); });

    if (options.map_entries == 0) throw BpfError("map_entries must be at least 1", EINVAL);
    skel_ = flow_bpf::open();
    if (skel_ == nullptr) throw BpfError("opening the embedded BPF object", errno);

    skel_->rodata->ebpfix_time_from_skb = options.time_from_skb ? 1 : 0;
    skel_->rodata->ebpfix_force_load_bytes = options.force_load_bytes ? 1 : 0;
    for (bpf_map* map : {skel_->maps.flows4_a, skel_->maps.flows4_b, skel_->maps.flows6_a,
                         skel_->maps.flows6_b}) {
        if (int err = bpf_map__set_max_entries(map, options.map_entries); err != 0) {
            flow_bpf::destroy(skel_);
            throw BpfError("sizing flow maps", err);
        }
    }
    if (int err = flow_bpf::load(skel_); err != 0) {
        flow_bpf::destroy(skel_);
        throw BpfError("loading the BPF flow program (needs root / CAP_BPF+CAP_NET_ADMIN)", err);
    }
}

FlowProgram::~FlowProgram() { flow_bpf::destroy(skel_); }

int FlowProgram::program_fd(Direction direction, LinkLayer link_layer) const {
    const bool ingress = direction == Direction::ingress;
    bpf_program* prog = link_layer == LinkLayer::ethernet
                            ? (ingress ? skel_->progs.ebpfix_ingress_eth : skel_->progs.ebpfix_egress_eth)
                            : (ingress ? skel_->progs.ebpfix_ingress_l3 : skel_->progs.ebpfix_egress_l3);
    return bpf_program__fd(prog);
}

int FlowProgram::flows4_fd(int generation) const {
    return bpf_map__fd(generation == 0 ? skel_->maps.flows4_a : skel_->maps.flows4_b);
}
int FlowProgram::flows6_fd(int generation) const {
    return bpf_map__fd(generation == 0 ? skel_->maps.flows6_a : skel_->maps.flows6_b);
}
int FlowProgram::flows4_active_fd() const { return bpf_map__fd(skel_->maps.flows4_active); }
int FlowProgram::flows6_active_fd() const { return bpf_map__fd(skel_->maps.flows6_active); }
int FlowProgram::counters_fd() const { return bpf_map__fd(skel_->maps.counters); }

}  // namespace ebpfix::bpf
