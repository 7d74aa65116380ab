#include "flow/flow_table.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace ebpfix::flow {

namespace {

constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint16_t tcp_fin = 0x01;
constexpr std::uint16_t tcp_rst = 0x04;
constexpr std::uint8_t ipproto_tcp = 6;

// Hostile timeouts or times must not wrap around into "long ago".
constexpr std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
    return a > never - b ? never : a + b;
}

__extension__ using uint128 = unsigned __int128;

// 64x64 -> 128 multiply folded to 64 bits (the wyhash primitive).
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
    const uint128 product = static_cast<uint128>(a) * b;
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

// splitmix64 finalizer: a bijection with full avalanche.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

// FlowKey has no implicit padding, so equal bytes = equal keys. Seven word compares,
// inlined (memcmp of a runtime-size buffer went through a libc call).
inline bool same_key(const FlowKey& a, const FlowKey& b) noexcept {
    std::uint64_t wa[7], wb[7];
    std::memcpy(wa, &a, sizeof wa);
    std::memcpy(wb, &b, sizeof wb);
    return ((wa[0] ^ wb[0]) | (wa[1] ^ wb[1]) | (wa[2] ^ wb[2]) | (wa[3] ^ wb[3]) | (wa[4] ^ wb[4]) |
            (wa[5] ^ wb[5]) | (wa[6] ^ wb[6])) == 0;
}

constexpr std::size_t initial_index_capacity(std::size_t max_flows) noexcept {
    // Room for 4,096 flows (load <= 1/2); the index doubles as the table fills, so a host
    // with few flows does not hold (and zero) an index sized for max_flows.
    const std::size_t expected = std::min<std::size_t>(max_flows, 4096);
    return std::bit_ceil(std::max<std::size_t>(16, expected * 2));
}

}  // namespace

void FlowTableConfig::validate() const {
    if (max_flows == 0) throw std::invalid_argument("flow table: max_flows must be at least 1");
    if (max_flows > max_flows_limit) {
        throw std::invalid_argument("flow table: max_flows " + std::to_string(max_flows) + " exceeds the limit of " +
                                    std::to_string(max_flows_limit));
    }
}

std::uint64_t TimeBase::to_wall_ns(std::uint64_t kernel_ns) const noexcept {
    if (offset_ns >= 0) return saturating_add(kernel_ns, static_cast<std::uint64_t>(offset_ns));
    // Magnitude computed in unsigned arithmetic, so INT64_MIN is fine too.
    const std::uint64_t back = std::uint64_t{0} - static_cast<std::uint64_t>(offset_ns);
    return kernel_ns > back ? kernel_ns - back : 0;
}

FlowTable::FlowTable(const FlowTableConfig& config, TimeBase time_base, std::uint64_t hash_seed)
    : config_(config), time_base_(time_base) {
    config_.validate();
    // Two independent words from one seed, so that no operand of mum() is a constant an
    // outsider could cancel to zero.
    seed_a_ = mix64(hash_seed ^ 0xa0761d6478bd642full);
    seed_b_ = mix64(hash_seed ^ 0xe7037ed1a0b428dbull);
    const std::size_t reserve = std::min<std::size_t>(config_.max_flows, std::size_t{1} << 20);
    flows_.reserve(reserve);
    due_.reserve(reserve);
    totals_.reserve(reserve);
    activity_.reserve(reserve);
    activity_queue_.reserve(2 * reserve + 64);
    index_.assign(initial_index_capacity(config_.max_flows), 0);
    index_mask_ = index_.size() - 1;
}

std::uint32_t FlowTable::hash_key(const FlowKey& key) const noexcept {
    static_assert(sizeof(FlowKey) == 7 * sizeof(std::uint64_t));
    std::uint64_t w[7];
    std::memcpy(w, &key, sizeof w);
    // Independent multiplies (they run in parallel) instead of FNV's 56 dependent ones;
    // the owner word (usually 0) is folded into the last pair.
    const std::uint64_t a = mum(w[0] ^ seed_a_, w[1] ^ seed_b_);
    const std::uint64_t b = mum(w[2] ^ seed_a_ ^ 0x8ebc6af09c88c6e3ull, w[3] ^ seed_b_ ^ 0x589965cc75374cc3ull);
    const std::uint64_t c = mum(w[4] ^ seed_a_ ^ 0x1d8e4e27c47d124full,
                                w[5] ^ seed_b_ ^ 0x9e3779b97f4a7c15ull ^ std::rotl(w[6], 29));
    return static_cast<std::uint32_t>(mix64(a ^ std::rotl(b, 23) ^ std::rotl(c, 47)));
}

