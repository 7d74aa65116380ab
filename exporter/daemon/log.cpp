#include "daemon/log.hpp"

#include <cstdio>
#include <mutex>

namespace ebpfix::daemon {

void log(Level level, const std::string& message) {
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    // "<6>ebpfix: ..." : journald reads the priority, a terminal shows it harmlessly.
    std::fprintf(stderr, "<%d>ebpfix: %s\n", static_cast<int>(level), message.c_str());
    std::fflush(stderr);
}

}  // namespace ebpfix::daemon
