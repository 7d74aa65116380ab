"""End-to-end test harness: private network namespaces joined by a veth pair, processes
started by PID and always stopped, collectors (nfcapd), a capture (tcpdump) as the ground
truth, and readers for what nfdump, the JSON flow log and the stats file say.

Network safety: every address used lives in the namespaces this harness creates (and
their own loopback); everything is deleted at exit, also on failure.
"""
import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

SKIP = 77


def require_root(what):
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        print(f"FAILED: {what} needs root, and CI must not skip it", file=sys.stderr)
        sys.exit(1)
    print(f"SKIPPED: {what} needs root (non-root developer run)", file=sys.stderr)
    sys.exit(SKIP)


def require_tools(*tools):
    import shutil
    missing = [t for t in tools if shutil.which(t) is None and not os.path.exists(t)]
    if not missing:
        return
    if os.environ.get("CI"):
        print(f"FAILED: missing tools {missing}, and CI must not skip", file=sys.stderr)
        sys.exit(1)
    print(f"SKIPPED: missing tools {missing}", file=sys.stderr)
    sys.exit(SKIP)


def sh(cmd, check=True, **kw):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {cmd}\n{r.stdout}\n{r.stderr}")
    return r.stdout


class Processes:
    """Every process a test starts, stopped by PID at the end whatever happens."""

    def __init__(self):
        self.procs = []
        atexit.register(self.kill_all)

    def start(self, argv, netns=None, stdout=None, stderr=None, **kw):
        if netns:
            argv = ["ip", "netns", "exec", netns] + list(argv)
        p = subprocess.Popen(argv, stdout=stdout or subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL,
                             start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def stop(p, sig=signal.SIGTERM, timeout=20):
    """Sends sig to p (by PID) and waits; returns the exit code."""
    if p.poll() is None:
        os.kill(p.pid, sig)
    return p.wait(timeout=timeout)


class VethPair:
    """Two named namespaces a and b joined by veth (a side: dev_a, b side: dev_b), IPv4
    10.211.N.1/.2 and IPv6 fd00:211:N::1/::2, offloads off so a packet on the wire is one
    packet everywhere (capture, kernel program)."""

    def __init__(self, tag):
        n = os.getpid() % 200 + 20
        self.ns_a = f"ebpfix-e2e-a-{tag}-{os.getpid()}"
        self.ns_b = f"ebpfix-e2e-b-{tag}-{os.getpid()}"
        self.dev_a = "e2ea0"
        self.dev_b = "e2eb0"
        self.ip_a, self.ip_b = f"10.211.{n}.1", f"10.211.{n}.2"
        self.ip6_a, self.ip6_b = f"fd00:211:{n}::1", f"fd00:211:{n}::2"
        atexit.register(self.delete)
        for ns in (self.ns_a, self.ns_b):
            sh(f"ip netns del {ns}", check=False)
            sh(f"ip netns add {ns}")
            sh(f"ip -n {ns} link set lo up")
        self.create_link()

    def create_link(self):
        sh(f"ip link add {self.dev_a} netns {self.ns_a} type veth peer name {self.dev_b} netns {self.ns_b}")
        for ns, dev, ip, ip6 in ((self.ns_a, self.dev_a, self.ip_a, self.ip6_a),
                                 (self.ns_b, self.dev_b, self.ip_b, self.ip6_b)):
            sh(f"ip -n {ns} addr add {ip}/24 dev {dev}")
            sh(f"ip -n {ns} -6 addr add {ip6}/64 dev {dev} nodad")
            sh(f"ip netns exec {ns} ethtool -K {dev} tso off gso off gro off tx off rx off", check=False)
            sh(f"ip -n {ns} link set {dev} up")
        # Static neighbours: no ARP/ND timing noise in the middle of a test.
        mac_a = self.mac(self.ns_a, self.dev_a)
        mac_b = self.mac(self.ns_b, self.dev_b)
        sh(f"ip -n {self.ns_a} neigh replace {self.ip_b} lladdr {mac_b} dev {self.dev_a} nud permanent")
        sh(f"ip -n {self.ns_b} neigh replace {self.ip_a} lladdr {mac_a} dev {self.dev_b} nud permanent")
        sh(f"ip -n {self.ns_a} -6 neigh replace {self.ip6_b} lladdr {mac_b} dev {self.dev_a} nud permanent")
        sh(f"ip -n {self.ns_b} -6 neigh replace {self.ip6_a} lladdr {mac_a} dev {self.dev_b} nud permanent")

    def delete_link(self):
        sh(f"ip -n {self.ns_a} link del {self.dev_a}", check=False)

    @staticmethod
    def mac(ns, dev):
        return sh(f"ip netns exec {ns} cat /sys/class/net/{dev}/address").strip()

    def delete(self):
        for ns in (self.ns_a, self.ns_b):
            sh(f"ip netns del {ns}", check=False)


def free_udp_port():
    # Ports are taken inside a private namespace's loopback; any fixed high port works,
    # but pick one the host is not using either, to be safe.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_text(path, text, timeout=15):
    def found():
        try:
            with open(path, errors="replace") as f:
                return text in f.read()
        except FileNotFoundError:
            return False
    wait_for(found, timeout, f"'{text}' in {path}")


# ---- ground truth and readers ------------------------------------------------------

def l3_len(pkt):
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    if IP in pkt:
        return pkt[IP].len
    return 40 + pkt[IPv6].plen


def flow_key_of(pkt):
    """(src, dst, sport, dport, proto) as ebpfix keys flows; None for non-IP."""
    from scapy.layers.inet import IP, TCP, UDP, ICMP
    from scapy.layers.inet6 import IPv6, _ICMPv6
    if IP in pkt:
        ip = pkt[IP]
        src, dst, proto = ip.src, ip.dst, ip.proto
        l4 = ip.payload
        if ip.frag != 0:
            return (src, dst, 0, 0, proto)
    elif IPv6 in pkt:
        ip = pkt[IPv6]
        src, dst = ip.src, ip.dst
        l4 = ip.payload
        # Skip extension headers scapy parsed.
        while l4 is not None and l4.__class__.__name__ in ("IPv6ExtHdrHopByHop", "IPv6ExtHdrDestOpt",
                                                           "IPv6ExtHdrRouting"):
            l4 = l4.payload
        proto = {"TCP": 6, "UDP": 17}.get(l4.__class__.__name__, None)
        if proto is None:
            proto = 58 if isinstance(l4, _ICMPv6) else ip.nh
    else:
        return None
    if isinstance(l4, (TCP, UDP)):
        return (src, dst, l4.sport, l4.dport, proto)
    if proto in (1, 58):
        # Type and code are the first two bytes of every ICMP/ICMPv6 message (scapy's
        # classes for some messages, e.g. MLD, have no "code" field).
        raw = bytes(l4)
        return (src, dst, 0, (raw[0] << 8) | raw[1], proto) if len(raw) >= 2 else (src, dst, 0, 0, proto)
    return (src, dst, 0, 0, proto)


def pcap_truth(path, my_mac):
    """Per (direction, key): [packets, bytes, tcp_flags]; and the non-IP frame count."""
    from scapy.all import rdpcap
    from scapy.layers.l2 import Ether
    from scapy.layers.inet import TCP
    flows = defaultdict(lambda: [0, 0, 0])
    non_ip = 0
    for pkt in rdpcap(path):
        key = flow_key_of(pkt)
        if key is None:
            non_ip += 1
            continue
        direction = "egress" if pkt[Ether].src.lower() == my_mac.lower() else "ingress"
        f = flows[(direction, key)]
        f[0] += 1
        f[1] += l3_len(pkt)
        if TCP in pkt:
            f[2] |= int(pkt[TCP].flags) & 0xff
    return flows, non_ip


def nfdump_flows(flow_dir):
    """Per key: [packets, bytes] summed over every record nfdump decodes (all files)."""
    out = sh(f"nfdump -R {flow_dir} -q -N -6 -o 'fmt:%sa|%da|%sp|%dp|%pr|%pkt|%byt|%flg'")
    flows = defaultdict(lambda: [0, 0, 0])
    for line in out.splitlines():
        if "|" not in line:
            continue
        sa, da, sp, dp, pr, pkt, byt, flg = [x.strip() for x in line.split("|")]
        proto = int(pr) if pr.isdigit() else {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMP6": 58}[pr]
        if "." in dp:  # ICMP type.code
            t, c = dp.split(".")
            dport = (int(t) << 8) | int(c)
        else:
            dport = int(dp)
        key = (sa, da, int(sp), dport, proto)
        flows[key][0] += int(pkt)
        flows[key][1] += int(byt)
        flows[key][2] += 1
    return flows


def nfdump_sequence_failures(flow_dir):
    total = 0
    for name in sorted(os.listdir(flow_dir)):
        if not name.startswith("nfcapd.") or "current" in name:
            continue
        out = sh(f"nfdump -r {os.path.join(flow_dir, name)} -I")
        for line in out.splitlines():
            if line.strip().lower().startswith("sequence failures"):
                total += int(line.split(":")[1].strip())
    return total


def json_log_flows(path):
    flows = defaultdict(lambda: [0, 0, 0])
    records = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            records.append(r)
            key = (r["direction"], (r["src_ip"], r["dst_ip"], r["src_port"], r["dst_port"], r["protocol"]))
            flows[key][0] += r["packets"]
            flows[key][1] += r["bytes"]
            flows[key][2] |= int(r["tcp_flags"], 16)  # flowcap writes "0x1b"
    return flows, records


def undirected(flows):
    """Drops the direction from (direction, key) entries, summing packets and bytes."""
    out = defaultdict(lambda: [0, 0])
    for (direction, key), v in flows.items():
        out[key][0] += v[0]
        out[key][1] += v[1]
    return out


def assert_equal_flows(expected, got, what):
    exp = {k: (v[0], v[1]) for k, v in expected.items()}
    act = {k: (v[0], v[1]) for k, v in got.items()}
    if exp != act:
        lines = [f"{what}: flows differ"]
        for k in sorted(set(exp) | set(act), key=str):
            if exp.get(k) != act.get(k):
                lines.append(f"  {k}: expected {exp.get(k)} got {act.get(k)}")
        raise AssertionError("\n".join(lines))


# ---- capture modes, sampling, exclude lists, own export (capture_test.py) -------------

class CalmVethPair(VethPair):
    """A VethPair whose namespaces send no router solicitations (the kernel's default is
    to keep sending them, backing off, for as long as the link is up): once the link-up
    MLD reports are over, only the test's own packets cross it."""

    def create_link(self):
        for ns in (self.ns_a, self.ns_b):
            sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.all.router_solicitations=0 "
               "net.ipv6.conf.default.router_solicitations=0")
        super().create_link()


class QuietVethPair(VethPair):
    """A VethPair with IPv4 only: IPv6 is off in both namespaces, so no MLD report, router
    solicitation or DAD probe ever crosses the link and everything the hooks see is the
    test's own traffic (static neighbours: no ARP either). ip6_a and ip6_b are None."""

    def create_link(self):
        self.ip6_a = self.ip6_b = None
        for ns in (self.ns_a, self.ns_b):
            sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
               "net.ipv6.conf.default.disable_ipv6=1")
        sh(f"ip link add {self.dev_a} netns {self.ns_a} type veth peer name {self.dev_b} netns {self.ns_b}")
        for ns, dev, ip in ((self.ns_a, self.dev_a, self.ip_a), (self.ns_b, self.dev_b, self.ip_b)):
            sh(f"ip -n {ns} addr add {ip}/24 dev {dev}")
            sh(f"ip netns exec {ns} ethtool -K {dev} tso off gso off gro off tx off rx off", check=False)
            sh(f"ip -n {ns} link set {dev} up")
        sh(f"ip -n {self.ns_a} neigh replace {self.ip_b} lladdr {self.mac(self.ns_b, self.dev_b)} "
           f"dev {self.dev_a} nud permanent")
        sh(f"ip -n {self.ns_b} neigh replace {self.ip_a} lladdr {self.mac(self.ns_a, self.dev_a)} "
           f"dev {self.dev_b} nud permanent")


