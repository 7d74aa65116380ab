#!/usr/bin/env python3
"""Runs templates/gen_templates.py on deliberately bad definitions and checks that each
fails with status 1 and the exact FILE:LINE message; the real data must generate, with the
enterprise-field PEN placeholders where the encoder writes the configured PEN."""
import os
import re
import subprocess
import sys
import tempfile

GENERATOR, ELEMENTS, TEMPLATES, ENTERPRISE = sys.argv[1:5]

CASES = [
    ("unknown element",
     "template ipfix 256 t\n  field sourceIPv4Address 4 src_v4\n  field fooBarCount 8 octets\nend\n",
     "{f}:3: unknown information element 'fooBarCount' (not in the registry subset)"),
    ("length does not fit the type",
     "template ipfix 256 t\n  field sourceIPv4Address 8 src_v4\nend\n",
     "{f}:2: sourceIPv4Address: length 8 does not fit ipv4Address (allowed: 4)"),
    ("2-byte protocol",
     "template ipfix 256 t\n  field protocolIdentifier 2 protocol\nend\n",
     "{f}:2: protocolIdentifier: length 2 does not fit unsigned8 (allowed: 1)"),
    ("reduced size would truncate the source",
     "template ipfix 256 t\n  field octetDeltaCount 4 octets\nend\n",
     "{f}:2: octetDeltaCount: length 4 does not fit source 'octets' (8 bytes)"),
    ("variable length in v9",
     "options netflow9 300 t\n  scope Interface 4 ifindex\n  field interfaceName 65535 interface_name\nend\n",
     "{f}:3: interfaceName: NetFlow v9 has no variable-length fields (length 65535); give a fixed length"),
    ("template id below 256",
     "template ipfix 255 t\n  field protocolIdentifier 1 protocol\nend\n",
     "{f}:1: template id '255' is not in 256..65535"),
    ("id reused",
     "template ipfix 256 a\n  field protocolIdentifier 1 protocol\nend\n"
     "template ipfix 256 b\n  field protocolIdentifier 1 protocol\nend\n",
     "{f}:4: template id 256 already used for ipfix at line 1"),
    ("options without scope",
     "options ipfix 300 t\n  field samplingInterval 4 sampling_interval\nend\n",
     "{f}:3: options template 't' has no scope"),
    ("missing end",
     "template ipfix 256 t\n  field protocolIdentifier 1 protocol\n",
     "{f}:1: template 't' has no 'end'"),
    ("source of the wrong kind",
     "template ipfix 256 t\n  field sourceIPv4Address 4 octets\nend\n",
     "{f}:2: sourceIPv4Address: source 'octets' does not hold a ipv4Address"),
    ("enterprise field in v9",
     "template netflow9 264 t\n  field protocolIdentifier 1 protocol\n"
     "  enterprise ebpfixProcessId 4 owner_pid\nend\n",
     "{f}:3: 'enterprise' field in a NetFlow v9 template (v9 has no enterprise-specific fields)"),
    ("reverse field in v9",
     "template netflow9 268 t\n  reverse octetDeltaCount 8 reverse_octets\nend\n",
     "{f}:2: 'reverse' field in a NetFlow v9 template (v9 has no enterprise-specific fields)"),
    ("enterprise field in an options template",
     "options ipfix 300 t\n  scope meteringProcessId 4 metering_process_id\n"
     "  enterprise ebpfixProcessId 4 owner_pid\nend\n",
     "{f}:3: 'enterprise' field in an options template"),
    ("unknown enterprise element",
     "template ipfix 266 t\n  enterprise ebpfixThreadId 4 owner_pid\nend\n",
     "{f}:2: unknown enterprise information element 'ebpfixThreadId' (not in {e})"),
    ("IANA name used as an enterprise element",
     "template ipfix 266 t\n  enterprise userName 65535 user_name\nend\n",
     "{f}:2: unknown enterprise information element 'userName' (not in {e})"),
    ("enterprise element as an IANA field",
     "template ipfix 266 t\n  field ebpfixProcessId 4 owner_pid\nend\n",
     "{f}:2: unknown information element 'ebpfixProcessId' (not in the registry subset)"),
    ("reduced-size enterprise cgroup id",
     "template ipfix 266 t\n  enterprise ebpfixCgroupId 4 owner_cgroup_id\nend\n",
     "{f}:2: ebpfixCgroupId: length 4 does not fit source 'owner_cgroup_id' (8 bytes)"),
    ("reverse of a string source into a counter",
     "template ipfix 268 t\n  reverse octetDeltaCount 8 user_name\nend\n",
     "{f}:2: octetDeltaCount: source 'user_name' does not hold a unsigned64"),
    ("fixed-length userName in v9 of the wrong source",
     "template netflow9 264 t\n  field userName 32 octets\nend\n",
     "{f}:2: userName: source 'octets' does not hold a string"),
]

