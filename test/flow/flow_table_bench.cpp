// Flow table cost at the daemon's default size (262,144 flows): ns per add() for new,
// updated and evicting flows, and the cost of expire() and flush(). Not a CTest test:
//   build-*/test/flow/ebpfix_flow_table_bench [flows] [rounds]
// Each figure is the median of the rounds (fresh table per round). Times are this
// thread's CPU time, so that other processes on a shared machine do not count; cache
// and memory contention from them still does.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "flow/flow_table.hpp"

using namespace ebpfix;
using namespace ebpfix::flow;

namespace {

constexpr std::uint64_t sec = 1'000'000'000;
// Thread CPU time in ns.
struct Clock {
    static double now() {
        timespec ts{};
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
    }
};

double elapsed_ns(double since) { return Clock::now() - since; }

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

std::vector<FlowKey> make_keys(std::size_t count, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<FlowKey> keys(count);
    for (std::size_t i = 0; i < count; ++i) {
        FlowKey& k = keys[i];
        const std::uint64_t r = rng();
        if (i % 4 == 3) {  // a quarter IPv6
            k.ip_version = 6;
            k.src_addr = {0x20, 0x01, 0x0d, 0xb8};
            for (int b = 8; b < 16; ++b) k.src_addr[b] = static_cast<std::uint8_t>(rng());
            k.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        } else {
            k.src_addr = FlowKey::mapped_v4(static_cast<std::uint32_t>(r));
            k.dst_addr = FlowKey::mapped_v4(0x0a000001u + static_cast<std::uint32_t>(r >> 32) % 64);
        }
        k.src_port = static_cast<std::uint16_t>(r >> 16);
        k.dst_port = (i % 2) ? 443 : 53;
        k.protocol = (i % 2) ? 6 : 17;
        k.ifindex = 2;
        k.direction = (i % 3) ? Direction::ingress : Direction::egress;
    }
    return keys;
}

FlowDelta delta_for(const FlowKey& key, std::uint64_t t) {
    FlowDelta d;
    d.key = key;
    d.packets = 3;
    d.bytes = 1800;
    d.first_ns = t;
    d.last_ns = t + sec / 2;
    d.tcp_flags = key.protocol == 6 ? 0x10 : 0;
    return d;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t flows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 262144;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    if (flows == 0 || rounds <= 0) {
        std::fprintf(stderr, "usage: %s [flows > 0] [rounds > 0]\n", argv[0]);
        return 2;
    }
    const std::vector<FlowKey> keys = make_keys(flows, 1);
    const std::vector<FlowKey> other_keys = make_keys(flows, 2);  // to overflow a full table
    std::vector<std::size_t> shuffled(flows);
    std::iota(shuffled.begin(), shuffled.end(), 0);
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(3));

    FlowTableConfig config;
    config.max_flows = flows;
    const TimeBase base{1'700'000'000'000'000'000};

    // The drains as the daemon would hand them to the batch add(): deltas in kernel order.
    std::vector<FlowDelta> drain_new, drain_2, drain_3, drain_evict;
    for (const FlowKey& k : keys) drain_new.push_back(delta_for(k, 1 * sec));
    for (std::size_t i : shuffled) drain_2.push_back(delta_for(keys[i], 2 * sec));
    for (std::size_t i : shuffled) drain_3.push_back(delta_for(keys[i], 3 * sec));
    for (const FlowKey& k : other_keys) drain_evict.push_back(delta_for(k, 62 * sec));

