#include "bpf/hook_attachment.hpp"

#include <bpf/bpf.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace ebpfix::bpf {

namespace {

// Debian 12's UAPI headers predate TCX; the kernel values are fixed ABI.
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;

std::string ifname_of(unsigned ifindex) {
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(ifindex, name) == nullptr) return "ifindex " + std::to_string(ifindex);
    return name;
}

}  // namespace

LinkLayer link_layer_of(const std::string& ifname) {
    // SIOCGIFHWADDR answers for the caller's network namespace (sysfs may show another).
    ifreq req{};
    if (ifname.empty() || ifname.size() >= sizeof(req.ifr_name))
        throw BpfError("invalid interface name '" + ifname + "'", EINVAL);
    std::memcpy(req.ifr_name, ifname.c_str(), ifname.size());
    int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) throw BpfError("socket for SIOCGIFHWADDR", errno);
    int rc = ::ioctl(sock, SIOCGIFHWADDR, &req);
    int err = errno;
    ::close(sock);
    if (rc != 0) throw BpfError("no such network interface '" + ifname + "'", err);
    const int type = req.ifr_hwaddr.sa_family;
    switch (type) {
        case 1:    // ARPHRD_ETHER
        case 772:  // ARPHRD_LOOPBACK: carries a (zero) Ethernet header
            return LinkLayer::ethernet;
        case 65534:  // ARPHRD_NONE: tun, WireGuard
        case 768:    // ARPHRD_TUNNEL (ipip)
        case 769:    // ARPHRD_TUNNEL6
        case 776:    // ARPHRD_SIT
        case 778:    // ARPHRD_IPGRE
        case 519:    // ARPHRD_RAWIP
        case 512:    // ARPHRD_PPP
            return LinkLayer::l3;
        default:
            throw BpfError("interface '" + ifname + "' has link type " + std::to_string(type) +
                               ", which ebpfix cannot parse",
                           EOPNOTSUPP);
    }
}

bool has_clsact_qdisc(unsigned ifindex) {
    bpf_tc_hook hook{};
    hook.sz = sizeof(hook);
    hook.ifindex = static_cast<int>(ifindex);
    hook.attach_point = BPF_TC_INGRESS;
    // Creating the hook answers EEXIST when clsact is already there; if it was not, undo.
    int err = bpf_tc_hook_create(&hook);
    if (err == -EEXIST) return true;
    if (err == 0) {
        hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&hook);
    }
    return false;
}

HookAttachment::HookAttachment(int prog_fd, unsigned ifindex, Direction direction, AttachMode mode)
    : ifindex_(ifindex), direction_(direction) {
    if (mode != AttachMode::clsact && try_tcx(prog_fd)) {
        mode_ = AttachMode::tcx;
        return;
    }
    if (mode == AttachMode::tcx)
        throw BpfError("attaching TCX to " + ifname_of(ifindex) + " (kernel >= 6.6 needed)", errno);
    attach_clsact(prog_fd);
    mode_ = AttachMode::clsact;
}

bool HookAttachment::try_tcx(int prog_fd) {
    const int type = direction_ == Direction::ingress ? kBpfTcxIngress : kBpfTcxEgress;
    link_fd_ = bpf_link_create(prog_fd, static_cast<int>(ifindex_), static_cast<bpf_attach_type>(type), nullptr);
    if (link_fd_ >= 0) return true;
    errno = -link_fd_;
    link_fd_ = -1;
    // ENODEV is a real error on any kernel; others mean "no TCX here".
    if (errno == ENODEV) throw BpfError("attaching to " + ifname_of(ifindex_), ENODEV);
    return false;
}

void HookAttachment::attach_clsact(int prog_fd) {
    hook_.sz = sizeof(hook_);
    hook_.ifindex = static_cast<int>(ifindex_);
    hook_.attach_point = direction_ == Direction::ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    int err = bpf_tc_hook_create(&hook_);
    if (err != 0 && err != -EEXIST) throw BpfError("creating a clsact qdisc on " + ifname_of(ifindex_), err);
    created_qdisc_ = err == 0;
    opts_.sz = sizeof(opts_);
    opts_.prog_fd = prog_fd;
    err = bpf_tc_attach(&hook_, &opts_);
    if (err != 0) {
        if (created_qdisc_) {
            hook_.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
            bpf_tc_hook_destroy(&hook_);
        }
        throw BpfError("attaching a clsact filter on " + ifname_of(ifindex_), err);
    }
}

HookAttachment::~HookAttachment() {
    if (link_fd_ >= 0) {
        // The link is not pinned: closing its last fd detaches the program.
        ::close(link_fd_);
        return;
    }
    if (mode_ != AttachMode::clsact) return;
    bpf_tc_opts detach{};
    detach.sz = sizeof(detach);
    detach.handle = opts_.handle;
    detach.priority = opts_.priority;
    bpf_tc_detach(&hook_, &detach);  // the device may be gone already: nothing to undo then
    if (created_qdisc_) {
        bpf_tc_hook destroy = hook_;
        destroy.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&destroy);
    }
}

}  // namespace ebpfix::bpf
