// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ebpfix flow counter: TCX (or clsact) ingress and egress programs that count every
 * packet into the active flow map of its address family, or into exactly one drop
 * counter. Never changes the packet; always lets the next program run.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "flow_abi.h"
#include "maps.h"
#include "parse.h"

#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef EEXIST
#define EEXIST 17
#endif

/* Load-time knobs (set by the daemon before load; the verifier prunes dead branches). */
/* --pcap mode: flow times come from skb->tstamp (the capture time) given to test_run. */
const volatile __u8 ebpfix_time_from_skb = 0;
/* Tests only: always parse through bpf_skb_load_bytes, as for non-linear skbs. */
const volatile __u8 ebpfix_force_load_bytes = 0;

static __always_inline struct ebpfix_counters *this_cpu_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void count_into(struct ebpfix_pkt_bytes *pb, __u64 packets, __u64 bytes)
{
	/* Atomic although per CPU: test_run callers on one CPU may preempt each other. */
	__sync_fetch_and_add(&pb->packets, packets);
	__sync_fetch_and_add(&pb->bytes, bytes);
}

static __always_inline void add_to_flow(struct ebpfix_flow_value *v, __u64 packets, __u64 bytes,
					__u64 now, __u16 tcp_flags)
{
	__sync_fetch_and_add(&v->packets, packets);
	__sync_fetch_and_add(&v->bytes, bytes);
	/* Racing CPUs may store slightly out of order; the drain keeps the maximum. */
	if (now > v->last_seen_ns)
		v->last_seen_ns = now;
	if (tcp_flags & ~v->tcp_flags)
		__sync_fetch_and_or(&v->tcp_flags, (__u32)tcp_flags);
}

/*
 * Counts one packet into the active map behind `outer`. Written as a macro so that each
 * family gets its own call sites: one call site per map keeps the verifier's inlining
 * of the hash lookup.
 */
#define ACCOUNT_FLOW(outer, key, r, packets, bytes, now)                                   \
	({                                                                                  \
		__u32 zero_ = 0;                                                            \
		void *flows_ = bpf_map_lookup_elem(&(outer), &zero_);                       \
		struct ebpfix_flow_value *v_;                                               \
		int ok_ = 0;                                                                \
		if (flows_) {                                                               \
			v_ = bpf_map_lookup_elem(flows_, &(key));                           \
			if (v_) {                                                           \
				add_to_flow(v_, packets, bytes, now, (r)->tcp_flags);       \
				ok_ = 1;                                                    \
			} else {                                                            \
				struct ebpfix_flow_value nv_ = {                            \
					.packets = packets,                                 \
					.bytes = bytes,                                     \
					.first_seen_ns = now,                               \
					.last_seen_ns = now,                                \
					.tcp_flags = (r)->tcp_flags,                        \
					.tos = (r)->tos,                                    \
				};                                                          \
				long err_ = bpf_map_update_elem(flows_, &(key), &nv_,       \
								BPF_NOEXIST);               \
				struct ebpfix_counters *c_ = this_cpu_counters();           \
				if (err_ == 0) {                                            \
					ok_ = 1;                                            \
					if (c_)                                             \
						__sync_fetch_and_add(&c_->flows_created, 1); \
				} else if (err_ == -EEXIST) {                               \
					/* Another CPU inserted it between our two calls. */ \
					v_ = bpf_map_lookup_elem(flows_, &(key));           \
					if (v_) {                                           \
						add_to_flow(v_, packets, bytes, now,        \
							    (r)->tcp_flags);                \
						ok_ = 1;                                    \
						if (c_)                                     \
							__sync_fetch_and_add(               \
								&c_->insert_races, 1);      \
					}                                                   \
				}                                                           \
			}                                                                   \
		}                                                                           \
		ok_;                                                                        \
	})

static __always_inline void count_packet(struct __sk_buff *skb, const bool l2, const __u8 dir)
{
	struct parse_result r;
	struct ebpfix_counters *c;
	__u64 packets, bytes, now;
	int verdict;

	__builtin_memset(&r, 0, sizeof(r));
	if (ebpfix_force_load_bytes) {
		verdict = PARSE_NOT_LINEAR;
	} else {
		verdict = parse_packet(skb, &r, l2, true);
	}
	if (verdict == PARSE_NOT_LINEAR) {
		__builtin_memset(&r, 0, sizeof(r));
		verdict = parse_packet(skb, &r, l2, false);
	}

	/* A GSO/GRO super-packet stands for gso_segs packets, each with its own headers. */
	packets = skb->gso_segs;
	if (packets == 0)
		packets = 1;

	if (verdict == PARSE_FLOW4 || verdict == PARSE_FLOW6) {
		int counted;

		bytes = r.l3_len + (packets - 1) * r.hdr_len;
		/* The coarse clock (one jiffy of resolution) costs ~6 ns where the precise one
		 * cost ~30 ns per packet here; flow times are exported in ms anyway. */
		now = ebpfix_time_from_skb ? skb->tstamp : bpf_ktime_get_coarse_ns();
		if (verdict == PARSE_FLOW4) {
			r.k4.src_port = r.sport;
			r.k4.dst_port = r.dport;
			r.k4.ifindex = skb->ifindex;
			r.k4.direction = dir;
			counted = ACCOUNT_FLOW(flows4_active, r.k4, &r, packets, bytes, now);
		} else {
			r.k6.src_port = r.sport;
			r.k6.dst_port = r.dport;
			r.k6.ifindex = skb->ifindex;
			r.k6.direction = dir;
			counted = ACCOUNT_FLOW(flows6_active, r.k6, &r, packets, bytes, now);
		}
		if (counted && !r.later_fragment)
			return;
		c = this_cpu_counters();
		if (!c)
			return;
		if (!counted)
			count_into(&c->map_full, packets, bytes);
		else
			count_into(&c->fragments, packets, bytes);
		return;
	}

	c = this_cpu_counters();
	if (!c)
		return;
	switch (verdict) {
	case PARSE_NON_IP:
		count_into(&c->non_ip, packets, skb->len);
		break;
	case PARSE_TRUNCATED:
		count_into(&c->truncated, packets, skb->len - r.l3_off);
		break;
	default:
		count_into(&c->parse_error, packets, skb->len - r.l3_off);
		break;
	}
}

/* TC_ACT_UNSPEC == TCX_NEXT (-1): the next program or the default action decides. */
SEC("tc")
int ebpfix_ingress_eth(struct __sk_buff *skb)
{
	count_packet(skb, true, EBPFIX_DIR_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ebpfix_egress_eth(struct __sk_buff *skb)
{
	count_packet(skb, true, EBPFIX_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ebpfix_ingress_l3(struct __sk_buff *skb)
{
	count_packet(skb, false, EBPFIX_DIR_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ebpfix_egress_l3(struct __sk_buff *skb)
{
	count_packet(skb, false, EBPFIX_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
