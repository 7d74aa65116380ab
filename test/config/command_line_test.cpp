// The command line: every option in both spellings, usage errors, precedence over the
// file, the no-collector default, reload, and --help against the man page.
#define BOOST_TEST_MODULE command_line
#include <boost/test/unit_test.hpp>

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "printers.hpp"

using namespace ebpfix::config;
using ebpfix::ipfix::Protocol;

namespace {

CommandLine parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"ebpfix"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_command_line(int(argv.size()), argv.data());
}

std::string usage_error(std::initializer_list<const char*> args) {
    try {
        parse(args);
    } catch (const UsageError& e) {
        return e.what();
    }
    return "";
}

// A private directory for configuration files, removed at the end of the test.
class TempDir {
public:
    TempDir() {
        char name[] = "/tmp/ebpfix-cmdline-test-XXXXXX";
        if (::mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = name;
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string write(const std::string& name, const std::string& text) const {
        std::string file = path_ + "/" + name;
        std::ofstream(file) << text;
        return file;
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// resolve() reads the default path when -c is not given; tests point it at a file of
// their own so that the machine's /etc/ebpfix/ebpfix.toml never leaks in.
CommandLine parse_without_default(const TempDir& dir, std::initializer_list<const char*> args) {
    CommandLine cl = parse(args);
    if (!cl.config_file_given) cl.config_file = dir.path() + "/absent.toml";
    return cl;
}

template <typename E>
std::string error_text(const std::function<void()>& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "";
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// "--ipfix" and "-i" from the option lines of --help: lines that start with 2 or 6 spaces
// and a dash ("  -i, --interface IFACE  ...", "      --ipfix HOST:PORT  ..."), up to the
// two spaces before the description.
std::set<std::string> help_options() {
    std::set<std::string> names;
    std::istringstream in(help_text());
    std::string line;
    while (std::getline(in, line)) {
        const auto first = line.find_first_not_of(' ');
        if (first == std::string::npos || (first != 2 && first != 6) || line[first] != '-') continue;
        std::istringstream head(line.substr(first, line.find("  ", first) - first));
        std::string word;
        while (head >> word) {
            if (word.back() == ',') word.pop_back();
            if (word.starts_with("-")) names.insert(word);
        }
    }
    return names;
}

// The option names of the .TP entries in the OPTIONS section of the man page.
std::set<std::string> man_options(const std::string& man) {
    std::set<std::string> names;
    std::istringstream in(man);
    std::string line;
    bool in_options = false;
    bool after_tp = false;
    while (std::getline(in, line)) {
        if (line.starts_with(".SH")) in_options = line == ".SH OPTIONS";
        if (!in_options) continue;
        if (line == ".TP") {
            after_tp = true;
            continue;
        }
        if (!after_tp) continue;
        after_tp = false;
        // An option name is a run of troff dashes (backslash-minus) and letters or digits.
        for (std::size_t pos = line.find("\\-"); pos != std::string::npos; pos = line.find("\\-", pos)) {
            std::string name;
            while (pos < line.size()) {
                if (line.compare(pos, 2, "\\-") == 0) {
                    name += '-';
                    pos += 2;
                } else if (std::isalnum(static_cast<unsigned char>(line[pos]))) {
                    name += line[pos++];
                } else {
                    break;
                }
            }
            names.insert(name);
        }
    }
    return names;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_option_in_both_spellings) {
    const CommandLine a = parse({"-c", "/etc/x.toml", "-i", "eth0", "--interface", "eth1", "wg0", "--ipfix",
                                 "127.0.0.1:4739", "--netflow9", "[::1]:2055", "--log", "json", "--log-file",
                                 "/tmp/flows.log", "--stats-file", "/tmp/stats.log", "--stats-format", "json",
                                 "--drain-interval", "0.5", "--active-timeout", "120", "--idle-timeout", "30",
                                 "--max-flows", "1000", "--metrics-addr", "127.0.0.1:9100", "--version", "--help"});
    const CommandLine b = parse({"-c/etc/x.toml", "-ieth0", "--interface=eth1", "--", "wg0"});
    const CommandLine c = parse({"--config=/etc/x.toml", "--ipfix=127.0.0.1:4739", "--netflow9=[::1]:2055",
                                 "--log=json", "--log-file=/tmp/flows.log", "--stats-file=/tmp/stats.log",
                                 "--stats-format=json", "--drain-interval=0.5", "--active-timeout=120",
                                 "--idle-timeout=30", "--max-flows=1000", "--metrics-addr=127.0.0.1:9100", "-V", "-h"});

    for (const CommandLine* cl : {&a, &b, &c}) {
        BOOST_TEST(cl->config_file == "/etc/x.toml");
        BOOST_TEST(cl->config_file_given);
    }
    BOOST_TEST(a.interfaces == (std::vector<std::string>{"eth0", "eth1", "wg0"}));
    BOOST_TEST(b.interfaces == (std::vector<std::string>{"eth0", "eth1", "wg0"}));
    for (const CommandLine* cl : {&a, &c}) {
        BOOST_TEST_REQUIRE(cl->collectors.size() == 2u);
        BOOST_TEST(cl->collectors[0].host == "127.0.0.1");
        BOOST_TEST(cl->collectors[0].port == 4739);
        BOOST_TEST(cl->collectors[0].encoder.protocol == Protocol::ipfix);
        BOOST_TEST(cl->collectors[1].host == "::1");
        BOOST_TEST(cl->collectors[1].port == 2055);
        BOOST_TEST(cl->collectors[1].encoder.protocol == Protocol::netflow9);
        BOOST_TEST(cl->collectors[1].encoder.observation_domain == 1u);
        BOOST_TEST(cl->log_format.value() == OutputFormat::json);
        BOOST_TEST(cl->log_file.value() == "/tmp/flows.log");
        BOOST_TEST(cl->stats_file.value() == "/tmp/stats.log");
        BOOST_TEST(cl->stats_format.value() == OutputFormat::json);
        BOOST_TEST(cl->drain_interval_ms.value() == 500u);
        BOOST_TEST(cl->active_timeout_ms.value() == 120000u);
        BOOST_TEST(cl->idle_timeout_ms.value() == 30000u);
        BOOST_TEST(cl->max_flows.value() == 1000u);
        BOOST_TEST(cl->metrics_listen.value() == "127.0.0.1:9100");
        BOOST_TEST(cl->show_version);
        BOOST_TEST(cl->show_help);
    }
    BOOST_TEST(a.collector_options == (std::vector<std::string>{"--ipfix 127.0.0.1:4739", "--netflow9 [::1]:2055"}));
    BOOST_TEST(!a.check_config);  // --check-config: check_config_takes_the_operand_as_file
    BOOST_TEST(!c.check_config);
    BOOST_TEST(!b.log_format.has_value());
    BOOST_TEST(!b.show_help);
    BOOST_TEST(b.arguments == (std::vector<std::string>{"-c/etc/x.toml", "-ieth0", "--interface=eth1", "--", "wg0"}));

    const CommandLine pcap = parse({"--pcap", "/tmp/in.pcap"});
    BOOST_TEST(pcap.pcap_file.value() == "/tmp/in.pcap");
    BOOST_TEST(parse({"--pcap=/tmp/x.pcap"}).pcap_file.value() == "/tmp/x.pcap");

    const CommandLine none = parse({});
    BOOST_TEST(none.config_file == "/etc/ebpfix/ebpfix.toml");
    BOOST_TEST(!none.config_file_given);
    BOOST_TEST(none.interfaces.empty());
    BOOST_TEST(none.collectors.empty());
}

BOOST_AUTO_TEST_CASE(values_that_look_like_options_and_last_wins) {
    // Like getopt, the value of --log-file is the next argument even when it is "-".
    const CommandLine a = parse({"eth0", "--log-file", "-", "--log", "text", "--log", "json"});
    BOOST_TEST(a.log_file.value() == "-");
    BOOST_TEST(a.log_format.value() == OutputFormat::json);
    BOOST_TEST(a.interfaces == std::vector<std::string>{"eth0"});
    // "" turns off what the file set.
    const CommandLine b = parse({"--stats-file=", "--metrics-addr", ""});
    BOOST_TEST(b.stats_file.value() == "");
    BOOST_TEST(b.metrics_listen.value() == "");
    // After "--", option-like words are interface names.
    BOOST_TEST(parse({"--", "-weird"}).interfaces == std::vector<std::string>{"-weird"});
}

BOOST_AUTO_TEST_CASE(check_config_takes_the_operand_as_file) {
    const CommandLine a = parse({"--check-config", "/etc/ebpfix/test.toml", "-i", "eth3"});
    BOOST_TEST(a.check_config);
    BOOST_TEST(a.config_file == "/etc/ebpfix/test.toml");
    BOOST_TEST(a.config_file_given);
    BOOST_TEST(a.interfaces == std::vector<std::string>{"eth3"});
    const CommandLine b = parse({"-c", "/a.toml", "--check-config"});
    BOOST_TEST(b.config_file == "/a.toml");
    const CommandLine c = parse({"--check-config"});
    BOOST_TEST(c.config_file == "/etc/ebpfix/ebpfix.toml");
    BOOST_TEST(!c.config_file_given);
}

BOOST_AUTO_TEST_CASE(usage_errors) {
    BOOST_TEST(usage_error({"--frobnicate"}) == "unknown option '--frobnicate'");
    BOOST_TEST(usage_error({"--ipfix-x=1"}) == "unknown option '--ipfix-x'");
    BOOST_TEST(usage_error({"-q"}) == "unknown option '-q'");
    BOOST_TEST(usage_error({"-frobnicate=1"}) == "unknown option '-frobnicate'");
    BOOST_TEST(usage_error({"eth0", "--ipfix"}) == "option '--ipfix' needs a value (HOST:PORT)");
    BOOST_TEST(usage_error({"-c"}) == "option '-c' needs a value (FILE)");
    BOOST_TEST(usage_error({"--help=yes"}) == "option '--help' takes no value");
    BOOST_TEST(usage_error({"-hV"}) == "option '-h' takes no value (got '-hV')");
    BOOST_TEST(usage_error({"--ipfix", "127.0.0.1"}) == "--ipfix: '127.0.0.1': missing port; expected HOST:PORT");
    BOOST_TEST(usage_error({"--netflow9=::1:2055"}) ==
               "--netflow9: '::1:2055': an IPv6 address needs brackets, e.g. [2001:db8::1]:4739");
    BOOST_TEST(usage_error({"--ipfix", ":2055"}) == "--ipfix: ':2055': host is empty");
    BOOST_TEST(usage_error({"--ipfix", "h:0"}) == "--ipfix: 'h:0': port must be a number from 1 to 65535");
    BOOST_TEST(usage_error({"--metrics-addr", "localhost"}) == "--metrics-addr: 'localhost': missing port; expected HOST:PORT");
    BOOST_TEST(usage_error({"--log", "xml"}) == "--log: unknown format 'xml'; expected text, json or none");
    BOOST_TEST(usage_error({"--stats-format", "none"}) == "--stats-format: unknown format 'none'; expected text or json");
    BOOST_TEST(usage_error({"--idle-timeout", "0"}) == "--idle-timeout: must be greater than 0 seconds, got 0");
    BOOST_TEST(usage_error({"--idle-timeout", "15s"}) == "--idle-timeout: '15s' is not a number of seconds");
    BOOST_TEST(usage_error({"--active-timeout="}) == "--active-timeout: '' is not a number of seconds");
    BOOST_TEST(usage_error({"--active-timeout", "nan"}) == "--active-timeout: must be a finite number of seconds, got nan");
    BOOST_TEST(usage_error({"--drain-interval", "-1"}) == "--drain-interval: must be greater than 0 seconds, got -1");
    BOOST_TEST(usage_error({"--drain-interval", "3601"}) == "--drain-interval: must be at most 3600 seconds, got 3601");
    BOOST_TEST(usage_error({"--max-flows", "0"}) == "--max-flows: must be between 1 and 67108864, got 0");
    BOOST_TEST(usage_error({"--max-flows", "1e6"}) == "--max-flows: '1e6' is not an integer");
    BOOST_TEST(usage_error({"--max-flows", "99999999999999999999"}) == "--max-flows: '99999999999999999999' is not an integer");
    BOOST_TEST(usage_error({"-i", "a/b"}) == "-i: interface name 'a/b' may not contain '/', ':', spaces or control characters");
    BOOST_TEST(usage_error({"averyveryverylongname"}) == "interface: interface name 'averyveryverylongname' is longer than 15 bytes");
    BOOST_TEST(usage_error({"eth0", "-i", "eth0"}) == "interface 'eth0' is named twice");
    BOOST_TEST(usage_error({"--log-file", ""}) == "--log-file: file name is empty");
    BOOST_TEST(usage_error({"-c", ""}) == "-c: file name is empty");
    BOOST_TEST(usage_error({"--pcap", "x.pcap", "eth0"}) ==
               "--pcap reads a capture file instead of interfaces; do not name interfaces with it");
    BOOST_TEST(usage_error({"--check-config", "a.toml", "b.toml"}) == "--check-config takes one FILE, got 2");
    BOOST_TEST(usage_error({"--check-config", "-c", "a.toml", "b.toml"}) ==
               "--check-config: give the file once, as -c FILE or as FILE");
}

BOOST_AUTO_TEST_CASE(command_line_alone_logs_text_to_stdout) {
    TempDir dir;
    const Config c = resolve(parse_without_default(dir, {"eth0"}));
    BOOST_TEST(c.interfaces == std::vector<std::string>{"eth0"});
    BOOST_TEST(c.collectors.empty());
    BOOST_TEST(c.log_format == OutputFormat::text);
    BOOST_TEST(c.log_file == "-");
    BOOST_TEST(c.source_file == "");
    BOOST_TEST(c.idle_timeout_ms == 15000u);
    BOOST_TEST(c.command_line == std::vector<std::string>{"eth0"});

    // A collector turns the default log off; --log or --log-file turn it on again.
    BOOST_TEST(resolve(parse_without_default(dir, {"eth0", "--ipfix", "127.0.0.1:4739"})).log_format == OutputFormat::none);
    BOOST_TEST(resolve(parse_without_default(dir, {"eth0", "--ipfix", "127.0.0.1:4739", "--log", "json"})).log_format ==
               OutputFormat::json);
    const Config f = resolve(parse_without_default(dir, {"eth0", "--ipfix", "127.0.0.1:4739", "--log-file", "/tmp/f"}));
    BOOST_TEST(f.log_format == OutputFormat::text);
    BOOST_TEST(f.log_file == "/tmp/f");

    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse_without_default(dir, {"eth0", "--log", "none"})); }) ==
               "command line (--log): no collector and no flow log: flows would go nowhere; add a [[collector]] or "
               "a log format (log.format)");
    BOOST_TEST(error_text<UsageError>([&] { resolve(parse_without_default(dir, {})); }) ==
               "no interface to watch: name one (e.g. `ebpfix eth0`), or give --pcap FILE or --cgroup PATH");
    // A capture needs no interface.
    const Config p = resolve(parse_without_default(dir, {"--pcap", "/tmp/in.pcap"}));
    BOOST_TEST(p.pcap_file == "/tmp/in.pcap");
    BOOST_TEST(p.interfaces.empty());
}

BOOST_AUTO_TEST_CASE(command_line_overrides_the_file) {
    TempDir dir;
    const std::string file = dir.write("ebpfix.toml",
                                       "interfaces = [\"eth0\", \"eth1\"]\n"
                                       "attach = \"tcx\"\n"
                                       "[flow]\n"
                                       "drain_interval = 2\n"
                                       "idle_timeout = 20\n"
                                       "active_timeout = 300\n"
                                       "max_flows = 5000\n"
                                       "[[collector]]\n"
                                       "address = \"127.0.0.1:4739\"\n"
                                       "observation_domain = 9\n"
                                       "[log]\n"
                                       "file = \"/tmp/file.log\"\n"
                                       "[stats]\n"
                                       "file = \"/tmp/stats\"\n"
                                       "[metrics]\n"
                                       "listen = \"127.0.0.1:9090\"\n");

    // The file alone.
    const Config f = resolve(parse({"-c", file.c_str()}));
    BOOST_TEST(f.source_file == file);
    BOOST_TEST(f.interfaces == (std::vector<std::string>{"eth0", "eth1"}));
    BOOST_TEST(f.attach_mode == AttachModeSetting::tcx);
    BOOST_TEST(f.drain_interval_ms == 2000u);
    BOOST_TEST(f.idle_timeout_ms == 20000u);
    BOOST_TEST(f.active_timeout_ms == 300000u);
    BOOST_TEST(f.max_flows == 5000u);
    BOOST_TEST_REQUIRE(f.collectors.size() == 1u);
    BOOST_TEST(f.collectors[0].encoder.observation_domain == 9u);
    BOOST_TEST(f.log_format == OutputFormat::text);  // a log file is named
    BOOST_TEST(f.log_file == "/tmp/file.log");
    BOOST_TEST(f.stats_file == "/tmp/stats");
    BOOST_TEST(f.metrics_listen == "127.0.0.1:9090");

    // The command line wins, setting by setting; lists are replaced, not merged.
    const Config c = resolve(parse({"-c", file.c_str(), "wg0", "--netflow9", "[::1]:2055", "--netflow9",
                                    "127.0.0.2:2055", "--idle-timeout", "40", "--max-flows", "7", "--log", "json",
                                    "--stats-file=", "--metrics-addr", "[::1]:9100"}));
    BOOST_TEST(c.interfaces == std::vector<std::string>{"wg0"});
    BOOST_TEST(c.attach_mode == AttachModeSetting::tcx);
    BOOST_TEST(c.drain_interval_ms == 2000u);
    BOOST_TEST(c.idle_timeout_ms == 40000u);
    BOOST_TEST(c.active_timeout_ms == 300000u);
    BOOST_TEST(c.max_flows == 7u);
    BOOST_TEST_REQUIRE(c.collectors.size() == 2u);
    BOOST_TEST(c.collectors[0].source() == "[::1]:2055");
    BOOST_TEST(c.collectors[0].encoder.protocol == Protocol::netflow9);
    BOOST_TEST(c.collectors[0].encoder.observation_domain == 1u);
    BOOST_TEST(c.collectors[1].source() == "127.0.0.2:2055");
    BOOST_TEST(c.log_format == OutputFormat::json);
    BOOST_TEST(c.log_file == "/tmp/file.log");
    BOOST_TEST(c.stats_file == "");
    BOOST_TEST(c.metrics_listen == "[::1]:9100");
    BOOST_TEST(c.origins.at("flow.idle_timeout") == "command line (--idle-timeout)");
    BOOST_TEST(c.origins.at("flow.drain_interval") == file + ":4:18");
    BOOST_TEST(c.origins.at("collector[0].address") == "command line (--netflow9 [::1]:2055)");
    BOOST_TEST(c.origins.count("collector[0].observation_domain") == 0u);  // the file's collector is gone
    BOOST_TEST(c.origins.at("interfaces") == "command line (IFACE)");
    BOOST_TEST(c.origins.count("interfaces[1]") == 0u);

    // --pcap drops the file's interfaces.
    const Config p = resolve(parse({"-c", file.c_str(), "--pcap", "/tmp/in.pcap"}));
    BOOST_TEST(p.interfaces.empty());
    BOOST_TEST(p.pcap_file == "/tmp/in.pcap");
}

BOOST_AUTO_TEST_CASE(rules_between_file_and_command_line_name_both_places) {
    TempDir dir;
    const std::string file = dir.write("a.toml", "interfaces = [\"eth0\"]\n[flow]\ndrain_interval = 2\n");
    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse({"-c", file.c_str(), "--idle-timeout", "1.5"})); }) ==
               file + ":3:18: drain_interval (2 s) must be shorter than idle_timeout (1.5 s, set at command line "
                      "(--idle-timeout)) (flow.drain_interval)");
    // The command line can also repair the file: drain 20 with idle 15 in the file, idle 30 given.
    const std::string bad = dir.write("b.toml", "interfaces = [\"eth0\"]\n[flow]\ndrain_interval = 20\n");
    BOOST_TEST(resolve(parse({"-c", bad.c_str(), "--idle-timeout", "30"})).drain_interval_ms == 20000u);
    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse({"-c", bad.c_str()})); }) ==
               bad + ":3:18: drain_interval (20 s) must be shorter than idle_timeout (15 s) (flow.drain_interval)");
    BOOST_TEST(error_text<ConfigError>([&] {
                   resolve(parse({"-c", file.c_str(), "--ipfix", "127.0.0.1:4739", "--netflow9", "127.0.0.1:4739"}));
               }) == "command line (--netflow9 127.0.0.1:4739): collector 127.0.0.1:4739 is configured twice (first "
                     "at command line (--ipfix 127.0.0.1:4739)) (collector[1].address)");
    const std::string no_ifaces = dir.write("c.toml", "[flow]\nidle_timeout = 20\n");
    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse({"-c", no_ifaces.c_str()})); }) ==
               no_ifaces + ": no interface to watch: set interfaces = [\"eth0\"] (or capture = \"cgroup\") or name "
                           "one on the command line (interfaces)");
    BOOST_TEST(resolve(parse({"-c", no_ifaces.c_str(), "eth0"})).idle_timeout_ms == 20000u);
}

