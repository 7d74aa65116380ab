// The limits of every setting and the checks shared by the TOML reader, the command-line
// parser and validate(). Each check throws std::invalid_argument with a message that says
// what is wrong but not where: the caller knows the place and prefixes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/host_port.hpp"
#include "config/config.hpp"

namespace ebpfix::config::detail {

// A duration given in seconds (integer or float), kept in milliseconds.
struct SecondsRule {
    std::string_view key;       // key path, e.g. "flow.idle_timeout"
    double max_seconds;
    bool zero_allowed;
};
// The drain interval is bounded by the idle timeout anyway; an hour is far beyond any use.
inline constexpr SecondsRule drain_interval_rule{"flow.drain_interval", 3600, false};
inline constexpr SecondsRule idle_timeout_rule{"flow.idle_timeout", 604800, false};
inline constexpr SecondsRule active_timeout_rule{"flow.active_timeout", 604800, false};
// 0 = a FIN/RST flow ends at the next drain.
inline constexpr SecondsRule tcp_fin_linger_rule{"flow.tcp_fin_linger", 3600, true};
// 0 = no periodic snapshots; the upper bound matches the drain interval's.
inline constexpr SecondsRule export_interval_rule{"flow.export_interval", 3600, true};
// --timeout: a timed run of up to 30 days.
inline constexpr SecondsRule run_timeout_rule{"timeout", 2592000, false};

struct IntegerRule {
    std::string_view key;
    std::int64_t min;
    std::int64_t max;
};
// Caps keep a typo from asking for gigabytes of flow state or kernel map memory.
inline constexpr IntegerRule max_flows_rule{"flow.max_flows", 1, 67108864};
inline constexpr IntegerRule map_entries_rule{"flow.map_entries", 1, 16777216};
inline constexpr IntegerRule observation_domain_rule{"observation_domain", 1, 4294967295};
inline constexpr IntegerRule template_refresh_rule{"template_refresh", 1, 86400};
inline constexpr IntegerRule template_refresh_messages_rule{"template_refresh_messages", 0, 4294967295};
// 256 holds any template set we send; 65507 is the largest IPv4 UDP payload.
inline constexpr IntegerRule max_message_size_rule{"max_message_size", 256, 65507};
inline constexpr IntegerRule max_export_per_cycle_rule{"log.max_export_per_cycle", 0, 4294967295};
// 1 = every packet; 2^31 is the largest interval the kernel's 32-bit threshold can express.
inline constexpr IntegerRule sample_interval_rule{"sampling.interval", 1, 2147483648};
inline constexpr IntegerRule ipfix_enterprise_rule{"attribution.ipfix_enterprise", 0, 4294967295};
inline constexpr IntegerRule label_limit_rule{"metrics.label_limit", 1, 100000};
// NetFlow v5 header bytes.
inline constexpr IntegerRule engine_type_rule{"engine_type", 0, 255};
inline constexpr IntegerRule engine_id_rule{"engine_id", 0, 255};
// The sampling interval a NetFlow v5 header can hold (14 bits).
inline constexpr std::uint32_t netflow5_max_sample_interval = 0x3fff;
// TCP collectors: 0 = retry at the backoff alone; an hour is far beyond any use.
inline constexpr IntegerRule reconnect_min_interval_rule{"reconnect_min_interval", 0, 3600};
// librdkafka's queue.buffering.max.messages takes 1..INT_MAX.
inline constexpr IntegerRule kafka_max_queued_rule{"max_queued_messages", 1, 2147483647};
// The final flush at stop: 0 = do not wait.
inline constexpr SecondsRule kafka_flush_timeout_rule{"flush_timeout", 3600, true};

// Entries per family in filter.exclude: the size of each kernel LPM trie.
inline constexpr std::size_t max_exclude_per_family = 4096;

// Seconds → ms (rounded to the nearest ms). Rejects NaN, infinity, <= 0 (or < 0 when
// zero is allowed), values above the rule's maximum and positive values below 1 ms.
std::uint64_t seconds_to_ms(double seconds, const SecondsRule& rule);
// The same limits for a value already in ms.
void check_ms(std::uint64_t ms, const SecondsRule& rule);
void check_integer(std::int64_t value, const IntegerRule& rule);

// 'text' in quotes, control bytes as \xNN (common/host_port.hpp).
using ebpfix::quoted;

// "15 s", "1.5 s", "0.25 s".
std::string format_ms(std::uint64_t ms);

OutputFormat parse_log_format(std::string_view text);     // text | json | none
OutputFormat parse_stats_format(std::string_view text);   // text | json
AttachModeSetting parse_attach_mode(std::string_view text);  // auto | tcx | clsact
ipfix::Protocol parse_protocol(std::string_view text);    // ipfix | netflow9 (netflow5: the caller's)
Transport parse_transport(std::string_view text);         // udp | tcp
KafkaFormat parse_kafka_format(std::string_view text);    // protobuf | json
KafkaKey parse_kafka_key(std::string_view text);          // none | exporter | src_ip | flow
std::string parse_kafka_compression(std::string_view text);  // none | gzip | snappy | lz4 | zstd
void check_kafka_brokers(std::string_view brokers);       // not empty, no NUL
void check_kafka_topic(std::string_view topic);           // Kafka's topic name rules
// A librdkafka producer property: its name is known and the value fits (librdkafka's own
// check, without creating a producer). Throws std::invalid_argument with librdkafka's words.
void check_kafka_property(const std::string& name, const std::string& value);
CaptureMode parse_capture_mode(std::string_view text);    // tc | xdp | cgroup
XdpMode parse_xdp_mode(std::string_view text);            // auto | native | generic
SampleAlgorithm parse_sample_algorithm(std::string_view text);  // random | hash

// An exclude entry: "ADDR/LEN" (IPv4 /0-32, IPv6 /0-128), a bare address (/32, /128) or
// IPv4 with trailing '*' octets ("192.168.1.*" = /24, "10.*" = /8). Host bits are
// zeroed (set ones are accepted, as softflowd does); text keeps what was written.
Cidr parse_cidr(std::string_view text);
// The family, prefix length and zero host bits of an entry built by hand.
void check_cidr(const Cidr& cidr);
std::string_view to_string(ipfix::Protocol protocol) noexcept;

// Device names and hosts follow common/host_port.hpp, which the metrics listener shares.
using ebpfix::check_host;
using ebpfix::check_interface_name;
// A user name or numeric uid: [A-Za-z0-9._-], not starting with '-', at most 32 bytes.
void check_user_name(std::string_view name);
// A group name or numeric gid, by the same rules.
void check_group_name(std::string_view name);
// A file name: not empty, no NUL.
void check_file_name(std::string_view name);
// A directory name: not empty, no NUL.
void check_directory_name(std::string_view name);
// The cgroup directory: an absolute path, no NUL.
void check_cgroup_path(std::string_view path);
// The control socket: an absolute path that fits sockaddr_un (107 bytes), no NUL.
void check_socket_path(std::string_view path);

// "FILE:LINE:COLUMN" or "command line (--x)" for a setting (config.origins). A setting
// left at its default is placed at its collector's address or at the interface list
// when those are known, else at the file name (or "configuration").
std::string place_of(const Config& config, const std::string& key_path);

}  // namespace ebpfix::config::detail
