// Attaching the flow program to a device: TCX links (kernel >= 6.6), or a clsact qdisc
// filter where TCX is not available.
//
// The rule: ebpfix counts what reaches the device, so its program runs FIRST on the hook,
// ahead of every program or filter that is there when it attaches.
//  * TCX: the link is created with BPF_F_BEFORE and no relative program, i.e. at the head
//    of the device's TCX list. A program attached later with BPF_F_BEFORE goes ahead.
//  * clsact: a bpf filter at priority 1 (the first a filter can have) with the fixed handle
//    kClsactHandle. A bpf filter added later at priority 1 too runs ahead of ours; a filter
//    of another kind or protocol already at priority 1 makes attaching fail.
// Our programs return TC_ACT_UNSPEC (= TCX_NEXT), so running first changes nothing for the
// programs after ours.
//
// Detaching removes only what we added: our TCX link, or our filter (found by handle,
// priority and program id). The clsact qdisc is deleted only if this process created it
// and no filter of anyone is left on it.
//
// After a crash (kill -9): TCX links die with the process, nothing is left. clsact filters
// stay (the kernel holds their programs), and so does a qdisc we created. The next attach
// on that device and direction (in either mode) removes a filter at our handle and priority
// whose program is named "ebpfix_*" and is open in no process of this pid namespace, and
// reports it in attach_notes(). If a live process holds that program (another ebpfix),
// the filter is left alone and a clsact attach fails with the holder's pid. An empty
// clsact qdisc left by a crashed instance stays: we cannot tell who created it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <bpf/libbpf.h>

#include "bpf/flow_program.hpp"
#include "capture/capture.hpp"
#include "common/flow_types.hpp"

namespace ebpfix::capture {

using bpf::BpfError;
using bpf::LinkLayer;

// Our clsact filter's place on each hook ("ebpf"): fixed, so that it can be found again.
inline constexpr std::uint32_t kClsactHandle = 0xeb9f;
inline constexpr std::uint32_t kClsactPriority = 1;

// The link-layer type of a device (ARPHRD_* from SIOCGIFHWADDR, in our namespace).
// Throws BpfError for device types we cannot parse.
LinkLayer link_layer_of(const std::string& ifname);

// Whether a clsact qdisc is present on the device (tests and diagnostics).
bool has_clsact_qdisc(unsigned ifindex);

// One filter on a clsact hook, as `tc filter show dev X ingress|egress` lists it.
struct ClsactFilter {
    std::uint32_t chain = 0;
    std::uint32_t priority = 0;
    std::uint32_t handle = 0;
    std::uint16_t protocol = 0;  // ETH_P_*, host order; 3 = all
    std::string kind;            // "bpf", "matchall", "u32", ...
    std::uint32_t prog_id = 0;   // bpf filters only
};

// Every filter on one direction of the device's clsact qdisc, all chains (empty when
// there is no qdisc or no such device). Throws BpfError when netlink fails.
std::vector<ClsactFilter> clsact_filters(unsigned ifindex, Direction direction);

class HookAttachment {
public:
    // Attaches prog_fd to ifindex in one direction, first on the hook. automatic tries
    // TCX, then clsact. Throws BpfError with the device and direction in the message.
    HookAttachment(int prog_fd, unsigned ifindex, Direction direction, AttachMode mode = AttachMode::automatic);
    ~HookAttachment();
    HookAttachment(const HookAttachment&) = delete;
    HookAttachment& operator=(const HookAttachment&) = delete;

    AttachMode mode() const noexcept { return mode_; }
    unsigned ifindex() const noexcept { return ifindex_; }
    Direction direction() const noexcept { return direction_; }
    // This attachment created the clsact qdisc (it is deleted when the last filter of
    // this process on the device goes and no other filter is left).
    bool created_qdisc() const noexcept { return created_qdisc_; }
    // Lines for the caller's log: each stale ebpfix filter attaching removed, or why it
    // could not look for one. Empty in the usual case.
    const std::vector<std::string>& attach_notes() const noexcept { return notes_; }

private:
    bool try_tcx(int prog_fd);
    void attach_clsact(int prog_fd);
    // Removes a stale ebpfix filter at our handle and priority. With `must_take_slot`
    // (clsact mode), whatever else keeps our filter from that place throws; otherwise
    // (TCX mode) it is left alone.
    void remove_stale_filter(bool must_take_slot);
    void remove_own_filter() noexcept;
    std::string where() const;

    unsigned ifindex_;
    Direction direction_;
    AttachMode mode_ = AttachMode::tcx;
    int link_fd_ = -1;
    bool created_qdisc_ = false;
    std::uint32_t prog_id_ = 0;  // the program in our clsact filter
    bpf_tc_hook hook_{};
    std::vector<std::string> notes_;
};

}  // namespace ebpfix::capture
