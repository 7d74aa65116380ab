/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI shared by the kernel programs (bpf/<hook>.bpf.c) and the daemon. Plain C,
 * fixed-width types, explicit padding and static asserts: both sides see the same bytes.
 *
 * Keys are split by address family so the per-packet hash covers 32 bytes for IPv4
 * instead of 56 (see docs/architecture.md); the daemon widens both to one key with
 * 16-byte (IPv4-mapped) addresses when it reads them.
 */
#ifndef EBPFIX_FLOW_ABI_H
#define EBPFIX_FLOW_ABI_H

#include <linux/types.h>

#define EBPFIX_ABI_VERSION 2

/* IPFIX flowDirection (IE 61) values. */
enum ebpfix_direction {
	EBPFIX_DIR_INGRESS = 0,
	EBPFIX_DIR_EGRESS = 1,
};

/*
 * Ports are in host byte order. For ICMP and ICMPv6 src_port is 0 and dst_port holds
 * type << 8 | code (the NetFlow convention). Later fragments and protocols without
 * ports have both ports 0. vlan_id is the outer tag (802.1Q or 802.1ad, from the frame
 * or from the skb's accelerated tag), inner_vlan_id the second tag; 0 means no tag.
 * owner is the socket cookie of the local socket that sent or received the packet when
 * attribution is on and the hook knows the socket, else 0: two sockets on one 5-tuple
 * stay two flows.
 */
struct ebpfix_key4 {
	__u32 src_addr; /* network byte order */
	__u32 dst_addr; /* network byte order */
	__u16 src_port;
	__u16 dst_port;
	__u32 ifindex;
	__u16 vlan_id;
	__u16 inner_vlan_id;
	__u8 protocol;
	__u8 direction; /* enum ebpfix_direction */
	__u8 pad[2];    /* always 0: keys are hashed as bytes */
	__u64 owner;
};

struct ebpfix_key6 {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u16 src_port;
	__u16 dst_port;
	__u32 ifindex;
	__u16 vlan_id;
	__u16 inner_vlan_id;
	__u8 protocol;
	__u8 direction;
	__u8 pad[2];
	__u64 owner;
};

/*
 * Flow slots: the counts live in an mmapable array the daemon reads without syscalls;
 * the per-family index maps (key -> slot number) find them. A hook adds to a slot; the
 * daemon takes what accumulated (atomic swap with 0) and exports it. Order matters and
 * is part of the ABI: a hook adds bytes, then packets, then sets first_seen_ns (if 0)
 * and marks the slot dirty; the daemon swaps first_seen_ns, then packets, then bytes. So
 * every packet is either in the daemon's take or marks the slot for the next one, and a
 * take never holds a packet without its bytes (it may hold bytes of a packet the next
 * take counts). See docs/architecture.md, "Draining".
 *
 * bytes is the L3 size (IPv4 total length, IPv6 40 + payload length) summed over the
 * packets, which is what NetFlow/IPFIX collectors expect for octetDeltaCount. A GSO/GRO
 * super-packet counts as its segments and as the bytes those segments have on the wire.
 * Times are bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC, one jiffy resolution), or the
 * capture time when a capture file is replayed.
 */
struct ebpfix_slot {
	__u64 packets;       /* since the daemon's last take */
	__u64 bytes;         /* since the daemon's last take */
	__u64 first_seen_ns; /* first packet since the last take; 0 = none yet */
	__u64 last_seen_ns;  /* latest packet of the slot's flow */
	__u32 tcp_flags;     /* OR since the last take: bits 0-7 as in byte 13, bit 8 = NS */
	__u8 tos;            /* IPv4 ToS / IPv6 traffic class of the flow's first packet */
	__u8 pad[3];
	__u64 pad2[3];       /* one cache line per slot: CPUs never share a line */
};

/* The key of a slot, written once when the slot is given to a flow. */
struct ebpfix_slot_key {
	__u8 family; /* 4 or 6 */
	__u8 pad[7];
	union {
		struct ebpfix_key4 k4;
		struct ebpfix_key6 k6;
	};
};

/* A packet count and the bytes they carried. */
struct ebpfix_pkt_bytes {
	__u64 packets;
	__u64 bytes;
};

/*
 * Per-CPU counters (map "counters", one entry). Every packet a hook sees ends in exactly
 * one flow entry or exactly one of the reasons below, so
 *   seen = sum(slot packets) + non_ip + parse_error + truncated + map_full
 *          + sampled_out + excluded.
 * Bytes of a drop are the frame bytes from the L3 header on (the whole frame for non_ip
 * and for packets sampled out before parsing); map_full, excluded and packets sampled
 * out by flow hash count L3 bytes as in a flow.
 * fragments is informational: non-first fragments, which are also counted in flows.
 */
struct ebpfix_counters {
	struct ebpfix_pkt_bytes non_ip;      /* ARP, LLDP, a third VLAN tag, ... */
	struct ebpfix_pkt_bytes parse_error; /* bad IP version/IHL/length, too many IPv6 ext headers */
	struct ebpfix_pkt_bytes truncated;   /* cut inside the headers a flow key needs */
	struct ebpfix_pkt_bytes map_full;    /* could not insert a new flow: map full */
	struct ebpfix_pkt_bytes sampled_out; /* not selected by 1-in-N sampling */
	struct ebpfix_pkt_bytes excluded;    /* source or destination in an exclude list */
	struct ebpfix_pkt_bytes fragments;   /* non-first fragments (counted in port-0 flows too) */
	__u64 flows_created;                 /* slots given to new flows */
	__u64 insert_races;                  /* another CPU created the same flow first */
};

