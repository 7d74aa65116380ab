// The TOML file: every key of etc/ebpfix.toml, defaults, and the exact "FILE:LINE:COLUMN:
// message (key path)" of each class of error.
#define BOOST_TEST_MODULE config_file
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "printers.hpp"

using namespace ebpfix::config;
using ebpfix::ipfix::Protocol;

namespace {

// The what() of the ConfigError that parsing `text` (named "t.toml") throws; "" if none.
std::string error_of(const std::string& text) {
    try {
        parse_config_text(text, "t.toml");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

std::string validate_error(const Config& config) {
    try {
        validate(config);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

// A collector so that a snippet does not also trip the "flows go nowhere" rule.
const std::string collector = "[[collector]]\naddress = \"127.0.0.1:4739\"\n";

// The 16 address bytes of a Cidr, the rest zero.
std::array<std::uint8_t, 16> bytes(std::initializer_list<int> leading) {
    std::array<std::uint8_t, 16> out{};
    std::size_t i = 0;
    for (int b : leading) out[i++] = std::uint8_t(b);
    return out;
}

// The error of one exclude entry, which sits at t.toml:2:12.
std::string exclude_error(const std::string& entry) {
    return error_of("[filter]\nexclude = [\"" + entry + "\"]\n");
}

// A private directory, removed at the end of the test.
class TempDir {
public:
    TempDir() {
        char name[] = "/tmp/ebpfix-config-test-XXXXXX";
        if (::mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = name;
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A mounted cgroup v2 hierarchy from /proc/self/mounts, if there is one.
std::optional<std::string> cgroup2_mount() {
    std::ifstream mounts("/proc/self/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string device, dir, type;
        if (fields >> device >> dir >> type && type == "cgroup2") return dir;
    }
    return std::nullopt;
}

}  // namespace

BOOST_AUTO_TEST_CASE(example_file_parses_to_every_documented_value) {
    const Config c = load_config_file(EBPFIX_EXAMPLE_CONFIG);
    BOOST_TEST(c.source_file == EBPFIX_EXAMPLE_CONFIG);
    BOOST_TEST(c.interfaces == std::vector<std::string>{"eth0"});
    BOOST_TEST(c.attach_mode == AttachModeSetting::automatic);
    BOOST_TEST(c.drain_interval_ms == 1000u);
    BOOST_TEST(c.idle_timeout_ms == 15000u);
    BOOST_TEST(c.active_timeout_ms == 60000u);
    BOOST_TEST(c.tcp_fin_linger_ms == 2000u);
    BOOST_TEST(c.max_flows == 262144u);
    BOOST_TEST(c.map_entries == 65536u);
    // Commented out in the example: the default, off because collectors are configured.
    BOOST_TEST(c.export_interval_ms == 0u);
    BOOST_TEST(c.origins.count("flow.export_interval") == 0u);
    BOOST_TEST(!c.verbose);

    BOOST_TEST_REQUIRE(c.collectors.size() == 2u);
    const CollectorConfig& a = c.collectors[0];
    BOOST_TEST(a.host == "192.0.2.10");
    BOOST_TEST(a.port == 4739);
    BOOST_TEST(a.source() == "192.0.2.10:4739");
    BOOST_TEST(a.encoder.protocol == Protocol::ipfix);
    BOOST_TEST(a.encoder.observation_domain == 1u);
    BOOST_TEST(a.encoder.template_refresh_seconds == 60u);
    BOOST_TEST(a.encoder.template_refresh_messages == 20u);
    BOOST_TEST(a.encoder.max_message_size == 1472u);
    const CollectorConfig& b = c.collectors[1];
    BOOST_TEST(b.host == "2001:db8::10");
    BOOST_TEST(b.port == 2055);
    BOOST_TEST(b.source() == "[2001:db8::10]:2055");
    BOOST_TEST(b.encoder.protocol == Protocol::netflow9);
    BOOST_TEST(b.encoder.observation_domain == 2u);
    BOOST_TEST(b.encoder.template_refresh_seconds == 30u);
    BOOST_TEST(b.encoder.template_refresh_messages == 0u);
    BOOST_TEST(b.encoder.max_message_size == 1452u);

    BOOST_TEST(c.log_format == OutputFormat::json);
    BOOST_TEST(c.log_file == "/var/log/ebpfix/flows.log");
    BOOST_TEST(c.max_export_per_cycle == 0u);
    BOOST_TEST(c.stats_file == "/var/log/ebpfix/stats.log");
    BOOST_TEST(c.stats_format == OutputFormat::json);
    BOOST_TEST(c.metrics_listen == "127.0.0.1:9090");
    BOOST_TEST(c.user == "");  // commented out in the example: the systemd unit sets User=
    BOOST_TEST(c.pcap_file == "");

    // Capture, sampling, filters, attribution and views: the defaults, spelled out or
    // commented out where a value would not work on every machine.
    BOOST_TEST(c.capture == CaptureMode::tc);
    BOOST_TEST(c.origins.count("capture") == 1u);
    BOOST_TEST(c.xdp_mode == XdpMode::automatic);
    BOOST_TEST(c.origins.count("xdp_mode") == 0u);  // an error without capture = "xdp"
    BOOST_TEST(!c.xdp_only);
    BOOST_TEST(c.origins.count("xdp_only") == 0u);
    // The default cgroup is the machine's cgroup v2 root (unified or hybrid layout).
    BOOST_TEST(c.cgroup_path == (cgroup2_root().empty() ? "/sys/fs/cgroup" : cgroup2_root()));
    BOOST_TEST(c.control_socket == "/run/ebpfix/control.sock");
    BOOST_TEST(c.control_group == "ebpfix");
    BOOST_TEST(c.sample_interval == 1u);
    BOOST_TEST(c.sample_algorithm == SampleAlgorithm::random);
    BOOST_TEST(c.origins.count("sampling.algorithm") == 1u);
    BOOST_TEST(c.exclude.empty());
    BOOST_TEST(c.origins.count("filter.exclude") == 1u);
    BOOST_TEST(!c.attribution);  // commented out: the default follows the capture mode
    BOOST_TEST(c.origins.count("attribution.enabled") == 0u);
    BOOST_TEST(c.ipfix_enterprise == 0u);
    BOOST_TEST(c.per_user_log == "");
    BOOST_TEST(!c.metrics_per_user);
    BOOST_TEST(!c.metrics_per_cgroup);
    BOOST_TEST(c.metrics_label_limit == 1000u);
    BOOST_TEST(c.origins.count("metrics.label_limit") == 1u);
    BOOST_TEST(c.dot_file == "");
    BOOST_TEST(c.run_timeout_ms == 0u);
    BOOST_TEST(!c.summary.has_value());
    BOOST_TEST(!c.json);
}

BOOST_AUTO_TEST_CASE(empty_file_gives_defaults_and_the_text_log) {
    const Config c = parse_config_text("", "empty.toml");
    BOOST_TEST(c.source_file == "empty.toml");
    BOOST_TEST(c.interfaces.empty());
    BOOST_TEST(c.attach_mode == AttachModeSetting::automatic);
    BOOST_TEST(c.drain_interval_ms == 1000u);
    BOOST_TEST(c.idle_timeout_ms == 15000u);
    BOOST_TEST(c.active_timeout_ms == 60000u);
    BOOST_TEST(c.tcp_fin_linger_ms == 2000u);
    BOOST_TEST(c.max_flows == 262144u);
    BOOST_TEST(c.map_entries == 65536u);
    BOOST_TEST(c.collectors.empty());
    // No collector: flowcap's 10 s snapshots for the log.
    BOOST_TEST(c.export_interval_ms == 10000u);
    BOOST_TEST(!c.verbose);
    // No collector and no format: the text log on stdout.
    BOOST_TEST(c.log_format == OutputFormat::text);
    BOOST_TEST(c.log_file == "-");
    BOOST_TEST(c.stats_file == "");
    BOOST_TEST(c.stats_format == OutputFormat::text);
    BOOST_TEST(c.metrics_listen == "");
    BOOST_TEST(c.user == "");
    BOOST_TEST(c.capture == CaptureMode::tc);
    BOOST_TEST(c.xdp_mode == XdpMode::automatic);
    BOOST_TEST(!c.xdp_only);
    // The default cgroup is the machine's cgroup v2 root (unified or hybrid layout).
    BOOST_TEST(c.cgroup_path == (cgroup2_root().empty() ? "/sys/fs/cgroup" : cgroup2_root()));
    BOOST_TEST(c.sample_interval == 1u);
    BOOST_TEST(c.sample_algorithm == SampleAlgorithm::random);
    BOOST_TEST(c.exclude.empty());
    BOOST_TEST(!c.attribution);
    BOOST_TEST(c.ipfix_enterprise == 0u);
    BOOST_TEST(c.per_user_log == "");
    BOOST_TEST(!c.metrics_per_user);
    BOOST_TEST(!c.metrics_per_cgroup);
    BOOST_TEST(c.metrics_label_limit == 1000u);
    BOOST_TEST(c.control_socket == "/run/ebpfix/control.sock");
    BOOST_TEST(c.control_group == "ebpfix");
    BOOST_TEST(c.run_timeout_ms == 0u);
    BOOST_TEST(!c.summary.has_value());
    BOOST_TEST(!c.json);
    BOOST_TEST(c.dot_file == "");
    BOOST_TEST(c.origins.empty());
}

BOOST_AUTO_TEST_CASE(log_default_depends_on_collectors_and_log_file) {
    BOOST_TEST(parse_config_text(collector, "t.toml").log_format == OutputFormat::none);
    BOOST_TEST(parse_config_text(collector + "[log]\nfile = \"/tmp/x\"\n", "t.toml").log_format == OutputFormat::text);
    BOOST_TEST(parse_config_text(collector + "[log]\nformat = \"text\"\n", "t.toml").log_format == OutputFormat::text);
    BOOST_TEST(parse_config_text("[log]\nformat = \"json\"\n", "t.toml").log_format == OutputFormat::json);
}

BOOST_AUTO_TEST_CASE(values_and_their_origins) {
    const Config c = parse_config_text(
        "interfaces = [\"eth0\", \"wg0\"]\n"
        "attach = \"clsact\"\n"
        "[flow]\n"
        "drain_interval = 0.25\n"
        "idle_timeout = 1.5\n"
        "active_timeout = 3600\n"
        "tcp_fin_linger = 0\n"
        "max_flows = 1\n"
        "map_entries = 16777216\n"
        "[[collector]]\n"
        "address = \"collector.example:2055\"\n"
        "protocol = \"netflow9\"\n"
        "observation_domain = 4294967295\n"
        "max_message_size = 65507\n"
        "[[collector]]\n"
        "address = \"[fe80::1%eth0]:4739\"\n"
        "max_message_size = 256\n"
        "[log]\n"
        "max_export_per_cycle = 4294967295\n"
        "[stats]\n"
        "file = \"\"\n"
        "format = \"text\"\n"
        "[metrics]\n"
        "listen = \"[::1]:9100\"\n"
        "[privileges]\n"
        "user = \"nobody\"\n",
        "v.toml");
    BOOST_TEST(c.interfaces == (std::vector<std::string>{"eth0", "wg0"}));
    BOOST_TEST(c.attach_mode == AttachModeSetting::clsact);
    BOOST_TEST(c.drain_interval_ms == 250u);
    BOOST_TEST(c.idle_timeout_ms == 1500u);
    BOOST_TEST(c.active_timeout_ms == 3600000u);
    BOOST_TEST(c.tcp_fin_linger_ms == 0u);
    BOOST_TEST(c.max_flows == 1u);
    BOOST_TEST(c.map_entries == 16777216u);
    BOOST_TEST_REQUIRE(c.collectors.size() == 2u);
    BOOST_TEST(c.collectors[0].host == "collector.example");
    BOOST_TEST(c.collectors[0].port == 2055);
    BOOST_TEST(c.collectors[0].encoder.protocol == Protocol::netflow9);
    BOOST_TEST(c.collectors[0].encoder.observation_domain == 4294967295u);
    BOOST_TEST(c.collectors[0].encoder.max_message_size == 65507u);
    BOOST_TEST(c.collectors[1].host == "fe80::1%eth0");
    BOOST_TEST(c.collectors[1].port == 4739);
    BOOST_TEST(c.collectors[1].encoder.protocol == Protocol::ipfix);
    BOOST_TEST(c.collectors[1].encoder.max_message_size == 256u);
    BOOST_TEST(c.log_format == OutputFormat::none);
    BOOST_TEST(c.max_export_per_cycle == 4294967295u);
    BOOST_TEST(c.stats_file == "");
    BOOST_TEST(c.metrics_listen == "[::1]:9100");
    BOOST_TEST(c.user == "nobody");

    // Origins point at the values.
    BOOST_TEST(c.origins.at("interfaces") == "v.toml:1:14");
    BOOST_TEST(c.origins.at("interfaces[1]") == "v.toml:1:23");
    BOOST_TEST(c.origins.at("flow.idle_timeout") == "v.toml:5:16");
    BOOST_TEST(c.origins.at("collector[1].address") == "v.toml:16:11");
    BOOST_TEST(c.origins.at("privileges.user") == "v.toml:26:8");
    BOOST_TEST(c.origins.count("flow.map_entries") == 1u);
    BOOST_TEST(c.origins.count("collector[1].protocol") == 0u);  // left at its default
}

BOOST_AUTO_TEST_CASE(seconds_round_to_milliseconds) {
    BOOST_TEST(parse_config_text("[flow]\nidle_timeout = 2.0004\n", "t.toml").idle_timeout_ms == 2000u);
    BOOST_TEST(parse_config_text("[flow]\nidle_timeout = 2.0006\n", "t.toml").idle_timeout_ms == 2001u);
    BOOST_TEST(parse_config_text("[flow]\ndrain_interval = 0.001\n", "t.toml").drain_interval_ms == 1u);
    BOOST_TEST(parse_config_text("[flow]\nactive_timeout = 604800\n", "t.toml").active_timeout_ms == 604800000u);
}

BOOST_AUTO_TEST_CASE(toml_syntax_errors_carry_the_parser_position) {
    BOOST_TEST(error_of("a = \n") == "t.toml:1:5: Error while parsing key-value pair: expected value, saw '\\n'");
    BOOST_TEST(error_of("[flow]\nidle_timeout = 1\nidle_timeout = 2\n") ==
               "t.toml:3:16: Error while parsing key-value pair: cannot redefine existing integer 'idle_timeout'");
    BOOST_TEST(error_of("[flow\n") == "t.toml:1:6: Error while parsing table header: expected ']', saw '\\n'");
    // toml++ places it at the string's opening quote.
    BOOST_TEST(error_of("attach = \"\xff\"\n") == "t.toml:1:10: Encountered invalid utf-8 sequence");
}

BOOST_AUTO_TEST_CASE(unknown_keys_at_every_level) {
    BOOST_TEST(error_of("interface = [\"eth0\"]\n") ==
               "t.toml:1:1: unknown key 'interface'; expected one of: interfaces, attach, capture, xdp_mode, "
               "xdp_only, cgroup, control, control_group, flow, sampling, filter, collector, kafka, log, stats, metrics, "
               "attribution, graph, privileges (interface)");
    BOOST_TEST(error_of("[flow]\nidle_timeout = 5\n  idle = 5\n") ==
               "t.toml:3:3: unknown key 'idle'; expected one of: drain_interval, idle_timeout, active_timeout, "
               "export_interval, tcp_fin_linger, max_flows, map_entries (flow.idle)");
    BOOST_TEST(error_of(collector + "[[collector]]\naddress = \"127.0.0.1:2055\"\nport = 2055\n") ==
               "t.toml:5:1: unknown key 'port'; expected one of: protocol, address, transport, observation_domain, "
               "template_refresh, template_refresh_messages, max_message_size, biflow, engine_type, engine_id, "
               "reconnect_min_interval (collector[1].port)");
    BOOST_TEST(error_of("[log]\nformat = \"text\"\nfiles = \"-\"\n") ==
               "t.toml:3:1: unknown key 'files'; expected one of: format, file, max_export_per_cycle, per_user (log.files)");
    BOOST_TEST(error_of("[stats]\nevery = 1\n") ==
               "t.toml:2:1: unknown key 'every'; expected one of: file, format (stats.every)");
    BOOST_TEST(error_of("[metrics]\naddress = \"127.0.0.1:9090\"\n") ==
               "t.toml:2:1: unknown key 'address'; expected one of: listen, per_user, per_cgroup, label_limit "
               "(metrics.address)");
    BOOST_TEST(error_of("[privileges]\ngroup = \"x\"\n") ==
               "t.toml:2:1: unknown key 'group'; expected one of: user (privileges.group)");
    // Control characters in a quoted key are shown escaped: the message stays one line.
    BOOST_TEST(error_of("\"a\\nb\" = 1\n") ==
               "t.toml:1:1: unknown key 'a\\x0ab'; expected one of: interfaces, attach, capture, xdp_mode, "
               "xdp_only, cgroup, control, control_group, flow, sampling, filter, collector, kafka, log, stats, metrics, "
               "attribution, graph, privileges (a\\x0ab)");
    // A sub-table nobody reads is an unknown key too.
    BOOST_TEST(error_of("[flow.v6]\nidle_timeout = 5\n") ==
               "t.toml:1:7: unknown key 'v6'; expected one of: drain_interval, idle_timeout, active_timeout, "
               "export_interval, tcp_fin_linger, max_flows, map_entries (flow.v6)");
}

BOOST_AUTO_TEST_CASE(wrong_types) {
    BOOST_TEST(error_of("interfaces = \"eth0\"\n") ==
               "t.toml:1:14: expected an array of interface names, got a string (interfaces)");
    BOOST_TEST(error_of("interfaces = [\"eth0\", 3]\n") == "t.toml:1:23: expected a string, got an integer (interfaces[1])");
    BOOST_TEST(error_of("attach = true\n") == "t.toml:1:10: expected a string, got a boolean (attach)");
    BOOST_TEST(error_of("flow = 3\n") == "t.toml:1:8: expected a table, got an integer (flow)");
    BOOST_TEST(error_of("[flow]\nidle_timeout = \"15\"\n") ==
               "t.toml:2:16: expected a number of seconds, got a string (flow.idle_timeout)");
    BOOST_TEST(error_of("[flow]\nmax_flows = 1.5\n") == "t.toml:2:13: expected an integer, got a float (flow.max_flows)");
    BOOST_TEST(error_of("[flow]\nactive_timeout = 1979-05-27\n") ==
               "t.toml:2:18: expected a number of seconds, got a date (flow.active_timeout)");
    BOOST_TEST(error_of("[collector]\naddress = \"127.0.0.1:4739\"\n") ==
               "t.toml:1:1: expected an array of tables (write each collector as [[collector]]), got a table "
               "(collector)");
    BOOST_TEST(error_of("[[collector]]\naddress = 4739\n") ==
               "t.toml:2:11: expected a string, got an integer (collector[0].address)");
    BOOST_TEST(error_of("[log]\nmax_export_per_cycle = \"all\"\n") ==
               "t.toml:2:24: expected an integer, got a string (log.max_export_per_cycle)");
}

BOOST_AUTO_TEST_CASE(out_of_range_values) {
    BOOST_TEST(error_of("[flow]\nidle_timeout = 0\n") ==
               "t.toml:2:16: must be greater than 0 seconds, got 0 (flow.idle_timeout)");
    BOOST_TEST(error_of("[flow]\nactive_timeout = -60\n") ==
               "t.toml:2:18: must be greater than 0 seconds, got -60 (flow.active_timeout)");
    BOOST_TEST(error_of("[flow]\nactive_timeout = 604801\n") ==
               "t.toml:2:18: must be at most 604800 seconds, got 604801 (flow.active_timeout)");
    BOOST_TEST(error_of("[flow]\nidle_timeout = nan\n") ==
               "t.toml:2:16: must be a finite number of seconds, got nan (flow.idle_timeout)");
    BOOST_TEST(error_of("[flow]\nidle_timeout = inf\n") ==
               "t.toml:2:16: must be a finite number of seconds, got inf (flow.idle_timeout)");
    BOOST_TEST(error_of("[flow]\ndrain_interval = 0.0004\n") ==
               "t.toml:2:18: must be at least 0.001 seconds (1 ms), got 0.0004 (flow.drain_interval)");
    BOOST_TEST(error_of("[flow]\ntcp_fin_linger = -1\n") ==
               "t.toml:2:18: must be 0 or more seconds, got -1 (flow.tcp_fin_linger)");
    BOOST_TEST(error_of("[flow]\nmax_flows = 0\n") == "t.toml:2:13: must be between 1 and 67108864, got 0 (flow.max_flows)");
    BOOST_TEST(error_of("[flow]\nmap_entries = 16777217\n") ==
               "t.toml:2:15: must be between 1 and 16777216, got 16777217 (flow.map_entries)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\nobservation_domain = 0\n") ==
               "t.toml:3:22: must be between 1 and 4294967295, got 0 (collector[0].observation_domain)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\nobservation_domain = 4294967296\n") ==
               "t.toml:3:22: must be between 1 and 4294967295, got 4294967296 (collector[0].observation_domain)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\nmax_message_size = 255\n") ==
               "t.toml:3:20: must be between 256 and 65507, got 255 (collector[0].max_message_size)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\nmax_message_size = 65508\n") ==
               "t.toml:3:20: must be between 256 and 65507, got 65508 (collector[0].max_message_size)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\ntemplate_refresh = 0\n") ==
               "t.toml:3:20: must be between 1 and 86400, got 0 (collector[0].template_refresh)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\ntemplate_refresh_messages = -1\n") ==
               "t.toml:3:29: must be between 0 and 4294967295, got -1 (collector[0].template_refresh_messages)");
    BOOST_TEST(error_of("[log]\nmax_export_per_cycle = -1\n") ==
               "t.toml:2:24: must be between 0 and 4294967295, got -1 (log.max_export_per_cycle)");
}

BOOST_AUTO_TEST_CASE(drain_interval_must_be_shorter_than_idle_timeout) {
    BOOST_TEST(error_of("[flow]\nidle_timeout = 15\ndrain_interval = 15\n") ==
               "t.toml:3:18: drain_interval (15 s) must be shorter than idle_timeout (15 s, set at t.toml:2:16) "
               "(flow.drain_interval)");
    // Only the idle timeout set: the error points at it.
    BOOST_TEST(error_of("[flow]\nidle_timeout = 0.5\n") ==
               "t.toml:2:16: drain_interval (1 s) must be shorter than idle_timeout (0.5 s) (flow.idle_timeout)");
    // active < idle is allowed.
    BOOST_TEST(parse_config_text("[flow]\nactive_timeout = 5\nidle_timeout = 10\n", "t.toml").active_timeout_ms == 5000u);
}

BOOST_AUTO_TEST_CASE(export_interval_values_defaults_and_rules) {
    // Seconds, 0 = off, with its place; the default depends on the collectors.
    const Config set = parse_config_text(collector + "[flow]\nexport_interval = 2.5\n", "t.toml");
    BOOST_TEST(set.export_interval_ms == 2500u);
    BOOST_TEST(set.origins.at("flow.export_interval") == "t.toml:4:19");
    BOOST_TEST(parse_config_text("[flow]\nexport_interval = 0\n", "t.toml").export_interval_ms == 0u);
    BOOST_TEST(parse_config_text("[flow]\nexport_interval = 3600\n", "t.toml").export_interval_ms == 3600000u);
    BOOST_TEST(parse_config_text(collector, "t.toml").export_interval_ms == 0u);
    BOOST_TEST(parse_config_text("", "t.toml").export_interval_ms == 10000u);
    // Without a collector the default is at least one drain interval.
    BOOST_TEST(parse_config_text("[flow]\ndrain_interval = 20\nidle_timeout = 60\n", "t.toml").export_interval_ms ==
               20000u);

    BOOST_TEST(error_of("[flow]\nexport_interval = 3601\n") ==
               "t.toml:2:19: must be at most 3600 seconds, got 3601 (flow.export_interval)");
    BOOST_TEST(error_of("[flow]\nexport_interval = -1\n") ==
               "t.toml:2:19: must be 0 or more seconds, got -1 (flow.export_interval)");
    BOOST_TEST(error_of("[flow]\nexport_interval = \"10s\"\n") ==
               "t.toml:2:19: expected a number of seconds, got a string (flow.export_interval)");
    // Shorter than a drain: both places are named.
    BOOST_TEST(error_of("[flow]\ndrain_interval = 2\nexport_interval = 1\n") ==
               "t.toml:3:19: export_interval (1 s) must be 0 (off) or at least drain_interval (2 s, set at "
               "t.toml:2:18) (flow.export_interval)");
    BOOST_TEST(error_of("[flow]\nexport_interval = 0.5\n") ==
               "t.toml:2:19: export_interval (0.5 s) must be 0 (off) or at least drain_interval (1 s) "
               "(flow.export_interval)");
    // Equal is fine.
    BOOST_TEST(parse_config_text("[flow]\ndrain_interval = 2\nexport_interval = 2\n", "t.toml").export_interval_ms ==
               2000u);

    // validate() on a configuration built by hand places it at the drain interval when
    // only that is known, and checks the limit.
    Config c;
    c.log_format = OutputFormat::text;
    c.export_interval_ms = 500;
    c.origins["flow.drain_interval"] = "x.toml:7:18";
    BOOST_TEST(validate_error(c) == "x.toml:7:18: export_interval (0.5 s) must be 0 (off) or at least drain_interval "
                                    "(1 s) (flow.drain_interval)");
    c.export_interval_ms = 3600001;
    c.origins["flow.export_interval"] = "command line (--interval)";
    BOOST_TEST(validate_error(c) ==
               "command line (--interval): must be at most 3600 seconds, got 3600.001 s (flow.export_interval)");
}

BOOST_AUTO_TEST_CASE(bad_names_and_choices) {
    BOOST_TEST(error_of("attach = \"x\\u0001\"\n") ==
               "t.toml:1:10: unknown attach mode 'x\\x01'; expected auto, tcx or clsact (attach)");
    BOOST_TEST(error_of("attach = \"xdp\"\n") == "t.toml:1:10: unknown attach mode 'xdp'; expected auto, tcx or clsact (attach)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\nprotocol = \"sflow\"\n") ==
               "t.toml:3:12: unknown protocol 'sflow'; expected ipfix, netflow9 or netflow5 (collector[0].protocol)");
    BOOST_TEST(error_of("[log]\nformat = \"csv\"\n") ==
               "t.toml:2:10: unknown format 'csv'; expected text, json or none (log.format)");
    BOOST_TEST(error_of("[stats]\nformat = \"none\"\n") ==
               "t.toml:2:10: unknown format 'none'; expected text or json (stats.format)");
    BOOST_TEST(error_of("[log]\nformat = \"none\"\n") ==
               "t.toml:2:10: no collector and no flow log: flows would go nowhere; add a [[collector]] or a log "
               "format (log.format)");
    BOOST_TEST(error_of("[log]\nfile = \"\"\n") == "t.toml:2:8: file name is empty (log.file)");
    BOOST_TEST(error_of("interfaces = [\"eth0\", \"a-very-long-name0\"]\n") ==
               "t.toml:1:23: interface name 'a-very-long-name0' is longer than 15 bytes (interfaces[1])");
    BOOST_TEST(error_of("interfaces = [\"eth0\", \"eth 1\"]\n") ==
               "t.toml:1:23: interface name 'eth 1' may not contain '/', ':', spaces or control characters "
               "(interfaces[1])");
    BOOST_TEST(error_of("interfaces = [\"\"]\n") == "t.toml:1:15: interface name is empty (interfaces[0])");
    BOOST_TEST(error_of("interfaces = [\"eth0\", \"eth1\", \"eth0\"]\n") ==
               "t.toml:1:31: interface 'eth0' is listed twice (interfaces[2])");
    BOOST_TEST(error_of("[privileges]\nuser = \"-root\"\n") == "t.toml:2:8: user name '-root' starts with '-' (privileges.user)");
    BOOST_TEST(error_of("[privileges]\nuser = \"ebp fix\"\n") ==
               "t.toml:2:8: user name 'ebp fix' contains an invalid character (privileges.user)");
    BOOST_TEST(error_of("[metrics]\nlisten = \"9090\"\n") ==
               "t.toml:2:10: '9090': missing port; expected HOST:PORT (metrics.listen)");
}

