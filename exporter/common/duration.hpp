// The one duration parser of the command lines (--timeout, top --refresh): seconds
// ("10", "0.5") or a Go duration, a sequence of decimal NUMBER UNIT members with units
// ns, us (µs), ms, s, m, h ("500ms", "1m30s", "1.5h").
#pragma once

#include <optional>
#include <string_view>

namespace ebpfix {

// The duration in seconds; nullopt when text is neither form. Range checks are the caller's.
std::optional<double> parse_duration_seconds(std::string_view text) noexcept;

}  // namespace ebpfix
