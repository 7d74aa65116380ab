// RAII owner of the loaded kernel programs and their maps (bpftool skeleton of the
// linked bpf/*.bpf.c, embedded in the binary). Knows nothing of devices or cgroups:
// the captures (exporter/capture/) attach its programs.
#pragma once

#include <cstddef>
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

// The hook kinds whose programs are loaded (the others are left out of the kernel).
struct HookKinds {
    bool tc = true;
    bool xdp = false;
    bool cgroup = false;
    bool sockets = false;  // cgroup/sock_create: the owner of each new socket (attribution)
};

struct ProgramOptions {
    std::uint32_t map_entries = EBPFIX_DEFAULT_MAP_ENTRIES;  // flow slots, IPv4 and IPv6 together
    HookKinds hooks;
    bool time_from_packet = false;  // replaying a capture: flow times from the test run's time stamp
    bool force_load_bytes = false;  // tests: always take the load-bytes path
    bool verbose = false;           // print the verifier's log when a program is refused
};

// The memory the daemon shares with the programs (see bpf/maps.h): slot counters, slot
// keys, the dirty bitmap and the free-slot ring, mapped read-write.
struct SharedTables {
    ebpfix_slot* slots = nullptr;
    const ebpfix_slot_key* keys = nullptr;
    std::uint64_t* dirty = nullptr;       // one bit per slot
    std::uint64_t* free_ring = nullptr;   // slot_count entries, each a slot number
    ebpfix_free_pos* free_pos = nullptr;  // the ring's head (programs) and tail (daemon)
    std::uint32_t slot_count = 0;
    std::uint32_t dirty_words = 0;
};

class FlowProgram {
public:
    // Opens, sizes and loads the programs, maps the shared tables and puts every slot in
    // the free-slot ring. Throws BpfError; a refusal for want of privileges names the
    // capabilities.
    explicit FlowProgram(const ProgramOptions& options);
    ~FlowProgram();
    FlowProgram(const FlowProgram&) = delete;
    FlowProgram& operator=(const FlowProgram&) = delete;

    int tc_program_fd(Direction direction, LinkLayer link_layer) const;
    int xdp_program_fd() const;
    int cgroup_program_fd(Direction direction) const;
    int sock_create_program_fd() const;

    int index4_fd() const;
    int index6_fd() const;
    int returned_slots_fd() const;  // slots the programs could not index, for the ring
    int counters_fd() const;
    int exclude4_fd() const;
    int exclude6_fd() const;
    int owners_fd() const;
    const SharedTables& tables() const noexcept { return tables_; }
    std::uint32_t map_entries() const noexcept { return tables_.slot_count; }
    bool replay() const noexcept { return replay_; }

    // Returns after every program that was running when it was called has finished
    // (the kernel's synchronize_rcu, through an update of the "grace" map).
    void wait_for_running_programs() const;

    // Runtime knobs (struct ebpfix_knobs), written straight into the programs' memory.
    ebpfix_knobs& knobs() const noexcept;

private:
    flow_bpf* skel_ = nullptr;
    SharedTables tables_;
    std::size_t slots_bytes_ = 0, keys_bytes_ = 0, dirty_bytes_ = 0, ring_bytes_ = 0;
    int grace_inner_fd_ = -1;
    bool replay_ = false;
};

}  // namespace ebpfix::bpf
