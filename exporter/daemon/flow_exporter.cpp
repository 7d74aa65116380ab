#include "daemon/flow_exporter.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include "common/log.hpp"

namespace ebpfix::daemon {

namespace {

constexpr std::uint64_t ns_per_ms = 1'000'000;

std::uint64_t steady_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

ebpfix_pkt_bytes minus(const ebpfix_pkt_bytes& now, const ebpfix_pkt_bytes& before) {
    return {now.packets - before.packets, now.bytes - before.bytes};
}

ebpfix_counters minus(const ebpfix_counters& a, const ebpfix_counters& b) {
    ebpfix_counters d{};
    d.non_ip = minus(a.non_ip, b.non_ip);
    d.parse_error = minus(a.parse_error, b.parse_error);
    d.truncated = minus(a.truncated, b.truncated);
    d.map_full = minus(a.map_full, b.map_full);
    d.sampled_out = minus(a.sampled_out, b.sampled_out);
    d.excluded = minus(a.excluded, b.excluded);
    d.fragments = minus(a.fragments, b.fragments);
    d.flows_created = a.flows_created - b.flows_created;
    d.insert_races = a.insert_races - b.insert_races;
    return d;
}

// The part of a key that names a socket pair: family, protocol, addresses and ports.
bool same_socket(const FlowKey& a, const FlowKey& b) noexcept {
    return a.ip_version == b.ip_version && a.protocol == b.protocol && a.src_port == b.src_port &&
           a.dst_port == b.dst_port && a.src_addr == b.src_addr && a.dst_addr == b.dst_addr;
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

FlowExporter::FlowExporter(const bpf::FlowProgram& program, const config::Config& config, TimeBaseSource time_base,
                           std::uint64_t start_ms, IfName ifname, Interfaces interfaces, BuildSinks build_sinks,
                           OwnerOf owner_of)
    : program_(program),
      config_(config),
      drainer_(program),
      table_(table_config(config), time_base(),
             std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32)),
      time_base_(std::move(time_base)),
      start_ms_(start_ms),
      ifname_(std::move(ifname)),
      interfaces_(std::move(interfaces)),
      build_sinks_(std::move(build_sinks)),
      owner_of_(std::move(owner_of)) {
    sinks_ = build_sinks_(config_, start_ms_, [](const std::string&) { return false; });
}

bool FlowExporter::busy() const {
    return std::any_of(sinks_.begin(), sinks_.end(), [](const auto& s) { return s->busy(); });
}

bool FlowExporter::own_traffic(const FlowKey& key) const noexcept {
    return std::any_of(own_keys_.begin(), own_keys_.end(), [&](const FlowKey& own) { return same_socket(key, own); });
}

void FlowExporter::count_deltas(std::span<const FlowDelta> deltas, std::vector<FlowRecord>& records) {
    std::size_t own = 0;
    InterfaceCount* last = nullptr;  // consecutive deltas mostly share an interface
    for (const auto& d : deltas) {
        // The export datagrams of ebpfix itself (a watched lo, a collector behind the
        // watched device) are no flows: counted apart, so nothing feeds back.
        if (!own_keys_.empty() && own_traffic(d.key)) {
            totals_.own_export.packets += d.packets;
            totals_.own_export.bytes += d.bytes;
            ++own;
            continue;
        }
        if (last == nullptr || last->ifindex != d.key.ifindex || last->direction != d.key.direction) {
            auto it = std::find_if(if_counts_.begin(), if_counts_.end(), [&](const InterfaceCount& c) {
                return c.ifindex == d.key.ifindex && c.direction == d.key.direction;
            });
            if (it == if_counts_.end())
                it = if_counts_.insert(if_counts_.end(), InterfaceCount{d.key.ifindex, d.key.direction, 0, 0});
            last = &*it;
        }
        last->packets += d.packets;
        last->bytes += d.bytes;
        if (config_.attribution && d.key.owner != 0) tuples_.learn(d.key, totals_.drain_cycles);
    }
    // The batch form prefetches the table's slots ahead: faster on a full drain. A copy
    // only when the batch held ebpfix's own traffic.
    if (own == 0) {
        table_.add(deltas, records);
        return;
    }
    kept_.clear();
    for (const auto& d : deltas)
        if (!own_traffic(d.key)) kept_.push_back(d);
    table_.add(std::span<const FlowDelta>(kept_), records);
}

void FlowExporter::drain_into_table(std::uint64_t now_ns, std::vector<FlowRecord>& records) {
    own_keys_.clear();
    for (const auto& sink : sinks_)
        for (const sinks::OwnSocket& s : sink->own_sockets()) {
            own_keys_.push_back(s.forward);
            FlowKey back = s.forward;
            std::swap(back.src_addr, back.dst_addr);
            std::swap(back.src_port, back.dst_port);
            own_keys_.push_back(back);
        }
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

void FlowExporter::deliver(std::uint64_t now_ms, std::uint64_t work_start_ns, std::uint64_t deltas_before,
                           bool final) {
    // Records whose key carries no socket (TC ingress, a SYN-ACK, TIME_WAIT) take the
    // socket of their connection when another direction or packet named it.
    if (config_.attribution) {
        for (FlowRecord& r : records_)
            if (r.key.owner == 0) r.key.owner = tuples_.find(r.key);
        if (totals_.drain_cycles % 64 == 0 && totals_.drain_cycles > 512)
            tuples_.forget_older_than(totals_.drain_cycles - 512);
    }
    sinks::CycleSummary summary;
    summary.timestamp_s = static_cast<std::int64_t>(now_ms / 1000);
    for (const FlowRecord& r : records_) {
        summary.by_reason[static_cast<std::size_t>(r.end_reason) % 6] += 1;
        summary.records += 1;
        summary.packets += r.packets;
        summary.bytes += r.bytes;
    }
    totals_.exported_records += summary.records;
    totals_.exported_packets += summary.packets;
    totals_.exported_bytes += summary.bytes;
    summary.flows_held = table_.size();
    summary.deltas_taken = totals_.drained_flows - deltas_before;
    summary.kernel_delta = minus(totals_.kernel, kernel_at_last_cycle_);
    summary.own_export_delta = minus(totals_.own_export, own_at_last_cycle_);
    std::uint64_t undelivered = 0;
    for (const auto& s : sinks_) undelivered += s->counters().messages_not_sent;
    summary.undelivered_messages = undelivered - std::min(undelivered, undelivered_at_last_cycle_);
    const std::vector<ipfix::InterfaceInfo> interfaces = interfaces_ ? interfaces_() : std::vector<ipfix::InterfaceInfo>{};
    sinks::CycleContext ctx;
    ctx.now_ms = now_ms;
    ctx.records = records_;
    ctx.totals = &totals_;
    ctx.summary = &summary;
    ctx.ifname = ifname_;
    ctx.owner = owner_of_;
    ctx.interfaces = interfaces;
    ctx.final = final;
    // The stats line reports the cycle's own work, measured before it is written.
    summary.work_ms = (steady_ns() - work_start_ns) / ns_per_ms;
    for (const auto& s : sinks_) {
        if (s->ended()) continue;
        s->cycle(ctx);
    }
    kernel_at_last_cycle_ = totals_.kernel;
    own_at_last_cycle_ = totals_.own_export;
    undelivered_at_last_cycle_ = undelivered;
    last_cycle_ns_ = steady_ns() - work_start_ns;
}

void FlowExporter::cycle(std::uint64_t now_ns, std::uint64_t now_ms) {
    const std::uint64_t start = steady_ns();
    records_.clear();
    const std::uint64_t deltas_before = totals_.drained_flows;
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
    deliver(now_ms, start, deltas_before, false);
}

void FlowExporter::finish(std::uint64_t now_ms) {
    const std::uint64_t start = steady_ns();
    records_.clear();
    const std::uint64_t deltas_before = totals_.drained_flows;
    table_.set_time_base(time_base_());
    drain_into_table(UINT64_MAX, records_);
    table_.flush(records_);
    deliver(now_ms, start, deltas_before, true);
}

std::size_t FlowExporter::expire_all(std::uint64_t now_ns, std::uint64_t now_ms) {
    const std::uint64_t start = steady_ns();
    records_.clear();
    const std::uint64_t deltas_before = totals_.drained_flows;
    table_.set_time_base(time_base_());
    drain_into_table(now_ns, records_);
    table_.expire(now_ns, records_);  // what ended by itself keeps its reason
    table_.flush(records_);
    deliver(now_ms, start, deltas_before, false);
    return records_.size();
}

void FlowExporter::reconfigure(const config::Config& config, std::uint64_t now_ms) {
    auto running = [this](const std::string& identity) {
        return std::any_of(sinks_.begin(), sinks_.end(), [&](const auto& s) { return s->identity() == identity; });
    };
    SinkList next = build_sinks_(config, start_ms_, running);  // may throw: nothing has changed yet
    flow::FlowTableConfig tc = table_config(config);
    tc.validate();                                   // may throw too
    // Outputs whose settings did not change keep running (sequence numbers, sockets,
    // queued lines); the new copy of them is dropped before it ever sent anything.
    for (auto& n : next) {
        auto old = std::find_if(sinks_.begin(), sinks_.end(),
                                [&](const auto& s) { return s && s->identity() == n->identity(); });
        if (old != sinks_.end()) n = std::move(*old);
        if (dynamic_cast<const sinks::KeptSink*>(n.get()))
            throw std::logic_error("reload: no running output " + n->identity() + " to keep");
    }
    records_.clear();
    table_.reconfigure(tc, records_);
    if (config.export_interval_ms != config_.export_interval_ms) next_periodic_ns_ = 0;
    config_ = config;
    // Removed outputs go now (a log writes what it still holds); the new set takes the
    // records the smaller table evicted.
    sinks_ = std::move(next);
    if (!records_.empty()) deliver(now_ms, steady_ns(), totals_.drained_flows, false);
}

void FlowExporter::reopen_files() {
    for (const auto& s : sinks_) s->reopen();
}

}  // namespace ebpfix::daemon
