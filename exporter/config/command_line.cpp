// The command line: getopt_long-like parsing without global state, and --help. Also
// takes the spellings of softflowd (-n, -v, -P, -b, -t NAME=TIME, -r, -d, -D, -m) and flowcap (long
// options with one dash: -interval 5), and refuses softflowd's other flags by name.
#include <charconv>
#include <stdexcept>
#include <system_error>

#include "config/config.hpp"
#include "common/duration.hpp"
#include "config/rules.hpp"

#ifndef EBPFIX_VERSION
#define EBPFIX_VERSION "unknown"
#endif

namespace ebpfix::config {

namespace {

enum class Opt {
    config, interface, ipfix, netflow9, netflow5, log, json, log_file, max_export_per_cycle, stats_file, stats_format,
    drain_interval, active_timeout, idle_timeout, interval, max_flows, metrics_addr, pcap, verbose, check_config,
    help, version,
    attach, xdp, xdp_mode, xdp_only, cgroup, sample, sample_algorithm, exclude, attribution, per_user_log, timeout,
    summary, no_summary, dot, control,
    // softflowd's: short names only.
    softflowd_collector, softflowd_version, softflowd_transport, softflowd_biflow, softflowd_timeout,
    softflowd_foreground
};

struct OptionSpec {
    Opt id;
    std::string_view long_name;  // without "--"; empty = none
    char short_name;             // 0 = none
    std::string_view value_name; // empty = a flag without value
};

constexpr OptionSpec option_specs[] = {
    {Opt::config, "config", 'c', "FILE"},
    {Opt::interface, "interface", 'i', "IFACE"},
    {Opt::ipfix, "ipfix", 0, "HOST:PORT"},
    {Opt::netflow9, "netflow9", 0, "HOST:PORT"},
    {Opt::netflow5, "netflow5", 0, "HOST:PORT"},
    {Opt::softflowd_collector, "", 'n', "HOST:PORT"},
    {Opt::softflowd_version, "", 'v', "5|9|10"},
    {Opt::softflowd_transport, "", 'P', "udp|tcp"},
    {Opt::softflowd_biflow, "", 'b', ""},
    {Opt::log, "log", 0, "text|json|none"},
    {Opt::json, "json", 0, ""},
    {Opt::log_file, "log-file", 0, "FILE"},
    {Opt::max_export_per_cycle, "max-export-per-cycle", 0, "N"},
    {Opt::stats_file, "stats-file", 0, "FILE"},
    {Opt::stats_format, "stats-format", 0, "text|json"},
    {Opt::drain_interval, "drain-interval", 0, "S"},
    {Opt::active_timeout, "active-timeout", 0, "S"},
    {Opt::idle_timeout, "idle-timeout", 0, "S"},
    {Opt::interval, "interval", 0, "S"},
    {Opt::softflowd_timeout, "", 't', "NAME=TIME"},
    {Opt::max_flows, "max-flows", 'm', "N"},
    {Opt::metrics_addr, "metrics-addr", 0, "HOST:PORT"},
    {Opt::pcap, "pcap", 'r', "FILE"},
    {Opt::verbose, "verbose", 'D', ""},
    {Opt::softflowd_foreground, "", 'd', ""},
    {Opt::check_config, "check-config", 0, ""},
    {Opt::help, "help", 'h', ""},
    {Opt::version, "version", 'V', ""},
    {Opt::attach, "attach", 0, "auto|tcx|clsact"},
    {Opt::xdp, "xdp", 0, ""},
    {Opt::xdp_mode, "xdp-mode", 0, "auto|native|generic"},
    {Opt::xdp_only, "xdp-only", 0, ""},
    {Opt::cgroup, "cgroup", 0, "PATH"},
    {Opt::sample, "sample", 0, "N"},
    {Opt::sample_algorithm, "sample-algorithm", 0, "random|hash"},
    {Opt::exclude, "exclude", 0, "CIDR"},
    {Opt::attribution, "attribution", 0, ""},
    {Opt::per_user_log, "per-user-log", 0, "DIR"},
    {Opt::timeout, "timeout", 0, "DURATION"},
    {Opt::summary, "summary", 0, ""},
    {Opt::no_summary, "no-summary", 0, ""},
    {Opt::dot, "dot", 0, "FILE"},
    {Opt::control, "control", 0, "PATH"},
};

// flowcap's names that differ from ours; only with one dash, as flowcap writes them.
struct FlowcapAlias {
    std::string_view flowcap;
    std::string_view ours;
};
constexpr FlowcapAlias flowcap_aliases[] = {
    {"timeout", "idle-timeout"},  // flowcap's inactivity timeout
};

// softflowd flags that ebpfix does not take, each with what to do instead, so that a
// softflowd command line fails clearly rather than being misread.
struct RefusedFlag {
    char letter;
    std::string_view message;
};
constexpr RefusedFlag softflowd_refused[] = {
    {'a', "softflowd's -a (adjust the times of a capture) is not needed: --pcap (-r) runs on the capture's own "
          "clock; drop -a"},
    {'l', "softflowd's -l (load balancing between -n collectors) is not supported: every collector gets every "
          "record; drop -l"},
    {'L', "softflowd's -L (TTL / hop limit of the export datagrams) is not supported: exports use the system's "
          "default (sysctl net.ipv4.ip_default_ttl, net.ipv6.conf.all.hop_limit); drop -L"},
    {'N', "softflowd's -N is not needed: ebpfix never puts an interface into promiscuous mode; drop -N"},
    {'p', "softflowd's -p (pid file) is not supported: ebpfix stays in the foreground; let systemd track it "
          "(etc/ebpfix.service); drop -p"},
    {'s', "softflowd's -s (periodic 1-in-N sampling) is not supported: ebpfix samples 1 in N packets at random "
          "or by flow hash; write --sample N (and --sample-algorithm hash for whole flows)"},
    {'S', "softflowd's -S (send interface) is not supported: the route to the collector chooses the interface; "
          "drop -S"},
    {'T', "softflowd's -T (track level) is not supported: ebpfix keys every flow on addresses, ports, protocol, "
          "interface, direction and VLAN IDs; drop -T"},
    {'6', "softflowd's -6 is not needed: ebpfix always tracks and exports IPv6 flows; drop -6"},
    {'A', "softflowd's -A (time format) is not supported: record times are the protocol's (IPFIX "
          "flowStart/EndMilliseconds, NetFlow v9 milliseconds of sysUpTime); drop -A"},
    {'B', "softflowd's -B (libpcap buffer size) does not apply: ebpfix counts in the kernel, without a capture "
          "buffer; size the kernel maps with flow.map_entries in the configuration file"},
    {'C', "softflowd's -C (capture length) does not apply: ebpfix reads the headers in the kernel whatever the "
          "packet size; drop -C"},
    {'R', "softflowd's -R (PSAMP receive mode) is not supported"},
    {'x', "softflowd's -x (MPLS labels) is not supported"},
};

// softflowd's -n protocol when -v is not given: NetFlow v5, softflowd's own default.
enum class SoftflowdVersion : std::uint8_t { v5, v9, v10 };
constexpr SoftflowdVersion softflowd_default_version = SoftflowdVersion::v5;

const OptionSpec* find_long(std::string_view name) {
    if (name.empty()) return nullptr;
    for (const auto& spec : option_specs)
        if (spec.long_name == name) return &spec;
    return nullptr;
}

// A name written after one dash: flowcap's alias for one of ours, or ours. flowcap's
// spelling comes first: -timeout is its idle timeout, --timeout (two dashes) ours.
const OptionSpec* find_single_dash_long(std::string_view name) {
    for (const auto& alias : flowcap_aliases)
        if (alias.flowcap == name) return find_long(alias.ours);
    return find_long(name);
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

// softflowd's time syntax: a number of seconds, or a sequence of NUMBER[s|m|h|d|w]
// members that add up ("300", "5m", "1h30m"); units in either case.
double parse_softflowd_time(std::string_view option, std::string_view text) {
    double plain = 0;
    auto [plain_end, plain_ec] = std::from_chars(text.data(), text.data() + text.size(), plain);
    if (!text.empty() && plain_ec == std::errc{} && plain_end == text.data() + text.size()) return plain;
    const auto bad = [&] {
        return UsageError(std::string(option) + ": " + quoted(text) +
                          " is not a time; write seconds (300) or a sequence like 5m or 1h30m (units s, m, h, d, w)");
    };
    if (text.empty()) throw bad();
    double total = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::uint64_t number = 0;
        std::size_t digits = 0;
        for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++digits) {
            // Anything this long is far past every limit; stop before it overflows.
            if (number > 1000000000000ull) throw bad();
            number = number * 10 + std::uint64_t(text[pos] - '0');
        }
        if (digits == 0) throw bad();
        double unit = 1;
        if (pos < text.size()) {
            switch (text[pos]) {
                case 's': case 'S': unit = 1; break;
                case 'm': case 'M': unit = 60; break;
                case 'h': case 'H': unit = 3600; break;
                case 'd': case 'D': unit = 86400; break;
                case 'w': case 'W': unit = 604800; break;
                default: throw bad();
            }
            ++pos;
        }
        total += double(number) * unit;
    }
    return total;
}

// --timeout: seconds ("10", "0.5") or a Go duration, a sequence of decimal NUMBER UNIT
// members, units ns, us (µs), ms, s, m, h ("500ms", "1m30s", "1.5h").
double parse_duration(std::string_view option, std::string_view text) {
    if (const auto seconds = parse_duration_seconds(text)) return *seconds;
    throw UsageError(std::string(option) + ": " + quoted(text) +
                     " is not a duration; write seconds (10, 0.5) or a Go duration like 500ms, 5s, 1m30s or 2h");
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

// softflowd's -i [IFINDEX:]IFACE: ebpfix reports the device's own ifindex.
void check_softflowd_index_prefix(std::string_view option, std::string_view name) {
    auto colon = name.find(':');
    if (colon == std::string_view::npos || colon == 0) return;
    for (char c : name.substr(0, colon))
        if (c < '0' || c > '9') return;
    throw UsageError(std::string(option) + ": " + quoted(name) +
                     ": softflowd's IFINDEX: prefix is not supported (ebpfix exports the device's own ifindex); "
                     "write " + std::string(option) + " " + std::string(name.substr(colon + 1)));
}

CollectorConfig make_collector(std::string_view option, std::string_view text, ipfix::Protocol protocol) {
    HostPort hp = checked(option, [&] { return parse_host_port(text); });
    CollectorConfig collector;
    collector.host = hp.host;
    collector.port = hp.port;
    collector.encoder.protocol = protocol;
    return collector;
}

// --ipfix [tcp://|udp://]HOST:PORT; the other collector options take udp:// at most.
CollectorConfig make_collector_url(std::string_view option, std::string_view text, ipfix::Protocol protocol,
                                   bool tcp_allowed) {
    Transport transport = Transport::udp;
    if (text.starts_with("tcp://")) {
        if (!tcp_allowed)
            throw UsageError(std::string(option) + " " + std::string(text) +
                             ": tcp:// is IPFIX only (RFC 7011 section 10.4); write --ipfix tcp://HOST:PORT");
        transport = Transport::tcp;
        text.remove_prefix(6);
    } else if (text.starts_with("udp://")) {
        text.remove_prefix(6);
    } else if (auto scheme = text.find("://"); scheme != std::string_view::npos) {
        throw UsageError(std::string(option) + ": unknown transport " + quoted(text.substr(0, scheme)) +
                         "; expected tcp:// or udp:// (or HOST:PORT for UDP)");
    }
    CollectorConfig collector = make_collector(option, text, protocol);
    collector.transport = transport;
    return collector;
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
    CommandLine cl;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) cl.arguments.emplace_back(argv[i] != nullptr ? argv[i] : "");

    std::vector<std::size_t> softflowd_collectors;    // indexes into cl.collectors; -v picks their protocol
    std::optional<SoftflowdVersion> softflowd_version;
    std::optional<Transport> softflowd_transport;     // -P
    bool softflowd_biflow = false;                    // -b
    std::string json_option;                          // set when --json was given
    std::string linger_option;                        // which -t tcp.* set the linger
    std::string xdp_option;                           // the first of --xdp, --xdp-mode, --xdp-only
    std::string cgroup_option;                        // --cgroup as written

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
        std::optional<std::string> value;  // attached value (--x=v, -x=v, -cFILE)
        std::string_view body = std::string_view(arg).substr(arg[1] == '-' ? 2 : 1);
        std::string_view name = body.substr(0, body.find('='));
        bool long_form = true;             // --name or -name: a value may follow '='
        if (arg[1] == '-') {
            spec = find_long(name);
            shown = "--" + std::string(name);
            if (spec == nullptr) {
                for (const auto& alias : flowcap_aliases)
                    if (alias.flowcap == name)
                        throw UsageError("unknown option '" + shown + "' (flowcap's -" + std::string(alias.flowcap) +
                                         " is --" + std::string(alias.ours) + ")");
                throw UsageError("unknown option '" + shown + "'");
            }
        } else if (name.size() > 1 && (spec = find_single_dash_long(name)) != nullptr) {
            // Go's flag package (flowcap): "-interval 5", "-metrics-addr=HOST:PORT".
            shown = "-" + std::string(name);
        } else {
            long_form = false;
            spec = find_short(arg[1]);
            shown = arg.substr(0, 2);
            if (spec == nullptr) {
                for (const auto& refused : softflowd_refused)
                    if (refused.letter == arg[1]) throw UsageError(shown + ": " + std::string(refused.message));
                // "-frobnicate" is more likely a long option we lack than "-f" + "robnicate".
                throw UsageError("unknown option '-" + std::string(name.size() > 1 ? name : shown.substr(1)) + "'");
            }
            if (arg.size() > 2) {
                if (spec->value_name.empty()) throw UsageError("option '" + shown + "' takes no value (got '" + arg + "')");
                value = arg.substr(2);
            }
        }
        if (auto eq = body.find('='); long_form && eq != std::string_view::npos) value = std::string(body.substr(eq + 1));

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
        auto seconds = [&](const detail::SecondsRule& rule) {
            return checked(opt, [&] { return detail::seconds_to_ms(parse_seconds(opt, v), rule); });
        };

        switch (spec->id) {
            case Opt::config:
                checked(opt, [&] { detail::check_file_name(v); });
                cl.config_file = v;
                cl.config_file_given = true;
                break;
            case Opt::interface:
                check_softflowd_index_prefix(opt, v);
                checked(opt, [&] { detail::check_interface_name(v); });
                cl.interfaces.push_back(v);
                break;
            case Opt::ipfix:
            case Opt::netflow9:
            case Opt::netflow5: {
                CollectorConfig collector = make_collector_url(
                    opt, v, spec->id == Opt::netflow9 ? ipfix::Protocol::netflow9 : ipfix::Protocol::ipfix,
                    spec->id == Opt::ipfix);
                collector.netflow5 = spec->id == Opt::netflow5;
                cl.collectors.push_back(std::move(collector));
                cl.collector_options.push_back(opt + " " + v);
                break;
            }
            case Opt::softflowd_collector: {
                // softflowd: "HOST:PORT[,HOST:PORT]..."; the protocol comes from -v, wherever it is.
                std::string_view rest = v;
                while (true) {
                    auto comma = rest.find(',');
                    std::string_view one = rest.substr(0, comma);
                    softflowd_collectors.push_back(cl.collectors.size());
                    cl.collectors.push_back(make_collector(opt, one, ipfix::Protocol::ipfix));
                    cl.collector_options.push_back(opt + " " + std::string(one));
                    if (comma == std::string_view::npos) break;
                    rest.remove_prefix(comma + 1);
                }
                break;
            }
            case Opt::softflowd_version:
                if (v == "5") {
                    softflowd_version = SoftflowdVersion::v5;
                } else if (v == "9") {
                    softflowd_version = SoftflowdVersion::v9;
                } else if (v == "10") {
                    softflowd_version = SoftflowdVersion::v10;
                } else if (v == "1") {
                    throw UsageError("-v 1: NetFlow v1 is not supported; use -v 5, -v 9 or -v 10");
                } else if (v == "psamp") {
                    throw UsageError("-v psamp: PSAMP is not supported; use -v 5, -v 9 or -v 10");
                } else {
                    throw UsageError("-v: unknown NetFlow version " + quoted(v) +
                                     "; expected 5 (NetFlow v5), 9 (NetFlow v9) or 10 (IPFIX)");
                }
                break;
            case Opt::softflowd_transport:
                if (v == "udp") {
                    softflowd_transport = Transport::udp;
                } else if (v == "tcp") {
                    softflowd_transport = Transport::tcp;
                } else if (v == "sctp") {
                    throw UsageError("-P sctp: SCTP transport is not supported; use -P udp or -P tcp (IPFIX, -v 10)");
                } else {
                    throw UsageError("-P: unknown transport " + quoted(v) + "; expected udp or tcp");
                }
                break;
            case Opt::softflowd_biflow: softflowd_biflow = true; break;
            case Opt::log:
                cl.log_format = checked(opt, [&] { return detail::parse_log_format(v); });
                cl.spellings["log.format"] = opt;
                json_option.clear();  // the later one wins
                cl.json = false;
                break;
            case Opt::json:
                cl.log_format = OutputFormat::json;
                cl.spellings["log.format"] = opt;
                json_option = opt;
                cl.json = true;
                cl.spellings["json"] = opt;
                break;
            case Opt::log_file:
                checked(opt, [&] { detail::check_file_name(v); });
                cl.log_file = v;
                cl.spellings["log.file"] = opt;
                break;
            case Opt::max_export_per_cycle: {
                std::int64_t n = parse_integer(opt, v);
                checked(opt, [&] { detail::check_integer(n, detail::max_export_per_cycle_rule); });
                cl.max_export_per_cycle = static_cast<std::uint32_t>(n);
                cl.spellings["log.max_export_per_cycle"] = opt;
                break;
            }
            case Opt::stats_file:
                // "" turns off a stats file the configuration file asked for.
                if (!v.empty()) checked(opt, [&] { detail::check_file_name(v); });
                cl.stats_file = v;
                cl.spellings["stats.file"] = opt;
                break;
            case Opt::stats_format:
                cl.stats_format = checked(opt, [&] { return detail::parse_stats_format(v); });
                cl.spellings["stats.format"] = opt;
                break;
            case Opt::drain_interval:
                cl.drain_interval_ms = seconds(detail::drain_interval_rule);
                cl.spellings["flow.drain_interval"] = opt;
                break;
            case Opt::active_timeout:
                cl.active_timeout_ms = seconds(detail::active_timeout_rule);
                cl.spellings["flow.active_timeout"] = opt;
                break;
            case Opt::idle_timeout:
                cl.idle_timeout_ms = seconds(detail::idle_timeout_rule);
                cl.spellings["flow.idle_timeout"] = opt;
                break;
            case Opt::interval:
                cl.export_interval_ms = seconds(detail::export_interval_rule);
                cl.spellings["flow.export_interval"] = opt;
                break;
            case Opt::softflowd_timeout: {
                const auto eq = v.find('=');
                if (eq == std::string::npos)
                    throw UsageError("-t: " + quoted(v) + " is not NAME=TIME (e.g. -t maxlife=5m)");
                const std::string tname = v.substr(0, eq);
                const std::string tvalue = v.substr(eq + 1);
                const std::string topt = "-t " + tname;
                auto to_ms = [&](const detail::SecondsRule& rule) {
                    return checked(topt, [&] { return detail::seconds_to_ms(parse_softflowd_time(topt, tvalue), rule); });
                };
                if (tname == "maxlife") {
                    if (parse_softflowd_time(topt, tvalue) == 0)
                        throw UsageError(topt + "=" + tvalue + ": ebpfix has no unlimited flow lifetime; the longest "
                                         "active timeout is 604800 seconds (-t maxlife=7d)");
                    cl.active_timeout_ms = to_ms(detail::active_timeout_rule);
                    cl.spellings["flow.active_timeout"] = topt;
                } else if (tname == "general") {
                    cl.idle_timeout_ms = to_ms(detail::idle_timeout_rule);
                    cl.spellings["flow.idle_timeout"] = topt;
                } else if (tname == "expint") {
                    if (parse_softflowd_time(topt, tvalue) == 0)
                        throw UsageError(topt + "=" + tvalue + ": ebpfix always drains on an interval; give one "
                                         "greater than 0 (-t expint=1)");
                    cl.drain_interval_ms = to_ms(detail::drain_interval_rule);
                    cl.spellings["flow.drain_interval"] = topt;
                } else if (tname == "tcp.fin" || tname == "tcp.rst") {
                    const std::uint64_t ms = to_ms(detail::tcp_fin_linger_rule);
                    // One linger serves both; two different values would silently lose one.
                    if (!linger_option.empty() && linger_option != topt && cl.tcp_fin_linger_ms != ms)
                        throw UsageError(topt + "=" + tvalue + ": ebpfix has one linger for FIN and RST "
                                         "(flow.tcp_fin_linger); " + linger_option + " gave " +
                                         detail::format_ms(*cl.tcp_fin_linger_ms) + ": give both the same time");
                    cl.tcp_fin_linger_ms = ms;
                    linger_option = topt;
                    cl.spellings["flow.tcp_fin_linger"] = topt;
                } else if (tname == "tcp" || tname == "udp" || tname == "icmp") {
                    throw UsageError(topt + ": ebpfix has one idle timeout for every protocol; use --idle-timeout S "
                                     "(or -t general=TIME)");
                } else {
                    throw UsageError("-t: unknown timeout " + quoted(tname) +
                                     "; expected maxlife, general, expint, tcp.fin or tcp.rst");
                }
                break;
            }
            case Opt::max_flows: {
                std::int64_t n = parse_integer(opt, v);
                checked(opt, [&] { detail::check_integer(n, detail::max_flows_rule); });
                cl.max_flows = static_cast<std::uint32_t>(n);
                cl.spellings["flow.max_flows"] = opt;
                break;
            }
            case Opt::metrics_addr:
                // "" turns off metrics the configuration file asked for.
                if (!v.empty()) checked(opt, [&] { parse_host_port(v); });
                cl.metrics_listen = v;
                cl.spellings["metrics.listen"] = opt;
                break;
            case Opt::pcap:
                checked(opt, [&] { detail::check_file_name(v); });
                cl.pcap_file = v;
                cl.spellings["pcap"] = opt;
                break;
            case Opt::verbose:
                cl.verbose = true;
                cl.spellings["verbose"] = opt;
                break;
            case Opt::attach:
                cl.attach_mode = checked(opt, [&] { return detail::parse_attach_mode(v); });
                cl.spellings["attach"] = opt;
                break;
            case Opt::xdp:
            case Opt::xdp_mode:
            case Opt::xdp_only:
                if (spec->id == Opt::xdp_mode) {
                    cl.xdp_mode = checked(opt, [&] { return detail::parse_xdp_mode(v); });
                    cl.spellings["xdp_mode"] = opt;
                } else if (spec->id == Opt::xdp_only) {
                    cl.xdp_only = true;
                    cl.spellings["xdp_only"] = opt;
                }
                // --xdp-mode and --xdp-only imply --xdp.
                if (xdp_option.empty()) {
                    xdp_option = opt;
                    cl.spellings["capture"] = opt;
                }
                cl.capture = CaptureMode::xdp;
                break;
            case Opt::cgroup:
                checked(opt, [&] { detail::check_cgroup_path(v); });
                cl.cgroup_path = v;
                cl.capture = CaptureMode::cgroup;
                cl.spellings["cgroup"] = opt;
                cl.spellings["capture"] = opt;
                cgroup_option = opt;
                break;
            case Opt::sample: {
                std::int64_t n = parse_integer(opt, v);
                checked(opt, [&] { detail::check_integer(n, detail::sample_interval_rule); });
                cl.sample_interval = static_cast<std::uint32_t>(n);
                cl.spellings["sampling.interval"] = opt;
                break;
            }
            case Opt::sample_algorithm:
                cl.sample_algorithm = checked(opt, [&] { return detail::parse_sample_algorithm(v); });
                cl.spellings["sampling.algorithm"] = opt;
                break;
            case Opt::exclude:
                cl.exclude.push_back(checked(opt, [&] { return detail::parse_cidr(v); }));
                cl.exclude_options.push_back(opt + " " + v);
                cl.spellings["filter.exclude"] = opt;
                break;
            case Opt::attribution:
                cl.attribution = true;
                cl.spellings["attribution.enabled"] = opt;
                break;
            case Opt::per_user_log:
                // "" turns off per-user logs the configuration file asked for.
                if (!v.empty()) checked(opt, [&] { detail::check_directory_name(v); });
                cl.per_user_log = v;
                cl.spellings["log.per_user"] = opt;
                break;
            case Opt::timeout:
                cl.run_timeout_ms =
                    checked(opt, [&] { return detail::seconds_to_ms(parse_duration(opt, v), detail::run_timeout_rule); });
                cl.spellings["timeout"] = opt;
                break;
            case Opt::summary:
            case Opt::no_summary:
                cl.summary = spec->id == Opt::summary;
                cl.spellings["summary"] = opt;
                break;
            case Opt::dot:
                // "" turns off a graph the configuration file asked for.
                if (!v.empty()) checked(opt, [&] { detail::check_file_name(v); });
                cl.dot_file = v;
                cl.spellings["graph.dot"] = opt;
                break;
            case Opt::control:
                // "" turns off the control socket.
                if (!v.empty()) checked(opt, [&] { detail::check_socket_path(v); });
                cl.control_socket = v;
                cl.spellings["control"] = opt;
                break;
            case Opt::softflowd_foreground: break;  // ebpfix never forks into the background
            case Opt::check_config: cl.check_config = true; break;
            case Opt::help: cl.show_help = true; break;
            case Opt::version: cl.show_version = true; break;
        }
    }

