#include "bpf/kernel_filters.hpp"

#include <bpf/bpf.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace ebpfix::bpf {

namespace {

template <typename Key>
Key lpm_key(const Prefix& p) {
    Key k{};
    k.prefixlen = p.length;
    std::memcpy(k.addr, p.addr.data(), sizeof k.addr);
    return k;
}

template <typename Key>
bool same(const Key& a, const Key& b) {
    return a.prefixlen == b.prefixlen && std::memcmp(a.addr, b.addr, sizeof a.addr) == 0;
}

// Makes the LPM map hold exactly `wanted`; returns whether it holds anything.
template <typename Key>
bool sync_map(int fd, const std::vector<Key>& wanted, std::uint8_t& flag) {
    std::vector<Key> present;
    Key key{}, next{};
    for (int rc = bpf_map_get_next_key(fd, nullptr, &next); rc == 0; rc = bpf_map_get_next_key(fd, &key, &next)) {
        present.push_back(next);
        key = next;
    }
    const std::uint8_t one = 1;
    for (const Key& k : wanted)
        if (bpf_map_update_elem(fd, &k, &one, BPF_ANY) != 0) throw BpfError("adding an exclude prefix", errno);
    if (!wanted.empty()) std::atomic_ref<std::uint8_t>(flag).store(1);
    for (const Key& k : present) {
        if (std::any_of(wanted.begin(), wanted.end(), [&](const Key& w) { return same(w, k); })) continue;
        if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT) throw BpfError("removing an exclude prefix", errno);
    }
    if (wanted.empty()) std::atomic_ref<std::uint8_t>(flag).store(0);
    return !wanted.empty();
}

}  // namespace

void apply_filters(const FlowProgram& program, const KernelFilters& filters) {
    std::vector<ebpfix_lpm4> v4;
    std::vector<ebpfix_lpm6> v6;
    for (const Prefix& p : filters.exclude) {
        if (p.family == 6)
            v6.push_back(lpm_key<ebpfix_lpm6>(p));
        else
            v4.push_back(lpm_key<ebpfix_lpm4>(p));
    }
    ebpfix_knobs& knobs = program.knobs();
    sync_map(program.exclude4_fd(), v4, knobs.exclude4);
    sync_map(program.exclude6_fd(), v6, knobs.exclude6);
    // Mode before interval: a packet between the two stores samples by the old interval.
    std::atomic_ref<std::uint8_t>(knobs.sample_mode)
        .store(filters.hash_sampling ? EBPFIX_SAMPLE_HASH : EBPFIX_SAMPLE_RANDOM);
    std::atomic_ref<std::uint32_t>(knobs.sample_interval).store(std::max<std::uint32_t>(filters.sample_interval, 1));
    std::atomic_ref<std::uint8_t>(knobs.attribution).store(filters.attribution ? 1 : 0);
}

}  // namespace ebpfix::bpf
