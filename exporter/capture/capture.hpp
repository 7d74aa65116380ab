// A capture: where the kernel programs are attached (devices with TC or XDP, or a cgroup
// subtree), attaching, re-attaching when a device returns, detaching. One implementation
// per mode; the drain, flow table and outputs never know which one runs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bpf/flow_program.hpp"

namespace ebpfix::capture {

enum class Mode { tc, xdp, cgroup };
enum class AttachMode { automatic, tcx, clsact };
enum class XdpMode { automatic, native, generic };

struct Settings {
    Mode mode = Mode::tc;
    std::vector<std::string> interfaces;  // tc, xdp
    AttachMode attach = AttachMode::automatic;  // how TC hooks attach (tc; egress in xdp)
    XdpMode xdp_mode = XdpMode::automatic;
    bool xdp_only = false;                // xdp: no TC egress hook
    std::string cgroup_path;              // cgroup
};

// What status() reports per attachment point.
struct Status {
    std::string name;     // device name, or the cgroup path
    unsigned ifindex = 0; // 0 while a device is missing (and for a cgroup)
    bool attached = false;
    std::string how;      // "tcx", "clsact", "xdp native + tcx", "cgroup", ...
};

class Capture {
public:
    using Logger = std::function<void(const std::string&)>;
    virtual ~Capture() = default;

    // Attaches everything; throws (bpf::BpfError) naming the first thing that failed, and
    // nothing stays attached then.
    virtual void attach() = 0;
    // Re-checks what it watches: re-attaches returned or re-created devices. Never throws.
    virtual void refresh() = 0;
    // SIGHUP: another set of devices (tc, xdp). Never throws; problems are logged.
    virtual void set_interfaces(const std::vector<std::string>& names) = 0;
    virtual void detach() = 0;

    virtual std::vector<Status> status() const = 0;
    // The name of a device records name (ifindex of a flow key), also after it is gone.
    virtual std::string name_of(unsigned ifindex) const = 0;
    // Every device seen so far (for the IPFIX interface table).
    virtual std::map<unsigned, std::string> names_seen() const = 0;
    // "tc on eth0, wg0" / "cgroup /sys/fs/cgroup/user.slice", for the start-up log.
    virtual std::string describe() const = 0;
};

// The programs a mode needs loaded.
bpf::HookKinds hooks_for(const Settings& settings);

// Builds the capture of `settings` (nothing attached yet).
std::unique_ptr<Capture> make_capture(const Settings& settings, const bpf::FlowProgram& program, Capture::Logger log);

}  // namespace ebpfix::capture
