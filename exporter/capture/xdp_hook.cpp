#include "capture/xdp_hook.hpp"

#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace ebpfix::capture {

namespace {

std::string ifname_of(unsigned ifindex) {
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(ifindex, name) == nullptr) return "ifindex " + std::to_string(ifindex);
    return name;
}

int link_xdp(int prog_fd, unsigned ifindex, std::uint32_t flags) {
    LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
    const int fd = bpf_link_create(prog_fd, static_cast<int>(ifindex), BPF_XDP, &opts);
    return fd >= 0 ? fd : -errno;
}

}  // namespace

XdpHook::XdpHook(int prog_fd, unsigned ifindex, XdpMode mode) {
    const std::string dev = ifname_of(ifindex);
    if (mode != XdpMode::generic) {
        const int fd = link_xdp(prog_fd, ifindex, XDP_FLAGS_DRV_MODE);
        if (fd >= 0) {
            link_fd_ = fd;
            native_ = true;
            return;
        }
        if (fd == -EBUSY || fd == -EEXIST)
            throw bpf::BpfError("attaching XDP to " + dev + ": another XDP program is on the device", -fd);
        if (mode == XdpMode::native)
            throw bpf::BpfError("attaching native XDP to " + dev +
                                    " (its driver may not support native XDP; try --xdp-mode generic or auto)",
                                -fd);
    }
    const int fd = link_xdp(prog_fd, ifindex, XDP_FLAGS_SKB_MODE);
    if (fd < 0) {
        if (fd == -EBUSY || fd == -EEXIST)
            throw bpf::BpfError("attaching XDP to " + dev + ": another XDP program is on the device", -fd);
        throw bpf::BpfError("attaching generic XDP to " + dev, -fd);
    }
    link_fd_ = fd;
}

XdpHook::~XdpHook() {
    if (link_fd_ >= 0) ::close(link_fd_);  // not pinned: closing the link detaches
}

}  // namespace ebpfix::capture
