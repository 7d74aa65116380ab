// `ebpfix top`: options, then the view fed either by a running daemon's control socket
// (attach) or by a daemon top starts for the devices it is given (standalone).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ebpfix::views {

inline constexpr const char* default_control_socket = "/run/ebpfix/control.sock";

struct TopOptions {
    std::string socket_path = default_control_socket;
    bool socket_given = false;
    std::chrono::milliseconds refresh{1000};
    std::vector<std::string> interfaces;       // standalone: the devices to hook
    // Standalone: --xdp, --xdp-mode M, --xdp-only, --cgroup PATH, --attribution as given,
    // passed on to the daemon top starts.
    std::vector<std::string> capture_options;
    bool cgroup = false;                       // --cgroup given: standalone without devices
    bool show_help = false;

    bool standalone() const { return !interfaces.empty() || cgroup; }
};

class TopUsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// args without "top". Throws TopUsageError naming the option.
TopOptions parse_top_options(const std::vector<std::string>& args);

// --refresh: seconds ("1", "0.5") or a Go duration ("500ms", "1s", "1m"), as --timeout
// takes them; 0.1 s to 1 h. Throws TopUsageError.
std::chrono::milliseconds parse_refresh(std::string_view option, std::string_view text);

// The arguments (after the program name) of the daemon a standalone top starts: the
// devices, the capture options, no flow output, the control socket at socket_path.
std::vector<std::string> standalone_daemon_arguments(const TopOptions& options, const std::string& socket_path);

std::string top_help_text();

// `ebpfix top ...` with argv[0] = "top". Returns the exit status: 0 after q/x or
// SIGINT/SIGTERM, 1 when the daemon cannot be read or goes away, 2 for bad usage.
int run_top(int argc, char** argv);

}  // namespace ebpfix::views
