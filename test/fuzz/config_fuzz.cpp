// libFuzzer target: bytes as a TOML file through config::parse_config_text (invariants: input_checks.hpp).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/input_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        ebpfix::fuzz::check_config_input({data, size});
    } catch (const ebpfix::fuzz::InvariantBroken& e) {
        std::fprintf(stderr, "config_fuzz: invariant broken: %s\n", e.what());
        std::abort();
    }
    return 0;
}
