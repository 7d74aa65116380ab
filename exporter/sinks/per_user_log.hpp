// traffic_meter's per-user log: one CSV file per socket owner (uid) and device,
// DIR/<ifname>_<uid>.csv, columns
//   direction,bytes,src_ip,dst_ip,timestamp,total_in,total_out
// one line per exported flow record (not per packet): direction "in" or "out", the
// record's L3 bytes, its addresses, its end time as seconds.nanoseconds, and the uid's
// running byte totals on that device. A new file starts with the column line. Totals
// live in memory across SIGHUP and logrotate (a reopened file continues them); at start a
// file that already exists continues from its last line. Records without a known owner
// (forwarded traffic, attribution off) are not written here.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "sinks/append_file.hpp"
#include "sinks/sink.hpp"

namespace ebpfix::sinks {

class PerUserLogSink : public Sink {
public:
    // Throws OutputError when dir is not a writable directory.
    explicit PerUserLogSink(std::string dir);

    std::string kind() const override { return "per_user_log"; }
    std::string name() const override { return dir_; }
    std::string identity() const override { return "per_user_log " + dir_; }
    void cycle(const CycleContext& ctx) override;
    void reopen() override;
    SinkCounters counters() const override { return counters_; }

    struct Totals {
        std::uint64_t in = 0, out = 0;
    };
    // The running totals of (ifname, uid), for tests and metrics.
    Totals totals(const std::string& ifname, std::uint32_t uid) const;

    // One line (without the newline).
    static std::string format_line(const FlowRecord& record, const Totals& totals);

private:
    struct File {
        std::unique_ptr<AppendFile> out;  // nullptr after reopen(): opened again on the next line
        Totals totals;
    };
    File& file_for(const std::string& ifname, std::uint32_t uid);

    std::string dir_;
    std::map<std::pair<std::string, std::uint32_t>, File> files_;
    SinkCounters counters_;
};

}  // namespace ebpfix::sinks