std::uint64_t FlowTable::due_ns(const Flow& flow) const noexcept {
    if (flow.state & state_rst) return 0;
    std::uint64_t due = flow.state & state_fin
                            ? saturating_add(flow.last_seen_ns, std::min(config_.tcp_fin_linger_ns, config_.idle_timeout_ns))
                            : saturating_add(flow.last_seen_ns, config_.idle_timeout_ns);
    if (flow.packets > 0) due = std::min(due, saturating_add(flow.first_ns, config_.active_timeout_ns));
    return due;
}

void FlowTable::merge(Flow& flow, const FlowDelta& delta) noexcept {
    if (flow.packets == 0) {
        // First delta of a record (new flow, or the flow goes on after an active export).
        flow.first_ns = delta.first_ns;
        flow.last_ns = delta.last_ns;
        flow.tcp_flags = delta.tcp_flags;
        flow.tos = delta.tos;
    } else {
        // Per-CPU drains may hand deltas over slightly out of time order: keep the
        // earliest first (with its ToS, the record's first packet) and the latest last.
        if (delta.first_ns < flow.first_ns) {
            flow.first_ns = delta.first_ns;
            flow.tos = delta.tos;
        }
        flow.last_ns = std::max(flow.last_ns, delta.last_ns);
        flow.tcp_flags |= delta.tcp_flags;
    }
    flow.packets += delta.packets;
    flow.bytes += delta.bytes;
    flow.last_seen_ns = std::max(flow.last_seen_ns, delta.last_ns);
    // FIN/RST mean something only for TCP; other protocols never carry flags from the
    // kernel, and a delta that claims so must not end a UDP flow.
    if (flow.key.protocol == ipproto_tcp) {
        if (delta.tcp_flags & tcp_rst) flow.state |= state_rst;
        if (delta.tcp_flags & tcp_fin) flow.state |= state_fin;
    }
    held_packets_ += delta.packets;
    held_bytes_ += delta.bytes;
    Totals& t = totals_[static_cast<std::size_t>(&flow - flows_.data())];
    t.packets += delta.packets;
    t.bytes += delta.bytes;
}

void FlowTable::add(const FlowDelta& delta, std::vector<FlowRecord>& out) { add_hashed(delta, 0, false, out); }

void FlowTable::remember_source(const FlowDelta& delta, std::uint32_t slot) {
    if (delta.source == 0 || delta.source >= max_source) return;
    if (delta.source >= by_source_.size()) by_source_.resize(std::size_t{delta.source} + 1, 0);
    by_source_[delta.source] = slot + 1;
}

void FlowTable::add(std::span<const FlowDelta> deltas, std::vector<FlowRecord>& out) {
    // Three stages over a sliding window: hash delta i + index_ahead and prefetch its
    // index bucket; read the (now cached) bucket of delta i + flow_ahead and prefetch its
    // flow; merge delta i. A random access costs ~250 ns on a VM with nested paging, so
    // overlapping them is most of the cost. Prefetches are only hints: add_hashed() does
    // the real lookup, so inserts, evictions or index growth in between do no harm.
    constexpr std::size_t index_ahead = 16;
    constexpr std::size_t flow_ahead = 8;
    constexpr std::size_t window = 32;  // > index_ahead, power of 2
    // A delta whose source names its flow skips the hash and the index.
    std::array<std::uint32_t, window> hashes;
    std::array<bool, window> hashed;
    const std::size_t n = deltas.size();
    auto stage_index = [&](std::size_t i) {
        hashed[i % window] = by_source(deltas[i]) == 0;
        if (!hashed[i % window]) return;
        hashes[i % window] = hash_key(deltas[i].key);
        __builtin_prefetch(&index_[hashes[i % window] & index_mask_]);
    };
    for (std::size_t i = 0; i < std::min(n, index_ahead); ++i) stage_index(i);
    for (std::size_t i = 0; i < n; ++i) {
        if (i + index_ahead < n) stage_index(i + index_ahead);
        if (i + flow_ahead < n) {
            const std::size_t j = i + flow_ahead;
            if (hashed[j % window])
                prefetch_flow(hashes[j % window]);
            else if (const std::uint32_t t = by_source(deltas[j]); t != 0)
                prefetch_slot(t - 1);
        }
        add_hashed(deltas[i], hashes[i % window], hashed[i % window], out);
    }
}

