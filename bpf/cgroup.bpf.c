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

/*
 * Attribution: every socket created below the cgroup records its creator (process, uid,
 * gid, cgroup, command) in its storage, which accepted sockets inherit, and under its
 * cookie for the daemon. Always allows the socket.
 */
SEC("cgroup/sock_create")
int ebpfix_sock_create(struct bpf_sock *sk)
{
	struct ebpfix_owner o = {};
	struct ebpfix_owner *stored;
	__u64 cookie, id;

	id = bpf_get_current_pid_tgid();
	o.pid = id >> 32;
	id = bpf_get_current_uid_gid();
	o.uid = (__u32)id;
	o.gid = id >> 32;
	o.cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o.comm, sizeof(o.comm));
	stored = bpf_sk_storage_get(&owner_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (stored)
		*stored = o;
	cookie = bpf_get_socket_cookie(sk);
	bpf_map_update_elem(&owners, &cookie, &o, BPF_ANY);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