BOOST_AUTO_TEST_CASE(default_file_is_read_only_when_it_exists) {
    TempDir dir;
    CommandLine cl = parse({"eth0"});
    cl.config_file = dir.write("default.toml", "[flow]\nactive_timeout = 33\n");
    const Config c = resolve(cl);
    BOOST_TEST(c.active_timeout_ms == 33000u);
    BOOST_TEST(c.source_file == cl.config_file);

    cl.config_file = dir.path() + "/absent.toml";
    const Config d = resolve(cl);
    BOOST_TEST(d.active_timeout_ms == 60000u);
    BOOST_TEST(d.source_file == "");

    // Named with -c, a missing file is an error.
    const std::string missing = dir.path() + "/absent.toml";
    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse({"-c", missing.c_str(), "eth0"})); }) ==
               missing + ": cannot open: No such file or directory");
    // A syntax error in the file is reported even when the command line is complete.
    const std::string broken = dir.write("broken.toml", "[flow]\nidle_timeout = \n");
    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse({"--check-config", broken.c_str(), "-i", "eth0"})); }) ==
               broken + ":2:16: Error while parsing key-value pair: expected value, saw '\\n'");
}

BOOST_AUTO_TEST_CASE(reload_reads_the_file_again_with_the_same_options) {
    TempDir dir;
    const std::string file = dir.write("r.toml", "interfaces = [\"eth0\"]\n[flow]\nidle_timeout = 20\nmax_flows = 100\n");
    const Config first = resolve(parse({"-c", file.c_str(), "--max-flows", "50"}));
    BOOST_TEST(first.idle_timeout_ms == 20000u);
    BOOST_TEST(first.max_flows == 50u);

    dir.write("r.toml", "interfaces = [\"eth0\", \"eth1\"]\n[flow]\nidle_timeout = 25\nmax_flows = 200\n");
    const Config second = reload_config(first);
    BOOST_TEST(second.interfaces == (std::vector<std::string>{"eth0", "eth1"}));
    BOOST_TEST(second.idle_timeout_ms == 25000u);
    BOOST_TEST(second.max_flows == 50u);  // still the command line's
    BOOST_TEST(second.source_file == file);
    BOOST_TEST(diff(first, second) ==
                   (std::vector<std::string>{"interfaces: eth0 -> eth0, eth1", "flow.idle_timeout: 20 s -> 25 s"}),
               boost::test_tools::per_element());

    dir.write("r.toml", "interfaces = [\"eth0\"]\n[flow]\nidle_timeout = 0\n");
    BOOST_TEST(error_text<ConfigError>([&] { reload_config(first); }) ==
               file + ":3:16: must be greater than 0 seconds, got 0 (flow.idle_timeout)");
    std::filesystem::remove(file);
    BOOST_TEST(error_text<ConfigError>([&] { reload_config(first); }) == file + ": cannot open: No such file or directory");
}

