#!/usr/bin/env python3
"""Writes the seed corpora of pcap_reader_fuzz, config_fuzz and command_line_fuzz into
test/fuzz/corpus/ (deterministic; run again after the sources change). The kernel_fuzz
seeds (frames of test/bpf/kernel_cases_test.cpp and pcaps/) were dumped once from those
tables with encode_kernel_input (kernel_check.hpp). Files named fuzz-* are inputs that
fuzzing runs found to add coverage (libFuzzer -merge=1), kept as they are."""
import ast
import pathlib
import re
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "test/fuzz/corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# ---- pcap_reader_fuzz: the captures of pcaps/ and damaged or other-link-type variants
def pcap_header(linktype, magic=0xA1B2C3D4, snaplen=65535, endian="<"):
    return struct.pack(endian + "IHHiII", magic, 2, 4, 0, snaplen, linktype)


def record(data, orig=None, endian="<", ts=1):
    return struct.pack(endian + "IIII", ts, 0, len(data), len(data) if orig is None else orig) + data


def pcaps():
    for f in sorted((ROOT / "pcaps").iterdir()):
        if f.suffix in (".pcap", ".pcapng"):
            data = f.read_bytes()
            write("pcap_reader_fuzz", f.name, data)
            write("pcap_reader_fuzz", f.stem + "-cut" + f.suffix, data[: len(data) // 2 + 3])
    raw = (ROOT / "pcaps/raw_ip.pcap").read_bytes()
    for lt in (12, 228, 229):
        write("pcap_reader_fuzz", f"raw_ip-linktype{lt}.pcap", raw[:20] + struct.pack("<I", lt) + raw[24:])
    write("pcap_reader_fuzz", "unsupported-linktype.pcap", raw[:20] + struct.pack("<I", 147) + raw[24:])
    ip = bytes.fromhex("4500001c000000004011000 0c0000201c6336402".replace(" ", "")) + bytes.fromhex("0001000200080000")
    eth = bytes(12) + b"\x08\x00" + ip
    sll = struct.pack(">HHH8sH", 4, 1, 6, bytes(8), 0x0800) + ip
    sll2 = struct.pack(">HHIHBB8s", 0x0800, 0, 1, 1, 4, 6, bytes(8)) + ip
    write("pcap_reader_fuzz", "eth-caplen-above-len.pcap", pcap_header(1) + record(eth, orig=20))
    write("pcap_reader_fuzz", "eth-snaplen-cut.pcap", pcap_header(1) + record(eth[:30], orig=len(eth)))
    write("pcap_reader_fuzz", "eth-huge-caplen.pcap", pcap_header(1) + struct.pack("<IIII", 1, 0, 0xFFFFFF, 0xFFFFFF) + eth)
    write("pcap_reader_fuzz", "eth-nanosecond-bigendian.pcap",
          pcap_header(1, magic=0xA1B23C4D, endian=">") + record(eth, endian=">"))
    write("pcap_reader_fuzz", "sll-short.pcap", pcap_header(113) + record(sll) + record(sll[:10]) + record(b""))
    write("pcap_reader_fuzz", "sll2-short.pcap", pcap_header(276) + record(sll2) + record(sll2[:19]))
    write("pcap_reader_fuzz", "header-only.pcap", pcap_header(1))
    write("pcap_reader_fuzz", "empty", b"")
    ng = (ROOT / "pcaps/icmp_echo.pcapng").read_bytes()
    write("pcap_reader_fuzz", "pcapng-bad-block-length.pcapng", ng[:4] + struct.pack("<I", 0xFFFFFFF0) + ng[8:])


# ---- config_fuzz: the example file and the TOML snippets of the config tests
def config():
    write("config_fuzz", "ebpfix.toml", (ROOT / "etc/ebpfix.toml").read_bytes())
    source = (ROOT / "test/config/config_file_test.cpp").read_text()
    seen = set()
    for literal in re.findall(r'"((?:[^"\\\n]|\\.)*)"', source):
        text = ast.literal_eval('"' + literal + '"')
        if "=" not in text and "[" not in text:
            continue
        if "\n" not in text or text in seen:
            continue
        seen.add(text)
        write("config_fuzz", f"snippet-{len(seen):03d}.toml", text)


# ---- command_line_fuzz: typical command lines; arguments end at NUL
def command_lines():
    lines = {
        "ipfix": ["eth0", "--ipfix", "127.0.0.1:4739"],
        "netflow9-v6": ["-i", "eth0", "--netflow9=[::1]:2055", "--log", "json"],
        "flowcap": ["-interval", "5", "-json", "eth0"],
        "flowcap-timeout": ["-timeout", "30", "-interval=10", "wg0"],
        "softflowd": ["-i", "eth0", "-n", "127.0.0.1:9995", "-v", "9", "-t", "maxlife=300", "-t", "tcp.rst=5"],
        "softflowd-v10": ["-i", "eth1", "-n", "[::1]:4739", "-v", "10", "-t", "general=60s", "-D"],
        "pcap": ["--pcap", "/tmp/in.pcap", "--timeout", "10s", "--summary", "--json"],
        "xdp": ["--xdp", "--xdp-mode", "native", "--xdp-only", "eth0", "--sample", "100",
                "--sample-algorithm", "hash"],
        "cgroup": ["--cgroup", "/sys/fs/cgroup/system.slice", "--attribution", "--per-user-log", "/tmp/u"],
        "check-config": ["--check-config", "/etc/ebpfix/ebpfix.toml", "-i", "eth3"],
        "exclude": ["eth0", "--exclude", "10.0.0.0/8", "--exclude=2001:db8::/32", "--ipfix", "h:4739"],
        "timers": ["eth0", "--drain-interval", "0.5", "--idle-timeout=15", "--active-timeout", "60",
                   "--max-flows", "1000", "--max-export-per-cycle", "10", "--stats-file", "-",
                   "--stats-format", "json", "--metrics-addr", "127.0.0.1:9090", "--dot", "/tmp/g.dot"],
        "short-options": ["-c/etc/x.toml", "-ieth0", "--interface=eth1", "--", "-weird"],
        "help": ["-h"],
        "version": ["-V"],
    }
    for name, args in lines.items():
        write("command_line_fuzz", name, b"".join(a.encode() + b"\0" for a in args))


pcaps()
config()
command_lines()
