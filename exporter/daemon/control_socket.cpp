#include "daemon/control_socket.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "common/log.hpp"
#include "daemon/control_protocol.hpp"
#include "sinks/flow_log.hpp"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59  // Linux 4.13, asm-generic/socket.h
#endif

namespace ebpfix::daemon {

namespace asio = boost::asio;
using local_stream = asio::local::stream_protocol;

ControlHandler::~ControlHandler() = default;

namespace detail {

std::vector<gid_t> groups_from_proc_status(std::string_view status) {
    std::vector<gid_t> groups;
    std::size_t pos = 0;
    while (pos < status.size()) {
        const std::size_t end = std::min(status.find('\n', pos), status.size());
        std::string_view line = status.substr(pos, end - pos);
        pos = end + 1;
        if (!line.starts_with("Groups:")) continue;
        line.remove_prefix(7);
        while (!line.empty()) {
            const std::size_t skip = line.find_first_not_of(" \t");
            if (skip == std::string_view::npos) break;
            line.remove_prefix(skip);
            gid_t gid = 0;
            const auto [next, ec] = std::from_chars(line.data(), line.data() + line.size(), gid);
            if (ec != std::errc()) break;  // not a number: stop rather than guess
            groups.push_back(gid);
            line.remove_prefix(static_cast<std::size_t>(next - line.data()));
        }
        break;
    }
    return groups;
}

}  // namespace detail

namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::runtime_error failure(const std::string& path, const std::string& what) {
    return std::runtime_error("control socket " + path + ": " + what);
}

std::string duration_text(std::chrono::milliseconds d) {
    return sinks::go_duration(static_cast<std::uint64_t>(d.count()) * 1'000'000);
}

std::optional<gid_t> look_up_group(const std::string& name) {
    if (name.empty()) return std::nullopt;
    long size = ::sysconf(_SC_GETGR_R_SIZE_MAX);
    std::vector<char> buffer(size > 0 ? std::size_t(size) : 16384);
    group entry{};
    group* found = nullptr;
    int err = 0;
    while ((err = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
           buffer.size() < (1u << 20))
        buffer.resize(buffer.size() * 2);
    if (found == nullptr) return std::nullopt;
    return entry.gr_gid;
}

void set_cloexec(int fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

// Creates the missing directories of path's parent with 0755 (as /run/ebpfix is made).
void make_parent_directories(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    if (slash == 0 || slash == std::string::npos) return;
    const std::string dir = path.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) throw failure(path, dir + " is not a directory");
        return;
    }
    for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos != dir.size() && dir[pos] != '/') continue;
        const std::string part = dir.substr(0, pos);
        if (::mkdir(part.c_str(), 0755) == 0) {
            ::chmod(part.c_str(), 0755);  // whatever the umask
        } else if (errno != EEXIST) {
            throw failure(path, "cannot create directory " + part + ": " + errno_text(errno));
        }
    }
}

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

// A socket file nobody listens on is left over from a killed server and is removed; a
// live one belongs to a running instance and stays.
void remove_stale_socket(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        throw failure(path, errno_text(errno));
    }
    if (!S_ISSOCK(st.st_mode)) throw failure(path, "exists and is not a socket; not replacing it");
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw failure(path, "cannot create a socket: " + errno_text(errno));
    const sockaddr_un addr = address_of(path);
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    const int err = errno;
    ::close(fd);
    if (rc == 0) throw std::runtime_error("another ebpfix is using " + path);
    if (err != ECONNREFUSED && err != ENOENT) throw failure(path, "cannot tell whether it is in use: " + errno_text(err));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        throw failure(path, "cannot remove the stale socket: " + errno_text(errno));
    log_info("control socket " + path + ": removed a stale socket file");
}

// What the peer is, from the kernel's record at connect() (not racy like a pid lookup).
bool peer_allowed(int fd, std::optional<gid_t> group, std::string& who) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        who = "unknown peer (" + errno_text(errno) + ")";
        return false;
    }
    who = "uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid);
    if (cred.uid == 0 || cred.uid == ::geteuid()) return true;
    if (!group) return false;
    if (cred.gid == *group) return true;
    std::vector<gid_t> groups(64);
    for (;;) {
        socklen_t bytes = socklen_t(groups.size() * sizeof(gid_t));
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
            groups.resize(bytes / sizeof(gid_t));
            break;
        }
        if (errno == ERANGE && bytes > groups.size() * sizeof(gid_t)) {
            groups.resize(bytes / sizeof(gid_t) + 1);
            continue;
        }
        // A kernel without SO_PEERGROUPS: the peer process's groups now.
        std::ifstream in("/proc/" + std::to_string(cred.pid) + "/status");
        std::stringstream text;
        text << in.rdbuf();
        groups = detail::groups_from_proc_status(text.str());
        break;
    }
    return std::find(groups.begin(), groups.end(), *group) != groups.end();
}

