"""End-to-end tests of the real ebpfix binary's capture layer: XDP modes, in-kernel
sampling, exclude lists and ebpfix's own export traffic (CTest runs each scenario as its
own test, e2e_capture_SCENARIO).

  capture_test.py --binary PATH SCENARIO

Scenarios: xdp_native, xdp_generic, xdp_only, sampling_random, sampling_hash, exclude,
own_export. Each builds its own namespaces and removes them (and every process it
started) at exit, also on failure. Ground truth is what the test sent (counted by the
sender) or a tcpdump capture of the device.
"""
import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRAFFIC = os.path.join(HERE, "traffic.py")
PY = "/usr/bin/python3"  # Debian's, which has scapy
START_TIMEOUT = 90       # loading and verifying the programs on a loaded machine
STOP_TIMEOUT = 60
DROP_KEYS = ("drop_non_ip", "drop_parse_error", "drop_truncated", "drop_map_full")


class Run:
    """One namespace pair with a work directory; traffic helpers, collectors, ebpfix."""

    def __init__(self, binary, tag, net_class=h.VethPair):
        self.binary = binary
        self.procs = h.Processes()
        self.net = net_class(tag)
        self.work = tempfile.mkdtemp(prefix=f"ebpfix-e2e-cap-{tag}-")
        self.ebpfix = None
        self.starts = 0

    def path(self, name):
        return os.path.join(self.work, name)

    def traffic(self, ns, *args):
        """Runs a traffic.py command in ns and returns the JSON summary it prints last."""
        out = h.sh(f"ip netns exec {ns} {PY} {TRAFFIC} " + " ".join(str(a) for a in args))
        return json.loads(out.strip().splitlines()[-1])

    def start_server(self, name, ns, *args):
        out = self.path(name + ".out")
        p = self.procs.start([PY, TRAFFIC] + [str(a) for a in args], netns=ns, stdout=open(out, "w"),
                             stderr=subprocess.STDOUT)
        h.wait_for_text(out, "serving")
        return p

    def start_nfcapd(self, name, ns, host, port):
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        argv = ["nfcapd", "-w", d, "-b", host, "-p", str(port), "-t", "3600"] + (["-6"] if ":" in host else [])
        p = self.procs.start(argv, netns=ns, stdout=open(d + ".log", "w"), stderr=subprocess.STDOUT)
        h.wait_udp_bound(ns, port)
        assert p.poll() is None, f"nfcapd {name} did not start: " + open(d + ".log").read()
        return p, d

    def start_ebpfix(self, args, ns=None):
        self.starts += 1
        self.err = self.path(f"ebpfix{self.starts}.err")
        # No control socket: parallel tests would share its default path.
        self.ebpfix = self.procs.start([self.binary] + [str(a) for a in args] + ["--control", ""],
                                       netns=ns or self.net.ns_a, stdout=open(self.path("ebpfix.out"), "a"),
                                       stderr=open(self.err, "w"))

        def attached():
            if self.ebpfix.poll() is not None:
                raise AssertionError(f"ebpfix exited {self.ebpfix.returncode} at start: " + self.stderr())
            return "attached to" in self.stderr()
        h.wait_for(attached, START_TIMEOUT, "ebpfix to attach")
        return self.ebpfix

    def stderr(self):
        return open(self.err, errors="replace").read()[-4000:]

    def stop_ebpfix(self):
        rc = h.stop(self.ebpfix, signal.SIGTERM, timeout=STOP_TIMEOUT)
        assert rc == 0, f"ebpfix exited {rc}: " + self.stderr()

    def mac_a(self):
        return h.VethPair.mac(self.net.ns_a, self.net.dev_a)

    def mac_b(self):
        return h.VethPair.mac(self.net.ns_b, self.net.dev_b)


def pb(flows):
    """(packets, bytes) per key."""
    return {k: (v[0], v[1]) for k, v in flows.items()}


def binomial_bound(n, p):
    """mean and 5 sigma of a binomial(n, p) count."""
    return n * p, 5 * math.sqrt(n * p * (1 - p))


def write_config(path, text):
    with open(path, "w") as f:
        f.write(text)


def udp_flow_entries(summary, src, dst, port=5000):
    """The (direction, key) -> [packets, bytes] that a udp-flows/udp-load summary made on
    the sender's device: its datagrams leave (egress) and the echoes come back (ingress)."""
    out = {}
    for sport, f in summary["flows"].items():
        sport = int(sport)
        out[("egress", (src, dst, sport, port, 17))] = [f["sent"], f["l3_sent"]]
        out[("ingress", (dst, src, port, sport, 17))] = [f["received"], f["l3_received"]]
    return out


