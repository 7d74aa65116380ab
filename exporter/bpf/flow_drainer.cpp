#include "bpf/flow_drainer.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace ebpfix::bpf {

namespace {

std::uint64_t elapsed_ns(std::chrono::steady_clock::time_point since) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - since).count());
}

template <typename T>
T swap_zero(T& field) noexcept {
    return std::atomic_ref<T>(field).exchange(0, std::memory_order_acq_rel);
}

template <typename T>
T load(const T& field) noexcept {
    return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_acquire);
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
    key.owner = k.owner;
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

FlowKey widen_key(const ebpfix_slot_key& k) noexcept { return k.family == 6 ? widen_key(k.k6) : widen_key(k.k4); }

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
        add(sum.sampled_out, c.sampled_out);
        add(sum.excluded, c.excluded);
        add(sum.fragments, c.fragments);
        sum.flows_created += c.flows_created;
        sum.insert_races += c.insert_races;
    }
    return sum;
}

FlowDrainer::FlowDrainer(const FlowProgram& program)
    : program_(program), t_(program.tables()), state_(program.tables().slot_count) {
    batch_.reserve(batch_size);
}

void FlowDrainer::hand_over(const DeltaSink& sink) {
    if (batch_.empty()) return;
    sink(batch_);  // throws: the batch stays for the next call
    batch_.clear();
}

// The order of the swaps is the ABI's (struct ebpfix_slot): first_seen, packets, bytes.
void FlowDrainer::take(std::uint32_t slot, DrainStats& stats, const DeltaSink& sink) {
    ebpfix_slot& s = t_.slots[slot];
    SlotState& st = state_[slot];
    const std::uint64_t first = swap_zero(s.first_seen_ns);
    const std::uint64_t packets = swap_zero(s.packets);
    std::uint64_t bytes = swap_zero(s.bytes);
    // Flags are ORed, never counted: a slot without any (UDP, ICMP) needs no swap.
    const std::uint32_t flags = load(s.tcp_flags) != 0 ? swap_zero(s.tcp_flags) : 0;
    const std::uint64_t last = load(s.last_seen_ns);
    ++stats.slots_taken;
    if (!st.in_use) {
        st.in_use = true;
        ++in_use_;
    }
    st.last_ns = std::max(st.last_ns, last);
    bytes += st.carry;
    st.carry = 0;
    if (packets == 0) {
        // Bytes of a packet whose packet count lands in the next take.
        st.carry = bytes;
        return;
    }
    FlowDelta d;
    d.key = widen_key(t_.keys[slot]);
    d.packets = packets;
    d.bytes = bytes;
    d.last_ns = last;
    d.first_ns = first != 0 && first <= last ? first : last;
    d.tcp_flags = static_cast<std::uint16_t>(flags & 0x1ff);
    d.tos = s.tos;
    d.source = slot + 1;
    stats.deltas += 1;
    stats.packets += packets;
    stats.bytes += bytes;
    batch_.push_back(d);
    if (batch_.size() >= batch_size) hand_over(sink);
}

void FlowDrainer::take_dirty(DrainStats& stats, const DeltaSink& sink) {
    for (std::uint32_t w = 0; w < t_.dirty_words; ++w) {
        if (load(t_.dirty[w]) == 0) continue;
        std::uint64_t bits = swap_zero(t_.dirty[w]);
        while (bits != 0) {
            const unsigned b = static_cast<unsigned>(std::countr_zero(bits));
            bits &= bits - 1;
            const std::uint32_t slot = w * 64 + b;
            if (slot < t_.slot_count) take(slot, stats, sink);
        }
    }
}

// Only the daemon writes tail; the entry is written before tail moves past it, so a
// program that sees the new tail reads the slot number (bpf/account.h, take_free_slot).
void FlowDrainer::give_to_ring(std::uint32_t slot) {
    std::atomic_ref<__u64> tail_ref(t_.free_pos->tail);
    const __u64 tail = tail_ref.load(std::memory_order_relaxed);
    const __u64 head = std::atomic_ref<__u64>(t_.free_pos->head).load(std::memory_order_acquire);
    // More free slots than slots would mean a slot given back twice.
    if (tail - head >= t_.slot_count) throw BpfError("returning a flow slot: the free-slot ring is full", EOVERFLOW);
    std::atomic_ref<std::uint64_t>(t_.free_ring[tail % t_.slot_count]).store(slot, std::memory_order_relaxed);
    tail_ref.store(tail + 1, std::memory_order_release);
}

void FlowDrainer::take_returned_slots() {
    const int fd = program_.returned_slots_fd();
    std::uint32_t slot = 0;
    while (bpf_map_lookup_and_delete_elem(fd, nullptr, &slot) == 0) give_to_ring(slot);
    if (errno != ENOENT) throw BpfError("reading returned flow slots", errno);
}

