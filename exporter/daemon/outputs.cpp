#include "daemon/outputs.hpp"

#include "sinks/file_sinks.hpp"
#include "sinks/owner_totals.hpp"
#include "sinks/per_user_log.hpp"
#include "sinks/udp_collector.hpp"

namespace ebpfix::daemon {

FlowExporter::SinkList build_outputs(boost::asio::io_context& io, const config::Config& c, std::uint64_t start_ms) {
    FlowExporter::SinkList out;
    for (const auto& cc : c.collectors) {
        sinks::UdpCollectorSettings s;
        s.host = cc.host;
        s.port = cc.port;
        s.encoder = cc.encoder;
        s.encoder.uptime_origin_ms = start_ms;  // sysUptime counts from the exporter's start
        s.encoder.sampling_interval = c.sample_interval > 1 ? c.sample_interval : 0;
        s.encoder.sampling_algorithm = c.sample_algorithm == config::SampleAlgorithm::hash
                                           ? ipfix::SamplingAlgorithm::hash
                                           : ipfix::SamplingAlgorithm::random;
        out.push_back(std::make_unique<sinks::UdpCollectorSink>(io, s));
    }
    if (c.log_format != config::OutputFormat::none) {
        sinks::FlowLogOptions lo;
        lo.format = c.log_format == config::OutputFormat::json ? sinks::LogFormat::json : sinks::LogFormat::text;
        lo.path = c.log_file;
        lo.max_export_per_cycle = c.max_export_per_cycle;
        out.push_back(std::make_unique<sinks::FlowLogSink>(lo));
    }
    if (!c.per_user_log.empty()) out.push_back(std::make_unique<sinks::PerUserLogSink>(c.per_user_log));
    if (!c.metrics_listen.empty() && (c.metrics_per_user || c.metrics_per_cgroup))
        out.push_back(std::make_unique<sinks::OwnerTotalsSink>(c.metrics_per_user, c.metrics_per_cgroup,
                                                               c.metrics_label_limit));
    if (!c.stats_file.empty())
        out.push_back(std::make_unique<sinks::StatsFileSink>(
            c.stats_file, c.stats_format == config::OutputFormat::json ? sinks::LogFormat::json : sinks::LogFormat::text));
    return out;
}

}  // namespace ebpfix::daemon
