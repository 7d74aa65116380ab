"""Traffic for the end-to-end tests, run inside a namespace with `ip netns exec`.

  traffic.py serve HOST4 HOST6          UDP echo on :5000 (v4+v6), TCP sink on :5201
  traffic.py send HOST4 HOST6 ROUNDS    UDP: ROUNDS datagrams each way per family;
                                        TCP: one connection per family, 64 KiB, closed
  traffic.py send-udp HOST4 HOST6 ROUNDS   the UDP part only (counts known exactly)
Prints a JSON summary of what it sent (datagrams and payload sizes).

  traffic.py udp-echo HOST...           UDP echo on :5000 of each HOST (either family)
  traffic.py discard HOST PORT          reads and drops UDP datagrams on HOST:PORT
  traffic.py blast HOST PORT COUNT [SIZE]   COUNT datagrams of SIZE bytes, one flow, as
                                        fast as the socket takes them
  traffic.py udp-flows HOST PORT NFLOWS ROUNDS [BASE_PORT]   NFLOWS flows (source ports
                                        BASE_PORT.., or any), ROUNDS echoed datagrams each
  traffic.py udp-load HOST PORT STOP_FILE   one echoed flow until STOP_FILE exists; prints
                                        its progress
  traffic.py vlan-frames IFACE SRC_MAC DST_MAC SRC4 DST4 SRC6 DST6 COUNT   VLAN-tagged
                                        UDP frames (802.1Q v4 and v6, QinQ v4), sent raw
The UDP commands print per flow (source port) what was sent and received, with L3 bytes.
"""
import json
import socket
import sys
import threading
import time

UDP_PORT = 5000
TCP_PORT = 5201


def serve(host4, host6):
    def udp_echo(family, host):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((host, UDP_PORT))
        while True:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)

    def tcp_sink(family, host):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, TCP_PORT))
        s.listen(16)
        while True:
            c, _ = s.accept()
            def drain(c=c):
                while c.recv(65536):
                    pass
                c.close()
            threading.Thread(target=drain, daemon=True).start()

    for fam, host in ((socket.AF_INET, host4), (socket.AF_INET6, host6)):
        threading.Thread(target=udp_echo, args=(fam, host), daemon=True).start()
        threading.Thread(target=tcp_sink, args=(fam, host), daemon=True).start()
    print("serving", flush=True)
    while True:
        time.sleep(3600)


def send(host4, host6, rounds, tcp=True):
    sent = {"udp": 0, "udp_bytes_each_way": {4: 0, 6: 0}}
    for fam, host in ((socket.AF_INET, host4), (socket.AF_INET6, host6)):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.connect((host, UDP_PORT))
        for i in range(rounds):
            s.send(b"x" * (10 + i % 100))
            s.recv(65535)  # the echo: one datagram back for each sent
            sent["udp"] += 1
            # L3 bytes: IPv4 20 + UDP 8 + payload; IPv6 40 + 8 + payload.
            sent["udp_bytes_each_way"][4 if fam == socket.AF_INET else 6] += \
                (28 if fam == socket.AF_INET else 48) + 10 + i % 100
        s.close()
        if not tcp:
            continue
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.settimeout(10)
        t.connect((host, TCP_PORT))
        t.sendall(b"y" * 65536)
        t.shutdown(socket.SHUT_WR)
        t.recv(1)  # wait for the server's FIN
        t.close()
    print(json.dumps(sent), flush=True)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def l3_overhead(host):
    # IPv4 20 + UDP 8; IPv6 40 + UDP 8.
    return 48 if ":" in host else 28


def udp_echo(*hosts):
    def echo(s):
        while True:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)

    for host in hosts:
        s = socket.socket(family_of(host), socket.SOCK_DGRAM)
        s.bind((host, UDP_PORT))  # before "serving": an unbound port answers with ICMP errors
        threading.Thread(target=echo, args=(s,), daemon=True).start()
    print("serving", flush=True)
    while True:
        time.sleep(3600)


def discard(host, port):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((host, int(port)))
    print("serving", flush=True)
    while True:
        s.recv(65535)


