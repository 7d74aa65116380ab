#include "daemon/privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace ebpfix::daemon {

namespace {

#ifndef CAP_BPF
constexpr int CAP_BPF = 39;
#endif

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("dropping privileges: " + what + ": " + std::strerror(errno));
}

// glibc has no capset(); the raw syscall with the v3 (64-bit) layout.
void set_caps(std::uint64_t keep) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; ++i) {
        const auto bits = static_cast<std::uint32_t>(keep >> (32 * i));
        data[i].effective = bits;
        data[i].permitted = bits;
        data[i].inheritable = 0;
    }
    if (syscall(SYS_capset, &header, data) != 0) fail("capset");
}

bool has_effective(int cap) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0) return false;
    return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

}  // namespace

void drop_privileges(const std::string& user) {
    const std::uint64_t keep = (1ull << CAP_BPF) | (1ull << CAP_NET_ADMIN);
    // The bounding set first, while CAP_SETPCAP is still effective: nothing we might
    // exec later can gain more than we keep.
    // Under systemd (User=ebpfix, a bounding set already cut) CAP_SETPCAP is gone: the
    // bounding set is then already what the unit allows, so leave it.
    const bool can_setpcap = prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) == 1 && has_effective(CAP_SETPCAP);
    for (int cap = 0; can_setpcap && cap <= 63; ++cap) {
        if (keep & (1ull << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail("PR_CAPBSET_DROP");
    }
    if (!user.empty()) {
        errno = 0;
        const passwd* pw = getpwnam(user.c_str());
        if (pw == nullptr) {
            if (errno == 0) errno = ENOENT;
            fail("no user '" + user + "'");
        }
        const uid_t uid = pw->pw_uid;
        const gid_t gid = pw->pw_gid;
        // Started as that user already (systemd User=): only the capabilities remain to cut.
        const bool already = getuid() == uid && geteuid() == uid && getgid() == gid;
        if (!already) {
            // Keep the permitted set across setuid; effective is re-raised below.
            if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("PR_SET_KEEPCAPS");
            if (setgroups(0, nullptr) != 0) fail("setgroups");
            if (setresgid(gid, gid, gid) != 0) fail("setresgid");
            if (setresuid(uid, uid, uid) != 0) fail("setresuid");
            if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail("clearing PR_SET_KEEPCAPS");
        }
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    set_caps(keep);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("PR_SET_NO_NEW_PRIVS");
}

}  // namespace ebpfix::daemon
