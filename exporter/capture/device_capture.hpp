// Devices watched by name, with TC on both directions (tc mode) or XDP on ingress and
// TC on egress (xdp mode; xdp_only leaves egress out). Each device gets the program
// variant that fits its link layer. A device missing at start is an error; one that
// disappears later is logged, and hooked again when a device of that name comes back.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "capture/capture.hpp"
#include "capture/tc_hook.hpp"
#include "capture/xdp_hook.hpp"

namespace ebpfix::capture {

class DeviceCapture : public Capture {
public:
    DeviceCapture(const Settings& settings, const bpf::FlowProgram& program, Logger log);
    ~DeviceCapture() override;

    void attach() override;
    void refresh() override;
    void set_interfaces(const std::vector<std::string>& names) override;
    void detach() override;
    std::vector<Status> status() const override;
    std::string name_of(unsigned ifindex) const override;
    std::map<unsigned, std::string> names_seen() const override { return names_seen_; }
    std::string describe() const override;

private:
    struct Hooked {
        std::string name;
        unsigned ifindex = 0;
        std::unique_ptr<XdpHook> xdp;                 // xdp mode: ingress
        std::unique_ptr<HookAttachment> tc_ingress;   // tc mode
        std::unique_ptr<HookAttachment> tc_egress;    // tc mode, and xdp mode unless xdp_only
        bool attached() const { return xdp || tc_ingress || tc_egress; }
        void reset() {
            xdp.reset();
            tc_ingress.reset();
            tc_egress.reset();
        }
    };
    void hook(Hooked& h, unsigned ifindex);
    std::string how(const Hooked& h) const;

    Settings settings_;
    const bpf::FlowProgram& program_;
    Logger log_;
    std::vector<Hooked> hooked_;
    // Every ifindex we ever attached to: records of a device that is gone keep its name.
    std::map<unsigned, std::string> names_seen_;
};

}  // namespace ebpfix::capture
