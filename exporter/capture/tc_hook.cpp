#include "capture/tc_hook.hpp"

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace ebpfix::capture {

namespace {

// Debian 12's UAPI headers predate TCX; the kernel values are fixed ABI.
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;
constexpr std::uint32_t kBpfFBefore = 1U << 3;  // BPF_F_BEFORE (include/uapi/linux/bpf.h)

std::string ifname_of(unsigned ifindex) {
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(ifindex, name) == nullptr) return "ifindex " + std::to_string(ifindex);
    return name;
}

std::string hex(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%x", v);
    return buf;
}

struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

// The clsact qdiscs this process attaches filters to, by ifindex: whether we created the
// qdisc, and how many of our filters use it. The last one out deletes a qdisc we created,
// if nobody else's filter is on it. The mutex also orders that check before the deletion
// against our own attaches.
struct QdiscUse {
    bool created = false;
    unsigned users = 0;
};
std::mutex& qdisc_mutex() {
    static std::mutex m;
    return m;
}
std::map<unsigned, QdiscUse>& qdisc_uses() {
    static std::map<unsigned, QdiscUse> uses;
    return uses;
}

// Called with qdisc_mutex held.
void release_qdisc(unsigned ifindex) noexcept {
    auto& uses = qdisc_uses();
    auto it = uses.find(ifindex);
    if (it == uses.end()) return;
    if (--it->second.users > 0) return;
    const bool created = it->second.created;
    uses.erase(it);
    if (!created) return;
    try {
        // Another tool's filter, added while we ran, keeps the qdisc (and itself) alive.
        if (!clsact_filters(ifindex, Direction::ingress).empty() ||
            !clsact_filters(ifindex, Direction::egress).empty())
            return;
    } catch (const BpfError&) {
        return;  // cannot tell whether others use it: leave it
    }
    bpf_tc_hook hook{};
    hook.sz = sizeof(hook);
    hook.ifindex = static_cast<int>(ifindex);
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    bpf_tc_hook_destroy(&hook);  // the device may be gone already: nothing to undo then
}

// The name the kernel keeps for a program (at most 15 characters).
std::string program_name(std::uint32_t prog_id) {
    Fd fd(bpf_prog_get_fd_by_id(prog_id));
    if (fd.fd < 0) throw BpfError("opening BPF program id " + std::to_string(prog_id), errno);
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (int err = bpf_obj_get_info_by_fd(fd.fd, &info, &len); err != 0)
        throw BpfError("reading BPF program id " + std::to_string(prog_id), err);
    return std::string(info.name, strnlen(info.name, sizeof(info.name)));
}

// A process (of this pid namespace) that has the program open, or 0. A cls_bpf filter
// holds its program by a kernel reference, not an fd; a running ebpfix holds every program
// of its object by fd, which /proc/PID/fdinfo shows as "prog_id:\t<id>".
pid_t process_holding_program(std::uint32_t prog_id) {
    const std::string wanted = "\nprog_id:\t" + std::to_string(prog_id) + "\n";
    std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
    if (!proc) throw BpfError("reading /proc", errno);
    while (const dirent* p = ::readdir(proc.get())) {
        char* end = nullptr;
        const long pid = std::strtol(p->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        const std::string base = "/proc/" + std::string(p->d_name);
        std::unique_ptr<DIR, int (*)(DIR*)> fds(::opendir((base + "/fd").c_str()), ::closedir);
        if (!fds) continue;  // exited meanwhile
        while (const dirent* f = ::readdir(fds.get())) {
            if (f->d_name[0] == '.') continue;
            char target[64];
            const ssize_t n = ::readlink((base + "/fd/" + f->d_name).c_str(), target, sizeof(target) - 1);
            if (n <= 0) continue;
            target[n] = '\0';
            if (std::strncmp(target, "anon_inode:bpf", 14) != 0) continue;  // bpf-prog, bpf_link
            Fd info(::open((base + "/fdinfo/" + f->d_name).c_str(), O_RDONLY | O_CLOEXEC));
            if (info.fd < 0) continue;
            char buf[1024];
            const ssize_t got = ::read(info.fd, buf, sizeof(buf) - 1);
            if (got <= 0) continue;
            if (std::string(buf, size_t(got)).find(wanted) != std::string::npos) return pid_t(pid);
        }
    }
    return 0;
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

std::vector<ClsactFilter> clsact_filters(unsigned ifindex, Direction direction) {
    // An RTM_GETTFILTER dump, as `tc filter show` does: libbpf only queries one handle, and
    // its failed queries print kernel error messages.
    Fd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (sock.fd < 0) throw BpfError("netlink socket for listing clsact filters", errno);
    struct {
        nlmsghdr nh;
        tcmsg tc;
    } req{};
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(tcmsg));
    req.nh.nlmsg_type = RTM_GETTFILTER;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = 1;
    req.tc.tcm_family = AF_UNSPEC;
    req.tc.tcm_ifindex = static_cast<int>(ifindex);
    req.tc.tcm_parent =
        TC_H_MAKE(TC_H_CLSACT, direction == Direction::ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
    if (::send(sock.fd, &req, req.nh.nlmsg_len, 0) < 0) throw BpfError("netlink filter dump request", errno);

    std::vector<ClsactFilter> filters;
    std::vector<std::uint32_t> space(16 * 1024);  // 64 KiB, aligned for nlmsghdr
    char* const buf = reinterpret_cast<char*>(space.data());
    for (;;) {
        const std::size_t room = space.size() * sizeof(std::uint32_t);
        const ssize_t len = ::recv(sock.fd, buf, room, MSG_TRUNC);
        if (len < 0) {
            if (errno == EINTR) continue;
            throw BpfError("netlink filter dump", errno);
        }
        if (len == 0) throw BpfError("netlink filter dump ended early", EPROTO);
        if (std::size_t(len) > room) throw BpfError("netlink filter dump message too large", EMSGSIZE);
        int left = static_cast<int>(len);
        // NLMSG_OK spelled out: the macro compares the u32 length with an int (clang's -Wsign-compare).
        auto whole = [&](const nlmsghdr* nh) {
            return left >= static_cast<int>(sizeof(nlmsghdr)) && nh->nlmsg_len >= sizeof(nlmsghdr) &&
                   nh->nlmsg_len <= static_cast<unsigned>(left);
        };
        for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); whole(nh); nh = NLMSG_NEXT(nh, left)) {
            if (nh->nlmsg_type == NLMSG_DONE) return filters;
            if (nh->nlmsg_type == NLMSG_ERROR) {
                const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(nh));
                throw BpfError("netlink filter dump", e->error);
            }
            if (nh->nlmsg_type != RTM_NEWTFILTER || nh->nlmsg_len < NLMSG_LENGTH(sizeof(tcmsg))) continue;
            const auto* tc = static_cast<const tcmsg*>(NLMSG_DATA(nh));
            // A message with handle 0 heads each priority's classifier; the filters follow.
            if (tc->tcm_handle == 0) continue;
            ClsactFilter f;
            f.handle = tc->tcm_handle;
            f.priority = TC_H_MAJ(tc->tcm_info) >> 16;
            f.protocol = ntohs(static_cast<std::uint16_t>(TC_H_MIN(tc->tcm_info)));
            const rtattr* options = nullptr;
            int attr_len = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof(tcmsg)));
            for (auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(tc) +
                                                           NLMSG_ALIGN(sizeof(tcmsg)));
                 RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
                const auto* data = static_cast<const char*>(RTA_DATA(a));
                const auto payload = RTA_PAYLOAD(a);
                switch (a->rta_type & NLA_TYPE_MASK) {
                    case TCA_KIND:
                        f.kind.assign(data, strnlen(data, payload));
                        break;
                    case TCA_CHAIN:
                        if (payload >= sizeof(std::uint32_t)) std::memcpy(&f.chain, data, sizeof(f.chain));
                        break;
                    case TCA_OPTIONS:
                        options = a;
                        break;
                    default:
                        break;
                }
            }
            if (options != nullptr && f.kind == "bpf") {
                int opt_len = static_cast<int>(RTA_PAYLOAD(options));
                for (auto* a = static_cast<const rtattr*>(RTA_DATA(options)); RTA_OK(a, opt_len);
                     a = RTA_NEXT(a, opt_len))
                    if ((a->rta_type & NLA_TYPE_MASK) == TCA_BPF_ID && RTA_PAYLOAD(a) >= sizeof(std::uint32_t))
                        std::memcpy(&f.prog_id, RTA_DATA(a), sizeof(f.prog_id));
            }
            filters.push_back(std::move(f));
        }
    }
}

