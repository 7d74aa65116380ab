// The control socket server with a fake handler, on the test's own io_context (driven
// here, so nothing races): every command round-trips; the file's mode and group; who is
// let in (uid 0, the server's own uid, members of the group by primary or supplementary
// group) and who is refused, with clients forked under other credentials; clients that
// never send or never read are closed at their deadlines while others are served; the
// 17th client is "busy"; stale and live socket files; and the real `ebpfix ctl`.
#define BOOST_TEST_MODULE control_socket
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "daemon/control_socket.hpp"
#include "support/root_guard.hpp"

using namespace ebpfix;
using namespace ebpfix::daemon;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

namespace {

struct RootOnly {
    RootOnly() {
        ebpfix::test::require_root("control_socket_test");
        // A client that went away must be an error code here, not a signal.
        std::signal(SIGPIPE, SIG_IGN);
    }
};

// A fresh directory (0755, so that clients under other uids reach the socket in it),
// removed with everything in it.
struct TempDir {
    std::string dir;
    TempDir() {
        char templ[] = "/tmp/ebpfix-ctl-XXXXXX";
        BOOST_REQUIRE(::mkdtemp(templ) != nullptr);
        dir = templ;
        BOOST_REQUIRE(::chmod(dir.c_str(), 0755) == 0);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
    std::string path(const std::string& name) const { return dir + "/" + name; }
};

struct FakeHandler : ControlHandler {
    std::size_t large_flows = 0;  // when set, flows answers this many bytes
    int calls = 0;
    std::string statistics() override {
        ++calls;
        return "drain_cycles 3\nflow_table_flows 2\n";
    }
    std::string flows(bool json) override {
        ++calls;
        if (large_flows) return std::string(large_flows, 'f');
        return json ? "{\"now_ms\":1,\"flows\":0}\n" : "flows=0 now_ms=1\n";
    }
    std::string expire_all() override {
        ++calls;
        return "expired 5 flows";  // no newline: the framing adds it
    }
    std::string reload() override {
        ++calls;
        throw std::runtime_error("bad.toml:3:1: oops\nsecond line");
    }
    std::string templates() override {
        ++calls;
        return "";
    }
    std::string graph() override {
        ++calls;
        return "digraph ebpfix {\n}\n";
    }
};

const std::string statistics_answer = "ok\ndrain_cycles 3\nflow_table_flows 2\n";
const std::string expected_words =
    "expected one of: statistics, flows, flows --json, expire-all, reload, templates, graph";

// Runs the io_context until done() holds; a hang fails the test instead of the suite.
template <typename Done>
void pump_until(asio::io_context& io, Done done, const std::string& what, std::chrono::seconds guard = 30s) {
    const auto end = Clock::now() + guard;
    while (!done()) {
        if (Clock::now() >= end) BOOST_FAIL("timed out waiting for " + what);
        if (io.stopped()) io.restart();
        if (io.run_one_for(5ms) == 0 && io.stopped()) std::this_thread::sleep_for(1ms);
    }
}

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

// A non-blocking client in this process.
struct Client {
    int fd = -1;
    int connect_error = 0;
    int read_error = 0;
    bool closed = false;
    std::string received;

    explicit Client(const std::string& path) {
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        BOOST_REQUIRE(fd >= 0);
        const sockaddr_un addr = address_of(path);
        // A listening UNIX socket takes the connection into its backlog at once.
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) connect_error = errno;
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    ~Client() { ::close(fd); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Small writes only: they fit the socket buffer. Returns errno (0: all sent).
    int send(std::string_view data) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) return errno;
        BOOST_REQUIRE(std::size_t(n) == data.size());
        return 0;
    }
    // Takes what has arrived; true once the server has closed.
    bool poll() {
        char buf[65536];
        while (!closed) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                received.append(buf, std::size_t(n));
            } else if (n == 0) {
                closed = true;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return false;
            } else {
                read_error = errno;
                closed = true;
            }
        }
        return true;
    }
};

