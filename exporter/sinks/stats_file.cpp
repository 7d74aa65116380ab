#include "sinks/stats_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>

namespace ebpfix::sinks {

namespace {

std::string local_time_text(std::int64_t unix_s) {
    const std::time_t t = static_cast<std::time_t>(unix_s);
    std::tm tm{};
    char buf[32];
    if (localtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0)
        return std::to_string(unix_s);
    return buf;
}

std::string u(std::uint64_t v) { return std::to_string(v); }

}  // namespace

std::string format_stats_text(const CycleStats& s) {
    auto pb = [](const char* name, const PacketsBytes& v) {
        return std::string(name) + "=" + u(v.packets) + "/" + u(v.bytes);
    };
    // flowcap's line up to "Drops:", then ebpfix's counters as name=packets/bytes.
    return "[" + local_time_text(s.timestamp) + "] Exported: " + u(s.active) + " active, " + u(s.inactive) +
           " inactive, " + u(s.closed) + " closed | Total flows: " + u(s.total_flows) + " | Bytes: " +
           u(s.total_bytes) + " | Packets: " + u(s.total_packets) + " | Drops: " + pb("non_ip", s.drop_non_ip) +
           " " + pb("parse_error", s.drop_parse_error) + " " + pb("truncated", s.drop_truncated) + " " +
           pb("map_full", s.drop_map_full) + " " + pb("sampled_out", s.sampled_out) + " " + pb("excluded", s.excluded) +
           " " + pb("own_export", s.own_export) + " | " + pb("fragments", s.fragments) +
           " exported_records=" + u(s.exported_records) + " evicted=" + u(s.evicted) + " forced=" + u(s.forced) +
           " kernel_flows_drained=" + u(s.kernel_flows_drained) + " drain_ms=" + u(s.drain_ms) +
           " send_errors=" + u(s.send_errors);
}

std::string format_stats_json(const CycleStats& s) {
    std::string out;
    auto num = [&](const char* name, std::uint64_t v) {
        out += out.empty() ? "{\"" : ",\"";
        out += name;
        out += "\":";
        out += u(v);
    };
    auto pb = [&](const char* name, const PacketsBytes& v) {
        num(name, v.packets);
        num((std::string(name) + "_bytes").c_str(), v.bytes);
    };
    // flowcap's keys in its (sorted) order, then ebpfix's.
    num("active", s.active);
    num("closed", s.closed);
    num("inactive", s.inactive);
    out += ",\"timestamp\":" + std::to_string(s.timestamp);
    num("total_bytes", s.total_bytes);
    num("total_flows", s.total_flows);
    num("total_packets", s.total_packets);
    pb("drop_non_ip", s.drop_non_ip);
    pb("drop_parse_error", s.drop_parse_error);
    pb("drop_truncated", s.drop_truncated);
    pb("drop_map_full", s.drop_map_full);
    pb("sampled_out", s.sampled_out);
    pb("excluded", s.excluded);
    pb("own_export", s.own_export);
    num("fragments", s.fragments.packets);
    num("fragment_bytes", s.fragments.bytes);
    num("exported_records", s.exported_records);
    num("evicted", s.evicted);
    num("forced", s.forced);
    num("kernel_flows_drained", s.kernel_flows_drained);
    num("drain_ms", s.drain_ms);
    num("send_errors", s.send_errors);
    out += '}';
    return out;
}

StatsFileWriter::StatsFileWriter(std::string path, LogFormat format)
    : format_(format), file_(std::move(path), "stats file: empty path") {}

StatsFileWriter::~StatsFileWriter() = default;

bool StatsFileWriter::write(const CycleStats& stats) {
    std::string line = format_ == LogFormat::json ? format_stats_json(stats) : format_stats_text(stats);
    line += '\n';
    // fsync'd: a cycle that was reported survives a crash (stdout is not synced).
    if (file_.append(line, /*sync=*/true) != 0) {
        ++write_errors_;
        return false;
    }
    ++lines_written_;
    return true;
}

bool StatsFileWriter::reopen() { return file_.reopen(); }

}  // namespace ebpfix::sinks