def add_peer_address(net, ip4, ip6=None):
    """Gives the b side a second address in a subnet of its own (ip4/24, ip6/64), which a
    reaches over the same veth (on-link route, static neighbour)."""
    import ipaddress
    mac_b = VethPair.mac(net.ns_b, net.dev_b)
    sh(f"ip -n {net.ns_b} addr add {ip4}/24 dev {net.dev_b}")
    sh(f"ip -n {net.ns_a} route add {ipaddress.ip_network(ip4 + '/24', strict=False)} dev {net.dev_a}")
    sh(f"ip -n {net.ns_a} neigh replace {ip4} lladdr {mac_b} dev {net.dev_a} nud permanent")
    if ip6:
        sh(f"ip -n {net.ns_b} -6 addr add {ip6}/64 dev {net.dev_b} nodad")
        sh(f"ip -n {net.ns_a} -6 route add {ipaddress.ip_network(ip6 + '/64', strict=False)} dev {net.dev_a}")
        sh(f"ip -n {net.ns_a} -6 neigh replace {ip6} lladdr {mac_b} dev {net.dev_a} nud permanent")


def wait_until(predicate, timeout):
    """Like wait_for, but returns whether the condition came true (the caller then
    asserts with the details of what differs)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def wait_udp_bound(ns, port, timeout=15):
    """Waits until something in namespace ns listens on UDP port."""
    wait_for(lambda: f":{port} " in sh(f"ip netns exec {ns} ss -Hulna", check=False), timeout,
             f"a UDP socket on port {port} in {ns}")


def read_pcap(path):
    """(time, frame) of each whole record of a pcap file, also while tcpdump still writes
    it: a record cut at the end of the file is left out."""
    import struct
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    if len(data) < 24:
        return []
    endian = "<" if struct.unpack_from("<I", data)[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = struct.unpack_from(endian + "I", data)[0] == 0xA1B23C4D
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack_from(endian + "IIII", data, off)
        if off + 16 + incl > len(data):
            break
        out.append((sec + frac / (1e9 if nano else 1e6), data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return out


def frames_truth(frames, my_mac):
    """pcap_truth for frames read_pcap returned: per (direction, key) [packets, bytes,
    tcp_flags], and the non-IP frame count."""
    from scapy.layers.l2 import Ether
    from scapy.layers.inet import TCP
    flows = defaultdict(lambda: [0, 0, 0])
    non_ip = 0
    for _, raw in frames:
        pkt = Ether(raw)
        key = flow_key_of(pkt)
        if key is None:
            non_ip += 1
            continue
        direction = "egress" if pkt[Ether].src.lower() == my_mac.lower() else "ingress"
        f = flows[(direction, key)]
        f[0] += 1
        f[1] += l3_len(pkt)
        if TCP in pkt:
            f[2] |= int(pkt[TCP].flags) & 0xff
    return flows, non_ip


class Capture:
    """tcpdump on a device of a namespace, each packet written at once (-U,
    --immediate-mode) so that the file can be read while it runs; stop() fails if the
    kernel dropped any packet for it."""

    def __init__(self, procs, ns, dev, path, bpf_filter=None):
        import shlex
        self.path = path
        self.err = path + ".err"
        argv = ["tcpdump", "-i", dev, "-U", "--immediate-mode", "-n", "-B", "16384", "-w", path]
        if bpf_filter:
            argv += shlex.split(bpf_filter)
        self.proc = procs.start(argv, netns=ns, stderr=open(self.err, "w"))
        wait_for_text(self.err, "listening on")

    def frames(self):
        return read_pcap(self.path)

    def stop(self):
        import re
        stop(self.proc, signal.SIGINT)
        text = open(self.err).read()
        m = re.search(r"(\d+) packets? dropped by kernel", text)
        assert m is not None and int(m.group(1)) == 0, f"tcpdump lost packets, the ground truth is incomplete: {text}"


def tcx_programs(ns, dev):
    """Names of the programs attached to dev (in ns) by TCX, per direction, found with
    BPF_PROG_QUERY (attach types 46/47); bpftool 7.1 does not list TCX."""
    code = r"""