std::string exchange(asio::io_context& io, const std::string& path, std::string_view request) {
    Client c(path);
    BOOST_REQUIRE_MESSAGE(c.connect_error == 0, std::strerror(c.connect_error));
    BOOST_REQUIRE(c.send(request) == 0);
    pump_until(io, [&] { return c.poll(); }, "the answer to " + std::string(request));
    BOOST_TEST(c.read_error == 0, std::strerror(c.read_error));  // a clean close, not a reset
    return c.received;
}

// A child process, killed and reaped if the test leaves it running.
struct Child {
    pid_t pid = -1;
    int status = 0;
    bool reaped = false;
    explicit Child(pid_t p) : pid(p) {}
    ~Child() {
        if (pid > 0 && !reaped) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
        }
    }
    bool exited() {
        if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) reaped = true;
        return reaped;
    }
};

void read_available(int fd, std::string& out) {
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return;
        out.append(buf, std::size_t(n));
    }
}

struct Credentials {
    uid_t uid;
    gid_t gid;
    std::vector<gid_t> groups;
};

// Changes to cred in a forked child; "" or why not.
std::string become(const Credentials& cred) {
    if (::setgroups(cred.groups.size(), cred.groups.data()) != 0) return std::string("setgroups: ") + std::strerror(errno);
    if (::setresgid(cred.gid, cred.gid, cred.gid) != 0) return std::string("setresgid: ") + std::strerror(errno);
    if (::setresuid(cred.uid, cred.uid, cred.uid) != 0) return std::string("setresuid: ") + std::strerror(errno);
    return "";
}

// Sends request from a child process running as cred; returns what it received, or
// "connect: REASON" when it could not connect.
std::string exchange_as(asio::io_context& io, const std::string& path, const Credentials& cred,
                        std::string_view request) {
    int out[2];
    BOOST_REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        // The child: syscalls only, then _exit.
        ::close(out[0]);
        std::string result = become(cred);
        if (result.empty()) {
            const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            const sockaddr_un addr = address_of(path);
            if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
                result = std::string("connect: ") + std::strerror(errno);
            } else {
                const timeval timeout{20, 0};
                ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
                [[maybe_unused]] ssize_t sent = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
                char buf[4096];
                ssize_t n;
                while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) result.append(buf, std::size_t(n));
                if (n < 0) result += std::string("\n[recv: ") + std::strerror(errno) + "]";
            }
        }
        [[maybe_unused]] ssize_t written = ::write(out[1], result.data(), result.size());
        ::_exit(0);
    }
    ::close(out[1]);
    Child child(pid);
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    std::string result;
    pump_until(io, [&] {
        read_available(out[0], result);
        return child.exited();
    }, "the client child");
    read_available(out[0], result);
    ::close(out[0]);
    return result;
}

struct Run {
    int exit_code = -1;
    std::string out, err;
};

// Runs the ebpfix binary (as cred, when given), serving the io_context meanwhile.
Run run_ebpfix(asio::io_context& io, const std::vector<std::string>& args, std::optional<Credentials> as = {}) {
    int out[2], err[2];
    BOOST_REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    BOOST_REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(EBPFIX_BINARY));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        if (as && !become(*as).empty()) ::_exit(126);
        ::execv(EBPFIX_BINARY, argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    Child child(pid);
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    ::fcntl(err[0], F_SETFL, O_NONBLOCK);
    Run run;
    pump_until(io, [&] {
        read_available(out[0], run.out);
        read_available(err[0], run.err);
        return child.exited();
    }, "ebpfix ctl");
    read_available(out[0], run.out);
    read_available(err[0], run.err);
    ::close(out[0]);
    ::close(err[0]);
    BOOST_REQUIRE(WIFEXITED(child.status));
    run.exit_code = WEXITSTATUS(child.status);
    return run;
}

gid_t nogroup_gid() {
    const group* g = ::getgrnam("nogroup");
    BOOST_REQUIRE_MESSAGE(g != nullptr, "the test needs Debian's group nogroup");
    return g->gr_gid;
}

