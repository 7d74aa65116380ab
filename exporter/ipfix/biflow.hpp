// RFC 5103 biflows built from the uniflow records of one export cycle: the two
// directions of a connection on one device (ingress and egress) become one record whose
// source is the initiator when that can be told. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/flow_types.hpp"

namespace ebpfix::ipfix {

// biflowDirection (IE 239) values, RFC 5103 section 6.3.
enum class BiflowDirection : std::uint8_t {
    arbitrary = 0,          // forward and reverse picked without knowing who started
    initiator = 1,          // the forward source started the biflow
    reverse_initiator = 2,  // the forward destination started it
    perimeter = 3,          // the forward source is inside a perimeter (not used by ebpfix)
};

struct Biflow {
    FlowRecord forward;                 // its key is the biflow's key
    std::optional<FlowRecord> reverse;  // the other direction; none: reverse counts are 0
    BiflowDirection direction = BiflowDirection::arbitrary;
};

// The key of the other direction of `key`'s connection, as the flow table keys it:
// addresses and ports swapped, the same protocol, VLANs and device, the opposite
// direction, owner 0 (the caller compares owners). ICMP and ICMPv6 have no ports: an echo,
// timestamp or address-mask request pairs with its reply (type/code in dst_port); other
// ICMP types have no other direction (nullopt).
std::optional<FlowKey> reverse_key(const FlowKey& key) noexcept;

// Pairs the records of ONE cycle. Two records are one biflow when one's key is the
// other's reverse_key and their owners (socket cookies) are equal or one is 0. The
// forward record is the initiator: for TCP the one with SYN and no ACK when exactly one
// has that; for ICMP the request; otherwise the one with the earlier start_ms. When none
// of these tells (same start_ms), the record that comes first in `records` is forward and
// the direction is arbitrary. A record without a partner is a biflow of its own, with no
// reverse; its direction is initiator for a TCP SYN without ACK or an ICMP request,
// reverse_initiator for an ICMP reply, else arbitrary.
//
// Every record is in exactly one Biflow (as forward or reverse), so the packets and
// octets of the result always sum to those of the input. Biflows come in the input order
// of their first record.
std::vector<Biflow> pair_biflows(std::span<const FlowRecord> records);

}  // namespace ebpfix::ipfix
