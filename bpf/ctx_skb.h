/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet access for hooks that see a struct __sk_buff (TC, cgroup_skb): what parse.h
 * and account.h need, and nothing else. cgroup_skb programs define
 * EBPFIX_CTX_SOCKET_HOOK before including this (no wire_len there; the socket is
 * always known).
 */
#ifndef EBPFIX_CTX_SKB_H
#define EBPFIX_CTX_SKB_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"

static __always_inline void *ctx_data(struct __sk_buff *skb)
{
	return (void *)(long)skb->data;
}

static __always_inline void *ctx_data_end(struct __sk_buff *skb)
{
	return (void *)(long)skb->data_end;
}

/* Bytes from the start of the data on the wire: longer than the data only when a
 * replayed capture cut the packet at its snaplen (the daemon passes the original length
 * as wire_len). */
static __always_inline __u32 ctx_wire_len(struct __sk_buff *skb)
{
#ifdef EBPFIX_CTX_SOCKET_HOOK
	return skb->len;
#else
	__u32 wire = skb->wire_len;

	return wire > skb->len ? wire : skb->len;
#endif
}

static __always_inline int ctx_load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes(skb, off, to, len);
}

static __always_inline __u32 ctx_gso_segs(struct __sk_buff *skb)
{
	return skb->gso_segs;
}

static __always_inline __u32 ctx_gso_size(struct __sk_buff *skb)
{
	return skb->gso_size;
}

static __always_inline bool ctx_vlan(struct __sk_buff *skb, __u16 *vid)
{
	if (!skb->vlan_present)
		return false;
	*vid = skb->vlan_tci & 0x0fff;
	return true;
}

static __always_inline __u32 ctx_ifindex(struct __sk_buff *skb)
{
	return skb->ifindex;
}

static __always_inline __u64 ctx_time_ns(struct __sk_buff *skb)
{
	return ebpfix_time_from_packet ? skb->tstamp : bpf_ktime_get_coarse_ns();
}

/* The cookie of the local socket the packet belongs to, 0 when the hook has none
 * (forwarded traffic, TC ingress) or only a mini socket (a SYN-ACK's request socket,
 * TIME_WAIT): the daemon joins those by their 5-tuple. At TC ingress a socket is never
 * the receiver's: a veth peer hands its skb over with the sender's socket still set. */
static __always_inline __u64 ctx_owner(struct __sk_buff *skb, __u8 dir)
{
	struct bpf_sock *sk = skb->sk;

#ifndef EBPFIX_CTX_SOCKET_HOOK
	if (dir == EBPFIX_DIR_INGRESS)
		return 0;
#else
	(void)dir;
#endif

	if (!sk || !bpf_sk_fullsock(sk))
		return 0;
	return bpf_get_socket_cookie(skb);
}

/*
 * A new flow of a local socket: makes sure the daemon can find the socket's owner by
 * cookie. The socket's storage has it (set at creation, cloned to accepted sockets); a
 * socket created before ebpfix started gets what the packet knows (uid, cgroup).
 * Once per flow, never per packet.
 */
static __always_inline void ctx_record_owner(struct __sk_buff *skb, __u64 cookie)
{
	struct ebpfix_owner partial = {};
	struct ebpfix_owner *o;
	struct bpf_sock *sk;

	if (bpf_map_lookup_elem(&owners, &cookie))
		return;
	sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	o = sk ? bpf_sk_storage_get(&owner_sk, sk, 0, 0) : NULL;
	if (!o) {
		partial.uid = bpf_get_socket_uid(skb);
		partial.cgroup_id = bpf_skb_cgroup_id(skb);
		partial.flags = EBPFIX_OWNER_PARTIAL;
		o = &partial;
	}
	bpf_map_update_elem(&owners, &cookie, o, BPF_NOEXIST);
}

#endif /* EBPFIX_CTX_SKB_H */
