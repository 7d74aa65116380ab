// Daemon messages go to stderr with a level prefix systemd understands (<N>).
#pragma once

#include <string>

namespace ebpfix::daemon {

enum class Level { error = 3, warning = 4, info = 6 };

void log(Level level, const std::string& message);
inline void log_info(const std::string& m) { log(Level::info, m); }
inline void log_warning(const std::string& m) { log(Level::warning, m); }
inline void log_error(const std::string& m) { log(Level::error, m); }

}  // namespace ebpfix::daemon
