#include "daemon/interface_hooks.hpp"

#include <net/if.h>

#include <algorithm>

namespace ebpfix::daemon {

InterfaceHooks::InterfaceHooks(const bpf::FlowProgram& program, bpf::AttachMode mode, Logger log)
    : program_(program), mode_(mode), log_(std::move(log)) {}

void InterfaceHooks::attach(Hooked& h, unsigned ifindex) {
    const bpf::LinkLayer layer = bpf::link_layer_of(h.name);
    // Egress first, then ingress: on failure the unique_ptrs undo what was done.
    auto egress = std::make_unique<bpf::HookAttachment>(program_.tc_program_fd(Direction::egress, layer), ifindex,
                                                        Direction::egress, mode_);
    auto ingress = std::make_unique<bpf::HookAttachment>(program_.tc_program_fd(Direction::ingress, layer), ifindex,
                                                         Direction::ingress, mode_);
    for (const auto* hook : {egress.get(), ingress.get()})
        for (const auto& note : hook->attach_notes()) log_(note);
    h.ifindex = ifindex;
    remember(ifindex, h.name);
    h.egress = std::move(egress);
    h.ingress = std::move(ingress);
}

void InterfaceHooks::attach_all(const std::vector<std::string>& names) {
    std::vector<Hooked> hooked;
    for (const auto& name : names) {
        if (std::any_of(hooked.begin(), hooked.end(), [&](const Hooked& h) { return h.name == name; })) continue;
        const unsigned ifindex = if_nametoindex(name.c_str());
        if (ifindex == 0) throw bpf::BpfError("no such network interface '" + name + "'", ENODEV);
        Hooked h;
        h.name = name;
        attach(h, ifindex);
        log_("attached to " + name + " (ifindex " + std::to_string(ifindex) + ", " +
             (h.ingress->mode() == bpf::AttachMode::tcx ? "tcx" : "clsact") + ")");
        hooked.push_back(std::move(h));
    }
    hooked_ = std::move(hooked);
}

void InterfaceHooks::refresh() {
    for (Hooked& h : hooked_) {
        const unsigned now = if_nametoindex(h.name.c_str());
        const bool attached = h.ingress != nullptr;
        if (attached && now == h.ifindex) continue;
        if (attached) {
            h.ingress.reset();
            h.egress.reset();
            log_("interface " + h.name + " disappeared (ifindex " + std::to_string(h.ifindex) +
                 "); will attach again when it returns");
        }
        if (now == 0) continue;
        try {
            attach(h, now);
            log_("attached again to " + h.name + " (ifindex " + std::to_string(now) + ")");
        } catch (const std::exception& e) {
            h.ingress.reset();
            h.egress.reset();
            log_("cannot attach to " + h.name + " yet: " + e.what());
        }
    }
}

void InterfaceHooks::set_names(const std::vector<std::string>& names) {
    std::vector<Hooked> next;
    for (const Hooked& h : hooked_)
        if (std::find(names.begin(), names.end(), h.name) == names.end()) log_("detached from " + h.name);
    for (const auto& name : names) {
        if (std::any_of(next.begin(), next.end(), [&](const Hooked& h) { return h.name == name; })) continue;
        auto it = std::find_if(hooked_.begin(), hooked_.end(), [&](const Hooked& h) { return h.name == name; });
        if (it != hooked_.end()) {
            next.push_back(std::move(*it));
            continue;
        }
        Hooked h;
        h.name = name;
        const unsigned ifindex = if_nametoindex(name.c_str());
        if (ifindex == 0) {
            log_("interface " + name + " is not there; will attach when it appears");
        } else {
            try {
                attach(h, ifindex);
                log_("attached to " + name + " (ifindex " + std::to_string(ifindex) + ")");
            } catch (const std::exception& e) {
                log_("cannot attach to " + name + ": " + e.what());
            }
        }
        next.push_back(std::move(h));
    }
    hooked_ = std::move(next);  // hooks of removed names are destroyed (detached) here
}

void InterfaceHooks::detach_all() { hooked_.clear(); }

std::vector<InterfaceHooks::Status> InterfaceHooks::status() const {
    std::vector<Status> out;
    for (const Hooked& h : hooked_)
        out.push_back({h.name, h.ingress ? h.ifindex : 0u, h.ingress != nullptr,
                       h.ingress ? h.ingress->mode() : mode_});
    return out;
}

std::string InterfaceHooks::name_of(unsigned ifindex) const {
    for (const Hooked& h : hooked_)
        if (h.ifindex == ifindex) return h.name;
    if (auto it = names_seen_.find(ifindex); it != names_seen_.end()) return it->second;
    char buf[IF_NAMESIZE] = {};
    if (if_indextoname(ifindex, buf) != nullptr) return buf;
    return "if" + std::to_string(ifindex);
}

}  // namespace ebpfix::daemon
