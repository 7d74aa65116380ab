// ebpfix configuration: what the TOML file and the command line can set. Plain data;
// config.cpp parses and validates it (toml++), naming file:line:column on errors.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/host_port.hpp"
#include "ipfix/flow_encoder.hpp"

namespace ebpfix::config {

enum class OutputFormat : std::uint8_t { none, text, json };
enum class AttachModeSetting : std::uint8_t { automatic, tcx, clsact };
// tc: TC hooks on devices (ingress and egress); xdp: XDP on ingress (plus TC egress
// unless xdp_only); cgroup: cgroup_skb hooks on a cgroup's sockets, no devices.
enum class CaptureMode : std::uint8_t { tc, xdp, cgroup };
enum class XdpMode : std::uint8_t { automatic, native, generic };
// random: each packet with probability 1/N; hash: the flows whose hash falls in 1/N.
enum class SampleAlgorithm : std::uint8_t { random, hash };

// An exclude entry: traffic from or to this prefix is not counted.
struct Cidr {
    std::uint8_t family = 4;                // 4 or 6
    std::array<std::uint8_t, 16> addr{};    // IPv4 in the first 4 bytes; host bits zeroed
    std::uint8_t prefix_len = 0;
    std::string text;                       // as written, for messages and diff()
};

// How a collector's messages travel: UDP datagrams, or an IPFIX stream over TCP
// (RFC 7011 section 10.4).
enum class Transport : std::uint8_t { udp, tcp };

struct CollectorConfig {
    std::string host;     // IPv4/IPv6 literal or name, resolved at start / reload
    std::uint16_t port = 0;
    // IPFIX / NetFlow v9: protocol, observation domain, refresh, message size, biflow.
    // Unused (left at its defaults) for a NetFlow v5 collector.
    ipfix::EncoderOptions encoder;
    // protocol = "netflow5": a NetFlow v5 collector (encoder.protocol does not apply).
    bool netflow5 = false;
    std::uint8_t engine_type = 0;  // NetFlow v5 header fields
    std::uint8_t engine_id = 0;
    Transport transport = Transport::udp;  // tcp: IPFIX only
    // TCP: the least time between two connection attempts; RFC 7011 10.4.4's once per
    // minute by default.
    std::uint32_t reconnect_min_interval_s = 60;
    // "ipfix", "netflow9" or "netflow5": the protocol key's words.
    std::string_view protocol_name() const noexcept {
        return netflow5 ? "netflow5" : encoder.protocol == ipfix::Protocol::netflow9 ? "netflow9" : "ipfix";
    }
    // "HOST:PORT", with an IPv6 literal in brackets ("[::1]:4739").
    std::string source() const {
        return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }
};

// A [[kafka]] table: one Kafka output (sinks/kafka_sink.hpp, docs/kafka.md).
enum class KafkaFormat : std::uint8_t { protobuf, json };
enum class KafkaKey : std::uint8_t { none, exporter, src_ip, flow };
struct KafkaConfig {
    std::string brokers;       // bootstrap.servers, as written
    std::string topic;
    KafkaFormat format = KafkaFormat::protobuf;
    KafkaKey key = KafkaKey::none;
    std::string compression = "none";        // none | gzip | snappy | lz4 | zstd
    std::uint32_t max_queued_messages = 100000;
    std::uint64_t flush_timeout_ms = 5000;
    std::string exporter_id;                 // "" = the host name
    std::map<std::string, std::string> properties;  // [kafka.properties], passed to librdkafka
};

struct Config {
    // Also reachable as Config::CaptureMode, Config::Cidr, ...
    using CaptureMode = config::CaptureMode;
    using XdpMode = config::XdpMode;
    using SampleAlgorithm = config::SampleAlgorithm;
    using Cidr = config::Cidr;

    std::vector<std::string> interfaces;
    AttachModeSetting attach_mode = AttachModeSetting::automatic;

    // Capture: what the kernel program hooks.
    CaptureMode capture = CaptureMode::tc;
    XdpMode xdp_mode = XdpMode::automatic;    // capture xdp only
    bool xdp_only = false;                    // capture xdp only: ingress on XDP, no TC egress hook
    std::string cgroup_path = "/sys/fs/cgroup";  // capture cgroup: the cgroup v2 directory hooked
    std::uint32_t map_entries = 65536;         // kernel map size per family and generation

    // Flow state (seconds in the file, kept in ms here).
    std::uint64_t drain_interval_ms = 1000;
    std::uint64_t idle_timeout_ms = 15000;
    std::uint64_t active_timeout_ms = 60000;
    std::uint64_t tcp_fin_linger_ms = 2000;
    // Every export_interval_ms, every flow with packets since its last record is exported
    // (flowcap's periodic snapshots); 0 = off. Default (apply_dependent_defaults): 10 s
    // when no collector is configured (at least the drain interval), else 0.
    std::uint64_t export_interval_ms = 0;
    std::uint32_t max_flows = 262144;

