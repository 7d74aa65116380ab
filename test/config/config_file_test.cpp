// The TOML file: every key of etc/ebpfix.toml, defaults, and the exact "FILE:LINE:COLUMN:
// message (key path)" of each class of error.
#define BOOST_TEST_MODULE config_file
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
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
               "t.toml:1:1: unknown key 'interface'; expected one of: interfaces, attach, flow, collector, log, "
               "stats, metrics, privileges (interface)");
    BOOST_TEST(error_of("[flow]\nidle_timeout = 5\n  idle = 5\n") ==
               "t.toml:3:3: unknown key 'idle'; expected one of: drain_interval, idle_timeout, active_timeout, "
               "export_interval, tcp_fin_linger, max_flows, map_entries (flow.idle)");
    BOOST_TEST(error_of(collector + "[[collector]]\naddress = \"127.0.0.1:2055\"\nport = 2055\n") ==
               "t.toml:5:1: unknown key 'port'; expected one of: protocol, address, observation_domain, "
               "template_refresh, template_refresh_messages, max_message_size (collector[1].port)");
    BOOST_TEST(error_of("[log]\nformat = \"text\"\nfiles = \"-\"\n") ==
               "t.toml:3:1: unknown key 'files'; expected one of: format, file, max_export_per_cycle (log.files)");
    BOOST_TEST(error_of("[stats]\nevery = 1\n") ==
               "t.toml:2:1: unknown key 'every'; expected one of: file, format (stats.every)");
    BOOST_TEST(error_of("[metrics]\naddress = \"127.0.0.1:9090\"\n") ==
               "t.toml:2:1: unknown key 'address'; expected one of: listen (metrics.address)");
    BOOST_TEST(error_of("[privileges]\ngroup = \"x\"\n") ==
               "t.toml:2:1: unknown key 'group'; expected one of: user (privileges.group)");
    // Control characters in a quoted key are shown escaped: the message stays one line.
    BOOST_TEST(error_of("\"a\\nb\" = 1\n") ==
               "t.toml:1:1: unknown key 'a\\x0ab'; expected one of: interfaces, attach, flow, collector, log, "
               "stats, metrics, privileges (a\\x0ab)");
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
               "t.toml:3:12: unknown protocol 'sflow'; expected ipfix or netflow9 (collector[0].protocol)");
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
    const Config good = parse_config_text("interfaces = [\"lo\"]\n"
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
    const Config bad = parse_config_text("interfaces = [\"lo\", \"ebpfix-nodev0\"]\n"
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
    BOOST_TEST(problems[1].message == "b.toml:3:11: collector no-such-host.invalid:2055: cannot resolve "
                                      "'no-such-host.invalid': Name or service not known (collector[0].address)");
    BOOST_TEST((problems[2].severity == Problem::Severity::error));
    BOOST_TEST(problems[2].message == "b.toml:7:10: metrics address 'no-such-host.invalid:9090': cannot resolve "
                                      "'no-such-host.invalid': Name or service not known (metrics.listen)");
    BOOST_TEST((problems[3].severity == Problem::Severity::error));
    BOOST_TEST(problems[3].message == "b.toml:9:8: user 'ebpfix-no-such-user': no such user (privileges.user)");
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
