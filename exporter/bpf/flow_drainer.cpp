#include "bpf/flow_drainer.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace ebpfix::bpf {

namespace {

std::uint64_t elapsed_ns(std::chrono::steady_clock::time_point since) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - since).count());
}

template <typename Key>
FlowKey widen(const Key& k) noexcept {
    FlowKey key;
    key.src_port = k.src_port;
    key.dst_port = k.dst_port;
    key.ifindex = k.ifindex;
    key.vlan_id = k.vlan_id;
    key.inner_vlan_id = k.inner_vlan_id;
    key.protocol = k.protocol;
    key.direction = k.direction == EBPFIX_DIR_EGRESS ? Direction::egress : Direction::ingress;
    return key;
}

}  // namespace

FlowKey widen_key(const ebpfix_key4& k) noexcept {
    FlowKey key = widen(k);
    key.ip_version = 4;
    // The kernel stores addresses in network byte order; the bytes are the address.
    std::uint8_t src[4], dst[4];
    std::memcpy(src, &k.src_addr, 4);
    std::memcpy(dst, &k.dst_addr, 4);
    key.src_addr = FlowKey::mapped_v4(std::uint32_t(src[0]) << 24 | std::uint32_t(src[1]) << 16 |
                                      std::uint32_t(src[2]) << 8 | src[3]);
    key.dst_addr = FlowKey::mapped_v4(std::uint32_t(dst[0]) << 24 | std::uint32_t(dst[1]) << 16 |
                                      std::uint32_t(dst[2]) << 8 | dst[3]);
    return key;
}

FlowKey widen_key(const ebpfix_key6& k) noexcept {
    FlowKey key = widen(k);
    key.ip_version = 6;
    std::memcpy(key.src_addr.data(), k.src_addr, 16);
    std::memcpy(key.dst_addr.data(), k.dst_addr, 16);
    return key;
}

ebpfix_counters read_counters(const FlowProgram& program) {
    const int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0) throw BpfError("counting possible CPUs", ncpus);
    std::vector<ebpfix_counters> per_cpu(static_cast<std::size_t>(ncpus));
    std::uint32_t zero = 0;
    if (bpf_map_lookup_elem(program.counters_fd(), &zero, per_cpu.data()) != 0)
        throw BpfError("reading kernel counters", errno);
    ebpfix_counters sum{};
    auto add = [](ebpfix_pkt_bytes& to, const ebpfix_pkt_bytes& from) {
        to.packets += from.packets;
        to.bytes += from.bytes;
    };
    for (const auto& c : per_cpu) {
        add(sum.non_ip, c.non_ip);
        add(sum.parse_error, c.parse_error);
        add(sum.truncated, c.truncated);
        add(sum.map_full, c.map_full);
        add(sum.fragments, c.fragments);
        sum.flows_created += c.flows_created;
        sum.insert_races += c.insert_races;
    }
    return sum;
}

FlowDrainer::FlowDrainer(const FlowProgram& program) : program_(program) {}

DrainStats FlowDrainer::drain(std::vector<DrainedFlow>& out) {
    return drain([&out](std::span<const DrainedFlow> flows) { out.insert(out.end(), flows.begin(), flows.end()); });
}

DrainStats FlowDrainer::drain(const BatchSink& sink) {
    DrainStats stats;
    const int retired = active_;
    const int next = 1 - active_;

    // Each update of an ARRAY_OF_MAPS slot returns only after every program that may
    // still hold the old inner map has finished (synchronize_rcu in the kernel).
    auto flip_start = std::chrono::steady_clock::now();
    std::uint32_t zero = 0;
    int fd4 = program_.flows4_fd(next);
    int fd6 = program_.flows6_fd(next);
    if (bpf_map_update_elem(program_.flows4_active_fd(), &zero, &fd4, BPF_ANY) != 0)
        throw BpfError("switching the IPv4 flow map", errno);
    if (bpf_map_update_elem(program_.flows6_active_fd(), &zero, &fd6, BPF_ANY) != 0) {
        int err = errno;
        // Keep both families on one generation so the next drain stays consistent.
        int back = program_.flows4_fd(retired);
        bpf_map_update_elem(program_.flows4_active_fd(), &zero, &back, BPF_ANY);
        throw BpfError("switching the IPv6 flow map", err);
    }
    active_ = next;
    stats.flip_ns = elapsed_ns(flip_start);

    auto drain_start = std::chrono::steady_clock::now();
    drain_map<ebpfix_key4>(program_.flows4_fd(retired), sink, stats);
    drain_map<ebpfix_key6>(program_.flows6_fd(retired), sink, stats);
    stats.drain_ns = elapsed_ns(drain_start);
    return stats;
}

template <typename Key>
void FlowDrainer::drain_map(int map_fd, const BatchSink& sink, DrainStats& stats) {
    // For hash maps the batch cursor is a bucket index; 8 bytes is room enough.
    alignas(8) std::uint8_t in_token[8] = {};
    alignas(8) std::uint8_t out_token[8] = {};
    bool first = true;
    for (;;) {
        keys_.resize(std::size_t(batch_) * sizeof(Key));
        values_.resize(batch_);
        std::uint32_t count = batch_;
        int err = bpf_map_lookup_and_delete_batch(map_fd, first ? nullptr : in_token, out_token, keys_.data(),
                                                  values_.data(), &count, nullptr);
        if (err != 0) err = errno;
        if (err != 0 && err != ENOENT) {
            if (err == ENOSPC && count == 0) {
                // One hash bucket holds more entries than the batch: grow and retry.
                batch_ *= 2;
                continue;
            }
            throw BpfError("draining a flow map", err);
        }
        batch_flows_.clear();
        for (std::uint32_t i = 0; i < count; ++i) {
            Key k;
            std::memcpy(&k, keys_.data() + std::size_t(i) * sizeof(Key), sizeof(Key));
            const ebpfix_flow_value& v = values_[i];
            batch_flows_.push_back(DrainedFlow{widen_key(k), v});
            stats.flows += 1;
            stats.packets += v.packets;
            stats.bytes += v.bytes;
        }
        if (!batch_flows_.empty()) sink(batch_flows_);
        if (err == ENOENT) return;  // the whole map has been read and emptied
        std::memcpy(in_token, out_token, sizeof(in_token));
        first = false;
    }
}

}  // namespace ebpfix::bpf
