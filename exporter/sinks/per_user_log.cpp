#include "sinks/per_user_log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/log.hpp"
#include "sinks/flow_log.hpp"

namespace ebpfix::sinks {

namespace {

constexpr const char* header = "direction,bytes,src_ip,dst_ip,timestamp,total_in,total_out\n";

// The totals of the last line of an existing file (a restart continues them).
PerUserLogSink::Totals last_totals(const std::string& path) {
    std::ifstream in(path);
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    PerUserLogSink::Totals t;
    const auto comma = last.rfind(',');
    if (comma == std::string::npos) return t;
    const auto before = last.rfind(',', comma - 1);
    if (before == std::string::npos) return t;
    try {
        t.in = std::stoull(last.substr(before + 1, comma - before - 1));
        t.out = std::stoull(last.substr(comma + 1));
    } catch (const std::exception&) {
        return {};  // the column line, or a line this version did not write
    }
    return t;
}

// An interface name made safe for a file name.
std::string file_token(const std::string& ifname) {
    std::string out;
    for (char c : ifname) out += (c == '/' || c == '\0' || c == '.') ? '_' : c;
    return out.empty() ? "_" : out;
}

}  // namespace

PerUserLogSink::PerUserLogSink(std::string dir) : dir_(std::move(dir)) {
    struct stat st {};
    if (::stat(dir_.c_str(), &st) != 0) throw OutputError(dir_ + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) throw OutputError(dir_ + ": not a directory (per-user log)");
    if (::access(dir_.c_str(), W_OK) != 0) throw OutputError(dir_ + ": " + std::strerror(errno));
}

PerUserLogSink::Totals PerUserLogSink::totals(const std::string& ifname, std::uint32_t uid) const {
    auto it = files_.find({ifname, uid});
    return it == files_.end() ? Totals{} : it->second.totals;
}

std::string PerUserLogSink::format_line(const FlowRecord& r, const Totals& t) {
    char ts[40];
    std::snprintf(ts, sizeof ts, "%llu.%09llu", static_cast<unsigned long long>(r.end_ms / 1000),
                  static_cast<unsigned long long>(r.end_ms % 1000 * 1'000'000));
    return std::string(r.key.direction == Direction::ingress ? "in" : "out") + "," + std::to_string(r.bytes) + "," +
           address_text(r.key.src_addr, r.key.ip_version) + "," + address_text(r.key.dst_addr, r.key.ip_version) +
           "," + ts + "," + std::to_string(t.in) + "," + std::to_string(t.out);
}

PerUserLogSink::File& PerUserLogSink::file_for(const std::string& ifname, std::uint32_t uid) {
    auto [it, fresh] = files_.try_emplace({ifname, uid});
    File& f = it->second;
    if (!f.out) {
        const std::string path = dir_ + "/" + file_token(ifname) + "_" + std::to_string(uid) + ".csv";
        struct stat st {};
        const bool exists = ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
        if (fresh && exists) f.totals = last_totals(path);
        f.out = std::make_unique<AppendFile>(path, "per-user log: empty path");  // throws OutputError
        if (!exists && f.out->append(header) != 0) ++counters_.errors;
    }
    return f;
}

void PerUserLogSink::cycle(const CycleContext& ctx) {
    std::string ifname;
    for (const FlowRecord& r : ctx.records) {
        const attribution::Owner* owner = ctx.owner && r.key.owner ? ctx.owner(r.key.owner) : nullptr;
        if (owner == nullptr || !owner->uid) {
            ++counters_.records_not_exportable;
            continue;
        }
        ifname = ctx.ifname ? ctx.ifname(r.key.ifindex) : std::to_string(r.key.ifindex);
        try {
            File& f = file_for(ifname, *owner->uid);
            (r.key.direction == Direction::ingress ? f.totals.in : f.totals.out) += r.bytes;
            if (f.out->append(format_line(r, f.totals) + "\n") == 0) {
                ++counters_.records_delivered;
            } else {
                ++counters_.errors;
                ++counters_.records_not_sent;
                counters_.packets_not_sent += r.packets;
                counters_.octets_not_sent += r.bytes;
            }
        } catch (const OutputError& e) {
            if (counters_.errors++ == 0) log_warning("per-user log: " + std::string(e.what()));
            ++counters_.records_not_sent;
            counters_.packets_not_sent += r.packets;
            counters_.octets_not_sent += r.bytes;
        }
    }
}

void PerUserLogSink::reopen() {
    for (auto& [key, f] : files_) f.out.reset();  // totals stay; files open again on the next line
}

}  // namespace ebpfix::sinks
