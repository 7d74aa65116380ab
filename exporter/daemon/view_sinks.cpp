#include "daemon/view_sinks.hpp"

#include <cstdio>

#include "common/log.hpp"

namespace ebpfix::daemon {

void add_view_sinks(FlowExporter::SinkList& sinks, const config::Config& config, std::uint64_t run_start_ms) {
    if (config.summary.value_or(config.run_timeout_ms > 0))
        sinks.push_back(std::make_unique<sinks::SummarySink>(run_start_ms));
    if (!config.dot_file.empty()) sinks.push_back(std::make_unique<sinks::DotGraphSink>(config.dot_file));
}

const sinks::SummarySink* find_summary(const FlowExporter::SinkList& sinks) {
    for (const auto& s : sinks)
        if (auto* summary = dynamic_cast<const sinks::SummarySink*>(s.get())) return summary;
    return nullptr;
}

const sinks::DotGraphSink* find_graph(const FlowExporter::SinkList& sinks) {
    for (const auto& s : sinks)
        if (auto* graph = dynamic_cast<const sinks::DotGraphSink*>(s.get())) return graph;
    return nullptr;
}

void print_summary(const FlowExporter::SinkList& sinks, const config::Config& config) {
    const sinks::SummarySink* summary = find_summary(sinks);
    if (!summary) return;
    const std::string text = summary->render(config.json);
    // stdout may be a pipe that closed (EPIPE, SIGPIPE ignored): say so, do not crash.
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
        log_warning("the summary could not be written to standard output");
}

}  // namespace ebpfix::daemon