struct stat stat_of(const std::string& path) {
    struct stat st {};
    BOOST_REQUIRE_MESSAGE(::lstat(path.c_str(), &st) == 0, path << ": " << std::strerror(errno));
    return st;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// Waits (without an io_context) for a byte on a pipe from a child.
char wait_byte(int fd) {
    pollfd p{fd, POLLIN, 0};
    BOOST_REQUIRE_MESSAGE(::poll(&p, 1, 20000) == 1, "the child did not get ready");
    char c = 0;
    BOOST_REQUIRE(::read(fd, &c, 1) == 1);
    return c;
}

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(RootOnly);

BOOST_AUTO_TEST_CASE(every_command_round_trips) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const std::string path = dir.path("control.sock");
    ControlServer server(io, path, "", handler);
    BOOST_TEST(server.path() == path);
    BOOST_TEST(exchange(io, path, "statistics\n") == statistics_answer);
    BOOST_TEST(exchange(io, path, "flows\n") == "ok\nflows=0 now_ms=1\n");
    BOOST_TEST(exchange(io, path, "flows --json\n") == "ok\n{\"now_ms\":1,\"flows\":0}\n");
    BOOST_TEST(exchange(io, path, "expire-all\n") == "ok\nexpired 5 flows\n");
    // A handler's exception is the error line, its newline made a space.
    BOOST_TEST(exchange(io, path, "reload\n") == "error: bad.toml:3:1: oops second line\n");
    BOOST_TEST(exchange(io, path, "templates\n") == "ok\n");
    BOOST_TEST(exchange(io, path, "graph\n") == "ok\ndigraph ebpfix {\n}\n");
    BOOST_TEST(handler.calls == 7);
    pump_until(io, [&] { return server.open_connections() == 0; }, "every connection to end");
}

BOOST_AUTO_TEST_CASE(garbage_gets_an_error_and_the_handler_is_not_called) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const std::string path = dir.path("control.sock");
    ControlServer server(io, path, "", handler);
    BOOST_TEST(exchange(io, path, "hello\n") == "error: unknown command 'hello'; " + expected_words + "\n");
    BOOST_TEST(exchange(io, path, std::string("\0\x01\n", 3)) ==
               "error: byte 0x00 at offset 0 is not printable ASCII\n");
    BOOST_TEST(exchange(io, path, "GET / HTTP/1.1\r\n") == "error: byte 0x0d at offset 14 is not printable ASCII\n");
    BOOST_TEST(exchange(io, path, "\n") == "error: empty request; " + expected_words + "\n");
    BOOST_TEST(exchange(io, path, "statistics --json\n") == "error: statistics takes no arguments, got '--json'\n");
    BOOST_TEST(exchange(io, path, std::string(300, 'a')) == "error: request longer than 256 bytes\n");
    BOOST_TEST(exchange(io, path, std::string(257, 'a') + "\n") == "error: request longer than 256 bytes\n");
    // 256 bytes and the newline is within the limit: an unknown word, not too long.
    BOOST_TEST(exchange(io, path, std::string(256, 'a') + "\n").starts_with("error: unknown command 'aaaa"));
    // One request per connection: a second line is not answered.
    BOOST_TEST(exchange(io, path, "statistics\ngraph\n") == statistics_answer);
    BOOST_TEST(handler.calls == 1);

    // The client stops writing before the newline, or before anything.
    {
        Client c(path);
        BOOST_REQUIRE(c.send("statistics") == 0);
        ::shutdown(c.fd, SHUT_WR);
        pump_until(io, [&] { return c.poll(); }, "the answer to an unterminated line");
        BOOST_TEST(c.received == "error: request not terminated by a newline\n");
    }
    {
        Client c(path);
        ::shutdown(c.fd, SHUT_WR);
        pump_until(io, [&] { return c.poll(); }, "the answer to nothing");
        BOOST_TEST(c.received == "error: empty request\n");
    }
    BOOST_TEST(handler.calls == 1);
}