BOOST_AUTO_TEST_CASE(collector_addresses) {
    auto with_address = [](const std::string& address) {
        return error_of("[[collector]]\naddress = \"" + address + "\"\n");
    };
    BOOST_TEST(with_address("192.0.2.1") == "t.toml:2:11: '192.0.2.1': missing port; expected HOST:PORT (collector[0].address)");
    BOOST_TEST(with_address("::1:4739") ==
               "t.toml:2:11: '::1:4739': an IPv6 address needs brackets, e.g. [2001:db8::1]:4739 (collector[0].address)");
    BOOST_TEST(with_address(":4739") == "t.toml:2:11: ':4739': host is empty (collector[0].address)");
    BOOST_TEST(with_address("127.0.0.1:") == "t.toml:2:11: '127.0.0.1:': port is empty (collector[0].address)");
    BOOST_TEST(with_address("127.0.0.1:0") ==
               "t.toml:2:11: '127.0.0.1:0': port must be a number from 1 to 65535 (collector[0].address)");
    BOOST_TEST(with_address("127.0.0.1:65536") ==
               "t.toml:2:11: '127.0.0.1:65536': port must be a number from 1 to 65535 (collector[0].address)");
    BOOST_TEST(with_address("127.0.0.1:47x9") ==
               "t.toml:2:11: '127.0.0.1:47x9': port must be a number from 1 to 65535 (collector[0].address)");
    BOOST_TEST(with_address("[::1]") == "t.toml:2:11: '[::1]': missing ':PORT' after ']' (collector[0].address)");
    BOOST_TEST(with_address("[::1:4739") == "t.toml:2:11: '[::1:4739': missing ']' after the IPv6 address (collector[0].address)");
    BOOST_TEST(with_address("[::g]:4739") ==
               "t.toml:2:11: '[::g]:4739': '::g' is not a valid IPv6 address (collector[0].address)");
    BOOST_TEST(with_address("256.1.1.1:4739") ==
               "t.toml:2:11: '256.1.1.1:4739': '256.1.1.1' is not a valid IPv4 address (collector[0].address)");
    BOOST_TEST(with_address("bad_host!:4739") ==
               "t.toml:2:11: 'bad_host!:4739': host name 'bad_host!' contains an invalid character (collector[0].address)");
    BOOST_TEST(with_address("a..b:4739") ==
               "t.toml:2:11: 'a..b:4739': host name 'a..b' has an empty or too long label (collector[0].address)");
    BOOST_TEST(error_of("[[collector]]\nprotocol = \"ipfix\"\n") ==
               "t.toml:1:1: collector without an address; add address = \"HOST:PORT\" (collector[0].address)");
}

