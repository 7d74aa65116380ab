/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one packet parser of every hook: Ethernet (up to two 802.1Q/802.1ad tags) or bare
 * L3, IPv4 with options and AH, IPv6 with extension headers, fragments,
 * TCP/UDP/UDP-Lite/SCTP/DCCP ports, ICMP/ICMPv6 type and code.
 *
 * It reads the packet only through the hook's context accessors (bpf/ctx_*.h, Cilium's
 * __ctx_buff idea): ctx_data/ctx_data_end (the linear window), ctx_len, ctx_wire_len,
 * ctx_load (the load-bytes helper), ctx_gso_segs/ctx_gso_size and ctx_vlan. Headers are
 * read through hdr_ptr(), instantiated twice: "direct" reads the linear data (the fast,
 * common case) and gives up with PARSE_NOT_LINEAR when a header lies beyond it; the
 * caller then parses again with ctx_load(), which also reaches paged data. Each
 * instance has one pointer type, which keeps the verifier simple. The packet is never
 * changed.
 *
 * A packet cut short by a capture's snaplen (ctx_len < ctx_wire_len) still makes a flow
 * with its wire length when every header the key needs is present; only a cut inside
 * those headers is PARSE_TRUNCATED.
 */
#ifndef EBPFIX_PARSE_H
#define EBPFIX_PARSE_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "flow_abi.h"

/* Deepest header offset we parse; deeper headers are a parse error. */
#define EBPFIX_MAX_HDR_OFF 2048
/* IPv6 extension headers (and IPv4 AH) followed at most; one more is a parse error. */
#define EBPFIX_MAX_EXT_HDRS 8

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#define EBPFIX_IPPROTO_HOPOPTS 0
#define EBPFIX_IPPROTO_ROUTING 43
#define EBPFIX_IPPROTO_FRAGMENT 44
#define EBPFIX_IPPROTO_AH 51
#define EBPFIX_IPPROTO_DSTOPTS 60
#define EBPFIX_IPPROTO_UDPLITE 136

enum parse_verdict {
	PARSE_FLOW4 = 0,
	PARSE_FLOW6,
	PARSE_NON_IP,
	PARSE_ERROR,
	PARSE_TRUNCATED,
	PARSE_NOT_LINEAR, /* direct instance only: parse again with ctx_load() */
};

struct parse_result {
	union {
		struct ebpfix_key4 k4;
		struct ebpfix_key6 k6;
	};
	__u32 l3_off;   /* where the IP header starts */
	__u32 l3_len;   /* IPv4 total length / IPv6 40 + payload length (wire length) */
	__u32 hdr_len;  /* L3 + L4 header bytes, repeated in every GSO segment */
	__u16 sport;
	__u16 dport;
	__u16 tcp_flags;
	__u8 tos;
	__u8 later_fragment; /* a non-first fragment */
};

/* Scratch big enough for the largest header we read at once (IPv6, 40 bytes). */
struct parse_buf {
	__u8 b[40];
} __attribute__((aligned(8)));

static __always_inline void *hdr_ptr(EBPFIX_CTX *ctx, __u32 off, __u32 len, struct parse_buf *buf,
				     const bool direct)
{
	if (direct) {
		void *data = ctx_data(ctx);
		void *data_end = ctx_data_end(ctx);
		void *p;

		if (off > EBPFIX_MAX_HDR_OFF)
			return NULL;
		p = data + off;
		if (p + len > data_end)
			return NULL;
		return p;
	}
	if (len > sizeof(buf->b) || ctx_load(ctx, off, buf->b, len))
		return NULL;
	return buf->b;
}

/*
 * Reads a header of sizeof(*ptr) bytes at off into ptr, or returns from the calling
 * parse function: past the end of the packet (limit) is truncated, beyond the linear
 * data in the direct instance is PARSE_NOT_LINEAR, beyond what was captured is
 * truncated.
 */
#define LOAD_HDR(ptr, off, limit)                                                  \
	do {                                                                       \
		if ((off) > EBPFIX_MAX_HDR_OFF)                                    \
			return PARSE_ERROR;                                        \
		if ((off) + sizeof(*(ptr)) > (limit))                              \
			return PARSE_TRUNCATED;                                    \
		(ptr) = hdr_ptr(ctx, (off), sizeof(*(ptr)), buf, direct);          \
		if (!(ptr))                                                        \
			return direct ? PARSE_NOT_LINEAR : PARSE_TRUNCATED;        \
	} while (0)

