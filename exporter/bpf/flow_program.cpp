#include "bpf/flow_program.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>

#include "flow.skel.h"

namespace ebpfix::bpf {

BpfError::BpfError(const std::string& what, int err)
    : std::runtime_error(what + ": " + std::strerror(err < 0 ? -err : err)), err_(err < 0 ? -err : err) {}

namespace {

std::atomic<bool> g_verbose{false};

// libbpf prints the verifier log and attach problems at WARN: only with --verbose. Our
// own errors say what failed in one line.
int print_libbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG || !g_verbose.load(std::memory_order_relaxed)) return 0;
    return std::vfprintf(stderr, fmt, args);
}

#ifndef CAP_BPF
constexpr int CAP_BPF = 39;
#endif
#ifndef CAP_PERFMON
constexpr int CAP_PERFMON = 38;
#endif

// The capabilities loading needs that this process does not have, as "CAP_X, CAP_Y".
std::string missing_capabilities() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0) return {};
    std::string out;
    for (auto [cap, name] : {std::pair{CAP_BPF, "CAP_BPF"}, std::pair{CAP_PERFMON, "CAP_PERFMON"},
                             std::pair{int(CAP_NET_ADMIN), "CAP_NET_ADMIN"}}) {
        if ((data[cap / 32].effective >> (cap % 32)) & 1u) continue;
        out += (out.empty() ? "" : ", ") + std::string(name);
    }
    return out;
}

void* map_shared(bpf_map* map, std::size_t bytes, const char* what) {
    const long page = sysconf(_SC_PAGESIZE);
    const std::size_t size = (bytes + std::size_t(page) - 1) / std::size_t(page) * std::size_t(page);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
    if (p == MAP_FAILED) throw BpfError(std::string("mapping the ") + what + " table", errno);
    return p;
}

std::size_t page_rounded(std::size_t bytes) {
    const auto page = std::size_t(sysconf(_SC_PAGESIZE));
    return (bytes + page - 1) / page * page;
}

}  // namespace

FlowProgram::FlowProgram(const ProgramOptions& options) : replay_(options.time_from_packet) {
    static std::once_flag print_once;
    std::call_once(print_once, [] { libbpf_set_print(print_libbpf); });
    if (options.verbose) g_verbose = true;

    if (options.map_entries == 0) throw BpfError("map_entries must be at least 1", EINVAL);
    skel_ = flow_bpf::open();
    if (skel_ == nullptr) throw BpfError("opening the embedded BPF object", errno);

    const std::uint32_t n = options.map_entries;
    const std::uint32_t words = (n + 63) / 64;
    try {
        skel_->rodata->ebpfix_time_from_packet = options.time_from_packet ? 1 : 0;
        skel_->rodata->ebpfix_force_load_bytes = options.force_load_bytes ? 1 : 0;
        skel_->rodata->ebpfix_slot_count = n;
        for (auto [map, entries] : {std::pair{skel_->maps.index4, n}, std::pair{skel_->maps.index6, n},
                                    std::pair{skel_->maps.slots, n}, std::pair{skel_->maps.slot_keys, n},
                                    std::pair{skel_->maps.free_ring, n}, std::pair{skel_->maps.returned_slots, n}, std::pair{skel_->maps.dirty, words},
                                    std::pair{skel_->maps.owners, n}}) {
            if (int err = bpf_map__set_max_entries(map, entries); err != 0) throw BpfError("sizing flow maps", err);
        }
        const HookKinds& h = options.hooks;
        for (auto [prog, on] : {std::pair{skel_->progs.ebpfix_tc_in_eth, h.tc}, std::pair{skel_->progs.ebpfix_tc_out_eth, h.tc},
                                std::pair{skel_->progs.ebpfix_tc_in_l3, h.tc}, std::pair{skel_->progs.ebpfix_tc_out_l3, h.tc},
                                std::pair{skel_->progs.ebpfix_xdp, h.xdp}, std::pair{skel_->progs.ebpfix_cg_in, h.cgroup},
                                std::pair{skel_->progs.ebpfix_cg_out, h.cgroup},
                                std::pair{skel_->progs.ebpfix_sock_create, h.sockets}})
            bpf_program__set_autoload(prog, on);
        if (int err = flow_bpf::load(skel_); err != 0) {
            const std::string missing = missing_capabilities();
            if (!missing.empty())
                throw BpfError("loading the BPF programs needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (missing: " +
                                   missing + ")",
                               err);
            throw BpfError(std::string("loading the BPF programs") + (options.verbose ? "" : " (--verbose shows why)"),
                           err);
        }

        // The flow-hash sampling seed: per start, so that nobody outside can pick flows
        // that are never sampled.
        skel_->bss->ebpfix_knobs.sample_seed = std::random_device{}();
        // The grace map's slot, updated to wait for running programs.
        grace_inner_fd_ = bpf_map__fd(skel_->maps.grace_inner);
        std::uint32_t zero = 0;
        if (bpf_map_update_elem(bpf_map__fd(skel_->maps.grace), &zero, &grace_inner_fd_, BPF_ANY) != 0)
            throw BpfError("preparing the grace map", errno);

        slots_bytes_ = page_rounded(std::size_t(n) * sizeof(ebpfix_slot));
        keys_bytes_ = page_rounded(std::size_t(n) * sizeof(ebpfix_slot_key));
        dirty_bytes_ = page_rounded(std::size_t(words) * sizeof(std::uint64_t));
        tables_.slots = static_cast<ebpfix_slot*>(map_shared(skel_->maps.slots, slots_bytes_, "slot"));
        tables_.keys = static_cast<const ebpfix_slot_key*>(map_shared(skel_->maps.slot_keys, keys_bytes_, "slot key"));
        tables_.dirty = static_cast<std::uint64_t*>(map_shared(skel_->maps.dirty, dirty_bytes_, "dirty"));
        ring_bytes_ = page_rounded(std::size_t(n) * sizeof(std::uint64_t));
        tables_.free_ring = static_cast<std::uint64_t*>(map_shared(skel_->maps.free_ring, ring_bytes_, "free-slot"));
        // Every slot starts free; no program runs yet (none is attached).
        for (std::uint32_t slot = 0; slot < n; ++slot) tables_.free_ring[slot] = slot;
        tables_.free_pos = &skel_->bss->ebpfix_free_pos;
        std::atomic_ref<__u64>(tables_.free_pos->head).store(0, std::memory_order_relaxed);
        std::atomic_ref<__u64>(tables_.free_pos->tail).store(n, std::memory_order_release);
        tables_.slot_count = n;
        tables_.dirty_words = words;
    } catch (...) {
        if (tables_.slots) ::munmap(tables_.slots, slots_bytes_);
        if (tables_.keys) ::munmap(const_cast<ebpfix_slot_key*>(tables_.keys), keys_bytes_);
        if (tables_.dirty) ::munmap(tables_.dirty, dirty_bytes_);
        if (tables_.free_ring) ::munmap(tables_.free_ring, ring_bytes_);
        flow_bpf::destroy(skel_);
        throw;
    }
}

