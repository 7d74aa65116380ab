"""Traffic of known processes for the attribution tests. Each command prints one JSON
line: the process id that owns the sockets and the local ports it used.

  attr_traffic.py udp HOST PORT COUNT          connected UDP client, waits for each echo
  attr_traffic.py udp-sendto HOST PORT COUNT   unconnected (sendto), waits for each echo
  attr_traffic.py tcp HOST PORT BYTES          one TCP connection, BYTES sent, closed
  attr_traffic.py fork-shared HOST PORT COUNT  a UDP socket made here, used by a forked child
  attr_traffic.py tcp-server HOST PORT         accepts one connection, reads to EOF, then exits
"""
import json
import os
import socket
import sys


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp(host, port, count, connect=True):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(5)
    if connect:
        s.connect((host, port))
    for i in range(count):
        payload = b"a" * (20 + i % 50)
        if connect:
            s.send(payload)
        else:
            s.sendto(payload, (host, port))
        s.recvfrom(65535)
    out = {"pid": os.getpid(), "ports": [s.getsockname()[1]]}
    s.close()
    return out


def tcp(host, port, nbytes):
    t = socket.socket(family(host), socket.SOCK_STREAM)
    t.settimeout(10)
    t.connect((host, port))
    t.sendall(b"t" * nbytes)
    t.shutdown(socket.SHUT_WR)
    t.recv(1)
    out = {"pid": os.getpid(), "ports": [t.getsockname()[1]]}
    t.close()
    return out


def fork_shared(host, port, count):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(5)
    s.connect((host, port))
    child = os.fork()
    if child == 0:
        for _ in range(count):
            s.send(b"f" * 30)
            s.recv(65535)
        os._exit(0)
    os.waitpid(child, 0)
    return {"pid": os.getpid(), "child": child, "ports": [s.getsockname()[1]]}


def tcp_server(host, port):
    srv = socket.socket(family(host), socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    print(json.dumps({"listening": True, "pid": os.getpid()}), flush=True)
    c, _ = srv.accept()
    while c.recv(65536):
        pass
    c.close()
    srv.close()
    return {"pid": os.getpid(), "ports": [port]}


if __name__ == "__main__":
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "udp":
        r = udp(host, port, int(sys.argv[4]))
    elif cmd == "udp-sendto":
        r = udp(host, port, int(sys.argv[4]), connect=False)
    elif cmd == "tcp":
        r = tcp(host, port, int(sys.argv[4]))
    elif cmd == "fork-shared":
        r = fork_shared(host, port, int(sys.argv[4]))
    else:
        r = tcp_server(host, port)
    print(json.dumps(r), flush=True)
