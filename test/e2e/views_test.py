"""End-to-end views through the real binary: a timed run's summary, and the DOT graph of
who talks to whom with attribution.

  views_test.py --binary PATH summary|dot

summary  `ebpfix DEV --timeout 5s --json` with the flow log on: the run ends by itself
         within 5 s + one drain interval; the JSON summary's flows, per-protocol lines and
         total equal the flow log's records exactly.
dot      `ebpfix lo --attribution --dot FILE` in a private namespace: a server process with
         three client processes, and a process talking to itself over loopback. Graphviz
         (dot -Tplain) reads the file; its nodes and edges are exactly the expected ones,
         and `ebpfix ctl graph` answers the same graph.
"""
import argparse
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
DRAIN_S = 1.0
TIMEOUT_S = 5.0


def summary(binary):
    procs = h.Processes()
    net = h.VethPair("views")
    work = tempfile.mkdtemp(prefix="ebpfix-views-summary-")
    server_out = os.path.join(work, "server.out")
    procs.start([PY, TRAFFIC, "serve", net.ip_b, net.ip6_b], netns=net.ns_b, stdout=open(server_out, "w"),
                stderr=subprocess.STDOUT)
    h.wait_for_text(server_out, "serving")
    log = os.path.join(work, "flows.json")
    err = os.path.join(work, "ebpfix.err")
    out = os.path.join(work, "summary.json")
    # --json after --log: flowcap's --json sets the log's format too, and a later --log wins.
    ebpfix = procs.start([binary, "-c", "/dev/null", net.dev_a, "--timeout", f"{TIMEOUT_S:g}s",
                          "--log", "json", "--log-file", log, "--json", "--drain-interval", f"{DRAIN_S:g}",
                          "--control", ""],
                         netns=net.ns_a, stdout=open(out, "w"), stderr=open(err, "w"))
    h.wait_for_text(err, "exporting flows of", timeout=20)
    started = time.monotonic()
    h.sh(f"ip netns exec {net.ns_a} {PY} {TRAFFIC} send {net.ip_b} {net.ip6_b} 30")
    rc = ebpfix.wait(timeout=TIMEOUT_S + 30)
    elapsed = time.monotonic() - started
    assert rc == 0, open(err).read()[-3000:]
    # The timer starts just before "exporting flows of" is logged; the last drain and the
    # summary follow it.
    assert elapsed <= TIMEOUT_S + DRAIN_S + 0.5, f"--timeout {TIMEOUT_S:g}s ran {elapsed:.2f} s"
    assert "--timeout" in open(err).read(), "the log does not say why the run ended"

    _, records = h.json_log_flows(log)
    assert records, "no records in the flow log"
    doc = json.loads(open(out).read())
    log_total = [len(records), sum(r["packets"] for r in records), sum(r["bytes"] for r in records)]
    t = doc["total"]
    assert [t["records"], t["packets"], t["bytes"]] == log_total, (t, log_total)
    assert doc["other"]["records"] == 0, doc["other"]

    # Per flow: the summary's lines equal the log's records summed by flow key.
    def key_of(r, src, dst, sport, dport):
        return (r["direction"], r["ifname"], r[src], r[dst], r["protocol"], r[sport], r[dport])

    log_flows = defaultdict(lambda: [0, 0])
    for r in records:
        if r["protocol"] in (1, 58):
            sport, dport = r["icmp_type"], r["icmp_code"]
        else:
            sport, dport = r["src_port"], r["dst_port"]
        k = (r["direction"], r["ifname"], r["src_ip"], r["dst_ip"], r["protocol"], sport, dport)
        log_flows[k][0] += r["packets"]
        log_flows[k][1] += r["bytes"]
    summary_flows = {key_of(f, "srcIp", "dstIp", "srcPort", "dstPort"): [f["packets"], f["bytes"]]
                     for f in doc["flows"]}
    assert dict(log_flows) == summary_flows, (dict(log_flows), summary_flows)
    rates = [f["bitrate"] for f in doc["flows"]]
    assert rates == sorted(rates, reverse=True), f"flows not sorted by bitrate: {rates}"

    by_proto = defaultdict(lambda: [0, 0, 0])
    for r in records:
        by_proto[r["protocol"]][0] += 1
        by_proto[r["protocol"]][1] += r["packets"]
        by_proto[r["protocol"]][2] += r["bytes"]
    got_proto = {p["protocol"]: [p["records"], p["packets"], p["bytes"]] for p in doc["protocols"]}
    assert dict(by_proto) == got_proto, (dict(by_proto), got_proto)
    print(f"summary: --timeout {TIMEOUT_S:g}s ended after {elapsed:.2f} s; {len(summary_flows)} flows, "
          f"{t['packets']} packets, {t['bytes']} bytes, equal to the flow log's {len(records)} records")


SELF_TALK = r"""
import json, os, socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.create_connection(srv.getsockname()); a, _ = srv.accept()
c.sendall(b"x" * 5000); c.shutdown(socket.SHUT_WR)
n = 0
while True:
    d = a.recv(65536)
    if not d: break
    n += len(d)
a.close(); c.close(); srv.close()
print(json.dumps({"pid": os.getpid(), "bytes": n}))
"""

