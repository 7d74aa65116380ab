// Attaching the flow program to a device: TCX links (kernel >= 6.6), or a clsact qdisc
// filter where TCX is not available. Detaching removes only what we created.
#pragma once

#include <string>

#include <bpf/libbpf.h>

#include "bpf/flow_program.hpp"
#include "common/flow_types.hpp"

namespace ebpfix::bpf {

enum class AttachMode { automatic, tcx, clsact };

// The link-layer type of a device from /sys/class/net/IFACE/type (ARPHRD_*).
// Throws BpfError for device types we cannot parse.
LinkLayer link_layer_of(const std::string& ifname);

// Whether a clsact qdisc is present on the device (tests and diagnostics).
bool has_clsact_qdisc(unsigned ifindex);

class HookAttachment {
public:
    // Attaches prog_fd to ifindex in one direction. automatic tries TCX, then clsact.
    HookAttachment(int prog_fd, unsigned ifindex, Direction direction, AttachMode mode = AttachMode::automatic);
    ~HookAttachment();
    HookAttachment(const HookAttachment&) = delete;
    HookAttachment& operator=(const HookAttachment&) = delete;

    AttachMode mode() const noexcept { return mode_; }
    unsigned ifindex() const noexcept { return ifindex_; }
    Direction direction() const noexcept { return direction_; }
    // The clsact qdisc was created by us (and is deleted with the last filter of ours).
    bool created_qdisc() const noexcept { return created_qdisc_; }

private:
    bool try_tcx(int prog_fd);
    void attach_clsact(int prog_fd);

    unsigned ifindex_;
    Direction direction_;
    AttachMode mode_ = AttachMode::tcx;
    int link_fd_ = -1;
    bool created_qdisc_ = false;
    bpf_tc_hook hook_{};
    bpf_tc_opts opts_{};
};

}  // namespace ebpfix::bpf
