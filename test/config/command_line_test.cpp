// The command line: every option in both spellings, usage errors, precedence over the
// file, the no-collector default, reload, and --help against the man page.
#define BOOST_TEST_MODULE command_line
#include <boost/test/unit_test.hpp>

#include <stdlib.h>

#include <cctype>
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
    BOOST_TEST(usage_error({"-x"}) == "unknown option '-x'");
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
               "no interface to watch: name one (e.g. `ebpfix eth0`) or give --pcap FILE");
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
               no_ifaces + ": no interface to watch: set interfaces = [\"eth0\"] or name one on the command line "
                           "(interfaces)");
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
        "-c", "--config", "-i", "--interface", "--ipfix", "--netflow9", "--log", "--log-file", "--stats-file",
        "--stats-format", "--drain-interval", "--active-timeout", "--idle-timeout", "--max-flows",
        "--metrics-addr", "--pcap", "--check-config", "-h", "--help", "-V", "--version"};
    const std::set<std::string> in_help = help_options();
    BOOST_TEST(in_help == expected, boost::test_tools::per_element());
    const std::string man = read_text(EBPFIX_MAN_PAGE);
    BOOST_TEST_REQUIRE(!man.empty());
    BOOST_TEST(man_options(man) == expected, boost::test_tools::per_element());
    BOOST_TEST(man.find("\"ebpfix " EBPFIX_VERSION "\"") != std::string::npos);

    // Every option of --help is accepted by the parser.
    const std::map<std::string, std::string> sample = {
        {"-c", "/x.toml"}, {"--config", "/x.toml"}, {"-i", "eth0"}, {"--interface", "eth0"},
        {"--ipfix", "127.0.0.1:4739"}, {"--netflow9", "127.0.0.1:2055"}, {"--log", "json"},
        {"--log-file", "-"}, {"--stats-file", "/s"}, {"--stats-format", "json"}, {"--drain-interval", "0.5"},
        {"--active-timeout", "9"}, {"--idle-timeout", "9"}, {"--max-flows", "9"},
        {"--metrics-addr", "127.0.0.1:1"}, {"--pcap", "/p"}};
    for (const std::string& option : in_help) {
        std::vector<const char*> argv{"ebpfix", option.c_str()};
        if (auto it = sample.find(option); it != sample.end()) argv.push_back(it->second.c_str());
        BOOST_CHECK_NO_THROW(parse_command_line(int(argv.size()), argv.data()));
    }
    BOOST_TEST(version_text() == "ebpfix " EBPFIX_VERSION "\n");
}
