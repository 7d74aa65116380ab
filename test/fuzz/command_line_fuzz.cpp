// libFuzzer target: bytes split at NUL into ebpfix's arguments (invariants: input_checks.hpp).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/input_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        ebpfix::fuzz::check_command_line_input({data, size});
    } catch (const ebpfix::fuzz::InvariantBroken& e) {
        std::fprintf(stderr, "command_line_fuzz: invariant broken: %s\n", e.what());
        std::abort();
    }
    return 0;
}
