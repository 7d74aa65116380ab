#!/usr/bin/env python3
"""Runs templates/gen_templates.py on deliberately bad definitions and checks that each
fails with status 1 and the exact FILE:LINE message; the real data must generate."""
import os
import subprocess
import sys
import tempfile

GENERATOR, ELEMENTS, TEMPLATES = sys.argv[1:4]

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
]

failures = 0
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "out.hpp")
    for name, text, expected in CASES:
        path = os.path.join(tmp, "bad.def")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([sys.executable, GENERATOR, "--elements", ELEMENTS, "--templates", path,
                            "--output", out], capture_output=True, text=True)
        want = "error: " + expected.format(f=path)
        if r.returncode != 1 or r.stderr.strip() != want or os.path.exists(out):
            print(f"FAIL {name}: rc={r.returncode}\n  got:  {r.stderr.strip()}\n  want: {want}")
            failures += 1
        else:
            print(f"ok   {name}")
    r = subprocess.run([sys.executable, GENERATOR, "--elements", ELEMENTS, "--templates", TEMPLATES,
                        "--output", out], capture_output=True, text=True)
    if r.returncode != 0 or "write_ipfix_ipv4" not in open(out, encoding="utf-8").read():
        print(f"FAIL the real templates do not generate: {r.stderr}")
        failures += 1
    else:
        print("ok   real templates generate")
sys.exit(1 if failures else 0)