HookAttachment::HookAttachment(int prog_fd, unsigned ifindex, Direction direction, AttachMode mode)
    : ifindex_(ifindex), direction_(direction) {
    hook_.sz = sizeof(hook_);
    hook_.ifindex = static_cast<int>(ifindex_);
    hook_.attach_point = direction_ == Direction::ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    if (mode != AttachMode::clsact && try_tcx(prog_fd)) {
        mode_ = AttachMode::tcx;
        // A crashed clsact run may have left its filter: it would run a dead program (after
        // ours, TCX runs before clsact) forever. Not being able to look is no reason to fail.
        try {
            remove_stale_filter(false);
        } catch (const BpfError& e) {
            notes_.push_back(std::string("could not look for stale ebpfix clsact filters: ") + e.what());
        }
        return;
    }
    if (mode == AttachMode::tcx) {
        const int err = errno;
        throw BpfError("attaching TCX to " + where() + " (kernel >= 6.6 needed)", err);
    }
    attach_clsact(prog_fd);
    mode_ = AttachMode::clsact;
}

std::string HookAttachment::where() const {
    return std::string(direction_ == Direction::ingress ? "ingress" : "egress") + " of " + ifname_of(ifindex_);
}

bool HookAttachment::try_tcx(int prog_fd) {
    const int type = direction_ == Direction::ingress ? kBpfTcxIngress : kBpfTcxEgress;
    // First on the hook: BPF_F_BEFORE with no relative program (tcx.relative_fd = 0) inserts
    // ahead of every program there. libbpf 1.1's bpf_link_create copies opts.flags for any
    // attach type and zeroes the rest of link_create, where the kernel reads
    // tcx.relative_fd and tcx.expected_revision; so it needs no raw syscall.
    bpf_link_create_opts opts{};
    opts.sz = sizeof(opts);
    opts.flags = kBpfFBefore;
    link_fd_ = bpf_link_create(prog_fd, static_cast<int>(ifindex_), static_cast<bpf_attach_type>(type), &opts);
    if (link_fd_ >= 0) return true;
    errno = -link_fd_;
    link_fd_ = -1;
    // These are real errors on any kernel; others mean "no TCX here".
    if (errno == ENODEV) throw BpfError("attaching to " + where(), ENODEV);
    if (errno == EEXIST) throw BpfError("attaching to " + where() + ": the program is already there", EEXIST);
    return false;
}

