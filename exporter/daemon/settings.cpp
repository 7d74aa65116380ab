#include "daemon/settings.hpp"

namespace ebpfix::daemon {

capture::Settings capture_settings(const config::Config& c) {
    capture::Settings s;
    s.interfaces = c.interfaces;
    switch (c.attach_mode) {
        case config::AttachModeSetting::tcx: s.attach = capture::AttachMode::tcx; break;
        case config::AttachModeSetting::clsact: s.attach = capture::AttachMode::clsact; break;
        case config::AttachModeSetting::automatic: s.attach = capture::AttachMode::automatic; break;
    }
    switch (c.capture) {
        case config::CaptureMode::tc: s.mode = capture::Mode::tc; break;
        case config::CaptureMode::xdp: s.mode = capture::Mode::xdp; break;
        case config::CaptureMode::cgroup: s.mode = capture::Mode::cgroup; break;
    }
    switch (c.xdp_mode) {
        case config::XdpMode::automatic: s.xdp_mode = capture::XdpMode::automatic; break;
        case config::XdpMode::native: s.xdp_mode = capture::XdpMode::native; break;
        case config::XdpMode::generic: s.xdp_mode = capture::XdpMode::generic; break;
    }
    s.xdp_only = c.xdp_only;
    s.cgroup_path = c.cgroup_path;
    return s;
}

bpf::ProgramOptions program_options(const config::Config& c) {
    bpf::ProgramOptions o;
    o.map_entries = c.map_entries;
    o.verbose = c.verbose;
    o.hooks = capture::hooks_for(capture_settings(c));
    // Attribution can be turned on by a reload: the socket hook is loaded whenever a
    // socket can be known (not for XDP-only runs, which see no socket).
    o.hooks.sockets = !(c.capture == config::CaptureMode::xdp && c.xdp_only);
    return o;
}

bpf::KernelFilters kernel_filters(const config::Config& c) {
    bpf::KernelFilters f;
    f.sample_interval = c.sample_interval;
    f.hash_sampling = c.sample_algorithm == config::SampleAlgorithm::hash;
    for (const config::Cidr& e : c.exclude) {
        bpf::Prefix p;
        p.family = e.family;
        p.addr = e.addr;
        p.length = e.prefix_len;
        f.exclude.push_back(p);
    }
    f.attribution = c.attribution;
    return f;
}

std::string socket_hook_cgroup(const config::Config& c) {
    if (c.capture == config::CaptureMode::cgroup) return c.cgroup_path;
    return config::cgroup2_root();
}

}  // namespace ebpfix::daemon
