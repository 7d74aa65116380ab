// Replays every saved fuzz input of the pcap, config, command-line and control targets (the seed
// corpora and each finding kept in regressions/) through the checks the fuzz targets
// run (input_checks.hpp), so that the normal build keeps them fixed without clang.
#define BOOST_TEST_MODULE fuzz_regression
#include <boost/test/unit_test.hpp>

#include <functional>
#include <span>
#include <string>

#include "fuzz/control_check.hpp"
#include "fuzz/input_checks.hpp"
#include "fuzz/saved_inputs.hpp"

using ebpfix::fuzz::saved_inputs;

namespace {

void replay(const std::string& target, const std::function<void(std::span<const std::uint8_t>)>& check) {
    const auto inputs = saved_inputs(EBPFIX_FUZZ_DIR, target);
    BOOST_TEST_REQUIRE(!inputs.empty());
    for (const auto& input : inputs) {
        BOOST_TEST_CONTEXT(input.path) {
            BOOST_CHECK_NO_THROW(check(input.bytes));
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(pcap_reader_inputs) { replay("pcap_reader_fuzz", ebpfix::fuzz::check_pcap_input); }

BOOST_AUTO_TEST_CASE(config_inputs) { replay("config_fuzz", ebpfix::fuzz::check_config_input); }

BOOST_AUTO_TEST_CASE(command_line_inputs) { replay("command_line_fuzz", ebpfix::fuzz::check_command_line_input); }

BOOST_AUTO_TEST_CASE(control_request_inputs) { replay("control_request_fuzz", ebpfix::fuzz::check_control_input); }
