// The devices ebpfix watches, by name. Each one gets the ingress and egress program
// that fits its link layer. A device that is missing at start is an error; one that
// disappears later is logged, and hooked again when a device of that name comes back.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bpf/flow_program.hpp"
#include "bpf/hook_attachment.hpp"

namespace ebpfix::daemon {

class InterfaceHooks {
public:
    using Logger = std::function<void(const std::string&)>;

    InterfaceHooks(const bpf::FlowProgram& program, bpf::AttachMode mode, Logger log);

    // Attaches to every name; throws bpf::BpfError naming the first device that is
    // missing or cannot be hooked (nothing stays attached then).
    void attach_all(const std::vector<std::string>& names);

    // Re-checks every device: detaches from vanished ones, attaches to returned or
    // re-created ones (new ifindex). Never throws; problems are logged.
    void refresh();

    // Replaces the set of names (SIGHUP): keeps hooks that stay, adds and removes others.
    void set_names(const std::vector<std::string>& names);

    void detach_all();

    struct Status {
        std::string name;
        unsigned ifindex;  // 0 while the device is missing
        bool attached;
        bpf::AttachMode mode;
    };
    std::vector<Status> status() const;

    // The name of an attached (or last attached) device, for logs and IPFIX interface names.
    std::string name_of(unsigned ifindex) const;
    // Every ifindex ever attached to, with its name.
    const std::map<unsigned, std::string>& names_seen() const noexcept { return names_seen_; }

private:
    struct Hooked {
        std::string name;
        unsigned ifindex = 0;
        std::unique_ptr<bpf::HookAttachment> ingress;
        std::unique_ptr<bpf::HookAttachment> egress;
    };
    void attach(Hooked& h, unsigned ifindex);
    void remember(unsigned ifindex, const std::string& name) { names_seen_[ifindex] = name; }

    const bpf::FlowProgram& program_;
    bpf::AttachMode mode_;
    Logger log_;
    std::vector<Hooked> hooked_;
    // Every ifindex we ever attached to: records of a device that is gone still get its name.
    std::map<unsigned, std::string> names_seen_;
};

}  // namespace ebpfix::daemon
