// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TC adapter (TCX links or clsact filters): ingress and egress, for devices with an
 * Ethernet header and for L3-only devices (tun, WireGuard). Also the program the daemon
 * runs with BPF_PROG_TEST_RUN to replay capture files. Never changes the packet; always
 * lets the next program run.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define EBPFIX_HOOK tc
#define EBPFIX_CTX struct __sk_buff
#include "ctx_skb.h"
#include "account.h"

/* TC_ACT_UNSPEC == TCX_NEXT (-1): the next program or the default action decides. */
SEC("tc")
int ebpfix_tc_in_eth(struct __sk_buff *skb)
{
	count_packet(skb, true, EBPFIX_DIR_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ebpfix_tc_out_eth(struct __sk_buff *skb)
{
	count_packet(skb, true, EBPFIX_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ebpfix_tc_in_l3(struct __sk_buff *skb)
{
	count_packet(skb, false, EBPFIX_DIR_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ebpfix_tc_out_l3(struct __sk_buff *skb)
{
	count_packet(skb, false, EBPFIX_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
