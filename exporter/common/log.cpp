#include "common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace ebpfix {

namespace {

std::atomic<bool> g_verbose{false};

const char* level_word(Level level) {
    switch (level) {
        case Level::error: return "error: ";
        case Level::warning: return "warning: ";
        case Level::info:
        case Level::debug: break;
    }
    return "";
}

}  // namespace

void set_verbose(bool verbose) { g_verbose = verbose; }

std::string log_line(Level level, std::string_view message, bool priority_prefix) {
    std::string line;
    if (priority_prefix) line = "<" + std::to_string(static_cast<int>(level)) + ">";
    line += "ebpfix: ";
    if (!priority_prefix) line += level_word(level);  // the journal shows the priority itself
    line += message;
    return line;
}

void log(Level level, const std::string& message) {
    if (level == Level::debug && !g_verbose.load(std::memory_order_relaxed)) return;
    static const bool to_terminal = ::isatty(STDERR_FILENO) == 1;
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    const std::string line = log_line(level, message, !to_terminal);
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
}

}  // namespace ebpfix
