// Per-user and per-cgroup packet and byte totals by direction, for Prometheus. A sink:
// it sums the exported records of attributed flows. At most label_limit distinct users
// (cgroups) get series of their own; the rest are folded into "other" and the records
// so folded are counted.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "sinks/sink.hpp"

namespace ebpfix::sinks {

class OwnerTotalsSink : public Sink {
public:
    OwnerTotalsSink(bool per_user, bool per_cgroup, std::uint32_t label_limit);

    std::string kind() const override { return "owner_totals"; }
    std::string name() const override { return "metrics"; }
    std::string identity() const override;
    void cycle(const CycleContext& ctx) override;
    SinkCounters counters() const override { return {}; }

    struct Totals {
        std::uint64_t packets = 0, bytes = 0;
    };
    // (label value, direction "ingress"/"egress") -> totals.
    using Table = std::map<std::pair<std::string, std::string>, Totals>;
    const Table& users() const noexcept { return users_; }
    const Table& cgroups() const noexcept { return cgroups_; }
    std::uint64_t users_folded() const noexcept { return users_folded_; }
    std::uint64_t cgroups_folded() const noexcept { return cgroups_folded_; }

private:
    void add(Table& table, std::uint64_t& folded, const std::string& label, const FlowRecord& r);

    bool per_user_, per_cgroup_;
    std::uint32_t limit_;
    Table users_, cgroups_;
    std::uint64_t users_folded_ = 0, cgroups_folded_ = 0;
};

}  // namespace ebpfix::sinks
