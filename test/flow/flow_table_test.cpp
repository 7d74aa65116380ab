// The flow table with a fake clock: times are plain numbers, every expected record is
// stated with its exact counters, times, flags, ToS and end reason.
#define BOOST_TEST_MODULE flow_table
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "flow/flow_table.hpp"

using namespace ebpfix;
using namespace ebpfix::flow;

namespace {

constexpr std::uint64_t ms = 1'000'000;
constexpr std::uint64_t sec = 1'000'000'000;
// Kernel time 0 is this wall-clock instant (2023-11-14T22:13:20Z).
constexpr std::int64_t wall_offset_ns = 1'700'000'000'000'000'000;
constexpr TimeBase time_base{wall_offset_ns};
constexpr std::uint64_t wall_ms(std::uint64_t kernel_ns) { return (kernel_ns + wall_offset_ns) / ms; }

constexpr std::uint16_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

FlowKey make_key(std::uint32_t n, std::uint8_t protocol) {
    FlowKey key;
    key.src_addr = FlowKey::mapped_v4(0x0a000000u | (n & 0xffffffu));  // 10.x.y.z
    key.dst_addr = FlowKey::mapped_v4(0xc0a80001u);                     // 192.168.0.1
    key.src_port = static_cast<std::uint16_t>(1024 + n % 60000);
    key.dst_port = 443;
    key.protocol = protocol;
    key.ifindex = 2;
    key.ip_version = 4;
    return key;
}
FlowKey tcp_key(std::uint32_t n) { return make_key(n, 6); }
FlowKey udp_key(std::uint32_t n) { return make_key(n, 17); }
FlowKey v6_key(std::uint32_t n) {
    FlowKey key = make_key(n, 6);
    key.src_addr = {0x20, 0x01, 0x0d, 0xb8};
    key.src_addr[12] = static_cast<std::uint8_t>(n >> 24);
    key.src_addr[13] = static_cast<std::uint8_t>(n >> 16);
    key.src_addr[14] = static_cast<std::uint8_t>(n >> 8);
    key.src_addr[15] = static_cast<std::uint8_t>(n);
    key.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    key.ip_version = 6;
    return key;
}

FlowDelta make_delta(const FlowKey& key, std::uint64_t packets, std::uint64_t bytes, std::uint64_t first_ns,
                     std::uint64_t last_ns, std::uint16_t tcp_flags = 0, std::uint8_t tos = 0) {
    FlowDelta delta;
    delta.key = key;
    delta.packets = packets;
    delta.bytes = bytes;
    delta.first_ns = first_ns;
    delta.last_ns = last_ns;
    delta.tcp_flags = tcp_flags;
    delta.tos = tos;
    return delta;
}

FlowTableConfig make_config(std::uint64_t idle_ns, std::uint64_t active_ns, std::uint64_t linger_ns,
                            std::size_t max_flows) {
    FlowTableConfig config;
    config.idle_timeout_ns = idle_ns;
    config.active_timeout_ns = active_ns;
    config.tcp_fin_linger_ns = linger_ns;
    config.max_flows = max_flows;
    return config;
}

struct Expected {
    FlowKey key;
    std::uint64_t packets, bytes, start_ns, end_ns;
    std::uint16_t tcp_flags;
    std::uint8_t tos;
    EndReason reason;
};

void check_record(const FlowRecord& record, const Expected& want) {
    BOOST_TEST((record.key == want.key));
    BOOST_TEST(record.packets == want.packets);
    BOOST_TEST(record.bytes == want.bytes);
    BOOST_TEST(record.start_ms == wall_ms(want.start_ns));
    BOOST_TEST(record.end_ms == wall_ms(want.end_ns));
    BOOST_TEST(record.tcp_flags == want.tcp_flags);
    BOOST_TEST(record.tos == want.tos);
    BOOST_TEST(static_cast<int>(record.end_reason) == static_cast<int>(want.reason));
}

// The reconciliation invariant and its companions; "" when they hold.
std::string invariant_error(const FlowTable& table) {
    const FlowTableStats& s = table.stats();
    std::ostringstream err;
    if (s.packets_in != s.exported.packets + table.held_packets())
        err << "packets_in " << s.packets_in << " != exported " << s.exported.packets << " + held " << table.held_packets();
    if (s.bytes_in != s.exported.bytes + table.held_bytes())
        err << "bytes_in " << s.bytes_in << " != exported " << s.exported.bytes << " + held " << table.held_bytes();
    ExportCounters sum;
    for (int reason = 1; reason <= 5; ++reason) {
        sum.records += s.exported_by_reason[reason].records;
        sum.packets += s.exported_by_reason[reason].packets;
        sum.bytes += s.exported_by_reason[reason].bytes;
    }
    if (sum.records != s.exported.records || sum.packets != s.exported.packets || sum.bytes != s.exported.bytes)
        err << " per-reason sums differ from the totals";
    if (s.evictions != s.by_reason(EndReason::lack_of_resources).records) err << " evictions != reason-5 records";
    if (s.flows_created - s.flows_removed != table.size())
        err << " created " << s.flows_created << " - removed " << s.flows_removed << " != size " << table.size();
    if (table.size() > table.config().max_flows) err << " size " << table.size() << " > max_flows";
    return err.str();
}

#define CHECK_INVARIANT(table) BOOST_TEST(invariant_error(table) == "")

}  // namespace

