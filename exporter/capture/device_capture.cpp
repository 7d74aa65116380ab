#include "capture/device_capture.hpp"

#include <net/if.h>

#include <algorithm>
#include <cerrno>

namespace ebpfix::capture {

DeviceCapture::DeviceCapture(const Settings& settings, const bpf::FlowProgram& program, Logger log)
    : settings_(settings), program_(program), log_(std::move(log)) {}

DeviceCapture::~DeviceCapture() = default;

void DeviceCapture::hook(Hooked& h, unsigned ifindex) {
    const bpf::LinkLayer layer = link_layer_of(h.name);
    const bool xdp = settings_.mode == Mode::xdp;
    if (xdp && layer != bpf::LinkLayer::ethernet)
        throw bpf::BpfError("XDP mode needs a device with an Ethernet header; " + h.name +
                                " has none (watch it in tc mode)",
                            EOPNOTSUPP);
    // Egress first, then ingress: on failure the unique_ptrs undo what was done.
    std::unique_ptr<HookAttachment> egress;
    if (!xdp || !settings_.xdp_only)
        egress = std::make_unique<HookAttachment>(program_.tc_program_fd(Direction::egress, layer), ifindex,
                                                  Direction::egress, settings_.attach);
    std::unique_ptr<HookAttachment> ingress;
    std::unique_ptr<XdpHook> xdp_hook;
    if (xdp)
        xdp_hook = std::make_unique<XdpHook>(program_.xdp_program_fd(), ifindex, settings_.xdp_mode);
    else
        ingress = std::make_unique<HookAttachment>(program_.tc_program_fd(Direction::ingress, layer), ifindex,
                                                   Direction::ingress, settings_.attach);
    for (const auto* tc : {egress.get(), ingress.get()})
        if (tc)
            for (const auto& note : tc->attach_notes()) log_(note);
    h.ifindex = ifindex;
    names_seen_[ifindex] = h.name;
    h.tc_egress = std::move(egress);
    h.tc_ingress = std::move(ingress);
    h.xdp = std::move(xdp_hook);
}

std::string DeviceCapture::how(const Hooked& h) const {
    auto tc_word = [](const HookAttachment* a) { return a->mode() == AttachMode::tcx ? "tcx" : "clsact"; };
    if (h.xdp) {
        std::string out = h.xdp->native() ? "xdp native" : "xdp generic";
        if (h.tc_egress) out += std::string(", egress ") + tc_word(h.tc_egress.get());
        return out;
    }
    if (h.tc_ingress) return tc_word(h.tc_ingress.get());
    return "";
}

void DeviceCapture::attach() {
    std::vector<Hooked> hooked;
    for (const auto& name : settings_.interfaces) {
        if (std::any_of(hooked.begin(), hooked.end(), [&](const Hooked& h) { return h.name == name; })) continue;
        const unsigned ifindex = if_nametoindex(name.c_str());
        if (ifindex == 0) throw bpf::BpfError("no such network interface '" + name + "'", ENODEV);
        Hooked h;
        h.name = name;
        hook(h, ifindex);
        log_("attached to " + name + " (ifindex " + std::to_string(ifindex) + ", " + how(h) + ")");
        hooked.push_back(std::move(h));
    }
    hooked_ = std::move(hooked);
}

void DeviceCapture::refresh() {
    for (Hooked& h : hooked_) {
        const unsigned now = if_nametoindex(h.name.c_str());
        const bool attached = h.attached();
        if (attached && now == h.ifindex) continue;
        if (attached) {
            h.reset();
            log_("interface " + h.name + " disappeared (ifindex " + std::to_string(h.ifindex) +
                 "); will attach again when it returns");
        }
        if (now == 0) continue;
        try {
            hook(h, now);
            log_("attached again to " + h.name + " (ifindex " + std::to_string(now) + ", " + how(h) + ")");
        } catch (const std::exception& e) {
            h.reset();
            log_("cannot attach to " + h.name + " yet: " + e.what());
        }
    }
}

void DeviceCapture::set_interfaces(const std::vector<std::string>& names) {
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
                hook(h, ifindex);
                log_("attached to " + name + " (ifindex " + std::to_string(ifindex) + ", " + how(h) + ")");
            } catch (const std::exception& e) {
                log_("cannot attach to " + name + ": " + e.what());
            }
        }
        next.push_back(std::move(h));
    }
    hooked_ = std::move(next);  // hooks of removed names are destroyed (detached) here
    settings_.interfaces = names;
}

void DeviceCapture::detach() { hooked_.clear(); }

std::vector<Status> DeviceCapture::status() const {
    std::vector<Status> out;
    for (const Hooked& h : hooked_) out.push_back({h.name, h.attached() ? h.ifindex : 0u, h.attached(), how(h)});
    return out;
}

std::string DeviceCapture::name_of(unsigned ifindex) const {
    for (const Hooked& h : hooked_)
        if (h.ifindex == ifindex) return h.name;
    if (auto it = names_seen_.find(ifindex); it != names_seen_.end()) return it->second;
    char buf[IF_NAMESIZE] = {};
    if (if_indextoname(ifindex, buf) != nullptr) return buf;
    return "if" + std::to_string(ifindex);
}

std::string DeviceCapture::describe() const {
    std::string out = settings_.mode == Mode::xdp ? (settings_.xdp_only ? "xdp (ingress only) on " : "xdp on ")
                                                  : "tc on ";
    for (std::size_t i = 0; i < settings_.interfaces.size(); ++i)
        out += (i ? ", " : "") + settings_.interfaces[i];
    return out;
}

}  // namespace ebpfix::capture
