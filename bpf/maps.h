/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow maps. Each family has two hash maps (generations a and b) behind a one-slot
 * ARRAY_OF_MAPS. The program always counts into the map the slot points to. To drain,
 * the daemon points the slot at the other generation; that update waits for every
 * running program (synchronize_rcu), so afterwards nothing writes the retired map and
 * it can be read and emptied with no lost update. See docs/architecture.md.
 *
 * Plain (preallocated) hash maps, not LRU: a full map never silently evicts a counted
 * flow; the packet that cannot get an entry is counted in counters.map_full instead.
 */
#ifndef EBPFIX_MAPS_H
#define EBPFIX_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "flow_abi.h"

struct ebpfix_flows4_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES);
	__type(key, struct ebpfix_key4);
	__type(value, struct ebpfix_flow_value);
};

struct ebpfix_flows6_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES);
	__type(key, struct ebpfix_key6);
	__type(value, struct ebpfix_flow_value);
};

struct ebpfix_flows4_map flows4_a SEC(".maps");
struct ebpfix_flows4_map flows4_b SEC(".maps");
struct ebpfix_flows6_map flows6_a SEC(".maps");
struct ebpfix_flows6_map flows6_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ebpfix_flows4_map);
} flows4_active SEC(".maps") = {
	.values = { [0] = &flows4_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ebpfix_flows6_map);
} flows6_active SEC(".maps") = {
	.values = { [0] = &flows6_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebpfix_counters);
} counters SEC(".maps");

#endif /* EBPFIX_MAPS_H */
