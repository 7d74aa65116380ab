// A strict IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) decoder for tests. Written from the
// RFCs, not from ebpfix's encoder, and stricter than most collectors: anything a strict or
// fuzzer-hardened collector could reject is an error here. It is test code only.
//
// What decode() enforces, per message (a message = one UDP datagram):
//  * IPFIX: version 10, header Length == datagram length; v9: version 9, the FlowSets fill
//    the datagram exactly. At least one Set/FlowSet (both RFCs: "one or more").
//  * Set/FlowSet length >= 4 and within the message; Set IDs 0/1 (IPFIX) and 2..255 (v9) and
//    4..255 (IPFIX) are rejected; a Set must hold at least one record.
//  * Template records: ID >= 256, field count > 0 (withdrawals are rejected: RFC 7011 8.4
//    forbids them over UDP, v9 has none), IE 0 rejected, length 0 rejected, variable length
//    (65535) only in IPFIX, lengths fit the IE's abstract type (reduced-size only for
//    unsigned types), a record must fit in a message. An IE may repeat (RFC 7011 4.2).
//    Options templates: scope count > 0 and <= field count (IPFIX); v9 scope/option lengths
//    multiples of 4, at least one scope field, scope types 1..5.
//    Re-sending a template is fine; redefining an ID with another layout is an error.
//  * Data records are decoded by the template in force for (domain, ID); an unknown
//    template is an error. Padding after the records: 0..3 bytes, all zero, and shorter
//    than one record.
//  * IPFIX sequence = data records (flow and options) sent before this message in the
//    domain; v9 sequence +1 per packet; v9 Count = all records in the packet (templates,
//    options templates, data and options data records).
//  * Value rules: v9 FIRST_SWITCHED <= LAST_SWITCHED <= sysUptime; IPFIX flowStart <=
//    flowEnd (152/153, 150/151) and flowEnd not after the export time; flowEndReason 1..5,
//    flowDirection 0..1, ipVersion 4 or 6; samplingInterval (34) >= 1, samplingAlgorithm
//    (35) 1 or 2 (IANA: deterministic, random); the options records of one message that
//    carry samplingInterval announce the same interval and algorithm; biflowDirection
//    (239) 0..3; string IEs (82, 83, 96, 371) valid UTF-8, only NUL padding after a NUL.
//  * RFC 5103 reverse IEs (PEN 29305) follow their forward IE's length rules, and reverse
//    flowStart/End (152/153, 150/151) the same order and export-time rules.
// Errors are DecodeError, whose message starts with "offset N:" (byte offset in the
// message). A message that throws changes no decoder state (templates, sequences).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gsl/span>

#include "common/flow_types.hpp"
#include "ipfix/flow_encoder.hpp"

namespace ebpfix::test {

class DecodeError : public std::runtime_error {
public:
    DecodeError(std::size_t offset, const std::string& message);
    std::size_t offset() const noexcept { return offset_; }

private:
    std::size_t offset_;
};

inline constexpr std::uint16_t kVariableLength = 65535;
// RFC 5103 6.1: reverse Information Elements are the forward ids under this PEN.
inline constexpr std::uint32_t kReversePen = 29305;

struct FieldSpec {
    std::uint16_t id = 0;          // IE id without the enterprise bit (v9: field type)
    std::uint16_t length = 0;      // kVariableLength = variable length (IPFIX only)
    std::uint32_t enterprise = 0;  // 0 = IANA
    friend bool operator==(const FieldSpec&, const FieldSpec&) = default;
};

struct Template {
    std::uint16_t id = 0;
    bool options = false;
    std::size_t scope_count = 0;     // the first scope_count fields are scope fields
    std::vector<FieldSpec> fields;
    std::size_t min_record_length = 0;  // fixed lengths + 1 per variable-length field
    friend bool operator==(const Template&, const Template&) = default;
};

using Bytes = std::vector<std::uint8_t>;

struct DecodedRecord {
    std::uint16_t template_id = 0;
    std::size_t offset = 0;  // of the record in its message
    // Scope fields of options records: IPFIX IE ids; v9 scope types (1 system, 2 interface,
    // 3 line card, 4 cache, 5 template), which is why they are kept apart from fields.
    std::map<std::uint16_t, Bytes> scope;
    std::map<std::uint16_t, Bytes> fields;  // IANA (enterprise 0) fields, first occurrence
    // Later occurrences of an IE used more than once in the template (RFC 7011 4.2 uses
    // observationTimeMilliseconds twice: interval start, then end), in template order.
    std::map<std::uint16_t, std::vector<Bytes>> repeated;
    std::map<std::pair<std::uint32_t, std::uint16_t>, Bytes> enterprise_fields;