BOOST_AUTO_TEST_CASE(socket_file_mode_group_and_directory) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const gid_t nogroup = nogroup_gid();
    // Missing directories are made 0755 whatever the umask.
    const std::string path = dir.path("run/ebpfix/control.sock");
    const mode_t old_umask = ::umask(027);
    {
        ControlServer server(io, path, "nogroup", handler);
        ::umask(old_umask);
        for (const std::string& d : {dir.path("run"), dir.path("run/ebpfix")}) {
            const struct stat st = stat_of(d);
            BOOST_TEST(S_ISDIR(st.st_mode), d);
            BOOST_TEST((st.st_mode & 07777) == 0755u, d);
        }
        const struct stat st = stat_of(path);
        BOOST_TEST(S_ISSOCK(st.st_mode));
        BOOST_TEST((st.st_mode & 07777) == 0660u);
        BOOST_TEST(st.st_uid == 0u);
        BOOST_TEST(st.st_gid == nogroup);
        BOOST_TEST_REQUIRE(server.group_id().has_value());
        BOOST_TEST(*server.group_id() == nogroup);
        BOOST_TEST(exchange(io, path, "statistics\n") == statistics_answer);
    }
    ::umask(old_umask);
    BOOST_TEST(!exists(path));  // removed with the server

    // No such group, or none named: only root can use the socket.
    for (const std::string group : {"ebpfix-test-no-such-group", ""}) {
        BOOST_TEST_CONTEXT("group '" << group << "'") {
            ControlServer server(io, path, group, handler);
            const struct stat st = stat_of(path);
            BOOST_TEST((st.st_mode & 07777) == 0600u);
            BOOST_TEST(st.st_uid == 0u);
            BOOST_TEST(!server.group_id().has_value());
            BOOST_TEST(exchange(io, path, "graph\n") == "ok\ndigraph ebpfix {\n}\n");
        }
    }

    // A path that cannot be a socket's.
    BOOST_CHECK_THROW(ControlServer(io, "relative.sock", "", handler), std::runtime_error);
    BOOST_CHECK_THROW(ControlServer(io, "/" + std::string(120, 'x'), "", handler), std::runtime_error);
    const std::string file = dir.path("file");
    std::FILE* f = std::fopen(file.c_str(), "w");
    BOOST_REQUIRE(f != nullptr);
    std::fclose(f);
    BOOST_CHECK_EXCEPTION(ControlServer(io, file + "/control.sock", "", handler), std::runtime_error,
                          [&](const std::runtime_error& e) {
                              return std::string(e.what()).find(file + " is not a directory") != std::string::npos;
                          });
}

BOOST_AUTO_TEST_CASE(members_of_the_group_are_let_in_others_refused) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const gid_t nogroup = nogroup_gid();
    const std::string path = dir.path("control.sock");
    ControlServer server(io, path, "nogroup", handler);
    const Credentials outsider{65534, 12345, {}};
    const Credentials supplementary_member{65534, 12345, {12346, nogroup}};
    const Credentials primary_member{65534, nogroup, {}};
    const Credentials root{0, 0, {}};

    // The file's mode is the first barrier: an outsider cannot even connect.
    BOOST_TEST(exchange_as(io, path, outsider, "statistics\n") == "connect: Permission denied");
    BOOST_TEST(exchange_as(io, path, supplementary_member, "statistics\n") == statistics_answer);
    BOOST_TEST(exchange_as(io, path, primary_member, "statistics\n") == statistics_answer);
    BOOST_TEST(exchange_as(io, path, root, "statistics\n") == statistics_answer);

    // Opened up, the credential check alone refuses the outsider, and still lets members in.
    BOOST_REQUIRE(::chmod(path.c_str(), 0666) == 0);
    BOOST_TEST(exchange_as(io, path, outsider, "statistics\n") == "error: not allowed\n");
    BOOST_TEST(exchange_as(io, path, supplementary_member, "graph\n") == "ok\ndigraph ebpfix {\n}\n");
    BOOST_TEST(exchange_as(io, path, primary_member, "graph\n") == "ok\ndigraph ebpfix {\n}\n");
    BOOST_TEST(handler.calls == 5);
}