    std::vector<CollectorConfig> collectors;
    std::vector<KafkaConfig> kafka;           // [[kafka]] outputs

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
    bool verbose = false;                     // --verbose / -D: libbpf and verifier output, debug logs

    // Sampling and filters.
    std::uint32_t sample_interval = 1;        // 1 in N packets (1 = every packet); 1..2^31
    SampleAlgorithm sample_algorithm = SampleAlgorithm::random;
    std::vector<Cidr> exclude;                // at most 4096 per family (the kernel LPM maps)

    // Attribution: which process / user / cgroup a flow belongs to. Default
    // (apply_dependent_defaults): on in cgroup mode, off otherwise.
    bool attribution = false;
    std::uint32_t ipfix_enterprise = 0;       // PEN of the enterprise IEs for pid / cgroup id; 0 = off
    std::string per_user_log;                 // a flow log per user in this directory; "" = off
    bool metrics_per_user = false;
    bool metrics_per_cgroup = false;
    std::uint32_t metrics_label_limit = 1000; // series per user / cgroup before folding into "other"

    // Live views.
    std::string control_socket = "/run/ebpfix/control.sock";  // "" = off
    std::string control_group = "ebpfix";     // group owner of the socket (mode 0660)
    std::uint64_t run_timeout_ms = 0;         // --timeout: stop after this long; 0 = at a signal
    std::optional<bool> summary;              // summary table at exit; unset = the daemon decides (on for a timed run)
    bool json = false;                        // --json: also the summary as JSON
    std::string dot_file;                     // Graphviz graph of the flows; "" = off

    std::string source_file;                  // the TOML file this came from ("" = none)

    // Where each setting came from, by key path ("flow.idle_timeout", "collector[1].address"):
    // "FILE:LINE:COLUMN" for the file, "command line (--idle-timeout)" for an option.
    // validate() names these places in its errors. Settings left at their default have none.
    std::map<std::string, std::string> origins;
    // The command line (without argv[0]) this was resolved with; reload_config() re-applies it.
    std::vector<std::string> command_line;
};

inline constexpr const char* default_config_path = "/etc/ebpfix/ebpfix.toml";

// A configuration error. what() is "FILE:LINE:COLUMN: message" where the place is known.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Bad command-line usage. The daemon prints what() plus "try --help" and exits 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// ---- the TOML file ---------------------------------------------------------------------

// Parses and validates one TOML document. source_name is the file name used in errors.
// Throws ConfigError ("NAME:LINE:COLUMN: what is wrong (key path)").
Config parse_config_text(std::string_view toml_text, std::string_view source_name);
// Reads and parses a file (ConfigError when it cannot be read, naming the path and errno).
Config load_config_file(const std::string& path);

// Checks every value and the rules between values (drain interval < idle timeout,
// no duplicate collectors, ...). Errors name the setting's origin. Throws ConfigError.
void validate(const Config& config);

// ---- the command line ------------------------------------------------------------------

struct CommandLine {
    std::string config_file = default_config_path;
    bool config_file_given = false;   // -c / --config, or the FILE of --check-config FILE
    bool check_config = false;        // --check-config: validate, print nothing else, exit 0 / 2
    bool show_version = false;
    bool show_help = false;