import ctypes, json, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
ifindex = socket.if_nametoindex(sys.argv[1])
out = {}
for name, attach_type in (("ingress", 46), ("egress", 47)):
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(struct.pack("=IIIIQI", ifindex, attach_type, 0, 0, ctypes.addressof(ids), 64), 128)
    if libc.syscall(321, 16, attr, 64) != 0:  # SYS_bpf, BPF_PROG_QUERY
        raise SystemExit("BPF_PROG_QUERY: errno %d" % ctypes.get_errno())
    out[name] = list(ids[:struct.unpack_from("=I", attr.raw, 24)[0]])
print(json.dumps(out))
"""
    import shlex
    ids = json.loads(sh(f"ip netns exec {ns} {sys.executable} -c {shlex.quote(code)} {dev}"))
    return {d: [bpf_prog_name(i) for i in v] for d, v in ids.items()}


def bpf_prog_name(prog_id):
    r = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id), "--json"], capture_output=True, text=True)
    try:
        return json.loads(r.stdout).get("name", f"id {prog_id}")
    except ValueError:
        return f"id {prog_id} (gone)"


def xdp_attachment(ns, dev):
    """(mode, program name) of the XDP program on dev: mode "native", "generic" or
    "offload"; None when there is none."""
    link = json.loads(sh(f"ip -n {ns} -d -j link show dev {dev}"))[0]
    x = link.get("xdp")
    if not x:
        return None
    mode = {1: "native", 2: "generic", 3: "offload"}.get(x.get("mode"), f"mode {x.get('mode')}")
    return mode, x.get("prog", {}).get("name")


def tc_filters(ns, dev):
    """The clsact filters of dev (both directions) as tc prints them."""
    return "".join(sh(f"ip netns exec {ns} tc filter show dev {dev} {d}", check=False) for d in ("ingress", "egress"))


def stats_lines(path):
    """The JSON stats file's lines (one per cycle); a line still being written is left out."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


def stats_total(path, key):
    """A per-cycle counter of the JSON stats file summed over its lines."""
    return sum(x[key] for x in stats_lines(path))


def scrape(ns, addr):
    """The Prometheus text served at http://addr/metrics inside ns."""
    code = ("import urllib.request,sys;"
            f"sys.stdout.write(urllib.request.urlopen('http://{addr}/metrics',timeout=5).read().decode())")
    return sh(f"ip netns exec {ns} {sys.executable} -c \"{code}\"")


def prom_value(text, name, labels=None):
    """The sum of the samples of metric name whose labels include labels; None if none."""
    total = None
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, value = line.rsplit(" ", 1)
        if head.split("{")[0] != name:
            continue
        if labels and not all(f'{k}="{v}"' in head for k, v in labels.items()):
            continue
        total = (total or 0) + float(value)
    return total