void FlowDrainer::reclaim(std::uint64_t now_ns, std::uint64_t idle_ns, DrainStats& stats, const DeltaSink& sink) {
    take_returned_slots();
    candidates_.clear();
    keys4_.clear();
    keys6_.clear();
    for (std::uint32_t slot = 0; slot < t_.slot_count; ++slot) {
        const SlotState& st = state_[slot];
        if (!st.in_use || st.carry != 0) continue;
        if (st.last_ns > now_ns || now_ns - st.last_ns < idle_ns) continue;
        if (load(t_.slots[slot].packets) != 0) continue;  // a packet since the take: not idle
        candidates_.push_back(slot);
        const ebpfix_slot_key& k = t_.keys[slot];
        if (k.family == 6)
            keys6_.push_back(k.k6);
        else
            keys4_.push_back(k.k4);
    }
    if (candidates_.empty()) return;
    const auto start = std::chrono::steady_clock::now();
    // 1. No new packet finds these slots any more...
    // In batches: one syscall per batch_size keys rather than one per key.
    auto remove = [](int fd, auto& keys, const char* what) {
        std::size_t done = 0;
        while (done < keys.size()) {
            const auto asked = static_cast<__u32>(std::min<std::size_t>(keys.size() - done, batch_size));
            __u32 count = asked;
            if (bpf_map_delete_batch(fd, &keys[done], &count, nullptr) == 0) {
                done += asked;
                continue;
            }
            // count keys went before the one that failed.
            if (errno == ENOENT) {
                done += count + 1;  // that one was gone already
                continue;
            }
            // 524: the kernel's ENOTSUPP, for a map type without batch operations.
            if (errno != EINVAL && errno != EOPNOTSUPP && errno != 524) throw BpfError(what, errno);
            done += count;  // a kernel without batch deletes: one at a time
            for (; done < keys.size(); ++done)
                if (bpf_map_delete_elem(fd, &keys[done]) != 0 && errno != ENOENT) throw BpfError(what, errno);
        }
    };
    remove(program_.index4_fd(), keys4_, "removing idle IPv4 flows");
    remove(program_.index6_fd(), keys6_, "removing idle IPv6 flows");
    stats.unindex_ns += elapsed_ns(start);
    // 2. ...and none still holds one: a program that found a slot before step 1 has
    // finished counting into it.
    const auto grace_start = std::chrono::steady_clock::now();
    if (!program_.replay()) program_.wait_for_running_programs();
    stats.grace_ns += elapsed_ns(grace_start);
    // 3. The last take, then the slot is free.
    for (std::uint32_t slot : candidates_) {
        take(slot, stats, sink);
        SlotState& st = state_[slot];
        if (st.carry != 0) unmatched_bytes_ += st.carry;
        ebpfix_slot& s = t_.slots[slot];
        std::atomic_ref<__u64>(s.last_seen_ns).store(0, std::memory_order_relaxed);
        std::atomic_ref<std::uint64_t>(t_.dirty[slot / 64]).fetch_and(~(1ull << (slot % 64)));
        st = SlotState{};
        --in_use_;
        give_to_ring(slot);
        ++stats.reclaimed;
    }
    stats.reclaim_ns += elapsed_ns(start);
}

DrainStats FlowDrainer::drain(std::uint64_t now_ns, std::uint64_t idle_ns, const DeltaSink& sink) {
    DrainStats stats;
    hand_over(sink);  // what a failed sink left
    const auto start = std::chrono::steady_clock::now();
    take_dirty(stats, sink);
    stats.take_ns = elapsed_ns(start);
    reclaim(now_ns, idle_ns, stats, sink);
    hand_over(sink);
    return stats;
}

DrainStats FlowDrainer::drain(std::uint64_t now_ns, std::uint64_t idle_ns, std::vector<FlowDelta>& out) {
    return drain(now_ns, idle_ns,
                 [&out](std::span<const FlowDelta> deltas) { out.insert(out.end(), deltas.begin(), deltas.end()); });
}

DrainStats FlowDrainer::drain_all(const DeltaSink& sink) {
    DrainStats stats;
    hand_over(sink);
    if (!program_.replay()) program_.wait_for_running_programs();
    const auto start = std::chrono::steady_clock::now();
    take_dirty(stats, sink);
    stats.take_ns = elapsed_ns(start);
    for (const SlotState& st : state_) unmatched_bytes_ += st.carry;
    for (SlotState& st : state_) st.carry = 0;
    hand_over(sink);
    return stats;
}

}  // namespace ebpfix::bpf
