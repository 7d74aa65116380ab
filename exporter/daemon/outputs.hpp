// The outputs a configuration asks for, built as sinks (the daemon's wiring: the sinks
// themselves never see config::Config).
#pragma once

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "daemon/flow_exporter.hpp"

namespace ebpfix::daemon {

// Collectors (UDP IPFIX / v9, TCP IPFIX, NetFlow v5), Kafka outputs, flow log, per-user
// logs, owner totals, stats file. start_ms: the exporter's start (sysUptime origin).
// Throws (std::runtime_error, sinks::OutputError) naming the output that cannot be opened,
// config::ConfigError (at the setting's place) for settings a sink refuses.
// Outputs that connect when made (TCP collectors, Kafka) and are already running
// (`running`, a reload) come back as sinks::KeptSink: the running one stays.
FlowExporter::SinkList build_outputs(boost::asio::io_context& io, const config::Config& config, std::uint64_t start_ms,
                                     const FlowExporter::Running& running = {});

}  // namespace ebpfix::daemon