// Reads whatever the peer sent and is still queued, without waiting: closing a UNIX
// stream socket with unread input makes the peer's read fail with ECONNRESET.
void discard_input(int fd) {
    std::array<char, 4096> buf;
    for (int i = 0; i < 16; ++i)
        if (::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT) <= 0) break;
}

}  // namespace

namespace {
class Session;
}

struct ControlServer::State {
    State(asio::io_context& io, ControlHandler& h, std::optional<gid_t> g, ControlLimits l)
        : acceptor(io), retry_timer(io), handler(h), group(g), limits(l) {}
    local_stream::acceptor acceptor;
    asio::steady_timer retry_timer;  // backs off when accept fails (EMFILE, ENOBUFS)
    ControlHandler& handler;
    std::optional<gid_t> group;
    ControlLimits limits;
    std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
    bool stopped = false;
};

namespace {

using State = ControlServer::State;

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(std::shared_ptr<State> state, local_stream::socket socket)
        : state_(std::move(state)), socket_(std::move(socket)), deadline_(socket_.get_executor()) {}

    ~Session() { state_->sessions.erase(this); }

    void start() {
        state_->sessions.emplace(this, weak_from_this());
        std::string who;
        if (!peer_allowed(socket_.native_handle(), state_->group, who)) {
            log_debug("control socket: refused " + who);
            return respond(control::response_error("not allowed"));
        }
        read_request();
    }

    // Called by stop(): ends whatever is pending.
    void abort() {
        boost::system::error_code ignored;
        deadline_.cancel();
        socket_.close(ignored);
    }

private:
    // Each deadline has an id, so that one that fired just as its step completed cannot
    // act on the next step.
    template <typename OnExpiry>
    void arm_deadline(std::chrono::milliseconds after, OnExpiry on_expiry) {
        const std::uint64_t id = ++deadline_id_;
        deadline_.expires_after(after);
        deadline_.async_wait([self = shared_from_this(), id, on_expiry](const boost::system::error_code& ec) {
            if (ec || self->state_->stopped || id != self->deadline_id_) return;
            on_expiry(*self);
        });
    }

    void disarm_deadline() {
        ++deadline_id_;
        deadline_.cancel();
    }

    void read_request() {
        arm_deadline(state_->limits.read_timeout, [](Session& s) {
            s.read_timed_out_ = true;
            boost::system::error_code ignored;
            s.socket_.cancel(ignored);
        });
        // One byte more than a request may have: a full buffer without "\n" is too long.
        asio::async_read_until(socket_, asio::dynamic_buffer(input_, control::max_request_bytes + 1), '\n',
                               [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                                   self->on_read(ec, n);
                               });
    }

    void on_read(const boost::system::error_code& ec, std::size_t line_end) {
        disarm_deadline();
        if (state_->stopped) return;
        if (!ec) return answer(std::string_view(input_).substr(0, line_end - 1));
        if (ec == asio::error::operation_aborted && read_timed_out_)
            return respond(control::response_error("no complete request line within " +
                                                    duration_text(state_->limits.read_timeout)));
        if (ec == asio::error::not_found)
            return respond(control::response_error("request longer than " +
                                                   std::to_string(control::max_request_bytes) + " bytes"));
        if (ec == asio::error::eof)
            return respond(control::response_error(input_.empty() ? "empty request"
                                                                  : "request not terminated by a newline"));
        // Reset or aborted: nobody to answer.
    }

    // The answer to one line: the first line, and the body of an "ok".
    void answer(std::string_view line) {
        const control::ParseResult parsed = control::parse_request(line);
        if (!parsed.request) return respond(control::response_error(parsed.error));
        ControlHandler& h = state_->handler;
        std::string body;
        try {
            switch (parsed.request->command) {
                case control::Command::statistics: body = h.statistics(); break;
                case control::Command::flows: body = h.flows(parsed.request->json); break;
                case control::Command::expire_all: body = h.expire_all(); break;
                case control::Command::reload: body = h.reload(); break;
                case control::Command::templates: body = h.templates(); break;
                case control::Command::graph: body = h.graph(); break;
            }
        } catch (const std::exception& e) {
            return respond(control::response_error(e.what()));
        } catch (...) {
            return respond(control::response_error("the command failed"));
        }
        control::finish_body(body);
        respond(std::string(control::ok_line), std::move(body));
    }

    void respond(std::string head, std::string body = {}) {
        // The handler may have stopped the server (a reload that moved the socket).
        if (state_->stopped) return;
        head_ = std::move(head);
        body_ = std::move(body);
        arm_deadline(state_->limits.write_timeout, [](Session& s) {
            log_debug("control socket: a client did not take its answer within " +
                      duration_text(s.state_->limits.write_timeout) + "; closed");
            boost::system::error_code ignored;
            s.socket_.close(ignored);
        });
        const std::array<asio::const_buffer, 2> parts{asio::buffer(head_), asio::buffer(body_)};
        asio::async_write(socket_, parts, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
            self->disarm_deadline();
            if (ec || self->state_->stopped) return;
            discard_input(self->socket_.native_handle());
            boost::system::error_code ignored;
            self->socket_.shutdown(local_stream::socket::shutdown_both, ignored);
            self->socket_.close(ignored);
        });
    }

    std::shared_ptr<State> state_;
    local_stream::socket socket_;
    asio::steady_timer deadline_;
    std::uint64_t deadline_id_ = 0;
    bool read_timed_out_ = false;
    std::string input_;
    std::string head_;  // "ok" or the error line
    std::string body_;
};

