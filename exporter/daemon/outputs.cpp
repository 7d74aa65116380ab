#include "daemon/outputs.hpp"

#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "config/rules.hpp"
#include "sinks/file_sinks.hpp"
#include "sinks/kafka_sink.hpp"
#include "sinks/netflow5_collector.hpp"
#include "sinks/owner_totals.hpp"
#include "sinks/per_user_log.hpp"
#include "sinks/tcp_collector.hpp"
#include "sinks/udp_collector.hpp"

namespace ebpfix::daemon {

namespace {

// The IPFIX / v9 encoder options of a collector with the daemon-wide settings.
ipfix::EncoderOptions encoder_options(const config::Config& c, const config::CollectorConfig& cc,
                                      std::uint64_t start_ms) {
    ipfix::EncoderOptions e = cc.encoder;
    e.uptime_origin_ms = start_ms;  // sysUptime counts from the exporter's start
    e.sampling_interval = c.sample_interval > 1 ? c.sample_interval : 0;
    e.sampling_algorithm = c.sample_algorithm == config::SampleAlgorithm::hash ? ipfix::SamplingAlgorithm::hash
                                                                                : ipfix::SamplingAlgorithm::random;
    // Attribution: owners in templates 264/265, and under a PEN the enterprise IEs (266/267).
    e.attribution = c.attribution;
    e.enterprise_number = c.attribution ? c.ipfix_enterprise : 0;
    return e;
}

std::string host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "ebpfix";
    return name;
}

sinks::KafkaSettings kafka_settings(const config::Config& c, const config::KafkaConfig& k) {
    sinks::KafkaSettings s;
    s.brokers = k.brokers;
    s.topic = k.topic;
    s.format = k.format == config::KafkaFormat::json ? sinks::KafkaSettings::Format::json
                                                     : sinks::KafkaSettings::Format::protobuf;
    switch (k.key) {
        case config::KafkaKey::none: s.key = sinks::KafkaSettings::Key::none; break;
        case config::KafkaKey::exporter: s.key = sinks::KafkaSettings::Key::exporter; break;
        case config::KafkaKey::src_ip: s.key = sinks::KafkaSettings::Key::src_ip; break;
        case config::KafkaKey::flow: s.key = sinks::KafkaSettings::Key::flow; break;
    }
    s.compression = k.compression;
    s.properties = k.properties;
    s.max_queued_messages = k.max_queued_messages;
    s.flush_timeout = std::chrono::milliseconds(k.flush_timeout_ms);
    s.sampling_rate = c.sample_interval > 1 ? c.sample_interval : 0;
    s.exporter_id = k.exporter_id.empty() ? host_name() : k.exporter_id;
    return s;
}

}  // namespace

FlowExporter::SinkList build_outputs(boost::asio::io_context& io, const config::Config& c, std::uint64_t start_ms,
                                     const FlowExporter::Running& running) {
    FlowExporter::SinkList out;
    auto kept = [&](const std::string& kind, const std::string& name, const std::string& identity) {
        if (!running || !running(identity)) return false;
        out.push_back(std::make_unique<sinks::KeptSink>(kind, name, identity));
        return true;
    };
    for (std::size_t i = 0; i < c.collectors.size(); ++i) {
        const config::CollectorConfig& cc = c.collectors[i];
        // What a sink refuses (a setting validate() let through) is a configuration error
        // at the collector's place, at start (exit 2) and at a reload (old one kept).
        const std::string place = config::detail::place_of(c, "collector[" + std::to_string(i) + "].address");
        try {
            if (cc.netflow5) {
                sinks::Netflow5CollectorSettings s;
                s.host = cc.host;
                s.port = cc.port;
                s.encoder.engine_type = cc.engine_type;
                s.encoder.engine_id = cc.engine_id;
                s.encoder.sampling_interval = c.sample_interval > 1 ? c.sample_interval : 0;
                s.encoder.uptime_origin_ms = start_ms;
                out.push_back(std::make_unique<sinks::Netflow5CollectorSink>(io, s));
            } else if (cc.transport == config::Transport::tcp) {
                sinks::TcpCollectorSettings s;
                s.host = cc.host;
                s.port = cc.port;
                s.encoder = encoder_options(c, cc, start_ms);
                s.min_connect_interval = std::chrono::seconds(cc.reconnect_min_interval_s);
                if (!kept("ipfix-tcp", sinks::host_port_text(s.host, s.port), sinks::TcpCollectorSink::identity_of(s)))
                    out.push_back(std::make_unique<sinks::TcpCollectorSink>(io, s));
            } else {
                sinks::UdpCollectorSettings s;
                s.host = cc.host;
                s.port = cc.port;
                s.encoder = encoder_options(c, cc, start_ms);
                s.default_message_size = c.origins.count("collector[" + std::to_string(i) + "].max_message_size") == 0;
                out.push_back(std::make_unique<sinks::UdpCollectorSink>(io, s));
            }
        } catch (const std::invalid_argument& e) {
            throw config::ConfigError(place + ": " + e.what() + " (collector[" + std::to_string(i) + "])");
        }
    }
    for (std::size_t i = 0; i < c.kafka.size(); ++i) {
        const std::string key = "kafka[" + std::to_string(i) + "]";
        try {
            const sinks::KafkaSettings s = kafka_settings(c, c.kafka[i]);
            if (!kept("kafka", s.brokers + "/" + s.topic, sinks::KafkaSink::identity_of(s)))
                out.push_back(std::make_unique<sinks::KafkaSink>(s));
        } catch (const std::invalid_argument& e) {
            // librdkafka's words, naming the property; placed at the [[kafka]] table.
            throw config::ConfigError(config::detail::place_of(c, key) + ": " + e.what() + " (" + key + ")");
        }
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