    if (softflowd_version && softflowd_collectors.empty())
        throw UsageError("-v sets the protocol of the -n collectors; give -n HOST:PORT (or use --ipfix / --netflow9 / "
                         "--netflow5)");
    if (softflowd_transport && softflowd_collectors.empty())
        throw UsageError("-P sets the transport of the -n collectors; give -n HOST:PORT (or use --ipfix tcp://HOST:PORT)");
    if (softflowd_biflow && softflowd_collectors.empty())
        throw UsageError("-b makes the -n collectors export biflows; give -n HOST:PORT -v 10 (or set biflow = true in a "
                         "[[collector]])");
    const SoftflowdVersion version = softflowd_version.value_or(softflowd_default_version);
    const std::string version_text = softflowd_version ? "-v " + std::string(version == SoftflowdVersion::v5   ? "5"
                                                                             : version == SoftflowdVersion::v9 ? "9"
                                                                                                               : "10")
                                                       : std::string("-n without -v (NetFlow v5, as in softflowd)");
    if (softflowd_transport == Transport::tcp && version != SoftflowdVersion::v10)
        throw UsageError("-P tcp: ebpfix exports over TCP with IPFIX only (RFC 7011 section 10.4), and " + version_text +
                         " is not IPFIX; add -v 10");
    if (softflowd_biflow && version != SoftflowdVersion::v10)
        throw UsageError("-b: biflows (RFC 5103) are IPFIX only, and " + version_text + " is not IPFIX; add -v 10");
    for (std::size_t index : softflowd_collectors) {
        CollectorConfig& collector = cl.collectors[index];
        collector.netflow5 = version == SoftflowdVersion::v5;
        collector.encoder.protocol = version == SoftflowdVersion::v9 ? ipfix::Protocol::netflow9 : ipfix::Protocol::ipfix;
        collector.transport = softflowd_transport.value_or(Transport::udp);
        collector.encoder.biflow = softflowd_biflow;
    }
    // flowcap's -json writes both the flow log and the stats file as JSON.
    if (!json_option.empty() && !cl.stats_format) {
        cl.stats_format = OutputFormat::json;
        cl.spellings["stats.format"] = json_option;
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
            check_softflowd_index_prefix("interface", name);
            checked("interface", [&] { detail::check_interface_name(name); });
            cl.interfaces.push_back(name);
        }
    }
    if (cl.pcap_file && !cl.interfaces.empty())
        throw UsageError(cl.spellings["pcap"] +
                         " reads a capture file instead of interfaces; do not name interfaces with it");
    // One capture mode per run.
    const std::string xdp_shown = xdp_option == "--xdp" || xdp_option == "-xdp" || xdp_option.empty()
                                      ? xdp_option
                                      : xdp_option + " (which implies --xdp)";
    if (!xdp_option.empty() && !cgroup_option.empty())
        throw UsageError(xdp_shown + " and " + cgroup_option +
                         " exclude each other: XDP watches devices, cgroup mode watches sockets; choose one");
    if (cl.pcap_file && !xdp_option.empty())
        throw UsageError(xdp_shown + " and " + cl.spellings["pcap"] + " exclude each other: " + cl.spellings["pcap"] +
                         " reads a capture file instead of watching devices");
    if (cl.pcap_file && !cgroup_option.empty())
        throw UsageError(cgroup_option + " and " + cl.spellings["pcap"] + " exclude each other: " +
                         cl.spellings["pcap"] + " reads a capture file instead of watching sockets");
    if (!cgroup_option.empty() && !cl.interfaces.empty())
        throw UsageError(cgroup_option + ": cgroup mode watches sockets, not devices; do not name interfaces with it");
    for (std::size_t i = 0; i < cl.interfaces.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (cl.interfaces[i] == cl.interfaces[j])
                throw UsageError("interface '" + cl.interfaces[i] + "' is named twice");
    return cl;
}