void FlowTable::prefetch_slot(std::uint32_t slot) const noexcept {
    if (slot >= flows_.size()) return;
    const auto* line = reinterpret_cast<const char*>(&flows_[slot]);
    __builtin_prefetch(line, 1);
    __builtin_prefetch(line + 64, 1);
    __builtin_prefetch(&due_[slot], 1);
    __builtin_prefetch(&totals_[slot], 1);
    __builtin_prefetch(&activity_[slot], 1);
}

void FlowTable::prefetch_flow(std::uint32_t hash32) const noexcept {
    // Follow the probe run a few positions (at load <= 1/2 most keys sit within two of
    // home); a tag match is only likely the key, which is all a prefetch needs.
    std::size_t pos = hash32 & index_mask_;
    for (int step = 0; step < 4; ++step, pos = (pos + 1) & index_mask_) {
        const std::uint64_t entry = index_[pos];
        if (entry == 0) return;  // a new key
        if (static_cast<std::uint32_t>(entry >> 32) != hash32) continue;
        prefetch_slot(static_cast<std::uint32_t>(entry) - 1);
        return;
    }
}

void FlowTable::add_hashed(const FlowDelta& input, std::uint32_t hash32, bool hashed, std::vector<FlowRecord>& out) {
    if (input.packets == 0) {
        ++stats_.rejected_deltas;
        stats_.rejected_bytes += input.bytes;
        return;
    }
    FlowDelta delta = input;
    if (delta.first_ns > delta.last_ns) {
        std::swap(delta.first_ns, delta.last_ns);
        ++stats_.inverted_deltas;
    }
    ++stats_.deltas_in;
    stats_.packets_in += delta.packets;
    stats_.bytes_in += delta.bytes;

    if (const std::uint32_t t = by_source(delta); t != 0 && t <= flows_.size()) {
        const std::uint32_t slot = t - 1;
        Flow& flow = flows_[slot];
        if ((flow.state & state_in_use) && same_key(flow.key, delta.key)) {
            merge(flow, delta);
            if (flow.drain != drain_) mark_active(slot);
            due_[slot] = due_ns(flow);
            return;
        }
    }
    if (!hashed) hash32 = hash_key(delta.key);
    std::size_t pos = hash32 & index_mask_;
    for (std::uint64_t entry; (entry = index_[pos]) != 0; pos = (pos + 1) & index_mask_) {
        if (static_cast<std::uint32_t>(entry >> 32) != hash32) continue;
        const auto slot = static_cast<std::uint32_t>(entry) - 1;
        Flow& flow = flows_[slot];
        if (!same_key(flow.key, delta.key)) continue;
        merge(flow, delta);
        if (flow.drain != drain_) mark_active(slot);
        due_[slot] = due_ns(flow);
        remember_source(delta, slot);
        return;
    }

    // A new flow.
    if (size_ >= config_.max_flows) {
        evict_oldest(out);
        // The eviction's backward shift may have moved entries: find the free position again.
        pos = hash32 & index_mask_;
        while (index_[pos] != 0) pos = (pos + 1) & index_mask_;
    }
    if ((size_ + 1) * 2 > index_.size()) {
        grow_index(index_.size() * 2);
        pos = hash32 & index_mask_;
        while (index_[pos] != 0) pos = (pos + 1) & index_mask_;
    }
    std::uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(flows_.size());
        flows_.emplace_back();
        due_.push_back(never);
        totals_.emplace_back();
        activity_.push_back(0);
    }
    Flow& flow = flows_[slot];
    flow = Flow{};
    totals_[slot] = Totals{};
    flow.key = delta.key;
    flow.hash = hash32;
    flow.state = state_in_use;
    merge(flow, delta);
    index_[pos] = std::uint64_t{hash32} << 32 | (std::uint64_t{slot} + 1);
    mark_active(slot);
    due_[slot] = due_ns(flow);
    remember_source(delta, slot);
    ++size_;
    ++stats_.flows_created;
}

