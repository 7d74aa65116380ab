#include "daemon/control_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "daemon/control_protocol.hpp"

namespace ebpfix::daemon {

namespace {

// How long a silent daemon is waited for: building a large flow list takes a while,
// a hung daemon must not hang the shell.
constexpr int answer_timeout_s = 60;

std::string usage_text() {
    return "Usage: ebpfix ctl [--socket PATH] COMMAND [--json]\n"
           "Ask a running ebpfix over its control socket (default " +
           config::Config().control_socket +
           ").\n"
           "\n"
           "Commands:\n"
           "  statistics     totals and counters\n"
           "  flows          the live flow table, one line per flow (--json: JSON lines)\n"
           "  expire-all     export every open flow now\n"
           "  reload         reload the configuration, as SIGHUP does\n"
           "  templates      make every collector send its templates with its next message\n"
           "  graph          the Graphviz graph of who talks to whom\n"
           "\n"
           "Options:\n"
           "  --socket PATH  the control socket of the ebpfix to ask\n"
           "  --json         with flows: JSON lines instead of text\n"
           "  -h, --help     this text\n";
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "ebpfix ctl: %s\n%s", message.c_str(), usage_text().c_str());
    return 2;
}

int failed(const std::string& message) {
    std::fprintf(stderr, "ebpfix ctl: %s\n", message.c_str());
    return 1;
}

std::optional<control::Command> command_of(std::string_view word) {
    for (control::Command c : control::all_commands)
        if (control::command_word(c) == word) return c;
    return std::nullopt;
}

// Owns one descriptor.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

std::string connect_hint(int err) {
    if (err == EACCES || err == EPERM)
        return "(only root, ebpfix's own user and members of the socket's group may use it)";
    return "(is ebpfix running? is the control socket enabled?)";
}

}  // namespace

int run_ctl(int argc, char** argv) {
    std::string path = config::Config().control_socket;
    std::optional<control::Command> command;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::fputs(usage_text().c_str(), stdout);
            return 0;
        }
        if (arg == "--socket") {
            if (i + 1 >= argc) return usage_error("--socket needs a PATH");
            path = argv[++i];
        } else if (arg.starts_with("--socket=")) {
            path = std::string(arg.substr(9));
        } else if (arg == "--json") {
            json = true;
        } else if (arg.starts_with("-")) {
            return usage_error("unknown option '" + std::string(arg) + "'");
        } else if (command) {
            return usage_error("one command at a time ('" + std::string(control::command_word(*command)) + "' and '" +
                               std::string(arg) + "')");
        } else if (!(command = command_of(arg))) {
            return usage_error("unknown command '" + std::string(arg) + "'");
        }
    }
    if (!command) return usage_error("no command given");
    if (json && *command != control::Command::flows) return usage_error("--json goes with flows only");
    if (path.empty()) return usage_error("--socket needs a PATH");
    if (path.size() >= sizeof(sockaddr_un::sun_path))
        return usage_error("socket path " + path + " is longer than " +
                           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    if (path.find('\0') != std::string::npos) return usage_error("socket path contains a NUL byte");

    Fd sock{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (sock.fd < 0) return failed(std::string("cannot create a socket: ") + std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (::connect(sock.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        const int err = errno;
        return failed("cannot connect to " + path + ": " + std::strerror(err) + " " + connect_hint(err));
    }
    const timeval timeout{answer_timeout_s, 0};
    ::setsockopt(sock.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));

    const std::string line =
        std::string(control::command_word(*command)) + (json ? " --json" : "") + "\n";
    for (std::size_t sent = 0; sent < line.size();) {
        const ssize_t n = ::send(sock.fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += std::size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        // A server that answered at once and closed (busy, not allowed): its answer
        // is still there to read.
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) break;
        return failed("cannot send to " + path + ": " + std::strerror(errno));
    }

    std::string raw;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::recv(sock.fd, buf, sizeof(buf), 0);
        if (n > 0) {
            raw.append(buf, std::size_t(n));
            continue;
        }
        if (n == 0) break;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return failed("no answer from " + path + " within " + std::to_string(answer_timeout_s) + " s");
        // The server closed with our bytes unread: what it sent before is complete.
        if (errno == ECONNRESET && !raw.empty()) break;
        return failed("cannot read the answer from " + path + ": " + std::strerror(errno));
    }
    const auto response = control::parse_response(raw);
    if (!response) {
        if (raw.empty()) return failed(path + " closed the connection without an answer");
        return failed("unexpected answer from " + path + " (is it an ebpfix control socket?)");
    }
    if (!response->ok) return failed(response->error);
    if (!response->body.empty() &&
        (std::fwrite(response->body.data(), 1, response->body.size(), stdout) != response->body.size() ||
         std::fflush(stdout) != 0) &&
        errno != EPIPE)
        return failed(std::string("cannot write the answer: ") + std::strerror(errno));
    return 0;
}

}  // namespace ebpfix::daemon