SERVER = r"""
import json, os, socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(8)
print("listening", flush=True)
for _ in range(int(sys.argv[2])):
    a, _ = srv.accept()
    while a.recv(65536): pass
    a.sendall(b"ok"); a.close()
print(json.dumps({"pid": os.getpid()}), flush=True)
"""

CLIENT = r"""
import json, os, socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"c" * int(sys.argv[2])); c.shutdown(socket.SHUT_WR)
while c.recv(65536): pass
c.close()
print(json.dumps({"pid": os.getpid()}))
"""


def plain_graph(path):
    """(nodes, edges) as Graphviz reads the file: node names and (tail, head) pairs."""
    r = subprocess.run(["dot", "-Tplain", path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"dot -Tplain {path}: {r.stderr}"
    import shlex
    nodes, edges = set(), []
    for line in r.stdout.splitlines():
        words = shlex.split(line)
        if words and words[0] == "node":
            nodes.add(words[1])
        elif words and words[0] == "edge":
            edges.append((words[1], words[2]))
    return nodes, edges


def dot(binary):
    procs = h.Processes()
    ns = f"ebpfix-e2e-views-{os.getpid()}"
    import atexit
    atexit.register(lambda: h.sh(f"ip netns del {ns}", check=False))
    h.sh(f"ip netns del {ns}", check=False)
    h.sh(f"ip netns add {ns}")
    h.sh(f"ip -n {ns} link set lo up")
    work = tempfile.mkdtemp(prefix="ebpfix-views-dot-")
    graph = os.path.join(work, "graph.dot")
    sock = os.path.join(work, "control.sock")
    err = os.path.join(work, "ebpfix.err")
    # nsenter, not `ip netns exec`: that one mounts a new /sys without the cgroup
    # hierarchy, where the socket hook of attribution is attached.
    ebpfix = procs.start(["nsenter", f"--net=/var/run/netns/{ns}", binary, "-c", "/dev/null", "lo",
                          "--attribution", "--dot", graph, "--log", "none", "--drain-interval", f"{DRAIN_S:g}",
                          "--control", sock, "--idle-timeout", "2"],
                         stderr=open(err, "w"))
    h.wait_for_text(err, "exporting flows of", timeout=20)

    def run(code, *args):
        r = subprocess.run(["ip", "netns", "exec", ns, PY, "-c", code, *map(str, args)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    port = 7070
    server_out = os.path.join(work, "server.out")
    server = procs.start([PY, "-c", SERVER, str(port), "3"], netns=ns, stdout=open(server_out, "w"))
    h.wait_for_text(server_out, "listening")
    clients = [run(CLIENT, port, 1000 * (i + 1))["pid"] for i in range(3)]
    assert server.wait(timeout=30) == 0
    server_pid = json.loads(open(server_out).read().strip().splitlines()[-1])["pid"]
    talker = run(SELF_TALK)["pid"]

    name = lambda pid: f"python3[{pid}]"  # noqa: E731
    want_nodes = {name(server_pid), name(talker)} | {name(c) for c in clients}
    want_edges = sorted([(name(c), name(server_pid)) for c in clients] + [(name(talker), name(talker))])

    # Records come once the connections end (FIN) and the next drain runs.
    def complete():
        if not os.path.exists(graph):
            return False
        nodes, edges = plain_graph(graph)
        return nodes == want_nodes and sorted(edges) == want_edges
    try:
        h.wait_for(complete, 20, "the graph with every connection")
    except AssertionError:
        raise AssertionError(f"graph differs: want nodes {want_nodes} edges {want_edges}, file:\n"
                             f"{open(graph).read() if os.path.exists(graph) else '(none)'}")
    nodes, edges = plain_graph(graph)
    assert len(edges) == len(set(edges)), f"edges not deduplicated: {edges}"
    text = open(graph).read()
    for c, nbytes in zip(clients, (1000, 2000, 3000)):
        # Each client's one connection, both directions' bytes (its data, the reply, handshakes).
        line = next(line for line in text.splitlines() if f'"{name(c)}" -> "{name(server_pid)}"' in line)
        assert "connections=1," in line, line
        got = int(line.split("bytes=")[1].rstrip("];"))
        assert got > nbytes, f"{line}: fewer bytes than the client sent ({nbytes})"

    r = subprocess.run([binary, "ctl", "--socket", sock, "graph"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ctl_graph = os.path.join(work, "ctl.dot")
    with open(ctl_graph, "w") as f:
        f.write(r.stdout)
    assert plain_graph(ctl_graph) == (nodes, edges), "ctl graph differs from the file"
    assert h.stop(ebpfix, signal.SIGTERM, timeout=30) == 0, open(err).read()[-3000:]
    print(f"dot: {len(nodes)} process nodes, edges {edges} as Graphviz reads them; ctl graph equal")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("scenario", choices=["summary", "dot"])
    a = ap.parse_args()
    h.require_root(f"views {a.scenario}")
    h.require_tools("dot", "nsenter")
    {"summary": summary, "dot": dot}[a.scenario](os.path.abspath(a.binary))


if __name__ == "__main__":
    main()