def ping(ns, dst, count=4):
    """Pings dst from ns (56-byte payload); returns the requests sent and replies received."""
    v6 = ":" in dst
    out = h.sh(f"ip netns exec {ns} ping {'-6' if v6 else ''} -q -c {count} -i 0.05 -s 56 {dst}", check=False)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, f"ping {dst}: {out}"
    sent, received = int(m.group(1)), int(m.group(2))
    return sent, received


def ping_entries(src, dst, sent, received):
    """(direction, key) -> [packets, bytes] of a ping on the sender's device (84 L3 bytes
    per packet in IPv4, 104 in IPv6)."""
    v6 = ":" in dst
    size, proto = (104, 58) if v6 else (84, 1)
    request, reply = (0x8000, 0x8100) if v6 else (0x0800, 0x0000)
    return {("egress", (src, dst, 0, request, proto)): [sent, sent * size],
            ("ingress", (dst, src, 0, reply, proto)): [received, received * size]}


def add_into(total, entries):
    for k, v in entries.items():
        t = total.setdefault(k, [0, 0])
        t[0] += v[0]
        t[1] += v[1]


# ---- 1. XDP ----------------------------------------------------------------------------

VLAN_PORTS = range(7100, 7106)


def xdp_ours(key):
    """The flows the XDP scenarios' traffic makes (the namespaces also carry MLD etc.)."""
    src, dst, sport, dport, proto = key
    if proto == 17:
        return 5000 in (sport, dport) or sport in VLAN_PORTS
    if proto == 6:
        return 5201 in (sport, dport)
    if proto == 1:
        return dport in (0x0800, 0x0000)
    if proto == 58:
        return dport in (0x8000, 0x8100)
    return False


def xdp_traffic(r):
    """UDP, TCP, ICMP in IPv4 and IPv6 both ways, and VLAN-tagged frames from b."""
    net = r.net
    r.traffic(net.ns_a, "send", net.ip_b, net.ip6_b, 100)
    for ns, dst4, dst6 in ((net.ns_a, net.ip_b, net.ip6_b), (net.ns_b, net.ip_a, net.ip6_a)):
        for dst in (dst4, dst6):
            sent, received = ping(ns, dst, 5)
            assert sent == received == 5, f"ping {dst} from {ns}: {sent} sent, {received} received"
    # No 802.1Q module here: the tagged frames are written raw onto b's end of the veth.
    return r.traffic(net.ns_b, "vlan-frames", net.dev_b, r.mac_b(), r.mac_a(), net.ip_b, net.ip_a, net.ip6_b,
                     net.ip6_a, 7)


def ebpfix_names(names):
    return [n for n in names if n.startswith("ebpfix")]