BOOST_AUTO_TEST_CASE(help_matches_the_man_page_and_the_parser) {
    const std::set<std::string> expected = {
        "-c", "--config", "-i", "--interface", "--ipfix", "--netflow9", "--netflow5", "-n", "-v", "-P", "-b", "--log", "--json", "--log-file",
        "--max-export-per-cycle", "--stats-file", "--stats-format", "--drain-interval", "--active-timeout",
        "--idle-timeout", "--interval", "-t", "-m", "--max-flows", "--metrics-addr", "-r", "--pcap", "-D",
        "--verbose", "-d", "--check-config", "-h", "--help", "-V", "--version", "--attach", "--xdp", "--xdp-mode",
        "--xdp-only", "--cgroup", "--sample", "--sample-algorithm", "--exclude", "--attribution", "--per-user-log",
        "--timeout", "--summary", "--no-summary", "--dot", "--control"};
    const std::set<std::string> in_help = help_options();
    BOOST_TEST(in_help == expected, boost::test_tools::per_element());
    const std::string man = read_text(EBPFIX_MAN_PAGE);
    BOOST_TEST_REQUIRE(!man.empty());
    BOOST_TEST(man_options(man) == expected, boost::test_tools::per_element());
    BOOST_TEST(man.find("\"ebpfix " EBPFIX_VERSION "\"") != std::string::npos);

    // Every option of --help is accepted by the parser.
    const std::map<std::string, std::string> sample = {
        {"-c", "/x.toml"}, {"--config", "/x.toml"}, {"-i", "eth0"}, {"--interface", "eth0"},
        {"--ipfix", "tcp://127.0.0.1:4739"}, {"--netflow9", "127.0.0.1:2055"}, {"--netflow5", "127.0.0.1:2055"},
        {"--log", "json"},
        {"--log-file", "-"}, {"--stats-file", "/s"}, {"--stats-format", "json"}, {"--drain-interval", "0.5"},
        {"--active-timeout", "9"}, {"--idle-timeout", "9"}, {"--max-flows", "9"}, {"-m", "9"},
        {"--metrics-addr", "127.0.0.1:1"}, {"--pcap", "/p"}, {"-r", "/p"}, {"-n", "127.0.0.1:2055"},
        {"--max-export-per-cycle", "9"}, {"--interval", "9"}, {"-t", "maxlife=9"}, {"--attach", "tcx"},
        {"--xdp-mode", "native"}, {"--cgroup", "/sys/fs/cgroup"}, {"--sample", "10"}, {"--sample-algorithm", "hash"},
        {"--exclude", "10.0.0.0/8"}, {"--per-user-log", "/var/log/u"}, {"--timeout", "5s"}, {"--dot", "/g.dot"},
        {"--control", "/run/c.sock"}};
    for (const std::string& option : in_help) {
        std::vector<const char*> argv{"ebpfix", option.c_str()};
        if (auto it = sample.find(option); it != sample.end()) argv.push_back(it->second.c_str());
        // -v needs a collector of its own to apply to.
        if (option == "-v") argv.insert(argv.end(), {"10", "-n", "127.0.0.1:4739"});
        // -P and -b as well (and IPFIX).
        if (option == "-P") argv.insert(argv.end(), {"tcp", "-v", "10", "-n", "127.0.0.1:4739"});
        if (option == "-b") argv.insert(argv.end(), {"-v", "10", "-n", "127.0.0.1:4739"});
        BOOST_CHECK_NO_THROW(parse_command_line(int(argv.size()), argv.data()));
    }
    BOOST_TEST(version_text() == "ebpfix " EBPFIX_VERSION "\n");
}

BOOST_AUTO_TEST_CASE(flowcap_single_dash_long_options) {
    const CommandLine a = parse({"-interval", "5", "-timeout", "30", "-json", "-stats-file", "/tmp/s", "-metrics-addr",
                                 "127.0.0.1:9100", "-max-flows", "2048", "-max-export-per-cycle", "100", "eth0"});
    BOOST_TEST(a.interfaces == std::vector<std::string>{"eth0"});  // and not "-i nterval"
    BOOST_TEST(a.export_interval_ms.value() == 5000u);
    BOOST_TEST(a.idle_timeout_ms.value() == 30000u);
    BOOST_TEST(a.log_format.value() == OutputFormat::json);
    BOOST_TEST(a.stats_format.value() == OutputFormat::json);
    BOOST_TEST(a.stats_file.value() == "/tmp/s");
    BOOST_TEST(a.metrics_listen.value() == "127.0.0.1:9100");
    BOOST_TEST(a.max_flows.value() == 2048u);
    BOOST_TEST(a.max_export_per_cycle.value() == 100u);
    BOOST_TEST(a.spellings.at("flow.export_interval") == "-interval");
    BOOST_TEST(a.spellings.at("flow.idle_timeout") == "-timeout");
    BOOST_TEST(a.spellings.at("stats.format") == "-json");

    // Go's flag package also takes -flag=value, and every long option of ours works with one dash.
    const CommandLine b = parse({"-interval=2.5", "-timeout=30", "-metrics-addr=[::1]:9100", "-log-file", "-", "-pcap",
                                 "/tmp/in.pcap", "-verbose"});
    BOOST_TEST(b.export_interval_ms.value() == 2500u);
    BOOST_TEST(b.idle_timeout_ms.value() == 30000u);
    BOOST_TEST(b.metrics_listen.value() == "[::1]:9100");
    BOOST_TEST(b.log_file.value() == "-");
    BOOST_TEST(b.pcap_file.value() == "/tmp/in.pcap");
    BOOST_TEST(b.verbose);
    BOOST_TEST(parse({"-help"}).show_help);

    // The new long options with two dashes.
    const CommandLine c = parse({"--interval", "0", "--json", "--max-export-per-cycle=0", "--verbose"});
    BOOST_TEST(c.export_interval_ms.value() == 0u);
    BOOST_TEST(c.log_format.value() == OutputFormat::json);
    BOOST_TEST(c.max_export_per_cycle.value() == 0u);
    BOOST_TEST(c.verbose);
    BOOST_TEST(!parse({"eth0"}).verbose);

    // --json leaves an explicit stats format alone, given before or after it; a later --log wins.
    BOOST_TEST(parse({"--stats-format", "text", "-json"}).stats_format.value() == OutputFormat::text);
    BOOST_TEST(parse({"-json", "--stats-format", "text"}).stats_format.value() == OutputFormat::text);
    const CommandLine d = parse({"-json", "--log", "text"});
    BOOST_TEST(d.log_format.value() == OutputFormat::text);
    BOOST_TEST(!d.stats_format.has_value());
    BOOST_TEST(parse({"--log", "text", "--json"}).log_format.value() == OutputFormat::json);

    // A short option with its value attached is still that when it spells no long option.
    BOOST_TEST(parse({"-ieth0"}).interfaces == std::vector<std::string>{"eth0"});
    BOOST_TEST(parse({"-inter"}).interfaces == std::vector<std::string>{"nter"});
    BOOST_TEST(parse({"-c/x.toml"}).config_file == "/x.toml");

    // Errors name the option as it was written.
    BOOST_TEST(usage_error({"-interval", "x"}) == "-interval: 'x' is not a number of seconds");
    BOOST_TEST(usage_error({"-interval"}) == "option '-interval' needs a value (S)");
    BOOST_TEST(usage_error({"-timeout", "0"}) == "-timeout: must be greater than 0 seconds, got 0");
    BOOST_TEST(usage_error({"-json=true"}) == "option '-json' takes no value");
    // --timeout with two dashes is the run time (command_line_views); flowcap's -timeout stays the idle timeout.
    BOOST_TEST(!parse({"--timeout", "5"}).idle_timeout_ms.has_value());
    BOOST_TEST(parse({"-timeout", "5"}).idle_timeout_ms.value() == 5000u);
    BOOST_TEST(!parse({"-timeout", "5"}).run_timeout_ms.has_value());
    BOOST_TEST(usage_error({"-max-flows", "0"}) == "-max-flows: must be between 1 and 67108864, got 0");
    BOOST_TEST(usage_error({"--interval", "3601"}) == "--interval: must be at most 3600 seconds, got 3601");
    BOOST_TEST(usage_error({"--interval", "-1"}) == "--interval: must be 0 or more seconds, got -1");
    BOOST_TEST(usage_error({"--max-export-per-cycle", "-1"}) ==
               "--max-export-per-cycle: must be between 0 and 4294967295, got -1");
    BOOST_TEST(usage_error({"-max-export-per-cycle", "many"}) == "-max-export-per-cycle: 'many' is not an integer");
    BOOST_TEST(usage_error({"--verbose=1"}) == "option '--verbose' takes no value");
}

