// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reference programs for the kernel benchmark (test/bench/kernel_bench.cpp), not part
 * of the product: the "bare LRU lookup-and-increment" with a 16-byte and a 48-byte key
 * that issue 6 quotes for scale. Measured in the same run and by the same method as the
 * flow program, they show which numbers the method produces for the least a flow
 * counter can do. Untagged Ethernet + IPv4 + TCP/UDP only, no checks beyond what the
 * verifier needs: a reference, not a parser.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define REF_ENTRIES 131072 /* the benchmark sets twice its flow count */

struct ref_key16 {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 protocol;
	__u8 pad[3];
};

struct ref_key48 {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 ifindex;
	__u8 protocol;
	__u8 pad[7];
};

struct ref_value {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, REF_ENTRIES);
	__type(key, struct ref_key16);
	__type(value, struct ref_value);
} ref_lru16 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, REF_ENTRIES);
	__type(key, struct ref_key48);
	__type(value, struct ref_value);
} ref_lru48 SEC(".maps");

/* Fixed offsets: Ethernet, a 20-byte IPv4 header, then the ports. */
static __always_inline struct iphdr *ref_ipv4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) + 4 > end)
		return 0;
	return ip;
}

static __always_inline void ref_count(void *map, const void *key, __u64 bytes)
{
	struct ref_value *v = bpf_map_lookup_elem(map, key);

	if (v) {
		__sync_fetch_and_add(&v->packets, 1);
		__sync_fetch_and_add(&v->bytes, bytes);
	} else {
		struct ref_value nv = { .packets = 1, .bytes = bytes };

		bpf_map_update_elem(map, key, &nv, BPF_NOEXIST);
	}
}

SEC("tc")
int ref_lru16_count(struct __sk_buff *skb)
{
	struct iphdr *ip = ref_ipv4(skb);
	struct ref_key16 k = {};
	__u16 *ports;

	if (!ip)
		return TC_ACT_UNSPEC;
	ports = (__u16 *)(ip + 1);
	k.saddr = ip->saddr;
	k.daddr = ip->daddr;
	k.sport = ports[0];
	k.dport = ports[1];
	k.protocol = ip->protocol;
	ref_count(&ref_lru16, &k, skb->len);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ref_lru48_count(struct __sk_buff *skb)
{
	struct iphdr *ip = ref_ipv4(skb);
	struct ref_key48 k = {};
	__u16 *ports;

	if (!ip)
		return TC_ACT_UNSPEC;
	ports = (__u16 *)(ip + 1);
	/* IPv4-mapped addresses, as a single-map design with 16-byte addresses would hold. */
	k.saddr[10] = 0xff;
	k.saddr[11] = 0xff;
	__builtin_memcpy(&k.saddr[12], &ip->saddr, 4);
	k.daddr[10] = 0xff;
	k.daddr[11] = 0xff;
	__builtin_memcpy(&k.daddr[12], &ip->daddr, 4);
	k.sport = ports[0];
	k.dport = ports[1];
	k.ifindex = skb->ifindex;
	k.protocol = ip->protocol;
	ref_count(&ref_lru48, &k, skb->len);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
