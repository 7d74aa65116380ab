// Replays every saved kernel fuzz input (the frames of test/bpf/kernel_cases_test.cpp
// and each finding kept in regressions/kernel_fuzz) through the kernel check: the
// kernel program and the reference parser must agree on each (kernel_check.hpp).
#define BOOST_TEST_MODULE fuzz_kernel_regression
#include <boost/test/unit_test.hpp>

#include "fuzz/input_checks.hpp"
#include "fuzz/kernel_check.hpp"
#include "fuzz/saved_inputs.hpp"
#include "support/root_guard.hpp"

namespace {

struct RootFixture {
    RootFixture() { ebpfix::test::require_root("fuzz_kernel_regression (loads BPF)"); }
};
BOOST_TEST_GLOBAL_FIXTURE(RootFixture);

}  // namespace

BOOST_AUTO_TEST_CASE(kernel_and_reference_agree_on_every_saved_frame) {
    ebpfix::fuzz::KernelChecker checker;
    const auto inputs = ebpfix::fuzz::saved_inputs(EBPFIX_FUZZ_DIR, "kernel_fuzz");
    BOOST_TEST_REQUIRE(!inputs.empty());
    for (const auto& input : inputs) {
        BOOST_TEST_CONTEXT(input.path) {
            BOOST_CHECK_NO_THROW(checker.check(input.bytes));
        }
    }
    // Every saved frame ran: none is under 14 bytes or refused by test_run.
    BOOST_TEST(checker.stats().checked == inputs.size());
}