BOOST_AUTO_TEST_CASE(flowcap_spellings_resolve_with_their_origins) {
    TempDir dir;
    const Config c = resolve(parse_without_default(
        dir, {"-interval", "5", "-timeout", "30", "-json", "-max-export-per-cycle", "100", "eth0"}));
    BOOST_TEST(c.export_interval_ms == 5000u);
    BOOST_TEST(c.idle_timeout_ms == 30000u);
    BOOST_TEST(c.log_format == OutputFormat::json);
    BOOST_TEST(c.stats_format == OutputFormat::json);
    BOOST_TEST(c.max_export_per_cycle == 100u);
    BOOST_TEST(c.origins.at("flow.export_interval") == "command line (-interval)");
    BOOST_TEST(c.origins.at("flow.idle_timeout") == "command line (-timeout)");
    BOOST_TEST(c.origins.at("log.format") == "command line (-json)");
    BOOST_TEST(c.origins.at("stats.format") == "command line (-json)");
    BOOST_TEST(c.origins.at("log.max_export_per_cycle") == "command line (-max-export-per-cycle)");
    // Rules between settings name the spelling too.
    BOOST_TEST(error_text<ConfigError>([&] {
                   resolve(parse_without_default(dir, {"-timeout", "1", "--drain-interval", "2", "eth0"}));
               }) == "command line (--drain-interval): drain_interval (2 s) must be shorter than idle_timeout (1 s, set "
                     "at command line (-timeout)) (flow.drain_interval)");
}

BOOST_AUTO_TEST_CASE(softflowd_spellings) {
    const CommandLine a = parse({"-i", "eth0", "-n", "[::1]:2055", "-v", "10", "-t", "maxlife=5m", "-t", "general=90",
                                 "-t", "expint=2", "-t", "tcp.fin=1m", "-t", "tcp.rst=60", "-m", "65536", "-d"});
    BOOST_TEST(a.interfaces == std::vector<std::string>{"eth0"});
    BOOST_TEST_REQUIRE(a.collectors.size() == 1u);
    BOOST_TEST(a.collectors[0].host == "::1");
    BOOST_TEST(a.collectors[0].port == 2055);
    BOOST_TEST(a.collectors[0].encoder.protocol == Protocol::ipfix);
    BOOST_TEST(a.collector_options == std::vector<std::string>{"-n [::1]:2055"});
    BOOST_TEST(a.active_timeout_ms.value() == 300000u);
    BOOST_TEST(a.idle_timeout_ms.value() == 90000u);
    BOOST_TEST(a.drain_interval_ms.value() == 2000u);
    BOOST_TEST(a.tcp_fin_linger_ms.value() == 60000u);
    BOOST_TEST(a.max_flows.value() == 65536u);
    BOOST_TEST(a.spellings.at("flow.active_timeout") == "-t maxlife");
    BOOST_TEST(a.spellings.at("flow.max_flows") == "-m");

    // -v before -n works as well; a comma list is several collectors.
    const CommandLine b = parse({"-v", "9", "-n", "127.0.0.1:2055,collector.example:9995", "eth0"});
    BOOST_TEST_REQUIRE(b.collectors.size() == 2u);
    BOOST_TEST(b.collectors[0].source() == "127.0.0.1:2055");
    BOOST_TEST(b.collectors[1].source() == "collector.example:9995");
    BOOST_TEST(b.collectors[0].encoder.protocol == Protocol::netflow9);
    BOOST_TEST(b.collectors[1].encoder.protocol == Protocol::netflow9);
    BOOST_TEST(b.collector_options ==
               (std::vector<std::string>{"-n 127.0.0.1:2055", "-n collector.example:9995"}));
    // Without -v, NetFlow v5: softflowd's own default.
    BOOST_TEST(parse({"-n", "127.0.0.1:2055"}).collectors.at(0).netflow5);
    BOOST_TEST(parse({"-n", "127.0.0.1:2055"}).collectors.at(0).protocol_name() == "netflow5");
    BOOST_TEST(!parse({"-v", "10", "-n", "127.0.0.1:2055"}).collectors.at(0).netflow5);
    const CommandLine v5 = parse({"-v", "5", "-n", "127.0.0.1:2055,127.0.0.1:2056"});
    BOOST_TEST_REQUIRE(v5.collectors.size() == 2u);
    BOOST_TEST(v5.collectors[0].netflow5);
    BOOST_TEST(v5.collectors[1].netflow5);
    BOOST_TEST(v5.collectors[1].transport == Transport::udp);
    // -v applies to -n only; collectors keep the order they were given in.
    const CommandLine c = parse({"--netflow9", "127.0.0.1:2056", "-n", "127.0.0.1:4739", "-v", "10"});
    BOOST_TEST_REQUIRE(c.collectors.size() == 2u);
    BOOST_TEST(c.collectors[0].encoder.protocol == Protocol::netflow9);
    BOOST_TEST(c.collectors[1].encoder.protocol == Protocol::ipfix);

    // -r = --pcap, -D = --verbose, -m = --max-flows, -d is accepted.
    BOOST_TEST(parse({"-r", "/tmp/in.pcap"}).pcap_file.value() == "/tmp/in.pcap");
    BOOST_TEST(parse({"-r/tmp/in.pcap"}).pcap_file.value() == "/tmp/in.pcap");
    BOOST_TEST(parse({"-D"}).verbose);
    BOOST_TEST(parse({"-m9"}).max_flows.value() == 9u);
    BOOST_TEST(parse({"-d", "eth0"}).interfaces == std::vector<std::string>{"eth0"});

    // softflowd's time syntax: seconds, or a sum of NUMBER[s|m|h|d|w].
    const std::vector<std::pair<std::string, std::uint64_t>> times = {
        {"300", 300000}, {"5m", 300000}, {"1h30m", 5400000}, {"1h30", 3630000}, {"2d", 172800000},
        {"1w", 604800000}, {"90S", 90000}, {"1M", 60000}, {"0.5", 500}, {"1m1m", 120000}};
    for (const auto& [text, ms] : times) {
        const std::string arg = "general=" + text;
        BOOST_TEST(parse({"-t", arg.c_str()}).idle_timeout_ms.value() == ms, text);
    }
    BOOST_TEST(parse({"-tgeneral=5m"}).idle_timeout_ms.value() == 300000u);
    // tcp.fin and tcp.rst set the one linger; the same time twice is fine.
    BOOST_TEST(parse({"-t", "tcp.fin=10", "-t", "tcp.rst=10s"}).tcp_fin_linger_ms.value() == 10000u);
    BOOST_TEST(parse({"-t", "tcp.rst=0"}).tcp_fin_linger_ms.value() == 0u);
    BOOST_TEST(parse({"-t", "tcp.fin=10", "-t", "tcp.fin=20"}).tcp_fin_linger_ms.value() == 20000u);

    // -c stays ebpfix's configuration file.
    BOOST_TEST(parse({"-c", "/var/run/softflowd.ctl"}).config_file == "/var/run/softflowd.ctl");
}

BOOST_AUTO_TEST_CASE(softflowd_spellings_resolve_with_their_origins) {
    TempDir dir;
    const Config c = resolve(parse_without_default(
        dir, {"-i", "eth0", "-n", "[::1]:2055", "-v", "10", "-t", "maxlife=5m", "-t", "tcp.rst=3", "-m", "100"}));
    BOOST_TEST_REQUIRE(c.collectors.size() == 1u);
    BOOST_TEST(c.collectors[0].encoder.protocol == Protocol::ipfix);
    BOOST_TEST(c.active_timeout_ms == 300000u);
    BOOST_TEST(c.tcp_fin_linger_ms == 3000u);
    BOOST_TEST(c.max_flows == 100u);
    BOOST_TEST(c.origins.at("collector[0].address") == "command line (-n [::1]:2055)");
    BOOST_TEST(c.origins.at("flow.active_timeout") == "command line (-t maxlife)");
    BOOST_TEST(c.origins.at("flow.tcp_fin_linger") == "command line (-t tcp.rst)");
    BOOST_TEST(c.origins.at("flow.max_flows") == "command line (-m)");
    BOOST_TEST(error_text<ConfigError>([&] {
                   resolve(parse_without_default(dir, {"eth0", "-t", "expint=20", "-t", "general=10"}));
               }) == "command line (-t expint): drain_interval (20 s) must be shorter than idle_timeout (10 s, set at "
                     "command line (-t general)) (flow.drain_interval)");
}

