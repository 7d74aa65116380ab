#include "capture/cgroup_capture.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>

namespace ebpfix::capture {

CgroupCapture::CgroupCapture(const Settings& settings, const bpf::FlowProgram& program, Logger log)
    : settings_(settings), program_(program), log_(std::move(log)) {}

CgroupCapture::~CgroupCapture() { detach(); }

void CgroupCapture::attach() {
    const int dir = ::open(settings_.cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) throw bpf::BpfError("opening cgroup " + settings_.cgroup_path, errno);
    auto link = [&](Direction d) {
        const int fd = bpf_link_create(program_.cgroup_program_fd(d), dir,
                                       d == Direction::ingress ? BPF_CGROUP_INET_INGRESS : BPF_CGROUP_INET_EGRESS,
                                       nullptr);
        if (fd < 0) {
            const int err = errno;
            ::close(dir);
            detach();
            throw bpf::BpfError("attaching to cgroup " + settings_.cgroup_path +
                                    (d == Direction::ingress ? " (ingress)" : " (egress)"),
                                err);
        }
        return fd;
    };
    egress_link_ = link(Direction::egress);
    ingress_link_ = link(Direction::ingress);
    ::close(dir);
    log_("attached to cgroup " + settings_.cgroup_path + " (ingress and egress of its sockets)");
}

void CgroupCapture::detach() {
    for (int* fd : {&ingress_link_, &egress_link_}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
    }
}

std::vector<Status> CgroupCapture::status() const {
    return {Status{settings_.cgroup_path, 0, ingress_link_ >= 0, "cgroup"}};
}

std::string CgroupCapture::name_of(unsigned ifindex) const {
    if (auto it = names_.find(ifindex); it != names_.end()) return it->second;
    char buf[IF_NAMESIZE] = {};
    std::string name = if_indextoname(ifindex, buf) != nullptr ? std::string(buf) : "if" + std::to_string(ifindex);
    if (ifindex != 0) names_[ifindex] = name;
    return name;
}

SocketHook::SocketHook(const bpf::FlowProgram& program, const std::string& cgroup_path) {
    const int dir = ::open(cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) throw bpf::BpfError("opening cgroup " + cgroup_path + " for the socket hook", errno);
    link_ = bpf_link_create(program.sock_create_program_fd(), dir, BPF_CGROUP_INET_SOCK_CREATE, nullptr);
    const int err = errno;
    ::close(dir);
    if (link_ < 0) throw bpf::BpfError("attaching the socket hook to cgroup " + cgroup_path, err);
}

SocketHook::~SocketHook() {
    if (link_ >= 0) ::close(link_);
}

}  // namespace ebpfix::capture