BOOST_AUTO_TEST_CASE(idle_expiry_exactly_at_the_timeout) {
    FlowTable table(make_config(15 * sec, 60 * sec, 2 * sec, 100), time_base);
    std::vector<FlowRecord> out;
    const FlowKey key = udp_key(1);
    table.add(make_delta(key, 3, 300, 1 * sec, 2 * sec, 0, 0x2e), out);
    table.add(make_delta(key, 2, 250, 2500 * ms, 3 * sec, 0, 0x00), out);
    BOOST_TEST(table.size() == 1u);

    table.expire(18 * sec - 1, out);  // last packet 3 s + 15 s idle = 18 s
    BOOST_TEST(out.empty());
    table.expire(18 * sec, out);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {key, 5, 550, 1 * sec, 3 * sec, 0, 0x2e, EndReason::idle_timeout});
    BOOST_TEST(table.size() == 0u);
    BOOST_TEST(table.held_packets() == 0u);
    BOOST_TEST(table.stats().by_reason(EndReason::idle_timeout).records == 1u);
    table.expire(100 * sec, out);
    BOOST_TEST(out.size() == 1u);
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(active_timeout_splits_a_200_second_flow) {
    // Fed every second for 200 s (delta i: i+1 packets of 100 bytes in [i s, i s + 900 ms]),
    // drained and expired at (i+1) s: active 60 s gives records of deltas 0-59, 60-119,
    // 120-179 (active) and 180-199 (idle, 15 s after the last packet).
    FlowTable table(FlowTableConfig{}, time_base);
    std::vector<FlowRecord> out;
    const FlowKey key = tcp_key(42);
    std::vector<int> record_steps;
    for (int i = 0; i < 200; ++i) {
        const std::uint64_t n = static_cast<std::uint64_t>(i);
        const std::size_t before = out.size();
        table.add(make_delta(key, n + 1, (n + 1) * 100, n * sec, n * sec + 900 * ms, i == 0 ? SYN | ACK : ACK,
                             static_cast<std::uint8_t>(i % 7)),
                  out);
        table.expire((n + 1) * sec, out);
        if (out.size() != before) record_steps.push_back(i);
        CHECK_INVARIANT(table);
    }
    BOOST_TEST(record_steps == (std::vector<int>{59, 119, 179}), boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(out.size() == 3u);
    BOOST_TEST(table.held_packets() == 3810u);  // 181 + ... + 200

    table.expire(214900 * ms - 1, out);
    BOOST_TEST(out.size() == 3u);
    table.expire(214900 * ms, out);
    BOOST_TEST_REQUIRE(out.size() == 4u);
    check_record(out[0], {key, 1830, 183000, 0, 59900 * ms, SYN | ACK, 0, EndReason::active_timeout});
    check_record(out[1], {key, 5430, 543000, 60 * sec, 119900 * ms, ACK, 60 % 7, EndReason::active_timeout});
    check_record(out[2], {key, 9030, 903000, 120 * sec, 179900 * ms, ACK, 120 % 7, EndReason::active_timeout});
    check_record(out[3], {key, 3810, 381000, 180 * sec, 199900 * ms, ACK, 180 % 7, EndReason::idle_timeout});
    BOOST_TEST(table.size() == 0u);
    BOOST_TEST(table.stats().packets_in == 20100u);
    BOOST_TEST(table.stats().flows_created == 1u);
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(no_empty_record_after_an_active_export) {
    FlowTable table(make_config(15 * sec, 5 * sec, 2 * sec, 100), time_base);
    std::vector<FlowRecord> out;
    const FlowKey key = udp_key(2);
    table.add(make_delta(key, 4, 400, 0, 1 * sec), out);
    table.expire(5 * sec, out);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {key, 4, 400, 0, 1 * sec, 0, 0, EndReason::active_timeout});
    BOOST_TEST(table.size() == 1u);  // the flow goes on

    table.expire(10 * sec, out);  // nothing held: no second active record
    table.expire(16 * sec, out);  // idle: removed without a record
    BOOST_TEST(out.size() == 1u);
    BOOST_TEST(table.size() == 0u);
    BOOST_TEST(table.stats().flows_removed == 1u);
    BOOST_TEST(table.stats().by_reason(EndReason::idle_timeout).records == 0u);
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(active_export_continues_with_fresh_counters) {
    FlowTable table(make_config(15 * sec, 5 * sec, 2 * sec, 100), time_base);
    std::vector<FlowRecord> out;
    const FlowKey key = tcp_key(3);
    table.add(make_delta(key, 2, 120, 0, 4 * sec, SYN, 8), out);
    table.expire(5 * sec, out);
    table.add(make_delta(key, 7, 7000, 5500 * ms, 6 * sec, ACK, 16), out);
    table.expire(10500 * ms - 1, out);  // the second record started at 5.5 s
    BOOST_TEST(out.size() == 1u);
    table.expire(10500 * ms, out);
    BOOST_TEST_REQUIRE(out.size() == 2u);
    check_record(out[0], {key, 2, 120, 0, 4 * sec, SYN, 8, EndReason::active_timeout});
    check_record(out[1], {key, 7, 7000, 5500 * ms, 6 * sec, ACK, 16, EndReason::active_timeout});
    BOOST_TEST(table.stats().flows_created == 1u);
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(fin_linger_joins_the_last_ack_in_the_same_record) {
    FlowTable table(FlowTableConfig{}, time_base);  // linger 2 s
    std::vector<FlowRecord> out;
    const FlowKey key = tcp_key(7);
    table.add(make_delta(key, 10, 5000, 1 * sec, 2 * sec, ACK | PSH, 0x20), out);
    table.add(make_delta(key, 1, 52, 3 * sec, 3 * sec, FIN | ACK), out);
    table.expire(4 * sec, out);
    BOOST_TEST(out.empty());
    table.add(make_delta(key, 1, 52, 4500 * ms, 4500 * ms, ACK), out);  // the last ACK
    table.expire(6500 * ms - 1, out);  // linger runs from the latest packet
    BOOST_TEST(out.empty());
    table.expire(6500 * ms, out);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {key, 12, 5104, 1 * sec, 4500 * ms, FIN | ACK | PSH, 0x20, EndReason::end_of_flow});
    BOOST_TEST(table.size() == 0u);

    // The same 5-tuple again is a new flow with its own flags.
    table.add(make_delta(key, 1, 60, 10 * sec, 10 * sec, SYN), out);
    BOOST_TEST(table.size() == 1u);
    BOOST_TEST(table.stats().flows_created == 2u);
    table.expire(25 * sec, out);
    BOOST_TEST_REQUIRE(out.size() == 2u);
    check_record(out[1], {key, 1, 60, 10 * sec, 10 * sec, SYN, 0, EndReason::idle_timeout});
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(rst_ends_the_flow_at_once) {
    FlowTable table(FlowTableConfig{}, time_base);
    std::vector<FlowRecord> out;
    const FlowKey key = tcp_key(9);
    table.add(make_delta(key, 5, 400, 1 * sec, 2 * sec, ACK), out);
    table.add(make_delta(key, 1, 40, 2500 * ms, 2500 * ms, RST | ACK), out);
    table.expire(2500 * ms, out);  // no timeout has to pass
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {key, 6, 440, 1 * sec, 2500 * ms, RST | ACK, 0, EndReason::end_of_flow});
    BOOST_TEST(table.size() == 0u);

    table.add(make_delta(key, 1, 60, 3 * sec, 3 * sec, SYN), out);
    BOOST_TEST(table.stats().flows_created == 2u);
    BOOST_TEST(table.size() == 1u);
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(fin_and_rst_bits_mean_nothing_outside_tcp) {
    FlowTable table(FlowTableConfig{}, time_base);
    std::vector<FlowRecord> out;
    table.add(make_delta(udp_key(1), 1, 100, 1 * sec, 1 * sec, RST | FIN), out);
    table.expire(15 * sec, out);  // neither "at once" nor after the 2 s linger
    BOOST_TEST(out.empty());
    table.expire(16 * sec, out);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {udp_key(1), 1, 100, 1 * sec, 1 * sec, RST | FIN, 0, EndReason::idle_timeout});
}

BOOST_AUTO_TEST_CASE(table_full_evicts_the_least_recently_active_flow) {
    // One delta per drain (expire() ends a drain; nothing is due with 100 s timeouts).
    FlowTable table(make_config(100 * sec, 100 * sec, 2 * sec, 3), time_base);
    std::vector<FlowRecord> out;
    const FlowKey a = udp_key(1), b = udp_key(2), c = udp_key(3), d = udp_key(4), e = udp_key(5), f = udp_key(6);
    const auto drain = [&](const FlowKey& key, std::uint64_t n) {
        table.add(make_delta(key, n, n * 100, n * sec, n * sec), out);
        table.expire(n * sec, out);
    };
    drain(a, 1);
    drain(b, 2);
    drain(c, 3);
    drain(a, 4);  // order now b, c, a
    BOOST_TEST(out.empty());
    drain(d, 5);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {b, 2, 200, 2 * sec, 2 * sec, 0, 0, EndReason::lack_of_resources});
    drain(e, 6);  // evicts c; order a, d, e
    drain(a, 7);  // known key: no eviction; order d, e, a
    drain(f, 8);  // evicts d
    BOOST_TEST_REQUIRE(out.size() == 3u);
    check_record(out[1], {c, 3, 300, 3 * sec, 3 * sec, 0, 0, EndReason::lack_of_resources});
    check_record(out[2], {d, 5, 500, 5 * sec, 5 * sec, 0, 0, EndReason::lack_of_resources});
    BOOST_TEST(table.size() == 3u);
    BOOST_TEST(table.stats().evictions == 3u);
    BOOST_TEST(table.stats().by_reason(EndReason::lack_of_resources).packets == 10u);
    BOOST_TEST(table.stats().by_reason(EndReason::lack_of_resources).bytes == 1000u);
    BOOST_TEST(table.held_packets() == 1u + 4 + 7 + 6 + 8);
    CHECK_INVARIANT(table);

    table.flush(out);
    BOOST_TEST_REQUIRE(out.size() == 6u);
    std::map<FlowKey, FlowRecord> flushed;
    for (std::size_t i = 3; i < out.size(); ++i) flushed[out[i].key] = out[i];
    BOOST_TEST_REQUIRE(flushed.size() == 3u);
    check_record(flushed[a], {a, 12, 1200, 1 * sec, 7 * sec, 0, 0, EndReason::forced_end});
    check_record(flushed[e], {e, 6, 600, 6 * sec, 6 * sec, 0, 0, EndReason::forced_end});
    check_record(flushed[f], {f, 8, 800, 8 * sec, 8 * sec, 0, 0, EndReason::forced_end});
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(evicting_a_flow_with_nothing_held_exports_no_record) {
    FlowTable table(make_config(100 * sec, 5 * sec, 2 * sec, 2), time_base);
    std::vector<FlowRecord> out;
    table.add(make_delta(udp_key(1), 1, 100, 0, 0), out);
    table.expire(5 * sec, out);  // active export; the flow stays, empty
    BOOST_TEST_REQUIRE(out.size() == 1u);
    table.add(make_delta(udp_key(2), 2, 200, 6 * sec, 6 * sec), out);
    table.add(make_delta(udp_key(3), 3, 300, 7 * sec, 7 * sec), out);  // flow 1 goes, silently
    BOOST_TEST(out.size() == 1u);
    BOOST_TEST(table.size() == 2u);
    BOOST_TEST(table.stats().evictions == 0u);
    BOOST_TEST(table.stats().flows_removed == 1u);
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(recency_has_drain_granularity) {
    // Within one drain, flows rank by their first delta in it: a second delta for a in the
    // same drain does not make it more recent than b and c.
    FlowTable table(make_config(100 * sec, 100 * sec, 2 * sec, 3), time_base);
    std::vector<FlowRecord> out;
    const FlowKey a = udp_key(1), b = udp_key(2), c = udp_key(3), d = udp_key(4), e = udp_key(5);
    table.add(make_delta(a, 1, 100, 1 * sec, 1 * sec), out);
    table.add(make_delta(b, 2, 200, 1 * sec, 1 * sec), out);
    table.add(make_delta(c, 3, 300, 1 * sec, 1 * sec), out);
    table.add(make_delta(a, 4, 400, 2 * sec, 2 * sec), out);
    table.add(make_delta(d, 5, 500, 2 * sec, 2 * sec), out);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {a, 5, 500, 1 * sec, 2 * sec, 0, 0, EndReason::lack_of_resources});
    table.expire(3 * sec, out);
    // Next drain: b gets packets again, so c (last active one drain earlier) goes first.
    table.add(make_delta(b, 6, 600, 3 * sec, 3 * sec), out);
    table.add(make_delta(e, 7, 700, 3 * sec, 3 * sec), out);
    BOOST_TEST_REQUIRE(out.size() == 2u);
    check_record(out[1], {c, 3, 300, 1 * sec, 1 * sec, 0, 0, EndReason::lack_of_resources});
    BOOST_TEST(table.size() == 3u);
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(batch_add_equals_one_by_one) {
    // The prefetching batch add() must leave exactly what single adds leave: same records
    // in the same order (evictions included), same stats.
    std::mt19937_64 rng(99);
    std::vector<FlowDelta> deltas;
    for (int i = 0; i < 20000; ++i) {
        const auto k = static_cast<std::uint32_t>(rng() % 3000);
        const std::uint64_t t = static_cast<std::uint64_t>(i) * ms;
        deltas.push_back(make_delta(k % 2 ? tcp_key(k) : v6_key(k), rng() % 4, 100 + rng() % 1000, t + rng() % ms, t,
                                    static_cast<std::uint16_t>(rng() % 0x40), static_cast<std::uint8_t>(rng())));
        // Mostly the key's own source; some another key's (a reused kernel slot).
        deltas.back().source = rng() % 8 ? k + 1 : static_cast<std::uint32_t>(rng() % 3000 + 1);
    }
    const FlowTableConfig config = make_config(5 * sec, 10 * sec, 1 * sec, 1000);
    FlowTable batched(config, time_base, 17), single(config, time_base, 17);
    std::vector<FlowRecord> out_batched, out_single;
    for (std::size_t begin = 0; begin < deltas.size(); begin += 2500) {
        const std::span<const FlowDelta> drain(deltas.data() + begin, 2500);
        batched.add(drain, out_batched);
        for (const FlowDelta& delta : drain) single.add(delta, out_single);
        const std::uint64_t now = (begin + 2500) * ms;
        batched.expire(now, out_batched);
        single.expire(now, out_single);
    }
    batched.flush(out_batched);
    single.flush(out_single);
    BOOST_TEST_REQUIRE(out_batched.size() == out_single.size());
    std::size_t differing = 0;
    for (std::size_t i = 0; i < out_batched.size(); ++i) {
        const FlowRecord &x = out_batched[i], &y = out_single[i];
        if (!(x.key == y.key) || x.packets != y.packets || x.bytes != y.bytes || x.start_ms != y.start_ms ||
            x.end_ms != y.end_ms || x.tcp_flags != y.tcp_flags || x.tos != y.tos || x.end_reason != y.end_reason)
            ++differing;
    }
    BOOST_TEST(differing == 0u);
    BOOST_TEST(batched.stats().rejected_deltas == single.stats().rejected_deltas);
    BOOST_TEST(batched.stats().rejected_deltas > 0u);  // rng() % 4 == 0 packets: some were hostile
    BOOST_TEST(batched.stats().inverted_deltas > 0u);
    BOOST_TEST(batched.stats().evictions == single.stats().evictions);
    BOOST_TEST(batched.stats().evictions > 0u);
    BOOST_TEST(batched.stats().exported.packets == batched.stats().packets_in);
    BOOST_TEST(single.stats().exported.packets == single.stats().packets_in);
    CHECK_INVARIANT(batched);
}

BOOST_AUTO_TEST_CASE(reconfigure_shrinks_and_applies_new_timeouts) {
    FlowTable table(make_config(15 * sec, 60 * sec, 2 * sec, 10), time_base);
    std::vector<FlowRecord> out;
    for (std::uint32_t i = 1; i <= 5; ++i)
        table.add(make_delta(udp_key(i), i, i * 100, i * sec, i * sec), out);
    table.reconfigure(make_config(5 * sec, 60 * sec, 2 * sec, 2), out);
    BOOST_TEST_REQUIRE(out.size() == 3u);
    for (std::uint32_t i = 1; i <= 3; ++i)
        check_record(out[i - 1], {udp_key(i), i, i * 100, i * sec, i * sec, 0, 0, EndReason::lack_of_resources});
    BOOST_TEST(table.size() == 2u);
    BOOST_TEST(table.config().max_flows == 2u);

    // Invalid: rejected, nothing changes.
    BOOST_CHECK_THROW(table.reconfigure(make_config(5 * sec, 60 * sec, 2 * sec, 0), out), std::invalid_argument);
    BOOST_TEST(table.config().max_flows == 2u);
    BOOST_TEST(table.size() == 2u);

    // The new 5 s idle timeout applies to flows already held.
    table.expire(9 * sec - 1, out);
    BOOST_TEST(out.size() == 3u);
    table.expire(9 * sec, out);
    BOOST_TEST_REQUIRE(out.size() == 4u);
    check_record(out[3], {udp_key(4), 4, 400, 4 * sec, 4 * sec, 0, 0, EndReason::idle_timeout});
    table.expire(10 * sec, out);
    BOOST_TEST_REQUIRE(out.size() == 5u);
    check_record(out[4], {udp_key(5), 5, 500, 5 * sec, 5 * sec, 0, 0, EndReason::idle_timeout});
    BOOST_TEST(table.stats().evictions == 3u);
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(reconfigure_longer_active_timeout_postpones_export) {
    FlowTable table(make_config(1000 * sec, 10 * sec, 2 * sec, 10), time_base);
    std::vector<FlowRecord> out;
    table.add(make_delta(udp_key(1), 1, 100, 0, 1 * sec), out);
    table.reconfigure(make_config(1000 * sec, 100 * sec, 2 * sec, 10), out);
    table.expire(99 * sec, out);
    BOOST_TEST(out.empty());
    table.expire(100 * sec, out);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {udp_key(1), 1, 100, 0, 1 * sec, 0, 0, EndReason::active_timeout});
}

BOOST_AUTO_TEST_CASE(flush_exports_everything_held_and_empties_the_table) {
    FlowTable table(make_config(15 * sec, 5 * sec, 2 * sec, 100), time_base);
    std::vector<FlowRecord> out;
    const FlowKey a = tcp_key(1), b = v6_key(2), c = udp_key(3);
    table.add(make_delta(c, 9, 900, 0, 1 * sec), out);
    table.add(make_delta(a, 1, 60, 4 * sec, 4 * sec, SYN, 4), out);
    table.add(make_delta(b, 3, 3000, 4100 * ms, 4200 * ms, ACK), out);
    table.add(make_delta(a, 2, 2000, 4300 * ms, 4400 * ms, ACK, 8), out);
    table.expire(5 * sec, out);  // c is exported for the active timeout and now holds nothing
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {c, 9, 900, 0, 1 * sec, 0, 0, EndReason::active_timeout});

    table.flush(out);
    BOOST_TEST_REQUIRE(out.size() == 3u);  // none for c
    std::map<FlowKey, FlowRecord> flushed{{out[1].key, out[1]}, {out[2].key, out[2]}};
    BOOST_TEST_REQUIRE(flushed.count(a) == 1u);
    BOOST_TEST_REQUIRE(flushed.count(b) == 1u);
    check_record(flushed[a], {a, 3, 2060, 4 * sec, 4400 * ms, SYN | ACK, 4, EndReason::forced_end});
    check_record(flushed[b], {b, 3, 3000, 4100 * ms, 4200 * ms, ACK, 0, EndReason::forced_end});
    BOOST_TEST(table.size() == 0u);
    BOOST_TEST(table.held_packets() == 0u);
    BOOST_TEST(table.held_bytes() == 0u);
    BOOST_TEST(table.stats().flows_removed == 3u);
    CHECK_INVARIANT(table);

    // Still usable.
    table.add(make_delta(a, 1, 60, 20 * sec, 20 * sec), out);
    BOOST_TEST(table.size() == 1u);
    BOOST_TEST(table.stats().flows_created == 4u);
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(out_of_order_deltas_keep_min_first_and_max_last) {
    FlowTable table(FlowTableConfig{}, time_base);
    std::vector<FlowRecord> out;
    const FlowKey key = udp_key(11);
    table.add(make_delta(key, 1, 100, 5 * sec, 6 * sec, 0, 8), out);
    table.add(make_delta(key, 2, 200, 3 * sec, 4 * sec, 0, 16), out);  // another CPU, earlier
    table.add(make_delta(key, 1, 50, 5500 * ms, 5800 * ms, 0, 24), out);
    table.flush(out);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    // ToS of the record's earliest packet.
    check_record(out[0], {key, 4, 350, 3 * sec, 6 * sec, 0, 16, EndReason::forced_end});
}

BOOST_AUTO_TEST_CASE(hostile_deltas_are_counted_never_trusted) {
    FlowTable table(FlowTableConfig{}, time_base);
    std::vector<FlowRecord> out;
    table.add(make_delta(udp_key(1), 0, 1234, 1 * sec, 1 * sec), out);  // no packets
    BOOST_TEST(table.size() == 0u);
    BOOST_TEST(table.stats().rejected_deltas == 1u);
    BOOST_TEST(table.stats().rejected_bytes == 1234u);
    BOOST_TEST(table.stats().packets_in == 0u);
    BOOST_TEST(table.stats().bytes_in == 0u);

    table.add(make_delta(udp_key(2), 1, 100, 9 * sec, 8 * sec), out);  // first after last
    BOOST_TEST(table.stats().inverted_deltas == 1u);
    table.expire(24 * sec - 1, out);  // idle from the later time, 9 s
    BOOST_TEST(out.empty());
    table.expire(24 * sec, out);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {udp_key(2), 1, 100, 8 * sec, 9 * sec, 0, 0, EndReason::idle_timeout});

    // Times at the end of the clock: deadlines saturate instead of wrapping to "long ago".
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    table.add(make_delta(udp_key(3), 1, 100, max - 10, max - 1), out);
    table.expire(max - 1, out);
    BOOST_TEST(out.size() == 1u);
    table.expire(max, out);
    BOOST_TEST_REQUIRE(out.size() == 2u);
    BOOST_TEST(out[1].end_ms == max / ms);  // wall time saturates too
    BOOST_TEST(static_cast<int>(out[1].end_reason) == static_cast<int>(EndReason::idle_timeout));
    CHECK_INVARIANT(table);
}

BOOST_AUTO_TEST_CASE(zero_and_huge_timeouts) {
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    FlowTable never(make_config(max, max, max, 10), time_base);
    std::vector<FlowRecord> out;
    never.add(make_delta(tcp_key(1), 1, 60, 5 * sec, 5 * sec, FIN), out);
    never.expire(max - 1, out);
    BOOST_TEST(out.empty());

    FlowTable at_once(make_config(0, 0, 0, 10), time_base);
    at_once.add(make_delta(udp_key(1), 1, 60, 5 * sec, 5 * sec), out);
    at_once.expire(5 * sec, out);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    check_record(out[0], {udp_key(1), 1, 60, 5 * sec, 5 * sec, 0, 0, EndReason::idle_timeout});
}

BOOST_AUTO_TEST_CASE(invalid_configuration_is_rejected_with_the_field_name) {
    for (std::size_t max_flows : {std::size_t{0}, FlowTableConfig::max_flows_limit + 1}) {
        try {
            FlowTable table(make_config(sec, sec, sec, max_flows), time_base);
            BOOST_ERROR("max_flows " << max_flows << " was accepted");
        } catch (const std::invalid_argument& e) {
            BOOST_TEST(std::string(e.what()).find("max_flows") != std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(index_finds_every_flow_after_removals_and_growth) {
    // Starts with an index for 8 flows and grows it to hold 65536 (load up to 1/2), then
    // removes a random half (RST) and checks through flows_created that every remaining
    // key is still found and every removed one is not.
    FlowTable table(make_config(1000 * sec, 1000 * sec, 2 * sec, 8), time_base, 0x5eed);
    std::vector<FlowRecord> out;
    table.reconfigure(make_config(1000 * sec, 1000 * sec, 2 * sec, 65536), out);
    constexpr std::uint32_t n = 65536;
    for (std::uint32_t i = 0; i < n; ++i)
        table.add(make_delta(i % 2 ? v6_key(i) : tcp_key(i), 1, 100, 1 * sec, 1 * sec, ACK), out);
    BOOST_TEST(table.size() == n);
    BOOST_TEST(table.stats().flows_created == n);

    std::mt19937 rng(7);
    std::vector<bool> removed(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        if (rng() % 2) {
            removed[i] = true;
            table.add(make_delta(i % 2 ? v6_key(i) : tcp_key(i), 1, 40, 2 * sec, 2 * sec, RST), out);
        }
    }
    const auto removed_count = static_cast<std::size_t>(std::count(removed.begin(), removed.end(), true));
    table.expire(2 * sec, out);
    BOOST_TEST(out.size() == removed_count);
    BOOST_TEST(table.size() == n - removed_count);

    std::uint64_t created_before = table.stats().flows_created;
    std::size_t wrong = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        table.add(make_delta(i % 2 ? v6_key(i) : tcp_key(i), 1, 100, 3 * sec, 3 * sec, ACK), out);
        const std::uint64_t created = table.stats().flows_created;
        if ((created != created_before) != removed[i]) ++wrong;
        created_before = created;
    }
    BOOST_TEST(wrong == 0u);
    BOOST_TEST(table.size() == n);
    CHECK_INVARIANT(table);
}


namespace {

// A deliberately naive reference of the same rules (ordered maps, a scan per expire) to
// check the table's index, LRU list and cached deadlines against.
class ModelTable {
public:
    explicit ModelTable(const FlowTableConfig& config) : config_(config) {}

    void add(FlowDelta d, std::vector<FlowRecord>& out) {
        if (d.packets == 0) return;
        if (d.first_ns > d.last_ns) std::swap(d.first_ns, d.last_ns);
        auto it = flows_.find(d.key);
        if (it == flows_.end()) {
            if (flows_.size() >= config_.max_flows) evict_oldest(out);
            it = flows_.emplace(d.key, Flow{}).first;
        }
        Flow& f = it->second;
        if (f.drain != drain_) {  // recency: the first delta of the flow in this drain
            by_activity_.erase(f.activity);
            f.drain = drain_;
            f.activity = ++activity_;
            by_activity_[f.activity] = d.key;
        }
        if (f.packets == 0) {
            f.first = d.first_ns;
            f.last = d.last_ns;
            f.flags = d.tcp_flags;
            f.tos = d.tos;
        } else {
            if (d.first_ns < f.first) {
                f.first = d.first_ns;
                f.tos = d.tos;
            }
            f.last = std::max(f.last, d.last_ns);
            f.flags |= d.tcp_flags;
        }
        f.packets += d.packets;
        f.bytes += d.bytes;
        f.last_seen = std::max(f.last_seen, d.last_ns);
        if (d.key.protocol == 6) {
            f.fin = f.fin || (d.tcp_flags & FIN);
            f.rst = f.rst || (d.tcp_flags & RST);
        }
    }

    void expire(std::uint64_t now, std::vector<FlowRecord>& out) {
        const auto passed = [now](std::uint64_t since, std::uint64_t timeout) {
            return since <= now && now - since >= timeout;
        };
        for (auto it = flows_.begin(); it != flows_.end();) {
            Flow& f = it->second;
            std::optional<EndReason> end;
            if (f.rst) end = EndReason::end_of_flow;
            else if (f.fin && passed(f.last_seen, std::min(config_.tcp_fin_linger_ns, config_.idle_timeout_ns)))
                end = EndReason::end_of_flow;
            else if (passed(f.last_seen, config_.idle_timeout_ns)) end = EndReason::idle_timeout;
            if (end) {
                it = remove(it, *end, out);
                continue;
            }
            if (f.packets > 0 && passed(f.first, config_.active_timeout_ns)) emit(it->first, f, EndReason::active_timeout, out);
            ++it;
        }
        ++drain_;
    }

    void reconfigure(const FlowTableConfig& config, std::vector<FlowRecord>& out) {
        config_ = config;
        while (flows_.size() > config_.max_flows) evict_oldest(out);
    }

    void flush(std::vector<FlowRecord>& out) {
        while (!flows_.empty()) remove(flows_.begin(), EndReason::forced_end, out);
    }

private:
    struct Flow {
        std::uint64_t packets = 0, bytes = 0, first = 0, last = 0, last_seen = 0, activity = 0, drain = 0;
        std::uint16_t flags = 0;
        std::uint8_t tos = 0;
        bool fin = false, rst = false;
    };
    using Iter = std::map<FlowKey, Flow>::iterator;

    void emit(const FlowKey& key, Flow& f, EndReason reason, std::vector<FlowRecord>& out) {
        FlowRecord r;
        r.key = key;
        r.packets = f.packets;
        r.bytes = f.bytes;
        r.start_ms = wall_ms(f.first);
        r.end_ms = wall_ms(f.last);
        r.tcp_flags = f.flags;
        r.tos = f.tos;
        r.end_reason = reason;
        out.push_back(r);
        f.packets = f.bytes = 0;
    }
    Iter remove(Iter it, EndReason reason, std::vector<FlowRecord>& out) {
        if (it->second.packets > 0) emit(it->first, it->second, reason, out);
        by_activity_.erase(it->second.activity);
        return flows_.erase(it);
    }
    void evict_oldest(std::vector<FlowRecord>& out) {
        remove(flows_.find(by_activity_.begin()->second), EndReason::lack_of_resources, out);
    }

    FlowTableConfig config_;
    std::map<FlowKey, Flow> flows_;
    std::map<std::uint64_t, FlowKey> by_activity_;
    std::uint64_t activity_ = 0;
    std::uint64_t drain_ = 1;
};

std::string describe(const FlowRecord& r) {
    std::ostringstream s;
    s << "port " << r.key.src_port << " v" << int(r.key.ip_version) << " proto " << int(r.key.protocol) << ": "
      << r.packets << " pkts " << r.bytes << " B " << r.start_ms << "-" << r.end_ms << " flags " << r.tcp_flags
      << " tos " << int(r.tos) << " reason " << int(r.end_reason);
    return s.str();
}

// The records one call produced, in key order (each key appears at most once per call).
std::vector<std::string> describe_sorted(std::vector<FlowRecord> records) {
    std::sort(records.begin(), records.end(), [](const FlowRecord& a, const FlowRecord& b) { return a.key < b.key; });
    std::vector<std::string> lines;
    for (const FlowRecord& r : records) lines.push_back(describe(r));
    return lines;
}

}  // namespace

BOOST_AUTO_TEST_CASE(randomized_reconciliation_against_a_reference_model) {
    // Thousands of keys, random deltas (some out of order, some with FIN/RST), random
    // expire calls and reconfigurations, with more live flows than max_flows. After every
    // step: the invariant holds, no record has 0 packets, and the records equal those of
    // the naive model. After the flush each key's exported packets and bytes equal what
    // went in.
    std::mt19937_64 rng(20261123);
    const FlowTableConfig initial = make_config(3 * sec, 10 * sec, 1 * sec, 2048);
    FlowTable table(initial, time_base, rng());
    ModelTable model(initial);
    constexpr std::uint32_t key_count = 5000;
    std::vector<FlowKey> keys;
    for (std::uint32_t i = 0; i < key_count; ++i)
        keys.push_back(i % 3 == 0 ? udp_key(i) : i % 3 == 1 ? tcp_key(i) : v6_key(i));
    std::map<FlowKey, std::uint32_t> key_number;
    for (std::uint32_t i = 0; i < key_count; ++i) key_number[keys[i]] = i;
    std::vector<std::uint64_t> in_packets(key_count), in_bytes(key_count), out_packets(key_count), out_bytes(key_count);

    const auto account = [&](const std::vector<FlowRecord>& records, int step) {
        for (const FlowRecord& r : records) {
            BOOST_REQUIRE_MESSAGE(r.packets > 0, "step " << step << ": record with 0 packets");
            BOOST_REQUIRE_MESSAGE(r.start_ms <= r.end_ms, "step " << step << ": start after end");
            const std::uint32_t k = key_number.at(r.key);
            out_packets[k] += r.packets;
            out_bytes[k] += r.bytes;
        }
    };

    std::uint64_t now = 10 * sec;
    std::vector<FlowRecord> got, want;
    std::uint64_t records = 0;
    constexpr int steps = 10000;
    for (int step = 0; step < steps; ++step) {
        got.clear();
        want.clear();
        const std::uint64_t dice = rng() % 1000;
        if (dice < 700) {
            // A drain of 1 to 200 deltas: the table takes them as one batch (or one by one),
            // the model always one by one.
            const std::size_t count = 1 + rng() % 200;
            std::vector<FlowDelta> drain;
            for (std::size_t j = 0; j < count; ++j) {
                // Half the deltas go to 100 hot keys (long flows: active timeouts), half
                // spread over all keys (more live flows than max_flows: evictions).
                const std::uint32_t k = static_cast<std::uint32_t>(rng() % 2 ? rng() % 100 : rng() % key_count);
                const std::uint64_t packets = 1 + rng() % 50;
                const std::uint64_t bytes = packets * (40 + rng() % 1461);
                const std::uint64_t first = now - rng() % (300 * ms);
                const std::uint64_t last = std::min(now, first + rng() % (300 * ms));
                std::uint16_t flags = ACK;
                const std::uint64_t tcp_dice = rng() % 100;
                if (tcp_dice < 3) flags |= FIN;
                else if (tcp_dice < 4) flags |= RST;
                else if (tcp_dice < 8) flags |= SYN;
                drain.push_back(
                    make_delta(keys[k], packets, bytes, first, last, flags, static_cast<std::uint8_t>(rng())));
                // Sources as the kernel gives them: mostly one per key, but a slot goes to
                // another key now and then, and some deltas carry none.
                const std::uint64_t source_dice = rng() % 10;
                drain.back().source = source_dice < 7   ? k % 1500 + 1
                                      : source_dice < 9 ? static_cast<std::uint32_t>(rng() % 1500 + 1)
                                                        : 0;
                in_packets[k] += packets;
                in_bytes[k] += bytes;
            }
            if (rng() % 2) {
                table.add(drain, got);
            } else {
                for (const FlowDelta& delta : drain) table.add(delta, got);
            }
            for (const FlowDelta& delta : drain) model.add(delta, want);
        } else if (dice < 998) {
            now += rng() % (200 * ms);
            table.expire(now, got);
            model.expire(now, want);
        } else {
            const FlowTableConfig config =
                make_config((1 + rng() % 5) * sec, (5 + rng() % 20) * sec, rng() % (2 * sec), 512 + rng() % 3000);
            table.reconfigure(config, got);
            model.reconfigure(config, want);
        }
        const std::string err = invariant_error(table);
        BOOST_REQUIRE_MESSAGE(err.empty(), "step " << step << ": " << err);
        account(got, step);
        records += got.size();
        if (got.size() != want.size() || describe_sorted(got) != describe_sorted(want)) {
            BOOST_TEST(describe_sorted(got) == describe_sorted(want), boost::test_tools::per_element());
            BOOST_FAIL("step " << step << ": table and model disagree");
        }
    }
    got.clear();
    want.clear();
    table.flush(got);
    model.flush(want);
    BOOST_TEST(describe_sorted(got) == describe_sorted(want), boost::test_tools::per_element());
    account(got, steps);
    records += got.size();

    BOOST_TEST(in_packets == out_packets, boost::test_tools::per_element());
    BOOST_TEST(in_bytes == out_bytes, boost::test_tools::per_element());
    BOOST_TEST(table.size() == 0u);
    BOOST_TEST(table.held_packets() == 0u);
    CHECK_INVARIANT(table);
    const FlowTableStats& s = table.stats();
    BOOST_TEST(s.exported.records == records);
    BOOST_TEST_MESSAGE("randomized: " << s.deltas_in << " deltas, " << s.flows_created << " flows, " << records
                                      << " records (idle " << s.exported_by_reason[1].records << ", active "
                                      << s.exported_by_reason[2].records << ", end " << s.exported_by_reason[3].records
                                      << ", forced " << s.exported_by_reason[4].records << ", resources "
                                      << s.exported_by_reason[5].records << ")");
    // Every end reason was exercised, each well beyond a handful.
    for (int reason = 1; reason <= 5; ++reason)
        BOOST_TEST(s.exported_by_reason[reason].records > 100u, "reason " << reason);
}

BOOST_AUTO_TEST_CASE(live_view_totals_span_records_and_flows_leave_it_when_they_end) {
    FlowTable table(make_config(15 * sec, 5 * sec, 2 * sec, 100), time_base);
    std::vector<FlowRecord> out;
    const FlowKey a = tcp_key(1), b = udp_key(2);
    table.add(make_delta(a, 2, 120, 0, 4 * sec, SYN), out);
    table.add(make_delta(b, 1, 50, 1 * sec, 1 * sec), out);
    table.expire(5 * sec, out);  // a's first record (active timeout); a stays
    table.add(make_delta(a, 3, 300, 5500 * ms, 6 * sec, ACK), out);
    std::map<std::uint16_t, FlowTable::FlowView> seen;
    table.for_each_flow([&](const FlowTable::FlowView& v) { seen[v.key.src_port] = v; });
    BOOST_TEST_REQUIRE(seen.size() == 2u);
    const auto& va = seen[a.src_port];
    BOOST_TEST(va.packets == 5u);  // both records
    BOOST_TEST(va.bytes == 420u);
    BOOST_TEST(va.held_packets == 3u);  // only the second, not exported yet
    BOOST_TEST(va.held_bytes == 300u);
    BOOST_TEST(va.last_ms == time_base.to_wall_ms(6 * sec));
    BOOST_TEST(seen[b.src_port].packets == 1u);
    table.expire(17 * sec, out);  // b idle: it leaves the view
    std::size_t left = 0;
    table.for_each_flow([&](const FlowTable::FlowView& v) {
        ++left;
        BOOST_TEST(v.key.src_port == a.src_port);
    });
    BOOST_TEST(left == 1u);
    CHECK_INVARIANT(table);
}