BOOST_AUTO_TEST_CASE(softflowd_errors_say_what_to_use) {
    BOOST_TEST(usage_error({"-v", "1"}) == "-v 1: NetFlow v1 is not supported; use -v 5, -v 9 or -v 10");
    BOOST_TEST(usage_error({"-v", "psamp"}) == "-v psamp: PSAMP is not supported; use -v 5, -v 9 or -v 10");
    BOOST_TEST(usage_error({"-v", "8"}) ==
               "-v: unknown NetFlow version '8'; expected 5 (NetFlow v5), 9 (NetFlow v9) or 10 (IPFIX)");
    BOOST_TEST(usage_error({"-v", "10", "--ipfix", "127.0.0.1:4739"}) ==
               "-v sets the protocol of the -n collectors; give -n HOST:PORT (or use --ipfix / --netflow9 / "
               "--netflow5)");
    BOOST_TEST(usage_error({"-n", "::1:2055"}) ==
               "-n: '::1:2055': an IPv6 address needs brackets, e.g. [2001:db8::1]:4739");
    BOOST_TEST(usage_error({"-n", "127.0.0.1:2055,"}) == "-n: address is empty; expected HOST:PORT");
    BOOST_TEST(usage_error({"-n", "collector:netflow"}) ==
               "-n: 'collector:netflow': port must be a number from 1 to 65535");
    for (const char* name : {"tcp", "udp", "icmp"}) {
        const std::string arg = std::string(name) + "=60";
        BOOST_TEST(usage_error({"-t", arg.c_str()}) ==
                   "-t " + std::string(name) +
                       ": ebpfix has one idle timeout for every protocol; use --idle-timeout S (or -t general=TIME)");
    }
    BOOST_TEST(usage_error({"-t", "maxlife"}) == "-t: 'maxlife' is not NAME=TIME (e.g. -t maxlife=5m)");
    BOOST_TEST(usage_error({"-t", "bogus=5"}) ==
               "-t: unknown timeout 'bogus'; expected maxlife, general, expint, tcp.fin or tcp.rst");
    BOOST_TEST(usage_error({"-t", "maxlife=5x"}) ==
               "-t maxlife: '5x' is not a time; write seconds (300) or a sequence like 5m or 1h30m (units s, m, h, d, w)");
    BOOST_TEST(usage_error({"-t", "general="}) ==
               "-t general: '' is not a time; write seconds (300) or a sequence like 5m or 1h30m (units s, m, h, d, w)");
    BOOST_TEST(usage_error({"-t", "general=m"}).starts_with("-t general: 'm' is not a time"));
    BOOST_TEST(usage_error({"-t", "general=99999999999999999999m"}).starts_with("-t general: '99999999999999999999m' is "
                                                                               "not a time"));
    BOOST_TEST(usage_error({"-t", "general=99999999999999999999"}) ==
               "-t general: must be at most 604800 seconds, got 1e+20");
    BOOST_TEST(usage_error({"-t", "maxlife=0"}) == "-t maxlife=0: ebpfix has no unlimited flow lifetime; the longest "
                                                   "active timeout is 604800 seconds (-t maxlife=7d)");
    BOOST_TEST(usage_error({"-t", "maxlife=8d"}) == "-t maxlife: must be at most 604800 seconds, got 691200");
    BOOST_TEST(usage_error({"-t", "expint=0"}) ==
               "-t expint=0: ebpfix always drains on an interval; give one greater than 0 (-t expint=1)");
    BOOST_TEST(usage_error({"-t", "general=0"}) == "-t general: must be greater than 0 seconds, got 0");
    BOOST_TEST(usage_error({"-t", "tcp.fin=10", "-t", "tcp.rst=20"}) ==
               "-t tcp.rst=20: ebpfix has one linger for FIN and RST (flow.tcp_fin_linger); -t tcp.fin gave 10 s: "
               "give both the same time");
    BOOST_TEST(usage_error({"-i", "2:eth0"}) ==
               "-i: '2:eth0': softflowd's IFINDEX: prefix is not supported (ebpfix exports the device's own "
               "ifindex); write -i eth0");
    BOOST_TEST(usage_error({"-r", "x.pcap", "eth0"}) ==
               "-r reads a capture file instead of interfaces; do not name interfaces with it");

    // Every softflowd flag ebpfix does not take is refused by name with what to do
    // instead, with or without its value attached.
    const std::map<std::string, std::string> refused = {
        {"-a", "--pcap (-r) runs on the capture's own clock; drop -a"},
        {"-l", "every collector gets every record; drop -l"},
        {"-L", "exports use the system's default (sysctl net.ipv4.ip_default_ttl"},
        {"-N", "never puts an interface into promiscuous mode; drop -N"},
        {"-p", "let systemd track it (etc/ebpfix.service); drop -p"},
        {"-s", "write --sample N (and --sample-algorithm hash for whole flows)"},
        {"-S", "the route to the collector chooses the interface; drop -S"},
        {"-T", "keys every flow on addresses, ports, protocol, interface, direction and VLAN IDs; drop -T"},
        {"-6", "ebpfix always tracks and exports IPv6 flows; drop -6"},
        {"-A", "record times are the protocol's"},
        {"-B", "size the kernel maps with flow.map_entries"},
        {"-C", "reads the headers in the kernel whatever the packet size; drop -C"},
        {"-R", "softflowd's -R (PSAMP receive mode) is not supported"},
        {"-x", "softflowd's -x (MPLS labels) is not supported"},
    };
    for (const auto& [flag, advice] : refused) {
        for (const std::string& attached : {flag, flag + "1"}) {
            const std::string message = usage_error({attached.c_str(), "1"});
            BOOST_TEST(message.starts_with(flag + ": "), message);
            BOOST_TEST(message.find("softflowd's " + flag) != std::string::npos, message);
            BOOST_TEST(message.find(advice) != std::string::npos, message << " lacks " << advice);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_socket_as_config_file_names_the_clash_with_softflowd) {
    TempDir dir;
    const std::string path = dir.path() + "/softflowd.ctl";
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    BOOST_TEST_REQUIRE(fd >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    BOOST_TEST_REQUIRE(path.size() < sizeof address.sun_path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    ::close(fd);
    BOOST_TEST_REQUIRE(bound == 0);
    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse({"-c", path.c_str(), "eth0"})); }) ==
               path + ": is a socket, not a configuration file (softflowd's -c names its control socket; ebpfix's -c "
                      "names the configuration file)");
}

BOOST_AUTO_TEST_CASE(export_interval_defaults_and_rules) {
    TempDir dir;
    // Without a collector the log gets flowcap's 10 s snapshots; collectors get none.
    const Config alone = resolve(parse_without_default(dir, {"eth0"}));
    BOOST_TEST(alone.export_interval_ms == 10000u);
    BOOST_TEST(alone.origins.count("flow.export_interval") == 0u);
    BOOST_TEST(resolve(parse_without_default(dir, {"eth0", "--ipfix", "127.0.0.1:4739"})).export_interval_ms == 0u);
    BOOST_TEST(resolve(parse_without_default(dir, {"eth0", "-n", "127.0.0.1:2055"})).export_interval_ms == 0u);
    BOOST_TEST(resolve(parse_without_default(dir, {"eth0", "--ipfix", "127.0.0.1:4739", "--interval", "5"}))
                   .export_interval_ms == 5000u);
    const Config off = resolve(parse_without_default(dir, {"eth0", "--interval", "0"}));
    BOOST_TEST(off.export_interval_ms == 0u);
    BOOST_TEST(off.origins.at("flow.export_interval") == "command line (--interval)");
    // The default follows a drain interval longer than 10 s.
    BOOST_TEST(resolve(parse_without_default(dir, {"eth0", "--drain-interval", "12", "--idle-timeout", "30"}))
                   .export_interval_ms == 12000u);
    // A collector from the file turns the default off; one from the command line replaces it.
    const std::string file = dir.write("c.toml", "interfaces = [\"eth0\"]\n[flow]\ndrain_interval = 2\n"
                                                 "[[collector]]\naddress = \"127.0.0.1:4739\"\n");
    BOOST_TEST(resolve(parse({"-c", file.c_str()})).export_interval_ms == 0u);

    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse_without_default(dir, {"eth0", "--interval", "0.5"})); }) ==
               "command line (--interval): export_interval (0.5 s) must be 0 (off) or at least drain_interval (1 s) "
               "(flow.export_interval)");
    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse({"-c", file.c_str(), "-interval", "1"})); }) ==
               "command line (-interval): export_interval (1 s) must be 0 (off) or at least drain_interval (2 s, set "
               "at " + file + ":3:18) (flow.export_interval)");
    BOOST_TEST(resolve(parse({"-c", file.c_str(), "--interval", "2"})).export_interval_ms == 2000u);
}

BOOST_AUTO_TEST_CASE(verbose_is_resolved_and_diffed) {
    TempDir dir;
    const std::string file = dir.write("v.toml", "interfaces = [\"eth0\"]\n");
    const Config quiet = resolve(parse({"-c", file.c_str()}));
    BOOST_TEST(!quiet.verbose);
    const Config loud = resolve(parse({"-c", file.c_str(), "-D"}));
    BOOST_TEST(loud.verbose);
    BOOST_TEST(loud.origins.at("verbose") == "command line (-D)");
    BOOST_TEST(resolve(parse({"-c", file.c_str(), "--verbose"})).verbose);
    BOOST_TEST(diff(quiet, loud) == std::vector<std::string>{"verbose: off -> on"}, boost::test_tools::per_element());
    // A reload re-applies the command line: still verbose.
    BOOST_TEST(reload_config(loud).verbose);
}

