#!/usr/bin/env python3
"""Turns the IE registry subset and the template definitions into a C++ header.

Usage: gen_templates.py --elements information_elements.csv
                        [--enterprise-elements enterprise_elements.csv]
                        --templates templates.def --output ebpfix_templates.hpp

Every error names the place (FILE:LINE: message) and exits with status 1, so a bad
template fails the build instead of producing a message a collector rejects.
Python 3 standard library only.
"""
import argparse
import sys

VARIABLE_LENGTH = 65535
# RFC 5103 section 6.1: a reverse Information Element is the forward IE's id with the
# enterprise bit set under this Private Enterprise Number.
REVERSE_PEN = 29305

# Allowed encoded lengths per abstract data type (RFC 7011 section 6.1 / 6.2: unsigned
# and signed integers may use reduced-size encoding; the others are fixed).
TYPE_LENGTHS = {
    "unsigned8": range(1, 2), "unsigned16": range(1, 3), "unsigned32": range(1, 5),
    "unsigned64": range(1, 9), "signed8": range(1, 2), "signed16": range(1, 3),
    "signed32": range(1, 5), "signed64": range(1, 9), "float32": (4,), "float64": (4, 8),
    "boolean": (1,), "macAddress": (6,), "ipv4Address": (4,), "ipv6Address": (16,),
    "dateTimeSeconds": (4,), "dateTimeMilliseconds": (8,), "dateTimeMicroseconds": (8,),
    "dateTimeNanoseconds": (8,), "string": None, "octetArray": None,
}
# What kind of value a data type holds: an unsigned integer, an address or a string.
TYPE_KIND = {
    "unsigned8": "u", "unsigned16": "u", "unsigned32": "u", "unsigned64": "u",
    "dateTimeSeconds": "u", "dateTimeMilliseconds": "u", "ipv4Address": "addr4",
    "ipv6Address": "addr16", "string": "str",
}

# The values the encoder can write (exporter/ipfix/record_sources.hpp): kind and width in
# bytes. An integer source must be written at exactly its width: no silent truncation.
SOURCES = {
    # flow records
    "src_v4": ("addr4", 4), "dst_v4": ("addr4", 4),
    "src_v6": ("addr16", 16), "dst_v6": ("addr16", 16),
    "src_port": ("u", 2), "dst_port": ("u", 2), "protocol": ("u", 1),
    "tcp_flags_low8": ("u", 1), "tos": ("u", 1),
    "start_ms": ("u", 8), "end_ms": ("u", 8), "start_uptime": ("u", 4), "end_uptime": ("u", 4),
    "octets": ("u", 8), "packets": ("u", 8),
    "ingress_ifindex": ("u", 4), "egress_ifindex": ("u", 4),
    "direction": ("u", 1), "end_reason": ("u", 1), "ip_version": ("u", 1),
    "vlan_id": ("u", 2), "inner_vlan_id": ("u", 2), "icmp_type_code": ("u", 2),
    # the owner of a flow's local socket (attribution)
    "user_name": ("str", 0), "application_name": ("str", 0), "owner_pid": ("u", 4),
    "owner_uid": ("u", 4), "owner_cgroup_id": ("u", 8), "owner_cgroup_path": ("str", 0),
    # the reverse direction of a biflow (RFC 5103)
    "reverse_octets": ("u", 8), "reverse_packets": ("u", 8), "reverse_tcp_flags_low8": ("u", 1),
    "reverse_start_ms": ("u", 8), "reverse_end_ms": ("u", 8), "biflow_direction": ("u", 1),
    # options records
    "metering_process_id": ("u", 4), "exporting_process_id": ("u", 4),
    "observation_domain_id": ("u", 4), "sampling_interval": ("u", 4),
    "sampling_algorithm": ("u", 1),
    "exported_messages": ("u", 8), "exported_flow_records": ("u", 8),
    "exported_octets": ("u", 8), "system_init_ms": ("u", 8),
    "ignored_packets": ("u", 8), "ignored_octets": ("u", 8),
    "not_sent_flows": ("u", 8), "not_sent_packets": ("u", 8), "not_sent_octets": ("u", 8),
    "interval_start_ms": ("u", 8), "interval_end_ms": ("u", 8),
    "ifindex": ("u", 4), "interface_name": ("str", 0), "interface_description": ("str", 0),
}

# RFC 3954 section 6.1: NetFlow v9 options scope field types.
V9_SCOPES = {"System": 1, "Interface": 2, "LineCard": 3, "Cache": 4, "Template": 5}

PROTOCOLS = ("ipfix", "netflow9")


