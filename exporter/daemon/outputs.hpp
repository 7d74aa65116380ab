// The outputs a configuration asks for, built as sinks (the daemon's wiring: the sinks
// themselves never see config::Config).
#pragma once

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "daemon/flow_exporter.hpp"

namespace ebpfix::daemon {

// Collectors, flow log, stats file. start_ms: the exporter's start (sysUptime origin).
// Throws (std::runtime_error, sinks::OutputError) naming the output that cannot be opened.
FlowExporter::SinkList build_outputs(boost::asio::io_context& io, const config::Config& config, std::uint64_t start_ms);

}  // namespace ebpfix::daemon