BOOST_AUTO_TEST_CASE(duplicate_collectors_name_both_places) {
    BOOST_TEST(error_of("[[collector]]\naddress = \"Collector.Example:4739\"\n"
                        "[[collector]]\nprotocol = \"netflow9\"\naddress = \"collector.example:4739\"\n") ==
               "t.toml:5:11: collector collector.example:4739 is configured twice (first at t.toml:2:11) "
               "(collector[1].address)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"[::1]:4739\"\n[[collector]]\naddress = \"[::1]:4739\"\n") ==
               "t.toml:4:11: collector [::1]:4739 is configured twice (first at t.toml:2:11) (collector[1].address)");
    // Same host, other port: two collectors.
    BOOST_TEST(parse_config_text("[[collector]]\naddress = \"[::1]:4739\"\n[[collector]]\naddress = \"[::1]:2055\"\n",
                                 "t.toml")
                   .collectors.size() == 2u);
}

BOOST_AUTO_TEST_CASE(files_that_cannot_be_read) {
    char dir_template[] = "/tmp/ebpfix-config-test-XXXXXX";
    BOOST_TEST_REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    try {
        BOOST_CHECK_EXCEPTION(load_config_file(dir + "/missing.toml"), ConfigError, [&](const ConfigError& e) {
            return std::string(e.what()) == dir + "/missing.toml: cannot open: No such file or directory";
        });
        BOOST_CHECK_EXCEPTION(load_config_file(dir), ConfigError, [&](const ConfigError& e) {
            return std::string(e.what()) == dir + ": is a directory, not a configuration file";
        });
        BOOST_CHECK_EXCEPTION(load_config_file("/dev/zero"), ConfigError, [&](const ConfigError& e) {
            return std::string(e.what()) == "/dev/zero: larger than 1048576 bytes; not a configuration file";
        });
        const std::string path = dir + "/bad.toml";
        std::ofstream(path) << "[flow]\nidle_timeout = 15\n\ndrain_interval = 30\n";
        BOOST_CHECK_EXCEPTION(load_config_file(path), ConfigError, [&](const ConfigError& e) {
            return std::string(e.what()) == path + ":4:18: drain_interval (30 s) must be shorter than idle_timeout "
                                                   "(15 s, set at " + path + ":2:16) (flow.drain_interval)";
        });
    } catch (...) {
        std::filesystem::remove_all(dir);
        throw;
    }
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(validate_names_the_origin_or_the_default) {
    Config c;  // no collector and log none: nowhere to send flows
    BOOST_TEST(validate_error(c) ==
               "configuration: no collector and no flow log: flows would go nowhere; add a [[collector]] or a log "
               "format (log.format)");
    c.log_format = OutputFormat::text;
    BOOST_TEST(validate_error(c) == "");
    c.max_flows = 0;
    c.origins["flow.max_flows"] = "command line (--max-flows)";
    BOOST_TEST(validate_error(c) == "command line (--max-flows): must be between 1 and 67108864, got 0 (flow.max_flows)");
    c.max_flows = 10;
    c.collectors.resize(1);
    c.collectors[0].host = "127.0.0.1";
    c.collectors[0].port = 0;
    c.source_file = "x.toml";
    BOOST_TEST(validate_error(c) == "x.toml: port must be a number from 1 to 65535 (collector[0].address)");
    c.collectors[0].port = 9;
    c.collectors[0].encoder.max_message_size = 100000;
    BOOST_TEST(validate_error(c) == "x.toml: must be between 256 and 65507, got 100000 (collector[0].max_message_size)");
    c.collectors[0].encoder.max_message_size = 1472;
    c.stats_format = OutputFormat::none;
    BOOST_TEST(validate_error(c) == "x.toml: stats format must be text or json (stats.format)");
    c.stats_format = OutputFormat::json;
    c.tcp_fin_linger_ms = 3600001;
    BOOST_TEST(validate_error(c) == "x.toml: must be at most 3600 seconds, got 3600.001 s (flow.tcp_fin_linger)");
}

BOOST_AUTO_TEST_CASE(host_port_parsing) {
    HostPort a = parse_host_port("127.0.0.1:2055");
    BOOST_TEST(a.host == "127.0.0.1");
    BOOST_TEST(a.port == 2055);
    HostPort b = parse_host_port("[::1]:4739");
    BOOST_TEST(b.host == "::1");
    BOOST_TEST(b.port == 4739);
    HostPort c = parse_host_port("collector.example.:65535");
    BOOST_TEST(c.host == "collector.example.");
    BOOST_TEST(c.port == 65535);
    BOOST_CHECK_THROW(parse_host_port(""), std::invalid_argument);
    BOOST_CHECK_THROW(parse_host_port("[127.0.0.1]:80"), std::invalid_argument);
    BOOST_CHECK_THROW(parse_host_port("[::1]x80"), std::invalid_argument);
    BOOST_CHECK_THROW(parse_host_port("-bad:80"), std::invalid_argument);
    BOOST_CHECK_THROW(parse_host_port("h:123456"), std::invalid_argument);
    BOOST_CHECK_THROW(parse_host_port("h:+80"), std::invalid_argument);
    BOOST_CHECK_THROW(parse_host_port("[fe80::1%]:80"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(diff_lists_each_change) {
    Config before = parse_config_text("interfaces = [\"eth0\"]\n" + collector, "a.toml");
    Config after = before;
    BOOST_TEST(diff(before, after).empty());
    after.interfaces = {"eth0", "eth1"};
    after.idle_timeout_ms = 30000;
    after.collectors[0].encoder.observation_domain = 7;
    after.log_format = OutputFormat::json;
    after.metrics_listen = "127.0.0.1:9090";
    after.export_interval_ms = 5000;
    after.verbose = true;
    const std::vector<std::string> expected = {
        "interfaces: eth0 -> eth0, eth1",
        "flow.idle_timeout: 15 s -> 30 s",
        "flow.export_interval: (off) -> 5 s",
        "collector removed: ipfix 127.0.0.1:4739 (observation_domain 1, template_refresh 60 s / 20 messages, "
        "max_message_size 1472)",
        "collector added: ipfix 127.0.0.1:4739 (observation_domain 7, template_refresh 60 s / 20 messages, "
        "max_message_size 1472)",
        "log.format: none -> json",
        "metrics.listen: (off) -> 127.0.0.1:9090",
        "verbose: off -> on",
    };
    BOOST_TEST(diff(before, after) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(check_environment_finds_what_start_would_miss) {
    // A good configuration: nothing to report. Numeric hosts resolve without a query.
    // control_group names a group every machine has (the default "ebpfix" may be missing).
    const Config good = parse_config_text("interfaces = [\"lo\"]\ncontrol_group = \"root\"\n"
                                          "[[collector]]\naddress = \"127.0.0.1:4739\"\n"
                                          "[[collector]]\naddress = \"[::1]:2055\"\n"
                                          "[metrics]\nlisten = \"127.0.0.1:9090\"\n"
                                          "[privileges]\nuser = \"root\"\n",
                                          "g.toml");
    BOOST_TEST(check_environment(good).empty());
    BOOST_TEST(resolve_with_getaddrinfo("127.0.0.1", 4739, false) == "");
    BOOST_TEST(resolve_with_getaddrinfo("::1", 9090, true) == "");

    // Names go through a stand-in for the resolver: a real lookup of
    // no-such-host.invalid would query the machine's DNS server, and tests send nothing
    // beyond loopback. Everything else is looked up for real.
    std::vector<std::string> asked;
    const Resolver resolver = [&](const std::string& host, std::uint16_t port, bool stream) -> std::string {
        asked.push_back(host + ":" + std::to_string(port) + (stream ? "/tcp" : "/udp"));
        if (host == "no-such-host.invalid") return "Name or service not known";
        return resolve_with_getaddrinfo(host, port, stream);
    };
    const Config bad = parse_config_text("interfaces = [\"lo\", \"ebpfix-nodev0\"]\ncontrol = \"\"\n"
                                         "[[collector]]\naddress = \"no-such-host.invalid:2055\"\n"
                                         "[[collector]]\naddress = \"127.0.0.1:4739\"\n"
                                         "[metrics]\nlisten = \"no-such-host.invalid:9090\"\n"
                                         "[privileges]\nuser = \"ebpfix-no-such-user\"\n",
                                         "b.toml");
    const std::vector<Problem> problems = check_environment(bad, resolver);
    BOOST_TEST_REQUIRE(problems.size() == 4u);
    BOOST_TEST((problems[0].severity == Problem::Severity::warning));
    BOOST_TEST(problems[0].message == "b.toml:1:21: interface 'ebpfix-nodev0' is not present now; ebpfix attaches to "
                                      "it when it appears (interfaces[1])");
    BOOST_TEST((problems[1].severity == Problem::Severity::error));
    BOOST_TEST(problems[1].message == "b.toml:4:11: collector no-such-host.invalid:2055: cannot resolve "
                                      "'no-such-host.invalid': Name or service not known (collector[0].address)");
    BOOST_TEST((problems[2].severity == Problem::Severity::error));
    BOOST_TEST(problems[2].message == "b.toml:8:10: metrics address 'no-such-host.invalid:9090': cannot resolve "
                                      "'no-such-host.invalid': Name or service not known (metrics.listen)");
    BOOST_TEST((problems[3].severity == Problem::Severity::error));
    BOOST_TEST(problems[3].message == "b.toml:10:8: user 'ebpfix-no-such-user': no such user (privileges.user)");
    // Collectors are looked up for UDP, the listener for TCP.
    BOOST_TEST(asked == (std::vector<std::string>{"no-such-host.invalid:2055/udp", "127.0.0.1:4739/udp",
                                                  "no-such-host.invalid:9090/tcp"}),
               boost::test_tools::per_element());

    // A capture run uses no interface: no warning about one.
    Config capture = bad;
    capture.pcap_file = "/tmp/in.pcap";
    const std::vector<Problem> capture_problems = check_environment(capture, resolver);
    BOOST_TEST_REQUIRE(capture_problems.size() == 3u);
    for (const Problem& p : capture_problems) BOOST_TEST((p.severity == Problem::Severity::error), p.message);

    // Interfaces named on the command line are placed there.
    Config cli = good;
    cli.interfaces = {"ebpfix-nodev1"};
    cli.origins.clear();
    cli.origins["interfaces"] = "command line (IFACE)";
    const std::vector<Problem> cli_problems = check_environment(cli);
    BOOST_TEST_REQUIRE(cli_problems.size() == 1u);
    BOOST_TEST(cli_problems[0].message == "command line (IFACE): interface 'ebpfix-nodev1' is not present now; ebpfix "
                                          "attaches to it when it appears (interfaces[0])");
}

BOOST_AUTO_TEST_CASE(capture_sampling_filter_attribution_views_values_and_origins) {
    const Config c = parse_config_text("capture = \"xdp\"\n"
                                       "xdp_mode = \"native\"\n"
                                       "xdp_only = true\n"
                                       "cgroup = \"/sys/fs/cgroup/system.slice\"\n"
                                       "control = \"/run/x/ctl.sock\"\n"
                                       "control_group = \"adm\"\n"
                                       "[sampling]\n"
                                       "interval = 2147483648\n"
                                       "algorithm = \"hash\"\n"
                                       "[filter]\n"
                                       "exclude = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n"
                                       "[log]\n"
                                       "per_user = \"/var/log/ebpfix/users\"\n"
                                       "[metrics]\n"
                                       "per_user = true\n"
                                       "per_cgroup = true\n"
                                       "label_limit = 100000\n"
                                       "[attribution]\n"
                                       "enabled = true\n"
                                       "ipfix_enterprise = 4294967295\n"
                                       "[graph]\n"
                                       "dot = \"/tmp/flows.dot\"\n" +
                                           collector,
                                       "n.toml");
    BOOST_TEST(c.capture == CaptureMode::xdp);
    BOOST_TEST(c.xdp_mode == XdpMode::native);
    BOOST_TEST(c.xdp_only);
    BOOST_TEST(c.cgroup_path == "/sys/fs/cgroup/system.slice");
    BOOST_TEST(c.control_socket == "/run/x/ctl.sock");
    BOOST_TEST(c.control_group == "adm");
    BOOST_TEST(c.sample_interval == 2147483648u);
    BOOST_TEST(c.sample_algorithm == SampleAlgorithm::hash);
    BOOST_TEST_REQUIRE(c.exclude.size() == 2u);
    BOOST_TEST(c.exclude[1].text == "2001:db8::/32");
    BOOST_TEST(c.per_user_log == "/var/log/ebpfix/users");
    BOOST_TEST(c.metrics_per_user);
    BOOST_TEST(c.metrics_per_cgroup);
    BOOST_TEST(c.metrics_label_limit == 100000u);
    BOOST_TEST(c.attribution);
    BOOST_TEST(c.ipfix_enterprise == 4294967295u);
    BOOST_TEST(c.dot_file == "/tmp/flows.dot");

    BOOST_TEST(c.origins.at("capture") == "n.toml:1:11");
    BOOST_TEST(c.origins.at("xdp_mode") == "n.toml:2:12");
    BOOST_TEST(c.origins.at("xdp_only") == "n.toml:3:12");
    BOOST_TEST(c.origins.at("cgroup") == "n.toml:4:10");
    BOOST_TEST(c.origins.at("control") == "n.toml:5:11");
    BOOST_TEST(c.origins.at("control_group") == "n.toml:6:17");
    BOOST_TEST(c.origins.at("sampling.interval") == "n.toml:8:12");
    BOOST_TEST(c.origins.at("sampling.algorithm") == "n.toml:9:13");
    BOOST_TEST(c.origins.at("filter.exclude") == "n.toml:11:11");
    BOOST_TEST(c.origins.at("filter.exclude[0]") == "n.toml:11:12");
    BOOST_TEST(c.origins.at("filter.exclude[1]") == "n.toml:11:26");
    BOOST_TEST(c.origins.at("log.per_user") == "n.toml:13:12");
    BOOST_TEST(c.origins.at("metrics.per_user") == "n.toml:15:12");
    BOOST_TEST(c.origins.at("metrics.per_cgroup") == "n.toml:16:14");
    BOOST_TEST(c.origins.at("metrics.label_limit") == "n.toml:17:15");
    BOOST_TEST(c.origins.at("attribution.enabled") == "n.toml:19:11");
    BOOST_TEST(c.origins.at("attribution.ipfix_enterprise") == "n.toml:20:20");
    BOOST_TEST(c.origins.at("graph.dot") == "n.toml:22:7");

    // "" turns the control socket, the per-user logs and the graph off; 1 is no sampling.
    const Config off = parse_config_text("control = \"\"\n[sampling]\ninterval = 1\n[log]\nper_user = \"\"\n"
                                         "[graph]\ndot = \"\"\n",
                                         "t.toml");
    BOOST_TEST(off.control_socket == "");
    BOOST_TEST(off.sample_interval == 1u);
    BOOST_TEST(off.per_user_log == "");
    BOOST_TEST(off.dot_file == "");
    // Every capture mode and XDP mode by its word.
    BOOST_TEST(parse_config_text("capture = \"tc\"\n", "t.toml").capture == CaptureMode::tc);
    BOOST_TEST(parse_config_text("capture = \"cgroup\"\n", "t.toml").capture == CaptureMode::cgroup);
    BOOST_TEST(parse_config_text("capture = \"xdp\"\nxdp_mode = \"generic\"\n", "t.toml").xdp_mode == XdpMode::generic);
    BOOST_TEST(parse_config_text("capture = \"xdp\"\nxdp_mode = \"auto\"\n", "t.toml").xdp_mode == XdpMode::automatic);
    BOOST_TEST(parse_config_text("[sampling]\nalgorithm = \"random\"\n", "t.toml").sample_algorithm ==
               SampleAlgorithm::random);
}

BOOST_AUTO_TEST_CASE(attribution_default_follows_the_capture_mode) {
    BOOST_TEST(!parse_config_text("", "t.toml").attribution);
    BOOST_TEST(!parse_config_text("capture = \"xdp\"\n", "t.toml").attribution);
    const Config cgroup = parse_config_text("capture = \"cgroup\"\n", "t.toml");
    BOOST_TEST(cgroup.attribution);
    BOOST_TEST(cgroup.origins.count("attribution.enabled") == 0u);
    // Set in the file, the file wins in either mode.
    BOOST_TEST(!parse_config_text("capture = \"cgroup\"\n[attribution]\nenabled = false\n", "t.toml").attribution);
    BOOST_TEST(parse_config_text("capture = \"tc\"\n[attribution]\nenabled = true\n", "t.toml").attribution);
}

BOOST_AUTO_TEST_CASE(exclude_entries_parse_to_exact_prefixes) {
    const Config c = parse_config_text(collector + "[filter]\nexclude = [\"10.1.2.3/8\", \"192.168.255.255/17\", \"192.168.1.*\", "
                                       "\"10.*\", \"172.16.*.*\", \"198.51.100.7\", \"0.0.0.0/0\", \"*\", "
                                       "\"2001:db8::1/32\", \"2001:db8:1234:567f::/61\", \"fe80::1/10\", \"::1\", "
                                       "\"::/0\", \"10.0.0.0/8\", \"10.0.0.0/8\"]\n",
                                       "t.toml");
    struct Expected {
        std::string text;
        int family;
        std::array<std::uint8_t, 16> addr;
        int prefix_len;
    };
    const std::vector<Expected> expected = {
        {"10.1.2.3/8", 4, bytes({10}), 8},  // host bits set: accepted, zeroed
        {"192.168.255.255/17", 4, bytes({192, 168, 128}), 17},
        {"192.168.1.*", 4, bytes({192, 168, 1}), 24},
        {"10.*", 4, bytes({10}), 8},
        {"172.16.*.*", 4, bytes({172, 16}), 16},
        {"198.51.100.7", 4, bytes({198, 51, 100, 7}), 32},
        {"0.0.0.0/0", 4, bytes({}), 0},
        {"*", 4, bytes({}), 0},
        {"2001:db8::1/32", 6, bytes({0x20, 0x01, 0x0d, 0xb8}), 32},
        {"2001:db8:1234:567f::/61", 6, bytes({0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78}), 61},
        {"fe80::1/10", 6, bytes({0xfe, 0x80}), 10},
        {"::1", 6, bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), 128},
        {"::/0", 6, bytes({}), 0},
        {"10.0.0.0/8", 4, bytes({10}), 8},  // duplicates are fine
        {"10.0.0.0/8", 4, bytes({10}), 8},
    };
    BOOST_TEST_REQUIRE(c.exclude.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const Cidr& got = c.exclude[i];
        BOOST_TEST(got.text == expected[i].text);
        BOOST_TEST(int(got.family) == expected[i].family, expected[i].text);
        BOOST_TEST(got.addr == expected[i].addr, expected[i].text);
        BOOST_TEST(int(got.prefix_len) == expected[i].prefix_len, expected[i].text);
    }
    // The diff shows entries as written.
    Config before = parse_config_text(collector, "t.toml");
    BOOST_TEST(diff(before, c).at(0) ==
               "filter.exclude: (none) -> 10.1.2.3/8, 192.168.255.255/17, 192.168.1.*, 10.*, 172.16.*.*, 198.51.100.7, "
               "0.0.0.0/0, *, 2001:db8::1/32, 2001:db8:1234:567f::/61, fe80::1/10, ::1, ::/0, 10.0.0.0/8, 10.0.0.0/8");
}

BOOST_AUTO_TEST_CASE(bad_exclude_entries_name_their_element) {
    BOOST_TEST(exclude_error("10.0.0.0/33") ==
               "t.toml:2:12: '10.0.0.0/33': prefix length must be 0 to 32 for IPv4 (filter.exclude[0])");
    BOOST_TEST(exclude_error("2001:db8::/129") ==
               "t.toml:2:12: '2001:db8::/129': prefix length must be 0 to 128 for IPv6 (filter.exclude[0])");
    BOOST_TEST(exclude_error("10.0.0.0/0032") ==
               "t.toml:2:12: '10.0.0.0/0032': prefix length must be 0 to 32 for IPv4 (filter.exclude[0])");
    BOOST_TEST(exclude_error("10.0.0.300/8") ==
               "t.toml:2:12: '10.0.0.300/8': '10.0.0.300' is not an IPv4 or IPv6 address (filter.exclude[0])");
    BOOST_TEST(exclude_error("10.0.0/8") ==
               "t.toml:2:12: '10.0.0/8': '10.0.0' is not an IPv4 or IPv6 address (filter.exclude[0])");
    BOOST_TEST(exclude_error("example.com") ==
               "t.toml:2:12: 'example.com': 'example.com' is not an IPv4 or IPv6 address (filter.exclude[0])");
    BOOST_TEST(exclude_error("2001:db8::g/32") ==
               "t.toml:2:12: '2001:db8::g/32': '2001:db8::g' is not an IPv6 address (filter.exclude[0])");
    BOOST_TEST(exclude_error("fe80::1%eth0") ==
               "t.toml:2:12: 'fe80::1%eth0': 'fe80::1%eth0' is not an IPv6 address (filter.exclude[0])");
    BOOST_TEST(exclude_error("10.0.0.0/") == "t.toml:2:12: '10.0.0.0/': prefix length is empty (filter.exclude[0])");
    BOOST_TEST(exclude_error("10.0.0.0/x8") ==
               "t.toml:2:12: '10.0.0.0/x8': prefix length 'x8' is not a number (filter.exclude[0])");
    BOOST_TEST(exclude_error("10.0.0.0/-1") ==
               "t.toml:2:12: '10.0.0.0/-1': prefix length '-1' is not a number (filter.exclude[0])");
    BOOST_TEST(exclude_error("") ==
               "t.toml:2:12: exclude entry is empty; expected ADDR/LEN, ADDR or 192.168.1.* (filter.exclude[0])");
    // Wildcards: only trailing '*' octets.
    BOOST_TEST(exclude_error("10.*.1.*") ==
               "t.toml:2:12: '10.*.1.*': a '*' octet may only be followed by more '*' octets (192.168.*.* is "
               "192.168.0.0/16) (filter.exclude[0])");
    BOOST_TEST(exclude_error("*.1") ==
               "t.toml:2:12: '*.1': a '*' octet may only be followed by more '*' octets (192.168.*.* is "
               "192.168.0.0/16) (filter.exclude[0])");
    BOOST_TEST(exclude_error("10.*/8") ==
               "t.toml:2:12: '10.*/8': a '*' address takes no prefix length (write 10.* or 10.0.0.0/8) "
               "(filter.exclude[0])");
    BOOST_TEST(exclude_error("1*") == "t.toml:2:12: '1*': '1*' is not an octet (0 to 255) or '*' (filter.exclude[0])");
    BOOST_TEST(exclude_error("10..*") == "t.toml:2:12: '10..*': '' is not an octet (0 to 255) or '*' (filter.exclude[0])");
    BOOST_TEST(exclude_error("300.*") == "t.toml:2:12: '300.*': '300' is not an octet (0 to 255) (filter.exclude[0])");
    BOOST_TEST(exclude_error("010.*") == "t.toml:2:12: '010.*': '010' is not an octet (0 to 255) (filter.exclude[0])");
    BOOST_TEST(exclude_error("1.2.3.4.*") == "t.toml:2:12: '1.2.3.4.*': more than 4 octets (filter.exclude[0])");
    BOOST_TEST(exclude_error("2001:db8::*") ==
               "t.toml:2:12: '2001:db8::*': '*' octets are for IPv4; write an IPv6 prefix as ADDR/LEN (2001:db8::/32) "
               "(filter.exclude[0])");
    // The element's own place, also after good ones.
    BOOST_TEST(error_of("[filter]\nexclude = [\"10.0.0.0/8\", \"192.168.1.*\",\n  \"10.0.0.0/33\"]\n") ==
               "t.toml:3:3: '10.0.0.0/33': prefix length must be 0 to 32 for IPv4 (filter.exclude[2])");
    BOOST_TEST(error_of("[filter]\nexclude = \"10.0.0.0/8\"\n") ==
               "t.toml:2:11: expected an array of addresses (\"10.0.0.0/8\", \"192.168.1.*\"), got a string "
               "(filter.exclude)");
    BOOST_TEST(error_of("[filter]\nexclude = [\"10.0.0.0/8\", 8]\n") ==
               "t.toml:2:26: expected a string, got an integer (filter.exclude[1])");
    BOOST_TEST(error_of("[filter]\ninclude = []\n") ==
               "t.toml:2:1: unknown key 'include'; expected one of: exclude (filter.include)");
}

BOOST_AUTO_TEST_CASE(exclude_holds_4096_entries_per_family) {
    // 4096 IPv4 and 4096 IPv6 entries fit the kernel maps; one more of a family does not.
    std::string v4, v6;
    for (int i = 0; i < 4096; ++i) {
        v4 += "\"10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\", ";
        v6 += "\"2001:db8:" + std::to_string(i) + "::/48\", ";
    }
    const Config full = parse_config_text("[filter]\nexclude = [" + v4 + v6 + "]\n", "t.toml");
    BOOST_TEST(full.exclude.size() == 8192u);
    const std::string over = "[filter]\nexclude = [" + v4 + v6 + "\n\"2001:db8:ffff::/48\"]\n";
    BOOST_TEST(error_of(over) == "t.toml:3:1: more than 4096 IPv6 entries in filter.exclude (the size of the kernel's "
                                 "exclude map) (filter.exclude[8192])");
    BOOST_TEST(error_of("[filter]\nexclude = [" + v4 + "\n\"10.255.255.255\"]\n") ==
               "t.toml:3:1: more than 4096 IPv4 entries in filter.exclude (the size of the kernel's exclude map) "
               "(filter.exclude[4096])");
}

BOOST_AUTO_TEST_CASE(capture_rules_name_both_places) {
    BOOST_TEST(error_of("capture = \"ebpf\"\n") ==
               "t.toml:1:11: unknown capture mode 'ebpf'; expected tc, xdp or cgroup (capture)");
    BOOST_TEST(error_of("capture = \"XDP\"\n") ==
               "t.toml:1:11: unknown capture mode 'XDP'; expected tc, xdp or cgroup (capture)");
    BOOST_TEST(error_of("capture = \"xdp\"\nxdp_mode = \"fast\"\n") ==
               "t.toml:2:12: unknown XDP mode 'fast'; expected auto, native or generic (xdp_mode)");
    BOOST_TEST(error_of("capture = \"xdp\"\nxdp_only = \"yes\"\n") ==
               "t.toml:2:12: expected a boolean (true or false), got a string (xdp_only)");
    BOOST_TEST(error_of("capture = 1\n") == "t.toml:1:11: expected a string, got an integer (capture)");
    // XDP settings without capture = "xdp": an error at the setting, naming the capture.
    BOOST_TEST(error_of("xdp_mode = \"native\"\n") ==
               "t.toml:1:12: xdp_mode applies to capture = \"xdp\" only, and capture is \"tc\" (the default) "
               "(xdp_mode)");
    BOOST_TEST(error_of("capture = \"cgroup\"\nxdp_only = true\n") ==
               "t.toml:2:12: xdp_only applies to capture = \"xdp\" only, and capture is \"cgroup\" (set at "
               "t.toml:1:11) (xdp_only)");
    BOOST_TEST(error_of("capture = \"tc\"\nxdp_only = false\n") ==
               "t.toml:2:12: xdp_only applies to capture = \"xdp\" only, and capture is \"tc\" (set at t.toml:1:11) "
               "(xdp_only)");
    BOOST_TEST(parse_config_text("xdp_only = true\ncapture = \"xdp\"\n", "t.toml").xdp_only);
    // Cgroup mode has no devices, and needs none.
    BOOST_TEST(error_of("capture = \"cgroup\"\ninterfaces = [\"eth0\"]\n") ==
               "t.toml:2:14: cgroup mode watches sockets, not devices: remove the interfaces, or set capture to "
               "\"tc\" or \"xdp\" (capture = \"cgroup\" set at t.toml:1:11) (interfaces)");
    BOOST_TEST(parse_config_text("capture = \"cgroup\"\ninterfaces = []\n", "t.toml").interfaces.empty());
    BOOST_TEST(error_of("cgroup = \"sys/fs/cgroup\"\n") ==
               "t.toml:1:10: cgroup path 'sys/fs/cgroup' is not absolute; write it from / (e.g. /sys/fs/cgroup) "
               "(cgroup)");
    BOOST_TEST(error_of("capture = \"cgroup\"\ncgroup = \"\"\n") == "t.toml:2:10: cgroup path is empty (cgroup)");
    BOOST_TEST(error_of("cgroup = \"/a\\u0000b\"\n") == "t.toml:1:10: cgroup path contains a NUL byte (cgroup)");
}

BOOST_AUTO_TEST_CASE(new_settings_out_of_range_and_wrong_types) {
    BOOST_TEST(error_of("[sampling]\ninterval = 0\n") ==
               "t.toml:2:12: must be between 1 and 2147483648, got 0 (sampling.interval)");
    BOOST_TEST(error_of("[sampling]\ninterval = 2147483649\n") ==
               "t.toml:2:12: must be between 1 and 2147483648, got 2147483649 (sampling.interval)");
    BOOST_TEST(error_of("[sampling]\ninterval = \"100\"\n") ==
               "t.toml:2:12: expected an integer, got a string (sampling.interval)");
    BOOST_TEST(error_of("[sampling]\nalgorithm = \"periodic\"\n") ==
               "t.toml:2:13: unknown sampling algorithm 'periodic'; expected random or hash (sampling.algorithm)");
    BOOST_TEST(error_of("[sampling]\nalgorithm = \"Hash\"\n") ==
               "t.toml:2:13: unknown sampling algorithm 'Hash'; expected random or hash (sampling.algorithm)");
    BOOST_TEST(error_of("[sampling]\nrate = 10\n") ==
               "t.toml:2:1: unknown key 'rate'; expected one of: interval, algorithm (sampling.rate)");
    BOOST_TEST(error_of("sampling = 10\n") == "t.toml:1:12: expected a table, got an integer (sampling)");
    BOOST_TEST(error_of("[attribution]\nenabled = 1\n") ==
               "t.toml:2:11: expected a boolean (true or false), got an integer (attribution.enabled)");
    BOOST_TEST(error_of("[attribution]\nipfix_enterprise = -1\n") ==
               "t.toml:2:20: must be between 0 and 4294967295, got -1 (attribution.ipfix_enterprise)");
    BOOST_TEST(error_of("[attribution]\nipfix_enterprise = 4294967296\n") ==
               "t.toml:2:20: must be between 0 and 4294967295, got 4294967296 (attribution.ipfix_enterprise)");
    BOOST_TEST(error_of("[attribution]\npid = true\n") ==
               "t.toml:2:1: unknown key 'pid'; expected one of: enabled, ipfix_enterprise (attribution.pid)");
    BOOST_TEST(error_of("[metrics]\nlabel_limit = 0\n") ==
               "t.toml:2:15: must be between 1 and 100000, got 0 (metrics.label_limit)");
    BOOST_TEST(error_of("[metrics]\nlabel_limit = 100001\n") ==
               "t.toml:2:15: must be between 1 and 100000, got 100001 (metrics.label_limit)");
    BOOST_TEST(error_of("[metrics]\nper_user = \"yes\"\n") ==
               "t.toml:2:12: expected a boolean (true or false), got a string (metrics.per_user)");
    BOOST_TEST(error_of("[metrics]\nper_cgroup = 1\n") ==
               "t.toml:2:14: expected a boolean (true or false), got an integer (metrics.per_cgroup)");
    BOOST_TEST(error_of("[log]\nper_user = true\n") == "t.toml:2:12: expected a string, got a boolean (log.per_user)");
    BOOST_TEST(error_of("[graph]\ndot = 3\n") == "t.toml:2:7: expected a string, got an integer (graph.dot)");
    BOOST_TEST(error_of("[graph]\nsvg = \"x\"\n") == "t.toml:2:1: unknown key 'svg'; expected one of: dot (graph.svg)");
    BOOST_TEST(error_of("control = \"ctl.sock\"\n") ==
               "t.toml:1:11: control socket path 'ctl.sock' is not absolute; write it from / (e.g. "
               "/run/ebpfix/control.sock), or \"\" for none (control)");
    const std::string long_path = "/run/" + std::string(103, 'x');  // 108 bytes
    BOOST_TEST(error_of("control = \"" + long_path + "\"\n") ==
               "t.toml:1:11: control socket path '" + long_path +
                   "' is longer than 107 bytes (the limit of a Unix socket address) (control)");
    BOOST_TEST(parse_config_text("control = \"" + long_path.substr(0, 107) + "\"\n", "t.toml").control_socket.size() ==
               107u);
    BOOST_TEST(error_of("control_group = \"-x\"\n") == "t.toml:1:17: group name '-x' starts with '-' (control_group)");
    BOOST_TEST(error_of("control_group = \"\"\n") == "t.toml:1:17: group name is empty (control_group)");
    BOOST_TEST(error_of("control_group = \"eb fix\"\n") ==
               "t.toml:1:17: group name 'eb fix' contains an invalid character (control_group)");
    BOOST_TEST(parse_config_text("control_group = \"0\"\n", "t.toml").control_group == "0");  // a gid
}

BOOST_AUTO_TEST_CASE(other_outputs_count_as_somewhere_for_flows) {
    // Log none and no collector is fine when per-user logs or the graph take the flows.
    BOOST_TEST(parse_config_text("[log]\nformat = \"none\"\nper_user = \"/var/log/u\"\n", "t.toml").log_format ==
               OutputFormat::none);
    BOOST_TEST(parse_config_text("[log]\nformat = \"none\"\n[graph]\ndot = \"/tmp/g.dot\"\n", "t.toml").log_format ==
               OutputFormat::none);
    // A timed run's summary: only the command line sets one (command_line_test).
    Config c;
    c.run_timeout_ms = 10000;
    BOOST_TEST(validate_error(c) == "");
    c.summary = false;
    BOOST_TEST(validate_error(c) ==
               "configuration: no collector and no flow log: flows would go nowhere; add a [[collector]] or a log "
               "format (log.format)");
    c.run_timeout_ms = 0;
    c.summary = true;
    BOOST_TEST(validate_error(c) == "");
}

BOOST_AUTO_TEST_CASE(validate_checks_the_new_settings_built_by_hand) {
    Config c;
    c.log_format = OutputFormat::text;
    BOOST_TEST(validate_error(c) == "");
    c.sample_interval = 0;
    BOOST_TEST(validate_error(c) == "configuration: must be between 1 and 2147483648, got 0 (sampling.interval)");
    c.sample_interval = 4294967295u;
    BOOST_TEST(validate_error(c) ==
               "configuration: must be between 1 and 2147483648, got 4294967295 (sampling.interval)");
    c.sample_interval = 10;
    c.metrics_label_limit = 0;
    BOOST_TEST(validate_error(c) == "configuration: must be between 1 and 100000, got 0 (metrics.label_limit)");
    c.metrics_label_limit = 5;
    c.run_timeout_ms = 2592000001;
    c.origins["timeout"] = "command line (--timeout)";
    BOOST_TEST(validate_error(c) ==
               "command line (--timeout): must be at most 2592000 seconds, got 2592000.001 s (timeout)");
    c.run_timeout_ms = 2592000000;
    BOOST_TEST(validate_error(c) == "");
    c.cgroup_path = "cgroup";
    BOOST_TEST(validate_error(c) ==
               "configuration: cgroup path 'cgroup' is not absolute; write it from / (e.g. /sys/fs/cgroup) (cgroup)");
    c.cgroup_path = "/sys/fs/cgroup";
    c.control_socket = "run/ctl";
    BOOST_TEST(validate_error(c) == "configuration: control socket path 'run/ctl' is not absolute; write it from / "
                                    "(e.g. /run/ebpfix/control.sock), or \"\" for none (control)");
    c.control_socket = "";
    c.control_group = "a:b";
    BOOST_TEST(validate_error(c) == "configuration: group name 'a:b' contains an invalid character (control_group)");
    c.control_group = "ebpfix";

    Cidr cidr;
    cidr.text = "10.0.0.1/8";
    cidr.addr = bytes({10, 0, 0, 1});
    cidr.prefix_len = 8;
    c.exclude = {cidr};
    c.origins["filter.exclude"] = "x.toml:3:11";
    BOOST_TEST(validate_error(c) ==
               "x.toml:3:11: exclude entry '10.0.0.1/8': host bits are not zero (filter.exclude[0])");
    c.exclude[0].addr = bytes({10});
    BOOST_TEST(validate_error(c) == "");
    c.exclude[0].addr[4] = 1;  // beyond an IPv4 address
    BOOST_TEST(validate_error(c) ==
               "x.toml:3:11: exclude entry '10.0.0.1/8': host bits are not zero (filter.exclude[0])");
    c.exclude[0].addr = bytes({10});
    c.exclude[0].prefix_len = 33;
    BOOST_TEST(validate_error(c) == "x.toml:3:11: exclude entry '10.0.0.1/8': prefix length must be 0 to 32 for IPv4, "
                                    "got 33 (filter.exclude[0])");
    c.exclude[0].prefix_len = 8;
    c.exclude[0].family = 5;
    BOOST_TEST(validate_error(c) ==
               "x.toml:3:11: exclude entry '10.0.0.1/8': family must be 4 or 6, got 5 (filter.exclude[0])");
    c.exclude[0].family = 6;
    c.exclude[0].prefix_len = 128;
    c.exclude[0].addr = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    BOOST_TEST(validate_error(c) == "");
}

BOOST_AUTO_TEST_CASE(diff_lists_each_new_setting) {
    Config before = parse_config_text(collector, "a.toml");
    before.cgroup_path = "/sys/fs/cgroup";
    Config after = before;
    after.capture = CaptureMode::xdp;
    after.xdp_mode = XdpMode::generic;
    after.xdp_only = true;
    after.cgroup_path = "/sys/fs/cgroup/user.slice";
    after.control_socket = "";
    after.control_group = "adm";
    after.sample_interval = 100;
    after.sample_algorithm = SampleAlgorithm::hash;
    after.exclude = {parse_config_text("[filter]\nexclude = [\"192.168.1.*\"]\n", "b.toml").exclude.at(0)};
    after.per_user_log = "/var/log/u";
    after.metrics_per_user = true;
    after.metrics_per_cgroup = true;
    after.metrics_label_limit = 50;
    after.attribution = true;
    after.ipfix_enterprise = 32473;
    after.dot_file = "/tmp/g.dot";
    after.run_timeout_ms = 90000;
    after.summary = false;
    after.json = true;
    const std::vector<std::string> expected = {
        "capture: tc -> xdp",
        "xdp_mode: auto -> generic",
        "xdp_only: off -> on",
        "cgroup: /sys/fs/cgroup -> /sys/fs/cgroup/user.slice",
        "control: /run/ebpfix/control.sock -> (off)",
        "control_group: ebpfix -> adm",
        "sampling.interval: 1 (every packet) -> 1 in 100",
        "sampling.algorithm: random -> hash",
        "filter.exclude: (none) -> 192.168.1.*",
        "log.per_user: (off) -> /var/log/u",
        "metrics.per_user: off -> on",
        "metrics.per_cgroup: off -> on",
        "metrics.label_limit: 1000 -> 50",
        "attribution.enabled: off -> on",
        "attribution.ipfix_enterprise: (off) -> 32473",
        "graph.dot: (off) -> /tmp/g.dot",
        "timeout: (off) -> 90 s",
        "summary: auto -> off",
        "json: off -> on",
    };
    BOOST_TEST(diff(before, after) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(check_environment_cgroup_per_user_log_and_control_group) {
    TempDir dir;
    const std::string file = dir.path() + "/regular";
    std::ofstream(file) << "x";

    // Cgroup mode: the directory must be cgroup v2. A plain directory, a missing path and
    // a file are errors at the setting.
    auto cgroup_problems = [&](const std::string& path) {
        return check_environment(parse_config_text("capture = \"cgroup\"\ncgroup = \"" + path +
                                                       "\"\ncontrol = \"\"\n",
                                                   "e.toml"));
    };
    const std::vector<Problem> plain = cgroup_problems(dir.path());
    BOOST_TEST_REQUIRE(plain.size() == 1u);
    BOOST_TEST((plain[0].severity == Problem::Severity::error));
    BOOST_TEST(plain[0].message.starts_with("e.toml:2:10: cgroup '" + dir.path() + "': not a cgroup v2 directory ("),
               plain[0].message);
    BOOST_TEST(plain[0].message.ends_with(") (cgroup)"), plain[0].message);
    const std::vector<Problem> missing = cgroup_problems(dir.path() + "/absent");
    BOOST_TEST_REQUIRE(missing.size() == 1u);
    BOOST_TEST(missing[0].message ==
               "e.toml:2:10: cgroup '" + dir.path() + "/absent': No such file or directory (cgroup)");
    const std::vector<Problem> regular = cgroup_problems(file);
    BOOST_TEST_REQUIRE(regular.size() == 1u);
    BOOST_TEST(regular[0].message == "e.toml:2:10: cgroup '" + file + "': not a directory (cgroup)");
    // Only cgroup mode hooks a cgroup; a capture file hooks nothing.
    BOOST_TEST(check_environment(parse_config_text("cgroup = \"" + dir.path() + "\"\ncontrol = \"\"\n", "e.toml")).empty());
    Config capture = parse_config_text("capture = \"cgroup\"\ncgroup = \"" + dir.path() + "\"\ncontrol = \"\"\n", "e.toml");
    capture.pcap_file = "/tmp/in.pcap";
    BOOST_TEST(check_environment(capture).empty());

    // A mounted cgroup v2 hierarchy passes. /sys/fs/cgroup is one on a unified system; on
    // a hybrid one (v1 controllers, v2 below at unified/) the error points there.
    const std::optional<std::string> mount = cgroup2_mount();
    BOOST_TEST_REQUIRE(mount.has_value(), "no cgroup2 mount in /proc/self/mounts");
    BOOST_TEST(cgroup_problems(*mount).empty(), *mount);
    const std::vector<Problem> standard = cgroup_problems("/sys/fs/cgroup");
    if (*mount == "/sys/fs/cgroup") {
        BOOST_TEST(standard.empty());
    } else {
        BOOST_TEST_REQUIRE(standard.size() == 1u);
        BOOST_TEST(standard[0].message.starts_with("e.toml:2:10: cgroup '/sys/fs/cgroup': not a cgroup v2 directory ("),
                   standard[0].message);
        if (*mount == "/sys/fs/cgroup/unified")
            BOOST_TEST(standard[0].message.ends_with("; the cgroup v2 hierarchy here is /sys/fs/cgroup/unified (cgroup)"),
                       standard[0].message);
    }

    // log.per_user must be a directory now.
    auto per_user_problems = [&](const std::string& path) {
        return check_environment(parse_config_text("control = \"\"\n[log]\nper_user = \"" + path + "\"\n", "e.toml"));
    };
    BOOST_TEST(per_user_problems(dir.path()).empty());
    const std::vector<Problem> no_dir = per_user_problems(dir.path() + "/absent");
    BOOST_TEST_REQUIRE(no_dir.size() == 1u);
    BOOST_TEST((no_dir[0].severity == Problem::Severity::error));
    BOOST_TEST(no_dir[0].message == "e.toml:3:12: per-user log directory '" + dir.path() +
                                        "/absent': No such file or directory (log.per_user)");
    const std::vector<Problem> not_dir = per_user_problems(file);
    BOOST_TEST_REQUIRE(not_dir.size() == 1u);
    BOOST_TEST(not_dir[0].message == "e.toml:3:12: per-user log directory '" + file + "': not a directory (log.per_user)");

    // A missing control group is a warning, and only with a control socket.
    const std::vector<Problem> group =
        check_environment(parse_config_text("control = \"/run/ebpfix/control.sock\"\n"
                                            "control_group = \"ebpfix-no-such-group\"\n",
                                            "e.toml"));
    BOOST_TEST_REQUIRE(group.size() == 1u);
    BOOST_TEST((group[0].severity == Problem::Severity::warning));
    BOOST_TEST(group[0].message == "e.toml:2:17: group 'ebpfix-no-such-group': no such group; the socket will be "
                                   "root-only (control_group)");
    BOOST_TEST(check_environment(parse_config_text("control_group = \"root\"\n", "e.toml")).empty());
    BOOST_TEST(check_environment(parse_config_text("control = \"\"\ncontrol_group = \"ebpfix-no-such-group\"\n",
                                                   "e.toml"))
                   .empty());
}

BOOST_AUTO_TEST_CASE(netflow5_collectors) {
    const Config c = parse_config_text("[[collector]]\nprotocol = \"netflow5\"\naddress = \"127.0.0.1:2055\"\n"
                                       "engine_type = 1\nengine_id = 255\n"
                                       "[[collector]]\nprotocol = \"netflow5\"\naddress = \"127.0.0.1:2056\"\n",
                                       "t.toml");
    BOOST_TEST_REQUIRE(c.collectors.size() == 2u);
    BOOST_TEST(c.collectors[0].netflow5);
    BOOST_TEST(c.collectors[0].protocol_name() == "netflow5");
    BOOST_TEST(c.collectors[0].engine_type == 1u);
    BOOST_TEST(c.collectors[0].engine_id == 255u);
    BOOST_TEST(c.collectors[1].engine_type == 0u);  // softflowd's engine id is the ifindex; ebpfix's 0
    BOOST_TEST(c.collectors[1].engine_id == 0u);
    BOOST_TEST(c.origins.at("collector[0].protocol") == "t.toml:2:12");

    const std::string v5 = "[[collector]]\nprotocol = \"netflow5\"\naddress = \"127.0.0.1:2055\"\n";
    BOOST_TEST(error_of(v5 + "engine_id = 256\n") == "t.toml:4:13: must be between 0 and 255, got 256 (collector[0].engine_id)");
    BOOST_TEST(error_of(v5 + "engine_type = -1\n") ==
               "t.toml:4:15: must be between 0 and 255, got -1 (collector[0].engine_type)");
    BOOST_TEST(error_of(v5 + "engine_type = \"1\"\n") == "t.toml:4:15: expected an integer, got a string (collector[0].engine_type)");
    // What v5 has no room for is refused where it is written, whatever the order of the keys.
    const std::string why = " does not apply to NetFlow v5, which has no templates, observation domains or biflows "
                            "(protocol is \"netflow5\" (set at t.toml:3:12))";
    BOOST_TEST(error_of("[[collector]]\ntemplate_refresh = 30\nprotocol = \"netflow5\"\naddress = \"127.0.0.1:2055\"\n") ==
               "t.toml:2:20: template_refresh" + why + " (collector[0].template_refresh)");
    const std::string why4 = " does not apply to NetFlow v5, which has no templates, observation domains or biflows "
                             "(protocol is \"netflow5\" (set at t.toml:2:12))";
    BOOST_TEST(error_of(v5 + "observation_domain = 7\n") ==
               "t.toml:4:22: observation_domain" + why4 + " (collector[0].observation_domain)");
    BOOST_TEST(error_of(v5 + "template_refresh_messages = 7\n") ==
               "t.toml:4:29: template_refresh_messages" + why4 + " (collector[0].template_refresh_messages)");
    BOOST_TEST(error_of(v5 + "max_message_size = 1400\n") ==
               "t.toml:4:20: max_message_size" + why4 + " (collector[0].max_message_size)");
    BOOST_TEST(error_of(v5 + "biflow = true\n") == "t.toml:4:10: biflow" + why4 + " (collector[0].biflow)");
    BOOST_TEST(error_of(v5 + "biflow = false\n") == "t.toml:4:10: biflow" + why4 + " (collector[0].biflow)");
    BOOST_TEST(error_of(v5 + "transport = \"tcp\"\n") ==
               "t.toml:4:13: transport \"tcp\" is IPFIX only (RFC 7011 section 10.4); NetFlow v5 goes over UDP "
               "(protocol is \"netflow5\" (set at t.toml:2:12)) (collector[0].transport)");
    BOOST_TEST(parse_config_text(v5 + "transport = \"udp\"\n", "t.toml").collectors.at(0).transport == Transport::udp);
    // engine_* belong to v5.
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\nengine_id = 3\n") ==
               "t.toml:3:13: engine_id applies to protocol = \"netflow5\" only (protocol is \"ipfix\" (the default)) "
               "(collector[0].engine_id)");
    // The v5 header has 14 bits for the sampling interval: both places are named.
    BOOST_TEST(error_of("[sampling]\ninterval = 16384\n" + v5) ==
               "t.toml:2:12: sampling interval 16384 does not fit a NetFlow v5 header (at most 16383): "
               "sampling.interval set at t.toml:2:12, collector 127.0.0.1:2055 is netflow5 (t.toml:4:12) "
               "(sampling.interval)");
    BOOST_TEST(parse_config_text("[sampling]\ninterval = 16383\n" + v5, "t.toml").sample_interval == 16383u);
    // Without a v5 collector a larger interval is fine.
    BOOST_TEST(parse_config_text("[sampling]\ninterval = 16384\n" + collector, "t.toml").sample_interval == 16384u);
}

BOOST_AUTO_TEST_CASE(tcp_and_biflow_collectors) {
    const Config c = parse_config_text(
        "[[collector]]\naddress = \"127.0.0.1:4739\"\ntransport = \"tcp\"\nreconnect_min_interval = 5\n"
        "template_refresh = 30\nbiflow = true\n"
        "[[collector]]\naddress = \"127.0.0.1:4739\"\ntransport = \"udp\"\n"
        "[[collector]]\naddress = \"127.0.0.1:4740\"\nbiflow = true\n",
        "t.toml");
    BOOST_TEST_REQUIRE(c.collectors.size() == 3u);
    BOOST_TEST(c.collectors[0].transport == Transport::tcp);
    BOOST_TEST(c.collectors[0].reconnect_min_interval_s == 5u);
    BOOST_TEST(c.collectors[0].encoder.template_refresh_seconds == 30u);
    BOOST_TEST(c.collectors[0].encoder.biflow);
    BOOST_TEST(c.collectors[1].transport == Transport::udp);
    BOOST_TEST(c.collectors[1].reconnect_min_interval_s == 60u);
    BOOST_TEST(c.collectors[2].encoder.biflow);
    BOOST_TEST(parse_config_text("[[collector]]\naddress = \"127.0.0.1:4739\"\ntransport = \"tcp\"\n"
                                 "reconnect_min_interval = 0\n", "t.toml")
                   .collectors.at(0).reconnect_min_interval_s == 0u);

    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\ntransport = \"sctp\"\n") ==
               "t.toml:3:13: unknown transport 'sctp'; expected udp or tcp (collector[0].transport)");
    BOOST_TEST(error_of("[[collector]]\ntransport = \"tcp\"\nprotocol = \"netflow9\"\naddress = \"127.0.0.1:2055\"\n") ==
               "t.toml:2:13: transport \"tcp\" is IPFIX only (RFC 7011 section 10.4) (protocol is \"netflow9\" (set at "
               "t.toml:3:12)) (collector[0].transport)");
    BOOST_TEST(error_of("[[collector]]\nprotocol = \"netflow9\"\naddress = \"127.0.0.1:2055\"\nbiflow = true\n") ==
               "t.toml:4:10: biflow is IPFIX only (RFC 5103) (protocol is \"netflow9\" (set at t.toml:2:12)) "
               "(collector[0].biflow)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\nbiflow = 1\n") ==
               "t.toml:3:10: expected a boolean (true or false), got an integer (collector[0].biflow)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\nreconnect_min_interval = 5\n") ==
               "t.toml:3:26: reconnect_min_interval applies to transport = \"tcp\" only (transport is \"udp\", the "
               "default) (collector[0].reconnect_min_interval)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\ntransport = \"tcp\"\nreconnect_min_interval = 3601\n") ==
               "t.toml:4:26: must be between 0 and 3600, got 3601 (collector[0].reconnect_min_interval)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\ntransport = \"tcp\"\ntemplate_refresh_messages = 5\n") ==
               "t.toml:4:29: template_refresh_messages does not apply over TCP, where every connection gets the "
               "templates once (transport is \"tcp\", set at t.toml:3:13) (collector[0].template_refresh_messages)");
    BOOST_TEST(error_of("[[collector]]\naddress = \"127.0.0.1:4739\"\ntransport = \"tcp\"\n"
                        "[[collector]]\naddress = \"127.0.0.1:4739\"\ntransport = \"tcp\"\n") ==
               "t.toml:5:11: collector 127.0.0.1:4739 is configured twice (first at t.toml:2:11) (collector[1].address)");
}

