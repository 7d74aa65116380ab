#include "daemon/flow_exporter.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include "daemon/log.hpp"

namespace ebpfix::daemon {

namespace {

constexpr std::uint64_t ns_per_ms = 1'000'000;

std::uint64_t steady_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

bool same_collector(const config::CollectorConfig& a, const config::CollectorConfig& b) {
    const auto& x = a.encoder;
    const auto& y = b.encoder;
    return a.host == b.host && a.port == b.port && x.protocol == y.protocol &&
           x.observation_domain == y.observation_domain && x.max_message_size == y.max_message_size &&
           x.template_refresh_seconds == y.template_refresh_seconds &&
           x.template_refresh_messages == y.template_refresh_messages &&
           x.sampling_interval == y.sampling_interval && x.uptime_origin_ms == y.uptime_origin_ms;
}

output::PacketsBytes minus(const ebpfix_pkt_bytes& now, const ebpfix_pkt_bytes& before) {
    return {now.packets - before.packets, now.bytes - before.bytes};
}

}  // namespace

flow::FlowTableConfig table_config(const config::Config& c) {
    flow::FlowTableConfig t;
    t.idle_timeout_ns = c.idle_timeout_ms * ns_per_ms;
    t.active_timeout_ns = c.active_timeout_ms * ns_per_ms;
    t.tcp_fin_linger_ns = c.tcp_fin_linger_ms * ns_per_ms;
    t.max_flows = c.max_flows;
    return t;
}

FlowExporter::FlowExporter(boost::asio::io_context& io, const bpf::FlowProgram& program,
                           const config::Config& config, TimeBaseSource time_base, std::uint64_t start_ms,
                           IfName ifname, Interfaces interfaces)
    : io_(io),
      program_(program),
      config_(config),
      drainer_(program),
      table_(table_config(config), time_base(),
             std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32)),
      time_base_(std::move(time_base)),
      start_ms_(start_ms),
      ifname_(std::move(ifname)),
      interfaces_(std::move(interfaces)) {
    Outputs o = build_outputs(config_);
    collectors_ = std::move(o.collectors);
    log_ = std::move(o.log);
    stats_ = std::move(o.stats);
}

FlowExporter::Outputs FlowExporter::build_outputs(const config::Config& config) {
    Outputs o;
    // New sockets first (resolving may fail); collectors that did not change are taken
    // over only in replace_outputs, once nothing can fail any more.
    for (auto cc : config.collectors) {
        cc.encoder.uptime_origin_ms = start_ms_;  // sysUptime counts from the exporter's start
        const bool kept = std::any_of(collectors_.begin(), collectors_.end(),
                                      [&](const Collector& c) { return same_collector(c.config, cc); });
        if (kept) {
            o.collectors.push_back(Collector{cc, ipfix::FlowEncoder(cc.encoder), nullptr});
            continue;
        }
        o.collectors.push_back(Collector{cc, ipfix::FlowEncoder(cc.encoder),
                                         std::make_unique<CollectorSender>(io_, cc.host, cc.port)});
    }
    if (config.log_format != config::OutputFormat::none) {
        output::FlowLogOptions lo;
        lo.format = config.log_format == config::OutputFormat::json ? output::LogFormat::json : output::LogFormat::text;
        lo.path = config.log_file;
        lo.max_export_per_cycle = config.max_export_per_cycle;
        o.log = std::make_unique<output::FlowLogWriter>(lo);
    }
    if (!config.stats_file.empty())
        o.stats = std::make_unique<output::StatsFileWriter>(
            config.stats_file,
            config.stats_format == config::OutputFormat::json ? output::LogFormat::json : output::LogFormat::text);
    return o;
}

void FlowExporter::replace_outputs(Outputs o, std::uint64_t now_ms) {
    for (auto& c : o.collectors) {
        if (c.sender) continue;
        auto old = std::find_if(collectors_.begin(), collectors_.end(),
                                [&](const Collector& k) { return k.sender && same_collector(k.config, c.config); });
        c.encoder = std::move(old->encoder);  // same sequence numbers, same template timing
        c.sender = std::move(old->sender);
    }
    collectors_ = std::move(o.collectors);
    // A replaced log writes every line it deferred before it goes: nothing is dropped.
    if (log_) log_->flush_all(static_cast<std::int64_t>(now_ms / 1000));
    log_ = std::move(o.log);
    stats_ = std::move(o.stats);
}

