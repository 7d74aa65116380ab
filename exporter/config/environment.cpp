// check_environment: what a valid configuration still needs from this machine.
#include <grp.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "config/config.hpp"
#include "config/rules.hpp"

namespace ebpfix::config {

namespace {

// getpwnam_r: "" when the user exists, else why not.
std::string look_up_user(const std::string& name) {
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(size > 0 ? std::size_t(size) : 16384);
    passwd entry{};
    passwd* found = nullptr;
    int err = 0;
    while ((err = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
           buffer.size() < (1u << 20))
        buffer.resize(buffer.size() * 2);
    if (found != nullptr) return "";
    // 0, ENOENT, ESRCH, EBADF and EPERM all mean "no such user" (getpwnam_r(3)).
    if (err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM) return "no such user";
    return std::string("cannot look it up: ") + std::strerror(err);
}

// getgrnam_r: "" when the group exists, else why not.
std::string look_up_group(const std::string& name) {
    long size = ::sysconf(_SC_GETGR_R_SIZE_MAX);
    std::vector<char> buffer(size > 0 ? std::size_t(size) : 16384);
    group entry{};
    group* found = nullptr;
    int err = 0;
    while ((err = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
           buffer.size() < (1u << 20))
        buffer.resize(buffer.size() * 2);
    if (found != nullptr) return "";
    if (err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM) return "no such group";
    return std::string("cannot look it up: ") + std::strerror(err);
}

bool is_cgroup2(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && static_cast<unsigned long>(fs.f_type) == CGROUP2_SUPER_MAGIC;
}

// "" when path is a cgroup v2 directory, else why not.
std::string check_cgroup2_directory(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
    if (!S_ISDIR(st.st_mode)) return "not a directory";
    struct statfs fs {};
    if (::statfs(path.c_str(), &fs) != 0) return std::strerror(errno);
    const auto type = static_cast<unsigned long>(fs.f_type);
    if (type == CGROUP2_SUPER_MAGIC) return "";
    std::string what;
    if (type == CGROUP_SUPER_MAGIC) {
        what = "a cgroup v1 hierarchy";
    } else if (type == TMPFS_MAGIC) {
        what = "tmpfs";
    } else {
        char hex[32];
        std::snprintf(hex, sizeof hex, "%#lx", type);
        what = std::string("filesystem type ") + hex;
    }
    std::string why = "not a cgroup v2 directory (" + what + ")";
    // A hybrid layout (systemd's) mounts v2 below the v1 controllers.
    if (const std::string unified = path + (path.ends_with('/') ? "" : "/") + "unified"; is_cgroup2(unified))
        why += "; the cgroup v2 hierarchy here is " + unified;
    return why;
}

// "" when path is a directory, else why not.
std::string check_directory(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
    if (!S_ISDIR(st.st_mode)) return "not a directory";
    return "";
}

}  // namespace

std::string resolve_with_getaddrinfo(const std::string& host, std::uint16_t port, bool stream) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = stream ? SOCK_STREAM : SOCK_DGRAM;
    hints.ai_protocol = stream ? IPPROTO_TCP : IPPROTO_UDP;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* result = nullptr;
    const std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
    if (rc == 0) {
        ::freeaddrinfo(result);
        return "";
    }
    return rc == EAI_SYSTEM ? std::string(std::strerror(errno)) : std::string(::gai_strerror(rc));
}

std::vector<Problem> check_environment(const Config& config) {
    return check_environment(config, resolve_with_getaddrinfo);
}

std::vector<Problem> check_environment(const Config& c, const Resolver& resolve) {
    std::vector<Problem> problems;
    auto add = [&](Problem::Severity severity, const std::string& key, const std::string& message) {
        problems.push_back(Problem{severity, detail::place_of(c, key) + ": " + message + " (" + key + ")"});
    };

    // Interfaces are not used for a capture file.
    if (c.pcap_file.empty()) {
        for (std::size_t i = 0; i < c.interfaces.size(); ++i) {
            if (::if_nametoindex(c.interfaces[i].c_str()) != 0) continue;
            add(Problem::Severity::warning, "interfaces[" + std::to_string(i) + "]",
                "interface " + quoted(c.interfaces[i]) + " is not present now; ebpfix attaches to it when it appears");
        }
    }

    // A capture file hooks nothing.
    if (c.capture == CaptureMode::cgroup && c.pcap_file.empty()) {
        if (std::string why = check_cgroup2_directory(c.cgroup_path); !why.empty())
            add(Problem::Severity::error, "cgroup", "cgroup " + quoted(c.cgroup_path) + ": " + why);
    }

    for (std::size_t i = 0; i < c.collectors.size(); ++i) {
        const CollectorConfig& cc = c.collectors[i];
        // Kafka brokers are not looked up here: librdkafka resolves them, again at each connect.
        if (std::string why = resolve(cc.host, cc.port, cc.transport == Transport::tcp); !why.empty())
            add(Problem::Severity::error, "collector[" + std::to_string(i) + "].address",
                "collector " + cc.source() + ": cannot resolve " + quoted(cc.host) + ": " + why);
    }
    // ebpfix's enterprise IEs go to IPFIX collectors with attribution on.
    const bool ipfix_collector = std::any_of(c.collectors.begin(), c.collectors.end(), [](const CollectorConfig& cc) {
        return !cc.netflow5 && cc.encoder.protocol == ipfix::Protocol::ipfix;
    });
    if (c.attribution && ipfix_collector && ipfix::nfdump_misreads_enterprise_number(c.ipfix_enterprise))
        add(Problem::Severity::warning, "attribution.ipfix_enterprise",
            "enterprise number " + std::to_string(c.ipfix_enterprise) +
                ": nfdump keeps only the low 16 bits of an enterprise number and reads ebpfix's enterprise fields "
                "under it as other fields (docs/ipfix.md, \"Attribution\"); choose a number whose low 16 bits are "
                "neither 0 nor 29305 if nfdump reads this export");

    if (!c.metrics_listen.empty()) {
        HostPort hp;
        try {
            hp = parse_host_port(c.metrics_listen, PortZero::allowed);
        } catch (const std::invalid_argument& e) {
            add(Problem::Severity::error, "metrics.listen", e.what());  // validate() reports it first
            hp.host.clear();
        }
        if (!hp.host.empty()) {
            if (std::string why = resolve(hp.host, hp.port, true); !why.empty())
                add(Problem::Severity::error, "metrics.listen",
                    "metrics address " + quoted(c.metrics_listen) + ": cannot resolve " + quoted(hp.host) + ": " + why);
        }
    }

    if (!c.user.empty()) {
        if (std::string why = look_up_user(c.user); !why.empty())
            add(Problem::Severity::error, "privileges.user", "user " + quoted(c.user) + ": " + why);
    }

    if (!c.per_user_log.empty()) {
        if (std::string why = check_directory(c.per_user_log); !why.empty())
            add(Problem::Severity::error, "log.per_user", "per-user log directory " + quoted(c.per_user_log) + ": " + why);
    }

    // The daemon runs without the group, with a socket only root can use. The default
    // group comes with the Debian package; without it (`sudo ebpfix eth0` from a build)
    // a root-only socket is what one expects, so only a group someone named is checked.
    if (!c.control_socket.empty() && c.origins.count("control_group") != 0) {
        if (std::string why = look_up_group(c.control_group); !why.empty())
            add(Problem::Severity::warning, "control_group",
                "group " + quoted(c.control_group) + ": " + why + "; the socket will be root-only");
    }
    return problems;
}

std::string cgroup2_root() {
    std::ifstream mounts("/proc/self/mounts");
    std::string device, point, type, rest;
    while (mounts >> device >> point >> type && std::getline(mounts, rest))
        if (type == "cgroup2") return point;
    return "";
}

}  // namespace ebpfix::config