def check_xdp_run(r, name, mode_arg, want_mode, egress, extra=()):
    """One ebpfix run with XDP on a's end: egress "tcx", "clsact" or None (--xdp-only).
    The flow log equals the capture per flow and direction (only ingress without egress
    hook); the hooks are the ones asked for while it runs and all gone after SIGTERM."""
    net = r.net
    log = r.path(f"{name}.json")
    cap = h.Capture(r.procs, net.ns_a, net.dev_a, r.path(f"{name}.pcap"))
    args = [net.dev_a, "--xdp-mode", mode_arg, "--log", "json", "--log-file", log, "--drain-interval", "0.2"]
    r.start_ebpfix(args + list(extra))

    attachment = h.xdp_attachment(net.ns_a, net.dev_a)
    assert attachment == (want_mode, "ebpfix_xdp"), f"{name}: XDP on the device: {attachment}"
    tcx = h.tcx_programs(net.ns_a, net.dev_a)
    filters = h.tc_filters(net.ns_a, net.dev_a)
    # Ingress is XDP's alone: a TC ingress hook would count the same packets as well.
    assert not ebpfix_names(tcx["ingress"]) and "ebpfix_tc_in" not in filters, f"{name}: TC ingress: {tcx} {filters}"
    if egress == "tcx":
        assert any(n.startswith("ebpfix_tc_out") for n in tcx["egress"]), f"{name}: no TCX egress program: {tcx}"
    elif egress == "clsact":
        assert "ebpfix_tc_out" in filters and not ebpfix_names(tcx["egress"]), f"{name}: egress: {tcx} {filters}"
    else:
        assert not ebpfix_names(tcx["egress"]) and "ebpfix" not in filters, f"{name}: an egress hook: {tcx} {filters}"

    vlan = xdp_traffic(r)
    r.stop_ebpfix()

    assert h.xdp_attachment(net.ns_a, net.dev_a) is None, f"{name}: XDP left after SIGTERM"
    left = h.tcx_programs(net.ns_a, net.dev_a)
    assert not ebpfix_names(left["ingress"] + left["egress"]), f"{name}: TCX programs left after SIGTERM: {left}"
    assert "ebpfix" not in h.tc_filters(net.ns_a, net.dev_a), f"{name}: tc filters left after SIGTERM"
    if egress == "clsact":
        qdiscs = h.sh(f"ip netns exec {net.ns_a} tc qdisc show dev {net.dev_a}")
        assert "clsact" not in qdiscs, f"{name}: the clsact qdisc ebpfix created is left: {qdiscs}"

    log_flows, records = h.json_log_flows(log)
    got = pb({k: v for k, v in log_flows.items() if xdp_ours(k[1])})
    mac_a = r.mac_a()

    def expected():
        truth, _ = h.frames_truth(cap.frames(), mac_a)
        return pb({k: v for k, v in truth.items() if xdp_ours(k[1]) and (egress or k[0] == "ingress")})
    # tcpdump writes each packet at once, but may still be behind a loaded machine.
    h.wait_until(lambda: expected() == got, 20)
    cap.stop()
    want = expected()
    h.assert_equal_flows(want, got, f"{name}: JSON log vs capture")
    for direction in (("ingress", "egress") if egress else ("ingress",)):
        n = sum(v[0] for k, v in want.items() if k[0] == direction)
        # At least the UDP echo (100 each way per family) and the pings (10 each way).
        assert n >= 220, f"{name}: only {n} {direction} packets of the test's traffic"
    if not egress:
        out = [rec for rec in records if rec["direction"] == "egress"]
        assert not out, f"{name}: --xdp-only logged egress records: {out[:3]}"
    for kind, v in vlan.items():
        recs = [rec for rec in records if rec["protocol"] == 17 and rec["src_port"] == v["sport"]]
        assert sum(rec["packets"] for rec in recs) == v["frames"], f"{name}: {kind}: {recs}"
        for rec in recs:
            assert (rec["direction"], rec["vlan"], rec["inner_vlan"]) == ("ingress", v["vlan"], v["inner_vlan"]), \
                f"{name}: {kind} logged as {rec}"
    total = sum(v[0] for v in want.values())
    print(f"{name}: XDP {want_mode}, egress {egress or 'none'}: {total} packets in {len(want)} flows (VLAN-tagged "
          f"included) agree with the capture; nothing attached after SIGTERM")


def scenario_xdp_native(binary):
    h.require_tools("tcpdump")
    r = Run(binary, "xnat")
    r.start_server("server", r.net.ns_b, "serve", r.net.ip_b, r.net.ip6_b)
    check_xdp_run(r, "xdp_native", "native", "native", "tcx")


def scenario_xdp_generic(binary):
    h.require_tools("tcpdump")
    r = Run(binary, "xgen")
    r.start_server("server", r.net.ns_b, "serve", r.net.ip_b, r.net.ip6_b)
    # Egress through the clsact fallback this time (--attach), the other TC path.
    check_xdp_run(r, "xdp_generic", "generic", "generic", "clsact", extra=["--attach", "clsact"])


def scenario_xdp_only(binary):
    h.require_tools("tcpdump")
    r = Run(binary, "xonly")
    r.start_server("server", r.net.ns_b, "serve", r.net.ip_b, r.net.ip6_b)
    # auto picks native XDP where the driver has it, as veth does.
    check_xdp_run(r, "xdp_only", "auto", "native", None, extra=["--xdp-only"])
    check_xdp_run(r, "xdp_only_generic", "generic", "generic", None, extra=["--xdp-only"])


# ---- 2, 3. sampling --------------------------------------------------------------------