BOOST_AUTO_TEST_CASE(without_a_group_only_root_and_the_servers_own_uid) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const gid_t nogroup = nogroup_gid();
    {
        const std::string path = dir.path("control.sock");
        ControlServer server(io, path, "", handler);
        BOOST_REQUIRE(::chmod(path.c_str(), 0666) == 0);
        BOOST_TEST(exchange_as(io, path, {65534, nogroup, {nogroup}}, "statistics\n") == "error: not allowed\n");
        BOOST_TEST(exchange_as(io, path, {0, 0, {}}, "statistics\n") == statistics_answer);
    }

    // A server that runs as uid 4321 (a daemon after dropping privileges) lets 4321 in.
    const std::string dir2 = dir.path("own");
    BOOST_REQUIRE(::mkdir(dir2.c_str(), 0755) == 0);
    BOOST_REQUIRE(::chown(dir2.c_str(), 4321, 4321) == 0);
    const std::string path = dir2 + "/control.sock";
    int ready[2];
    BOOST_REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(ready[0]);
        char status = 'r';
        if (!become({4321, 4321, {}}).empty()) status = 'u';
        try {
            asio::io_context child_io;
            FakeHandler child_handler;
            ControlServer child_server(child_io, path, "", child_handler);
            [[maybe_unused]] ssize_t n = ::write(ready[1], &status, 1);
            child_io.run_for(60s);
        } catch (...) {
            status = 'e';
            [[maybe_unused]] ssize_t n = ::write(ready[1], &status, 1);
        }
        ::_exit(0);
    }
    ::close(ready[1]);
    Child server_child(pid);
    BOOST_TEST_REQUIRE(wait_byte(ready[0]) == 'r');
    ::close(ready[0]);
    BOOST_TEST(stat_of(path).st_uid == 4321u);
    BOOST_TEST((stat_of(path).st_mode & 07777) == 0600u);
    BOOST_TEST(exchange_as(io, path, {4321, 4321, {}}, "statistics\n") == statistics_answer);
    BOOST_TEST(exchange_as(io, path, {4322, 4321, {}}, "statistics\n") == "connect: Permission denied");
    BOOST_REQUIRE(::chmod(path.c_str(), 0666) == 0);
    BOOST_TEST(exchange_as(io, path, {4322, 4321, {}}, "statistics\n") == "error: not allowed\n");
    BOOST_TEST(exchange_as(io, path, {0, 0, {}}, "statistics\n") == statistics_answer);
}

BOOST_AUTO_TEST_CASE(a_silent_client_is_closed_at_the_read_deadline_and_stalls_no_one) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const std::string path = dir.path("control.sock");
    ControlLimits limits;
    limits.read_timeout = 2s;
    ControlServer server(io, path, "", handler, limits);

    const auto start = Clock::now();
    Client silent(path);
    BOOST_REQUIRE(silent.connect_error == 0);
    pump_until(io, [&] { return server.open_connections() == 1; }, "the silent client's session");
    // Another client is served while the silent one waits.
    BOOST_TEST(exchange(io, path, "statistics\n") == statistics_answer);
    BOOST_TEST(!silent.poll());
    pump_until(io, [&] { return silent.poll(); }, "the silent client to be closed");
    BOOST_TEST((Clock::now() - start >= limits.read_timeout));
    BOOST_TEST(silent.received == "error: no complete request line within 2s\n");
    BOOST_TEST(silent.read_error == 0);
    pump_until(io, [&] { return server.open_connections() == 0; }, "the silent client's session to end");

    // The deadline is for the whole line: a byte now and then does not extend it.
    ControlLimits short_limits;
    short_limits.read_timeout = 1s;
    const std::string path2 = dir.path("control2.sock");
    ControlServer server2(io, path2, "", handler, short_limits);
    Client trickle(path2);
    std::size_t sent = 0;
    auto last_send = Clock::now();
    pump_until(io, [&] {
        if (trickle.poll()) return true;
        if (Clock::now() - last_send >= 50ms && sent < 256) {
            if (trickle.send("x") == 0) ++sent;
            last_send = Clock::now();
        }
        return false;
    }, "the trickling client to be closed");
    BOOST_TEST(sent < 256u);  // it was closed long before its line could have been complete
    BOOST_TEST(trickle.received == "error: no complete request line within 1s\n");
    BOOST_TEST(handler.calls == 1);
}

