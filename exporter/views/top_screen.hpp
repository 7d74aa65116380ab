// The full-screen part of `ebpfix top` (ncurses): drawing the model and reading keys.
// The terminal is restored (endwin) on every way out of run_screen, exceptions included.
#pragma once

#include <chrono>
#include <csignal>
#include <string>

#include "views/control_reader.hpp"
#include "views/top_view.hpp"

namespace ebpfix::views {

// Where snapshots come from: the control socket of a running daemon, or of one that top
// started itself.
class FlowSource {
public:
    virtual ~FlowSource() = default;
    // The next snapshot. Throws ConnectionError or ReplyError when the daemon is gone or
    // answers something else.
    virtual Snapshot fetch() = 0;
    // What the header names as the source ("/run/ebpfix/control.sock", "eth0, own daemon").
    virtual std::string describe() const = 0;
};

struct ScreenOptions {
    std::chrono::milliseconds refresh{1000};
    // Set (from a signal handler) when the view should end; checked at least every refresh
    // and whenever a signal interrupts the wait.
    const volatile std::sig_atomic_t* stop_requested = nullptr;
};

// How the screen ended.
enum class ScreenEnd { quit_key, stop_requested, terminal_gone };

// Draws `view` fed from `source` every options.refresh until q/x, a stop request, or the
// terminal going away. Throws runtime_error when there is no terminal to draw on, and
// lets the source's errors through, in both cases with the terminal already restored.
ScreenEnd run_screen(FlowSource& source, TopView& view, const ScreenOptions& options);

}  // namespace ebpfix::views
