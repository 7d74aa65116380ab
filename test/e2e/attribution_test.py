"""End-to-end attribution: processes of two users in two child cgroups talk across a veth
pair; every record of their flows names the right user, process and cgroup, and the
per-user totals equal what the capture saw of each process's traffic, in cgroup mode and
in TC mode; traffic_meter's per-user CSV files agree with the JSON log.

  attribution_test.py --binary PATH cgroup|tc

Cases: connected and unconnected UDP, a TCP client, an accepted TCP connection (server
side), a socket shared after fork (attributed to its creator), processes that exit before
the drain, IPv4 and IPv6.
"""
import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
TRAFFIC = os.path.join(HERE, "traffic.py")
ATTR = os.path.join(HERE, "attr_traffic.py")
USERS = {"nobody": (65534, 65534), "www-data": (33, 33)}


def cgroup2_root():
    for line in open("/proc/self/mounts"):
        dev, point, fstype = line.split()[:3]
        if fstype == "cgroup2":
            return point
    raise AssertionError("no cgroup v2 hierarchy mounted")


class Cgroups:
    """ROOT/ebx-att-PID with children c1 and c2; removed at exit (after their processes)."""

    def __init__(self):
        self.root = os.path.join(cgroup2_root(), f"ebx-att-{os.getpid()}")
        self.children = {name: os.path.join(self.root, name) for name in ("c1", "c2")}
        for path in [self.root] + list(self.children.values()):
            os.makedirs(path, exist_ok=True)
        import atexit
        atexit.register(self.remove)

    def remove(self):
        for path in list(self.children.values()) + [self.root]:
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # processes still leaving

    def rel(self, name):
        return "/" + os.path.relpath(self.children[name], cgroup2_root())


