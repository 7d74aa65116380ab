// `ebpfix ctl [--socket PATH] COMMAND [--json]`: asks a running ebpfix over its control
// socket (daemon/control_protocol.hpp) and prints the answer's body on stdout.
#pragma once

namespace ebpfix::daemon {

// argv[0] is "ctl". Returns the exit code: 0 "ok", 1 an error answer or no answer (the
// reason on stderr), 2 a usage error.
int run_ctl(int argc, char** argv);

}  // namespace ebpfix::daemon