BOOST_AUTO_TEST_CASE(capture_options_and_their_exclusions) {
    const CommandLine x = parse({"--xdp", "eth0"});
    BOOST_TEST(x.capture.value() == CaptureMode::xdp);
    BOOST_TEST(!x.xdp_mode.has_value());
    BOOST_TEST(!x.xdp_only);
    BOOST_TEST(x.spellings.at("capture") == "--xdp");
    // --xdp-mode and --xdp-only imply --xdp.
    const CommandLine m = parse({"--xdp-mode", "generic", "eth0"});
    BOOST_TEST(m.capture.value() == CaptureMode::xdp);
    BOOST_TEST(m.xdp_mode.value() == XdpMode::generic);
    BOOST_TEST(m.spellings.at("capture") == "--xdp-mode");
    BOOST_TEST(parse({"--xdp-mode=auto"}).xdp_mode.value() == XdpMode::automatic);
    const CommandLine o = parse({"--xdp-only", "eth0"});
    BOOST_TEST(o.capture.value() == CaptureMode::xdp);
    BOOST_TEST(o.xdp_only);
    // One dash works as for every long option.
    const CommandLine d = parse({"-xdp", "-xdp-mode=native", "-xdp-only", "eth0"});
    BOOST_TEST(d.capture.value() == CaptureMode::xdp);
    BOOST_TEST(d.xdp_mode.value() == XdpMode::native);
    BOOST_TEST(d.xdp_only);
    BOOST_TEST(d.spellings.at("capture") == "-xdp");

    const CommandLine c = parse({"--cgroup", "/sys/fs/cgroup/system.slice"});
    BOOST_TEST(c.capture.value() == CaptureMode::cgroup);
    BOOST_TEST(c.cgroup_path.value() == "/sys/fs/cgroup/system.slice");
    BOOST_TEST(parse({"-cgroup=/sys/fs/cgroup"}).cgroup_path.value() == "/sys/fs/cgroup");
    BOOST_TEST(!parse({"eth0"}).capture.has_value());

    BOOST_TEST(parse({"--attach", "clsact"}).attach_mode.value() == AttachModeSetting::clsact);
    BOOST_TEST(parse({"--attach=tcx"}).attach_mode.value() == AttachModeSetting::tcx);
    BOOST_TEST(parse({"-attach", "auto"}).attach_mode.value() == AttachModeSetting::automatic);
    BOOST_TEST(!parse({"eth0"}).attach_mode.has_value());

    BOOST_TEST(usage_error({"--attach", "xdp"}) == "--attach: unknown attach mode 'xdp'; expected auto, tcx or clsact");
    BOOST_TEST(usage_error({"--xdp-mode", "fast"}) ==
               "--xdp-mode: unknown XDP mode 'fast'; expected auto, native or generic");
    BOOST_TEST(usage_error({"--xdp=1"}) == "option '--xdp' takes no value");
    BOOST_TEST(usage_error({"--cgroup"}) == "option '--cgroup' needs a value (PATH)");
    BOOST_TEST(usage_error({"--cgroup", "sys/fs/cgroup"}) ==
               "--cgroup: cgroup path 'sys/fs/cgroup' is not absolute; write it from / (e.g. /sys/fs/cgroup)");
    BOOST_TEST(usage_error({"--cgroup="}) == "--cgroup: cgroup path is empty");
    // One capture mode per run.
    BOOST_TEST(usage_error({"--xdp", "--cgroup", "/sys/fs/cgroup"}) ==
               "--xdp and --cgroup exclude each other: XDP watches devices, cgroup mode watches sockets; choose one");
    BOOST_TEST(usage_error({"--cgroup", "/sys/fs/cgroup", "--xdp-mode", "native"}) ==
               "--xdp-mode (which implies --xdp) and --cgroup exclude each other: XDP watches devices, cgroup mode "
               "watches sockets; choose one");
    BOOST_TEST(usage_error({"--xdp-only", "--pcap", "x.pcap"}) ==
               "--xdp-only (which implies --xdp) and --pcap exclude each other: --pcap reads a capture file instead "
               "of watching devices");
    BOOST_TEST(usage_error({"-r", "x.pcap", "-xdp"}) ==
               "-xdp and -r exclude each other: -r reads a capture file instead of watching devices");
    BOOST_TEST(usage_error({"--cgroup", "/sys/fs/cgroup", "--pcap", "x.pcap"}) ==
               "--cgroup and --pcap exclude each other: --pcap reads a capture file instead of watching sockets");
    BOOST_TEST(usage_error({"--cgroup", "/sys/fs/cgroup", "eth0"}) ==
               "--cgroup: cgroup mode watches sockets, not devices; do not name interfaces with it");
    BOOST_TEST(usage_error({"-i", "eth0", "-cgroup", "/sys/fs/cgroup"}) ==
               "-cgroup: cgroup mode watches sockets, not devices; do not name interfaces with it");
}

BOOST_AUTO_TEST_CASE(capture_options_resolve_over_the_file) {
    TempDir dir;
    const std::string file = dir.write("x.toml",
                                       "interfaces = [\"eth0\", \"eth1\"]\n"
                                       "capture = \"xdp\"\n"
                                       "xdp_mode = \"native\"\n"
                                       "xdp_only = true\n"
                                       "attach = \"tcx\"\n");
    const Config f = resolve(parse({"-c", file.c_str()}));
    BOOST_TEST(f.capture == CaptureMode::xdp);
    BOOST_TEST(f.xdp_mode == XdpMode::native);
    BOOST_TEST(f.xdp_only);
    BOOST_TEST(!f.attribution);

    // --cgroup replaces the devices and drops the file's XDP settings; attribution
    // defaults to on.
    const Config c = resolve(parse({"-c", file.c_str(), "--cgroup", "/sys/fs/cgroup"}));
    BOOST_TEST(c.capture == CaptureMode::cgroup);
    BOOST_TEST(c.cgroup_path == "/sys/fs/cgroup");
    BOOST_TEST(c.interfaces.empty());
    BOOST_TEST(c.origins.count("interfaces") == 0u);
    BOOST_TEST(c.xdp_mode == XdpMode::automatic);
    BOOST_TEST(!c.xdp_only);
    BOOST_TEST(c.origins.count("xdp_mode") == 0u);
    BOOST_TEST(c.attribution);
    BOOST_TEST(c.origins.at("capture") == "command line (--cgroup)");
    BOOST_TEST(c.origins.at("cgroup") == "command line (--cgroup)");

    // --xdp-mode overrides the file's mode and keeps its xdp_only.
    const Config g = resolve(parse({"-c", file.c_str(), "-xdp-mode", "generic", "--attach", "clsact"}));
    BOOST_TEST(g.xdp_mode == XdpMode::generic);
    BOOST_TEST(g.xdp_only);
    BOOST_TEST(g.origins.at("xdp_mode") == "command line (-xdp-mode)");
    BOOST_TEST(g.origins.at("capture") == "command line (-xdp-mode)");
    BOOST_TEST(g.origins.at("xdp_only") == file + ":4:12");
    BOOST_TEST(g.attach_mode == AttachModeSetting::clsact);
    BOOST_TEST(g.origins.at("attach") == "command line (--attach)");

    // Cgroup mode needs no device: the command line alone is enough.
    const Config alone = resolve(parse_without_default(dir, {"--cgroup", "/sys/fs/cgroup/user.slice"}));
    BOOST_TEST(alone.capture == CaptureMode::cgroup);
    BOOST_TEST(alone.interfaces.empty());
    BOOST_TEST(alone.log_format == OutputFormat::text);
    BOOST_TEST(alone.attribution);
    BOOST_TEST(resolve(parse_without_default(dir, {"--attribution", "eth0"})).attribution);
    BOOST_TEST(resolve(parse_without_default(dir, {"--attribution", "eth0"})).origins.at("attribution.enabled") ==
               "command line (--attribution)");
    BOOST_TEST(!resolve(parse_without_default(dir, {"--xdp", "eth0"})).attribution);

    // The file's cgroup mode with devices from the command line: both places named.
    const std::string cgroup = dir.write("c.toml", "capture = \"cgroup\"\n");
    BOOST_TEST(resolve(parse({"-c", cgroup.c_str()})).interfaces.empty());
    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse({"-c", cgroup.c_str(), "eth0"})); }) ==
               "command line (IFACE): cgroup mode watches sockets, not devices: remove the interfaces, or set capture "
               "to \"tc\" or \"xdp\" (capture = \"cgroup\" set at " + cgroup + ":1:11) (interfaces)");
    // --xdp on the command line repairs a file that sets xdp_mode alone.
    const std::string mode_only = dir.write("m.toml", "interfaces = [\"eth0\"]\nxdp_mode = \"native\"\n");
    BOOST_TEST(error_text<ConfigError>([&] { resolve(parse({"-c", mode_only.c_str()})); }) ==
               mode_only + ":2:12: xdp_mode applies to capture = \"xdp\" only, and capture is \"tc\" (the default) "
                           "(xdp_mode)");
    const Config repaired = resolve(parse({"-c", mode_only.c_str(), "--xdp"}));
    BOOST_TEST(repaired.capture == CaptureMode::xdp);
    BOOST_TEST(repaired.xdp_mode == XdpMode::native);
}

BOOST_AUTO_TEST_CASE(sampling_and_exclude_options) {
    BOOST_TEST(parse({"--sample", "100"}).sample_interval.value() == 100u);
    BOOST_TEST(parse({"--sample=1"}).sample_interval.value() == 1u);
    BOOST_TEST(parse({"-sample", "2147483648"}).sample_interval.value() == 2147483648u);
    BOOST_TEST(!parse({"eth0"}).sample_interval.has_value());
    BOOST_TEST(usage_error({"--sample", "0"}) == "--sample: must be between 1 and 2147483648, got 0");
    BOOST_TEST(usage_error({"--sample", "2147483649"}) == "--sample: must be between 1 and 2147483648, got 2147483649");
    BOOST_TEST(usage_error({"--sample", "ten"}) == "--sample: 'ten' is not an integer");
    BOOST_TEST(parse({"--sample-algorithm", "hash"}).sample_algorithm.value() == SampleAlgorithm::hash);
    BOOST_TEST(parse({"--sample-algorithm=random"}).sample_algorithm.value() == SampleAlgorithm::random);
    BOOST_TEST(usage_error({"--sample-algorithm", "periodic"}) ==
               "--sample-algorithm: unknown sampling algorithm 'periodic'; expected random or hash");

    const CommandLine e = parse({"--exclude", "192.168.1.*", "-exclude=2001:db8::1/32", "--exclude", "10.1.2.3/8", "eth0"});
    BOOST_TEST_REQUIRE(e.exclude.size() == 3u);
    BOOST_TEST(int(e.exclude[0].family) == 4);
    BOOST_TEST(int(e.exclude[0].prefix_len) == 24);
    BOOST_TEST((e.exclude[0].addr == std::array<std::uint8_t, 16>{192, 168, 1, 0}));
    BOOST_TEST(e.exclude[0].text == "192.168.1.*");
    BOOST_TEST(int(e.exclude[1].family) == 6);
    BOOST_TEST(int(e.exclude[1].prefix_len) == 32);
    BOOST_TEST((e.exclude[1].addr == std::array<std::uint8_t, 16>{0x20, 0x01, 0x0d, 0xb8}));
    BOOST_TEST((e.exclude[2].addr == std::array<std::uint8_t, 16>{10}));
    BOOST_TEST(e.exclude[2].text == "10.1.2.3/8");
    BOOST_TEST(e.exclude_options ==
               (std::vector<std::string>{"--exclude 192.168.1.*", "-exclude 2001:db8::1/32", "--exclude 10.1.2.3/8"}));
    BOOST_TEST(usage_error({"--exclude", "10.0.0.0/33"}) ==
               "--exclude: '10.0.0.0/33': prefix length must be 0 to 32 for IPv4");
    BOOST_TEST(usage_error({"-exclude", "10.*.1.*"}) ==
               "-exclude: '10.*.1.*': a '*' octet may only be followed by more '*' octets (192.168.*.* is "
               "192.168.0.0/16)");
    BOOST_TEST(usage_error({"--exclude="}) ==
               "--exclude: exclude entry is empty; expected ADDR/LEN, ADDR or 192.168.1.*");

    TempDir dir;
    const std::string file = dir.write("e.toml",
                                       "interfaces = [\"eth0\"]\n"
                                       "[sampling]\ninterval = 10\nalgorithm = \"hash\"\n"
                                       "[filter]\nexclude = [\"10.0.0.0/8\", \"172.16.0.0/12\"]\n");
    const Config f = resolve(parse({"-c", file.c_str()}));
    BOOST_TEST(f.sample_interval == 10u);
    BOOST_TEST(f.sample_algorithm == SampleAlgorithm::hash);
    BOOST_TEST(f.exclude.size() == 2u);
    // The command line replaces the file's list, and is named in errors per entry.
    const Config c = resolve(parse({"-c", file.c_str(), "--exclude", "::1", "--sample", "1", "--sample-algorithm",
                                    "random"}));
    BOOST_TEST_REQUIRE(c.exclude.size() == 1u);
    BOOST_TEST(c.exclude[0].text == "::1");
    BOOST_TEST(c.sample_interval == 1u);
    BOOST_TEST(c.sample_algorithm == SampleAlgorithm::random);
    BOOST_TEST(c.origins.at("filter.exclude") == "command line (--exclude)");
    BOOST_TEST(c.origins.at("filter.exclude[0]") == "command line (--exclude ::1)");
    BOOST_TEST(c.origins.count("filter.exclude[1]") == 0u);
    BOOST_TEST(c.origins.at("sampling.interval") == "command line (--sample)");
    BOOST_TEST(c.origins.at("sampling.algorithm") == "command line (--sample-algorithm)");

    // 4096 entries per family fit; the 4097th IPv4 entry is named by its option.
    std::vector<std::string> words;
    for (int i = 0; i <= 4096; ++i) {
        words.push_back("--exclude");
        words.push_back("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24");
    }
    words.push_back("eth0");
    std::vector<const char*> argv{"ebpfix"};
    for (const auto& w : words) argv.push_back(w.c_str());
    CommandLine many = parse_command_line(int(argv.size()), argv.data());
    many.config_file = dir.path() + "/absent.toml";
    BOOST_TEST(error_text<ConfigError>([&] { resolve(many); }) ==
               "command line (--exclude 10.16.0.0/24): more than 4096 IPv4 entries in filter.exclude (the size of the "
               "kernel's exclude map) (filter.exclude[4096])");
    many.exclude.pop_back();
    BOOST_TEST(resolve(many).exclude.size() == 4096u);
}