    std::vector<double> batch_insert_ns, batch_update_ns, batch_cycle_ms, batch_evict_ns;
    std::vector<double> insert_ns, update_ns, scan_ms, active_ms, evict_ns, flush_ms, cycle_ms, fnv_ns, umap_ns;
    std::size_t sink = 0;
    std::vector<FlowRecord> out;
    out.reserve(2 * flows);
    for (int round = 0; round < rounds; ++round) {
        FlowTable table(config, base, 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(round));
        out.clear();

        auto t0 = Clock::now();
        for (const FlowKey& k : keys) table.add(delta_for(k, 1 * sec), out);
        insert_ns.push_back(elapsed_ns(t0) / static_cast<double>(flows));

        // A drain that updates every flow, in another order than they were created.
        t0 = Clock::now();
        for (std::size_t i : shuffled) table.add(delta_for(keys[i], 2 * sec), out);
        update_ns.push_back(elapsed_ns(t0) / static_cast<double>(flows));

        t0 = Clock::now();
        table.expire(3 * sec, out);  // nothing due: the scan alone
        scan_ms.push_back(elapsed_ns(t0) / 1e6);

        // The daemon's steady state: one drain updating every flow, then expire.
        t0 = Clock::now();
        for (std::size_t i : shuffled) table.add(delta_for(keys[i], 3 * sec), out);
        table.expire(4 * sec, out);
        cycle_ms.push_back(elapsed_ns(t0) / 1e6);

        t0 = Clock::now();
        table.expire(61 * sec, out);  // every flow's record started at 1 s: all active
        active_ms.push_back(elapsed_ns(t0) / 1e6);
        sink += out.size();
        out.clear();

        // Table full: every new key evicts the least recently active flow.
        t0 = Clock::now();
        for (const FlowKey& k : other_keys) table.add(delta_for(k, 62 * sec), out);
        evict_ns.push_back(elapsed_ns(t0) / static_cast<double>(flows));
        sink += out.size();
        out.clear();

        t0 = Clock::now();
        table.flush(out);
        flush_ms.push_back(elapsed_ns(t0) / 1e6);
        sink += out.size() + table.stats().exported.records;

        // The same with the batch add().
        {
            FlowTable batched(config, base, 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(round));
            out.clear();
            t0 = Clock::now();
            batched.add(drain_new, out);
            batch_insert_ns.push_back(elapsed_ns(t0) / static_cast<double>(flows));
            t0 = Clock::now();
            batched.add(drain_2, out);
            batch_update_ns.push_back(elapsed_ns(t0) / static_cast<double>(flows));
            batched.expire(3 * sec, out);
            t0 = Clock::now();
            batched.add(drain_3, out);
            batched.expire(4 * sec, out);
            batch_cycle_ms.push_back(elapsed_ns(t0) / 1e6);
            batched.expire(61 * sec, out);
            out.clear();
            t0 = Clock::now();
            batched.add(drain_evict, out);
            batch_evict_ns.push_back(elapsed_ns(t0) / static_cast<double>(flows));
            sink += out.size() + batched.size();
        }

        // Baselines: the FNV-1a FlowKeyHash alone, and std::unordered_map with it.
        t0 = Clock::now();
        std::size_t h = 0;
        for (const FlowKey& k : keys) h ^= FlowKeyHash{}(k);
        fnv_ns.push_back(elapsed_ns(t0) / static_cast<double>(flows));
        sink += h & 1;
        std::unordered_map<FlowKey, std::uint64_t, FlowKeyHash> umap;
        umap.reserve(flows);
        t0 = Clock::now();
        for (const FlowKey& k : keys) umap[k] += 3;
        for (std::size_t i : shuffled) umap[keys[i]] += 3;
        umap_ns.push_back(elapsed_ns(t0) / static_cast<double>(2 * flows));
        sink += umap.size();
    }

    std::printf("flow table, %zu flows, median of %d rounds\n", flows, rounds);
    std::printf("  add() new flow              %8.1f ns\n", median(insert_ns));
    std::printf("  add() update (shuffled)     %8.1f ns\n", median(update_ns));
    std::printf("  add() new flow, table full  %8.1f ns  (evicts + exports one record)\n", median(evict_ns));
    std::printf("  expire(), nothing due       %8.3f ms\n", median(scan_ms));
    std::printf("  expire(), all active        %8.3f ms  (%zu records)\n", median(active_ms), flows);
    std::printf("  drain cycle: %zu updates + expire %8.3f ms\n", flows, median(cycle_ms));
    std::printf("  flush()                     %8.3f ms  (%zu records)\n", median(flush_ms), flows);
    std::printf("  batch add(span) new flow          %8.1f ns\n", median(batch_insert_ns));
    std::printf("  batch add(span) update (shuffled) %8.1f ns\n", median(batch_update_ns));
    std::printf("  batch add(span) table full        %8.1f ns\n", median(batch_evict_ns));
    std::printf("  drain cycle, batch: %zu updates + expire %8.3f ms\n", flows, median(batch_cycle_ms));
    std::printf("  baseline: FlowKeyHash (FNV-1a) alone       %6.1f ns/key\n", median(fnv_ns));
    std::printf("  baseline: unordered_map<FlowKeyHash> op    %6.1f ns\n", median(umap_ns));
    return sink == 0 ? 1 : 0;
}
