// libFuzzer target: bytes as a control socket request (invariants: control_check.hpp).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/control_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        ebpfix::fuzz::check_control_input({data, size});
    } catch (const ebpfix::fuzz::InvariantBroken& e) {
        std::fprintf(stderr, "control_request_fuzz: invariant broken: %s\n", e.what());
        std::abort();
    }
    return 0;
}