def scenario_sampling_random(binary):
    """--sample 10 (random) over 200,000 datagrams: every packet is sampled out or in a
    flow, exactly; the flow count is binomial; the collector scales it back by 10."""
    h.require_tools("nfcapd", "nfdump")
    r = Run(binary, "srnd", h.QuietVethPair)
    net = r.net
    r.start_server("discard", net.ns_b, "discard", net.ip_b, 5000)
    nfcapd, flow_dir = r.start_nfcapd("ipfix", net.ns_a, "127.0.0.1", 4739)
    log, stats = r.path("flows.json"), r.path("stats.json")
    metrics = "127.0.0.1:9464"
    r.start_ebpfix([net.dev_a, "--sample", 10, "--ipfix", "127.0.0.1:4739", "--log", "json", "--log-file", log,
                    "--stats-file", stats, "--stats-format", "json", "--drain-interval", 0.5, "--metrics-addr",
                    metrics])
    n, interval = 200000, 10
    # One way, from a: every datagram the socket took went through a's egress hook.
    blast = r.traffic(net.ns_a, "blast", net.ip_b, 5000, n)
    assert blast["sent"] == n, blast

    def counted():
        text = h.scrape(net.ns_a, metrics)
        return (h.prom_value(text, "ebpfix_kernel_drops_total", {"reason": "sampled_out"}),
                h.prom_value(text, "ebpfix_packets_total", {"interface": net.dev_a, "direction": "egress"}))
    h.wait_until(lambda: sum(x or 0 for x in counted()) == n, 30)
    sampled_out_metric, in_flows_metric = counted()
    assert sampled_out_metric + in_flows_metric == n, (sampled_out_metric, in_flows_metric, n)
    assert h.wait_until(lambda: h.stats_total(stats, "sampled_out") == sampled_out_metric, 10), \
        f"metrics say {sampled_out_metric} sampled out, the stats file {h.stats_total(stats, 'sampled_out')}"
    r.stop_ebpfix()
    h.stop(nfcapd)

    lines = h.stats_lines(stats)
    sampled_out = sum(x["sampled_out"] for x in lines)
    flows, _ = h.json_log_flows(log)
    key = (net.ip_a, net.ip_b, blast["local_port"], 5000, 17)
    others = {k: v for k, v in flows.items() if k != ("egress", key)}
    assert not others, f"flows other than the test's on a quiet link: {dict(others)}"
    kept, kept_bytes = flows[("egress", key)][:2] if ("egress", key) in flows else (0, 0)
    for k in DROP_KEYS + ("excluded", "own_export"):
        assert sum(x[k] for x in lines) == 0, f"{k}: {[x[k] for x in lines]}"
    assert sampled_out + kept == n, f"sampled out {sampled_out} + in the flow log {kept} != {n} sent"
    assert kept_bytes == kept * blast["l3_bytes"], (kept_bytes, kept)
    # Random sampling counts a left-out packet with its frame bytes (Ethernet + L3).
    assert sum(x["sampled_out_bytes"] for x in lines) == (n - kept) * (14 + blast["l3_bytes"])
    mean, bound = binomial_bound(n, 1 / interval)
    assert abs(kept - mean) <= bound, f"{kept} packets sampled of {n}: outside {mean:.0f} +- {bound:.0f}"

    # The collector learns the interval from the sampling options and scales it back.
    got = h.nfdump_flows(flow_dir)
    assert set(got) == {key}, f"nfdump: {dict(got)}"
    packets, octets = got[key][:2]
    assert (packets, octets) == (kept * interval, kept_bytes * interval), \
        (f"nfdump reports {packets} packets / {octets} bytes for {kept} sampled packets ({kept_bytes} bytes) at "
         f"1 in {interval}: expected them scaled by {interval}")
    assert abs(packets / interval - mean) <= bound, (packets, mean, bound)
    print(f"sampling_random: {kept} of {n} packets kept (expected {mean:.0f} +- {bound:.0f}), {sampled_out} "
          f"sampled out, exactly {n} in all; nfdump scales to {packets}")


def scenario_sampling_hash(binary):
    """--sample 4 --sample-algorithm hash over 400 echoed flows: each flow is whole in
    the log (both directions) or absent; sampled out + logged == sent, exactly."""
    r = Run(binary, "shash", h.QuietVethPair)
    net = r.net
    r.start_server("echo", net.ns_b, "udp-echo", net.ip_b)
    log, stats = r.path("flows.json"), r.path("stats.json")
    r.start_ebpfix([net.dev_a, "--sample", 4, "--sample-algorithm", "hash", "--log", "json", "--log-file", log,
                    "--stats-file", stats, "--stats-format", "json", "--drain-interval", 0.5])
    nflows, interval = 400, 4
    sent = r.traffic(net.ns_a, "udp-flows", net.ip_b, 5000, nflows, 5, 20000)
    r.stop_ebpfix()

    flows, _ = h.json_log_flows(log)
    flows = pb(flows)
    expected = udp_flow_entries(sent, net.ip_a, net.ip_b)
    assert len(expected) == 2 * nflows
    present, seen_keys = 0, set()
    for sport, f in sent["flows"].items():
        out = ("egress", (net.ip_a, net.ip_b, int(sport), 5000, 17))
        back = ("ingress", (net.ip_b, net.ip_a, 5000, int(sport), 17))
        seen_keys |= {out, back}
        assert f["received"] == f["sent"] == 5, f"flow {sport}: {f}"
        if out not in flows and back not in flows:
            continue
        assert flows.get(out) == tuple(expected[out]) and flows.get(back) == tuple(expected[back]), \
            (f"flow {sport} partly sampled: sent {expected[out]} echoed {expected[back]}, logged "
             f"{flows.get(out)} and {flows.get(back)}")
        present += 1
    others = {k: v for k, v in flows.items() if k not in seen_keys}
    assert not others, f"flows other than the test's on a quiet link: {others}"
    mean, bound = binomial_bound(nflows, 1 / interval)
    assert abs(present - mean) <= bound, f"{present} of {nflows} flows sampled: outside {mean:.0f} +- {bound:.0f}"

    lines = h.stats_lines(stats)
    packets = sum(v[0] for v in expected.values())
    octets = sum(v[1] for v in expected.values())
    logged = sum(v[0] for v in flows.values())
    logged_bytes = sum(v[1] for v in flows.values())
    sampled_out = sum(x["sampled_out"] for x in lines)
    for k in DROP_KEYS + ("excluded", "own_export"):
        assert sum(x[k] for x in lines) == 0, f"{k}: {[x[k] for x in lines]}"
    assert sampled_out + logged == packets, f"sampled out {sampled_out} + logged {logged} != {packets} sent"
    # Flow-hash sampling decides after parsing: the left-out packets count L3 bytes.
    assert sum(x["sampled_out_bytes"] for x in lines) + logged_bytes == octets
    print(f"sampling_hash: {present} of {nflows} flows whole in the log (expected {mean:.0f} +- {bound:.0f}), "
          f"{sampled_out} packets sampled out + {logged} logged == {packets} sent")


