// The command line: getopt_long-like parsing without global state, and --help.
#include <charconv>
#include <stdexcept>
#include <system_error>

#include "config/config.hpp"
#include "config/rules.hpp"

#ifndef EBPFIX_VERSION
#define EBPFIX_VERSION "unknown"
#endif

namespace ebpfix::config {

namespace {

enum class Opt {
    config, interface, ipfix, netflow9, log, log_file, stats_file, stats_format, drain_interval,
    active_timeout, idle_timeout, max_flows, metrics_addr, pcap, check_config, help, version
};

struct OptionSpec {
    Opt id;
    std::string_view long_name;  // without "--"
    char short_name;             // 0 = none
    std::string_view value_name; // empty = a flag without value
};

constexpr OptionSpec option_specs[] = {
    {Opt::config, "config", 'c', "FILE"},
    {Opt::interface, "interface", 'i', "IFACE"},
    {Opt::ipfix, "ipfix", 0, "HOST:PORT"},
    {Opt::netflow9, "netflow9", 0, "HOST:PORT"},
    {Opt::log, "log", 0, "text|json|none"},
    {Opt::log_file, "log-file", 0, "FILE"},
    {Opt::stats_file, "stats-file", 0, "FILE"},
    {Opt::stats_format, "stats-format", 0, "text|json"},
    {Opt::drain_interval, "drain-interval", 0, "S"},
    {Opt::active_timeout, "active-timeout", 0, "S"},
    {Opt::idle_timeout, "idle-timeout", 0, "S"},
    {Opt::max_flows, "max-flows", 0, "N"},
    {Opt::metrics_addr, "metrics-addr", 0, "HOST:PORT"},
    {Opt::pcap, "pcap", 0, "FILE"},
    {Opt::check_config, "check-config", 0, ""},
    {Opt::help, "help", 'h', ""},
    {Opt::version, "version", 'V', ""},
};

const OptionSpec* find_long(std::string_view name) {
    for (const auto& spec : option_specs)
        if (spec.long_name == name) return &spec;
    return nullptr;
}

const OptionSpec* find_short(char name) {
    for (const auto& spec : option_specs)
        if (spec.short_name != 0 && spec.short_name == name) return &spec;
    return nullptr;
}

double parse_seconds(std::string_view option, std::string_view text) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
        throw UsageError(std::string(option) + ": '" + std::string(text) + "' is not a number of seconds");
    return value;
}

std::int64_t parse_integer(std::string_view option, std::string_view text) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
        throw UsageError(std::string(option) + ": '" + std::string(text) + "' is not an integer");
    return value;
}