BOOST_AUTO_TEST_CASE(a_client_that_never_reads_is_closed_at_the_write_deadline) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const std::string path = dir.path("control.sock");
    ControlLimits limits;
    limits.write_timeout = 2s;
    ControlServer server(io, path, "", handler, limits);

    handler.large_flows = std::size_t{64} << 20;  // far more than a socket buffer holds
    Client stuck(path);
    BOOST_REQUIRE(stuck.send("flows\n") == 0);
    pump_until(io, [&] { return handler.calls == 1; }, "the large answer to be made");
    const auto written_from = Clock::now();
    handler.large_flows = 0;
    // Others are answered while that answer is stuck.
    BOOST_TEST(exchange(io, path, "statistics\n") == statistics_answer);
    BOOST_TEST(exchange(io, path, "flows\n") == "ok\nflows=0 now_ms=1\n");
    pump_until(io, [&] { return server.open_connections() <= 1; }, "the served sessions to end");
    BOOST_TEST(server.open_connections() == 1u);  // the stuck one, still within its deadline
    // At the deadline the connection and its answer are gone.
    pump_until(io, [&] { return server.open_connections() == 0; }, "the stuck client to be closed");
    BOOST_TEST((Clock::now() - written_from >= limits.write_timeout));
    pump_until(io, [&] { return stuck.poll(); }, "the stuck client to see the close");
    BOOST_TEST(stuck.received.starts_with("ok\nfff"));
    BOOST_TEST(stuck.received.size() < 3 + (std::size_t{64} << 20));
}

BOOST_AUTO_TEST_CASE(the_seventeenth_client_is_busy) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const std::string path = dir.path("control.sock");
    ControlLimits limits;
    limits.read_timeout = 60s;  // the first sixteen wait while the seventeenth comes
    ControlServer server(io, path, "", handler, limits);

    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 17; ++i) {
        clients.push_back(std::make_unique<Client>(path));
        BOOST_REQUIRE(clients.back()->connect_error == 0);
    }
    // Accepted in the order they connected: sixteen sessions, then the refusal.
    pump_until(io, [&] { return server.open_connections() == 16 && clients[16]->poll(); }, "the 17th answer");
    BOOST_TEST(clients[16]->received == "error: busy\n");
    BOOST_TEST(clients[16]->read_error == 0);
    for (int i = 0; i < 16; ++i) BOOST_REQUIRE(clients[std::size_t(i)]->send("statistics\n") == 0);
    pump_until(io, [&] {
        bool all = true;
        for (int i = 0; i < 16; ++i) all = clients[std::size_t(i)]->poll() && all;
        return all;
    }, "sixteen answers");
    for (int i = 0; i < 16; ++i) BOOST_TEST(clients[std::size_t(i)]->received == statistics_answer, "client " << i);
    BOOST_TEST(handler.calls == 16);
    // Places are free again.
    BOOST_TEST(exchange(io, path, "graph\n") == "ok\ndigraph ebpfix {\n}\n");
}

BOOST_AUTO_TEST_CASE(a_stale_socket_is_replaced_a_live_one_is_an_error) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const std::string path = dir.path("control.sock");

    // A server killed with SIGKILL leaves its socket file behind.
    {
        int ready[2];
        BOOST_REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
        const pid_t pid = ::fork();
        BOOST_REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(ready[0]);
            char status = 'r';
            try {
                asio::io_context child_io;
                FakeHandler child_handler;
                ControlServer child_server(child_io, path, "", child_handler);
                [[maybe_unused]] ssize_t n = ::write(ready[1], &status, 1);
                for (;;) ::pause();
            } catch (...) {
                status = 'e';
                [[maybe_unused]] ssize_t n = ::write(ready[1], &status, 1);
            }
            ::_exit(0);
        }
        ::close(ready[1]);
        Child killed(pid);
        BOOST_TEST_REQUIRE(wait_byte(ready[0]) == 'r');
        ::close(ready[0]);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &killed.status, 0);
        killed.reaped = true;
    }
    BOOST_TEST_REQUIRE(S_ISSOCK(stat_of(path).st_mode));
    ControlServer server(io, path, "", handler);
    BOOST_TEST(exchange(io, path, "statistics\n") == statistics_answer);

    // A second server at a live socket fails and leaves the first one working.
    FakeHandler other;
    BOOST_CHECK_EXCEPTION(ControlServer(io, path, "", other), std::runtime_error, [&](const std::runtime_error& e) {
        return std::string(e.what()) == "another ebpfix is using " + path;
    });
    BOOST_TEST(exchange(io, path, "graph\n") == "ok\ndigraph ebpfix {\n}\n");
    BOOST_TEST(other.calls == 0);

    // A file that is not a socket is never removed.
    const std::string file = dir.path("not-a-socket");
    {
        std::FILE* f = std::fopen(file.c_str(), "w");
        BOOST_REQUIRE(f != nullptr);
        std::fputs("keep me\n", f);
        std::fclose(f);
    }
    BOOST_CHECK_EXCEPTION(ControlServer(io, file, "", other), std::runtime_error, [&](const std::runtime_error& e) {
        return std::string(e.what()) == "control socket " + file + ": exists and is not a socket; not replacing it";
    });
    BOOST_TEST(stat_of(file).st_size == 8);
}