void refuse_busy(local_stream::socket& socket) {
    // A fresh socket's send buffer is empty: this short write never blocks.
    const int fd = socket.native_handle();
    const std::string busy = control::response_error("busy");
    discard_input(fd);
    [[maybe_unused]] const ssize_t sent = ::send(fd, busy.data(), busy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    boost::system::error_code ignored;
    socket.close(ignored);
}

void accept_next(const std::shared_ptr<State>& state) {
    state->acceptor.async_accept([state](const boost::system::error_code& ec, local_stream::socket socket) {
        if (state->stopped) return;
        if (ec) {
            if (ec == asio::error::operation_aborted) return;
            // Out of descriptors or buffers: try again shortly instead of spinning.
            state->retry_timer.expires_after(std::chrono::milliseconds(100));
            state->retry_timer.async_wait([state](const boost::system::error_code& wait_ec) {
                if (!wait_ec && !state->stopped) accept_next(state);
            });
            return;
        }
        set_cloexec(socket.native_handle());
        if (state->sessions.size() >= state->limits.max_clients)
            refuse_busy(socket);
        else
            std::make_shared<Session>(state, std::move(socket))->start();
        accept_next(state);
    });
}

}  // namespace

ControlServer::ControlServer(asio::io_context& io, const std::string& path, const std::string& group,
                             ControlHandler& handler, ControlLimits limits)
    : path_(path) {
    if (path.empty() || path.front() != '/') throw failure(path, "the path must be absolute");
    if (path.size() >= sizeof(sockaddr_un::sun_path))
        throw failure(path, "the path is longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    if (path.find('\0') != std::string::npos) throw failure(path, "the path contains a NUL byte");
    if (limits.max_clients == 0) throw failure(path, "max_clients must be at least 1");
    if (limits.read_timeout.count() <= 0 || limits.write_timeout.count() <= 0)
        throw failure(path, "timeouts must be positive");

    make_parent_directories(path);
    remove_stale_socket(path);
    gid_ = look_up_group(group);
    if (!group.empty() && !gid_)
        log_info("control socket " + path + ": no group '" + group + "'; only root can use it (mode 0600)");

    state_ = std::make_shared<State>(io, handler, gid_, limits);
    auto& acceptor = state_->acceptor;
    boost::system::error_code ec;
    acceptor.open(local_stream(), ec);
    if (ec) throw failure(path, "cannot create a socket: " + ec.message());
    set_cloexec(acceptor.native_handle());
    acceptor.bind(local_stream::endpoint(path), ec);
    if (ec) throw failure(path, "cannot bind: " + ec.message());
    // Mode and group are set before listen(): until then a connect() is refused, so no
    // one gets in through the mode bind() left.
    auto undo = [&](const std::string& what) {
        const int err = errno;
        ::unlink(path.c_str());
        return failure(path, what + ": " + errno_text(err));
    };
    if (gid_ && ::chown(path.c_str(), static_cast<uid_t>(-1), *gid_) != 0) {
        log_warning("control socket " + path + ": cannot give it to group '" + group + "' (" + errno_text(errno) +
                    "); only root can use it (mode 0600)");
        gid_.reset();
        state_->group.reset();
    }
    if (::chmod(path.c_str(), gid_ ? 0660 : 0600) != 0) throw undo("cannot set its mode");
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw undo("cannot stat it");
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        ::unlink(path.c_str());
        throw failure(path, "cannot listen: " + ec.message());
    }
    accept_next(state_);
}

ControlServer::~ControlServer() { stop(); }

std::size_t ControlServer::open_connections() const noexcept { return state_ ? state_->sessions.size() : 0; }

void ControlServer::stop() {
    if (!state_ || state_->stopped) return;
    state_->stopped = true;
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    state_->retry_timer.cancel();
    // Copy first: closing must not run into a session erasing itself from the map.
    std::vector<std::shared_ptr<Session>> live;
    for (auto& [raw, weak] : state_->sessions)
        if (auto s = weak.lock()) live.push_back(std::move(s));
    for (auto& s : live) s->abort();
    // A later ebpfix may have replaced a file we could not tell from stale: leave its own.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_ && ::unlink(path_.c_str()) != 0)
        log_debug("control socket " + path_ + ": cannot remove it: " + errno_text(errno));
}

}  // namespace ebpfix::daemon
