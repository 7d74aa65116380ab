// libFuzzer target: one frame per input through the real kernel flow program, compared
// with the reference parser (input layout and invariants: kernel_check.hpp). Run as root.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "bpf/flow_program.hpp"
#include "fuzz/input_checks.hpp"
#include "fuzz/kernel_check.hpp"

namespace {

std::unique_ptr<ebpfix::fuzz::KernelChecker> checker;

void print_stats() {
    if (!checker) return;
    const auto& s = checker->stats();
    std::fprintf(stderr,
                 "kernel_fuzz: %llu inputs, %llu frames checked (%llu flows, %llu later fragments, %llu non_ip, "
                 "%llu parse_error, %llu truncated), %llu under 14 bytes, %llu refused by test_run\n",
                 (unsigned long long)s.inputs, (unsigned long long)s.checked, (unsigned long long)s.flows,
                 (unsigned long long)s.later_fragments, (unsigned long long)s.non_ip,
                 (unsigned long long)s.parse_error, (unsigned long long)s.truncated,
                 (unsigned long long)s.too_short, (unsigned long long)s.refused);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (::geteuid() != 0) {
        std::fprintf(stderr, "kernel_fuzz: needs root (loads BPF programs)\n");
        std::exit(1);
    }
    try {
        checker = std::make_unique<ebpfix::fuzz::KernelChecker>();
    } catch (const ebpfix::bpf::BpfError& e) {
        std::fprintf(stderr, "kernel_fuzz: loading the flow program: %s\n", e.what());
        std::exit(1);
    }
    std::atexit(print_stats);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        checker->check({data, size});
    } catch (const ebpfix::fuzz::InvariantBroken& e) {
        std::fprintf(stderr, "kernel_fuzz: invariant broken: %s\n", e.what());
        std::abort();
    }
    return 0;
}
