// cgroup mode: cgroup_skb programs on ingress and egress of a cgroup v2 directory (and
// so of every cgroup below it), as BPF links that go with the process. Only packets of
// local sockets in that subtree pass there: forwarded traffic and other cgroups' sockets
// are not seen.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "capture/capture.hpp"

namespace ebpfix::capture {

class CgroupCapture : public Capture {
public:
    CgroupCapture(const Settings& settings, const bpf::FlowProgram& program, Logger log);
    ~CgroupCapture() override;

    void attach() override;
    void refresh() override {}
    void set_interfaces(const std::vector<std::string>&) override {}
    void detach() override;
    std::vector<Status> status() const override;
    std::string name_of(unsigned ifindex) const override;
    std::map<unsigned, std::string> names_seen() const override { return names_; }
    std::string describe() const override { return "cgroup " + settings_.cgroup_path; }

private:
    Settings settings_;
    const bpf::FlowProgram& program_;
    Logger log_;
    int ingress_link_ = -1;
    int egress_link_ = -1;
    mutable std::map<unsigned, std::string> names_;  // devices named in records so far
};

// Attribution's socket hook: cgroup/sock_create on a cgroup v2 directory, as a BPF link
// that goes with the process. Every socket created below it records its creator.
class SocketHook {
public:
    // Throws bpf::BpfError naming the cgroup.
    SocketHook(const bpf::FlowProgram& program, const std::string& cgroup_path);
    ~SocketHook();
    SocketHook(const SocketHook&) = delete;
    SocketHook& operator=(const SocketHook&) = delete;

private:
    int link_ = -1;
};

}  // namespace ebpfix::capture