void FlowTable::mark_active(std::uint32_t slot) {
    Flow& flow = flows_[slot];
    flow.drain = drain_;
    activity_[slot] = ++last_activity_;
    activity_queue_.push_back(ActivityEntry{slot, last_activity_});
    // Live entries are at most size_; when stale ones outnumber them, drop them. Each
    // compaction removes at least as many entries as it keeps: O(1) amortized.
    if (activity_queue_.size() - activity_head_ > 2 * size_ + 64 || activity_head_ > activity_queue_.size() / 2)
        compact_activity_queue();
}

void FlowTable::compact_activity_queue() {
    std::size_t kept = 0;
    for (std::size_t i = activity_head_; i < activity_queue_.size(); ++i) {
        const ActivityEntry entry = activity_queue_[i];
        if (activity_[entry.slot] == entry.activity) activity_queue_[kept++] = entry;
    }
    activity_queue_.resize(kept);
    activity_head_ = 0;
}

void FlowTable::expire(std::uint64_t now_ns, std::vector<FlowRecord>& out) {
    // One pass over due_ (8 bytes a slot); only flows with something due are touched.
    const std::size_t slots = flows_.size();
    for (std::size_t i = 0; i < slots; ++i) {
        if (due_[i] > now_ns) continue;
        Flow& flow = flows_[i];
        if (!(flow.state & state_in_use)) continue;
        const auto slot = static_cast<std::uint32_t>(i);
        if (flow.state & state_rst) {
            end_flow(slot, EndReason::end_of_flow, out);
            continue;
        }
        if ((flow.state & state_fin) &&
            saturating_add(flow.last_seen_ns, std::min(config_.tcp_fin_linger_ns, config_.idle_timeout_ns)) <= now_ns) {
            end_flow(slot, EndReason::end_of_flow, out);
            continue;
        }
        if (saturating_add(flow.last_seen_ns, config_.idle_timeout_ns) <= now_ns) {
            end_flow(slot, EndReason::idle_timeout, out);
            continue;
        }
        if (flow.packets > 0 && saturating_add(flow.first_ns, config_.active_timeout_ns) <= now_ns) {
            emit(flow, EndReason::active_timeout, out);
        }
        due_[i] = due_ns(flow);
    }
    ++drain_;
}

void FlowTable::flush(std::vector<FlowRecord>& out) {
    for (Flow& flow : flows_) {
        if ((flow.state & state_in_use) && flow.packets > 0) emit(flow, EndReason::forced_end, out);
    }
    stats_.flows_removed += size_;
    clear();
}

void FlowTable::export_held(std::vector<FlowRecord>& out) {
    for (std::size_t i = 0; i < flows_.size(); ++i) {
        Flow& flow = flows_[i];
        if (!(flow.state & state_in_use) || flow.packets == 0) continue;
        emit(flow, EndReason::active_timeout, out);
        due_[i] = due_ns(flow);
    }
}

void FlowTable::reconfigure(const FlowTableConfig& config, std::vector<FlowRecord>& out) {
    config.validate();
    config_ = config;
    while (size_ > config_.max_flows) evict_oldest(out);
    for (std::size_t i = 0; i < flows_.size(); ++i) {
        if (flows_[i].state & state_in_use) due_[i] = due_ns(flows_[i]);
    }
}

