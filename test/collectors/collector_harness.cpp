#include "collectors/collector_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ebpfix::test {
namespace {

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

}  // namespace

bool on_path(const std::string& tool) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        if (!dir.empty() && ::access((dir + "/" + tool).c_str(), X_OK) == 0) return true;
    return false;
}

void require_tools(const std::vector<std::string>& tools, const std::string& what) {
    std::string missing;
    for (const auto& t : tools)
        if (!on_path(t)) missing += (missing.empty() ? "" : ", ") + t;
    if (missing.empty()) return;
    if (std::getenv("CI") != nullptr) {
        std::fprintf(stderr, "FAILED: %s needs %s (scripts/install-deps.sh), and CI must not skip it\n", what.c_str(),
                     missing.c_str());
        std::exit(1);
    }
    std::fprintf(stderr, "SKIPPED: %s needs %s (run scripts/install-deps.sh)\n", what.c_str(), missing.c_str());
    std::exit(77);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& output_file,
                           const std::map<std::string, std::string>& extra_env)
    : output_(output_file), name_(argv.empty() ? "" : argv[0]) {
    if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + output_file.string() + ": " + std::strerror(errno));
    pid_ = ::fork();
    if (pid_ < 0) {
        ::close(fd);
        throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
    }
    if (pid_ == 0) {
        // Child: only async-signal-safe calls until exec.
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        ::setpgid(0, 0);
        // Should the test die without running destructors (a CTest timeout kill), the
        // child goes too.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (const auto& [k, v] : extra_env) ::setenv(k.c_str(), v.c_str(), 1);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(fd);
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
    }
}

bool ChildProcess::running() {
    if (status_) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = st;
        return false;
    }
    return true;
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
}

int ChildProcess::stop(int sig, std::chrono::milliseconds timeout) {
    if (running()) ::kill(pid_, sig);
    auto st = wait_exit(timeout);
    if (!st) {
        ::kill(pid_, SIGKILL);
        int raw = 0;
        ::waitpid(pid_, &raw, 0);
        status_ = raw;
        throw std::runtime_error(name_ + " (pid " + std::to_string(pid_) + ") did not stop after signal " +
                                 std::to_string(sig) + "; killed. Output:\n" + output());
    }
    return *st;
}

std::string ChildProcess::output() const { return read_file(output_); }

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::map<std::string, std::string>& extra_env) {
    char tmpl[] = "/tmp/ebpfix-cmd-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    std::filesystem::path out(tmpl);
    CommandResult result;
    {
        ChildProcess child(argv, out, extra_env);
        auto st = child.wait_exit(timeout);
        if (!st) {
            child.stop(SIGKILL, std::chrono::seconds(5));
            result.output = read_file(out);
            std::filesystem::remove(out);
            throw std::runtime_error(argv[0] + " timed out; output:\n" + result.output);
        }
        result.exit_code = WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
    }
    result.output = read_file(out);
    std::filesystem::remove(out);
    return result;
}

