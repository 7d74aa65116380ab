// Daemon messages go to stderr. For the journal (stderr not a terminal) each line starts
// with a priority prefix systemd understands ("<6>"); on a terminal it does not.
#pragma once

#include <string>
#include <string_view>

namespace ebpfix {

enum class Level { error = 3, warning = 4, info = 6, debug = 7 };

void log(Level level, const std::string& message);
inline void log_info(const std::string& m) { log(Level::info, m); }
inline void log_warning(const std::string& m) { log(Level::warning, m); }
inline void log_error(const std::string& m) { log(Level::error, m); }
// Printed only with --verbose.
inline void log_debug(const std::string& m) { log(Level::debug, m); }
void set_verbose(bool verbose);

// One line as log() writes it, without the newline.
std::string log_line(Level level, std::string_view message, bool priority_prefix);

}  // namespace ebpfix