FlowProgram::~FlowProgram() {
    if (tables_.slots) ::munmap(tables_.slots, slots_bytes_);
    if (tables_.keys) ::munmap(const_cast<ebpfix_slot_key*>(tables_.keys), keys_bytes_);
    if (tables_.dirty) ::munmap(tables_.dirty, dirty_bytes_);
    if (tables_.free_ring) ::munmap(tables_.free_ring, ring_bytes_);
    flow_bpf::destroy(skel_);
}

int FlowProgram::tc_program_fd(Direction direction, LinkLayer link_layer) const {
    const bool ingress = direction == Direction::ingress;
    bpf_program* prog = link_layer == LinkLayer::ethernet
                            ? (ingress ? skel_->progs.ebpfix_tc_in_eth : skel_->progs.ebpfix_tc_out_eth)
                            : (ingress ? skel_->progs.ebpfix_tc_in_l3 : skel_->progs.ebpfix_tc_out_l3);
    return bpf_program__fd(prog);
}

int FlowProgram::xdp_program_fd() const { return bpf_program__fd(skel_->progs.ebpfix_xdp); }

int FlowProgram::cgroup_program_fd(Direction direction) const {
    return bpf_program__fd(direction == Direction::ingress ? skel_->progs.ebpfix_cg_in : skel_->progs.ebpfix_cg_out);
}

int FlowProgram::sock_create_program_fd() const { return bpf_program__fd(skel_->progs.ebpfix_sock_create); }
int FlowProgram::owners_fd() const { return bpf_map__fd(skel_->maps.owners); }

int FlowProgram::index4_fd() const { return bpf_map__fd(skel_->maps.index4); }
int FlowProgram::index6_fd() const { return bpf_map__fd(skel_->maps.index6); }
int FlowProgram::returned_slots_fd() const { return bpf_map__fd(skel_->maps.returned_slots); }
int FlowProgram::counters_fd() const { return bpf_map__fd(skel_->maps.counters); }
int FlowProgram::exclude4_fd() const { return bpf_map__fd(skel_->maps.exclude4); }
int FlowProgram::exclude6_fd() const { return bpf_map__fd(skel_->maps.exclude6); }

void FlowProgram::wait_for_running_programs() const {
    std::uint32_t zero = 0;
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.grace), &zero, &grace_inner_fd_, BPF_ANY) != 0)
        throw BpfError("waiting for running BPF programs", errno);
}

ebpfix_knobs& FlowProgram::knobs() const noexcept { return skel_->bss->ebpfix_knobs; }

}  // namespace ebpfix::bpf