// Runs a detail:: check; its std::invalid_argument becomes a UsageError naming the option.
template <typename F>
auto checked(std::string_view option, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string(option) + ": " + e.what());
    }
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
    CommandLine cl;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) cl.arguments.emplace_back(argv[i] != nullptr ? argv[i] : "");

    bool options_done = false;
    for (std::size_t i = 0; i < cl.arguments.size(); ++i) {
        const std::string& arg = cl.arguments[i];
        if (options_done || arg.size() < 2 || arg[0] != '-') {
            positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }

        const OptionSpec* spec = nullptr;
        std::string shown;                 // the option as the user wrote it, for messages
        std::optional<std::string> value;  // attached value (--x=v, -cFILE)
        if (arg[1] == '-') {
            std::string_view body = std::string_view(arg).substr(2);
            auto eq = body.find('=');
            std::string_view name = body.substr(0, eq);
            if (eq != std::string_view::npos) value = std::string(body.substr(eq + 1));
            spec = find_long(name);
            shown = "--" + std::string(name);
            if (spec == nullptr) throw UsageError("unknown option '" + shown + "'");
        } else {
            spec = find_short(arg[1]);
            shown = arg.substr(0, 2);
            if (spec == nullptr) throw UsageError("unknown option '" + shown + "'");
            if (arg.size() > 2) {
                if (spec->value_name.empty()) throw UsageError("option '" + shown + "' takes no value (got '" + arg + "')");
                value = arg.substr(2);
            }
        }

        if (spec->value_name.empty()) {
            if (value) throw UsageError("option '" + shown + "' takes no value");
        } else if (!value) {
            // Like getopt: the next argument is the value even if it starts with '-' ("--log-file -").
            if (i + 1 >= cl.arguments.size())
                throw UsageError("option '" + shown + "' needs a value (" + std::string(spec->value_name) + ")");
            value = cl.arguments[++i];
        }
        const std::string v = value.value_or("");
        const std::string opt = shown;

        switch (spec->id) {
            case Opt::config:
                checked(opt, [&] { detail::check_file_name(v); });
                cl.config_file = v;
                cl.config_file_given = true;
                break;
            case Opt::interface:
                checked(opt, [&] { detail::check_interface_name(v); });
                cl.interfaces.push_back(v);
                break;
            case Opt::ipfix:
            case Opt::netflow9: {
                HostPort hp = checked(opt, [&] { return parse_host_port(v); });
                CollectorConfig collector;
                collector.host = hp.host;
                collector.port = hp.port;
                collector.encoder.protocol = spec->id == Opt::ipfix ? ipfix::Protocol::ipfix : ipfix::Protocol::netflow9;
                cl.collectors.push_back(collector);
                cl.collector_options.push_back(opt + " " + v);
                break;
            }
            case Opt::log: cl.log_format = checked(opt, [&] { return detail::parse_log_format(v); }); break;
            case Opt::log_file:
                checked(opt, [&] { detail::check_file_name(v); });
                cl.log_file = v;
                break;
            case Opt::stats_file:
                // "" turns off a stats file the configuration file asked for.
                if (!v.empty()) checked(opt, [&] { detail::check_file_name(v); });
                cl.stats_file = v;
                break;
            case Opt::stats_format: cl.stats_format = checked(opt, [&] { return detail::parse_stats_format(v); }); break;
            case Opt::drain_interval:
                cl.drain_interval_ms =
                    checked(opt, [&] { return detail::seconds_to_ms(parse_seconds(opt, v), detail::drain_interval_rule); });
                break;
            case Opt::active_timeout:
                cl.active_timeout_ms =
                    checked(opt, [&] { return detail::seconds_to_ms(parse_seconds(opt, v), detail::active_timeout_rule); });
                break;
            case Opt::idle_timeout:
                cl.idle_timeout_ms =
                    checked(opt, [&] { return detail::seconds_to_ms(parse_seconds(opt, v), detail::idle_timeout_rule); });
                break;
            case Opt::max_flows: {
                std::int64_t n = parse_integer(opt, v);
                checked(opt, [&] { detail::check_integer(n, detail::max_flows_rule); });
                cl.max_flows = static_cast<std::uint32_t>(n);
                break;
            }
            case Opt::metrics_addr:
                // "" turns off metrics the configuration file asked for.
                if (!v.empty()) checked(opt, [&] { parse_host_port(v); });
                cl.metrics_listen = v;
                break;
            case Opt::pcap:
                checked(opt, [&] { detail::check_file_name(v); });
                cl.pcap_file = v;
                break;
            case Opt::check_config: cl.check_config = true; break;
            case Opt::help: cl.show_help = true; break;
            case Opt::version: cl.show_version = true; break;
        }
    }

    if (cl.check_config) {
        // `ebpfix --check-config FILE`: the positional argument is the file to check.
        if (positional.size() > 1) throw UsageError("--check-config takes one FILE, got " + std::to_string(positional.size()));
        if (positional.size() == 1) {
            if (cl.config_file_given) throw UsageError("--check-config: give the file once, as -c FILE or as FILE");
            checked("--check-config", [&] { detail::check_file_name(positional[0]); });
            cl.config_file = positional[0];
            cl.config_file_given = true;
        }
    } else {
        for (const auto& name : positional) {
            checked("interface", [&] { detail::check_interface_name(name); });
            cl.interfaces.push_back(name);
        }
    }
    if (cl.pcap_file && !cl.interfaces.empty())
        throw UsageError("--pcap reads a capture file instead of interfaces; do not name interfaces with it");
    for (std::size_t i = 0; i < cl.interfaces.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (cl.interfaces[i] == cl.interfaces[j])
                throw UsageError("interface '" + cl.interfaces[i] + "' is named twice");
    return cl;
}

std::string version_text() { return "ebpfix " EBPFIX_VERSION "\n"; }

std::string help_text() {
    return R"(Usage: ebpfix [OPTION]... [IFACE]...
Count the packets of network interfaces with eBPF and export their flows as
IPFIX (RFC 7011) or NetFlow v9 (RFC 3954) over UDP, and/or log them.

  -c, --config FILE          configuration file (default /etc/ebpfix/ebpfix.toml,
                             read only if it exists when -c is not given)
  -i, --interface IFACE      watch IFACE; repeat for more (same as IFACE operands);
                             replaces the file's interfaces
      --ipfix HOST:PORT      export IPFIX to the collector HOST:PORT (repeatable)
      --netflow9 HOST:PORT   export NetFlow v9 to the collector HOST:PORT (repeatable);
                             collectors given here replace the file's
      --log text|json|none   flow log format (default: text when no collector is
                             configured or a log file is named, otherwise none)
      --log-file FILE        flow log file; "-" = standard output (the default)
      --stats-file FILE      write one statistics line per drain cycle to FILE
                             ("" = off)
      --stats-format text|json  statistics line format (default text)
      --drain-interval S     seconds between drains of the kernel maps (default 1)
      --active-timeout S     export a long flow every S seconds (default 60)
      --idle-timeout S       end a flow idle for S seconds (default 15)
      --max-flows N          flow table capacity (default 262144)
      --metrics-addr HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics
                             ("" = off)
      --pcap FILE            read packets from a pcap file instead of interfaces
      --check-config [FILE]  check the configuration (FILE, -c FILE or the default
                             file, with the other options) and exit: 0 if valid, 2 if not
  -h, --help                 show this help and exit
  -V, --version              show the version and exit

Options take their value as "--option VALUE" or "--option=VALUE"; seconds may be
fractional (0.5). An IPv6 HOST is written in brackets: [2001:db8::1]:4739.
Command-line options override the configuration file.

Signals: SIGHUP reloads the configuration file and reopens the output files;
SIGINT and SIGTERM export every flow and stop.
Exit status: 0 on success, 2 on bad usage or configuration, 1 on other errors.
See ebpfix(8).
)";
}

}  // namespace ebpfix::config
