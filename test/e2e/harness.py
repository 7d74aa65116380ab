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
