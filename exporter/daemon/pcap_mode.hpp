// --pcap FILE: run every packet of a capture through the kernel program with
// BPF_PROG_TEST_RUN, on the capture's clock, and export as usual (like softflowd -r).
#pragma once

#include "config/config.hpp"

namespace ebpfix::daemon {

// Returns the exit code: 0 at end of file, 1 when the capture is damaged or unsupported
// (reported with its path and packet number; flows up to there are still exported).
int run_pcap(const config::Config& config);

}  // namespace ebpfix::daemon