BOOST_AUTO_TEST_CASE(stop_closes_clients_and_removes_only_its_own_file) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const std::string path = dir.path("control.sock");
    auto server = std::make_unique<ControlServer>(io, path, "", handler);
    Client waiting(path);
    pump_until(io, [&] { return server->open_connections() == 1; }, "the session");
    server.reset();
    pump_until(io, [&] { return waiting.poll(); }, "the close");
    BOOST_TEST(waiting.received.empty());
    BOOST_TEST(!exists(path));
    BOOST_TEST(handler.calls == 0);

    // An old server does not remove the file of the one that replaced it.
    auto first = std::make_unique<ControlServer>(io, path, "", handler);
    BOOST_REQUIRE(::unlink(path.c_str()) == 0);
    auto second = std::make_unique<ControlServer>(io, path, "", handler);
    first.reset();
    BOOST_TEST(exists(path));
    BOOST_TEST(exchange(io, path, "statistics\n") == statistics_answer);
    second.reset();
    BOOST_TEST(!exists(path));
}

BOOST_AUTO_TEST_CASE(groups_of_a_proc_status_text) {
    using detail::groups_from_proc_status;
    BOOST_TEST(groups_from_proc_status("Name:\tx\nGid:\t5\t5\t5\t5\nGroups:\t4 24 27 \nNSpid:\t1\n") ==
                   (std::vector<gid_t>{4, 24, 27}),
               boost::test_tools::per_element());
    BOOST_TEST(groups_from_proc_status("Groups:\t\n").empty());
    BOOST_TEST(groups_from_proc_status("Name:\tx\n").empty());
    BOOST_TEST(groups_from_proc_status("Groups:\t65534").size() == 1u);  // no final newline
    // This process's own line says what getgroups() says.
    std::ifstream in("/proc/self/status");
    const std::string status((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<gid_t> own(std::size_t(::getgroups(0, nullptr)));
    BOOST_REQUIRE(::getgroups(int(own.size()), own.data()) == int(own.size()));
    BOOST_TEST(groups_from_proc_status(status) == own, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ebpfix_ctl_usage_errors_exit_2) {
    asio::io_context io;
    Run r = run_ebpfix(io, {"ctl"});
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.out.empty());
    BOOST_TEST(r.err.starts_with("ebpfix ctl: no command given\nUsage: ebpfix ctl [--socket PATH] COMMAND [--json]\n"));
    for (const auto& command : {"statistics", "flows", "expire-all", "reload", "templates", "graph"})
        BOOST_TEST(r.err.find(std::string("\n  ") + command + " ") != std::string::npos, command);

    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"ctl", "bogus"}, "ebpfix ctl: unknown command 'bogus'\n"},
        {{"ctl", "statistics", "--json"}, "ebpfix ctl: --json goes with flows only\n"},
        {{"ctl", "--socket"}, "ebpfix ctl: --socket needs a PATH\n"},
        {{"ctl", "--socket", "", "graph"}, "ebpfix ctl: --socket needs a PATH\n"},
        {{"ctl", "--verbose", "graph"}, "ebpfix ctl: unknown option '--verbose'\n"},
        {{"ctl", "graph", "reload"}, "ebpfix ctl: one command at a time ('graph' and 'reload')\n"}};
    for (const auto& [args, first_line] : cases) {
        BOOST_TEST_CONTEXT(args.back()) {
            const Run u = run_ebpfix(io, args);
            BOOST_TEST(u.exit_code == 2);
            BOOST_TEST(u.err.starts_with(first_line), u.err);
            BOOST_TEST(u.err.find("Usage: ebpfix ctl") != std::string::npos);
        }
    }
    const Run help = run_ebpfix(io, {"ctl", "--help"});
    BOOST_TEST(help.exit_code == 0);
    BOOST_TEST(help.out.starts_with("Usage: ebpfix ctl [--socket PATH] COMMAND [--json]\n"));
    BOOST_TEST(help.err.empty());
}

