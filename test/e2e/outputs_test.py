"""End-to-end tests of the outputs of issue 15 through the real binary (CTest runs each
scenario as its own test).

  outputs_test.py --binary PATH --kafka-mock PATH --source-dir DIR SCENARIO

  netflow5   --netflow5 to nfcapd: nfdump's totals equal the capture's for IPv4; IPv6
             flows are not exported, and counted as not exportable (metrics)
  ipfix_tcp  --ipfix tcp://: a strict IPFIX-over-TCP reader (ipfix_reader.py) gets exactly
             the capture's totals
  biflow     a biflow collector (softflowd's -n -v 10 -b) next to a uniflow one (nfcapd):
             the biflows, split back into their directions, carry exactly the uniflows
  kafka      a [[kafka]] output to librdkafka's mock cluster (kafka_mock_cluster.cpp):
             kcat reads every message, protoc decodes them with proto/flow.proto, and the
             totals equal the capture's

Each scenario builds its own namespaces and removes them (and every process it started)
at exit, also on failure. Traffic stays inside the namespaces and their loopback.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import e2e_test as e2e  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
READER = os.path.join(HERE, "ipfix_reader.py")
PY = "/usr/bin/python3"


class CalmSetup(e2e.Setup):
    """e2e.Setup on a CalmVethPair: once the link-up chatter is over, nothing but the
    test's traffic crosses the link, so the counters settle."""

    def __init__(self, binary, tag):
        import tempfile
        self.binary = binary
        self.procs = h.Processes()
        self.net = h.CalmVethPair(tag)
        self.work = tempfile.mkdtemp(prefix=f"ebpfix-e2e-{tag}-")
        self.server = None
        self.ebpfix = None

    def start_reader(self, transport, port, name):
        out = self.path(name + ".jsonl")
        log = self.path(name + ".out")
        err = self.path(name + ".err")
        p = self.procs.start([PY, READER, transport, "127.0.0.1", str(port), out], netns=self.net.ns_a,
                             stdout=open(log, "w"), stderr=open(err, "w"))
        h.wait_for_text(log, "listening")
        return p, out, log, err

    def stop_reader(self, p, err):
        rc = h.stop(p, signal.SIGTERM, timeout=20)
        text = open(err).read()
        assert rc == 0 and "ERROR" not in text, f"IPFIX reader exited {rc}: {text[-3000:]}"