class GenError(Exception):
    pass


def fail(path, line, message):
    raise GenError(f"{path}:{line}: {message}")


def read_elements(path):
    """id,name,abstract_data_type[,reference] per line; the reference is for the reader."""
    elements = {}
    ids = {}
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(",", 3)]
            if len(parts) not in (3, 4) or (len(parts) == 4 and not parts[3]):
                fail(path, number, f"expected 'id,name,abstract_data_type[,reference]', got {line!r}")
            id_text, name, data_type = parts[:3]
            if not id_text.isdigit() or not 1 <= int(id_text) <= 32767:
                fail(path, number, f"element id {id_text!r} is not in 1..32767")
            if data_type not in TYPE_LENGTHS:
                fail(path, number, f"unknown abstract data type {data_type!r}")
            if name in elements:
                fail(path, number, f"element {name!r} defined twice")
            if int(id_text) in ids:
                fail(path, number, f"element id {id_text} defined twice")
            elements[name] = (int(id_text), data_type)
            ids[int(id_text)] = name
    return elements


def check_length(path, number, protocol, name, data_type, length):
    allowed = TYPE_LENGTHS[data_type]
    if allowed is None:  # string / octetArray
        if length == VARIABLE_LENGTH:
            if protocol != "ipfix":
                fail(path, number, f"{name}: NetFlow v9 has no variable-length fields "
                     f"(length 65535); give a fixed length")
            return
        if not 1 <= length <= 65534:
            fail(path, number, f"{name}: length {length} does not fit {data_type} "
                 f"(1..65534, or 65535 = variable in IPFIX)")
        return
    if length not in allowed:
        fail(path, number, f"{name}: length {length} does not fit {data_type} "
             f"(allowed: {', '.join(str(n) for n in allowed)})")


def read_templates(path, elements, enterprise_elements, enterprise_path):
    templates = []
    current = None
    seen = {}
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split()
            keyword = words[0]
            if keyword in ("template", "options"):
                if current is not None:
                    fail(path, number, f"'{keyword}' inside {current['name']!r}: missing 'end'")
                if len(words) != 4:
                    fail(path, number, f"expected '{keyword} <protocol> <id> <name>'")
                _, protocol, id_text, name = words
                if protocol not in PROTOCOLS:
                    fail(path, number, f"unknown protocol {protocol!r} (ipfix or netflow9)")
                if not id_text.isdigit() or not 256 <= int(id_text) <= 65535:
                    fail(path, number, f"template id {id_text!r} is not in 256..65535")
                if not name.isidentifier():
                    fail(path, number, f"template name {name!r} is not a C++ identifier")
                key = (protocol, int(id_text))
                if key in seen:
                    fail(path, number, f"template id {id_text} already used for {protocol} "
                         f"at line {seen[key]}")
                if any(t["name"] == name for t in templates):
                    fail(path, number, f"template name {name!r} used twice")
                seen[key] = number
                current = {"name": name, "protocol": protocol, "id": int(id_text),
                           "options": keyword == "options", "fields": [], "line": number}
                continue
            if current is None:
                fail(path, number, f"{keyword!r} outside a template")
            if keyword == "end":
                if len(words) != 1:
                    fail(path, number, "'end' takes nothing")
                if not current["fields"]:
                    fail(path, number, f"template {current['name']!r} has no fields")
                if current["options"]:
                    scopes = [fl for fl in current["fields"] if fl["scope"]]
                    if not scopes:
                        fail(path, number, f"options template {current['name']!r} has no scope")
                    if len(scopes) == len(current["fields"]):
                        fail(path, number, f"options template {current['name']!r} has no "
                             f"non-scope field")
                templates.append(current)
                current = None
                continue
            if keyword not in ("field", "scope", "enterprise", "reverse"):
                fail(path, number, f"unknown keyword {keyword!r} (template, options, scope, "
                     f"field, enterprise, reverse, end)")
            if len(words) != 4:
                fail(path, number, f"expected '{keyword} <element> <length> <source>'")
            _, element, length_text, source = words
            if not length_text.isdigit() or not 1 <= int(length_text) <= 65535:
                fail(path, number, f"{element}: length {length_text!r} is not in 1..65535")
            length = int(length_text)
            scope = keyword == "scope"
            protocol = current["protocol"]
            # enterprise: the ebpfix element under the PEN the encoder is given (the wire
            # carries PEN 0 until the encoder patches it); reverse: RFC 5103.
            enterprise = {"enterprise": "configured", "reverse": "reverse"}.get(keyword, "iana")
            if enterprise != "iana":
                if protocol != "ipfix":
                    fail(path, number, f"'{keyword}' field in a NetFlow v9 template (v9 has no "
                         f"enterprise-specific fields)")
                if current["options"]:
                    fail(path, number, f"'{keyword}' field in an options template")
            if scope:
                if not current["options"]:
                    fail(path, number, "'scope' in a data template (only options have scopes)")
                if any(not fl["scope"] for fl in current["fields"]):
                    fail(path, number, "scope fields must come before the other fields")
            if source not in SOURCES:
                fail(path, number, f"unknown source {source!r}")
            source_kind, source_width = SOURCES[source]
            if scope and protocol == "netflow9":
                if element not in V9_SCOPES:
                    fail(path, number, f"unknown NetFlow v9 scope {element!r} "
                         f"({', '.join(V9_SCOPES)})")
                element_id, data_type, kind = V9_SCOPES[element], "unsigned32", "u"
                if length != source_width:
                    fail(path, number, f"scope {element}: length {length} does not fit "
                         f"source {source!r} ({source_width} bytes)")
            else:
                registry = elements
                if enterprise == "configured":
                    if enterprise_elements is None:
                        fail(path, number, f"enterprise element {element!r} but no "
                             f"--enterprise-elements file")
                    registry = enterprise_elements
                if element not in registry:
                    where = (f"not in {enterprise_path}" if enterprise == "configured"
                             else "not in the registry subset")
                    fail(path, number, f"unknown {'enterprise ' if enterprise == 'configured' else ''}"
                         f"information element {element!r} ({where})")
                element_id, data_type = registry[element]
                check_length(path, number, protocol, element, data_type, length)
                kind = TYPE_KIND.get(data_type)
                if kind is None:
                    fail(path, number, f"{element}: data type {data_type} has no writer")
                if kind != source_kind:
                    fail(path, number, f"{element}: source {source!r} does not hold "
                         f"a {data_type}")
                if kind != "str" and length != source_width:
                    fail(path, number, f"{element}: length {length} does not fit source "
                         f"{source!r} ({source_width} bytes)")
            current["fields"].append({"element": element, "id": element_id, "length": length,
                                      "scope": scope, "source": source, "kind": kind,
                                      "enterprise": enterprise, "line": number})
    if current is not None:
        fail(path, current["line"], f"template {current['name']!r} has no 'end'")
    return templates


