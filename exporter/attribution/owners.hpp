// Who owns a flow's local socket, resolved in the daemon: the kernel records the
// socket's creator under its cookie (bpf/flow_abi.h, struct ebpfix_owner); here the
// numbers get names (uid -> user, cgroup id -> path under the cgroup root) and are kept
// for the outputs. Wide, rare fields are joined here, never carried per packet.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "flow_abi.h"

namespace ebpfix::attribution {

struct Owner {
    std::optional<std::uint32_t> uid;
    std::string user;                     // "" when the uid has no name
    std::optional<std::uint32_t> pid;     // the socket's creator (absent for partial owners)
    std::string comm;
    std::optional<std::uint64_t> cgroup_id;
    std::string cgroup;                   // path below the cgroup root ("/user.slice/..."); "" unknown
};

class OwnerDirectory {
public:
    // Reads the kernel's record of a socket cookie (nullopt: none).
    using Fetch = std::function<std::optional<ebpfix_owner>(std::uint64_t cookie)>;
    // Names a uid (nullopt: none); getpwuid_r by default.
    using UserName = std::function<std::optional<std::string>(std::uint32_t uid)>;

    explicit OwnerDirectory(Fetch fetch, std::string cgroup_root = "/sys/fs/cgroup", UserName user_name = {});

    // The owner of a socket cookie, or nullptr (cookie 0, or unknown to the kernel).
    // Pointers stay valid until forget_older_than() drops the entry.
    const Owner* find(std::uint64_t cookie);

    // Drops owners not asked for since `generation` (see tick()); bounds memory.
    void forget_older_than(std::uint64_t generation);
    // Starts a new generation (one per drain cycle) and returns it.
    std::uint64_t tick() noexcept { return ++generation_; }

    // The cgroup path of an id, rescanning the cgroup tree (at most once per tick) when
    // the id is new: cgroups appear while ebpfix runs.
    std::string cgroup_path(std::uint64_t cgroup_id);

    std::size_t size() const noexcept { return owners_.size(); }

private:
    struct Entry {
        Owner owner;
        std::uint64_t used = 0;
    };
    void scan_cgroups();

    Fetch fetch_;
    std::string cgroup_root_;
    UserName user_name_;
    std::unordered_map<std::uint64_t, Entry> owners_;
    std::unordered_map<std::uint32_t, std::string> users_;
    std::unordered_map<std::uint64_t, std::string> cgroups_;
    std::uint64_t generation_ = 1;
    std::uint64_t scanned_generation_ = 0;
};

// The id the kernel reports for a cgroup directory (its kernfs inode number, as
// bpf_get_current_cgroup_id() and bpf_skb_cgroup_id() return it), or nullopt.
std::optional<std::uint64_t> cgroup_id_of(const std::string& path);

}  // namespace ebpfix::attribution
