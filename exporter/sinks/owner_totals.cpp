#include "sinks/owner_totals.hpp"

#include <set>

namespace ebpfix::sinks {

OwnerTotalsSink::OwnerTotalsSink(bool per_user, bool per_cgroup, std::uint32_t label_limit)
    : per_user_(per_user), per_cgroup_(per_cgroup), limit_(label_limit) {}

std::string OwnerTotalsSink::identity() const {
    return std::string("owner_totals") + (per_user_ ? " user" : "") + (per_cgroup_ ? " cgroup" : "") + " limit " +
           std::to_string(limit_);
}

void OwnerTotalsSink::add(Table& table, std::uint64_t& folded, const std::string& label, const FlowRecord& r) {
    const std::string dir = r.key.direction == Direction::egress ? "egress" : "ingress";
    auto it = table.find({label, dir});
    if (it == table.end()) {
        std::set<std::string> labels;
        for (const auto& [key, v] : table) labels.insert(key.first);
        if (!labels.count(label) && labels.size() - labels.count("other") >= limit_) {
            ++folded;
            it = table.try_emplace({"other", dir}).first;
        } else {
            it = table.try_emplace({label, dir}).first;
        }
    }
    it->second.packets += r.packets;
    it->second.bytes += r.bytes;
}

void OwnerTotalsSink::cycle(const CycleContext& ctx) {
    if (!ctx.owner) return;
    for (const FlowRecord& r : ctx.records) {
        if (r.key.owner == 0) continue;
        const attribution::Owner* o = ctx.owner(r.key.owner);
        if (o == nullptr) continue;
        if (per_user_ && o->uid) add(users_, users_folded_, o->user.empty() ? std::to_string(*o->uid) : o->user, r);
        if (per_cgroup_ && !o->cgroup.empty()) add(cgroups_, cgroups_folded_, o->cgroup, r);
    }
}

}  // namespace ebpfix::sinks