def run_as(ns, cgroup_dir, user, argv, background=False, procs=None, out=None):
    """Runs argv in namespace ns (nsenter keeps /sys/fs/cgroup visible), inside cgroup_dir,
    as user. Returns the parsed last JSON line (or the Popen when background)."""
    uid, gid = USERS[user]
    inner = " ".join(argv)
    cmd = ["nsenter", f"--net=/var/run/netns/{ns}", "sh", "-c",
           f"echo $$ > {cgroup_dir}/cgroup.procs && exec setpriv --reuid={uid} --regid={gid} --clear-groups {inner}"]
    if background:
        return procs.start(cmd, stdout=out, stderr=subprocess.STDOUT)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"{argv} as {user}: exit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("mode", choices=["cgroup", "tc"])
    a = ap.parse_args()
    h.require_root(f"attribution {a.mode}")
    h.require_tools("tcpdump", "nsenter", "setpriv")

    procs = h.Processes()
    net = h.VethPair(f"att{a.mode[0]}")
    groups = Cgroups()
    work = tempfile.mkdtemp(prefix=f"ebpfix-attr-{a.mode}-")
    os.chmod(work, 0o755)
    users_dir = os.path.join(work, "users")
    os.makedirs(users_dir)
    server_out = open(os.path.join(work, "server.out"), "w")
    procs.start([PY, TRAFFIC, "serve", net.ip_b, net.ip6_b], netns=net.ns_b, stdout=server_out,
                stderr=subprocess.STDOUT)
    h.wait_for_text(os.path.join(work, "server.out"), "serving")

    log = os.path.join(work, "flows.json")
    err = os.path.join(work, "ebpfix.err")
    common = ["--log", "json", "--log-file", log, "--per-user-log", users_dir, "--drain-interval", "2"]
    if a.mode == "cgroup":
        argv = [a.binary, "--cgroup", groups.root] + common
    else:
        argv = ["nsenter", f"--net=/var/run/netns/{net.ns_a}", a.binary, net.dev_a, "--attribution"] + common
    ebpfix = procs.start(argv, stderr=open(err, "w"))
    h.wait_for_text(err, "attached to", timeout=20)
    # Every packet written at once (--immediate-mode): none may still sit in the ring at stop.
    cap = h.Capture(procs, net.ns_a, net.dev_a, os.path.join(work, "truth.pcap"))

    c1, c2 = groups.children["c1"], groups.children["c2"]
    owners = []  # (user, cgroup name, pid, local ports)

    def remember(user, cg, r):
        owners.append((user, cg, r["pid"], r["ports"]))

    remember("nobody", "c1", run_as(net.ns_a, c1, "nobody", [PY, ATTR, "udp", net.ip_b, "5000", "20"]))
    remember("nobody", "c1", run_as(net.ns_a, c1, "nobody", [PY, ATTR, "udp", net.ip6_b, "5000", "20"]))
    remember("nobody", "c1", run_as(net.ns_a, c1, "nobody", [PY, ATTR, "tcp", net.ip_b, "5201", "30000"]))
    remember("www-data", "c2", run_as(net.ns_a, c2, "www-data", [PY, ATTR, "udp-sendto", net.ip_b, "5000", "15"]))
    remember("www-data", "c2", run_as(net.ns_a, c2, "www-data", [PY, ATTR, "tcp", net.ip6_b, "5201", "20000"]))
    shared = run_as(net.ns_a, c1, "nobody", [PY, ATTR, "fork-shared", net.ip_b, "5000", "10"])
    remember("nobody", "c1", shared)
    # The server side: a listener of www-data in c2 accepts a connection from the peer.
    server_log = os.path.join(work, "attr-server.out")
    srv = run_as(net.ns_a, c2, "www-data", [PY, ATTR, "tcp-server", net.ip_a, "6000"], background=True,
                 procs=procs, out=open(server_log, "w"))
    h.wait_for_text(server_log, "listening")
    h.sh(f"ip netns exec {net.ns_b} {PY} {ATTR} tcp {net.ip_a} 6000 12000")
    srv.wait(timeout=30)
    server_pid = json.loads(open(server_log).read().strip().splitlines()[-1])["pid"]
    owners.append(("www-data", "c2", server_pid, [6000]))
    time.sleep(0.5)  # every process above has exited: owners are looked up afterwards
    cap.stop()
    rc = h.stop(ebpfix, signal.SIGTERM, timeout=30)
    assert rc == 0, open(err).read()[-3000:]

    # Ground truth: the capture, per (direction, flow key), mapped to owners by local port.
    from scapy.all import rdpcap
    mac = h.VethPair.mac(net.ns_a, net.dev_a)
    by_port = {}
    for user, cg, pid, ports in owners:
        for p in ports:
            by_port[p] = (user, cg, pid)
    truth_by_user = defaultdict(lambda: [0, 0])
    truth_flows = defaultdict(lambda: [0, 0])
    for pkt in rdpcap(os.path.join(work, "truth.pcap")):
        key = h.flow_key_of(pkt)
        if key is None:
            continue
        egress = pkt.src.lower() == mac.lower()
        local_port = key[2] if egress else key[3]
        if local_port not in by_port:
            continue
        user = by_port[local_port][0]
        truth_by_user[user][0] += 1
        truth_by_user[user][1] += h.l3_len(pkt)
        f = truth_flows[("egress" if egress else "ingress", key)]
        f[0] += 1
        f[1] += h.l3_len(pkt)

    records = [json.loads(line) for line in open(log)]
    got_by_user = defaultdict(lambda: [0, 0])
    got_flows = defaultdict(lambda: [0, 0])
    checked = 0
    for r in records:
        egress = r["direction"] == "egress"
        local_port = r["src_port"] if egress else r["dst_port"]
        if local_port not in by_port or r["protocol"] not in (6, 17):
            continue
        user, cg, pid = by_port[local_port]
        uid = USERS[user][0]
        assert r.get("uid") == uid and r.get("user") == user, f"wrong user in {r} (want {user})"
        assert r.get("cgroup") == groups.rel(cg), f"wrong cgroup in {r} (want {groups.rel(cg)})"
        assert r.get("pid") == pid and r.get("comm") == "python3", f"wrong process in {r} (want {pid})"
        got_by_user[user][0] += r["packets"]
        got_by_user[user][1] += r["bytes"]
        key = (r["src_ip"], r["dst_ip"], r["src_port"], r["dst_port"], r["protocol"])
        got_flows[(r["direction"], key)][0] += r["packets"]
        got_flows[(r["direction"], key)][1] += r["bytes"]
        checked += 1
    h.assert_equal_flows(truth_flows, got_flows, f"{a.mode}: attributed flows vs capture")
    assert dict(truth_by_user) == dict(got_by_user), (dict(truth_by_user), dict(got_by_user))
    assert set(got_by_user) == set(USERS), got_by_user

    # traffic_meter's CSV: parses, one file per (device, uid), totals = the JSON log's.
    csv_bytes = defaultdict(int)
    for name in os.listdir(users_dir):
        assert name.endswith(".csv"), name
        uid = int(name[:-4].rsplit("_", 1)[1])
        rows = list(csv.DictReader(open(os.path.join(users_dir, name))))
        assert rows, name
        assert list(rows[0].keys()) == ["direction", "bytes", "src_ip", "dst_ip", "timestamp", "total_in",
                                        "total_out"], rows[0].keys()
        total_in = sum(int(x["bytes"]) for x in rows if x["direction"] == "in")
        total_out = sum(int(x["bytes"]) for x in rows if x["direction"] == "out")
        assert int(rows[-1]["total_in"]) == total_in and int(rows[-1]["total_out"]) == total_out, name
        csv_bytes[uid] += total_in + total_out
    json_bytes = defaultdict(int)
    for r in records:
        if "uid" in r:
            json_bytes[r["uid"]] += r["bytes"]
    assert dict(csv_bytes) == dict(json_bytes), (dict(csv_bytes), dict(json_bytes))
    print(f"attribution {a.mode}: {checked} records of {len(owners)} sockets named their user, process and cgroup; "
          f"per-user totals {dict(got_by_user)} equal the capture; CSV totals equal the JSON log")


if __name__ == "__main__":
    main()
