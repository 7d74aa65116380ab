// `ebpfix top`: attach to a daemon's control socket, or start a private daemon for the
// given devices (fork + exec of this binary) and attach to that one. The private daemon
// is stopped on every way out; the terminal is restored before any message is printed.
#include "views/top_main.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include "common/duration.hpp"
#include "common/host_port.hpp"
#include "views/control_reader.hpp"
#include "views/top_screen.hpp"

namespace ebpfix::views {

namespace {

// Drains of the private daemon: twice per default refresh.
constexpr const char* standalone_drain_interval = "0.5";
// How long the private daemon may take to load, attach and open its socket.
constexpr auto standalone_start_timeout = std::chrono::seconds(60);
// SIGTERM, then this long for the daemon to detach and export, then SIGKILL.
constexpr auto standalone_stop_timeout = std::chrono::seconds(15);

constexpr double min_refresh_s = 0.1, max_refresh_s = 3600;

std::string usage_hint() {
    return "Try 'ebpfix top --help' for more information.";
}

}  // namespace

std::chrono::milliseconds parse_refresh(std::string_view option, std::string_view text) {
    const std::optional<double> parsed = parse_duration_seconds(text);
    if (!parsed)
        throw TopUsageError(std::string(option) + ": " + quoted(text) +
                            " is not a duration; write seconds (1, 0.5) or a Go duration like 500ms, 2s or 1m");
    const double seconds = *parsed;
    if (!std::isfinite(seconds) || seconds < min_refresh_s || seconds > max_refresh_s)
        throw TopUsageError(std::string(option) + ": " + quoted(text) + " is out of range (0.1 s to 1 h)");
    return std::chrono::milliseconds(std::llround(seconds * 1000));
}

TopOptions parse_top_options(const std::vector<std::string>& args) {
    TopOptions o;
    bool only_positional = false;
    std::string capture_option;  // the first one given, for the error without devices
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (only_positional || arg.empty() || arg[0] != '-' || arg == "-") {
            o.interfaces.push_back(arg);
            continue;
        }
        if (arg == "--") {
            only_positional = true;
            continue;
        }
        std::string name = arg;
        std::optional<std::string> inline_value;
        if (arg.starts_with("--")) {
            if (const auto eq = arg.find('='); eq != std::string::npos) {
                name = arg.substr(0, eq);
                inline_value = arg.substr(eq + 1);
            }
        }
        const auto value = [&](const char* what) {
            if (inline_value) return *inline_value;
            if (i + 1 >= args.size()) throw TopUsageError(name + " needs a value (" + what + ")");
            return args[++i];
        };
        const auto flag = [&] {
            if (inline_value) throw TopUsageError(name + " takes no value");
        };
        if (name == "--help" || name == "-h") {
            flag();
            o.show_help = true;
        } else if (name == "--socket") {
            o.socket_path = value("PATH");
            o.socket_given = true;
            if (o.socket_path.empty()) throw TopUsageError("--socket: the path is empty");
        } else if (name == "--refresh") {
            o.refresh = parse_refresh(name, value("DURATION"));
        } else if (name == "--interface" || name == "-i") {
            o.interfaces.push_back(value("IFACE"));
        } else if (name == "--xdp" || name == "--xdp-only" || name == "--attribution") {
            flag();
            o.capture_options.push_back(name);
            if (capture_option.empty()) capture_option = name;
        } else if (name == "--xdp-mode" || name == "--cgroup") {
            const std::string v = value(name == "--cgroup" ? "PATH" : "auto|native|generic");
            o.capture_options.push_back(name);
            o.capture_options.push_back(v);
            if (name == "--cgroup") o.cgroup = true;
            if (capture_option.empty()) capture_option = name;
        } else {
            throw TopUsageError("unknown option " + quoted(arg));
        }
    }
    if (o.show_help) return o;
    if (o.socket_given && o.standalone())
        throw TopUsageError("--socket reads a running daemon, devices (or --cgroup) start a private one: give one or the other");
    if (!o.standalone() && !capture_option.empty())
        throw TopUsageError(capture_option + " applies when top hooks devices itself (ebpfix top IFACE... " +
                            capture_option + ")");
    return o;
}

std::vector<std::string> standalone_daemon_arguments(const TopOptions& options, const std::string& socket_path) {
    // -c /dev/null: the service's configuration file is not this daemon's (its collectors,
    // metrics port and flow log belong to the service).
    std::vector<std::string> args{"-c", "/dev/null"};
    for (const std::string& name : options.interfaces) {
        args.push_back("-i");
        args.push_back(name);
    }
    args.insert(args.end(), options.capture_options.begin(), options.capture_options.end());
    // The flows are for the screen only: the text log into /dev/null (the daemon refuses a
    // run whose flows go nowhere).
    for (const char* a : {"--log-file", "/dev/null", "--control", socket_path.c_str(), "--drain-interval",
                          standalone_drain_interval})
        args.emplace_back(a);
    return args;
}