def blast(host, port, count, size=18):
    import errno
    count, size = int(count), int(size)
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.connect((host, int(port)))
    payload = b"b" * size
    send = s.send
    sent = 0
    while sent < count:
        try:
            send(payload)
            sent += 1
        except OSError as e:
            # A full device queue refuses the datagram: it never reached the device.
            if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                raise
            time.sleep(0.001)
    print(json.dumps({"sent": sent, "local_port": s.getsockname()[1], "l3_bytes": l3_overhead(host) + size}),
          flush=True)


def echo_rounds(s, host, flow, rounds, first):
    """ROUNDS request/echo exchanges on connected socket s, counted into flow."""
    for r in range(first, first + rounds):
        data = b"f" * (10 + r % 50)
        s.send(data)
        flow["sent"] += 1
        flow["l3_sent"] += l3_overhead(host) + len(data)
        try:
            back = s.recv(65535)
        except socket.timeout:
            continue
        flow["received"] += 1
        flow["l3_received"] += l3_overhead(host) + len(back)


def new_flow():
    return {"sent": 0, "received": 0, "l3_sent": 0, "l3_received": 0}


def udp_flows(host, port, nflows, rounds, base_port=0):
    nflows, rounds, base_port = int(nflows), int(rounds), int(base_port)
    out = {"host": host, "flows": {}}
    for i in range(nflows):
        s = socket.socket(family_of(host), socket.SOCK_DGRAM)
        s.settimeout(3)
        s.bind(("::" if ":" in host else "0.0.0.0", base_port + i if base_port else 0))
        s.connect((host, int(port)))
        # A closed socket's ephemeral port can come back for a later one: the same
        # 5-tuple, one flow to the exporter, so its counts add up.
        flow = out["flows"].setdefault(str(s.getsockname()[1]), new_flow())
        echo_rounds(s, host, flow, rounds, i)
        s.close()
    print(json.dumps(out), flush=True)


def udp_load(host, port, stop_file):
    import os
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect((host, int(port)))
    flow = new_flow()
    while not os.path.exists(stop_file):
        echo_rounds(s, host, flow, 20, flow["sent"])
        print(json.dumps({"progress": flow["sent"]}), flush=True)
    print(json.dumps({"host": host, "flows": {str(s.getsockname()[1]): flow}}), flush=True)


def vlan_frames(iface, src_mac, dst_mac, src4, dst4, src6, dst6, count):
    from scapy.all import Ether, Dot1Q, Dot1AD, IP, IPv6, UDP, Raw, sendp
    count = int(count)
    eth = Ether(src=src_mac, dst=dst_mac)
    # Distinct ports and counts per kind, so that a swap between them shows.
    kinds = [
        ("dot1q4", count, (100, 0), eth / Dot1Q(vlan=100) / IP(src=src4, dst=dst4) / UDP(sport=7100, dport=7101) /
         Raw(b"v" * 20)),
        ("dot1q6", count + 1, (101, 0), eth / Dot1Q(vlan=101) / IPv6(src=src6, dst=dst6) /
         UDP(sport=7102, dport=7103) / Raw(b"w" * 30)),
        ("qinq4", count + 2, (200, 102), eth / Dot1AD(vlan=200) / Dot1Q(vlan=102) / IP(src=src4, dst=dst4) /
         UDP(sport=7104, dport=7105) / Raw(b"q" * 25)),
    ]
    out = {}
    for name, n, vlans, frame in kinds:
        sendp([frame] * n, iface=iface, verbose=False)
        out[name] = {"frames": n, "vlan": vlans[0], "inner_vlan": vlans[1], "sport": frame[UDP].sport}
    print(json.dumps(out), flush=True)


MORE_COMMANDS = {"udp-echo": udp_echo, "discard": discard, "blast": blast, "udp-flows": udp_flows,
                 "udp-load": udp_load, "vlan-frames": vlan_frames}


if __name__ == "__main__" and sys.argv[1] in MORE_COMMANDS:
    MORE_COMMANDS[sys.argv[1]](*sys.argv[2:])
elif __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]), tcp=sys.argv[1] == "send")