/* Sampling algorithms (knobs.sample_mode). */
enum ebpfix_sample_mode {
	EBPFIX_SAMPLE_RANDOM = 0, /* each packet with probability 1/N, before parsing */
	EBPFIX_SAMPLE_HASH = 1,   /* each flow (both directions) all-in or all-out, RFC 7014 */
};

/*
 * Knobs the daemon changes while the programs run (global "ebpfix_knobs" in .data,
 * written through the skeleton's memory map: no reload, no syscall per change).
 */
struct ebpfix_knobs {
	__u32 sample_interval; /* 0 or 1 = every packet, N = 1 in N */
	__u32 sample_seed;     /* flow-hash seed, random per daemon start */
	__u8 sample_mode;      /* enum ebpfix_sample_mode */
	__u8 exclude4;         /* exclude4 holds at least one prefix */
	__u8 exclude6;         /* exclude6 holds at least one prefix */
	__u8 attribution;      /* put the socket cookie in keys (key.owner) */
};

/*
 * Positions in the free-slot ring (map "free_ring", global "ebpfix_free_pos" in .bss):
 * the programs take free slots at head (compare-and-swap), the daemon gives slots back
 * at tail (a store through the skeleton's memory map, no syscall). Both only grow; the
 * entry of position p is free_ring[p % slot count], and tail - head slots are free.
 * Each on its own cache line: CPUs taking slots do not contend with the daemon's writes.
 */
struct ebpfix_free_pos {
	__u64 head;
	__u8 pad_head[56];
	__u64 tail;
	__u8 pad_tail[56];
};

/*
 * Who owns a local socket (attribution): taken when the socket is created
 * (cgroup/sock_create: the creating process), inherited by the sockets a listener accepts
 * (socket storage cloned at accept), and found by the socket cookie that flow keys carry
 * (map "owners"). A socket that existed before ebpfix started has only what the packet
 * hook can know without the creator (uid and cgroup, EBPFIX_OWNER_PARTIAL).
 */
#define EBPFIX_OWNER_PARTIAL 1 /* no process: pid 0 and comm empty mean unknown */
struct ebpfix_owner {
	__u32 pid; /* process (thread group) id of the creator */
	__u32 uid;
	__u32 gid;
	__u32 flags; /* EBPFIX_OWNER_* */
	__u64 cgroup_id;
	char comm[16];
};

/* LPM-trie keys of the exclude lists. */
struct ebpfix_lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};
struct ebpfix_lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Names of the programs in the object: one per hook and link-layer type. */
#define EBPFIX_PROG_TC_INGRESS_ETH "ebpfix_tc_in_eth"
#define EBPFIX_PROG_TC_EGRESS_ETH  "ebpfix_tc_out_eth"
#define EBPFIX_PROG_TC_INGRESS_L3  "ebpfix_tc_in_l3"
#define EBPFIX_PROG_TC_EGRESS_L3   "ebpfix_tc_out_l3"
#define EBPFIX_PROG_XDP            "ebpfix_xdp"
#define EBPFIX_PROG_CGROUP_INGRESS "ebpfix_cg_in"
#define EBPFIX_PROG_CGROUP_EGRESS  "ebpfix_cg_out"
#define EBPFIX_PROG_SOCK_CREATE    "ebpfix_sock_create"
/* Every program name starts with this: stale attachments are recognised by it. */
#define EBPFIX_PROG_PREFIX "ebpfix_"

/* Default number of flow slots (IPv4 and IPv6 together). */
#define EBPFIX_DEFAULT_MAP_ENTRIES 65536

#ifdef __cplusplus
#define EBPFIX_ABI_ASSERT(cond) static_assert(cond, #cond)
#else
#define EBPFIX_ABI_ASSERT(cond) _Static_assert(cond, #cond)
#endif
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_key4) == 32);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key4, src_port) == 8);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key4, ifindex) == 12);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key4, vlan_id) == 16);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key4, protocol) == 20);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key4, direction) == 21);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key4, owner) == 24);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_key6) == 56);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key6, src_port) == 32);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key6, ifindex) == 36);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key6, vlan_id) == 40);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key6, protocol) == 44);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key6, direction) == 45);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_key6, owner) == 48);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_slot) == 64);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_slot, bytes) == 8);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_slot, first_seen_ns) == 16);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_slot, last_seen_ns) == 24);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_slot, tcp_flags) == 32);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_slot, tos) == 36);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_slot_key) == 64);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_slot_key, k4) == 8);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_pkt_bytes) == 16);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_counters) == 7 * 16 + 2 * 8);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_counters, sampled_out) == 64);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_counters, fragments) == 96);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_counters, flows_created) == 112);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_knobs) == 12);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_free_pos) == 128);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_free_pos, tail) == 64);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_owner) == 40);
EBPFIX_ABI_ASSERT(__builtin_offsetof(struct ebpfix_owner, cgroup_id) == 16);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_lpm4) == 8);
EBPFIX_ABI_ASSERT(sizeof(struct ebpfix_lpm6) == 20);

#endif /* EBPFIX_FLOW_ABI_H */
