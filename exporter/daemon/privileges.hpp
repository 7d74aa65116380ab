// Giving up what the daemon no longer needs once its program is loaded and attached.
#pragma once

#include <string>

namespace ebpfix::daemon {

// Switches to `user` (and its primary group, no supplementary groups) and keeps only
// CAP_BPF and CAP_NET_ADMIN, which draining, re-attaching to returning devices and
// SIGHUP interface changes need; every other capability is dropped from the effective,
// permitted, inheritable, ambient and bounding sets, and no_new_privs is set.
// An empty user keeps the uid and only drops capabilities. Throws std::runtime_error.
void drop_privileges(const std::string& user);

}  // namespace ebpfix::daemon
