/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps and globals shared by every hook's program. Each bpf/<hook>.bpf.c includes this
 * file; the objects are linked into one (bpftool gen object), where the weak
 * definitions become one map each, so every hook counts into the same flow slots.
 *
 * Flows: slots (mmapable array of struct ebpfix_slot) hold the counts, slot_keys the
 * key of each slot, index4/index6 map a key to its slot, free_ring holds the slots no
 * flow uses (struct ebpfix_free_pos), and dirty has one bit per slot that got packets
 * since the daemon's last take. The daemon reads slots, slot_keys and dirty and writes
 * free_ring through memory maps; it gives a flow's slot back only after deleting its
 * index entry and waiting a grace period (an update of grace, which returns after every
 * running program finished), so no packet is ever counted into a slot nobody reads.
 * Sizes are set by the daemon before loading. See docs/architecture.md, "Draining".
 *
 * Preallocated hash maps, not LRU: a full map never silently evicts a counted flow; a
 * packet that cannot get a slot is counted in counters.map_full instead.
 */
#ifndef EBPFIX_MAPS_H
#define EBPFIX_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "flow_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES);
	__type(key, struct ebpfix_key4);
	__type(value, __u32);
} index4 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES);
	__type(key, struct ebpfix_key6);
	__type(value, __u32);
} index6 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ebpfix_slot);
} slots SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ebpfix_slot_key);
} slot_keys SEC(".maps") __weak;

/* One bit per slot, 64 slots a word. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES / 64);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} dirty SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64); /* a slot number; array entries are 8 bytes apart anyway */
} free_ring SEC(".maps") __weak;

/* Slots a program took from free_ring but could not index (another CPU inserted the
 * same flow first): only the daemon writes free_ring, so they wait here for it. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES);
	__type(value, __u32);
} returned_slots SEC(".maps") __weak;

/* Never read by a program: the daemon updates it to wait for running programs. */
struct ebpfix_grace_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};
struct ebpfix_grace_inner grace_inner SEC(".maps") __weak;
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ebpfix_grace_inner);
} grace SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebpfix_counters);
} counters SEC(".maps") __weak;

/* Exclude lists: a packet whose source or destination matches is counted as excluded. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ebpfix_lpm4);
	__type(value, __u8);
} exclude4 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ebpfix_lpm6);
	__type(value, __u8);
} exclude6 SEC(".maps") __weak;

/* Attribution: the owner of each local socket, by socket (cloned to accepted sockets) and
 * by socket cookie (read by the daemon). LRU: owners of long-gone sockets make room. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct ebpfix_owner);
} owner_sk SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EBPFIX_DEFAULT_MAP_ENTRIES);
	__type(key, __u64);
	__type(value, struct ebpfix_owner);
} owners SEC(".maps") __weak;

/* Runtime knobs (see struct ebpfix_knobs), written by the daemon through the mmap. */
struct ebpfix_knobs ebpfix_knobs __weak = {};

/* Where the programs take and the daemon gives free slots in free_ring. */
struct ebpfix_free_pos ebpfix_free_pos __weak = {};

/* Load-time settings (the verifier prunes dead branches). */
/* Replay of a capture: flow times come from the time stamp given to the test run. */
const volatile __u8 ebpfix_time_from_packet __weak = 0;
/* Slots in slots, slot_keys and free_ring (map_entries). */
const volatile __u32 ebpfix_slot_count __weak = EBPFIX_DEFAULT_MAP_ENTRIES;
/* Tests only: always parse through the load-bytes helper, as for non-linear packets. */
const volatile __u8 ebpfix_force_load_bytes __weak = 0;

#endif /* EBPFIX_MAPS_H */