void wait_for_udp_port(std::uint16_t port, bool ipv6, std::chrono::milliseconds timeout) {
    std::ostringstream hex;
    hex << ':' << std::uppercase << std::hex << std::setw(4) << std::setfill('0') << port << ' ';
    auto deadline = std::chrono::steady_clock::now() + timeout;
    const char* table = ipv6 ? "/proc/self/net/udp6" : "/proc/self/net/udp";
    while (std::chrono::steady_clock::now() < deadline) {
        std::istringstream lines(read_file(table));
        std::string line;
        std::getline(lines, line);  // header
        while (std::getline(lines, line)) {
            std::istringstream fields(line);
            std::string slot, local;
            fields >> slot >> local;
            if ((local + ' ').find(hex.str()) != std::string::npos) return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("nothing bound UDP port " + std::to_string(port) + " within the timeout");
}

void wait_for_text(const std::filesystem::path& file, const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (read_file(file).find(needle) != std::string::npos) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("\"" + needle + "\" did not appear in " + file.string() + ":\n" + read_file(file));
}

void send_udp(const std::string& loopback_address, std::uint16_t port,
              const std::vector<std::vector<std::uint8_t>>& datagrams) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = 0;
    in_addr a4{};
    in6_addr a6{};
    if (::inet_pton(AF_INET, loopback_address.c_str(), &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) {
        auto* s = reinterpret_cast<sockaddr_in*>(&ss);
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        s->sin_addr = a4;
        len = sizeof(sockaddr_in);
        family = AF_INET;
    } else if (::inet_pton(AF_INET6, loopback_address.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6)) {
        auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(port);
        s->sin6_addr = a6;
        len = sizeof(sockaddr_in6);
        family = AF_INET6;
    } else {
        throw std::invalid_argument("send_udp: " + loopback_address + " is not a loopback address");
    }
    int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    std::size_t i = 0;
    for (const auto& d : datagrams) {
        if (::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) != ssize_t(d.size())) {
            int e = errno;
            ::close(fd);
            throw std::runtime_error("sendto failed: " + std::string(std::strerror(e)));
        }
        // Let the collector keep up: its socket buffer holds a few hundred datagrams.
        if (++i % 32 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::close(fd);
}

TempDir::TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::vector<std::map<std::string, std::string>> parse_nfdump_raw(const std::string& text) {
    std::vector<std::map<std::string, std::string>> records;
    std::istringstream lines(text);
    std::string line;
    bool in_record = false;
    while (std::getline(lines, line)) {
        if (line.rfind("Flow Record:", 0) == 0) {
            records.emplace_back();
            in_record = true;
            continue;
        }
        if (!in_record) continue;
        auto eq = line.find(" = ");
        if (line.empty() || line[0] != ' ' || eq == std::string::npos) {
            in_record = !line.empty() && line[0] == ' ';
            continue;
        }
        std::string key = trim(line.substr(0, eq));
        std::string value = trim(line.substr(eq + 3));
        auto bracket = value.find(" [");
        if (bracket != std::string::npos) value = trim(value.substr(0, bracket));
        records.back()[key] = value;
    }
    return records;
}

std::vector<TsharkFlow> parse_tshark_flows(const std::string& text) {
    std::vector<TsharkFlow> flows;
    std::istringstream lines(text);
    std::string line;
    std::size_t frame = 0;
    std::size_t flow_indent = std::string::npos;
    auto indent_of = [](const std::string& l) { return l.find_first_not_of(' '); };
    while (std::getline(lines, line)) {
        if (line.rfind("Frame ", 0) == 0) {
            frame = std::strtoul(line.c_str() + 6, nullptr, 10);
            flow_indent = std::string::npos;
            continue;
        }
        std::size_t ind = indent_of(line);
        if (ind == std::string::npos) continue;
        std::string body = line.substr(ind);
        if (body.rfind("Flow ", 0) == 0 && body.find(':') == std::string::npos) {
            flows.push_back({frame, {}});
            flow_indent = ind;
            continue;
        }
        if (flow_indent == std::string::npos) continue;
        if (ind <= flow_indent) {
            flow_indent = std::string::npos;
            continue;
        }
        if (!body.empty() && body[0] == '[') body = body.substr(1);
        auto colon = body.find(": ");
        if (colon == std::string::npos) continue;
        std::string key = body.substr(0, colon);
        std::string value = body.substr(colon + 2);
        if (!value.empty() && value.back() == ']') value.pop_back();
        auto& fields = flows.back().fields;
        std::string k = key;
        for (int n = 2; fields.count(k); ++n) k = key + " #" + std::to_string(n);
        fields[k] = value;
    }
    return flows;
}

std::optional<std::uint64_t> parse_tshark_utc_ms(const std::string& text) {
    std::tm tm{};
    const char* rest = ::strptime(text.c_str(), "%b %d, %Y %H:%M:%S", &tm);
    if (rest == nullptr) return std::nullopt;
    std::uint64_t ms = 0;
    if (*rest == '.') {
        ++rest;
        int digits = 0;
        for (; *rest >= '0' && *rest <= '9'; ++rest, ++digits)
            if (digits < 3) ms = ms * 10 + std::uint64_t(*rest - '0');
        for (; digits < 3; ++digits) ms *= 10;
    }
    if (std::string(rest).find("UTC") == std::string::npos) return std::nullopt;
    return std::uint64_t(::timegm(&tm)) * 1000 + ms;
}

}  // namespace ebpfix::test