def template_wire(t):
    """The template record bytes (RFC 7011 3.4.1/3.4.2, RFC 3954 5.2/6.1) and the offsets
    of the placeholder PENs the encoder overwrites with the configured one."""
    out = bytearray()
    pen_offsets = []
    fields = t["fields"]
    scopes = [f for f in fields if f["scope"]]
    out += t["id"].to_bytes(2, "big")
    if not t["options"]:
        out += len(fields).to_bytes(2, "big")
    elif t["protocol"] == "ipfix":
        out += len(fields).to_bytes(2, "big") + len(scopes).to_bytes(2, "big")
    else:  # v9: scope and option lengths in bytes
        out += (4 * len(scopes)).to_bytes(2, "big") + (4 * (len(fields) - len(scopes))).to_bytes(2, "big")
    for f in fields:
        if f.get("enterprise", "iana") == "iana":
            out += f["id"].to_bytes(2, "big") + f["length"].to_bytes(2, "big")
            continue
        # RFC 7011 3.2: enterprise bit, then the Enterprise Number after the length.
        out += (0x8000 | f["id"]).to_bytes(2, "big") + f["length"].to_bytes(2, "big")
        if f["enterprise"] == "configured":
            pen_offsets.append(len(out))
            out += (0).to_bytes(4, "big")
        else:
            out += REVERSE_PEN.to_bytes(4, "big")
    return bytes(out), pen_offsets


PUT = {
    ("u", 1): "put_u8", ("u", 2): "put_u16", ("u", 4): "put_u32", ("u", 8): "put_u64",
    ("addr4", 4): "put_addr4", ("addr16", 16): "put_addr16",
}


def writer(t):
    name = t["name"]
    variable = any(f["length"] == VARIABLE_LENGTH for f in t["fields"])
    lines = [f"// {t['protocol']} {'options ' if t['options'] else ''}template {t['id']}: "
             f"writes one record at p, returns the end.",
             "template <class Source>",
             f"inline std::uint8_t* write_{name}(std::uint8_t* p, const Source& s) noexcept {{"]
    offset = 0
    for f in t["fields"]:
        at = "p" if variable else f"p + {offset}"
        if f["kind"] == "str":
            if f["length"] == VARIABLE_LENGTH:
                lines.append(f"    p = put_var_string(p, s.{f['source']}());")
                continue
            call = f"put_fixed_string({at}, {f['length']}, s.{f['source']}())"
        else:
            call = f"{PUT[(f['kind'], f['length'])]}({at}, s.{f['source']}())"
        lines.append(f"    {call};" + ("" if not variable else f" p += {f['length']};"))
        offset += f["length"]
    lines.append("    return p;" if variable else f"    return p + {offset};")
    lines.append("}")
    return lines


