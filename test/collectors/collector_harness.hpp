// Running real collectors (nfcapd/nfdump, tshark) from tests: child processes that are
// always killed by PID, tool checks that skip visibly or fail under CI, loopback UDP
// senders and the parsers for the tools' text output.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ebpfix::test {

bool on_path(const std::string& tool);

// When a tool is missing: under CI (CI set) print FAILED and exit 1; otherwise print
// SKIPPED and exit 77 (CTest "Skipped").
void require_tools(const std::vector<std::string>& tools, const std::string& what);

// A child process started with fork/exec; stdout and stderr go to output_file. The
// destructor kills it (SIGKILL, by PID) and reaps it if it is still running, so every
// path out of a test, failures included, cleans up.
class ChildProcess {
public:
    ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& output_file,
                 const std::map<std::string, std::string>& extra_env = {});
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const noexcept { return pid_; }
    bool running();
    // Waits for the exit; the wait status, or nullopt on timeout (the child keeps running).
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    // Sends sig and waits; on timeout kills with SIGKILL and throws.
    int stop(int sig, std::chrono::milliseconds timeout);
    const std::filesystem::path& output_file() const noexcept { return output_; }
    std::string output() const;

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::filesystem::path output_;
    std::string name_;
};

struct CommandResult {
    int exit_code = -1;  // -1: killed by a signal or timed out
    std::string output;  // stdout and stderr
};
// Runs a command to completion (killed after timeout); never through a shell.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::map<std::string, std::string>& extra_env = {});

// Waits until a UDP socket is bound to port in this network namespace (/proc/net/udp6
// when ipv6). Throws on timeout.
void wait_for_udp_port(std::uint16_t port, bool ipv6, std::chrono::milliseconds timeout);
// Waits until the file contains needle. Throws on timeout (with the file's text).
void wait_for_text(const std::filesystem::path& file, const std::string& needle, std::chrono::milliseconds timeout);

// Sends each datagram to a loopback address (127.0.0.1 or ::1 only: anything else throws).
void send_udp(const std::string& loopback_address, std::uint16_t port,
              const std::vector<std::vector<std::uint8_t>>& datagrams);

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
public:
    explicit TempDir(const std::string& prefix);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

// `nfdump -o raw` output: one map per "Flow Record:" block, keys as printed ("src addr",
// "in packets", "first", ...), values trimmed (the raw value before any "[...]").
std::vector<std::map<std::string, std::string>> parse_nfdump_raw(const std::string& text);

// `tshark -V` output of cflow packets: one map per "Flow N" block of a data set, keys as
// printed ("SrcAddr", "Packets", "StartTime", ...), values after ": ". A repeated key gets
// " #2", " #3" appended.
struct TsharkFlow {
    std::size_t frame = 0;
    std::map<std::string, std::string> fields;
};
std::vector<TsharkFlow> parse_tshark_flows(const std::string& text);

// Parses "Nov 23, 2026 09:31:47.877000000 UTC" to ms since the epoch.
std::optional<std::uint64_t> parse_tshark_utc_ms(const std::string& text);

}  // namespace ebpfix::test
