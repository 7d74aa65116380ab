// Network namespaces for tests. The test process first moves itself into a private,
// anonymous namespace (enter_private_netns), so nothing it creates is visible from, or
// routes to, the host; peers live in named namespaces that are deleted by RAII.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

namespace ebpfix::test {

// Runs a shell command; throws with the command text when it fails.
inline void sh(const std::string& cmd) {
    int rc = std::system(cmd.c_str());
    if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd);
}

inline void write_sysctl(const std::string& path, const std::string& value) {
    std::ofstream out("/proc/sys/" + path);
    out << value;
    if (!out) throw std::runtime_error("cannot set /proc/sys/" + path);
}

// Unshares the calling thread (call it from main, before starting threads) into a new
// network namespace with only loopback.
inline void enter_private_netns() {
    if (::unshare(CLONE_NEWNET) != 0) throw std::runtime_error("unshare(CLONE_NEWNET) failed");
    sh("ip link set lo up");
}

class NamedNetns {
public:
    explicit NamedNetns(std::string name) : name_(std::move(name)) {
        std::system(("ip netns del " + name_ + " 2>/dev/null").c_str());  // a leftover of a killed run
        sh("ip netns add " + name_);
        sh("ip -n " + name_ + " link set lo up");
    }
    ~NamedNetns() { std::system(("ip netns del " + name_ + " 2>/dev/null").c_str()); }
    NamedNetns(const NamedNetns&) = delete;
    NamedNetns& operator=(const NamedNetns&) = delete;

    const std::string& name() const { return name_; }

    // Runs f on a thread that has joined this namespace; sockets it creates stay there.
    template <typename F>
    auto run_inside(F f) const -> decltype(f()) {
        std::packaged_task<decltype(f())()> task([this, &f] {
            int fd = ::open(("/var/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) throw std::runtime_error("cannot open netns " + name_);
            int rc = ::setns(fd, CLONE_NEWNET);
            ::close(fd);
            if (rc != 0) throw std::runtime_error("setns into " + name_ + " failed");
            return f();
        });
        auto result = task.get_future();
        std::thread(std::move(task)).join();
        return result.get();
    }

private:
    std::string name_;
};

}  // namespace ebpfix::test
