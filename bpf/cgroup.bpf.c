// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup_skb adapter: the packets of local sockets in a cgroup v2 subtree, ingress and
 * egress, from the IP header on. Forwarded traffic never reaches it. Always lets the
 * packet through (returns 1).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define EBPFIX_HOOK cgroup
#define EBPFIX_CTX struct __sk_buff
#define EBPFIX_CTX_SOCKET_HOOK
#include "ctx_skb.h"
#include "account.h"

SEC("cgroup_skb/ingress")
int ebpfix_cg_in(struct __sk_buff *skb)
{
	count_packet(skb, false, EBPFIX_DIR_INGRESS);
	return 1;
}

SEC("cgroup_skb/egress")
int ebpfix_cg_out(struct __sk_buff *skb)
{
	count_packet(skb, false, EBPFIX_DIR_EGRESS);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
