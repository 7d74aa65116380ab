// ebpfix configuration: what the TOML file and the command line can set. Plain data;
// config.cpp parses and validates it (toml++), naming file:line:column on errors.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ipfix/flow_encoder.hpp"

namespace ebpfix::config {

enum class OutputFormat : std::uint8_t { none, text, json };
enum class AttachModeSetting : std::uint8_t { automatic, tcx, clsact };

struct CollectorConfig {
    std::string host;     // IPv4/IPv6 literal or name, resolved at start / reload
    std::uint16_t port = 0;
    ipfix::EncoderOptions encoder;  // protocol, observation domain, refresh, message size
    std::string source() const { return host + ":" + std::to_string(port); }
};

struct Config {
    std::vector<std::string> interfaces;
    AttachModeSetting attach_mode = AttachModeSetting::automatic;
    std::uint32_t map_entries = 65536;         // kernel map size per family and generation

    // Flow state (seconds in the file, kept in ms here).
    std::uint64_t drain_interval_ms = 1000;
    std::uint64_t idle_timeout_ms = 15000;
    std::uint64_t active_timeout_ms = 60000;
    std::uint64_t tcp_fin_linger_ms = 2000;
    std::uint32_t max_flows = 262144;

    std::vector<CollectorConfig> collectors;

    // Flow log: "-" = stdout. Default when no collector is configured: text to stdout.
    OutputFormat log_format = OutputFormat::none;
    std::string log_file = "-";
    std::uint32_t max_export_per_cycle = 0;   // 0 = no limit; more lines are deferred, never dropped

    // Per-drain-cycle stats line.
    std::string stats_file;                   // empty = off
    OutputFormat stats_format = OutputFormat::text;

    std::string metrics_listen;               // "127.0.0.1:9090"; empty = off
    std::string user;                         // drop to this user after attaching; empty = stay
    std::string pcap_file;                    // --pcap: read this capture instead of interfaces
    std::uint32_t sampling_interval = 0;      // reserved: 0 = every packet

    std::string source_file;                  // the TOML file this came from ("" = none)
};

// A configuration error. what() is "FILE:LINE:COLUMN: message" where the place is known.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace ebpfix::config
