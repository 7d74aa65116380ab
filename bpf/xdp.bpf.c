// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * XDP adapter: ingress only (XDP sees no egress; the daemon keeps egress on TC unless
 * told otherwise). Always XDP_PASS: counting never changes what the device delivers.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define EBPFIX_HOOK xdp
#define EBPFIX_CTX struct xdp_md
#include "maps.h"

static __always_inline void *ctx_data(struct xdp_md *x)
{
	return (void *)(long)x->data;
}

static __always_inline void *ctx_data_end(struct xdp_md *x)
{
	return (void *)(long)x->data_end;
}

/* The whole frame, including fragments of a multi-buffer frame. */
static __always_inline __u32 ctx_wire_len(struct xdp_md *x)
{
	return (__u32)bpf_xdp_get_buff_len(x);
}

static __always_inline int ctx_load(struct xdp_md *x, __u32 off, void *to, __u32 len)
{
	return bpf_xdp_load_bytes(x, off, to, len);
}

/* XDP frames are never GSO super-packets. */
static __always_inline __u32 ctx_gso_segs(struct xdp_md *x)
{
	return 1;
}

static __always_inline __u32 ctx_gso_size(struct xdp_md *x)
{
	return 0;
}

/* Tags are still in the frame at XDP: the parser reads them there. */
static __always_inline bool ctx_vlan(struct xdp_md *x, __u16 *vid)
{
	return false;
}

static __always_inline __u32 ctx_ifindex(struct xdp_md *x)
{
	return x->ingress_ifindex;
}

static __always_inline __u64 ctx_time_ns(struct xdp_md *x)
{
	return bpf_ktime_get_coarse_ns();
}

/* No socket is known before the stack has seen the packet. */
static __always_inline __u64 ctx_owner(struct xdp_md *x, __u8 dir)
{
	return 0;
}

static __always_inline void ctx_record_owner(struct xdp_md *x, __u64 cookie)
{
}

#include "account.h"

SEC("xdp")
int ebpfix_xdp(struct xdp_md *ctx)
{
	count_packet(ctx, true, EBPFIX_DIR_INGRESS);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
