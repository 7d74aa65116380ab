#include "attribution/socket_tuples.hpp"

#include <cstring>

namespace ebpfix::attribution {

std::size_t SocketTuples::TupleHash::operator()(const Tuple& t) const noexcept {
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&](const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    };
    mix(t.local.data(), 16);
    mix(t.remote.data(), 16);
    mix(&t.local_port, 2);
    mix(&t.remote_port, 2);
    mix(&t.protocol, 1);
    return static_cast<std::size_t>(h);
}

SocketTuples::Tuple SocketTuples::local_view(const FlowKey& key) noexcept {
    Tuple t;
    // Egress leaves the local socket: the source is local. Ingress arrives at it.
    const bool out = key.direction == Direction::egress;
    t.local = out ? key.src_addr : key.dst_addr;
    t.remote = out ? key.dst_addr : key.src_addr;
    t.local_port = out ? key.src_port : key.dst_port;
    t.remote_port = out ? key.dst_port : key.src_port;
    t.protocol = key.protocol;
    t.ip_version = key.ip_version;
    return t;
}

void SocketTuples::learn(const FlowKey& key, std::uint64_t generation) {
    if (key.owner == 0) return;
    Entry& e = map_[local_view(key)];
    e.cookie = key.owner;
    e.seen = generation;
}

std::uint64_t SocketTuples::find(const FlowKey& key) const {
    auto it = map_.find(local_view(key));
    return it == map_.end() ? 0 : it->second.cookie;
}

void SocketTuples::forget_older_than(std::uint64_t generation) {
    for (auto it = map_.begin(); it != map_.end();)
        it = it->second.seen < generation ? map_.erase(it) : std::next(it);
}

}  // namespace ebpfix::attribution