    bool has(std::uint16_t id) const { return fields.count(id) != 0; }
    // Throws std::out_of_range naming the field when absent.
    const Bytes& raw(std::uint16_t id) const;
    // Big-endian unsigned value of 1..8 bytes (reduced-size encoding included).
    std::uint64_t uint(std::uint16_t id) const;
    // occurrence 0 = first, 1 = second, ... of an IE repeated in the template.
    std::uint64_t uint(std::uint16_t id, std::size_t occurrence) const;
    std::string text(std::uint16_t id) const;
    // A string IE without its NUL padding (fixed-length strings, NetFlow v9).
    std::string string_value(std::uint16_t id) const;
    std::uint64_t scope_uint(std::uint16_t id) const;
    // Enterprise-specific fields by (PEN, IE id without the enterprise bit); RFC 5103
    // reverse IEs are under kReversePen.
    bool has_enterprise(std::uint32_t pen, std::uint16_t id) const;
    const Bytes& enterprise_raw(std::uint32_t pen, std::uint16_t id) const;
    std::uint64_t enterprise_uint(std::uint32_t pen, std::uint16_t id) const;
    std::string enterprise_text(std::uint32_t pen, std::uint16_t id) const;
};

struct DecodedMessage {
    ipfix::Protocol protocol = ipfix::Protocol::ipfix;
    std::size_t length = 0;
    std::uint32_t export_time_s = 0;  // IPFIX Export Time / v9 unix_secs
    std::uint32_t sys_uptime_ms = 0;  // v9 only
    std::uint32_t sequence = 0;
    std::uint32_t domain = 0;         // Observation Domain ID / v9 Source ID
    std::uint16_t v9_count = 0;       // v9 only
    std::size_t sets = 0;
    std::size_t template_records = 0;
    std::size_t options_template_records = 0;
    std::vector<DecodedRecord> flows;    // data records of (non-options) templates
    std::vector<DecodedRecord> options;  // data records of options templates
};

class FlowDecoder {
public:
    explicit FlowDecoder(ipfix::Protocol protocol) : protocol_(protocol) {}

    // Decodes one datagram; throws DecodeError and leaves the state unchanged on any error.
    DecodedMessage decode(gsl::span<const std::uint8_t> datagram);

    const Template* find_template(std::uint32_t domain, std::uint16_t id) const;
    // systemInitTimeMilliseconds (IE 160) from the last options record that carried it.
    std::optional<std::uint64_t> system_init_time_ms(std::uint32_t domain) const;
    // The sampling announced for a domain (Observation Domain / Source ID): the last
    // options record with samplingInterval (34), and samplingAlgorithm (35) from the last
    // of those that carried it too; collectors keyed by version and domain keep the same.
    std::optional<std::uint32_t> sampling_interval(std::uint32_t domain) const;
    std::optional<std::uint8_t> sampling_algorithm(std::uint32_t domain) const;

    std::uint64_t messages() const noexcept { return messages_; }
    std::uint64_t flow_records() const noexcept { return flow_records_; }
    std::uint64_t options_records() const noexcept { return options_records_; }

private:
    struct DomainState {
        std::map<std::uint16_t, Template> templates;
        std::optional<std::uint32_t> next_sequence;
        std::optional<std::uint64_t> system_init_ms;
        std::optional<std::uint32_t> sampling_interval;
        std::optional<std::uint8_t> sampling_algorithm;
    };

    void decode_ipfix(gsl::span<const std::uint8_t> m, DecodedMessage& out, DomainState& st) const;
    void decode_v9(gsl::span<const std::uint8_t> m, DecodedMessage& out, DomainState& st) const;

    ipfix::Protocol protocol_;
    std::map<std::uint32_t, DomainState> domains_;
    std::uint64_t messages_ = 0;
    std::uint64_t flow_records_ = 0;
    std::uint64_t options_records_ = 0;
};

// Turns a decoded flow record into a FlowRecord. Throws std::runtime_error naming what is
// missing or inconsistent. Fields the template does not carry stay at their defaults.
//  * Family: 8/12 (IPv4, stored IPv4-mapped) or 27/28 (IPv6); ipVersion (60) must agree.
//  * Times, IPFIX: 152/153 (ms since the epoch); else 150/151 (s) * 1000; else 22/21 +
//    systemInitTimeMilliseconds (uptime_origin_ms).
//    Times, v9: FIRST_SWITCHED (22) / LAST_SWITCHED (21) are sysUptime ms. The wall clock of
//    sysUptime 0 is uptime_origin_ms when given (the exporter's origin or IE 160), else
//    unix_secs * 1000 - sysUptime, which is what collectors compute and is exact only when
//    the export happened on a whole second (unix_secs has no fraction).
//  * ICMP: icmpTypeCodeIPv4 (32) / icmpTypeCodeIPv6 (139) go to dst_port (type << 8 | code),
//    as FlowKey holds them; else destinationTransportPort (11). NetFlow v9 ICMPv6 may use
//    ICMP_TYPE (32): RFC 3954 does not tie it to IPv4 (139 wins when both are present).
//  * Direction: flowDirection (61) when present, else ingress if ingressInterface (10) is
//    non-zero, else egress if egressInterface (14) is; ifindex from 10 or 14 accordingly.
//  * VLAN: vlanId (58) or dot1qVlanId (243); inner: dot1qCustomerVlanId (245).
FlowRecord to_flow_record(const DecodedRecord& record, const DecodedMessage& message,
                          std::optional<std::uint64_t> uptime_origin_ms = std::nullopt);

}  // namespace ebpfix::test