BOOST_AUTO_TEST_CASE(attribution_and_view_options) {
    BOOST_TEST(parse({"--attribution"}).attribution);
    BOOST_TEST(!parse({"eth0"}).attribution);
    BOOST_TEST(usage_error({"--attribution=no"}) == "option '--attribution' takes no value");
    BOOST_TEST(parse({"--per-user-log", "/var/log/ebpfix/users"}).per_user_log.value() == "/var/log/ebpfix/users");
    BOOST_TEST(parse({"--per-user-log="}).per_user_log.value() == "");
    BOOST_TEST(parse({"--dot", "/tmp/g.dot"}).dot_file.value() == "/tmp/g.dot");
    BOOST_TEST(parse({"-dot=/tmp/g.dot"}).dot_file.value() == "/tmp/g.dot");  // not -d with "ot=..."
    BOOST_TEST(parse({"--dot="}).dot_file.value() == "");
    BOOST_TEST(parse({"--control", "/run/x.sock"}).control_socket.value() == "/run/x.sock");
    BOOST_TEST(parse({"--control="}).control_socket.value() == "");
    BOOST_TEST(usage_error({"--control", "x.sock"}) ==
               "--control: control socket path 'x.sock' is not absolute; write it from / (e.g. "
               "/run/ebpfix/control.sock), or \"\" for none");

    // --summary / --no-summary: the later one wins; unset, the daemon decides.
    BOOST_TEST(!parse({"eth0"}).summary.has_value());
    BOOST_TEST(parse({"--summary"}).summary.value());
    BOOST_TEST(!parse({"--no-summary"}).summary.value());
    BOOST_TEST(!parse({"--summary", "--no-summary"}).summary.value());
    BOOST_TEST(parse({"--no-summary", "-summary"}).summary.value());

    // --json keeps flowcap's meaning and also asks for a JSON summary; a later --log undoes both.
    const CommandLine j = parse({"--json"});
    BOOST_TEST(j.json);
    BOOST_TEST(j.log_format.value() == OutputFormat::json);
    BOOST_TEST(j.stats_format.value() == OutputFormat::json);
    BOOST_TEST(parse({"-json"}).json);
    BOOST_TEST(!parse({"--json", "--log", "text"}).json);
    BOOST_TEST(parse({"--log", "text", "--json"}).json);
    BOOST_TEST(!parse({"eth0"}).json);

    TempDir dir;
    const Config c = resolve(parse_without_default(dir, {"--per-user-log", "/var/log/u", "--dot", "/tmp/g.dot",
                                                         "--control", "", "-json", "--summary", "eth0"}));
    BOOST_TEST(c.per_user_log == "/var/log/u");
    BOOST_TEST(c.dot_file == "/tmp/g.dot");
    BOOST_TEST(c.control_socket == "");
    BOOST_TEST(c.json);
    BOOST_TEST(c.summary.value());
    BOOST_TEST(c.origins.at("log.per_user") == "command line (--per-user-log)");
    BOOST_TEST(c.origins.at("graph.dot") == "command line (--dot)");
    BOOST_TEST(c.origins.at("control") == "command line (--control)");
    BOOST_TEST(c.origins.at("json") == "command line (-json)");
    BOOST_TEST(c.origins.at("summary") == "command line (--summary)");
    BOOST_TEST(resolve(parse_without_default(dir, {"--no-summary", "eth0"})).origins.at("summary") ==
               "command line (--no-summary)");
    const Config d = resolve(parse_without_default(dir, {"eth0"}));
    BOOST_TEST(d.control_socket == "/run/ebpfix/control.sock");
    BOOST_TEST(!d.summary.has_value());
    BOOST_TEST(!d.json);
}

BOOST_AUTO_TEST_CASE(timeout_takes_seconds_and_go_durations) {
    const std::vector<std::pair<std::string, std::uint64_t>> durations = {
        {"10", 10000},         {"0.5", 500},        {"500ms", 500},      {"5s", 5000},       {"1m30s", 90000},
        {"2h", 7200000},       {"1.5h", 5400000},   {"1h2m3s", 3723000}, {"1500us", 2},      {"2000000ns", 2},
        {"1500\u00b5s", 2},    {"720h", 2592000000}, {"2592000", 2592000000}, {"90s100ms", 90100}};
    for (const auto& [text, ms] : durations) {
        const std::string arg = "--timeout=" + text;
        BOOST_TEST(parse({arg.c_str()}).run_timeout_ms.value() == ms, text);
    }
    BOOST_TEST(parse({"--timeout", "5s"}).spellings.at("timeout") == "--timeout");
    BOOST_TEST(!parse({"eth0"}).run_timeout_ms.has_value());

    const std::string advice = " is not a duration; write seconds (10, 0.5) or a Go duration like 500ms, 5s, 1m30s or 2h";
    for (const char* bad : {"5x", "", "1m30", "s", "5 s", "-5s", "1..5s", "5S"})
        BOOST_TEST(usage_error({"--timeout", bad}) == "--timeout: '" + std::string(bad) + "'" + advice, bad);
    BOOST_TEST(usage_error({"--timeout", "0"}) == "--timeout: must be greater than 0 seconds, got 0");
    BOOST_TEST(usage_error({"--timeout", "0s"}) == "--timeout: must be greater than 0 seconds, got 0");
    BOOST_TEST(usage_error({"--timeout", "-5"}) == "--timeout: must be greater than 0 seconds, got -5");
    BOOST_TEST(usage_error({"--timeout", "721h"}) == "--timeout: must be at most 2592000 seconds, got 2595600");
    BOOST_TEST(usage_error({"--timeout", "100us"}) ==
               "--timeout: must be at least 0.001 seconds (1 ms), got 0.0001");
    BOOST_TEST(usage_error({"--timeout", "nan"}) == "--timeout: must be a finite number of seconds, got nan");
    BOOST_TEST(usage_error({"--timeout"}) == "option '--timeout' needs a value (DURATION)");
}

BOOST_AUTO_TEST_CASE(a_timed_run_prints_its_summary_instead_of_the_log) {
    TempDir dir;
    // No collector, no log format, no log file: the summary is the output.
    const Config t = resolve(parse_without_default(dir, {"--timeout", "10", "eth0"}));
    BOOST_TEST(t.run_timeout_ms == 10000u);
    BOOST_TEST(t.origins.at("timeout") == "command line (--timeout)");
    BOOST_TEST(t.log_format == OutputFormat::none);
    BOOST_TEST(!t.summary.has_value());
    BOOST_TEST(t.origins.count("log.format") == 0u);
    // Any of them brings the usual defaults back.
    BOOST_TEST(resolve(parse_without_default(dir, {"--timeout", "10", "--log-file", "/tmp/f", "eth0"})).log_format ==
               OutputFormat::text);
    BOOST_TEST(resolve(parse_without_default(dir, {"--timeout", "10", "--log", "json", "eth0"})).log_format ==
               OutputFormat::json);
    BOOST_TEST(resolve(parse_without_default(dir, {"--timeout", "10", "--ipfix", "127.0.0.1:4739", "eth0"}))
                   .log_format == OutputFormat::none);
    BOOST_TEST(resolve(parse_without_default(dir, {"--timeout", "10", "--ipfix", "127.0.0.1:4739", "--log-file",
                                                   "/tmp/f", "eth0"}))
                   .log_format == OutputFormat::text);
    // Without a summary the log stays the output.
    BOOST_TEST(resolve(parse_without_default(dir, {"--timeout", "10", "--no-summary", "eth0"})).log_format ==
               OutputFormat::text);
    BOOST_TEST(resolve(parse_without_default(dir, {"--timeout", "10", "--summary", "eth0"})).log_format ==
               OutputFormat::none);
    // The same from a file's log settings: a log file there keeps the text log.
    const std::string file = dir.write("t.toml", "interfaces = [\"eth0\"]\n[log]\nfile = \"/tmp/flows\"\n");
    BOOST_TEST(resolve(parse({"-c", file.c_str(), "--timeout", "1m"})).log_format == OutputFormat::text);
    // --log none is fine when a summary takes the flows, not otherwise.
    BOOST_TEST(resolve(parse_without_default(dir, {"--log", "none", "--summary", "eth0"})).log_format ==
               OutputFormat::none);
    BOOST_TEST(resolve(parse_without_default(dir, {"--log", "none", "--timeout", "5s", "eth0"})).log_format ==
               OutputFormat::none);
    BOOST_TEST(error_text<ConfigError>([&] {
                   resolve(parse_without_default(dir, {"--timeout", "10", "--no-summary", "--log", "none", "eth0"}));
               }) == "command line (--log): no collector and no flow log: flows would go nowhere; add a [[collector]] "
                     "or a log format (log.format)");
    // A timed JSON run: the log as asked, the summary as JSON.
    const Config j = resolve(parse_without_default(dir, {"--timeout", "5s", "--json", "eth0"}));
    BOOST_TEST(j.log_format == OutputFormat::json);
    BOOST_TEST(j.json);
}

