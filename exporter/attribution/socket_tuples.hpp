// The socket behind a 5-tuple, learned from flows whose key carries a socket cookie, so
// that the records of the same connection without one get its owner too: TC ingress
// (no socket is known before the stack's lookup), a SYN-ACK sent from a request socket,
// the ACKs of TIME_WAIT. Joined when a record is exported; the flow keys stay as counted.
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>

#include "common/flow_types.hpp"

namespace ebpfix::attribution {

class SocketTuples {
public:
    // Learns key.owner for the key's connection (nothing when owner is 0).
    void learn(const FlowKey& key, std::uint64_t generation);
    // The cookie of the socket of the key's connection, 0 when unknown.
    std::uint64_t find(const FlowKey& key) const;
    // Forgets connections not seen since `generation`.
    void forget_older_than(std::uint64_t generation);
    std::size_t size() const noexcept { return map_.size(); }

private:
    // The connection as the local socket sees it: local address and port first.
    struct Tuple {
        std::array<std::uint8_t, 16> local{}, remote{};
        std::uint16_t local_port = 0, remote_port = 0;
        std::uint8_t protocol = 0, ip_version = 0;
        friend bool operator==(const Tuple&, const Tuple&) = default;
    };
    struct TupleHash {
        std::size_t operator()(const Tuple& t) const noexcept;
    };
    static Tuple local_view(const FlowKey& key) noexcept;
    struct Entry {
        std::uint64_t cookie = 0;
        std::uint64_t seen = 0;
    };
    std::unordered_map<Tuple, Entry, TupleHash> map_;
};

}  // namespace ebpfix::attribution