# ---- 4. exclude lists ------------------------------------------------------------------

def exclude_ours(key):
    src, dst, sport, dport, proto = key
    if proto == 17:
        return 5000 in (sport, dport)
    if proto == 1:
        return dport in (0x0800, 0x0000)
    if proto == 58:
        return dport in (0x8000, 0x8100)
    return False


class ExcludeSetup:
    """b with two addresses per family, b (10.211.N.2, fd00:211:N::2) and b2 (10.212.N.2,
    fd00:212:N::2) in subnets of their own, a UDP echo on all four."""

    def __init__(self, binary):
        self.r = Run(binary, "excl")
        net = self.r.net
        self.n = int(net.ip_a.split(".")[2])
        self.b2_4, self.b2_6 = f"10.212.{self.n}.2", f"fd00:212:{self.n}::2"
        h.add_peer_address(net, self.b2_4, self.b2_6)
        self.r.start_server("echo", net.ns_b, "udp-echo", net.ip_b, net.ip6_b, self.b2_4, self.b2_6)

    def source_of(self, dst):
        return self.r.net.ip6_a if ":" in dst else self.r.net.ip_a

    def exchange(self, dst):
        """Echoed UDP flows and a ping to dst: (direction, key) -> [packets, bytes]."""
        net = self.r.net
        src = self.source_of(dst)
        entries = udp_flow_entries(self.r.traffic(net.ns_a, "udp-flows", dst, 5000, 2, 10), src, dst)
        sent, received = ping(net.ns_a, dst)
        add_into(entries, ping_entries(src, dst, sent, received))
        return entries


def exclude_phase(s, excluded_hosts, hosts, counted, excluded):
    """Sends to every host; adds what is to be counted to `counted` and what is to be
    excluded to `excluded` ([packets, bytes])."""
    for dst in hosts:
        entries = s.exchange(dst)
        if dst in excluded_hosts:
            excluded[0] += sum(v[0] for v in entries.values())
            excluded[1] += sum(v[1] for v in entries.values())
        else:
            add_into(counted, entries)


def check_exclude(name, log, stats, counted, excluded, excluded_hosts):
    flows, _ = h.json_log_flows(log)
    got = pb({k: v for k, v in flows.items() if exclude_ours(k[1])})
    leaked = {k: v for k, v in flows.items() if k[1][0] in excluded_hosts or k[1][1] in excluded_hosts}
    assert not leaked, f"{name}: flows of excluded addresses in the log: {dict(leaked)}"
    h.assert_equal_flows(counted, got, f"{name}: JSON log vs what was sent")
    lines = h.stats_lines(stats)
    got_excluded = [sum(x["excluded"] for x in lines), sum(x["excluded_bytes"] for x in lines)]
    assert got_excluded == excluded, f"{name}: stats file excluded {got_excluded}, sent to/from {excluded_hosts}: " \
                                     f"{excluded}"
    return got


def wait_metric_equals_stats(r, metrics, stats, reason, key, expected=None):
    """Waits until ebpfix_kernel_drops_total{reason} and the stats file's sum of key
    agree (and equal expected, when given: the drains may still be behind)."""
    def both():
        return (h.prom_value(h.scrape(r.net.ns_a, metrics), "ebpfix_kernel_drops_total", {"reason": reason}),
                h.stats_total(stats, key))
    values = []
    h.wait_until(lambda: values.append(both()) or values[-1][0] == values[-1][1] and
                 expected in (None, values[-1][0]), 15)
    metric, in_file = values[-1]
    assert metric == in_file, f"ebpfix_kernel_drops_total{{reason=\"{reason}\"}} {metric}, stats file {in_file}"
    return metric


