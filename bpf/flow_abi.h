/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI shared by the kernel flow program (bpf/flow.bpf.c) and the daemon.
 * Plain C, fixed-width types, explicit padding: both sides see the same bytes.
 * The daemon checks sizes and offsets with static_asserts (exporter/bpf/abi_check.hpp).
 *
 * Keys are split by address family so the per-packet hash covers 24 bytes for IPv4
 * instead of 48 (see docs/architecture.md); the daemon widens both to one key with
 * 16-byte (IPv4-mapped) addresses when it drains.
 */
#ifndef EBPFIX_FLOW_ABI_H
#define EBPFIX_FLOW_ABI_H

#include <linux/types.h>

#define EBPFIX_ABI_VERSION 1

/* IPFIX flowDirection (IE 61) values. */
enum ebpfix_direction {
	EBPFIX_DIR_INGRESS = 0,
	EBPFIX_DIR_EGRESS = 1,
};

/*
 * Ports are in host byte order. For ICMP and ICMPv6 src_port is 0 and dst_port holds
 * type << 8 | code (the NetFlow convention). Later fragments and protocols without
 * ports have both ports 0. vlan_id is the outer tag (802.1Q or 802.1ad, from the frame
 * or from skb->vlan_tci), inner_vlan_id the second tag; 0 means no tag.
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
};

/*
 * bytes is the L3 size (IPv4 total length, IPv6 40 + payload length) summed over the
 * packets, which is what NetFlow/IPFIX collectors expect for octetDeltaCount. A GSO/GRO
 * super-packet counts as gso_segs packets and as the bytes those segments have on the
 * wire. Times are bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC, one jiffy resolution.
 */
struct ebpfix_flow_value {
	__u64 packets;
	__u64 bytes;
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u32 tcp_flags; /* OR of every packet's flags: bits 0-7 as in byte 13, bit 8 = NS */
	__u8 tos;        /* IPv4 ToS / IPv6 traffic class of the first packet */
	__u8 pad[3];
};

/* A packet count and the bytes they carried. */
struct ebpfix_pkt_bytes {
	__u64 packets;
	__u64 bytes;
};

/*
 * Per-CPU counters (map "counters", one entry). Every packet the hook sees ends in
 * exactly one flow entry or exactly one of the drop reasons below, so
 *   seen = sum(drained flows) + non_ip + parse_error + truncated + map_full.
 * Bytes of a drop are the frame bytes from the L3 header on (the whole frame for
 * non_ip); map_full bytes are L3 bytes as in a flow.
 * fragments is informational: non-first fragments, which are also counted in flows.
 */
struct ebpfix_counters {
	struct ebpfix_pkt_bytes non_ip;      /* ARP, LLDP, a third VLAN tag, ... */
	struct ebpfix_pkt_bytes parse_error; /* bad IP version/IHL/length, too many IPv6 ext headers */
	struct ebpfix_pkt_bytes truncated;   /* shorter than the headers it announces */
	struct ebpfix_pkt_bytes map_full;    /* could not insert a new flow: map full */
	struct ebpfix_pkt_bytes fragments;   /* non-first fragments (counted in port-0 flows too) */
	__u64 flows_created;                 /* successful new-flow inserts */
	__u64 insert_races;                  /* another CPU inserted the same flow first */
};

/* Names of the programs in the object, one per hook and link-layer type. */
#define EBPFIX_PROG_INGRESS_ETH "ebpfix_ingress_eth"
#define EBPFIX_PROG_EGRESS_ETH  "ebpfix_egress_eth"
#define EBPFIX_PROG_INGRESS_L3  "ebpfix_ingress_l3"
#define EBPFIX_PROG_EGRESS_L3   "ebpfix_egress_l3"

/* Default size of each of the four flow maps (v4/v6 x two generations). */
#define EBPFIX_DEFAULT_MAP_ENTRIES 65536

#endif /* EBPFIX_FLOW_ABI_H */
