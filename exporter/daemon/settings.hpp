// The configuration turned into what each layer below the daemon takes: capture
// settings, program options, kernel filters. The layers below never see config::Config.
#pragma once

#include <string>

#include "bpf/flow_program.hpp"
#include "bpf/kernel_filters.hpp"
#include "capture/capture.hpp"
#include "config/config.hpp"

namespace ebpfix::daemon {

capture::Settings capture_settings(const config::Config& config);
bpf::ProgramOptions program_options(const config::Config& config);
bpf::KernelFilters kernel_filters(const config::Config& config);
// Where the socket-creation hook of attribution goes: the watched cgroup in cgroup mode,
// else the root of the cgroup v2 hierarchy (every socket). "" when there is none.
std::string socket_hook_cgroup(const config::Config& config);

}  // namespace ebpfix::daemon
