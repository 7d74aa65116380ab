// Gate for tests that need root (BPF, network namespaces, raw sockets).
// A non-root developer run skips with a visible message (exit 77, which CTest reports
// as "Skipped" through SKIP_RETURN_CODE); under CI (CI set) a missing privilege fails.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace ebpfix::test {

inline void require_root(const char* what) {
    if (::geteuid() == 0) return;
    if (std::getenv("CI") != nullptr) {
        std::fprintf(stderr, "FAILED: %s needs root, and CI must not skip it\n", what);
        std::exit(1);
    }
    std::fprintf(stderr, "SKIPPED: %s needs root (non-root developer run)\n", what);
    std::exit(77);
}

}  // namespace ebpfix::test
