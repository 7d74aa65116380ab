// Encoder throughput: records per second per encoder on one core, IPFIX and NetFlow v9,
// IPv4 / IPv6 / mixed, 1472-byte messages. Not a test: prints numbers.
//   ebpfix_encoder_bench [records_per_batch=4096] [seconds_per_case=1]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ipfix/flow_encoder.hpp"

using namespace ebpfix;
using namespace ebpfix::ipfix;

namespace {

std::vector<FlowRecord> make_records(std::size_t n, int v6_every) {
    std::vector<FlowRecord> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        FlowRecord& r = out[i];
        bool v6 = v6_every > 0 && i % static_cast<std::size_t>(v6_every) == 0;
        r.key.ip_version = v6 ? 6 : 4;
        if (v6) {
            r.key.src_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, std::uint8_t(i >> 8), std::uint8_t(i)};
            r.key.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        } else {
            r.key.src_addr = FlowKey::mapped_v4(0x0a000000u + static_cast<std::uint32_t>(i));
            r.key.dst_addr = FlowKey::mapped_v4(0xc0a80001u);
        }
        r.key.src_port = static_cast<std::uint16_t>(1024 + i);
        r.key.dst_port = 443;
        r.key.protocol = 6;
        r.key.ifindex = 2;
        r.key.direction = i % 2 ? Direction::egress : Direction::ingress;
        r.packets = 10 + i;
        r.bytes = 1500 * (10 + i);
        r.start_ms = 1700000000000 + i;
        r.end_ms = r.start_ms + 500;
        r.tcp_flags = 0x1b;
    }
    return out;
}

void run(const char* name, Protocol protocol, const std::vector<FlowRecord>& records, double seconds) {
    EncoderOptions o;
    o.protocol = protocol;
    o.observation_domain = 1;
    o.uptime_origin_ms = 1699999990000;
    FlowEncoder enc(o);
    std::uint64_t sink_bytes = 0;  // the sink touches each message so it is not optimized away
    MessageSink sink = [&](gsl::span<const std::uint8_t> m) { sink_bytes += m.size() + m[m.size() - 1]; };
    using clock = std::chrono::steady_clock;
    std::uint64_t now_ms = 1700000001000;
    enc.encode(records, now_ms, sink);  // warm up
    std::uint64_t encoded = 0;
    auto start = clock::now();
    auto deadline = start + std::chrono::duration<double>(seconds);
    while (clock::now() < deadline) {
        for (int i = 0; i < 16; ++i) {
            enc.encode(records, ++now_ms, sink);
            encoded += records.size();
        }
    }
    double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    const auto& c = enc.counters();
    std::printf("%-22s %8.2f M records/s  %6.2f ns/record  %7.1f MB/s  (%llu messages, avg %.0f bytes)\n", name,
                static_cast<double>(encoded) / elapsed / 1e6, elapsed * 1e9 / static_cast<double>(encoded),
                static_cast<double>(c.octets) / elapsed / 1e6, static_cast<unsigned long long>(c.messages),
                static_cast<double>(c.octets) / static_cast<double>(c.messages));
    if (sink_bytes == 0) std::printf("(no output)\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t batch = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 4096;
    double seconds = argc > 2 ? std::strtod(argv[2], nullptr) : 1.0;
    if (batch == 0 || seconds <= 0) {
        std::fprintf(stderr, "usage: %s [records_per_batch>0] [seconds>0]\n", argv[0]);
        return 2;
    }
    auto v4 = make_records(batch, 0);
    auto v6 = make_records(batch, 1);
    auto mixed = make_records(batch, 4);
    std::printf("encoder throughput, one core, %zu records per encode(), 1472-byte messages\n", batch);
    run("ipfix ipv4", Protocol::ipfix, v4, seconds);
    run("ipfix ipv6", Protocol::ipfix, v6, seconds);
    run("ipfix mixed (1/4 v6)", Protocol::ipfix, mixed, seconds);
    run("netflow9 ipv4", Protocol::netflow9, v4, seconds);
    run("netflow9 ipv6", Protocol::netflow9, v6, seconds);
    run("netflow9 mixed", Protocol::netflow9, mixed, seconds);
    return 0;
}
