#include "attribution/owners.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <vector>

namespace ebpfix::attribution {

namespace {

std::optional<std::string> getpw_name(std::uint32_t uid) {
    passwd pw{};
    passwd* result = nullptr;
    std::vector<char> buf(16384);
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr) return std::nullopt;
    return std::string(pw.pw_name);
}

}  // namespace

std::optional<std::uint64_t> cgroup_id_of(const std::string& path) {
    // cgroup v2 ids are the directory's inode number on the cgroup file system.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    return static_cast<std::uint64_t>(st.st_ino);
}

OwnerDirectory::OwnerDirectory(Fetch fetch, std::string cgroup_root, UserName user_name)
    : fetch_(std::move(fetch)), cgroup_root_(std::move(cgroup_root)), user_name_(std::move(user_name)) {
    if (!user_name_) user_name_ = getpw_name;
}

void OwnerDirectory::scan_cgroups() {
    if (scanned_generation_ == generation_) return;
    scanned_generation_ = generation_;
    std::error_code ec;
    const std::filesystem::path root(cgroup_root_);
    if (auto id = cgroup_id_of(cgroup_root_)) cgroups_[*id] = "/";
    for (std::filesystem::recursive_directory_iterator it(root, std::filesystem::directory_options::skip_permission_denied,
                                                          ec),
         end;
         !ec && it != end; it.increment(ec)) {
        if (!it->is_directory(ec)) continue;
        if (auto id = cgroup_id_of(it->path().string())) {
            std::string rel = "/" + std::filesystem::relative(it->path(), root, ec).string();
            cgroups_[*id] = rel;
        }
    }
}

std::string OwnerDirectory::cgroup_path(std::uint64_t cgroup_id) {
    auto it = cgroups_.find(cgroup_id);
    if (it == cgroups_.end()) {
        scan_cgroups();
        it = cgroups_.find(cgroup_id);
    }
    return it == cgroups_.end() ? std::string() : it->second;
}

const Owner* OwnerDirectory::find(std::uint64_t cookie) {
    if (cookie == 0) return nullptr;
    if (auto it = owners_.find(cookie); it != owners_.end()) {
        it->second.used = generation_;
        return &it->second.owner;
    }
    const std::optional<ebpfix_owner> k = fetch_ ? fetch_(cookie) : std::nullopt;
    if (!k) return nullptr;
    Owner o;
    o.uid = k->uid;
    if (auto u = users_.find(k->uid); u != users_.end()) {
        o.user = u->second;
    } else {
        o.user = user_name_(k->uid).value_or("");
        users_[k->uid] = o.user;
    }
    if (!(k->flags & EBPFIX_OWNER_PARTIAL)) {
        o.pid = k->pid;
        o.comm.assign(k->comm, strnlen(k->comm, sizeof(k->comm)));
    }
    if (k->cgroup_id != 0) {
        o.cgroup_id = k->cgroup_id;
        o.cgroup = cgroup_path(k->cgroup_id);
    }
    Entry& e = owners_[cookie];
    e.owner = std::move(o);
    e.used = generation_;
    return &e.owner;
}

void OwnerDirectory::forget_older_than(std::uint64_t generation) {
    for (auto it = owners_.begin(); it != owners_.end();)
        it = it->second.used < generation ? owners_.erase(it) : std::next(it);
}

}  // namespace ebpfix::attribution