BOOST_AUTO_TEST_CASE(kafka_outputs) {
    const Config c = parse_config_text(
        "[[kafka]]\nbrokers = \"127.0.0.1:9092,kafka2:9092\"\ntopic = \"flows\"\nformat = \"json\"\nkey = \"flow\"\n"
        "compression = \"zstd\"\nmax_queued_messages = 500\nflush_timeout = 2.5\nexporter_id = \"edge-1\"\n"
        "[kafka.properties]\n\"linger.ms\" = \"50\"\n\"acks\" = \"1\"\n"
        "[[kafka]]\nbrokers = \"127.0.0.1:9092\"\ntopic = \"flows.v2\"\n",
        "t.toml");
    BOOST_TEST_REQUIRE(c.kafka.size() == 2u);
    const KafkaConfig& k = c.kafka[0];
    BOOST_TEST(k.brokers == "127.0.0.1:9092,kafka2:9092");
    BOOST_TEST(k.topic == "flows");
    BOOST_TEST((k.format == KafkaFormat::json));
    BOOST_TEST((k.key == KafkaKey::flow));
    BOOST_TEST(k.compression == "zstd");
    BOOST_TEST(k.max_queued_messages == 500u);
    BOOST_TEST(k.flush_timeout_ms == 2500u);
    BOOST_TEST(k.exporter_id == "edge-1");
    BOOST_TEST((k.properties == std::map<std::string, std::string>{{"acks", "1"}, {"linger.ms", "50"}}));
    const KafkaConfig& d = c.kafka[1];
    BOOST_TEST((d.format == KafkaFormat::protobuf));
    BOOST_TEST((d.key == KafkaKey::none));
    BOOST_TEST(d.compression == "none");
    BOOST_TEST(d.max_queued_messages == 100000u);
    BOOST_TEST(d.flush_timeout_ms == 5000u);
    BOOST_TEST(d.exporter_id == "");
    BOOST_TEST(d.properties.empty());
    // Kafka is an output: no text log by default, records at the active timeout.
    BOOST_TEST((c.log_format == OutputFormat::none));
    BOOST_TEST(c.export_interval_ms == 0u);
    BOOST_TEST(c.collectors.empty());

    const std::string head = "[[kafka]]\nbrokers = \"127.0.0.1:9092\"\ntopic = \"flows\"\n";
    BOOST_TEST(error_of("[[kafka]]\ntopic = \"flows\"\n") ==
               "t.toml:1:1: Kafka output without brokers; add brokers = \"HOST:PORT[,HOST:PORT]\" (kafka[0].brokers)");
    BOOST_TEST(error_of("[[kafka]]\nbrokers = \"127.0.0.1:9092\"\n") ==
               "t.toml:1:1: Kafka output without a topic; add topic = \"NAME\" (kafka[0].topic)");
    BOOST_TEST(error_of("[[kafka]]\nbrokers = \" , \"\ntopic = \"flows\"\n") ==
               "t.toml:2:11: brokers is empty; write \"HOST:PORT[,HOST:PORT]\" (kafka[0].brokers)");
    BOOST_TEST(error_of("[[kafka]]\nbrokers = \"127.0.0.1:9092\"\ntopic = \"a b\"\n") ==
               "t.toml:3:9: topic 'a b': only letters, digits, '.', '_' and '-' are allowed (kafka[0].topic)");
    BOOST_TEST(error_of("[[kafka]]\nbrokers = \"127.0.0.1:9092\"\ntopic = \"..\"\n") ==
               "t.toml:3:9: topic '..' is not a topic name (kafka[0].topic)");
    BOOST_TEST(error_of("[[kafka]]\nbrokers = \"127.0.0.1:9092\"\ntopic = \"" + std::string(250, 'x') + "\"\n")
                   .ends_with("is longer than 249 characters (kafka[0].topic)"));
    BOOST_TEST(error_of(head + "format = \"avro\"\n") ==
               "t.toml:4:10: unknown format 'avro'; expected protobuf or json (kafka[0].format)");
    BOOST_TEST(error_of(head + "key = \"dst_ip\"\n") ==
               "t.toml:4:7: unknown key 'dst_ip'; expected none, exporter, src_ip or flow (kafka[0].key)");
    BOOST_TEST(error_of(head + "compression = \"brotli\"\n") ==
               "t.toml:4:15: unknown compression 'brotli'; expected none, gzip, snappy, lz4 or zstd (kafka[0].compression)");
    BOOST_TEST(error_of(head + "max_queued_messages = 0\n") ==
               "t.toml:4:23: must be between 1 and 2147483647, got 0 (kafka[0].max_queued_messages)");
    BOOST_TEST(error_of(head + "flush_timeout = -1\n") ==
               "t.toml:4:17: must be 0 or more seconds, got -1 (kafka[0].flush_timeout)");
    BOOST_TEST(parse_config_text(head + "flush_timeout = 0\n", "t.toml").kafka.at(0).flush_timeout_ms == 0u);
    BOOST_TEST(error_of(head + "partition = 3\n") ==
               "t.toml:4:1: unknown key 'partition'; expected one of: brokers, topic, format, key, compression, "
               "max_queued_messages, flush_timeout, exporter_id, properties (kafka[0].partition)");
    BOOST_TEST(error_of("[kafka]\nbrokers = \"x:1\"\n") ==
               "t.toml:1:1: expected an array of tables (write each Kafka output as [[kafka]]), got a table (kafka)");
    // Properties: strings, checked by librdkafka's own parser at their place.
    BOOST_TEST(error_of(head + "[kafka.properties]\n\"linger.ms\" = 50\n") ==
               "t.toml:5:15: expected a string (librdkafka takes every value as text), got an integer "
               "(kafka[0].properties.'linger.ms')");
    BOOST_TEST(error_of(head + "[kafka.properties]\n\"no.such.property\" = \"1\"\n") ==
               "t.toml:5:22: librdkafka property 'no.such.property': No such configuration property: "
               "\"no.such.property\" (kafka[0].properties.'no.such.property')");
    BOOST_TEST(error_of(head + "[kafka.properties]\n\"acks\" = \"many\"\n") ==
               "t.toml:5:10: librdkafka property 'acks': Invalid value for configuration property "
               "\"request.required.acks\" (kafka[0].properties.'acks')");
    BOOST_TEST(error_of(head + "properties = \"acks=1\"\n") ==
               "t.toml:4:14: expected a table, got a string (kafka[0].properties)");
    BOOST_TEST(error_of(head + head) ==
               "t.toml:6:9: Kafka output 127.0.0.1:9092/flows is configured twice (first at t.toml:3:9) (kafka[1].topic)");
}

