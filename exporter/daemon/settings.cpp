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
    return s;
}

bpf::ProgramOptions program_options(const config::Config& c) {
    bpf::ProgramOptions o;
    o.map_entries = c.map_entries;
    o.verbose = c.verbose;
    o.hooks = capture::hooks_for(capture_settings(c));
    return o;
}

bpf::KernelFilters kernel_filters(const config::Config& c) {
    bpf::KernelFilters f;
    (void)c;
    return f;
}

}  // namespace ebpfix::daemon