void HookAttachment::remove_stale_filter(bool must_take_slot) {
    for (const ClsactFilter& f : clsact_filters(ifindex_, direction_)) {
        if (f.chain != 0 || f.priority != kClsactPriority) continue;
        if (f.handle != kClsactHandle || f.kind != "bpf" || f.protocol != ETH_P_ALL) {
            // Not our slot, but our priority: the kernel refuses a bpf filter next to a filter
            // of another kind or protocol at the same priority.
            if (must_take_slot && (f.kind != "bpf" || f.protocol != ETH_P_ALL))
                throw BpfError("priority " + std::to_string(kClsactPriority) + " of the clsact " + where() +
                                   " is held by a '" + f.kind + "' filter (protocol " + hex(f.protocol) +
                                   "); ebpfix must run first and needs that priority",
                               EBUSY);
            continue;
        }
        const std::string id = std::to_string(f.prog_id);
        const std::string name = program_name(f.prog_id);
        if (name.rfind("ebpfix_", 0) != 0) {
            if (!must_take_slot) return;
            throw BpfError("the clsact filter at handle " + hex(kClsactHandle) + ", priority " +
                               std::to_string(kClsactPriority) + " on " + where() + " runs program '" + name +
                               "' (id " + id + "), which is not ebpfix's",
                           EBUSY);
        }
        if (const pid_t holder = process_holding_program(f.prog_id); holder != 0) {
            if (!must_take_slot) return;
            throw BpfError(where() + " already has the clsact filter of a running ebpfix (pid " +
                               std::to_string(holder) + ", program " + name + " id " + id +
                               "); one ebpfix per device in clsact mode",
                           EBUSY);
        }
        bpf_tc_opts stale{};
        stale.sz = sizeof(stale);
        stale.handle = kClsactHandle;
        stale.priority = kClsactPriority;
        if (int err = bpf_tc_detach(&hook_, &stale); err != 0 && err != -ENOENT)
            throw BpfError("removing the stale ebpfix filter (program id " + id + ") from " + where(), err);
        notes_.push_back("removed a stale ebpfix clsact filter from " + where() + " (program " + name + " id " + id +
                         ", open in no process)");
        return;
    }
}