BOOST_AUTO_TEST_CASE(check_environment_names_the_new_options) {
    TempDir dir;
    const Config c = resolve(parse_without_default(
        dir, {"--cgroup", dir.path().c_str(), "--per-user-log", (dir.path() + "/absent").c_str(), "--control", ""}));
    const std::vector<Problem> problems = check_environment(c);
    BOOST_TEST_REQUIRE(problems.size() == 2u);
    BOOST_TEST((problems[0].severity == Problem::Severity::error));
    BOOST_TEST(problems[0].message.starts_with("command line (--cgroup): cgroup '" + dir.path() +
                                               "': not a cgroup v2 directory ("),
               problems[0].message);
    BOOST_TEST((problems[1].severity == Problem::Severity::error));
    BOOST_TEST(problems[1].message == "command line (--per-user-log): per-user log directory '" + dir.path() +
                                          "/absent': No such file or directory (log.per_user)");
}

BOOST_AUTO_TEST_CASE(netflow5_tcp_and_biflow_options) {
    // --netflow5 is repeatable, in order with the other collector options.
    const CommandLine a = parse({"--netflow5", "127.0.0.1:2055", "--ipfix", "tcp://127.0.0.1:4739", "--netflow5=[::1]:9995",
                                 "--ipfix", "udp://127.0.0.1:4740", "--ipfix", "127.0.0.1:4741", "--netflow9",
                                 "udp://127.0.0.1:2056"});
    BOOST_TEST_REQUIRE(a.collectors.size() == 6u);
    BOOST_TEST(a.collectors[0].netflow5);
    BOOST_TEST(a.collectors[0].source() == "127.0.0.1:2055");
    BOOST_TEST(!a.collectors[1].netflow5);
    BOOST_TEST(a.collectors[1].encoder.protocol == Protocol::ipfix);
    BOOST_TEST(a.collectors[1].transport == Transport::tcp);
    BOOST_TEST(a.collectors[1].source() == "127.0.0.1:4739");
    BOOST_TEST(a.collectors[2].netflow5);
    BOOST_TEST(a.collectors[2].source() == "[::1]:9995");
    BOOST_TEST(a.collectors[3].transport == Transport::udp);
    BOOST_TEST(a.collectors[3].source() == "127.0.0.1:4740");
    BOOST_TEST(a.collectors[4].transport == Transport::udp);
    BOOST_TEST(a.collectors[5].encoder.protocol == Protocol::netflow9);
    BOOST_TEST(a.collectors[5].transport == Transport::udp);
    BOOST_TEST(a.collector_options[1] == "--ipfix tcp://127.0.0.1:4739");
    BOOST_TEST(a.collector_options[2] == "--netflow5 [::1]:9995");

    // softflowd: -v 5, -P tcp / -P udp and -b for the -n collectors.
    const CommandLine b = parse({"-n", "127.0.0.1:4739", "-v", "10", "-P", "tcp", "-b"});
    BOOST_TEST_REQUIRE(b.collectors.size() == 1u);
    BOOST_TEST(b.collectors[0].transport == Transport::tcp);
    BOOST_TEST(b.collectors[0].encoder.biflow);
    BOOST_TEST(b.collectors[0].encoder.protocol == Protocol::ipfix);
    const CommandLine c = parse({"-Pudp", "-v", "9", "-n", "127.0.0.1:2055", "--ipfix", "tcp://127.0.0.1:4739"});
    BOOST_TEST(c.collectors[0].transport == Transport::udp);
    BOOST_TEST(c.collectors[0].encoder.protocol == Protocol::netflow9);
    BOOST_TEST(!c.collectors[0].encoder.biflow);
    BOOST_TEST(c.collectors[1].transport == Transport::tcp);  // -P applies to -n only

    BOOST_TEST(usage_error({"--netflow9", "tcp://127.0.0.1:2055"}) ==
               "--netflow9 tcp://127.0.0.1:2055: tcp:// is IPFIX only (RFC 7011 section 10.4); write --ipfix "
               "tcp://HOST:PORT");
    BOOST_TEST(usage_error({"--netflow5", "tcp://127.0.0.1:2055"}) ==
               "--netflow5 tcp://127.0.0.1:2055: tcp:// is IPFIX only (RFC 7011 section 10.4); write --ipfix "
               "tcp://HOST:PORT");
    BOOST_TEST(usage_error({"--ipfix", "sctp://127.0.0.1:4739"}) ==
               "--ipfix: unknown transport 'sctp'; expected tcp:// or udp:// (or HOST:PORT for UDP)");
    BOOST_TEST(usage_error({"--ipfix", "tcp://127.0.0.1"}) == "--ipfix: '127.0.0.1': missing port; expected HOST:PORT");
    BOOST_TEST(usage_error({"--netflow5"}) == "option '--netflow5' needs a value (HOST:PORT)");
    BOOST_TEST(usage_error({"--netflow5", "::1:2055"}) ==
               "--netflow5: '::1:2055': an IPv6 address needs brackets, e.g. [2001:db8::1]:4739");
    BOOST_TEST(usage_error({"-P", "tcp", "-n", "127.0.0.1:4739"}) ==
               "-P tcp: ebpfix exports over TCP with IPFIX only (RFC 7011 section 10.4), and -n without -v (NetFlow "
               "v5, as in softflowd) is not IPFIX; add -v 10");
    BOOST_TEST(usage_error({"-P", "tcp", "-v", "9", "-n", "127.0.0.1:4739"}) ==
               "-P tcp: ebpfix exports over TCP with IPFIX only (RFC 7011 section 10.4), and -v 9 is not IPFIX; add "
               "-v 10");
    BOOST_TEST(usage_error({"-P", "sctp"}) == "-P sctp: SCTP transport is not supported; use -P udp or -P tcp (IPFIX, -v 10)");
    BOOST_TEST(usage_error({"-P", "quic"}) == "-P: unknown transport 'quic'; expected udp or tcp");
    BOOST_TEST(usage_error({"-P", "tcp"}) ==
               "-P sets the transport of the -n collectors; give -n HOST:PORT (or use --ipfix tcp://HOST:PORT)");
    BOOST_TEST(usage_error({"-b", "--ipfix", "127.0.0.1:4739"}) ==
               "-b makes the -n collectors export biflows; give -n HOST:PORT -v 10 (or set biflow = true in a "
               "[[collector]])");
    BOOST_TEST(usage_error({"-b", "-n", "127.0.0.1:2055", "-v", "5"}) ==
               "-b: biflows (RFC 5103) are IPFIX only, and -v 5 is not IPFIX; add -v 10");
    BOOST_TEST(usage_error({"-b1"}) == "option '-b' takes no value (got '-b1')");
}

BOOST_AUTO_TEST_CASE(netflow5_and_tcp_collectors_resolve_with_their_origins) {
    TempDir dir;
    const Config c = resolve(parse_without_default(
        dir, {"eth0", "--netflow5", "127.0.0.1:2055", "--ipfix", "tcp://127.0.0.1:4739", "--ipfix", "127.0.0.1:4739"}));
    BOOST_TEST_REQUIRE(c.collectors.size() == 3u);
    BOOST_TEST(c.collectors[0].netflow5);
    BOOST_TEST(c.collectors[0].engine_type == 0u);
    BOOST_TEST(c.collectors[0].engine_id == 0u);
    BOOST_TEST(c.collectors[1].reconnect_min_interval_s == 60u);  // RFC 7011 10.4.4
    BOOST_TEST(c.origins.at("collector[0].protocol") == "command line (--netflow5 127.0.0.1:2055)");
    BOOST_TEST(c.origins.at("collector[1].transport") == "command line (--ipfix tcp://127.0.0.1:4739)");
    // UDP and TCP to the same port are two collectors; the same transport twice is refused.
    BOOST_TEST(error_text<ConfigError>([&] {
                   resolve(parse_without_default(dir, {"eth0", "--ipfix", "tcp://127.0.0.1:4739", "--ipfix",
                                                       "tcp://127.0.0.1:4739"}));
               }) == "command line (--ipfix tcp://127.0.0.1:4739): collector 127.0.0.1:4739 is configured twice (first "
                     "at command line (--ipfix tcp://127.0.0.1:4739)) (collector[1].address)");
    // v5 holds a sampling interval of at most 16383: both places are named.
    BOOST_TEST(error_text<ConfigError>([&] {
                   resolve(parse_without_default(dir, {"eth0", "--sample", "16384", "-n", "127.0.0.1:2055"}));
               }) == "command line (--sample): sampling interval 16384 does not fit a NetFlow v5 header (at most "
                     "16383): sampling.interval set at command line (--sample), collector 127.0.0.1:2055 is netflow5 "
                     "(command line (-n 127.0.0.1:2055)) (sampling.interval)");
    BOOST_TEST(resolve(parse_without_default(dir, {"eth0", "--sample", "16383", "-n", "127.0.0.1:2055"}))
                   .sample_interval == 16383u);
    // -b is an origin of its own.
    const Config b = resolve(parse_without_default(dir, {"eth0", "-n", "127.0.0.1:4739", "-v", "10", "-b"}));
    BOOST_TEST(b.collectors.at(0).encoder.biflow);
    BOOST_TEST(b.origins.at("collector[0].biflow") == "command line (-b)");
    // --check-config takes them.
    const CommandLine check = parse_without_default(dir, {"--check-config", "eth0", "--netflow5", "127.0.0.1:2055"});
    BOOST_TEST(check.check_config);
}

BOOST_AUTO_TEST_CASE(check_environment_resolves_tcp_collectors_as_streams) {
    TempDir dir;
    const Config c = resolve(parse_without_default(
        dir, {"lo", "--ipfix", "tcp://collector.invalid:4739", "--netflow5", "collector.invalid:2055"}));
    std::vector<std::pair<std::string, bool>> asked;
    const std::vector<Problem> problems = check_environment(c, [&](const std::string& host, std::uint16_t, bool stream) {
        asked.emplace_back(host, stream);
        return std::string("Name or service not known");
    });
    BOOST_TEST_REQUIRE(asked.size() == 2u);
    BOOST_TEST(asked[0].second);   // TCP
    BOOST_TEST(!asked[1].second);  // UDP
    BOOST_TEST_REQUIRE(problems.size() >= 2u);
    BOOST_TEST(problems[0].message ==
               "command line (--ipfix tcp://collector.invalid:4739): collector collector.invalid:4739: cannot resolve "
               "'collector.invalid': Name or service not known (collector[0].address)");
}