void FlowExporter::count_deltas(std::span<const FlowDelta> deltas, std::vector<FlowRecord>& records) {
    for (const auto& d : deltas) {
        auto it = std::find_if(if_counts_.begin(), if_counts_.end(), [&](const InterfaceCount& c) {
            return c.ifindex == d.key.ifindex && c.direction == d.key.direction;
        });
        if (it == if_counts_.end())
            it = if_counts_.insert(if_counts_.end(), InterfaceCount{d.key.ifindex, d.key.direction, 0, 0});
        it->packets += d.packets;
        it->bytes += d.bytes;
    }
    // The batch form prefetches the table's slots ahead: ~30% faster on a full drain.
    table_.add(deltas, records);
}

void FlowExporter::drain_into_table(std::uint64_t now_ns, std::vector<FlowRecord>& records) {
    // One batch of deltas at a time: the daemon holds the flow table and the records of
    // the cycle, never a copy of every slot. Slots of flows idle for the idle timeout go
    // back to the kernel (their flows have ended in the table by then).
    auto sink = [&](std::span<const FlowDelta> batch) { count_deltas(batch, records); };
    const bpf::DrainStats ds = now_ns == UINT64_MAX ? drainer_.drain_all(sink)
                                                    : drainer_.drain(now_ns, table_.config().idle_timeout_ns, sink);
    totals_.drain_cycles += 1;
    totals_.drained_flows += ds.deltas;
    totals_.drained_packets += ds.packets;
    totals_.drained_bytes += ds.bytes;
    totals_.kernel = bpf::read_counters(program_);
}

void FlowExporter::export_records(const std::vector<FlowRecord>& records, std::uint64_t now_ms) {
    for (const auto& r : records) {
        totals_.exported_records += 1;
        totals_.exported_packets += r.packets;
        totals_.exported_bytes += r.bytes;
    }
    if (!records.empty()) {
        for (auto& c : collectors_) {
            // A message lost since the last export may have carried templates, or the
            // collector restarted without them: announce them again now.
            if (c.sender->take_losses() > 0) c.encoder.resend_templates();
            // The encoder counts a message before it hands the message over, so a lost
            // message is counted with the records, packets and octets it carried.
            ipfix::EncoderCounters before = c.encoder.counters();
            c.encoder.encode(records, now_ms, [&](gsl::span<const std::uint8_t> message) {
                const ipfix::EncoderCounters& now = c.encoder.counters();
                c.sender->send(message, now.data_records - before.data_records, now.data_packets - before.data_packets,
                               now.data_octets - before.data_octets);
                before = now;
            });
            c.sender->flush();
        }
    }
    if (log_) log_->write_cycle(records, ifname_, static_cast<std::int64_t>(now_ms / 1000));
}

void FlowExporter::export_options(std::uint64_t now_ms) {
    ipfix::ExporterStatistics stats;
    stats.ignored_packets = totals_.kernel.non_ip.packets + totals_.kernel.parse_error.packets +
                            totals_.kernel.truncated.packets + totals_.kernel.map_full.packets;
    stats.ignored_octets = totals_.kernel.non_ip.bytes + totals_.kernel.parse_error.bytes +
                           totals_.kernel.truncated.bytes + totals_.kernel.map_full.bytes;
    const auto interfaces = interfaces_ ? interfaces_() : std::vector<ipfix::InterfaceInfo>{};
    for (auto& c : collectors_) {
        // Reads the refusals that came back, so the totals below are up to date.
        if (c.sender->take_losses() > 0) c.encoder.resend_templates();
        stats.not_sent_flows = c.sender->counters().records_not_sent;
        stats.not_sent_packets = c.sender->counters().packets_not_sent;
        stats.not_sent_octets = c.sender->counters().octets_not_sent;
        c.encoder.encode_options(stats, interfaces, now_ms,
                                 [&](gsl::span<const std::uint8_t> message) { c.sender->send(message); });
        c.sender->flush();
    }
    last_options_ms_ = now_ms;
}