BOOST_AUTO_TEST_CASE(ebpfix_ctl_says_clearly_when_nothing_listens) {
    TempDir dir;
    asio::io_context io;
    const std::string missing = dir.path("none.sock");
    Run r = run_ebpfix(io, {"ctl", "--socket", missing, "statistics"});
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(r.out.empty());
    BOOST_TEST(r.err == "ebpfix ctl: cannot connect to " + missing +
                            ": No such file or directory (is ebpfix running? is the control socket enabled?)\n");

    // A socket file nobody listens on (a killed daemon's).
    const std::string stale = dir.path("stale.sock");
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const sockaddr_un addr = address_of(stale);
        BOOST_REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
        ::close(fd);
    }
    r = run_ebpfix(io, {"ctl", "--socket=" + stale, "flows"});
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(r.err == "ebpfix ctl: cannot connect to " + stale +
                            ": Connection refused (is ebpfix running? is the control socket enabled?)\n");
}

BOOST_AUTO_TEST_CASE(ebpfix_ctl_prints_the_body_or_the_error) {
    TempDir dir;
    asio::io_context io;
    FakeHandler handler;
    const std::string path = dir.path("control.sock");
    ControlServer server(io, path, "", handler);
    Run r = run_ebpfix(io, {"ctl", "--socket", path, "statistics"});
    BOOST_TEST(r.exit_code == 0);
    BOOST_TEST(r.out == "drain_cycles 3\nflow_table_flows 2\n");
    BOOST_TEST(r.err.empty());
    r = run_ebpfix(io, {"ctl", "flows", "--json", "--socket", path});
    BOOST_TEST(r.exit_code == 0);
    BOOST_TEST(r.out == "{\"now_ms\":1,\"flows\":0}\n");
    r = run_ebpfix(io, {"ctl", "--socket=" + path, "templates"});
    BOOST_TEST(r.exit_code == 0);
    BOOST_TEST(r.out.empty());
    BOOST_TEST(r.err.empty());
    r = run_ebpfix(io, {"ctl", "--socket", path, "expire-all"});
    BOOST_TEST(r.exit_code == 0);
    BOOST_TEST(r.out == "expired 5 flows\n");
    r = run_ebpfix(io, {"ctl", "--socket", path, "reload"});
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(r.out.empty());
    BOOST_TEST(r.err == "ebpfix ctl: bad.toml:3:1: oops second line\n");
    BOOST_TEST(handler.calls == 5);

    // Someone else: the file's mode refuses, then (opened up) the credential check does.
    const Credentials nobody{65534, 65534, {}};
    r = run_ebpfix(io, {"ctl", "--socket", path, "statistics"}, nobody);
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(r.err == "ebpfix ctl: cannot connect to " + path +
                            ": Permission denied (only root, ebpfix's own user and members of the socket's group may "
                            "use it)\n");
    BOOST_REQUIRE(::chmod(path.c_str(), 0666) == 0);
    r = run_ebpfix(io, {"ctl", "--socket", path, "statistics"}, nobody);
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(r.out.empty());
    BOOST_TEST(r.err == "ebpfix ctl: not allowed\n");
    BOOST_TEST(handler.calls == 5);
}