BOOST_AUTO_TEST_CASE(diff_names_the_new_outputs) {
    const Config before = parse_config_text(
        "[[collector]]\nprotocol = \"netflow5\"\naddress = \"127.0.0.1:2055\"\n"
        "[[kafka]]\nbrokers = \"127.0.0.1:9092\"\ntopic = \"flows\"\n[kafka.properties]\n\"sasl.password\" = \"one\"\n",
        "t.toml");
    const Config after = parse_config_text(
        "[[collector]]\nprotocol = \"netflow5\"\naddress = \"127.0.0.1:2055\"\nengine_id = 4\n"
        "[[collector]]\naddress = \"127.0.0.1:4739\"\ntransport = \"tcp\"\nbiflow = true\n"
        "[[kafka]]\nbrokers = \"127.0.0.1:9092\"\ntopic = \"flows\"\n[kafka.properties]\n\"sasl.password\" = \"two\"\n",
        "t.toml");
    const std::vector<std::string> lines = diff(before, after);
    const std::string kafka = "kafka 127.0.0.1:9092/flows (format protobuf, key none, compression none, "
                              "max_queued_messages 100000, flush_timeout 5 s, exporter_id (host name), properties "
                              "sasl.password)";
    const std::vector<std::string> expected = {
        "collector removed: netflow5 127.0.0.1:2055 (engine_type 0, engine_id 0)",
        "collector added: netflow5 127.0.0.1:2055 (engine_type 0, engine_id 4)",
        "collector added: ipfix 127.0.0.1:4739 (observation_domain 1, template_refresh 60 s / 20 messages, "
        "max_message_size 1472, transport tcp, reconnect_min_interval 60 s, biflow)",
        "kafka output removed: " + kafka,
        "kafka output added: " + kafka,
    };
    BOOST_TEST(lines == expected, boost::test_tools::per_element());
    BOOST_TEST(diff(after, after).empty());
}