void FlowExporter::cycle(std::uint64_t now_ns, std::uint64_t now_ms) {
    const std::uint64_t start = steady_ns();
    records_.clear();
    const std::uint64_t drained_before = totals_.drained_flows;
    table_.set_time_base(time_base_());
    drain_into_table(now_ns, records_);
    table_.expire(now_ns, records_);
    // flowcap's cadence: every flow with packets is exported each export_interval.
    if (config_.export_interval_ms > 0) {
        const std::uint64_t every = config_.export_interval_ms * ns_per_ms;
        if (next_periodic_ns_ == 0) next_periodic_ns_ = now_ns + every;
        if (now_ns >= next_periodic_ns_) {
            table_.export_held(records_);
            // From the previous deadline, skipping missed ones (a suspend, a capture gap).
            next_periodic_ns_ += ((now_ns - next_periodic_ns_) / every + 1) * every;
        }
    }
    // Options (statistics, interface table) at start, then with the template refresh.
    if (!collectors_.empty()) {
        const std::uint64_t every_ms = std::uint64_t(collectors_.front().config.encoder.template_refresh_seconds) * 1000;
        if (last_options_ms_ == 0 || now_ms >= last_options_ms_ + every_ms) export_options(now_ms);
    }
    export_records(records_, now_ms);
    last_drain_ns_ = steady_ns() - start;
    write_stats(now_ms, last_drain_ns_, records_, totals_.drained_flows - drained_before);
}

void FlowExporter::finish(std::uint64_t now_ms) {
    const std::uint64_t start = steady_ns();
    records_.clear();
    const std::uint64_t drained_before = totals_.drained_flows;
    table_.set_time_base(time_base_());
    drain_into_table(UINT64_MAX, records_);
    table_.flush(records_);
    // A collector that started after ebpfix (or lost a template) can decode the last
    // records: they go with every template.
    for (auto& c : collectors_) c.encoder.resend_templates();
    export_records(records_, now_ms);
    if (!collectors_.empty()) export_options(now_ms);
    if (log_) log_->flush_all(static_cast<std::int64_t>(now_ms / 1000));
    last_drain_ns_ = steady_ns() - start;
    write_stats(now_ms, last_drain_ns_, records_, totals_.drained_flows - drained_before);
}

void FlowExporter::reconfigure(const config::Config& config, std::uint64_t now_ms) {
    Outputs o = build_outputs(config);  // may throw: nothing has changed yet
    flow::FlowTableConfig tc = table_config(config);
    tc.validate();                      // may throw too
    std::vector<FlowRecord> evicted;
    table_.reconfigure(tc, evicted);
    replace_outputs(std::move(o), now_ms);
    if (config.export_interval_ms != config_.export_interval_ms) next_periodic_ns_ = 0;
    config_ = config;
    if (!evicted.empty()) export_records(evicted, now_ms);
}

void FlowExporter::reopen_files() {
    if (log_ && !log_->reopen()) log_warning("cannot reopen the flow log: " + log_->last_error());
    if (stats_ && !stats_->reopen()) log_warning("cannot reopen the stats file: " + stats_->last_error());
}

std::uint64_t FlowExporter::send_failures() const {
    std::uint64_t n = 0;
    for (const auto& c : collectors_) n += c.sender->counters().send_errors + c.sender->counters().queue_drops;
    return n;
}

void FlowExporter::write_stats(std::uint64_t now_ms, std::uint64_t work_ns, const std::vector<FlowRecord>& records,
                               std::uint64_t drained_flows) {
    const std::uint64_t failures = send_failures();
    const ebpfix_counters k = totals_.kernel;
    if (stats_) {
        output::CycleStats s;
        s.timestamp = static_cast<std::int64_t>(now_ms / 1000);
        for (const auto& r : records) {
            s.total_packets += r.packets;
            s.total_bytes += r.bytes;
            switch (r.end_reason) {
            case EndReason::active_timeout: ++s.active; break;
            case EndReason::idle_timeout: ++s.inactive; break;
            case EndReason::end_of_flow: ++s.closed; break;
            case EndReason::lack_of_resources: ++s.evicted; break;
            case EndReason::forced_end: ++s.forced; break;
            }
        }
        s.total_flows = table_.size();
        s.exported_records = records.size();
        s.drop_non_ip = minus(k.non_ip, kernel_at_last_stats_.non_ip);
        s.drop_parse_error = minus(k.parse_error, kernel_at_last_stats_.parse_error);
        s.drop_truncated = minus(k.truncated, kernel_at_last_stats_.truncated);
        s.drop_map_full = minus(k.map_full, kernel_at_last_stats_.map_full);
        s.fragments = minus(k.fragments, kernel_at_last_stats_.fragments);
        s.kernel_flows_drained = drained_flows;
        s.drain_ms = work_ns / ns_per_ms;
        s.send_errors = failures >= send_failures_at_last_stats_ ? failures - send_failures_at_last_stats_ : failures;
        if (!stats_->write(s) && stats_->write_errors() == 1)
            log_warning("cannot write the stats file: " + stats_->last_error());
    }
    kernel_at_last_stats_ = k;
    send_failures_at_last_stats_ = failures;
}

}  // namespace ebpfix::daemon
