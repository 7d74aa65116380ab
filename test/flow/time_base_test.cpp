// Kernel-monotonic to wall-clock conversion: exact arithmetic, saturation, the choice of
// the best clock sample, and one check of time_base_now() against the real clocks.
#define BOOST_TEST_MODULE time_base
#include <boost/test/unit_test.hpp>

#include <time.h>

#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "flow/flow_table.hpp"

using namespace ebpfix::flow;

namespace {
constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();

std::uint64_t now_ns(clockid_t clock) {
    timespec ts{};
    BOOST_REQUIRE(::clock_gettime(clock, &ts) == 0);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}
}  // namespace

BOOST_AUTO_TEST_CASE(positive_offset) {
    const TimeBase base{1'700'000'000'123'456'789};
    BOOST_TEST(base.to_wall_ns(0) == 1'700'000'000'123'456'789u);
    BOOST_TEST(base.to_wall_ns(5'000'000'000) == 1'700'000'005'123'456'789u);
    BOOST_TEST(base.to_wall_ms(0) == 1'700'000'000'123u);          // truncated, not rounded
    BOOST_TEST(base.to_wall_ms(876'543'211) == 1'700'000'001'000u);  // ...789 + ...211 = exact ms
    BOOST_TEST(base.to_wall_ms(876'543'210) == 1'700'000'000'999u);
}

BOOST_AUTO_TEST_CASE(negative_offset_clamps_at_the_epoch) {
    const TimeBase base{-2'000'000'000};
    BOOST_TEST(base.to_wall_ns(3'500'000'000) == 1'500'000'000u);
    BOOST_TEST(base.to_wall_ns(2'000'000'000) == 0u);
    BOOST_TEST(base.to_wall_ns(1'999'999'999) == 0u);
    BOOST_TEST(base.to_wall_ms(3'500'000'000) == 1'500u);
}

BOOST_AUTO_TEST_CASE(extreme_offsets_saturate) {
    BOOST_TEST(TimeBase{int64_max}.to_wall_ns(max - 5) == max);
    BOOST_TEST(TimeBase{int64_max}.to_wall_ns(0) == static_cast<std::uint64_t>(int64_max));
    BOOST_TEST(TimeBase{int64_min}.to_wall_ns(max) == max - (std::uint64_t{1} << 63));
    BOOST_TEST(TimeBase{int64_min}.to_wall_ns(std::uint64_t{1} << 63) == 0u);
    BOOST_TEST(TimeBase{0}.to_wall_ns(max) == max);
    BOOST_TEST(TimeBase{0}.to_wall_ms(max) == max / 1'000'000);
}

BOOST_AUTO_TEST_CASE(the_tightest_sample_wins_and_its_midpoint_is_used) {
    const std::vector<ClockSample> samples{
        {1'000'000'000'000'000'000, 5'000, 1'000'000'000'000'090'000},  // 90 us window (preempted)
        {1'000'000'000'000'100'000, 105'000, 1'000'000'000'000'100'400},  // 400 ns window
        {1'000'000'000'000'200'000, 200'000, 1'000'000'000'000'201'000},  // 1 us window
    };
    const TimeBase base = time_base_from_samples(samples);
    // Midpoint 1e18 + 100'200, monotonic 105'000.
    BOOST_TEST(base.offset_ns == 1'000'000'000'000'100'200 - 105'000);
}

BOOST_AUTO_TEST_CASE(samples_where_realtime_went_backwards_are_ignored) {
    const std::vector<ClockSample> samples{
        {2'000'000'000'000'000'000, 50, 1'999'999'999'000'000'000},  // stepped back: "gap" would wrap
        {2'000'000'000'000'000'000, 70, 2'000'000'000'000'001'000},
    };
    BOOST_TEST(time_base_from_samples(samples).offset_ns == 2'000'000'000'000'000'500 - 70);
}

BOOST_AUTO_TEST_CASE(unusable_samples_are_an_error) {
    BOOST_CHECK_THROW(time_base_from_samples({}), std::invalid_argument);
    const std::vector<ClockSample> backwards{{100, 1, 99}, {500, 2, 10}};
    BOOST_CHECK_THROW(time_base_from_samples(backwards), std::invalid_argument);
    // realtime 0, monotonic beyond int64: the offset is below INT64_MIN.
    const std::vector<ClockSample> out_of_range{{0, max, 0}};
    BOOST_CHECK_THROW(time_base_from_samples(out_of_range), std::invalid_argument);
    // The smallest offset that still fits.
    const std::vector<ClockSample> at_limit{{0, std::uint64_t{1} << 63, 0}};
    BOOST_TEST(time_base_from_samples(at_limit).offset_ns == int64_min);
}

BOOST_AUTO_TEST_CASE(time_base_now_matches_the_system_clocks) {
    // Bracket time_base_now() by our own reads: the true offset of each bracket lies
    // within [realtime_before - monotonic_after, realtime_after - monotonic_before].
    const std::uint64_t mono_before = now_ns(CLOCK_MONOTONIC);
    const std::uint64_t real_before = now_ns(CLOCK_REALTIME);
    const TimeBase base = time_base_now();
    const std::uint64_t real_after = now_ns(CLOCK_REALTIME);
    const std::uint64_t mono_after = now_ns(CLOCK_MONOTONIC);
    const auto low = static_cast<std::int64_t>(real_before) - static_cast<std::int64_t>(mono_after);
    const auto high = static_cast<std::int64_t>(real_after) - static_cast<std::int64_t>(mono_before);
    BOOST_TEST(base.offset_ns >= low);
    BOOST_TEST(base.offset_ns <= high);
    // A monotonic stamp taken now converts to about "now" on the wall clock.
    const std::uint64_t wall = base.to_wall_ns(now_ns(CLOCK_MONOTONIC));
    const std::uint64_t real = now_ns(CLOCK_REALTIME);
    // |real - wall| < 50 ms, even on a loaded 2-core VM (wall may lead by the half-window).
    BOOST_TEST(wall < real + 50'000'000u);
    BOOST_TEST(real < wall + 50'000'000u);
}
