// The one place in the flow table that reads clocks.
#include <time.h>

#include <array>
#include <cerrno>
#include <limits>
#include <stdexcept>
#include <system_error>

#include "flow/flow_table.hpp"

namespace ebpfix::flow {

TimeBase time_base_from_samples(std::span<const ClockSample> samples) {
    if (samples.empty()) throw std::invalid_argument("time base: no clock samples");
    const ClockSample* best = nullptr;
    std::uint64_t best_gap = 0;
    for (const ClockSample& sample : samples) {
        if (sample.realtime_after_ns < sample.realtime_before_ns) continue;  // wall clock stepped back
        const std::uint64_t gap = sample.realtime_after_ns - sample.realtime_before_ns;
        if (best == nullptr || gap < best_gap) {
            best = &sample;
            best_gap = gap;
        }
    }
    if (best == nullptr) {
        throw std::invalid_argument("time base: CLOCK_REALTIME went backwards within every clock sample");
    }
    // The monotonic read happened somewhere inside [before, after]; the midpoint is off by
    // at most half the gap.
    const std::uint64_t wall_ns = best->realtime_before_ns + best_gap / 2;
    __extension__ using int128 = __int128;
    const int128 offset = static_cast<int128>(wall_ns) - static_cast<int128>(best->monotonic_ns);
    if (offset > std::numeric_limits<std::int64_t>::max() || offset < std::numeric_limits<std::int64_t>::min()) {
        throw std::invalid_argument("time base: CLOCK_REALTIME - CLOCK_MONOTONIC does not fit in 64 bits");
    }
    return TimeBase{static_cast<std::int64_t>(offset)};
}

namespace {

std::uint64_t read_clock_ns(clockid_t clock, const char* name) {
    timespec ts{};
    if (::clock_gettime(clock, &ts) != 0) throw std::system_error(errno, std::generic_category(), name);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

TimeBase time_base_now() {
    // A preemption or interrupt between the reads would skew a single pair by its
    // duration. Bracketing the monotonic read between two realtime reads measures that
    // disturbance, and the tightest of a few tries bounds the error (typically < 1 us).
    constexpr std::size_t tries = 7;
    std::array<ClockSample, tries> samples{};
    for (ClockSample& sample : samples) {
        sample.realtime_before_ns = read_clock_ns(CLOCK_REALTIME, "clock_gettime(CLOCK_REALTIME)");
        sample.monotonic_ns = read_clock_ns(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)");
        sample.realtime_after_ns = read_clock_ns(CLOCK_REALTIME, "clock_gettime(CLOCK_REALTIME)");
    }
    return time_base_from_samples(samples);
}

}  // namespace ebpfix::flow
