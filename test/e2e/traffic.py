"""Traffic for the end-to-end tests, run inside a namespace with `ip netns exec`.

  traffic.py serve HOST4 HOST6          UDP echo on :5000 (v4+v6), TCP sink on :5201
  traffic.py send HOST4 HOST6 ROUNDS    UDP: ROUNDS datagrams each way per family;
                                        TCP: one connection per family, 64 KiB, closed
  traffic.py send-udp HOST4 HOST6 ROUNDS   the UDP part only (counts known exactly)
Prints a JSON summary of what it sent (datagrams and payload sizes).
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


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]), tcp=sys.argv[1] == "send")
