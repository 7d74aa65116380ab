#include "sinks/file_sinks.hpp"

#include "common/log.hpp"

namespace ebpfix::sinks {

FlowLogSink::FlowLogSink(const FlowLogOptions& options) : options_(options), writer_(options) {}

FlowLogSink::~FlowLogSink() { writer_.flush_all(last_export_s_); }

std::string FlowLogSink::identity() const {
    return std::string("log ") + (options_.format == LogFormat::json ? "json " : "text ") + options_.path + " limit " +
           std::to_string(options_.max_export_per_cycle);
}

void FlowLogSink::cycle(const CycleContext& ctx) {
    last_export_s_ = static_cast<std::int64_t>(ctx.now_ms / 1000);
    writer_.write_cycle(ctx.records, ctx.ifname, last_export_s_, ctx.owner);
    if (ctx.final) writer_.flush_all(last_export_s_);
}

void FlowLogSink::reopen() {
    if (!writer_.reopen()) log_warning("cannot reopen the flow log: " + writer_.last_error());
}

SinkCounters FlowLogSink::counters() const {
    SinkCounters c;
    c.records_delivered = writer_.lines_written();
    c.records_queued = writer_.lines_pending();
    c.records_not_sent = writer_.lines_dropped() + writer_.lines_not_written();
    c.errors = writer_.write_errors();
    return c;
}

StatsFileSink::StatsFileSink(const std::string& path, LogFormat format)
    : path_(path), format_(format), writer_(path, format) {}

std::string StatsFileSink::identity() const {
    return std::string("stats ") + (format_ == LogFormat::json ? "json " : "text ") + path_;
}

void StatsFileSink::cycle(const CycleContext& ctx) {
    const CycleSummary& sum = *ctx.summary;
    const ebpfix_counters& k = sum.kernel_delta;
    CycleStats s;
    s.timestamp = sum.timestamp_s;
    s.active = sum.by_reason[static_cast<int>(EndReason::active_timeout)];
    s.inactive = sum.by_reason[static_cast<int>(EndReason::idle_timeout)];
    s.closed = sum.by_reason[static_cast<int>(EndReason::end_of_flow)];
    s.evicted = sum.by_reason[static_cast<int>(EndReason::lack_of_resources)];
    s.forced = sum.by_reason[static_cast<int>(EndReason::forced_end)];
    s.total_flows = sum.flows_held;
    s.total_packets = sum.packets;
    s.total_bytes = sum.bytes;
    s.exported_records = sum.records;
    auto pb = [](const ebpfix_pkt_bytes& x) { return PacketsBytes{x.packets, x.bytes}; };
    s.drop_non_ip = pb(k.non_ip);
    s.drop_parse_error = pb(k.parse_error);
    s.drop_truncated = pb(k.truncated);
    s.drop_map_full = pb(k.map_full);
    s.sampled_out = pb(k.sampled_out);
    s.excluded = pb(k.excluded);
    s.own_export = pb(sum.own_export_delta);
    s.fragments = pb(k.fragments);
    s.kernel_flows_drained = sum.deltas_taken;
    s.drain_ms = sum.work_ms;
    s.send_errors = sum.undelivered_messages;
    if (!writer_.write(s) && writer_.write_errors() == 1)
        log_warning("cannot write the stats file: " + writer_.last_error());
}

void StatsFileSink::reopen() {
    if (!writer_.reopen()) log_warning("cannot reopen the stats file: " + writer_.last_error());
}

SinkCounters StatsFileSink::counters() const {
    SinkCounters c;
    c.records_delivered = writer_.lines_written();
    c.errors = writer_.write_errors();
    return c;
}

}  // namespace ebpfix::sinks
