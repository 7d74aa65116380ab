// The control socket server (`ebpfix ctl`): a UNIX stream socket on the daemon's
// io_context that answers one request line per connection (daemon/control_protocol.hpp).
//
// Who may ask: the socket file is mode 0660, group control_group (0600 when that group
// does not exist), and each connection's credentials are checked again (SO_PEERCRED):
// uid 0, the daemon's own uid, or a member of the group. Hostile clients are bounded: the
// request must arrive within read_timeout, the answer must be taken within write_timeout,
// at most max_clients are served at once (more are answered "error: busy"), and nothing
// waits on one client while others or the drain timer are due.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace ebpfix::daemon {

// What the daemon answers. Each call returns the body of an "ok" response; a thrown
// std::exception becomes "error: what()". Called on the io_context's thread.
struct ControlHandler {
    virtual ~ControlHandler();
    virtual std::string statistics() = 0;
    virtual std::string flows(bool json) = 0;
    virtual std::string expire_all() = 0;
    virtual std::string reload() = 0;
    virtual std::string templates() = 0;
    virtual std::string graph() = 0;
};

struct ControlLimits {
    std::chrono::milliseconds read_timeout{5000};    // from accept to the request's "\n"
    std::chrono::milliseconds write_timeout{10000};  // for the whole answer to be taken
    std::size_t max_clients = 16;
};

class ControlServer {
public:
    // Creates the socket's directory (0755) if missing, replaces a stale socket file (one
    // nobody listens on), binds, sets mode and group, then listens. group "" or a group
    // that does not exist: a root-only socket (0600). Throws std::runtime_error naming the
    // path: "another ebpfix is using PATH" when a server answers there, or what failed.
    // The handler must outlive the server.
    ControlServer(boost::asio::io_context& io, const std::string& path, const std::string& group,
                  ControlHandler& handler, ControlLimits limits = {});
    ~ControlServer();  // stop()
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    const std::string& path() const noexcept { return path_; }
    // The socket's group, when it has one (mode 0660).
    std::optional<gid_t> group_id() const noexcept { return gid_; }
    std::size_t open_connections() const noexcept;

    // Closes the listener and every connection and removes the socket file (when it is
    // still the one this server made). The handler is not called any more. Idempotent.
    void stop();

    struct State;  // shared with the connections, which may outlive the server object

private:
    std::shared_ptr<State> state_;
    std::string path_;
    std::optional<gid_t> gid_;
    dev_t dev_ = 0;  // the socket file this server bound, so stop() removes only that
    ino_t ino_ = 0;
};

namespace detail {
// The supplementary groups in the "Groups:" line of a /proc/PID/status text (the fallback
// when the kernel has no SO_PEERGROUPS); empty when there is no such line.
std::vector<gid_t> groups_from_proc_status(std::string_view status);
}  // namespace detail

}  // namespace ebpfix::daemon
