// The XDP program on a device's ingress, as a BPF link: it goes with the process (also
// after kill -9), never replaces another program already on the device's XDP hook, and
// leaves the device as it was when it is closed.
#pragma once

#include "bpf/flow_program.hpp"
#include "capture/capture.hpp"

namespace ebpfix::capture {

class XdpHook {
public:
    // automatic: native (driver) mode, else generic (skb) mode. native: a driver without
    // native XDP is an error naming the device. Throws bpf::BpfError.
    XdpHook(int prog_fd, unsigned ifindex, XdpMode mode);
    ~XdpHook();
    XdpHook(const XdpHook&) = delete;
    XdpHook& operator=(const XdpHook&) = delete;

    bool native() const noexcept { return native_; }

private:
    int link_fd_ = -1;
    bool native_ = false;
};

}  // namespace ebpfix::capture