std::string version_text() { return "ebpfix " EBPFIX_VERSION "\n"; }

std::string help_text() {
    return R"(Usage: ebpfix [OPTION]... [IFACE]...
   or: ebpfix top [--socket PATH] [IFACE]...    the live view (ebpfix top --help)
   or: ebpfix ctl COMMAND                       ask a running ebpfix (ebpfix ctl --help)
Count the packets of network interfaces with eBPF and export their flows as
IPFIX (RFC 7011, over UDP or TCP), NetFlow v9 (RFC 3954) or NetFlow v5 over UDP,
or to Kafka ([[kafka]] in the configuration file), and/or log them.

  -c, --config FILE          configuration file (default /etc/ebpfix/ebpfix.toml,
                             read only if it exists when -c is not given)
  -i, --interface IFACE      watch IFACE; repeat for more (same as IFACE operands);
                             replaces the file's interfaces
      --ipfix [tcp://|udp://]HOST:PORT
                             export IPFIX to the collector HOST:PORT over UDP (the
                             default) or TCP (repeatable)
      --netflow9 HOST:PORT   export NetFlow v9 to the collector HOST:PORT (repeatable)
      --netflow5 HOST:PORT   export NetFlow v5 to the collector HOST:PORT (repeatable;
                             IPv4 only: IPv6 flows are counted as not exportable);
                             collectors given here replace the file's
  -n HOST:PORT[,HOST:PORT]   softflowd's collector option: export with the -v
                             protocol (repeatable)
  -v 5|9|10                  protocol of the -n collectors: 5 = NetFlow v5 (the
                             default, as in softflowd), 9 = NetFlow v9, 10 = IPFIX
  -P udp|tcp                 transport of the -n collectors (default udp; tcp needs
                             -v 10)
  -b                         the -n collectors get RFC 5103 biflows (needs -v 10)
      --log text|json|none   flow log format (default: text when no collector is
                             configured or a log file is named, otherwise none;
                             none for a --timeout run without either)
      --json                 --log json, and --stats-format json unless that is given;
                             the summary is JSON too
      --log-file FILE        flow log file; "-" = standard output (the default)
      --max-export-per-cycle N  at most N flow log lines per drain cycle; the rest
                             wait for the next cycle (default 0 = no limit)
      --stats-file FILE      write one statistics line per drain cycle to FILE
                             ("" = off)
      --stats-format text|json  statistics line format (default text)
      --drain-interval S     seconds between drains of the kernel maps (default 1)
      --active-timeout S     export a long flow every S seconds (default 60)
      --idle-timeout S       end a flow idle for S seconds (default 15)
      --interval S           every S seconds, export every flow that has new packets
                             (0 = off; default 10 without a collector, else 0)
  -t NAME=TIME               softflowd's timeouts: maxlife (--active-timeout),
                             general (--idle-timeout), expint (--drain-interval),
                             tcp.fin and tcp.rst (the FIN/RST linger); TIME as in
                             softflowd: 300, 5m, 1h30m
  -m, --max-flows N          flow table capacity (default 262144)
      --metrics-addr HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics
                             ("" = off)
  -r, --pcap FILE            read packets from a pcap file instead of interfaces
  -D, --verbose              show libbpf and verifier output and debug messages
  -d                         run in the foreground (accepted for softflowd; ebpfix
                             always does)
      --check-config [FILE]  check the configuration (FILE, -c FILE or the default
                             file, with the other options) and exit: 0 if valid, 2 if not
  -h, --help                 show this help and exit
  -V, --version              show the version and exit

Capture:
      --attach auto|tcx|clsact  how to hook the devices: TCX links, a clsact qdisc,
                             or auto (TCX where the kernel has it; the default)
      --xdp                  count ingress with XDP; egress stays on TC
      --xdp-mode auto|native|generic  XDP in the driver (native), in the stack
                             (generic) or native where the driver can (auto, the
                             default); implies --xdp
      --xdp-only             XDP ingress only, no TC egress hook; implies --xdp
      --cgroup PATH          count the sockets of the cgroup v2 directory PATH
                             (e.g. /sys/fs/cgroup) instead of devices; name no IFACE.
                             --xdp, --cgroup and --pcap exclude each other

Sampling and filters:
      --sample N             sample 1 packet in N (1..2147483648; default 1 = every
                             packet)
      --sample-algorithm random|hash  random: each packet with chance 1/N (the
                             default); hash: whole flows, 1 flow in N
      --exclude CIDR         do not count traffic from or to CIDR: ADDR/LEN, ADDR or
                             192.168.1.* (repeatable; replaces the file's list)

Attribution:
      --attribution          name the process, user and cgroup of each flow
                             (default: on with --cgroup, else off)
      --per-user-log DIR     also write a flow log per user in the directory DIR
                             ("" = off)

Views:
      --timeout DURATION     stop after DURATION: seconds (10, 0.5) or 500ms, 5s,
                             1m30s, 2h; at most 30 days. With no collector, log
                             format or log file, a timed run logs no flows: the
                             summary is its output
      --summary, --no-summary  print a summary table at exit, or not (default: on
                             for a --timeout run, else off)
      --dot FILE             write a Graphviz graph of the flows to FILE ("" = off)
      --control PATH         control socket for live views (default
                             /run/ebpfix/control.sock; "" = off)

Options take their value as "--option VALUE" or "--option=VALUE"; seconds may be
fractional (0.5). A long option may also be written with one dash, as flowcap
does: -interval 5, -json; flowcap's -timeout (one dash) is --idle-timeout, while
--timeout (two dashes) is the run time.
An IPv6 HOST is written in brackets: [2001:db8::1]:4739.
Command-line options override the configuration file.
-c is the configuration file, not softflowd's control socket; softflowd's other
options are refused with what to use instead.

Signals: SIGHUP reloads the configuration file and reopens the output files;
SIGINT and SIGTERM export every flow and stop.
Exit status: 0 on success, 2 on bad usage or configuration, 1 on other errors.
See ebpfix(8).
)";
}

}  // namespace ebpfix::config
