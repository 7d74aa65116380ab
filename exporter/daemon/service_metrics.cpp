#include "daemon/service_metrics.hpp"

#include <array>
#include <map>

#include "sinks/flow_log.hpp"
#include "sinks/owner_totals.hpp"

namespace ebpfix::daemon {

namespace {

constexpr std::array<EndReason, 5> end_reasons{EndReason::idle_timeout, EndReason::active_timeout,
                                               EndReason::end_of_flow, EndReason::forced_end,
                                               EndReason::lack_of_resources};

}  // namespace

ServiceMetrics::ServiceMetrics(boost::asio::io_context& io, const std::string& listen) : io_(io) {
    registry_.gauge("ebpfix_build_info", "ebpfix version (value is always 1)", {{"version", EBPFIX_VERSION}}).set(1);
    for (const char* result : {"success", "failure"})
        registry_.counter("ebpfix_config_reloads_total", "SIGHUP configuration reloads by result",
                          {{"result", result}});
    server_ = std::make_unique<metrics::MetricsServer>(io, listen, [this] { return registry_.render(); });
}

void ServiceMetrics::reload_result(bool ok) {
    registry_.counter("ebpfix_config_reloads_total", "SIGHUP configuration reloads by result",
                      {{"result", ok ? "success" : "failure"}})
        .inc();
}

std::unique_ptr<metrics::MetricsServer> ServiceMetrics::bind(const std::string& listen) {
    return std::make_unique<metrics::MetricsServer>(io_, listen, [this] { return registry_.render(); });
}

void ServiceMetrics::adopt(std::unique_ptr<metrics::MetricsServer> server) {
    if (server_) server_->stop();
    server_ = std::move(server);
}

void ServiceMetrics::stop() {
    if (server_) server_->stop();
}

void ServiceMetrics::update(const FlowExporter& exporter, const capture::Capture& capture, bool cycle_ran) {
    auto& r = registry_;
    // Every watched interface has its series from the start, at 0.
    for (const auto& s : capture.status())
        for (const char* dir : {"ingress", "egress"}) {
            metrics::Labels l{{"interface", s.name}, {"direction", dir}};
            r.counter("ebpfix_packets_total", "Packets counted into flows by the kernel program", l);
            r.counter("ebpfix_bytes_total", "L3 bytes counted into flows by the kernel program", l);
        }
    // Totals per (interface, direction); an ifindex that moved (device re-created) adds up.
    std::map<std::pair<std::string, std::string>, std::pair<std::uint64_t, std::uint64_t>> per_if;
    for (const auto& c : exporter.interface_counts()) {
        auto& v = per_if[{capture.name_of(c.ifindex), sinks::direction_word(c.direction)}];
        v.first += c.packets;
        v.second += c.bytes;
    }
    for (const auto& [key, v] : per_if) {
        metrics::Labels l{{"interface", key.first}, {"direction", key.second}};
        r.counter("ebpfix_packets_total", "Packets counted into flows by the kernel program", l).set_total(v.first);
        r.counter("ebpfix_bytes_total", "L3 bytes counted into flows by the kernel program", l).set_total(v.second);
    }

    const auto& t = exporter.totals();
    const std::pair<const char*, const ebpfix_pkt_bytes*> drops[] = {{"non_ip", &t.kernel.non_ip},
                                                                      {"parse_error", &t.kernel.parse_error},
                                                                      {"truncated", &t.kernel.truncated},
                                                                      {"map_full", &t.kernel.map_full},
                                                                      {"sampled_out", &t.kernel.sampled_out},
                                                                      {"excluded", &t.kernel.excluded},
                                                                      {"own_export", &t.own_export}};
    for (const auto& [reason, pb] : drops) {
        r.counter("ebpfix_kernel_drops_total",
                  "Packets counted in no flow, by reason (drops, sampling, exclude lists, ebpfix's own export)",
                  {{"reason", reason}})
            .set_total(pb->packets);
        r.counter("ebpfix_kernel_drop_bytes_total", "Bytes of those packets, by reason", {{"reason", reason}})
            .set_total(pb->bytes);
    }
    r.counter("ebpfix_kernel_fragments_total", "Non-first IP fragments (counted in port-0 flows)")
        .set_total(t.kernel.fragments.packets);
    r.counter("ebpfix_kernel_flows_drained_total", "Flow deltas taken from the kernel's slots").set_total(t.drained_flows);
    r.gauge("ebpfix_kernel_slots_in_use", "Kernel flow slots held by flows").set(double(exporter.drainer().slots_in_use()));

    const auto& table = exporter.table();
    r.gauge("ebpfix_flows_active", "Flows held in the flow table").set(double(table.size()));
    r.gauge("ebpfix_flow_table_size", "Capacity of the flow table (max_flows)").set(double(table.config().max_flows));
    for (EndReason reason : end_reasons) {
        const auto& e = table.stats().by_reason(reason);
        metrics::Labels l{{"reason", sinks::end_reason_word(reason)}};
        r.counter("ebpfix_flows_exported_total", "Flow records exported, by flowEndReason", l).set_total(e.records);
        r.counter("ebpfix_exported_packets_total", "Packets in exported flow records, by flowEndReason", l)
            .set_total(e.packets);
        r.counter("ebpfix_exported_bytes_total", "Bytes in exported flow records, by flowEndReason", l)
            .set_total(e.bytes);
    }
    r.counter("ebpfix_flow_table_evictions_total", "Flows exported early because the flow table was full")
        .set_total(table.stats().evictions);

    // Every output: collectors keep their long-standing series, every sink its own.
    std::set<std::pair<std::string, std::string>> now_sinks;
    for (const auto& sink : exporter.sinks()) {
        const std::string kind = sink->kind(), name = sink->name();
        now_sinks.insert({kind, name});
        const sinks::SinkCounters c = sink->counters();
        metrics::Labels l{{"sink", kind}, {"name", name}};
        r.counter("ebpfix_sink_records_delivered_total", "Flow records an output delivered (sent, written)", l)
            .set_total(c.records_delivered);
        r.counter("ebpfix_sink_records_not_sent_total", "Flow records an output could not deliver", l)
            .set_total(c.records_not_sent);
        r.counter("ebpfix_sink_packets_not_sent_total", "Packets in the flow records an output could not deliver", l)
            .set_total(c.packets_not_sent);
        r.counter("ebpfix_sink_octets_not_sent_total", "Bytes in the flow records an output could not deliver", l)
            .set_total(c.octets_not_sent);
        r.counter("ebpfix_sink_errors_total", "Delivery errors of an output", l).set_total(c.errors);
        r.counter("ebpfix_sink_records_not_exportable_total",
                  "Flow records an output's format cannot carry (IPv6 for NetFlow v5)", l)
            .set_total(c.records_not_exportable);
        r.gauge("ebpfix_sink_queued_records", "Flow records an output holds for later", l)
            .set(double(c.records_queued));
        if (kind == "ipfix" || kind == "netflow9" || kind == "netflow5") {
            metrics::Labels cl{{"collector", name}, {"protocol", kind}};
            r.counter("ebpfix_collector_records_total", "Flow records delivered to the collector", cl)
                .set_total(c.records_delivered);
            r.counter("ebpfix_collector_messages_total", "Messages delivered to the collector", cl)
                .set_total(c.messages_delivered);
            r.counter("ebpfix_collector_bytes_total", "Bytes of messages sent to the collector", cl)
                .set_total(c.bytes_delivered);
            r.counter("ebpfix_collector_send_errors_total", "Messages not delivered for an error (refused, failed)", cl)
                .set_total(c.errors);
            r.counter("ebpfix_collector_queue_drops_total", "Messages dropped because the send queue was full", cl)
                .set_total(c.queue_drops);
            r.counter("ebpfix_collector_records_not_sent_total", "Flow records lost to send errors and drops", cl)
                .set_total(c.records_not_sent);
            r.counter("ebpfix_templates_sent_total", "Template and options template records sent", cl)
                .set_total(c.templates_sent);
        }
        if (kind == "log") {
            r.counter("ebpfix_flow_log_lines_total", "Flow log lines written").set_total(c.records_delivered);
            r.gauge("ebpfix_flow_log_pending_lines", "Flow log lines deferred to later cycles")
                .set(double(c.records_queued));
            r.counter("ebpfix_flow_log_write_errors_total", "Failed flow log writes").set_total(c.errors);
        }
    }
    for (const auto& [kind, name] : sinks_) {
        if (now_sinks.count({kind, name})) continue;
        for (const char* metric : {"ebpfix_sink_records_delivered_total", "ebpfix_sink_records_not_sent_total",
                                   "ebpfix_sink_packets_not_sent_total", "ebpfix_sink_octets_not_sent_total",
                                   "ebpfix_sink_errors_total", "ebpfix_sink_queued_records",
                                   "ebpfix_sink_records_not_exportable_total"})
            r.remove(metric, {{"sink", kind}, {"name", name}});
        for (const char* metric : {"ebpfix_collector_records_total", "ebpfix_collector_messages_total",
                                   "ebpfix_collector_bytes_total", "ebpfix_collector_send_errors_total",
                                   "ebpfix_collector_records_not_sent_total", "ebpfix_templates_sent_total",
                                   "ebpfix_collector_queue_drops_total"})
            r.remove(metric, {{"collector", name}, {"protocol", kind}});
    }
    sinks_ = std::move(now_sinks);

    // Attribution: totals per user and per cgroup, by direction (when asked for).
    for (const auto& sink : exporter.sinks()) {
        const auto* owners = dynamic_cast<const sinks::OwnerTotalsSink*>(sink.get());
        if (owners == nullptr) continue;
        for (const auto& [key, v] : owners->users()) {
            metrics::Labels l{{"user", key.first}, {"direction", key.second}};
            r.counter("ebpfix_user_packets_total", "Packets of exported flows of a user's sockets", l).set_total(v.packets);
            r.counter("ebpfix_user_bytes_total", "L3 bytes of exported flows of a user's sockets", l).set_total(v.bytes);
        }
        for (const auto& [key, v] : owners->cgroups()) {
            metrics::Labels l{{"cgroup", key.first}, {"direction", key.second}};
            r.counter("ebpfix_cgroup_packets_total", "Packets of exported flows of a cgroup's sockets", l)
                .set_total(v.packets);
            r.counter("ebpfix_cgroup_bytes_total", "L3 bytes of exported flows of a cgroup's sockets", l)
                .set_total(v.bytes);
        }
        r.counter("ebpfix_attribution_folded_records_total",
                  "Records counted under \"other\" because the label limit was reached", {{"label", "user"}})
            .set_total(owners->users_folded());
        r.counter("ebpfix_attribution_folded_records_total",
                  "Records counted under \"other\" because the label limit was reached", {{"label", "cgroup"}})
            .set_total(owners->cgroups_folded());
    }

    auto& drain = r.histogram("ebpfix_drain_duration_seconds", "Time of one cycle (drain, flow table, exports)",
                              metrics::exponential_buckets(0.0005, 2, 14));
    if (cycle_ran && exporter.totals().drain_cycles > 0) drain.observe(double(exporter.last_cycle_ns()) / 1e9);
}

}  // namespace ebpfix::daemon