def scenario_exclude(binary):
    """--exclude as an IPv4 CIDR, as an IPv6 prefix, and as a wildcard in the file, then
    another list by SIGHUP under load: excluded traffic is in no flow and counted in
    `excluded` exactly; across the reload every packet is in a flow or excluded, once."""
    s = ExcludeSetup(binary)
    r, net, n = s.r, s.r.net, s.n
    hosts = [net.ip_b, net.ip6_b, s.b2_4, s.b2_6]
    metrics = "127.0.0.1:9464"

    # IPv4 CIDR on the command line, IPv6 prefix on the command line.
    for name, cidr, gone in (("cidr4", f"10.212.{n}.0/24", s.b2_4), ("prefix6", f"fd00:212:{n}::/64", s.b2_6)):
        log, stats = r.path(f"{name}.json"), r.path(f"{name}-stats.json")
        r.start_ebpfix([net.dev_a, "--exclude", cidr, "--log", "json", "--log-file", log, "--stats-file", stats,
                        "--stats-format", "json", "--drain-interval", 0.2, "--metrics-addr", metrics])
        counted, excluded = {}, [0, 0]
        exclude_phase(s, {gone}, hosts, counted, excluded)
        metric = wait_metric_equals_stats(r, metrics, stats, "excluded", "excluded", excluded[0])
        assert metric == excluded[0], f"{name}: metrics excluded {metric}, sent to/from {gone}: {excluded[0]}"
        r.stop_ebpfix()
        check_exclude(name, log, stats, counted, excluded, {gone})
        print(f"exclude {cidr}: {excluded[0]} packets to/from {gone} excluded, the rest exact")

    # The wildcard form in the file; then SIGHUP with another list while traffic runs.
    conf, log, stats = r.path("ebpfix.toml"), r.path("file.json"), r.path("file-stats.json")
    base = f"""interfaces = ["{net.dev_a}"]
[flow]
drain_interval = 0.2
[log]
format = "json"
file = "{log}"
[stats]
file = "{stats}"
format = "json"
[metrics]
listen = "{metrics}"
[filter]
"""
    write_config(conf, base + f'exclude = ["10.212.{n}.*"]\n')
    r.start_ebpfix(["-c", conf])
    counted, excluded = {}, [0, 0]
    exclude_phase(s, {s.b2_4}, hosts, counted, excluded)

    stop_file = r.path("load.stop")
    loads = []
    for dst in (net.ip_b, s.b2_4):
        out = r.path(f"load-{dst}.out")
        p = r.procs.start([PY, TRAFFIC, "udp-load", dst, "5000", stop_file], netns=net.ns_a, stdout=open(out, "w"))
        loads.append((dst, p, out))

    def progress(out):
        lines = [json.loads(x) for x in open(out).read().split("\n")[:-1] if x.strip()]
        return lines[-1].get("progress", 0) if lines else 0
    for _, _, out in loads:
        h.wait_for(lambda out=out: progress(out) >= 200, 60, "load before the reload")
    write_config(conf, base + f'exclude = ["{net.ip_b}"]\n')  # a bare address: /32
    os.kill(r.ebpfix.pid, signal.SIGHUP)
    h.wait_for_text(r.err, "configuration reloaded", timeout=30)
    after = {out: progress(out) for _, _, out in loads}
    for _, _, out in loads:
        h.wait_for(lambda out=out: progress(out) >= after[out] + 200, 60, "load after the reload")
    open(stop_file, "w").close()
    load_entries = {}
    for dst, p, out in loads:
        assert p.wait(timeout=60) == 0, f"udp-load {dst} failed"
        summary = json.loads(open(out).read().strip().splitlines()[-1])
        load_entries[dst] = udp_flow_entries(summary, net.ip_a, dst)

    exclude_phase(s, {net.ip_b}, hosts, counted, excluded)
    wait_metric_equals_stats(r, metrics, stats, "excluded", "excluded")
    r.stop_ebpfix()

    flows, _ = h.json_log_flows(log)
    lines = h.stats_lines(stats)
    all_excluded = sum(x["excluded"] for x in lines)
    sent = sum(v[0] for v in counted.values()) + excluded[0] + \
        sum(v[0] for e in load_entries.values() for v in e.values())
    logged = sum(v[0] for k, v in flows.items() if exclude_ours(k[1]))
    # Across the reload: every packet in a flow or excluded, none lost or counted twice.
    assert logged + all_excluded == sent, f"logged {logged} + excluded {all_excluded} != {sent} sent"
    for dst, entries in load_entries.items():
        total = sum(v[0] for v in entries.values())
        in_log = sum(pb(flows).get(k, (0, 0))[0] for k in entries)
        # Both loads ran under both lists: part of each is counted, part excluded.
        assert 0 < in_log < total, f"load to {dst}: {in_log} of {total} packets in the log"
    # The phases before and after the reload are exact on their own.
    others = {k: v for k, v in flows.items()
              if exclude_ours(k[1]) and not any(k in e for e in load_entries.values())}
    h.assert_equal_flows(counted, pb(others), "wildcard file + SIGHUP: JSON log vs what was sent")
    load_excluded = all_excluded - excluded[0]
    print(f"exclude 10.212.{n}.* (file) then {net.ip_b} (SIGHUP under load): {all_excluded} excluded "
          f"({load_excluded} of the load) + {logged} logged == {sent} sent")


