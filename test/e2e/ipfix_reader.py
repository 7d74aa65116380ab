"""A strict IPFIX collector for the e2e tests, run inside a namespace with `ip netns exec`.

  ipfix_reader.py udp|tcp HOST PORT OUT

Listens on HOST:PORT (UDP datagrams, or TCP connections one after the other, RFC 7011
section 10.4) and writes one JSON line per flow record to OUT: addresses, ports (ICMP:
dport = type << 8 | code), protocol, packets and octets, and the RFC 5103 reverse counts
(PEN 29305) of biflows. Prints "listening" once bound; stops at SIGTERM and exits 0.

Strict: every message is version 10 and exactly its length; set lengths add up; a data
set uses a template announced before, in the same domain (and, over TCP, on the same
connection: a connection is a new Transport Session, with sequence numbers from 0, and
"closed N" is printed when one ends, N its flow records); the
Sequence Number is the count of data records sent before the message. Anything else is
printed as "ERROR ..." on standard error and ends the reader with exit code 1.
"""
import ipaddress
import json
import signal
import socket
import struct
import sys

REVERSE_PEN = 29305
VARIABLE = 65535


class Bad(Exception):
    pass


class Session:
    """Templates and the next sequence number per observation domain."""

    def __init__(self):
        self.domains = {}

    def message(self, buf, out):
        if len(buf) < 16:
            raise Bad(f"message of {len(buf)} bytes")
        version, length, _export, seq, domain = struct.unpack("!HHIII", buf[:16])
        if version != 10:
            raise Bad(f"version {version}")
        if length != len(buf):
            raise Bad(f"length {length} in a message of {len(buf)} bytes")
        st = self.domains.setdefault(domain, {"templates": {}, "next": None})
        if st["next"] is not None and seq != st["next"]:
            raise Bad(f"domain {domain}: sequence {seq}, expected {st['next']}")
        pos, records = 16, 0
        while pos < length:
            if length - pos < 4:
                raise Bad("truncated set header")
            sid, slen = struct.unpack("!HH", buf[pos:pos + 4])
            if slen < 4 or pos + slen > length:
                raise Bad(f"set {sid} length {slen}")
            body = buf[pos + 4:pos + slen]
            if sid in (2, 3):
                self.templates(body, sid == 3, st["templates"])
            elif sid >= 256:
                if sid not in st["templates"]:
                    raise Bad(f"domain {domain}: data set {sid} before its template")
                records += self.data(body, st["templates"][sid], sid, out)
            else:
                raise Bad(f"set id {sid}")
            pos += slen
        st["next"] = (seq + records) & 0xffffffff

    @staticmethod
    def templates(body, options, into):
        p = 0
        while len(body) - p >= 4:
            tid, count = struct.unpack("!HH", body[p:p + 4])
            p += 4
            if tid < 256 or count == 0:
                raise Bad(f"template {tid} with {count} fields")
            scope = 0
            if options:
                (scope,) = struct.unpack("!H", body[p:p + 2])
                p += 2
            fields = []
            for _ in range(count):
                if len(body) - p < 4:
                    raise Bad(f"truncated template {tid}")
                ie, flen = struct.unpack("!HH", body[p:p + 4])
                p += 4
                pen = 0
                if ie & 0x8000:
                    (pen,) = struct.unpack("!I", body[p:p + 4])
                    p += 4
                fields.append((ie & 0x7fff, flen, pen))
            into[tid] = {"options": options, "fields": fields,
                         "min": sum(1 if f[1] == VARIABLE else f[1] for f in fields)}

    @staticmethod
    def data(body, tpl, tid, out):
        p, n = 0, 0
        while len(body) - p >= tpl["min"]:
            values = {}
            for ie, flen, pen in tpl["fields"]:
                if flen == VARIABLE:
                    flen = body[p]
                    p += 1
                    if flen == 255:
                        (flen,) = struct.unpack("!H", body[p:p + 2])
                        p += 2
                if p + flen > len(body):
                    raise Bad(f"record of template {tid} runs past its set")
                values.setdefault((pen, ie), body[p:p + flen])
                p += flen
            n += 1
            if not tpl["options"]:
                out.append(flow_of(values, tid))
        if any(body[p:]):
            raise Bad(f"non-zero padding after the records of template {tid}")
        return n


def flow_of(v, tid):
    def num(ie, pen=0):
        b = v.get((pen, ie))
        return int.from_bytes(b, "big") if b is not None else 0

    def addr(ie):
        b = v.get((0, ie))
        return str(ipaddress.ip_address(b)) if b is not None else None

    src = addr(8) or addr(27)
    dst = addr(12) or addr(28)
    proto = num(4)
    dport = num(11)
    if proto == 1 and (0, 32) in v:
        dport = num(32)
    if proto == 58 and (0, 139) in v:
        dport = num(139)
    return {"template": tid, "src": src, "dst": dst, "sport": num(7), "dport": dport, "proto": proto,
            "packets": num(2), "octets": num(1), "rpackets": num(2, REVERSE_PEN), "roctets": num(1, REVERSE_PEN)}


def read_exactly(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None if not buf else buf
        buf += chunk
    return buf


def main():
    transport, host, port, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    out = open(out_path, "w")

    def emit(flows):
        for f in flows:
            out.write(json.dumps(f) + "\n")
        out.flush()

    try:
        if transport == "udp":
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            s.bind((host, port))
            s.settimeout(0.2)
            print("listening", flush=True)
            session = Session()
            while True:
                if stopping:
                    s.setblocking(False)  # what is queued still counts
                try:
                    data = s.recv(65535)
                except (socket.timeout, BlockingIOError):
                    if stopping:
                        break
                    continue
                flows = []
                session.message(data, flows)
                emit(flows)
        else:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
            s.listen(1)
            s.settimeout(0.2)
            print("listening", flush=True)
            while not stopping:
                try:
                    conn, _ = s.accept()
                except socket.timeout:
                    continue
                session = Session()  # a new Transport Session: no templates, sequence from 0
                conn.settimeout(None)
                first = True
                records = 0
                while True:
                    head = read_exactly(conn, 16)
                    if head is None:
                        break
                    if len(head) < 16:
                        raise Bad("connection ended inside a message header")
                    (length,) = struct.unpack("!H", head[2:4])
                    rest = read_exactly(conn, length - 16) if length > 16 else b""
                    if length < 16 or rest is None or len(rest) != length - 16:
                        raise Bad("connection ended inside a message")
                    msg = head + rest
                    if first:
                        (seq,) = struct.unpack("!I", msg[8:12])
                        if seq != 0:
                            raise Bad(f"first message of a connection has sequence {seq}")
                        first = False
                    flows = []
                    session.message(msg, flows)
                    emit(flows)
                    records += len(flows)
                conn.close()
                print(f"closed {records}", flush=True)
    except Bad as e:
        print(f"ERROR {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    out.close()


if __name__ == "__main__":
    main()
