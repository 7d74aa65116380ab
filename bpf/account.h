/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one accounting step of every hook: sampling, exclude lists, and counting the
 * packet into its flow entry or into exactly one named counter. The hook's adapter
 * (bpf/tc.bpf.c, xdp.bpf.c, cgroup.bpf.c) defines EBPFIX_CTX and its accessors, includes
 * this file and calls count_packet(); nothing here changes per hook, so
 *   seen = flow packets + non_ip + parse_error + truncated + map_full + sampled_out
 *          + excluded
 * holds in every mode.
 */
#ifndef EBPFIX_ACCOUNT_H
#define EBPFIX_ACCOUNT_H

#include "flow_abi.h"
#include "maps.h"
#include "parse.h"

#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef EEXIST
#define EEXIST 17
#endif

static __always_inline struct ebpfix_counters *this_cpu_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void count_into(struct ebpfix_pkt_bytes *pb, __u64 packets, __u64 bytes)
{
	/* Atomic although per CPU: test-run callers on one CPU may preempt each other. */
	__sync_fetch_and_add(&pb->packets, packets);
	__sync_fetch_and_add(&pb->bytes, bytes);
}

/* Counts into the named counter at `field` of this CPU's counters. */
#define COUNT_DROP(field, packets, bytes)                                 \
	do {                                                              \
		struct ebpfix_counters *c_ = this_cpu_counters();         \
		if (c_)                                                   \
			count_into(&c_->field, (packets), (bytes));       \
	} while (0)

/* Tells the daemon the slot got packets since its last take. */
static __always_inline void mark_dirty(__u32 slot)
{
	__u32 word = slot / 64;
	__u64 *w = bpf_map_lookup_elem(&dirty, &word);

	if (w)
		__sync_fetch_and_or(w, 1ULL << (slot & 63));
}

/* The order of these steps is the ABI's (struct ebpfix_slot): bytes, packets, then
 * first_seen_ns and the dirty bit. */
static __always_inline void add_to_slot(struct ebpfix_slot *s, __u32 slot, __u64 packets, __u64 bytes, __u64 now,
					__u16 tcp_flags)
{
	__sync_fetch_and_add(&s->bytes, bytes);
	__sync_fetch_and_add(&s->packets, packets);
	if (tcp_flags & ~s->tcp_flags)
		__sync_fetch_and_or(&s->tcp_flags, (__u32)tcp_flags);
	/* Racing CPUs may store slightly out of order; the daemon keeps the maximum. */
	if (now > s->last_seen_ns)
		s->last_seen_ns = now;
	if (s->first_seen_ns == 0) {
		s->first_seen_ns = now ? now : 1; /* 0 means "none since the take" */
		mark_dirty(slot);
	}
}

/* Tries at the ring's head before a new flow counts as map_full: each failed try means
 * another CPU took a slot in between. */
#define EBPFIX_TAKE_TRIES 32

/* Takes a free slot from free_ring (struct ebpfix_free_pos). Returns 0 with *slot set,
 * -1 when none is free. */
static __always_inline int take_free_slot(__u32 *slot)
{
	for (int i = 0; i < EBPFIX_TAKE_TRIES; i++) {
		__u64 head = *(volatile __u64 *)&ebpfix_free_pos.head;
		/* A fully ordered read of tail: the entry below is read after it, as the
		 * daemon writes the entry before it advances tail. */
		__u64 tail = __sync_fetch_and_add(&ebpfix_free_pos.tail, 0);
		__u32 pos, value;
		__u64 *entry;

		if (head >= tail)
			return -1;
		pos = (__u32)(head % ebpfix_slot_count);
		entry = bpf_map_lookup_elem(&free_ring, &pos);
		if (!entry)
			return -1;
		/* Read before the swap: once head moves on, the daemon may reuse the entry.
		 * head only grows, so a swap that succeeds proves the read was current. */
		value = (__u32) * (volatile __u64 *)entry;
		if (__sync_val_compare_and_swap(&ebpfix_free_pos.head, head, head + 1) == head) {
			*slot = value;
			return 0;
		}
	}
	return -1;
}

