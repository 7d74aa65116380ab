// Tests only: a TC program that drops every packet, to show that ebpfix runs before the
// other programs on a hook. Its name must not start with "ebpfix_": attach removes stale
// ebpfix filters by that name.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int test_drop(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