def generate(elements_path, templates_path, enterprise_path=None):
    elements = read_elements(elements_path)
    enterprise_elements = read_elements(enterprise_path) if enterprise_path else None
    templates = read_templates(templates_path, elements, enterprise_elements, enterprise_path)
    out = ["// Generated by templates/gen_templates.py from templates/information_elements.csv,",
           "// templates/enterprise_elements.csv and templates/templates.def. Do not edit: change",
           "// the data instead.",
           "#pragma once", "", "#include <cstddef>", "#include <cstdint>", "",
           '#include "ipfix/wire.hpp"', "", "namespace ebpfix::ipfix::gen {", "",
           f"inline constexpr std::uint16_t k_variable_length = {VARIABLE_LENGTH};",
           f"inline constexpr std::uint32_t k_reverse_pen = {REVERSE_PEN};  // RFC 5103 6.1", "",
           "struct FieldSpec {", "    std::uint16_t element_id;  // IE id, or v9 scope type",
           "    std::uint16_t length;      // 65535 = variable (IPFIX)", "    bool scope;",
           "    const char* element_name;",
           "    std::uint32_t enterprise;  // 0 IANA, k_reverse_pen (RFC 5103)",
           "    bool configured_pen;       // under the PEN the encoder is given", "};", "",
           "struct TemplateSpec {", "    std::uint16_t id;", "    const char* name;",
           "    bool options;", "    std::uint16_t scope_count;", "    const FieldSpec* fields;",
           "    std::uint16_t field_count;",
           "    std::uint16_t fixed_length;     // bytes of the fixed-length fields",
           "    std::uint16_t variable_fields;  // fields with length 65535",
           "    const std::uint8_t* wire;       // the template record as sent",
           "    std::uint16_t wire_length;",
           "    // Offsets in wire of the 4-byte PEN placeholders (0) of configured_pen fields.",
           "    const std::uint16_t* pen_offsets;",
           "    std::uint16_t pen_offset_count;", "};", ""]
    for t in templates:
        name = t["name"]
        wire, pen_offsets = template_wire(t)
        fixed = sum(f["length"] for f in t["fields"] if f["length"] != VARIABLE_LENGTH)
        variable = sum(1 for f in t["fields"] if f["length"] == VARIABLE_LENGTH)
        scopes = sum(1 for f in t["fields"] if f["scope"])
        out.append(f"// {templates_path}:{t['line']}")
        out.append(f"inline constexpr FieldSpec {name}_fields[] = {{")
        for f in t["fields"]:
            pen = REVERSE_PEN if f["enterprise"] == "reverse" else 0
            configured = "true" if f["enterprise"] == "configured" else "false"
            out.append(f"    {{{f['id']}, {f['length']}, {'true' if f['scope'] else 'false'}, "
                       f"\"{f['element']}\", {pen}, {configured}}},")
        out.append("};")
        out.append(f"inline constexpr std::uint8_t {name}_wire[] = {{")
        for i in range(0, len(wire), 16):
            out.append("    " + ", ".join(f"0x{b:02x}" for b in wire[i:i + 16]) + ",")
        out.append("};")
        offsets = "nullptr"
        if pen_offsets:
            out.append(f"inline constexpr std::uint16_t {name}_pen_offsets[] = "
                       f"{{{', '.join(str(o) for o in pen_offsets)}}};")
            offsets = f"{name}_pen_offsets"
        out.append(f"inline constexpr TemplateSpec {name}{{{t['id']}, \"{name}\", "
                   f"{'true' if t['options'] else 'false'}, {scopes}, {name}_fields, "
                   f"{len(t['fields'])}, {fixed}, {variable}, {name}_wire, {len(wire)}, "
                   f"{offsets}, {len(pen_offsets)}}};")
        out.extend(writer(t))
        out.append("")
    out.append("}  // namespace ebpfix::ipfix::gen")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", required=True)
    parser.add_argument("--enterprise-elements")
    parser.add_argument("--templates", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    try:
        text = generate(args.elements, args.templates, args.enterprise_elements)
    except GenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