/*
 * Counts one packet into the slot of `key` in `index`, giving the flow a free slot when
 * it has none. Returns 0 when the packet could not be counted (no free slot, index
 * full), 2 when it gave the flow its slot, else 1. A macro so that each family gets its own call sites: one call site per map
 * keeps the verifier's inlining of the hash lookup.
 */
#define ACCOUNT_FLOW(index, key, fam, r, pk_, by_, now_)                                          \
	({                                                                                        \
		__u32 *slotp_ = bpf_map_lookup_elem(&(index), &(key));                            \
		struct ebpfix_slot *s_;                                                           \
		__u32 slot_ = 0;                                                                  \
		int ok_ = 0, created_ = 0;                                                        \
		if (slotp_) {                                                                     \
			slot_ = *slotp_;                                                          \
		} else if (take_free_slot(&slot_) == 0) {                                           \
			struct ebpfix_slot_key *sk_ = bpf_map_lookup_elem(&slot_keys, &slot_);    \
			s_ = bpf_map_lookup_elem(&slots, &slot_);                                  \
			struct ebpfix_counters *c_ = this_cpu_counters();                         \
			long err_ = -1;                                                           \
			if (sk_ && s_) {                                                          \
				/* Not indexed yet: nobody else writes or reads it. */            \
				sk_->family = (fam);                                              \
				__builtin_memcpy(&sk_->k##fam, &(key), sizeof(key));             \
				s_->packets = 0;                                                  \
				s_->bytes = 0;                                                    \
				s_->first_seen_ns = 0;                                            \
				s_->last_seen_ns = 0;                                             \
				s_->tcp_flags = 0;                                                \
				s_->tos = (r)->tos;                                               \
				err_ = bpf_map_update_elem(&(index), &(key), &slot_, BPF_NOEXIST); \
			}                                                                         \
			if (err_ == 0) {                                                          \
				created_ = 1;                                                     \
				if (c_)                                                           \
					__sync_fetch_and_add(&c_->flows_created, 1);              \
			} else {                                                                  \
				bpf_map_push_elem(&returned_slots, &slot_, 0);                    \
				slotp_ = err_ == -EEXIST ? bpf_map_lookup_elem(&(index), &(key)) : NULL; \
				if (slotp_) {                                                     \
					/* Another CPU created the same flow between our calls. */ \
					slot_ = *slotp_;                                          \
					if (c_)                                                   \
						__sync_fetch_and_add(&c_->insert_races, 1);       \
				} else {                                                          \
					slot_ = 0xffffffff;                                       \
				}                                                                 \
			}                                                                         \
		} else {                                                                          \
			slot_ = 0xffffffff;                                                       \
		}                                                                                 \
		if (slot_ != 0xffffffff) {                                                        \
			s_ = bpf_map_lookup_elem(&slots, &slot_);                                 \
			if (s_) {                                                                 \
				add_to_slot(s_, slot_, pk_, by_, now_, (r)->tcp_flags);           \
				ok_ = created_ ? 2 : 1;                                           \
			}                                                                         \
		}                                                                                 \
		ok_;                                                                              \
	})

/* One 32-bit mix (murmur3's finalizer) for flow-hash sampling. */
static __always_inline __u32 mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/*
 * Flow-hash selection (RFC 7014 hash-based flow selection): the same answer for both
 * directions of a conversation, so a sampled flow is whole both ways.
 */
static __always_inline bool flow_selected4(const struct ebpfix_key4 *k, __u32 interval, __u32 seed)
{
	__u32 a = k->src_addr ^ k->dst_addr;
	__u32 p = ((__u32)k->src_port ^ k->dst_port) | (__u32)k->protocol << 16;

	return mix32(mix32(a ^ seed) ^ p) % interval == 0;
}

static __always_inline bool flow_selected6(const struct ebpfix_key6 *k, __u32 interval, __u32 seed)
{
	__u32 a = seed, s, d;
	int i;

	for (i = 0; i < 16; i += 4) {
		__builtin_memcpy(&s, &k->src_addr[i], 4);
		__builtin_memcpy(&d, &k->dst_addr[i], 4);
		a = mix32(a ^ s ^ d);
	}
	return mix32(a ^ (((__u32)k->src_port ^ k->dst_port) | (__u32)k->protocol << 16)) % interval == 0;
}

static __always_inline bool excluded4(const struct ebpfix_key4 *k)
{
	struct ebpfix_lpm4 q = {.prefixlen = 32};

	__builtin_memcpy(q.addr, &k->src_addr, 4);
	if (bpf_map_lookup_elem(&exclude4, &q))
		return true;
	__builtin_memcpy(q.addr, &k->dst_addr, 4);
	return bpf_map_lookup_elem(&exclude4, &q) != NULL;
}

static __always_inline bool excluded6(const struct ebpfix_key6 *k)
{
	struct ebpfix_lpm6 q = {.prefixlen = 128};

	__builtin_memcpy(q.addr, k->src_addr, 16);
	if (bpf_map_lookup_elem(&exclude6, &q))
		return true;
	__builtin_memcpy(q.addr, k->dst_addr, 16);
	return bpf_map_lookup_elem(&exclude6, &q) != NULL;
}

/*
 * Segments of a GSO packet. A packet from a tap/virtio/vnet-header socket
 * (SKB_GSO_DODGY) comes with gso_segs 0: its segments are derived from gso_size as the
 * kernel does (qdisc_pkt_len_init). A non-GSO packet is one.
 */
static __always_inline __u64 segments(EBPFIX_CTX *ctx, const struct parse_result *r)
{
	__u32 segs = ctx_gso_segs(ctx);
	__u32 size = ctx_gso_size(ctx);

	if (segs != 0)
		return segs;
	if (size != 0 && r && r->l3_len > r->hdr_len)
		return (r->l3_len - r->hdr_len + size - 1) / size;
	return 1;
}

/* What one packet adds to its flow. */
struct ebpfix_add {
	__u64 packets;
	__u64 bytes;
	__u64 now;
	__u16 tcp_flags;
	__u8 tos;
	__u8 later_fragment;
	__u32 pad;
};

/*
 * After parsing, per family: exclude lists, flow-hash sampling, the flow's slot, the
 * named counter otherwise. Global functions (verified once, on their own, whatever the
 * parser's paths were), named per hook (EBPFIX_HOOK) because each hook's object has
 * its own copy; they know no hook context. Return 1 when the packet was counted into a flow.
 */
#define COUNT_FN_(fam, hook) ebpfix_count##fam##_##hook
#define COUNT_FN(fam, hook) COUNT_FN_(fam, hook)
#define DEFINE_COUNT(fam)                                                                        \
	__noinline int COUNT_FN(fam, EBPFIX_HOOK)(struct ebpfix_key##fam *key, struct ebpfix_add *add) \
	{                                                                                        \
		__u32 interval = ebpfix_knobs.sample_interval;                                   \
		if (!key || !add)                                                                \
			return 0;                                                                \
		if (ebpfix_knobs.exclude##fam && excluded##fam(key)) {                           \
			COUNT_DROP(excluded, add->packets, add->bytes);                          \
			return 0;                                                                \
		}                                                                                \
		if (interval > 1 && ebpfix_knobs.sample_mode == EBPFIX_SAMPLE_HASH &&           \
		    !flow_selected##fam(key, interval, ebpfix_knobs.sample_seed)) {              \
			COUNT_DROP(sampled_out, add->packets, add->bytes);                       \
			return 0;                                                                \
		}                                                                                \
		int counted = ACCOUNT_FLOW(index##fam, *key, fam, add, add->packets, add->bytes, add->now); \
		if (!counted) {                                                                  \
			COUNT_DROP(map_full, add->packets, add->bytes);                          \
			return 0;                                                                \
		}                                                                                \
		if (add->later_fragment)                                                         \
			COUNT_DROP(fragments, add->packets, add->bytes);                         \
		return counted;                                                                  \
	}

DEFINE_COUNT(4)
DEFINE_COUNT(6)

static __always_inline void count_packet(EBPFIX_CTX *ctx, const bool l2, const __u8 dir)
{
	struct parse_result r;
	struct ebpfix_add add = {};
	__u32 interval = ebpfix_knobs.sample_interval;
	__u64 packets;
	int verdict;

	/* Random 1-in-N sampling is decided before parsing, so a packet left out costs
	 * almost nothing. A packet whose segments are not known yet (gso_segs 0 with a
	 * gso_size) is parsed first so that it is left out with its real count. */
	if (interval > 1 && ebpfix_knobs.sample_mode == EBPFIX_SAMPLE_RANDOM &&
	    !(ctx_gso_segs(ctx) == 0 && ctx_gso_size(ctx) != 0) && bpf_get_prandom_u32() % interval != 0) {
		COUNT_DROP(sampled_out, segments(ctx, NULL), ctx_wire_len(ctx));
		return;
	}

	__builtin_memset(&r, 0, sizeof(r));
	if (ebpfix_force_load_bytes) {
		verdict = PARSE_NOT_LINEAR;
	} else {
		verdict = parse_packet(ctx, &r, l2, true);
	}
	if (verdict == PARSE_NOT_LINEAR) {
		__builtin_memset(&r, 0, sizeof(r));
		verdict = parse_packet(ctx, &r, l2, false);
	}

	if (verdict != PARSE_FLOW4 && verdict != PARSE_FLOW6) {
		packets = segments(ctx, NULL);
		switch (verdict) {
		case PARSE_NON_IP:
			COUNT_DROP(non_ip, packets, ctx_wire_len(ctx));
			break;
		case PARSE_TRUNCATED:
			COUNT_DROP(truncated, packets, ctx_wire_len(ctx) - r.l3_off);
			break;
		default:
			COUNT_DROP(parse_error, packets, ctx_wire_len(ctx) - r.l3_off);
			break;
		}
		return;
	}

	packets = segments(ctx, &r);
	add.packets = packets;
	add.bytes = r.l3_len + (packets - 1) * r.hdr_len;
	if (interval > 1 && ebpfix_knobs.sample_mode == EBPFIX_SAMPLE_RANDOM && ctx_gso_segs(ctx) == 0 &&
	    ctx_gso_size(ctx) != 0 && bpf_get_prandom_u32() % interval != 0) {
		/* The rare GSO packet that skipped the early decision. */
		COUNT_DROP(sampled_out, add.packets, add.bytes);
		return;
	}
	/* The coarse clock (one jiffy of resolution) is several times cheaper than the
	 * precise one; flow times are exported in ms anyway. */
	add.now = ctx_time_ns(ctx);
	add.tcp_flags = r.tcp_flags;
	add.tos = r.tos;
	add.later_fragment = r.later_fragment;

	if (verdict == PARSE_FLOW4) {
		r.k4.src_port = r.sport;
		r.k4.dst_port = r.dport;
		r.k4.ifindex = ctx_ifindex(ctx);
		r.k4.direction = dir;
		if (ebpfix_knobs.attribution)
			r.k4.owner = ctx_owner(ctx, dir);
		if (COUNT_FN(4, EBPFIX_HOOK)(&r.k4, &add) == 2 && r.k4.owner)
			ctx_record_owner(ctx, r.k4.owner);
	} else {
		r.k6.src_port = r.sport;
		r.k6.dst_port = r.dport;
		r.k6.ifindex = ctx_ifindex(ctx);
		r.k6.direction = dir;
		if (ebpfix_knobs.attribution)
			r.k6.owner = ctx_owner(ctx, dir);
		if (COUNT_FN(6, EBPFIX_HOOK)(&r.k6, &add) == 2 && r.k6.owner)
			ctx_record_owner(ctx, r.k6.owner);
	}
}

#endif /* EBPFIX_ACCOUNT_H */