std::string top_help_text() {
    return R"(Usage: ebpfix top [--socket PATH] [--refresh DURATION]
       ebpfix top IFACE... [--xdp] [--xdp-mode MODE] [--xdp-only] [--attribution] [--refresh DURATION]
       ebpfix top --cgroup PATH [--refresh DURATION]
A live, full-screen view of the flows, one row per flow with its bit and packet rate.

Without devices it reads a running ebpfix through its control socket (it only reads:
exports go on unchanged). With devices (or --cgroup) it starts a private ebpfix that
hooks them, shows its flows and stops it at exit.

      --socket PATH          the daemon's control socket (default /run/ebpfix/control.sock)
      --refresh DURATION     time between snapshots: seconds (1, 0.5) or 500ms, 2s
                             (default 1s; 0.1 s to 1 h)
  -i, --interface IFACE      a device to hook (as a positional IFACE)
      --xdp, --xdp-mode MODE, --xdp-only, --cgroup PATH, --attribution
                             capture options of the private ebpfix (see ebpfix --help)
  -h, --help                 this text

Keys: Up/k Down/j select, PgUp/PgDn, Home/End; 0 sort by bit rate, 1 by packets,
2 by bytes, 3 by source, 4 by destination; / filter (a substring of the row; Enter
applies, Esc clears); p pause; r redraw and back to the top; q or x quit.
)";
}

namespace {

volatile std::sig_atomic_t stop_flag = 0;

extern "C" void request_stop(int) {
    stop_flag = 1;
}

// SIGINT, SIGTERM and SIGHUP end the view through the main loop (so that every
// destructor runs); the previous handlers come back at the end.
class StopSignals {
public:
    StopSignals() {
        stop_flag = 0;
        struct sigaction sa {};
        sa.sa_handler = request_stop;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: the wait in the main loop ends at once
        for (std::size_t i = 0; i < std::size(signals_); ++i) ::sigaction(signals_[i], &sa, &previous_[i]);
    }
    ~StopSignals() {
        for (std::size_t i = 0; i < std::size(signals_); ++i) ::sigaction(signals_[i], &previous_[i], nullptr);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

private:
    static constexpr int signals_[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction previous_[3] {};
};

class SocketSource final : public FlowSource {
public:
    explicit SocketSource(std::string path) : path_(std::move(path)) {}
    Snapshot fetch() override { return fetch_flows(path_); }
    std::string describe() const override { return path_; }

private:
    std::string path_;
};

std::string join(const std::vector<std::string>& parts, const char* separator) {
    std::string out;
    for (const std::string& p : parts) out += (out.empty() ? "" : separator) + p;
    return out;
}

// The private daemon of a standalone top: a child process in its own process group (the
// terminal's Ctrl-C reaches top, which stops it), killed by the kernel if top dies.
class OwnDaemon final : public FlowSource {
public:
    explicit OwnDaemon(const TopOptions& options) {
        char dir_template[] = "/tmp/ebpfix-top.XXXXXX";
        if (::mkdtemp(dir_template) == nullptr)
            throw std::system_error(errno, std::generic_category(), "cannot make a directory in /tmp");
        dir_ = dir_template;
        socket_ = dir_ + "/control.sock";
        log_ = dir_ + "/ebpfix.log";
        args_ = standalone_daemon_arguments(options, socket_);
        what_ = options.interfaces.empty() ? std::string("the cgroup") : join(options.interfaces, ",");
        describe_ = what_ + " (own ebpfix)";
    }

    ~OwnDaemon() override {
        stop();
        ::unlink(socket_.c_str());
        ::unlink(log_.c_str());
        ::rmdir(dir_.c_str());
    }
    OwnDaemon(const OwnDaemon&) = delete;
    OwnDaemon& operator=(const OwnDaemon&) = delete;

    void start() {
        const int log_fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log_fd < 0) throw std::system_error(errno, std::generic_category(), "cannot create " + log_);
        const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0) {
            ::close(log_fd);
            throw std::system_error(errno, std::generic_category(), "cannot open /dev/null");
        }
        // Everything the child needs is made before fork: after it, only async-signal-safe calls.
        std::vector<std::string> argv_strings{"ebpfix"};
        argv_strings.insert(argv_strings.end(), args_.begin(), args_.end());
        std::vector<char*> argv;
        for (std::string& a : argv_strings) argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t parent = ::getpid();
        static constexpr char exec_failed[] = "ebpfix top: cannot execute /proc/self/exe\n";

        const pid_t pid = ::fork();
        if (pid < 0) {
            const int err = errno;
            ::close(log_fd);
            ::close(null_fd);
            throw std::system_error(err, std::generic_category(), "fork");
        }
        if (pid == 0) {
            ::setpgid(0, 0);
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (::getppid() != parent) ::_exit(1);  // top died before the line above
            ::dup2(null_fd, STDIN_FILENO);
            ::dup2(log_fd, STDOUT_FILENO);
            ::dup2(log_fd, STDERR_FILENO);
            // The handlers of top are not the daemon's (exec resets caught ones anyway).
            ::signal(SIGINT, SIG_DFL);
            ::signal(SIGTERM, SIG_DFL);
            ::signal(SIGHUP, SIG_DFL);
            ::execv("/proc/self/exe", argv.data());
            [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, exec_failed, sizeof(exec_failed) - 1);
            ::_exit(127);
        }
        ::setpgid(pid, pid);  // also here, so it holds before either side runs on
        pid_ = pid;
        ::close(log_fd);
        ::close(null_fd);
    }

