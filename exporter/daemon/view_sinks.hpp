// The outputs of the live views that are sinks like any other: the summary of a run
// (--timeout / --summary) and the Graphviz graph (--dot). Live and --pcap runs add them
// to the outputs of a configuration; at exit the summary is printed from its sink.
#pragma once

#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "daemon/flow_exporter.hpp"
#include "sinks/dot_graph.hpp"
#include "sinks/summary_sink.hpp"

namespace ebpfix::daemon {

// Appends a SummarySink when the run prints a summary (--summary, or a timed run unless
// --no-summary) and a DotGraphSink for --dot FILE. run_start_ms: the run's start on the
// flow records' clock (the summary's rates). Throws sinks::OutputError for a graph file
// that cannot be written.
void add_view_sinks(FlowExporter::SinkList& sinks, const config::Config& config, std::uint64_t run_start_ms);

// The running summary / graph sink among an exporter's outputs, nullptr when none.
const sinks::SummarySink* find_summary(const FlowExporter::SinkList& sinks);
const sinks::DotGraphSink* find_graph(const FlowExporter::SinkList& sinks);

// Prints the summary (text, or JSON with --json) to stdout, when the run has one.
void print_summary(const FlowExporter::SinkList& sinks, const config::Config& config);

}  // namespace ebpfix::daemon