# ---- 5. own export traffic -------------------------------------------------------------

def own_datagram_frames(frames, ebpfix_hosts, collectors):
    """The packets of ebpfix's export datagrams among captured frames: UDP to a collector
    port, and IP fragments from ebpfix's address to a collector's (a datagram bigger than
    the path's MTU leaves in several packets, each of them ebpfix's)."""
    from scapy.layers.l2 import Ether
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
    collector_hosts = {host for host, _ in collectors}
    own = []
    for ts, raw in frames:
        pkt = Ether(raw)
        ip = pkt[IP] if IP in pkt else pkt[IPv6] if IPv6 in pkt else None
        if ip is None or ip.src not in ebpfix_hosts or ip.dst not in collector_hosts:
            continue
        fragment = (IP in pkt and (ip.frag > 0 or ip.flags.MF)) or IPv6ExtHdrFragment in pkt
        to_port = UDP in pkt and (ip.dst, pkt[UDP].dport) in collectors
        if to_port or fragment:
            own.append((ts, h.l3_len(pkt)))
    return own


def own_export_run(r, name, watch, collectors, capture_at, k, traffic):
    """ebpfix watching `watch`, exporting to `collectors` [(ns, protocol, host, port)];
    the collectors' datagrams are captured at capture_at (ns, dev); each datagram passes
    k of ebpfix's hooks (lo: egress and ingress)."""
    net = r.net
    targets = set()
    dirs, nfcapds = [], []
    conf_collectors = ""
    for ns, protocol, host, port in collectors:
        p, d = r.start_nfcapd(f"{name}-{protocol}-{port}", ns, host, port)
        nfcapds.append(p)
        dirs.append((protocol, d))
        targets.add((host, port))
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # No template or options refresh in the test's time: datagrams come from records.
        conf_collectors += (f'[[collector]]\nprotocol = "{protocol}"\naddress = "{address}"\n'
                            "template_refresh = 3600\ntemplate_refresh_messages = 0\n")
    log, stats, metrics = r.path(f"{name}.json"), r.path(f"{name}-stats.json"), "127.0.0.1:9464"
    conf = r.path(f"{name}.toml")
    write_config(conf, f"""interfaces = ["{watch}"]
[flow]
drain_interval = 0.2
idle_timeout = 1
{conf_collectors}[log]
format = "json"
file = "{log}"
[stats]
file = "{stats}"
format = "json"
[metrics]
listen = "{metrics}"
""")
    cap_ns, cap_dev = capture_at
    cap = h.Capture(r.procs, cap_ns, cap_dev, r.path(f"{name}.pcap"))
    r.start_ebpfix(["-c", conf])
    ebpfix_hosts = {"127.0.0.1", "::1"} if watch == "lo" else {net.ip_a, net.ip6_a}

    def own():
        return own_datagram_frames(cap.frames(), ebpfix_hosts, targets)

    def own_export():
        return h.stats_total(stats, "own_export")

    def echo_logged():
        flows, _ = h.json_log_flows(log) if os.path.exists(log) else ({}, [])
        return pb({key: v for key, v in flows.items() if key[1][4] == 17 and 5000 in key[1][2:4]})
    sent = {}
    for burst in range(3):
        before = len(own())
        add_into(sent, traffic())
        # The flows end after the idle timeout and go to the collectors.
        h.wait_for(lambda: len(own()) > before, 30, f"{name}: export datagrams of burst {burst}")
    # Quiet: every flow exported, every export datagram drained and counted.
    h.wait_until(lambda: echo_logged() == pb(sent) and own_export() == k * len(own()), 30)
    datagrams = len(own())
    assert own_export() == k * datagrams and datagrams >= 3, \
        f"{name}: stats file own_export {own_export()}, collectors' datagrams seen {datagrams} (x{k} hooks)"
    metric = h.prom_value(h.scrape(net.ns_a, metrics), "ebpfix_kernel_drops_total", {"reason": "own_export"})
    assert metric == own_export(), f"{name}: own_export metric {metric}, stats file {own_export()}"
    # The scrape made flows on lo (only there): wait until they are exported and counted too.
    h.wait_until(lambda: own_export() == k * len(own()) and (watch != "lo" or len(own()) > datagrams), 30)
    quiet = len(own())
    t_stop = time.time()
    r.stop_ebpfix()
    for p in nfcapds:
        h.stop(p)
    h.wait_until(lambda: len(own()) > quiet, 10)  # the stop's datagrams, still being written
    cap.stop()

    packets = own()
    before_stop = [p for p in packets if p[0] < t_stop]
    at_stop = len(packets) - len(before_stop)
    lines = h.stats_lines(stats)
    counted = [sum(x["own_export"] for x in lines), sum(x["own_export_bytes"] for x in lines)]
    # The stop detaches the hooks before the last export (every template again, the last
    # statistics): those datagrams are seen by the collector but by no hook.
    assert at_stop >= len(collectors), f"{name}: {at_stop} datagrams at the stop, expected the last export"
    want = [k * len(before_stop), k * sum(p[1] for p in before_stop)]
    assert counted == want, f"{name}: own_export {counted} (packets, bytes), the capture before the stop x{k}: {want}"

    flows, records = h.json_log_flows(log)
    ports = {port for _, port in targets}
    own_records = [x for x in records if x["src_port"] in ports or x["dst_port"] in ports or
                   (x["protocol"] == 17 and {x["src_ip"], x["dst_ip"]} & {host for host, _ in targets} and
                    5000 not in (x["src_port"], x["dst_port"]))]
    assert not own_records, f"{name}: ebpfix's own export in the flow log: {own_records[:3]}"
    h.assert_equal_flows(sent, echo_logged(), f"{name}: the echo flows in the JSON log")
    for protocol, d in dirs:
        decoded = h.nfdump_flows(d)
        mine = {key: v for key, v in decoded.items() if key[2] in ports or key[3] in ports}
        assert not mine, f"{name}: nfdump ({protocol}) decoded ebpfix's own export as flows: {mine}"
        h.assert_equal_flows(h.undirected(flows), decoded, f"{name}: nfdump ({protocol}) vs JSON log")
    print(f"own_export {name}: {len(before_stop)} datagrams before the stop, own_export {counted[0]} packets "
          f"(x{k}), none in the log or nfdump; {at_stop} datagrams of the stop itself after detaching")


