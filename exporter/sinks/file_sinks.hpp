// The flow log and the stats file as sinks (the writers are flow_log.hpp and
// stats_file.hpp).
#pragma once

#include <memory>
#include <string>

#include "sinks/flow_log.hpp"
#include "sinks/sink.hpp"
#include "sinks/stats_file.hpp"

namespace ebpfix::sinks {

class FlowLogSink : public Sink {
public:
    explicit FlowLogSink(const FlowLogOptions& options);
    ~FlowLogSink() override;  // writes every line it still holds

    std::string kind() const override { return "log"; }
    std::string name() const override { return options_.path == "-" ? "stdout" : options_.path; }
    std::string identity() const override;
    void cycle(const CycleContext& ctx) override;
    void reopen() override;
    bool ended() const override { return writer_.output_closed(); }
    SinkCounters counters() const override;

    const FlowLogWriter& writer() const noexcept { return writer_; }

private:
    FlowLogOptions options_;
    FlowLogWriter writer_;
    std::int64_t last_export_s_ = 0;
};

class StatsFileSink : public Sink {
public:
    StatsFileSink(const std::string& path, LogFormat format);

    std::string kind() const override { return "stats"; }
    std::string name() const override { return path_; }
    std::string identity() const override;
    void cycle(const CycleContext& ctx) override;
    void reopen() override;
    SinkCounters counters() const override;

private:
    std::string path_;
    LogFormat format_;
    StatsFileWriter writer_;
};

}  // namespace ebpfix::sinks
