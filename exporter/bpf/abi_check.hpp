// Compile-time proof that the daemon reads the kernel's bytes where the kernel wrote them.
#pragma once

#include <cstddef>

#include "flow_abi.h"

namespace ebpfix::bpf {

static_assert(sizeof(ebpfix_key4) == 24);
static_assert(offsetof(ebpfix_key4, src_addr) == 0);
static_assert(offsetof(ebpfix_key4, dst_addr) == 4);
static_assert(offsetof(ebpfix_key4, src_port) == 8);
static_assert(offsetof(ebpfix_key4, dst_port) == 10);
static_assert(offsetof(ebpfix_key4, ifindex) == 12);
static_assert(offsetof(ebpfix_key4, vlan_id) == 16);
static_assert(offsetof(ebpfix_key4, inner_vlan_id) == 18);
static_assert(offsetof(ebpfix_key4, protocol) == 20);
static_assert(offsetof(ebpfix_key4, direction) == 21);

static_assert(sizeof(ebpfix_key6) == 48);
static_assert(offsetof(ebpfix_key6, src_addr) == 0);
static_assert(offsetof(ebpfix_key6, dst_addr) == 16);
static_assert(offsetof(ebpfix_key6, src_port) == 32);
static_assert(offsetof(ebpfix_key6, dst_port) == 34);
static_assert(offsetof(ebpfix_key6, ifindex) == 36);
static_assert(offsetof(ebpfix_key6, vlan_id) == 40);
static_assert(offsetof(ebpfix_key6, inner_vlan_id) == 42);
static_assert(offsetof(ebpfix_key6, protocol) == 44);
static_assert(offsetof(ebpfix_key6, direction) == 45);

static_assert(sizeof(ebpfix_flow_value) == 40);
static_assert(offsetof(ebpfix_flow_value, packets) == 0);
static_assert(offsetof(ebpfix_flow_value, bytes) == 8);
static_assert(offsetof(ebpfix_flow_value, first_seen_ns) == 16);
static_assert(offsetof(ebpfix_flow_value, last_seen_ns) == 24);
static_assert(offsetof(ebpfix_flow_value, tcp_flags) == 32);
static_assert(offsetof(ebpfix_flow_value, tos) == 36);

static_assert(sizeof(ebpfix_pkt_bytes) == 16);
static_assert(sizeof(ebpfix_counters) == 5 * 16 + 2 * 8);
static_assert(offsetof(ebpfix_counters, non_ip) == 0);
static_assert(offsetof(ebpfix_counters, parse_error) == 16);
static_assert(offsetof(ebpfix_counters, truncated) == 32);
static_assert(offsetof(ebpfix_counters, map_full) == 48);
static_assert(offsetof(ebpfix_counters, fragments) == 64);
static_assert(offsetof(ebpfix_counters, flows_created) == 80);
static_assert(offsetof(ebpfix_counters, insert_races) == 88);

}  // namespace ebpfix::bpf
