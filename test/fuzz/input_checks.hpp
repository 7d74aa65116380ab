// The checks behind the fuzz targets, one call per input. The libFuzzer targets
// (*_fuzz.cpp, clang) and the regression test (regression_test.cpp, the normal build)
// run the very same code: a saved finding replays exactly.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>

namespace ebpfix::fuzz {

// A broken invariant; what() says which, with the values seen. Any exception other than
// the ones a check expects escapes as well, and is a finding too.
class InvariantBroken : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

// The bytes as a capture file through pcap::PcapReader until the end or a PcapError:
// each PcapError names the path first, counts().packets equals the packets returned,
// and every packet is consistent with its record (number, lengths, link layer).
void check_pcap_input(std::span<const std::uint8_t> input);

// The bytes as TOML through config::parse_config_text(text, "fuzz.toml"): a ConfigError
// starts with "fuzz.toml:"; a parsed config passes validate() again and diff(c, c) is empty.
void check_config_input(std::span<const std::uint8_t> input);

// The bytes split at NUL into arguments after "ebpfix", through
// config::parse_command_line: nothing but UsageError escapes, and a parsed command line
// keeps exactly its arguments (for reload_config()).
void check_command_line_input(std::span<const std::uint8_t> input);

}  // namespace ebpfix::fuzz