def scenario_own_export(binary):
    """ebpfix's export datagrams on a watched device (lo with both collectors local; a
    veth with the collectors behind it) are counted in own_export, never as flows."""
    h.require_tools("nfcapd", "nfdump", "tcpdump")
    r = Run(binary, "own", h.CalmVethPair)
    net = r.net
    r.start_server("echo-lo", net.ns_a, "udp-echo", "127.0.0.1", "::1")

    def lo_traffic():
        entries = {}
        for src in ("127.0.0.1", "::1"):
            summary = r.traffic(net.ns_a, "udp-flows", src, 5000, 10, 5)
            # On lo a packet passes egress and then ingress.
            for (_, key), v in udp_flow_entries(summary, src, src).items():
                add_into(entries, {("egress", key): v, ("ingress", key): v})
        return entries
    own_export_run(r, "lo", "lo", [(net.ns_a, "ipfix", "127.0.0.1", 4739), (net.ns_a, "netflow9", "::1", 4740)],
                   (net.ns_a, "lo"), 2, lo_traffic)

    r.start_server("echo-b", net.ns_b, "udp-echo", net.ip_b, net.ip6_b)

    def veth_traffic():
        entries = {}
        for src, dst in ((net.ip_a, net.ip_b), (net.ip6_a, net.ip6_b)):
            # Enough flows at once for full-size export messages.
            add_into(entries, udp_flow_entries(r.traffic(net.ns_a, "udp-flows", dst, 5000, 40, 3), src, dst))
        return entries
    own_export_run(r, "veth", net.dev_a, [(net.ns_b, "ipfix", net.ip_b, 4739), (net.ns_b, "ipfix", net.ip6_b, 4740)],
                   (net.ns_b, net.dev_b), 1, veth_traffic)


SCENARIOS = {
    "xdp_native": scenario_xdp_native,
    "xdp_generic": scenario_xdp_generic,
    "xdp_only": scenario_xdp_only,
    "sampling_random": scenario_sampling_random,
    "sampling_hash": scenario_sampling_hash,
    "exclude": scenario_exclude,
    "own_export": scenario_own_export,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    h.require_root(f"e2e capture {a.scenario}")
    SCENARIOS[a.scenario](a.binary)
    print(f"e2e capture {a.scenario}: passed")


if __name__ == "__main__":
    main()