def log_records(path):
    """The JSON flow log's complete lines (a line being written is left out)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


def reader_records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def key_of(r):
    return (r["src"], r["dst"], r["sport"], r["dport"], r["proto"])


def reader_flows(records):
    """Per key: [packets, bytes], uniflow records only."""
    flows = defaultdict(lambda: [0, 0])
    for r in records:
        assert r["rpackets"] == 0 and r["roctets"] == 0, f"reverse counts in a uniflow record: {r}"
        flows[key_of(r)][0] += r["packets"]
        flows[key_of(r)][1] += r["octets"]
    return flows


# The reply of each ICMP / ICMPv6 request (type << 8 | code in dport), as pair_biflows pairs them.
ICMP_REPLY = {1: {0x0800: 0x0000, 0x0d00: 0x0e00, 0x0f00: 0x1000, 0x1100: 0x1200},
              58: {0x8000: 0x8100}}


def reverse_key(key):
    src, dst, sport, dport, proto = key
    if proto in ICMP_REPLY:
        replies = ICMP_REPLY[proto]
        requests = {v: k for k, v in replies.items()}
        other = replies.get(dport, requests.get(dport))
        assert other is not None, f"ICMP biflow with reverse counts and no partner type: {key}"
        return (dst, src, 0, other, proto)
    return (dst, src, dport, sport, proto)


def biflows_as_uniflows(records):
    """Each biflow split back into its forward and reverse direction, per key."""
    flows = defaultdict(lambda: [0, 0])
    for r in records:
        k = key_of(r)
        flows[k][0] += r["packets"]
        flows[k][1] += r["octets"]
        if r["rpackets"] or r["roctets"]:
            rk = reverse_key(k)
            flows[rk][0] += r["rpackets"]
            flows[rk][1] += r["roctets"]
    return flows


def drop_empty(flows):
    return {k: v for k, v in flows.items() if v[0] or v[1]}


def capture_truth(s):
    truth, _ = h.pcap_truth(s.path("truth.pcap"), h.VethPair.mac(s.net.ns_a, s.net.dev_a))
    ours = e2e.only_ours(h.undirected(truth))
    assert sum(v[0] for v in ours.values()) > 500, "too little traffic captured"
    return ours


def log_undirected(s):
    flows, _ = h.json_log_flows(s.path("flows.json"))
    return h.undirected(flows)


def run_traffic(s, rounds=150):
    cap = s.start_capture()
    s.send(rounds=rounds)
    time.sleep(1.0)
    h.stop(cap, signal.SIGINT)


def scenario_netflow5(binary, args):
    h.require_tools("nfcapd", "nfdump", "tcpdump")
    s = CalmSetup(binary, "nf5")
    s.start_server()
    port, metrics = h.free_udp_port(), 9467
    nfcapd, flow_dir = s.start_nfcapd("v5", port)
    s.start_ebpfix([s.net.dev_a, "--netflow5", f"127.0.0.1:{port}", "--log", "json", "--log-file",
                    s.path("flows.json"), "--drain-interval", "0.5", "--idle-timeout", "2",
                    "--metrics-addr", f"127.0.0.1:{metrics}"])
    run_traffic(s)

    # Every flow ends within the idle timeout and the link stays quiet: the v5 output's
    # counts settle at the flow log's IPv4 records (delivered) and IPv6 records (not
    # exportable).
    seen = {}

    def settled():
        text = s.scrape(metrics)
        labels = {"sink": "netflow5"}
        seen["delivered"] = e2e.metric_value(text, "ebpfix_sink_records_delivered_total", labels)
        seen["not_exportable"] = e2e.metric_value(text, "ebpfix_sink_records_not_exportable_total", labels)
        records = log_records(s.path("flows.json"))
        seen["ipv4_records"] = sum(1 for r in records if ":" not in r["src_ip"])
        seen["ipv6_records"] = len(records) - seen["ipv4_records"]
        return (seen["ipv6_records"] > 0 and seen["delivered"] == seen["ipv4_records"] and
                seen["not_exportable"] == seen["ipv6_records"])

    assert h.wait_until(settled, 20), f"v5 output (metrics) vs the flow log's IPv4 / IPv6 records: {seen}"
    s.stop_ebpfix()
    h.stop(nfcapd)

    got = h.nfdump_flows(flow_dir)
    assert not [k for k in got if ":" in k[0]], f"IPv6 flows in a NetFlow v5 export: {got}"
    truth4 = {k: v for k, v in capture_truth(s).items() if ":" not in k[0]}
    h.assert_equal_flows(truth4, e2e.only_ours(got), "nfdump NetFlow v5 vs capture (IPv4)")
    log4 = {k: v for k, v in log_undirected(s).items() if ":" not in k[0]}
    h.assert_equal_flows(log4, got, "nfdump NetFlow v5 vs JSON log (every IPv4 flow)")
    fails = h.nfdump_sequence_failures(flow_dir)
    assert fails == 0, f"nfdump NetFlow v5: {fails} sequence failures"


def scenario_ipfix_tcp(binary, args):
    h.require_tools("tcpdump")
    s = CalmSetup(binary, "tcp")
    s.start_server()
    port = h.free_udp_port()
    # The reader listens first: a refused first attempt would wait a minute (RFC 7011 10.4.4).
    reader, out, log, err = s.start_reader("tcp", port, "tcp-reader")
    config = s.path("ebpfix.toml")
    with open(config, "w") as f:
        f.write("[flow]\ndrain_interval = 0.5\n")
    s.start_ebpfix(["-c", config, s.net.dev_a, "--ipfix", f"tcp://127.0.0.1:{port}", "--log", "json",
                    "--log-file", s.path("flows.json")])
    cap = s.start_capture()
    s.send(rounds=150)
    # A reload that changes nothing keeps the connection and its stream.
    os.kill(s.ebpfix.pid, signal.SIGHUP)
    h.wait_for_text(s.ebpfix_err, "SIGHUP: configuration reloaded")
    s.send(rounds=50)
    time.sleep(1.0)
    h.stop(cap, signal.SIGINT)
    s.stop_ebpfix()
    h.wait_for_text(log, "closed", timeout=20)  # ebpfix shut the connection down at stop
    time.sleep(0.5)
    s.stop_reader(reader, err)

    # Every record came on one connection, kept across the reload (which opens no other).
    per_connection = [int(line.split()[1]) for line in open(log) if line.startswith("closed ")]
    assert len(per_connection) == 1 and per_connection[0] > 0, per_connection
    got = reader_flows(reader_records(out))
    h.assert_equal_flows(capture_truth(s), e2e.only_ours(got), "IPFIX over TCP vs capture")
    h.assert_equal_flows(log_undirected(s), got, "IPFIX over TCP vs JSON log (all flows)")


def scenario_biflow(binary, args):
    h.require_tools("nfcapd", "nfdump", "tcpdump")
    s = CalmSetup(binary, "bi")
    s.start_server()
    uni_port, bi_port = h.free_udp_port(), h.free_udp_port()
    nfcapd, flow_dir = s.start_nfcapd("uni", uni_port)
    reader, out, log, err = s.start_reader("udp", bi_port, "bi-reader")
    # softflowd's spelling for the biflow collector; the uniflow one next to it.
    s.start_ebpfix([s.net.dev_a, "--ipfix", f"127.0.0.1:{uni_port}", "-n", f"127.0.0.1:{bi_port}", "-v", "10",
                    "-b", "--log", "json", "--log-file", s.path("flows.json"), "--drain-interval", "0.5"])
    run_traffic(s)
    s.stop_ebpfix()
    h.stop(nfcapd)
    time.sleep(0.5)
    s.stop_reader(reader, err)

    records = reader_records(out)
    assert {r["template"] for r in records} <= {268, 269}, {r["template"] for r in records}
    assert any(r["rpackets"] for r in records), "no biflow has a reverse direction"
    uni = h.nfdump_flows(flow_dir)
    bi = drop_empty(biflows_as_uniflows(records))
    h.assert_equal_flows(uni, bi, "biflows split by direction vs the uniflow export (all flows)")
    h.assert_equal_flows(capture_truth(s), e2e.only_ours(bi), "biflows vs capture")
    total = lambda flows: (sum(v[0] for v in flows.values()), sum(v[1] for v in flows.values()))  # noqa: E731
    assert total(uni) == (sum(r["packets"] + r["rpackets"] for r in records),
                          sum(r["octets"] + r["roctets"] for r in records))
    assert len(records) < sum(v[2] for v in uni.values()), "biflows should be fewer records than uniflows"


def kcat_messages(ns, brokers, topic):
    """Every message of the topic, whole, as kcat reads it ('%S:%s': length, then payload)."""
    r = subprocess.run(["ip", "netns", "exec", ns, "kcat", "-C", "-q", "-e", "-o", "beginning", "-b", brokers,
                        "-t", topic, "-f", "%S:%s"], capture_output=True, timeout=60)
    assert r.returncode == 0, f"kcat exited {r.returncode}: {r.stderr.decode(errors='replace')}"
    data, pos, out = r.stdout, 0, []
    while pos < len(data):
        colon = data.index(b":", pos)
        n = int(data[pos:colon])
        out.append(data[colon + 1:colon + 1 + n])
        assert len(out[-1]) == n, "kcat output ends inside a message"
        pos = colon + 1 + n
    return out


def protoc_records(source_dir, messages):
    """protoc's reading of the messages (length-delimited FlowMessages) as one Batch
    (test/sinks/kafka_batch.proto): per record the fields of FlowMessage it printed."""
    batch = b"".join(b"\x0a" + m for m in messages)
    r = subprocess.run(["protoc", "-I.", "--decode=ebpfix_test.Batch", "test/sinks/kafka_batch.proto"],
                       input=batch, capture_output=True, cwd=source_dir, timeout=60)
    assert r.returncode == 0, f"protoc exited {r.returncode}: {r.stderr.decode(errors='replace')}"
    records, cur = [], None
    for line in r.stdout.decode(errors="replace").splitlines():
        if line == "flows {":
            cur = {}
        elif line == "}":
            records.append(cur)
            cur = None
        elif cur is not None and line.startswith("  ") and ": " in line:
            name, value = line.strip().split(": ", 1)
            cur[name] = value
    return records


def scenario_kafka(binary, args):
    h.require_tools("kcat", "protoc", "tcpdump", args.kafka_mock)
    s = CalmSetup(binary, "kafka")
    s.start_server()
    mock_out = s.path("mock.out")
    s.procs.start([args.kafka_mock, "flows", "2"], netns=s.net.ns_a, stdout=open(mock_out, "w"),
                  stderr=open(s.path("mock.err"), "w"))
    h.wait_for_text(mock_out, "bootstraps ")
    brokers = open(mock_out).read().split("bootstraps ", 1)[1].split()[0]
    assert brokers.startswith("127.0.0.1:"), brokers
    config = s.path("ebpfix.toml")
    with open(config, "w") as f:
        f.write(f'[[kafka]]\nbrokers = "{brokers}"\ntopic = "flows"\nkey = "flow"\n'
                '[kafka.properties]\n"linger.ms" = "5"\n')
    s.start_ebpfix(["-c", config, s.net.dev_a, "--log", "json", "--log-file", s.path("flows.json"),
                    "--drain-interval", "0.5"])
    cap = s.start_capture()
    s.send(rounds=150)
    # A reload that changes nothing keeps the running output: its sequence numbers go on
    # (a new output would start again at 0, checked below).
    os.kill(s.ebpfix.pid, signal.SIGHUP)
    h.wait_for_text(s.ebpfix_err, "SIGHUP: configuration reloaded")
    s.send(rounds=50)
    time.sleep(1.0)
    h.stop(cap, signal.SIGINT)
    s.stop_ebpfix()  # the final flush waits for the broker's acknowledgments

    messages = kcat_messages(s.net.ns_a, brokers, "flows")
    records = protoc_records(args.source_dir, messages)
    _, log = h.json_log_flows(s.path("flows.json"))
    assert len(records) == len(messages) == len(log), (len(records), len(messages), len(log))
    num = lambda r, k: int(r.get(k, "0"))  # noqa: E731  proto3 leaves zeros out
    assert (sum(num(r, "packets") for r in records), sum(num(r, "bytes") for r in records)) == \
        (sum(x["packets"] for x in log), sum(x["bytes"] for x in log)), "Kafka vs JSON log totals"

    def ours(r):
        proto = num(r, "proto")
        dport = (num(r, "icmp_type") << 8 | num(r, "icmp_code")) if proto in (1, 58) else num(r, "dst_port")
        return e2e.ours((None, None, num(r, "src_port"), dport, proto))

    truth = capture_truth(s)
    mine = [r for r in records if ours(r)]
    assert (sum(num(r, "packets") for r in mine), sum(num(r, "bytes") for r in mine)) == \
        (sum(v[0] for v in truth.values()), sum(v[1] for v in truth.values())), "Kafka (protoc) vs capture totals"
    assert {r.get("type") for r in records} == {"IPFIX"}
    assert sorted(num(r, "sequence_num") for r in records) == list(range(len(records))), \
        "sequence numbers: one output from start to stop, every record once"


SCENARIOS = {"netflow5": scenario_netflow5, "ipfix_tcp": scenario_ipfix_tcp, "biflow": scenario_biflow,
             "kafka": scenario_kafka}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--kafka-mock", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    h.require_root(f"e2e outputs {a.scenario}")
    SCENARIOS[a.scenario](a.binary, a)
    print(f"e2e outputs {a.scenario}: passed")


if __name__ == "__main__":
    main()
