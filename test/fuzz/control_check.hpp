// The check behind control_request_fuzz: bytes as what a client of the control socket
// sends, through the protocol's parser (daemon/control_protocol.hpp).
#pragma once

#include <cstdint>
#include <span>

#include "fuzz/input_checks.hpp"

namespace ebpfix::fuzz {

// The bytes up to the first "\n" as a request line (what ControlServer hands the parser),
// and all of them as a response a client reads: parse_request never throws; a request it
// accepts is printable ASCII within max_request_bytes and its canonical spelling parses
// to the same request; a refusal is one printable line; an error response built from the
// bytes is one line and reads back as an error; parse_response never throws.
void check_control_input(std::span<const std::uint8_t> input);

}  // namespace ebpfix::fuzz