struct ebpfix_l4_ports {
	__be16 source;
	__be16 dest;
};

struct ebpfix_tcp_head {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res_ns; /* data offset (4 bits), reserved, NS flag (bit 0) */
	__u8 flags;       /* CWR ECE URG ACK PSH RST SYN FIN */
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};

struct ebpfix_icmp_head {
	__u8 type;
	__u8 code;
};

struct ebpfix_vlan_head {
	__be16 tci;
	__be16 encap_proto;
};

struct ebpfix_ip4_head {
	__u8 version_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ebpfix_ip6_head {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct ebpfix_ext_head {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct ebpfix_frag_head {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M */
	__be32 identification;
};

static __always_inline bool is_gso(EBPFIX_CTX *ctx)
{
	return ctx_gso_segs(ctx) > 1 || ctx_gso_size(ctx) > 0;
}

/* An IPv6 extension header we step over to find the upper-layer protocol. */
static __always_inline bool is_ext6(__u8 nh)
{
	return nh == EBPFIX_IPPROTO_HOPOPTS || nh == EBPFIX_IPPROTO_ROUTING || nh == EBPFIX_IPPROTO_DSTOPTS ||
	       nh == EBPFIX_IPPROTO_AH || nh == EBPFIX_IPPROTO_FRAGMENT;
}

/*
 * Transport header at off. limit is the end of the IP packet. A first fragment too
 * short to hold the ports counts with ports 0 (first_fragment), anything else that is
 * cut short is truncated.
 */
static __always_inline int parse_l4(EBPFIX_CTX *ctx, struct parse_result *r, __u32 off, __u32 limit, __u8 proto,
				    const bool v6, bool first_fragment, struct parse_buf *buf, const bool direct)
{
	switch (proto) {
	case IPPROTO_TCP: {
		struct ebpfix_tcp_head *th;
		__u32 doff;

		if (first_fragment && off + sizeof(*th) > limit)
			return 0;
		LOAD_HDR(th, off, limit);
		doff = (th->doff_res_ns >> 4) * 4;
		if (doff < sizeof(*th))
			return PARSE_ERROR;
		r->sport = bpf_ntohs(th->source);
		r->dport = bpf_ntohs(th->dest);
		r->tcp_flags = th->flags | ((__u16)(th->doff_res_ns & 1) << 8);
		r->hdr_len += doff;
		return 0;
	}
	case IPPROTO_UDP:
	case EBPFIX_IPPROTO_UDPLITE: {
		struct ebpfix_l4_ports *ph;

		if (first_fragment && off + 8 > limit)
			return 0;
		LOAD_HDR(ph, off, limit);
		r->sport = bpf_ntohs(ph->source);
		r->dport = bpf_ntohs(ph->dest);
		r->hdr_len += 8;
		return 0;
	}
	case IPPROTO_SCTP:
	case IPPROTO_DCCP: {
		struct ebpfix_l4_ports *ph;

		if (first_fragment && off + sizeof(*ph) > limit)
			return 0;
		LOAD_HDR(ph, off, limit);
		r->sport = bpf_ntohs(ph->source);
		r->dport = bpf_ntohs(ph->dest);
		return 0;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		struct ebpfix_icmp_head *ih;

		if ((proto == IPPROTO_ICMP) == v6)
			return 0; /* ICMP in IPv6 or ICMPv6 in IPv4: no type/code */
		if (first_fragment && off + sizeof(*ih) > limit)
			return 0;
		LOAD_HDR(ih, off, limit);
		r->dport = (__u16)ih->type << 8 | ih->code;
		return 0;
	}
	default:
		return 0;
	}
}

static __always_inline int parse_ipv4(EBPFIX_CTX *ctx, struct parse_result *r, __u32 off, struct parse_buf *buf,
				      const bool direct)
{
	struct ebpfix_ip4_head *ip;
	__u32 wire = ctx_wire_len(ctx);
	__u32 ihl, tot, frag, l4off;
	__u8 proto;
	int err;

	LOAD_HDR(ip, off, wire);
	if ((ip->version_ihl >> 4) != 4)
		return PARSE_ERROR;
	ihl = (ip->version_ihl & 0x0f) * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (tot == 0 && is_gso(ctx))
		tot = wire - off; /* BIG TCP: a GSO packet over 64 KiB carries tot_len 0 */
	if (ihl < sizeof(*ip) || tot < ihl)
		return PARSE_ERROR;
	if (tot > wire - off)
		return PARSE_TRUNCATED;

	r->k4.src_addr = ip->saddr;
	r->k4.dst_addr = ip->daddr;
	proto = ip->protocol;
	r->tos = ip->tos;
	r->l3_len = tot;
	r->hdr_len = ihl;
	frag = bpf_ntohs(ip->frag_off);
	l4off = off + ihl;

	if (frag & 0x1fff) {
		r->k4.protocol = proto;
		r->later_fragment = 1;
		return PARSE_FLOW4;
	}
	/* AH: the transport header follows it, as in IPv6 (RFC 4302). */
	if (proto == EBPFIX_IPPROTO_AH) {
		struct ebpfix_ext_head *ah;

		if (direct)
			return PARSE_NOT_LINEAR; /* rare: left to the ctx_load instance */
		LOAD_HDR(ah, l4off, off + tot);
		proto = ah->nexthdr;
		l4off += ((__u32)ah->hdrlen + 2) * 4;
		r->hdr_len = l4off - off;
		if (l4off > off + tot)
			return PARSE_TRUNCATED;
	}
	r->k4.protocol = proto;
	err = parse_l4(ctx, r, l4off, off + tot, proto, false, frag & 0x2000, buf, direct);
	return err ? err : PARSE_FLOW4;
}

/* The IPv6 extension header chain between the fixed header and the transport. */
struct ebpfix_ext_walk {
	__u32 l4off; /* in: first extension header; out: the transport header */
	__u32 limit; /* end of the IP packet */
	__u8 nh;     /* in: its type; out: the upper-layer protocol */
	__u8 first_fragment;
	__u8 later_fragment;
	__u8 pad;
};

/*
 * Steps over up to EBPFIX_MAX_EXT_HDRS extension headers (a ninth is PARSE_ERROR). The
 * Mobility Header (135) is an upper-layer protocol here: it ends the chain and names the
 * flow. A global function, named per hook, so that the verifier checks the loop once
 * instead of once per parser path. Returns 0 or a verdict.
 */
#define EXT6_FN_(hook) ebpfix_ext6_##hook
#define EXT6_FN(hook) EXT6_FN_(hook)
__noinline int EXT6_FN(EBPFIX_HOOK)(EBPFIX_CTX *ctx, struct ebpfix_ext_walk *w)
{
	__u32 off, limit;
	__u8 nh;
	int i;

	if (!ctx || !w)
		return PARSE_ERROR;
	off = w->l4off;
	limit = w->limit;
	nh = w->nh;
	for (i = 0; i < EBPFIX_MAX_EXT_HDRS && is_ext6(nh); i++) {
		struct ebpfix_frag_head fh;

		if (off > EBPFIX_MAX_HDR_OFF)
			return PARSE_ERROR;
		if (nh == EBPFIX_IPPROTO_FRAGMENT) {
			__u16 fo;

			if (off + sizeof(fh) > limit || ctx_load(ctx, off, &fh, sizeof(fh)))
				return PARSE_TRUNCATED;
			nh = fh.nexthdr;
			fo = bpf_ntohs(fh.frag_off);
			off += sizeof(fh);
			if (fo & 0xfff8) {
				w->later_fragment = 1;
				break;
			}
			w->first_fragment = fo & 1;
			continue;
		}
		/* The first two bytes of every other extension header: next header, length. */
		if (off + 2 > limit || ctx_load(ctx, off, &fh, 2))
			return PARSE_TRUNCATED;
		/* AH counts its length in 4-byte units minus 2, the others in 8-byte units minus 1. */
		if (nh == EBPFIX_IPPROTO_AH)
			off += ((__u32)fh.reserved + 2) * 4;
		else
			off += ((__u32)fh.reserved + 1) * 8;
		nh = fh.nexthdr;
	}
	if (!w->later_fragment && is_ext6(nh))
		return PARSE_ERROR; /* a ninth extension header */
	w->l4off = off;
	w->nh = nh;
	return 0;
}

static __always_inline int parse_ipv6(EBPFIX_CTX *ctx, struct parse_result *r, __u32 off, struct parse_buf *buf,
				      const bool direct)
{
	struct ebpfix_ip6_head *ip6;
	__u32 wire = ctx_wire_len(ctx);
	__u32 tot, l4off, limit;
	bool first_fragment = false;
	__u8 nh;
	int err;

	LOAD_HDR(ip6, off, wire);
	if ((bpf_ntohl(ip6->ver_tc_flow) >> 28) != 6)
		return PARSE_ERROR;
	tot = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if (tot == sizeof(*ip6) && is_gso(ctx))
		tot = wire - off; /* BIG TCP / jumbogram: payload length 0 */
	if (tot > wire - off)
		return PARSE_TRUNCATED;

	__builtin_memcpy(r->k6.src_addr, ip6->saddr, 16);
	__builtin_memcpy(r->k6.dst_addr, ip6->daddr, 16);
	r->tos = (bpf_ntohl(ip6->ver_tc_flow) >> 20) & 0xff;
	r->l3_len = tot;
	nh = ip6->nexthdr;
	l4off = off + sizeof(*ip6);
	limit = off + tot;

	if (is_ext6(nh)) {
		/* Rare: walked by a function of its own, through ctx_load only. */
		struct ebpfix_ext_walk w = {.l4off = l4off, .limit = limit, .nh = nh};

		if (direct)
			return PARSE_NOT_LINEAR;
		err = EXT6_FN(EBPFIX_HOOK)(ctx, &w);
		if (err)
			return err;
		nh = w.nh;
		l4off = w.l4off;
		first_fragment = w.first_fragment;
		if (w.later_fragment) {
			r->k6.protocol = nh;
			r->hdr_len = l4off - off;
			r->later_fragment = 1;
			return PARSE_FLOW6;
		}
	}
	if (l4off > limit)
		return PARSE_TRUNCATED;

	r->k6.protocol = nh;
	r->hdr_len = l4off - off;
	err = parse_l4(ctx, r, l4off, limit, nh, true, first_fragment, buf, direct);
	return err ? err : PARSE_FLOW6;
}

static __always_inline int parse_packet(EBPFIX_CTX *ctx, struct parse_result *r, const bool l2, const bool direct)
{
	struct parse_buf scratch;
	struct parse_buf *buf = &scratch;
	__u32 wire = ctx_wire_len(ctx);
	__u16 outer_vid = 0, inner_vid = 0;
	int tags = 0;
	__u32 off = 0;

	/* An outer tag may already be out of the frame (hardware or software untag). */
	if (ctx_vlan(ctx, &outer_vid))
		tags = 1;
	if (l2) {
		struct ethhdr *eth;
		int i;
		__be16 proto;

		LOAD_HDR(eth, 0, wire);
		proto = eth->h_proto;
		off = sizeof(*eth);
		for (i = 0; i < 2; i++) {
			struct ebpfix_vlan_head *vh;

			if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
				break;
			if (tags == 2)
				break; /* a third tag: not parsed, counted as non-IP */
			LOAD_HDR(vh, off, wire);
			if (tags == 0)
				outer_vid = bpf_ntohs(vh->tci) & 0x0fff;
			else
				inner_vid = bpf_ntohs(vh->tci) & 0x0fff;
			tags++;
			proto = vh->encap_proto;
			off += sizeof(*vh);
		}
		r->l3_off = off;
		if (proto == bpf_htons(ETH_P_IP)) {
			r->k4.vlan_id = outer_vid;
			r->k4.inner_vlan_id = inner_vid;
			return parse_ipv4(ctx, r, off, buf, direct);
		}
		if (proto == bpf_htons(ETH_P_IPV6)) {
			r->k6.vlan_id = outer_vid;
			r->k6.inner_vlan_id = inner_vid;
			return parse_ipv6(ctx, r, off, buf, direct);
		}
		return PARSE_NON_IP;
	} else {
		__u8 *first;

		/* L3 device (tun, WireGuard) or a socket hook: the IP header is first; its
		 * version says which. */
		LOAD_HDR(first, 0, wire);
		r->l3_off = 0;
		if ((*first >> 4) == 4) {
			r->k4.vlan_id = outer_vid;
			return parse_ipv4(ctx, r, 0, buf, direct);
		}
		if ((*first >> 4) == 6) {
			r->k6.vlan_id = outer_vid;
			return parse_ipv6(ctx, r, 0, buf, direct);
		}
		return PARSE_NON_IP;
	}
}

#endif /* EBPFIX_PARSE_H */