    // Overrides; unset = take the file's value (or the default).
    std::vector<std::string> interfaces;              // -i IFACE and positional IFACE
    std::vector<CollectorConfig> collectors;          // --ipfix / --netflow9 / --netflow5 / -n, in order
    std::vector<std::string> collector_options;       // the option text of each collector, for errors
    std::optional<OutputFormat> log_format;           // --log
    std::optional<std::string> log_file;              // --log-file
    std::optional<std::string> stats_file;            // --stats-file
    std::optional<OutputFormat> stats_format;         // --stats-format
    std::optional<std::uint64_t> drain_interval_ms;   // --drain-interval S
    std::optional<std::uint64_t> active_timeout_ms;   // --active-timeout S
    std::optional<std::uint64_t> idle_timeout_ms;     // --idle-timeout S
    std::optional<std::uint64_t> tcp_fin_linger_ms;   // -t tcp.fin=S / -t tcp.rst=S (softflowd)
    std::optional<std::uint64_t> export_interval_ms;  // --interval S
    std::optional<std::uint32_t> max_flows;           // --max-flows N
    std::optional<std::uint32_t> max_export_per_cycle;  // --max-export-per-cycle N
    std::optional<std::string> metrics_listen;        // --metrics-addr HOST:PORT
    std::optional<std::string> pcap_file;             // --pcap FILE
    bool verbose = false;                             // --verbose, -D
    std::optional<AttachModeSetting> attach_mode;     // --attach
    std::optional<CaptureMode> capture;               // --xdp, --cgroup (and what --xdp-mode / --xdp-only imply)
    std::optional<XdpMode> xdp_mode;                  // --xdp-mode
    bool xdp_only = false;                            // --xdp-only
    std::optional<std::string> cgroup_path;           // --cgroup PATH
    std::optional<std::uint32_t> sample_interval;     // --sample N
    std::optional<SampleAlgorithm> sample_algorithm;  // --sample-algorithm
    std::vector<Cidr> exclude;                        // --exclude CIDR, in order
    std::vector<std::string> exclude_options;         // the option text of each, for errors
    bool attribution = false;                         // --attribution
    std::optional<std::string> per_user_log;          // --per-user-log DIR
    std::optional<std::string> control_socket;        // --control PATH
    std::optional<std::uint64_t> run_timeout_ms;      // --timeout DURATION
    std::optional<bool> summary;                      // --summary / --no-summary
    bool json = false;                                // --json (unless a later --log)
    std::optional<std::string> dot_file;              // --dot FILE

    // How each override was written, by key path ("flow.idle_timeout" -> "-t general"),
    // so that errors name the spelling the user typed.
    std::map<std::string, std::string> spellings;

    std::vector<std::string> arguments;               // argv[1..], kept for reload_config()
};

// Parses argv (argv[0] is the program name). "--flag=value" and "--flag value" both work;
// "--" ends the options. Throws UsageError.
CommandLine parse_command_line(int argc, const char* const* argv);

// The file (if any: -c FILE, else the default path when it exists) + the command line +
// defaults, validated. With no collector and no log format set anywhere, the text log
// goes to stdout (none for a timed run: the summary is the output). Throws ConfigError
// or UsageError.
Config resolve(const CommandLine& command_line);

// SIGHUP: reads current.source_file again and re-applies current.command_line.
Config reload_config(const Config& current);

// Text of --help (matches docs/ebpfix.8) and of --version.
std::string help_text();
std::string version_text();

// One line per setting that differs ("flow.idle_timeout: 15 s -> 30 s"), for the SIGHUP log.
std::vector<std::string> diff(const Config& before, const Config& after);

// ---- what start needs from the machine ----------------------------------------------

struct Problem {
    enum class Severity : std::uint8_t { error, warning };
    Severity severity = Severity::error;
    std::string message;  // "PLACE: what is wrong (key path)", PLACE as in ConfigError
};

// How check_environment looks names up: "" when host:port resolves for the socket type,
// else why not. Tests pass their own so that no query leaves the machine.
using Resolver = std::function<std::string(const std::string& host, std::uint16_t port, bool stream)>;
// getaddrinfo (UDP for collectors, TCP for the metrics listener).
std::string resolve_with_getaddrinfo(const std::string& host, std::uint16_t port, bool stream);

// What validate() cannot know from the text: privileges.user exists (getpwnam), every
// collector host and metrics.listen resolve (errors), each interface exists now (a
// warning: the daemon attaches when it appears; not checked for --pcap runs), the
// cgroup is a cgroup v2 directory (capture cgroup; error), log.per_user is a directory
// (error), control_group exists when the control socket is on (a warning). In the
// order of the settings; empty = nothing found. --check-config and start both call it.
std::vector<Problem> check_environment(const Config& config);
// Where this machine mounts the cgroup v2 hierarchy (/proc/self/mounts): "/sys/fs/cgroup"
// on a unified system, "/sys/fs/cgroup/unified" on a hybrid one; "" when none.
std::string cgroup2_root();
std::vector<Problem> check_environment(const Config& config, const Resolver& resolve);

// ---- helpers shared with the daemon --------------------------------------------------

// The one HOST:PORT parser (common/host_port.hpp).
using ebpfix::HostPort;
using ebpfix::parse_host_port;

std::string_view to_string(OutputFormat format) noexcept;
std::string_view to_string(AttachModeSetting mode) noexcept;
std::string_view to_string(CaptureMode mode) noexcept;     // tc | xdp | cgroup
std::string_view to_string(XdpMode mode) noexcept;         // auto | native | generic
std::string_view to_string(SampleAlgorithm algorithm) noexcept;  // random | hash
std::string_view to_string(Transport transport) noexcept;  // udp | tcp
std::string_view to_string(KafkaFormat format) noexcept;   // protobuf | json
std::string_view to_string(KafkaKey key) noexcept;         // none | exporter | src_ip | flow

}  // namespace ebpfix::config
