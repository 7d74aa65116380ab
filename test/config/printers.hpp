// Lets Boost.Test print the configuration enums in failure messages.
#pragma once

#include <ostream>

#include "config/config.hpp"

namespace ebpfix::config {
inline std::ostream& operator<<(std::ostream& os, AttachModeSetting mode) { return os << to_string(mode); }
inline std::ostream& operator<<(std::ostream& os, OutputFormat format) { return os << to_string(format); }
inline std::ostream& operator<<(std::ostream& os, CaptureMode mode) { return os << to_string(mode); }
inline std::ostream& operator<<(std::ostream& os, XdpMode mode) { return os << to_string(mode); }
inline std::ostream& operator<<(std::ostream& os, SampleAlgorithm algorithm) { return os << to_string(algorithm); }
inline std::ostream& operator<<(std::ostream& os, Transport transport) { return os << to_string(transport); }
inline std::ostream& operator<<(std::ostream& os, KafkaFormat format) { return os << to_string(format); }
inline std::ostream& operator<<(std::ostream& os, KafkaKey key) { return os << to_string(key); }
}  // namespace ebpfix::config

namespace ebpfix::ipfix {
inline std::ostream& operator<<(std::ostream& os, Protocol protocol) {
    return os << (protocol == Protocol::netflow9 ? "netflow9" : "ipfix");
}
}  // namespace ebpfix::ipfix