    // Waits until the socket answers and returns its first snapshot; nullopt when a stop
    // was requested meanwhile. Throws ConnectionError when the daemon exits or never answers.
    std::optional<Snapshot> wait_ready(const volatile std::sig_atomic_t& stop) {
        const auto deadline = std::chrono::steady_clock::now() + standalone_start_timeout;
        std::string last_error = "no control socket yet";
        for (;;) {
            if (stop) return std::nullopt;
            if (exited()) throw ConnectionError("ebpfix did not start: " + exit_report());
            struct stat st {};
            if (::stat(socket_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
                try {
                    return fetch_flows(socket_);
                } catch (const ConnectionError& e) {
                    last_error = e.what();  // bound but not listening yet
                }
            }
            if (std::chrono::steady_clock::now() > deadline)
                throw ConnectionError("ebpfix started but its control socket did not answer within " +
                                      std::to_string(standalone_start_timeout.count()) + " s (" + last_error +
                                      ")" + log_tail_text());
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    Snapshot fetch() override {
        if (exited()) throw ConnectionError("the ebpfix that top started " + exit_report());
        try {
            return fetch_flows(socket_);
        } catch (const ConnectionError&) {
            // Its exit is the better explanation, if that is what happened.
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (exited()) throw ConnectionError("the ebpfix that top started " + exit_report());
            throw;
        }
    }

    std::string describe() const override { return describe_; }
    const std::string& what() const { return what_; }

private:
    // Reaps the child if it has exited.
    bool exited() {
        if (status_) return true;
        if (pid_ <= 0) return false;
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            status_ = status;
            return true;
        }
        return false;
    }

    std::string exit_report() const {
        std::string how = "exited";
        if (status_ && WIFEXITED(*status_)) how = "exited with status " + std::to_string(WEXITSTATUS(*status_));
        else if (status_ && WIFSIGNALED(*status_)) how = std::string("was killed by ") + ::strsignal(WTERMSIG(*status_));
        return how + log_tail_text();
    }

    // The last lines the daemon wrote, indented, or "".
    std::string log_tail_text() const {
        std::FILE* f = std::fopen(log_.c_str(), "r");
        if (f == nullptr) return "";
        std::string text;
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;) {
            text.append(buf, n);
            if (text.size() > 64 * 1024) text.erase(0, text.size() - 16 * 1024);
        }
        std::fclose(f);
        std::vector<std::string> lines;
        for (std::size_t pos = 0; pos < text.size();) {
            const std::size_t eol = std::min(text.find('\n', pos), text.size());
            if (eol > pos) lines.push_back(text.substr(pos, eol - pos));
            pos = eol + 1;
        }
        if (lines.size() > 8) lines.erase(lines.begin(), lines.end() - 8);
        std::string out;
        for (const std::string& l : lines) out += "\n  " + l;
        return out;
    }

    void stop() {
        if (pid_ <= 0 || exited()) return;
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + standalone_stop_timeout;
        while (!exited()) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                int status = 0;
                while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
                }
                status_ = status;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    std::string dir_, socket_, log_, what_, describe_;
    std::vector<std::string> args_;
    pid_t pid_ = -1;
    std::optional<int> status_;
};

}  // namespace

int run_top(int argc, char** argv) {
    TopOptions options;
    try {
        options = parse_top_options(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const TopUsageError& e) {
        std::fprintf(stderr, "ebpfix top: %s\n%s\n", e.what(), usage_hint().c_str());
        return 2;
    }
    if (options.show_help) {
        std::fputs(top_help_text().c_str(), stdout);
        return 0;
    }
    if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
        std::fprintf(stderr, "ebpfix top: needs a terminal (standard input and output must be one)\n");
        return 2;
    }

    // Writes to a vanished daemon are errors to report, not a signal that kills top.
    ::signal(SIGPIPE, SIG_IGN);
    StopSignals signals;
    bool screen_started = false;
    try {
        std::unique_ptr<FlowSource> source;
        TopView view;
        if (options.standalone()) {
            auto own = std::make_unique<OwnDaemon>(options);
            std::fprintf(stderr, "ebpfix top: starting ebpfix on %s\n", own->what().c_str());
            own->start();
            std::optional<Snapshot> first = own->wait_ready(stop_flag);
            if (!first) return 0;
            view.update(*first);
            source = std::move(own);
        } else {
            source = std::make_unique<SocketSource>(options.socket_path);
            view.update(source->fetch());
        }
        screen_started = true;
        run_screen(*source, view, ScreenOptions{options.refresh, &stop_flag});
        return 0;
    } catch (const ConnectionError& e) {
        std::fprintf(stderr, "ebpfix top: %s%s\n", screen_started ? "the daemon went away: " : "", e.what());
    } catch (const ReplyError& e) {
        std::fprintf(stderr, "ebpfix top: %s\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ebpfix top: %s\n", e.what());
    }
    return 1;
}

}  // namespace ebpfix::views
