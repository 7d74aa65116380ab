#include "fuzz/kernel_check.hpp"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <sstream>
#include <string>

#include "bpf/flow_drainer.hpp"
#include "bpf/flow_program.hpp"
#include "bpf/packet_runner.hpp"
#include "fuzz/input_checks.hpp"
#include "fuzz/reference_parser.hpp"

namespace ebpfix::fuzz {

namespace {

constexpr std::uint32_t kTestRunIfindex = 1;  // test_run puts the skb on loopback
constexpr std::uint32_t kMaxWire = 65536;     // test_run's limit for wire_len
// Small, so that slots are reused all the time; every frame is drained at once anyway.
constexpr std::uint32_t kMapEntries = 64;

std::uint16_t be16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }

std::string hex(std::span<const std::uint8_t> bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

std::string describe(const KernelFrame& f) {
    std::ostringstream o;
    o << (f.egress ? "egress" : "ingress") << (f.l3 ? " l3" : " ethernet") << " gso_segs " << f.gso_segs
      << " gso_size " << f.gso_size << " wire_len " << f.wire_len << " frame (" << f.frame.size()
      << " bytes) " << hex(f.frame);
    return o.str();
}

// test_run runs eth_type_trans on every frame and wants a whole IP header after an
// Ethernet header that announces one, whichever program variant runs.
bool test_run_refuses(const std::vector<std::uint8_t>& frame) {
    if (frame.size() < 14) return true;
    const std::uint16_t type = be16(&frame[12]);
    return (type == 0x0800 && frame.size() < 14 + 20) || (type == 0x86dd && frame.size() < 14 + 40);
}

ebpfix_pkt_bytes minus(const ebpfix_pkt_bytes& a, const ebpfix_pkt_bytes& b) {
    return {a.packets - b.packets, a.bytes - b.bytes};
}

}  // namespace

std::optional<KernelFrame> decode_kernel_input(std::span<const std::uint8_t> input) {
    if (input.size() < kKernelHeader) return std::nullopt;
    KernelFrame f;
    const std::uint8_t flags = input[0];
    f.egress = flags & 1;
    f.l3 = flags & 2;
    if (flags & 4) {
        f.gso_segs = be16(&input[1]);
        f.gso_size = be16(&input[3]);
    }
    const auto body = input.subspan(kKernelHeader);
    f.frame.assign(body.begin(), body.begin() + std::ptrdiff_t(std::min(body.size(), kMaxFrame)));
    if (flags & 8) f.wire_len = std::min<std::uint32_t>(std::uint32_t(f.frame.size()) + be16(&input[5]), kMaxWire);
    return f;
}

std::vector<std::uint8_t> encode_kernel_input(const KernelFrame& f) {
    const bool gso = f.gso_segs != 0 || f.gso_size != 0;
    const bool cut = f.wire_len > f.frame.size();
    const std::uint32_t extra = cut ? f.wire_len - std::uint32_t(f.frame.size()) : 0;
    std::vector<std::uint8_t> out;
    out.reserve(kKernelHeader + f.frame.size());
    out.push_back(std::uint8_t((f.egress ? 1 : 0) | (f.l3 ? 2 : 0) | (gso ? 4 : 0) | (cut ? 8 : 0)));
    for (std::uint32_t v : {std::uint32_t(f.gso_segs), std::uint32_t(f.gso_size), extra}) {
        out.push_back(std::uint8_t(v >> 8));
        out.push_back(std::uint8_t(v));
    }
    for (std::uint8_t b : f.frame) out.push_back(b);
    return out;
}

struct KernelChecker::Instance {
    Instance(bool force_load_bytes, const char* instance_name)
        : program(options(force_load_bytes)), drainer(program), name(instance_name) {}
    static bpf::ProgramOptions options(bool force_load_bytes) {
        bpf::ProgramOptions o;
        o.map_entries = kMapEntries;
        o.time_from_packet = true;  // replay mode: reclaiming needs no grace period
        o.force_load_bytes = force_load_bytes;
        return o;
    }
    bpf::FlowProgram program;
    bpf::FlowDrainer drainer;
    const char* name;
};

KernelChecker::KernelChecker()
    : direct_(std::make_unique<Instance>(false, "direct")),
      load_bytes_(std::make_unique<Instance>(true, "load_bytes")) {}

KernelChecker::~KernelChecker() = default;

void KernelChecker::check(std::span<const std::uint8_t> input) {
    ++stats_.inputs;
    const auto frame = decode_kernel_input(input);
    if (!frame || frame->frame.size() < 14) {
        ++stats_.too_short;
        return;
    }
    const auto direct = run_one(*direct_, *frame);
    const bool ran_load_bytes = run_one(*load_bytes_, *frame).has_value();
    if (direct.has_value() != ran_load_bytes)
        throw InvariantBroken("test_run refused the frame for one parser instance only: " + describe(*frame));
    if (!direct) {
        ++stats_.refused;
        return;
    }
    ++stats_.checked;
    switch (direct->verdict) {
        case Verdict::flow: ++stats_.flows; break;
        case Verdict::non_ip: ++stats_.non_ip; break;
        case Verdict::parse_error: ++stats_.parse_error; break;
        case Verdict::truncated: ++stats_.truncated; break;
    }
    if (direct->later_fragment) ++stats_.later_fragments;
}

std::optional<ReferenceResult> KernelChecker::run_one(Instance& in, const KernelFrame& f) {
    const auto fail = [&](const std::string& what) {
        throw InvariantBroken(std::string(in.name) + ": " + what + "; " + describe(f));
    };
    const auto before = bpf::read_counters(in.program);
    bpf::PacketRunOptions run;
    run.tstamp_ns = clock_ns_ += 1000;
    run.wire_len = f.wire_len;
    run.gso_segs = f.gso_segs;
    run.gso_size = f.gso_size;
    const int fd = in.program.tc_program_fd(f.egress ? Direction::egress : Direction::ingress,
                                            f.l3 ? bpf::LinkLayer::l3 : bpf::LinkLayer::ethernet);
    try {
        const auto result = bpf::run_packet(fd, f.frame, run);
        if (result.retval != -1) fail("program returned " + std::to_string(result.retval) + ", not TC_ACT_UNSPEC");
    } catch (const bpf::BpfError& e) {
        if (e.error() != EINVAL || !test_run_refuses(f.frame)) fail(std::string("test_run failed: ") + e.what());
        return std::nullopt;
    }
    std::vector<FlowDelta> deltas;
    // Idle 0 and "now" past every packet: each slot goes back at once.
    in.drainer.drain(std::numeric_limits<std::uint64_t>::max(), 0, deltas);
    const auto after = bpf::read_counters(in.program);
    if (in.drainer.slots_in_use() != 0) fail("slots still in use after the drain");
    if (in.drainer.unmatched_bytes() != 0) fail("drain found bytes without packets");

    // Exactly one of: counted into one flow, or into one named drop counter.
    std::uint64_t flow_packets = 0;
    for (const auto& d : deltas) flow_packets += d.packets;
    struct Named {
        const char* name;
        ebpfix_pkt_bytes delta;
    };
    const Named drops[] = {
        {"non_ip", minus(after.non_ip, before.non_ip)},
        {"parse_error", minus(after.parse_error, before.parse_error)},
        {"truncated", minus(after.truncated, before.truncated)},
        {"map_full", minus(after.map_full, before.map_full)},
        {"sampled_out", minus(after.sampled_out, before.sampled_out)},
        {"excluded", minus(after.excluded, before.excluded)},
    };
    const Named* grown = nullptr;
    int places = flow_packets > 0 ? 1 : 0;
    for (const auto& d : drops) {
        if (d.delta.packets == 0 && d.delta.bytes == 0) continue;
        ++places;
        grown = &d;
    }
    if (places != 1) fail("counted in " + std::to_string(places) + " places (flows and drop counters)");
    if (deltas.size() > 1) fail(std::to_string(deltas.size()) + " flows for one frame");
    const auto fragments = minus(after.fragments, before.fragments);

    ReferenceInput ref_in;
    ref_in.frame = f.frame;
    ref_in.wire_len = std::max<std::uint32_t>(f.wire_len, std::uint32_t(f.frame.size()));
    ref_in.l2 = !f.l3;
    ref_in.direction = f.egress ? Direction::egress : Direction::ingress;
    ref_in.gso_segs = f.gso_segs;
    ref_in.gso_size = f.gso_size;
    ref_in.ifindex = kTestRunIfindex;
    const ReferenceResult want = reference_parse(ref_in);

    const std::string got_verdict = grown ? grown->name : "flow";
    if (got_verdict != to_string(want.verdict))
        fail(std::string("kernel: ") + got_verdict + ", reference: " + to_string(want.verdict) +
             (want.verdict == Verdict::flow ? " (" + ebpfix::fuzz::describe(want.key) + ")" : ""));
    if (grown) {
        if (grown->delta.packets != want.packets || grown->delta.bytes != want.bytes)
            fail(got_verdict + ": kernel " + std::to_string(grown->delta.packets) + " packets " +
                 std::to_string(grown->delta.bytes) + " bytes, reference " + std::to_string(want.packets) +
                 " packets " + std::to_string(want.bytes) + " bytes");
        if (fragments.packets != 0 || fragments.bytes != 0) fail("fragments counted for a dropped frame");
        if (after.flows_created != before.flows_created) fail("a flow was created for a dropped frame");
        return want;
    }
    const FlowDelta& got = deltas.front();
    if (got.key != want.key)
        fail("key: kernel " + ebpfix::fuzz::describe(got.key) + ", reference " + ebpfix::fuzz::describe(want.key));
    if (got.packets != want.packets || got.bytes != want.bytes)
        fail("flow: kernel " + std::to_string(got.packets) + " packets " + std::to_string(got.bytes) +
             " bytes, reference " + std::to_string(want.packets) + " packets " + std::to_string(want.bytes) + " bytes");
    if (got.tcp_flags != want.tcp_flags)
        fail("tcp flags: kernel " + std::to_string(got.tcp_flags) + ", reference " + std::to_string(want.tcp_flags));
    // Every frame's flow starts in a fresh slot (the last drain gave them all back).
    if (after.flows_created != before.flows_created + 1) fail("flows_created did not grow by one");
    if (int(got.tos) != int(want.tos))
        fail("tos: kernel " + std::to_string(got.tos) + ", reference " + std::to_string(want.tos));
    if (got.first_ns != run.tstamp_ns || got.last_ns != run.tstamp_ns) fail("flow times are not the packet's time");
    const ebpfix_pkt_bytes want_fragments =
        want.later_fragment ? ebpfix_pkt_bytes{want.packets, want.bytes} : ebpfix_pkt_bytes{0, 0};
    if (fragments.packets != want_fragments.packets || fragments.bytes != want_fragments.bytes)
        fail("fragments: kernel " + std::to_string(fragments.packets) + " packets " +
             std::to_string(fragments.bytes) + " bytes, reference " + std::to_string(want_fragments.packets) +
             " packets " + std::to_string(want_fragments.bytes) + " bytes");
    return want;
}

}  // namespace ebpfix::fuzz