BOOST_AUTO_TEST_CASE(attribution_pen_that_nfdump_misreads_is_a_warning) {
    const Config c = parse_config_text("[attribution]\nenabled = true\nipfix_enterprise = 65536\n" + collector, "t.toml");
    const std::vector<Problem> problems =
        check_environment(c, [](const std::string&, std::uint16_t, bool) { return std::string(); });
    bool warned = false;
    for (const Problem& p : problems)
        if (p.message.starts_with("t.toml:3:20: enterprise number 65536: nfdump keeps only the low 16 bits")) {
            warned = p.severity == Problem::Severity::warning;
            BOOST_TEST(p.message.ends_with("(attribution.ipfix_enterprise)"));
        }
    BOOST_TEST(warned);
    const Config fine = parse_config_text("[attribution]\nenabled = true\nipfix_enterprise = 65537\n" + collector, "t.toml");
    for (const Problem& p : check_environment(fine, [](const std::string&, std::uint16_t, bool) { return std::string(); }))
        BOOST_TEST(p.message.find("enterprise number") == std::string::npos, p.message);
}

BOOST_AUTO_TEST_CASE(example_file_commented_outputs_parse_when_uncommented) {
    // The commented [[collector]] and [[kafka]] examples are lines "#KEY ..." (no space
    // after '#'); uncommented, they are valid and mean what their comments say.
    std::ifstream in(EBPFIX_EXAMPLE_CONFIG);
    std::string text, line;
    while (std::getline(in, line)) {
        if (line.size() > 1 && line[0] == '#' && line[1] != ' ' && line[1] != '#') line.erase(0, 1);
        text += line + "\n";
    }
    const Config c = parse_config_text(text, "example");
    BOOST_TEST_REQUIRE(c.collectors.size() == 5u);
    BOOST_TEST(c.collectors[2].transport == Transport::tcp);
    BOOST_TEST(c.collectors[2].reconnect_min_interval_s == 60u);
    BOOST_TEST(c.collectors[3].encoder.biflow);
    BOOST_TEST(c.collectors[4].netflow5);
    BOOST_TEST_REQUIRE(c.kafka.size() == 1u);
    BOOST_TEST(c.kafka[0].topic == "flows");
    BOOST_TEST((c.kafka[0].key == KafkaKey::flow));
    BOOST_TEST(c.kafka[0].properties.at("security.protocol") == "SASL_SSL");
}
