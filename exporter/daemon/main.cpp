// ebpfix: count every packet with eBPF, export flows as IPFIX / NetFlow v9.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "bpf/flow_program.hpp"
#include "config/config.hpp"
#include "daemon/control_client.hpp"
#include "daemon/daemon.hpp"
#include "common/log.hpp"
#include "daemon/pcap_mode.hpp"
#include "views/top_main.hpp"

namespace {

int usage_error(const std::string& message) {
    std::fprintf(stderr, "ebpfix: %s\nTry 'ebpfix --help' for more information.\n", message.c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace ebpfix;
    // `ebpfix ctl COMMAND`: a client of a running daemon, not a daemon.
    if (argc > 1 && std::string_view(argv[1]) == "ctl") return daemon::run_ctl(argc - 1, argv + 1);
    // `ebpfix top`: the live view (of a running daemon, or of one it starts).
    if (argc > 1 && std::string_view(argv[1]) == "top") return ebpfix::views::run_top(argc - 1, argv + 1);
    // A reader that goes away (`ebpfix eth0 | head`) is an EPIPE the flow log handles,
    // not a signal that kills the daemon with its flows and hooks.
    std::signal(SIGPIPE, SIG_IGN);
    config::CommandLine cl;
    try {
        cl = config::parse_command_line(argc, argv);
    } catch (const config::UsageError& e) {
        return usage_error(e.what());
    }
    if (cl.show_help) {
        std::fputs(config::help_text().c_str(), stdout);
        return 0;
    }
    if (cl.show_version) {
        std::printf("ebpfix %s\n", EBPFIX_VERSION);
        return 0;
    }

    config::Config cfg;
    try {
        cfg = config::resolve(cl);
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "ebpfix: %s\n", e.what());
        return 2;
    } catch (const config::UsageError& e) {
        return usage_error(e.what());
    }
    if (cl.check_config) {
        // What start would find missing on this machine: errors fail the check, warnings do not.
        bool failed = false;
        for (const config::Problem& problem : config::check_environment(cfg)) {
            const bool warning = problem.severity == config::Problem::Severity::warning;
            failed = failed || !warning;
            std::fprintf(stderr, "ebpfix: %s%s\n", warning ? "warning: " : "", problem.message.c_str());
        }
        if (failed) return 2;
        std::printf("%s: configuration OK\n", cfg.source_file.empty() ? "command line" : cfg.source_file.c_str());
        return 0;
    }

    set_verbose(cfg.verbose);
    try {
        if (!cfg.pcap_file.empty()) return daemon::run_pcap(cfg);
        if (cfg.interfaces.empty() && cfg.capture != config::CaptureMode::cgroup)
            return usage_error("no interface to watch (give one, e.g. 'ebpfix eth0')");
        daemon::Daemon d(std::move(cfg));
        return d.run();
    } catch (const config::ConfigError& e) {
        log_error(e.what());  // found at start: a user, a name, a file
        return 2;
    } catch (const std::exception& e) {
        log_error(e.what());
        return 1;
    }
}
