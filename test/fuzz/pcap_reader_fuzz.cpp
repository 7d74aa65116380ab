// libFuzzer target: bytes as a capture file through PcapReader (invariants: input_checks.hpp).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/input_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        ebpfix::fuzz::check_pcap_input({data, size});
    } catch (const ebpfix::fuzz::InvariantBroken& e) {
        std::fprintf(stderr, "pcap_reader_fuzz: invariant broken: %s\n", e.what());
        std::abort();
    }
    return 0;
}