void HookAttachment::attach_clsact(int prog_fd) {
    std::lock_guard lock(qdisc_mutex());
    int err = bpf_tc_hook_create(&hook_);
    if (err != 0 && err != -EEXIST) throw BpfError("creating a clsact qdisc on " + ifname_of(ifindex_), err);
    created_qdisc_ = err == 0;
    QdiscUse& use = qdisc_uses()[ifindex_];
    use.created = use.created || created_qdisc_;
    ++use.users;
    try {
        remove_stale_filter(true);
        bpf_tc_opts opts{};
        opts.sz = sizeof(opts);
        opts.prog_fd = prog_fd;
        opts.handle = kClsactHandle;
        opts.priority = kClsactPriority;
        err = bpf_tc_attach(&hook_, &opts);
        if (err != 0)
            throw BpfError("attaching the clsact filter (handle " + hex(kClsactHandle) + ", priority " +
                               std::to_string(kClsactPriority) + ") on " + where(),
                           err);
        prog_id_ = opts.prog_id;
    } catch (...) {
        release_qdisc(ifindex_);
        throw;
    }
}

void HookAttachment::remove_own_filter() noexcept {
    bool ours = false;
    try {
        for (const ClsactFilter& f : clsact_filters(ifindex_, direction_))
            if (f.chain == 0 && f.priority == kClsactPriority && f.handle == kClsactHandle && f.kind == "bpf" &&
                f.prog_id == prog_id_)
                ours = true;
    } catch (const BpfError&) {
        ours = true;  // cannot list: the slot is still most likely ours
    }
    if (!ours) return;  // gone with its device, or removed by someone else
    bpf_tc_opts detach{};
    detach.sz = sizeof(detach);
    detach.handle = kClsactHandle;
    detach.priority = kClsactPriority;
    bpf_tc_detach(&hook_, &detach);
}

HookAttachment::~HookAttachment() {
    if (link_fd_ >= 0) {
        // The link is not pinned: closing its last fd detaches the program.
        ::close(link_fd_);
        return;
    }
    if (mode_ != AttachMode::clsact) return;
    std::lock_guard lock(qdisc_mutex());
    remove_own_filter();
    release_qdisc(ifindex_);
}

}  // namespace ebpfix::capture
