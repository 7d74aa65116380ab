// RAII owner of the loaded kernel flow program (bpftool skeleton, embedded object).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/flow_types.hpp"
#include "flow_abi.h"

struct flow_bpf;

namespace ebpfix::bpf {

class BpfError : public std::runtime_error {
public:
    BpfError(const std::string& what, int err);
    int error() const noexcept { return err_; }

private:
    int err_;
};

// Which program variant a device needs: Ethernet header or bare IP (tun, WireGuard).
enum class LinkLayer { ethernet, l3 };

struct ProgramOptions {
    std::uint32_t map_entries = EBPFIX_DEFAULT_MAP_ENTRIES;  // per map, per generation
    bool time_from_skb = false;     // --pcap: flow times from skb->tstamp
    bool force_load_bytes = false;  // tests: always take the bpf_skb_load_bytes path
};

class FlowProgram {
public:
    explicit FlowProgram(const ProgramOptions& options);  // opens and loads; throws BpfError
    ~FlowProgram();
    FlowProgram(const FlowProgram&) = delete;
    FlowProgram& operator=(const FlowProgram&) = delete;

    int program_fd(Direction direction, LinkLayer link_layer) const;
    // generation is 0 or 1: the maps "a" and "b" of each family.
    int flows4_fd(int generation) const;
    int flows6_fd(int generation) const;
    int flows4_active_fd() const;
    int flows6_active_fd() const;
    int counters_fd() const;
    std::uint32_t map_entries() const noexcept { return map_entries_; }

private:
    flow_bpf* skel_ = nullptr;
    std::uint32_t map_entries_;
};

}  // namespace ebpfix::bpf