void FlowTable::emit(Flow& flow, EndReason reason, std::vector<FlowRecord>& out) {
    FlowRecord record;
    record.key = flow.key;
    record.packets = flow.packets;
    record.bytes = flow.bytes;
    record.start_ms = time_base_.to_wall_ms(flow.first_ns);
    record.end_ms = time_base_.to_wall_ms(flow.last_ns);
    record.tcp_flags = flow.tcp_flags;
    record.tos = flow.tos;
    record.end_reason = reason;
    out.push_back(record);

    ExportCounters& by_reason = stats_.exported_by_reason[static_cast<std::size_t>(reason)];
    for (ExportCounters* counters : {&by_reason, &stats_.exported}) {
        ++counters->records;
        counters->packets += flow.packets;
        counters->bytes += flow.bytes;
    }
    if (reason == EndReason::lack_of_resources) ++stats_.evictions;
    held_packets_ -= flow.packets;
    held_bytes_ -= flow.bytes;

    flow.packets = 0;
    flow.bytes = 0;
    flow.first_ns = 0;
    flow.last_ns = 0;
    flow.tcp_flags = 0;
    flow.tos = 0;
}

void FlowTable::end_flow(std::uint32_t slot, EndReason reason, std::vector<FlowRecord>& out) {
    // Never a record with 0 packets: a flow exported for the active timeout that got
    // nothing since just disappears.
    if (flows_[slot].packets > 0) emit(flows_[slot], reason, out);
    remove_slot(slot);
}

void FlowTable::evict_oldest(std::vector<FlowRecord>& out) {
    // Called only with size_ > 0, so a live entry exists: every flow in use has one.
    while (activity_head_ < activity_queue_.size()) {
        const ActivityEntry entry = activity_queue_[activity_head_++];
        if (activity_[entry.slot] == entry.activity) {
            end_flow(entry.slot, EndReason::lack_of_resources, out);
            return;
        }
    }
    // Unreachable while every flow in use has its live entry; should that ever break,
    // still evict the least recent flow rather than exceed max_flows (or spin in
    // reconfigure()).
    std::uint32_t oldest = 0;
    bool found = false;
    for (std::uint32_t slot = 0; slot < flows_.size(); ++slot) {
        if ((flows_[slot].state & state_in_use) && (!found || activity_[slot] < activity_[oldest])) {
            oldest = slot;
            found = true;
        }
    }
    if (found) end_flow(oldest, EndReason::lack_of_resources, out);
}

void FlowTable::remove_slot(std::uint32_t slot) noexcept {
    Flow& flow = flows_[slot];
    const std::uint64_t slot_tag = std::uint64_t{slot} + 1;
    std::size_t hole = flow.hash & index_mask_;
    while ((index_[hole] & 0xffffffffu) != slot_tag) hole = (hole + 1) & index_mask_;
    // Backward-shift deletion: pull later entries of the probe run into the hole when
    // their home position is not after the hole, so lookups never meet a false gap.
    index_[hole] = 0;
    for (std::size_t next = (hole + 1) & index_mask_; index_[next] != 0; next = (next + 1) & index_mask_) {
        const std::size_t home = static_cast<std::uint32_t>(index_[next] >> 32) & index_mask_;
        if (((next - home) & index_mask_) >= ((next - hole) & index_mask_)) {
            index_[hole] = index_[next];
            index_[next] = 0;
            hole = next;
        }
    }
    flow.state = 0;
    due_[slot] = never;
    activity_[slot] = 0;
    free_slots_.push_back(slot);
    --size_;
    ++stats_.flows_removed;
}

void FlowTable::grow_index(std::size_t capacity) {
    std::vector<std::uint64_t> grown(capacity, 0);
    const std::size_t mask = capacity - 1;
    for (std::uint64_t entry : index_) {
        if (entry == 0) continue;
        std::size_t pos = static_cast<std::uint32_t>(entry >> 32) & mask;
        while (grown[pos] != 0) pos = (pos + 1) & mask;
        grown[pos] = entry;
    }
    index_.swap(grown);
    index_mask_ = mask;
}

void FlowTable::clear() noexcept {
    flows_.clear();
    due_.clear();
    totals_.clear();
    activity_.clear();
    by_source_.clear();
    free_slots_.clear();
    activity_queue_.clear();
    activity_head_ = 0;
    std::fill(index_.begin(), index_.end(), 0);
    size_ = 0;
    held_packets_ = 0;
    held_bytes_ = 0;
}

}  // namespace ebpfix::flow
