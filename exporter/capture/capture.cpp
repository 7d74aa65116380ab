#include "capture/capture.hpp"

#include "capture/cgroup_capture.hpp"
#include "capture/device_capture.hpp"

namespace ebpfix::capture {

bpf::HookKinds hooks_for(const Settings& s) {
    bpf::HookKinds k;
    k.tc = s.mode == Mode::tc || (s.mode == Mode::xdp && !s.xdp_only);
    k.xdp = s.mode == Mode::xdp;
    k.cgroup = s.mode == Mode::cgroup;
    return k;
}

std::unique_ptr<Capture> make_capture(const Settings& settings, const bpf::FlowProgram& program, Capture::Logger log) {
    if (settings.mode == Mode::cgroup) return std::make_unique<CgroupCapture>(settings, program, std::move(log));
    return std::make_unique<DeviceCapture>(settings, program, std::move(log));
}

}  // namespace ebpfix::capture
