#include "fuzz/input_checks.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "pcap/pcap_reader.hpp"

namespace ebpfix::fuzz {

namespace {

[[noreturn]] void broken(const std::string& what) { throw InvariantBroken(what); }

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// One in-memory file for the process, rewritten for each input: PcapReader opens a
// path, and a memfd's /proc path costs no disk and no clean-up.
class MemFile {
public:
    MemFile() : fd_(::memfd_create("ebpfix-fuzz-pcap", MFD_CLOEXEC)) {
        if (fd_ < 0) throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~MemFile() { ::close(fd_); }
    MemFile(const MemFile&) = delete;
    MemFile& operator=(const MemFile&) = delete;

    void write(std::span<const std::uint8_t> bytes) {
        if (::ftruncate(fd_, 0) != 0) throw std::runtime_error(std::string("ftruncate: ") + std::strerror(errno));
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, off_t(done));
            if (n <= 0) throw std::runtime_error(std::string("pwrite: ") + std::strerror(errno));
            done += std::size_t(n);
        }
    }
    const std::string& path() const noexcept { return path_; }

private:
    int fd_;
    std::string path_;
};

constexpr int kSll = 113, kSll2 = 276;

void check_packet(const pcap::Packet& p, int link_type, std::uint64_t expected_number) {
    const std::string where = "packet " + std::to_string(expected_number) + ": ";
    if (p.number != expected_number) broken(where + "number " + std::to_string(p.number));
    if (p.orig_len < p.caplen) broken(where + "orig_len below caplen");
    const auto layer = pcap::link_layer_for(link_type);
    if (!layer || p.link_layer != *layer) broken(where + "link layer differs from the file's link type");
    const bool cooked = link_type == kSll || link_type == kSll2;
    if (!cooked && p.direction != Direction::ingress) broken(where + "egress outside a cooked capture");
    // The frame: as captured, or for SLL/SLL2 the cooked header replaced by 14 bytes.
    const std::size_t cooked_header = link_type == kSll ? 16 : 20;
    const std::size_t expected_size = !cooked                         ? p.caplen
                                      : p.caplen < cooked_header ? 0
                                                                 : p.caplen - cooked_header + 14;
    if (p.data.size() != expected_size)
        broken(where + "frame of " + std::to_string(p.data.size()) + " bytes for caplen " + std::to_string(p.caplen));
    // Read every byte: a frame pointing outside its buffer shows up under ASan.
    volatile std::uint8_t sum = 0;
    for (std::uint8_t b : p.data) sum = std::uint8_t(sum + b);
    if (cooked && p.data.size() >= 14)
        for (int i = 0; i < 12; ++i)
            if (p.data[std::size_t(i)] != 0) broken(where + "rebuilt Ethernet header has a MAC address");
}

// Arguments end at NUL; a last argument needs none.
std::vector<std::string> split_arguments(std::span<const std::uint8_t> input) {
    std::vector<std::string> args;
    std::string current;
    for (std::uint8_t b : input) {
        if (b == 0) {
            args.push_back(std::move(current));
            current.clear();
        } else {
            current.push_back(char(b));
        }
    }
    if (!current.empty()) args.push_back(std::move(current));
    return args;
}

}  // namespace

void check_pcap_input(std::span<const std::uint8_t> input) {
    static MemFile file;
    file.write(input);
    const std::string& path = file.path();
    const std::string prefix = path + ": ";

    std::optional<pcap::PcapReader> reader;
    try {
        reader.emplace(path);
    } catch (const pcap::PcapError& e) {
        if (!starts_with(e.what(), prefix)) broken("open error does not name the path: " + std::string(e.what()));
        return;
    }
    if (!pcap::link_layer_for(reader->link_type())) broken("opened a file of unsupported link type");
    std::uint64_t returned = 0;
    try {
        while (auto packet = reader->next()) {
            ++returned;
            check_packet(*packet, reader->link_type(), returned);
            if (reader->counts().packets != returned) broken("counts().packets differs from the packets returned");
            // Every record has a 16-byte header at least (pcapng blocks more): more
            // packets than that would be made up.
            if (returned * 16 > input.size()) broken("more packets than the file can hold");
        }
    } catch (const pcap::PcapError& e) {
        if (!starts_with(e.what(), prefix)) broken("read error does not name the path: " + std::string(e.what()));
        const std::string packet_at = prefix + "packet " + std::to_string(returned + 1) + " at offset ";
        if (!starts_with(e.what(), packet_at))
            broken("read error does not name packet " + std::to_string(returned + 1) + ": " + e.what());
    }
    const auto& counts = reader->counts();
    if (counts.packets != returned)
        broken("counts().packets " + std::to_string(counts.packets) + " but " + std::to_string(returned) + " returned");
    if (counts.truncated_packets > returned || counts.length_anomalies > returned || counts.cooked_header_cut > returned)
        broken("a count exceeds the packets returned");
}

void check_config_input(std::span<const std::uint8_t> input) {
    const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
    config::Config parsed;
    try {
        parsed = config::parse_config_text(text, "fuzz.toml");
    } catch (const config::ConfigError& e) {
        if (!starts_with(e.what(), "fuzz.toml:")) broken("ConfigError does not name the file: " + std::string(e.what()));
        return;
    }
    try {
        config::validate(parsed);
    } catch (const config::ConfigError& e) {
        broken("a parsed config fails validate(): " + std::string(e.what()));
    }
    const auto differences = config::diff(parsed, parsed);
    if (!differences.empty()) broken("diff(c, c) is not empty: " + differences.front());
}

void check_command_line_input(std::span<const std::uint8_t> input) {
    const std::vector<std::string> args = split_arguments(input);
    std::vector<const char*> argv{"ebpfix"};
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    try {
        const config::CommandLine parsed = config::parse_command_line(int(argv.size() - 1), argv.data());
        if (parsed.arguments != args) broken("the command line keeps other arguments than it was given");
    } catch (const config::UsageError&) {
        // The one exception a command line may cause.
    }
}

}  // namespace ebpfix::fuzz