failures = 0
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "out.hpp")
    for name, text, expected in CASES:
        path = os.path.join(tmp, "bad.def")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([sys.executable, GENERATOR, "--elements", ELEMENTS, "--enterprise-elements", ENTERPRISE,
                            "--templates", path, "--output", out], capture_output=True, text=True)
        want = "error: " + expected.format(f=path, e=ENTERPRISE)
        if r.returncode != 1 or r.stderr.strip() != want or os.path.exists(out):
            print(f"FAIL {name}: rc={r.returncode}\n  got:  {r.stderr.strip()}\n  want: {want}")
            failures += 1
        else:
            print(f"ok   {name}")
    # Enterprise fields need the enterprise registry file.
    path = os.path.join(tmp, "bad.def")
    with open(path, "w", encoding="utf-8") as f:
        f.write("template ipfix 266 t\n  enterprise ebpfixProcessId 4 owner_pid\nend\n")
    r = subprocess.run([sys.executable, GENERATOR, "--elements", ELEMENTS, "--templates", path, "--output", out],
                       capture_output=True, text=True)
    want = f"error: {path}:2: enterprise element 'ebpfixProcessId' but no --enterprise-elements file"
    if r.returncode != 1 or r.stderr.strip() != want or os.path.exists(out):
        print(f"FAIL enterprise without registry: rc={r.returncode}\n  got:  {r.stderr.strip()}\n  want: {want}")
        failures += 1
    else:
        print("ok   enterprise without registry")
    r = subprocess.run([sys.executable, GENERATOR, "--elements", ELEMENTS, "--enterprise-elements", ENTERPRISE,
                        "--templates", TEMPLATES, "--output", out], capture_output=True, text=True)
    text = open(out, encoding="utf-8").read() if r.returncode == 0 else ""
    if r.returncode != 0 or "write_ipfix_ipv4" not in text:
        print(f"FAIL the real templates do not generate: {r.stderr}")
        failures += 1
    else:
        print("ok   real templates generate")
    # The PEN placeholders are where the field specifiers say: after an enterprise field's
    # id (bit 15 set) and length, and reverse fields carry 29305 (RFC 5103) in place.
    for name in ("ipfix_ipv4_owner_pen", "ipfix_ipv6_owner_pen", "ipfix_biflow_ipv4"):
        m = re.search(r"inline constexpr std::uint8_t " + name + r"_wire\[\] = \{([^}]*)\};", text)
        wire = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", m.group(1))) if m else b""
        offsets = re.search(r"inline constexpr std::uint16_t " + name + r"_pen_offsets\[\] = \{([^}]*)\};", text)
        pens, at, ok = [], 4, len(wire) > 4
        while ok and at < len(wire):
            ident = int.from_bytes(wire[at:at + 2], "big")
            at += 4
            if ident & 0x8000:
                pens.append((at, int.from_bytes(wire[at:at + 4], "big")))
                at += 4
        configured = [a for a, pen in pens if pen == 0]
        listed = [int(x) for x in offsets.group(1).split(",")] if offsets else []
        reverse_ok = all(pen in (0, 29305) for _, pen in pens)
        if not ok or configured != listed or not reverse_ok or not pens:
            print(f"FAIL {name}: enterprise fields {pens}, listed offsets {listed}")
            failures += 1
        else:
            print(f"ok   {name}: PEN placeholders at {listed}, {len(pens) - len(listed)} reverse")
sys.exit(1 if failures else 0)
