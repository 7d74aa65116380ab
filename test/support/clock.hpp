// The programs' clock (CLOCK_MONOTONIC), for drains in tests.
#pragma once

#include <time.h>

#include <cstdint>

namespace ebpfix::test {

inline std::uint64_t monotonic_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

}  // namespace ebpfix::test
