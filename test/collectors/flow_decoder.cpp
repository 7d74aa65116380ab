#include "collectors/flow_decoder.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace ebpfix::test {
namespace {

// Abstract data types of the IANA IEs the decoder knows (RFC 7012 / IANA registry); they
// decide which lengths are plausible. v9 field types 1..127 share these numbers.
enum class IeType { u8, u16, u32, u64, ipv4, ipv6, mac, seconds, milliseconds, micro_or_nano, string, boolean };

std::optional<IeType> ie_type(std::uint16_t id) {
    switch (id) {
    case 4: case 5: case 9: case 13: case 29: case 30: case 33: case 35: case 48: case 49:
    case 52: case 53: case 55: case 60: case 61: case 136: case 176: case 177: case 178:
    case 179: case 239: case 244:
        return IeType::u8;
    case 6: case 7: case 11: case 32: case 36: case 37: case 58: case 59: case 139: case 145:
    case 243: case 245: case 254: case 255: case 304:
        return IeType::u16;
    case 10: case 14: case 16: case 143: case 17: case 21: case 22: case 31: case 34: case 50: case 54:
    case 64: case 89: case 144: case 149: case 252: case 253: case 305: case 306: case 346:
        return IeType::u32;
    case 1: case 2: case 3: case 19: case 20: case 23: case 24: case 25: case 26: case 40:
    case 41: case 42: case 85: case 86: case 148: case 164: case 165: case 166: case 167:
    case 168: case 302:
        return IeType::u64;
    case 8: case 12: case 15: case 18: case 130:
        return IeType::ipv4;
    case 27: case 28: case 62: case 63: case 131:
        return IeType::ipv6;
    case 56: case 57: case 80: case 81:
        return IeType::mac;
    case 150: case 151: case 322:
        return IeType::seconds;
    case 152: case 153: case 160: case 323:
        return IeType::milliseconds;
    case 154: case 155: case 156: case 157:
        return IeType::micro_or_nano;
    case 82: case 83: case 96: case 371:
        return IeType::string;
    default:
        return std::nullopt;
    }
}

// Checks one field specifier's length against its IE; returns the problem or "".
std::string length_problem(const FieldSpec& f, ipfix::Protocol protocol) {
    if (f.length == 0) return "zero length";
    if (f.length == kVariableLength && protocol == ipfix::Protocol::netflow9)
        return "length 65535 (NetFlow v9 has no variable-length fields)";
    // RFC 5103 6.1: a reverse IE has its forward IE's type; other enterprises are unknown.
    if (f.enterprise != 0 && f.enterprise != kReversePen) return "";
    auto type = ie_type(f.id);
    if (!type) return "";
    auto max_unsigned = [&](std::uint16_t n) -> std::string {
        if (f.length >= 1 && f.length <= n) return "";
        return "length " + std::to_string(f.length) + " (unsigned" + std::to_string(n * 8) +
               ": 1.." + std::to_string(n) + ")";
    };
    auto exactly = [&](std::uint16_t n, const char* what) -> std::string {
        if (f.length == n) return "";
        return "length " + std::to_string(f.length) + " (" + what + ": " + std::to_string(n) + ")";
    };
    switch (*type) {
    case IeType::u8: return max_unsigned(1);
    case IeType::u16: return max_unsigned(2);
    case IeType::u32: return max_unsigned(4);
    case IeType::u64: return max_unsigned(8);
    case IeType::ipv4: return exactly(4, "ipv4Address");
    case IeType::ipv6: return exactly(16, "ipv6Address");
    case IeType::mac: return exactly(6, "macAddress");
    case IeType::seconds: return exactly(4, "dateTimeSeconds");
    case IeType::milliseconds: return exactly(8, "dateTimeMilliseconds");
    case IeType::micro_or_nano: return exactly(8, "dateTimeMicro/Nanoseconds");
    case IeType::boolean: return exactly(1, "boolean");
    case IeType::string: return "";
    }
    return "";
}

std::string hex(std::uint64_t v) {
    std::ostringstream s;
    s << "0x" << std::hex << v;
    return s.str();
}

// Bounds-checked big-endian reads at absolute offsets of one message.
class Reader {
public:
    explicit Reader(gsl::span<const std::uint8_t> data) : data_(data) {}
    std::size_t size() const { return data_.size(); }
    void need(std::size_t at, std::size_t n, const char* what) const {
        if (at > data_.size() || n > data_.size() - at)
            throw DecodeError(at, std::string(what) + " truncated: needs " + std::to_string(n) +
                                      " bytes, " + std::to_string(at > data_.size() ? 0 : data_.size() - at) +
                                      " left");
    }
    std::uint8_t u8(std::size_t at) const { return data_[at]; }
    std::uint16_t u16(std::size_t at) const { return std::uint16_t(data_[at] << 8 | data_[at + 1]); }
    std::uint32_t u32(std::size_t at) const {
        return std::uint32_t(data_[at]) << 24 | std::uint32_t(data_[at + 1]) << 16 |
               std::uint32_t(data_[at + 2]) << 8 | std::uint32_t(data_[at + 3]);
    }
    Bytes bytes(std::size_t at, std::size_t n) const {
        return Bytes(data_.begin() + static_cast<std::ptrdiff_t>(at),
                     data_.begin() + static_cast<std::ptrdiff_t>(at + n));
    }

private:
    gsl::span<const std::uint8_t> data_;
};

std::uint64_t be_value(const Bytes& b) {
    std::uint64_t v = 0;
    for (auto c : b) v = v << 8 | c;
    return v;
}

// Padding after the last record: at most 3 bytes, all zero, shorter than one record.
void check_padding(const Reader& r, std::size_t at, std::size_t end, std::size_t min_record, const char* set_kind) {
    std::size_t pad = end - at;
    if (pad == 0) return;
    if (pad > 3 || pad >= min_record)
        throw DecodeError(at, std::string(set_kind) + ": " + std::to_string(pad) +
                                  " bytes after the last record are neither a record nor valid padding (0..3 bytes)");
    for (std::size_t i = at; i < end; ++i)
        if (r.u8(i) != 0) throw DecodeError(i, std::string(set_kind) + ": padding byte is " + hex(r.u8(i)) + ", not 0");
}

// Reads and validates field specifiers; returns the template's minimum record length.
std::size_t read_fields(const Reader& r, std::size_t& at, std::size_t end, std::size_t count,
                        ipfix::Protocol protocol, std::vector<FieldSpec>& fields, std::size_t v9_scope_fields = 0) {
    std::size_t min_length = 0;
    std::set<std::uint16_t> seen_scopes;
    for (std::size_t i = 0; i < count; ++i) {
        std::size_t field_at = at;
        if (end - at < 4) throw DecodeError(at, "field specifier " + std::to_string(i) + " truncated (set ends)");
        FieldSpec f;
        std::uint16_t raw_id = r.u16(at);
        f.length = r.u16(at + 2);
        at += 4;
        if (protocol == ipfix::Protocol::ipfix && (raw_id & 0x8000)) {
            if (end - at < 4) throw DecodeError(at, "enterprise number of field " + std::to_string(i) + " truncated");
            f.id = raw_id & 0x7fff;
            f.enterprise = r.u32(at);
            at += 4;
            if (f.enterprise == 0)
                throw DecodeError(field_at, "enterprise bit set with enterprise number 0 (use the IANA IE)");
        } else {
            f.id = raw_id;
        }
        bool v9_scope = protocol == ipfix::Protocol::netflow9 && i < v9_scope_fields;
        if (v9_scope) {
            if (f.id < 1 || f.id > 5)
                throw DecodeError(field_at, "v9 scope field type " + std::to_string(f.id) + " is not 1..5");
            if (f.length == 0) throw DecodeError(field_at, "v9 scope field " + std::to_string(f.id) + " has zero length");
            if (!seen_scopes.insert(f.id).second)
                throw DecodeError(field_at, "v9 scope type " + std::to_string(f.id) + " appears twice");
        } else {
            if (f.id == 0 && f.enterprise == 0) throw DecodeError(field_at, "field " + std::to_string(i) + " uses reserved IE 0");
            auto problem = length_problem(f, protocol);
            if (!problem.empty())
                throw DecodeError(field_at, "IE " + std::to_string(f.id) + ": " + problem);
        }
        min_length += f.length == kVariableLength ? 1 : f.length;
        fields.push_back(f);
    }
    return min_length;
}

void install_template(std::map<std::uint16_t, Template>& templates, Template t, std::size_t at) {
    auto it = templates.find(t.id);
    if (it != templates.end() && !(it->second == t))
        throw DecodeError(at, "template " + std::to_string(t.id) +
                                  " redefined with a different layout without a withdrawal");
    templates[t.id] = std::move(t);
}

// Decodes the data records of one data set; returns how many.
std::size_t decode_data_set(const Reader& r, std::size_t at, std::size_t end, const Template& t,
                            DecodedMessage& out) {
    std::size_t records = 0;
    while (end - at >= t.min_record_length) {
        DecodedRecord rec;
        rec.template_id = t.id;
        rec.offset = at;
        for (std::size_t i = 0; i < t.fields.size(); ++i) {
            const FieldSpec& f = t.fields[i];
            std::size_t len = f.length;
            if (f.length == kVariableLength) {
                if (at >= end) throw DecodeError(at, "variable-length field runs past its set");
                len = r.u8(at);
                at += 1;
                if (len == 255) {
                    if (end - at < 2) throw DecodeError(at, "3-byte variable length runs past its set");
                    len = r.u16(at);
                    at += 2;
                }
            }
            if (end - at < len)
                throw DecodeError(at, "IE " + std::to_string(f.id) + " of template " + std::to_string(t.id) +
                                          " (" + std::to_string(len) + " bytes) runs past its set");
            Bytes value = r.bytes(at, len);
            bool scope = i < t.scope_count;
            if (scope)
                rec.scope[f.id] = std::move(value);
            else if (f.enterprise != 0)
                rec.enterprise_fields[{f.enterprise, f.id}] = std::move(value);
            else if (rec.fields.count(f.id))
                rec.repeated[f.id].push_back(std::move(value));
            else
                rec.fields[f.id] = std::move(value);
            at += len;
        }
        (t.options ? out.options : out.flows).push_back(std::move(rec));
        ++records;
    }
    check_padding(r, at, end, t.min_record_length, "data set");
    return records;
}

// RFC 7011 6.1.6: a string is UTF-8 (RFC 3629: no overlong forms, surrogates or code
// points above U+10FFFF). A fixed-length field may end in NUL padding, and nothing but
// NULs may follow the first NUL. Returns the problem or "".
std::string utf8_problem(const Bytes& b) {
    std::size_t end = std::find(b.begin(), b.end(), 0) - b.begin();
    for (std::size_t i = end; i < b.size(); ++i)
        if (b[i] != 0) return "byte " + std::to_string(i) + " follows a NUL but is not NUL padding";
    for (std::size_t i = 0; i < end;) {
        std::uint8_t c = b[i];
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (len == 0 || i + len > end) return "invalid UTF-8 at byte " + std::to_string(i);
        std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
        for (std::size_t k = 1; k < len; ++k) {
            if ((b[i + k] & 0xc0) != 0x80) return "invalid UTF-8 at byte " + std::to_string(i);
            cp = cp << 6 | (b[i + k] & 0x3fu);
        }
        static constexpr std::uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return "invalid UTF-8 (overlong, surrogate or above U+10FFFF) at byte " + std::to_string(i);
        i += len;
    }
    return "";
}

// Per-record value rules that do not depend on the protocol.
void check_common_values(const DecodedRecord& rec) {
    if (rec.has(136)) {
        auto v = rec.uint(136);
        if (v < 1 || v > 5) throw DecodeError(rec.offset, "flowEndReason " + std::to_string(v) + " is not 1..5");
    }
    if (rec.has(61) && rec.uint(61) > 1)
        throw DecodeError(rec.offset, "flowDirection " + std::to_string(rec.uint(61)) + " is not 0..1");
    if (rec.has(239) && rec.uint(239) > 3)
        throw DecodeError(rec.offset, "biflowDirection " + std::to_string(rec.uint(239)) +
                                          " is not 0..3 (RFC 5103 6.3)");
    for (const auto& [id, value] : rec.fields) {
        if (ie_type(id) != IeType::string) continue;
        if (auto problem = utf8_problem(value); !problem.empty())
            throw DecodeError(rec.offset, "IE " + std::to_string(id) + " (string): " + problem);
    }
    if (rec.has(60) && rec.uint(60) != 4 && rec.uint(60) != 6)
        throw DecodeError(rec.offset, "ipVersion " + std::to_string(rec.uint(60)) + " is not 4 or 6");
    // 1 in 0 is no rate: collectors log an error (nfdump) or drop the flows (Akvorado).
    if (rec.has(34) && rec.uint(34) == 0) throw DecodeError(rec.offset, "samplingInterval 0 (1 in N needs N >= 1)");
    if (rec.has(35) && rec.uint(35) != 1 && rec.uint(35) != 2)
        throw DecodeError(rec.offset, "samplingAlgorithm " + std::to_string(rec.uint(35)) +
                                          " is not 1 (deterministic) or 2 (random)");
}

// Every options record of one message that announces sampling says the same.
void check_sampling_agrees(const std::vector<DecodedRecord>& options) {
    const DecodedRecord* first = nullptr;
    for (const auto& rec : options) {
        if (!rec.has(34)) continue;
        if (first == nullptr) {
            first = &rec;
            continue;
        }
        if (rec.uint(34) != first->uint(34))
            throw DecodeError(rec.offset, "samplingInterval " + std::to_string(rec.uint(34)) + " disagrees with " +
                                              std::to_string(first->uint(34)) + " at offset " +
                                              std::to_string(first->offset));
    }
    const DecodedRecord* first_algorithm = nullptr;
    for (const auto& rec : options) {
        if (!rec.has(34) || !rec.has(35)) continue;
        if (first_algorithm == nullptr) {
            first_algorithm = &rec;
        } else if (rec.uint(35) != first_algorithm->uint(35)) {
            throw DecodeError(rec.offset, "samplingAlgorithm " + std::to_string(rec.uint(35)) + " disagrees with " +
                                              std::to_string(first_algorithm->uint(35)) + " at offset " +
                                              std::to_string(first_algorithm->offset));
        }
    }
}

}  // namespace

DecodeError::DecodeError(std::size_t offset, const std::string& message)
    : std::runtime_error("offset " + std::to_string(offset) + ": " + message), offset_(offset) {}

const Bytes& DecodedRecord::raw(std::uint16_t id) const {
    auto it = fields.find(id);
    if (it == fields.end()) throw std::out_of_range("record has no IE " + std::to_string(id));
    return it->second;
}

std::uint64_t DecodedRecord::uint(std::uint16_t id) const {
    const Bytes& b = raw(id);
    if (b.empty() || b.size() > 8)
        throw std::out_of_range("IE " + std::to_string(id) + " has " + std::to_string(b.size()) +
                                " bytes, not an unsigned of 1..8");
    return be_value(b);
}

std::uint64_t DecodedRecord::uint(std::uint16_t id, std::size_t occurrence) const {
    if (occurrence == 0) return uint(id);
    auto it = repeated.find(id);
    if (it == repeated.end() || it->second.size() < occurrence)
        throw std::out_of_range("record has no occurrence " + std::to_string(occurrence) + " of IE " + std::to_string(id));
    const Bytes& b = it->second[occurrence - 1];
    if (b.empty() || b.size() > 8) throw std::out_of_range("IE " + std::to_string(id) + " is not an unsigned of 1..8 bytes");
    return be_value(b);
}

std::string DecodedRecord::text(std::uint16_t id) const {
    const Bytes& b = raw(id);
    return std::string(b.begin(), b.end());
}

std::string DecodedRecord::string_value(std::uint16_t id) const {
    const Bytes& b = raw(id);
    return std::string(b.begin(), std::find(b.begin(), b.end(), 0));
}

bool DecodedRecord::has_enterprise(std::uint32_t pen, std::uint16_t id) const {
    return enterprise_fields.count({pen, id}) != 0;
}

const Bytes& DecodedRecord::enterprise_raw(std::uint32_t pen, std::uint16_t id) const {
    auto it = enterprise_fields.find({pen, id});
    if (it == enterprise_fields.end())
        throw std::out_of_range("record has no IE " + std::to_string(id) + " of enterprise " + std::to_string(pen));
    return it->second;
}

std::uint64_t DecodedRecord::enterprise_uint(std::uint32_t pen, std::uint16_t id) const {
    const Bytes& b = enterprise_raw(pen, id);
    if (b.empty() || b.size() > 8)
        throw std::out_of_range("IE " + std::to_string(id) + " of enterprise " + std::to_string(pen) + " has " +
                                std::to_string(b.size()) + " bytes, not an unsigned of 1..8");
    return be_value(b);
}

std::string DecodedRecord::enterprise_text(std::uint32_t pen, std::uint16_t id) const {
    const Bytes& b = enterprise_raw(pen, id);
    return std::string(b.begin(), b.end());
}

std::uint64_t DecodedRecord::scope_uint(std::uint16_t id) const {
    auto it = scope.find(id);
    if (it == scope.end()) throw std::out_of_range("record has no scope field " + std::to_string(id));
    if (it->second.empty() || it->second.size() > 8)
        throw std::out_of_range("scope field " + std::to_string(id) + " is not an unsigned of 1..8 bytes");
    return be_value(it->second);
}

const Template* FlowDecoder::find_template(std::uint32_t domain, std::uint16_t id) const {
    auto d = domains_.find(domain);
    if (d == domains_.end()) return nullptr;
    auto t = d->second.templates.find(id);
    return t == d->second.templates.end() ? nullptr : &t->second;
}

std::optional<std::uint64_t> FlowDecoder::system_init_time_ms(std::uint32_t domain) const {
    auto d = domains_.find(domain);
    if (d == domains_.end()) return std::nullopt;
    return d->second.system_init_ms;
}

std::optional<std::uint32_t> FlowDecoder::sampling_interval(std::uint32_t domain) const {
    auto d = domains_.find(domain);
    if (d == domains_.end()) return std::nullopt;
    return d->second.sampling_interval;
}

std::optional<std::uint8_t> FlowDecoder::sampling_algorithm(std::uint32_t domain) const {
    auto d = domains_.find(domain);
    if (d == domains_.end()) return std::nullopt;
    return d->second.sampling_algorithm;
}

DecodedMessage FlowDecoder::decode(gsl::span<const std::uint8_t> datagram) {
    DecodedMessage out;
    out.protocol = protocol_;
    out.length = datagram.size();
    Reader r(datagram);
    std::size_t header = protocol_ == ipfix::Protocol::ipfix ? 16 : 20;
    r.need(0, header, "message header");
    std::uint16_t version = r.u16(0);
    std::uint16_t want = protocol_ == ipfix::Protocol::ipfix ? 10 : 9;
    if (version != want)
        throw DecodeError(0, "version " + std::to_string(version) + ", expected " + std::to_string(want));
    std::uint32_t domain = protocol_ == ipfix::Protocol::ipfix ? r.u32(12) : r.u32(16);
    // Work on a copy: a rejected message must not leave half its templates installed.
    DomainState st = domains_[domain];
    if (protocol_ == ipfix::Protocol::ipfix)
        decode_ipfix(datagram, out, st);
    else
        decode_v9(datagram, out, st);

    check_sampling_agrees(out.options);
    for (const auto& rec : out.options) {
        if (rec.has(160)) st.system_init_ms = rec.uint(160);
        if (rec.has(34)) st.sampling_interval = std::uint32_t(rec.uint(34));
        if (rec.has(34) && rec.has(35)) st.sampling_algorithm = std::uint8_t(rec.uint(35));
    }
    domains_[domain] = std::move(st);
    ++messages_;
    flow_records_ += out.flows.size();
    options_records_ += out.options.size();
    return out;
}

void FlowDecoder::decode_ipfix(gsl::span<const std::uint8_t> m, DecodedMessage& out, DomainState& st) const {
    Reader r(m);
    std::uint16_t length = r.u16(2);
    if (length != m.size())
        throw DecodeError(2, "message Length " + std::to_string(length) + " != datagram length " +
                                 std::to_string(m.size()));
    out.export_time_s = r.u32(4);
    out.sequence = r.u32(8);
    out.domain = r.u32(12);
    if (st.next_sequence && *st.next_sequence != out.sequence)
        throw DecodeError(8, "sequence " + std::to_string(out.sequence) + ", expected " +
                                 std::to_string(*st.next_sequence) + " (data records sent before this message)");
    if (m.size() == 16) throw DecodeError(16, "message carries no set (RFC 7011 3.1: one or more Sets)");

    std::size_t at = 16;
    while (at < m.size()) {
        std::size_t set_at = at;
        r.need(at, 4, "set header");
        std::uint16_t set_id = r.u16(at);
        std::uint16_t set_len = r.u16(at + 2);
        if (set_len < 4) throw DecodeError(at + 2, "set length " + std::to_string(set_len) + " < 4");
        if (set_len > m.size() - at)
            throw DecodeError(at + 2, "set length " + std::to_string(set_len) + " runs past the message end (" +
                                          std::to_string(m.size() - at) + " bytes left)");
        if (set_len == 4) throw DecodeError(at, "empty set (ID " + std::to_string(set_id) + ")");
        std::size_t end = at + set_len;
        at += 4;
        ++out.sets;
        if (set_id == 2 || set_id == 3) {
            bool options = set_id == 3;
            std::size_t header_len = options ? 6 : 4;
            std::size_t records = 0;
            while (end - at >= 4) {
                std::size_t rec_at = at;
                Template t;
                t.options = options;
                t.id = r.u16(at);
                std::uint16_t count = r.u16(at + 2);
                if (t.id < 256)
                    throw DecodeError(at, "template ID " + std::to_string(t.id) + " < 256");
                if (count == 0)
                    throw DecodeError(at + 2, "template withdrawal for " + std::to_string(t.id) +
                                                  " (RFC 7011 8.4: not sent over UDP)");
                if (end - at < header_len) throw DecodeError(at, "options template header truncated");
                if (options) {
                    t.scope_count = r.u16(at + 4);
                    if (t.scope_count == 0) throw DecodeError(at + 4, "options template " + std::to_string(t.id) + " has scope count 0");
                    if (t.scope_count > count)
                        throw DecodeError(at + 4, "scope count " + std::to_string(t.scope_count) + " > field count " +
                                                      std::to_string(count));
                }
                at += header_len;
                t.min_record_length = read_fields(r, at, end, count, out.protocol, t.fields);
                if (t.min_record_length > 65535 - 16 - 4)
                    throw DecodeError(rec_at, "template " + std::to_string(t.id) + " records cannot fit in a message");
                install_template(st.templates, std::move(t), rec_at);
                ++records;
            }
            if (records == 0) throw DecodeError(set_at, "template set holds no record");
            check_padding(r, at, end, options ? 10 : 8, options ? "options template set" : "template set");
            (options ? out.options_template_records : out.template_records) += records;
        } else if (set_id >= 256) {
            auto it = st.templates.find(set_id);
            if (it == st.templates.end())
                throw DecodeError(set_at, "data set for unknown template " + std::to_string(set_id));
            std::size_t first_flow = out.flows.size(), first_opt = out.options.size();
            if (decode_data_set(r, at, end, it->second, out) == 0)
                throw DecodeError(set_at, "data set " + std::to_string(set_id) + " holds no record");
            for (std::size_t i = first_flow; i < out.flows.size(); ++i) {
                const auto& rec = out.flows[i];
                check_common_values(rec);
                std::uint64_t export_ms = std::uint64_t(out.export_time_s) * 1000 + 999;
                for (auto [s, e, unit] : {std::tuple{152, 153, 1ull}, std::tuple{150, 151, 1000ull}}) {
                    if (rec.has(std::uint16_t(s)) && rec.has(std::uint16_t(e)) &&
                        rec.uint(std::uint16_t(s)) > rec.uint(std::uint16_t(e)))
                        throw DecodeError(rec.offset, "flow start (IE " + std::to_string(s) + ") after its end");
                    if (rec.has(std::uint16_t(e)) && rec.uint(std::uint16_t(e)) * unit > export_ms)
                        throw DecodeError(rec.offset, "flow end (IE " + std::to_string(e) + ") after the export time");
                    // The reverse direction's times (RFC 5103) obey the same rules.
                    auto rs = std::uint16_t(s), re = std::uint16_t(e);
                    if (rec.has_enterprise(kReversePen, rs) && rec.has_enterprise(kReversePen, re) &&
                        rec.enterprise_uint(kReversePen, rs) > rec.enterprise_uint(kReversePen, re))
                        throw DecodeError(rec.offset, "reverse flow start (IE " + std::to_string(s) + ") after its end");
                    if (rec.has_enterprise(kReversePen, re) && rec.enterprise_uint(kReversePen, re) * unit > export_ms)
                        throw DecodeError(rec.offset,
                                          "reverse flow end (IE " + std::to_string(e) + ") after the export time");
                }
            }
            for (std::size_t i = first_opt; i < out.options.size(); ++i) check_common_values(out.options[i]);
        } else {
            throw DecodeError(set_at, "set ID " + std::to_string(set_id) + " is reserved");
        }
        at = end;
    }
    st.next_sequence = std::uint32_t(out.sequence + out.flows.size() + out.options.size());
}

void FlowDecoder::decode_v9(gsl::span<const std::uint8_t> m, DecodedMessage& out, DomainState& st) const {
    Reader r(m);
    out.v9_count = r.u16(2);
    out.sys_uptime_ms = r.u32(4);
    out.export_time_s = r.u32(8);
    out.sequence = r.u32(12);
    out.domain = r.u32(16);
    if (st.next_sequence && *st.next_sequence != out.sequence)
        throw DecodeError(12, "package sequence " + std::to_string(out.sequence) + ", expected " +
                                  std::to_string(*st.next_sequence) + " (+1 per packet)");
    if (m.size() == 20) throw DecodeError(20, "packet carries no FlowSet (RFC 3954 4: one or more)");

    std::size_t at = 20;
    while (at < m.size()) {
        std::size_t set_at = at;
        r.need(at, 4, "FlowSet header (trailing bytes after the last FlowSet?)");
        std::uint16_t set_id = r.u16(at);
        std::uint16_t set_len = r.u16(at + 2);
        if (set_len < 4) throw DecodeError(at + 2, "FlowSet length " + std::to_string(set_len) + " < 4");
        if (set_len > m.size() - at)
            throw DecodeError(at + 2, "FlowSet length " + std::to_string(set_len) + " runs past the packet end (" +
                                          std::to_string(m.size() - at) + " bytes left)");
        if (set_len == 4) throw DecodeError(at, "empty FlowSet (ID " + std::to_string(set_id) + ")");
        std::size_t end = at + set_len;
        at += 4;
        ++out.sets;
        if (set_id == 0) {
            std::size_t records = 0;
            while (end - at >= 4) {
                std::size_t rec_at = at;
                Template t;
                t.id = r.u16(at);
                std::uint16_t count = r.u16(at + 2);
                if (t.id < 256) throw DecodeError(at, "template ID " + std::to_string(t.id) + " < 256");
                if (count == 0) throw DecodeError(at + 2, "template " + std::to_string(t.id) + " has no field");
                at += 4;
                t.min_record_length = read_fields(r, at, end, count, out.protocol, t.fields);
                install_template(st.templates, std::move(t), rec_at);
                ++records;
            }
            if (records == 0) throw DecodeError(set_at, "template FlowSet holds no record");
            check_padding(r, at, end, 8, "template FlowSet");
            out.template_records += records;
        } else if (set_id == 1) {
            std::size_t records = 0;
            while (end - at >= 6) {
                std::size_t rec_at = at;
                Template t;
                t.options = true;
                t.id = r.u16(at);
                std::uint16_t scope_len = r.u16(at + 2);
                std::uint16_t option_len = r.u16(at + 4);
                if (t.id < 256) throw DecodeError(at, "options template ID " + std::to_string(t.id) + " < 256");
                if (scope_len == 0 || scope_len % 4 != 0)
                    throw DecodeError(at + 2, "option scope length " + std::to_string(scope_len) +
                                                  " is not a positive multiple of 4");
                if (option_len % 4 != 0)
                    throw DecodeError(at + 4, "option length " + std::to_string(option_len) + " is not a multiple of 4");
                at += 6;
                if (std::size_t(scope_len) + option_len > end - at)
                    throw DecodeError(rec_at, "options template " + std::to_string(t.id) + " runs past its FlowSet");
                t.scope_count = scope_len / 4;
                t.min_record_length = read_fields(r, at, end, (scope_len + option_len) / 4u, out.protocol,
                                                  t.fields, t.scope_count);
                install_template(st.templates, std::move(t), rec_at);
                ++records;
            }
            if (records == 0) throw DecodeError(set_at, "options template FlowSet holds no record");
            check_padding(r, at, end, 10, "options template FlowSet");
            out.options_template_records += records;
        } else if (set_id >= 256) {
            auto it = st.templates.find(set_id);
            if (it == st.templates.end())
                throw DecodeError(set_at, "data FlowSet for unknown template " + std::to_string(set_id));
            std::size_t first_flow = out.flows.size(), first_opt = out.options.size();
            if (decode_data_set(r, at, end, it->second, out) == 0)
                throw DecodeError(set_at, "data FlowSet " + std::to_string(set_id) + " holds no record");
            for (std::size_t i = first_flow; i < out.flows.size(); ++i) {
                const auto& rec = out.flows[i];
                check_common_values(rec);
                // FIRST_SWITCHED (22) / LAST_SWITCHED (21): sysUptime of first/last packet.
                if (rec.has(22) && rec.uint(22) > out.sys_uptime_ms)
                    throw DecodeError(rec.offset, "FIRST_SWITCHED " + std::to_string(rec.uint(22)) + " > sysUptime " +
                                                      std::to_string(out.sys_uptime_ms));
                if (rec.has(21) && rec.uint(21) > out.sys_uptime_ms)
                    throw DecodeError(rec.offset, "LAST_SWITCHED " + std::to_string(rec.uint(21)) + " > sysUptime " +
                                                      std::to_string(out.sys_uptime_ms));
                if (rec.has(21) && rec.has(22) && rec.uint(22) > rec.uint(21))
                    throw DecodeError(rec.offset, "FIRST_SWITCHED after LAST_SWITCHED");
            }
            for (std::size_t i = first_opt; i < out.options.size(); ++i) check_common_values(out.options[i]);
        } else {
            throw DecodeError(set_at, "FlowSet ID " + std::to_string(set_id) + " is reserved");
        }
        at = end;
    }
    std::size_t records = out.template_records + out.options_template_records + out.flows.size() + out.options.size();
    if (out.v9_count != records)
        throw DecodeError(2, "Count " + std::to_string(out.v9_count) + " != " + std::to_string(records) +
                                 " records in the packet");
    st.next_sequence = out.sequence + 1;
}

FlowRecord to_flow_record(const DecodedRecord& rec, const DecodedMessage& msg,
                          std::optional<std::uint64_t> uptime_origin_ms) {
    auto fail = [&](const std::string& what) {
        throw std::runtime_error("record at offset " + std::to_string(rec.offset) + ": " + what);
    };
    FlowRecord out;
    FlowKey& k = out.key;
    bool v4 = rec.has(8) || rec.has(12);
    bool v6 = rec.has(27) || rec.has(28);
    if (v4 == v6) fail(v4 ? "carries both IPv4 and IPv6 addresses" : "carries no address");
    if (v4) {
        if (!rec.has(8) || !rec.has(12)) fail("has only one IPv4 address");
        k.ip_version = 4;
        k.src_addr = FlowKey::mapped_v4(std::uint32_t(rec.uint(8)));
        k.dst_addr = FlowKey::mapped_v4(std::uint32_t(rec.uint(12)));
    } else {
        if (!rec.has(27) || !rec.has(28)) fail("has only one IPv6 address");
        k.ip_version = 6;
        std::copy_n(rec.raw(27).begin(), 16, k.src_addr.begin());
        std::copy_n(rec.raw(28).begin(), 16, k.dst_addr.begin());
    }
    if (rec.has(60) && rec.uint(60) != k.ip_version) fail("ipVersion disagrees with the address family");
    if (rec.has(4)) k.protocol = std::uint8_t(rec.uint(4));
    if (rec.has(7)) k.src_port = std::uint16_t(rec.uint(7));
    if (rec.has(11)) k.dst_port = std::uint16_t(rec.uint(11));
    if (k.is_icmp()) {
        // IPFIX ties 32 to ICMPv4 and 139 to ICMPv6; v9's ICMP_TYPE (32) serves both
        // families (RFC 3954), and ebpfix sends ICMPv6 in it too.
        bool v9 = msg.protocol == ipfix::Protocol::netflow9;
        std::uint16_t icmp_ie = k.ip_version == 4 || (v9 && !rec.has(139)) ? 32 : 139;
        if (rec.has(icmp_ie)) k.dst_port = std::uint16_t(rec.uint(icmp_ie));
    }

    if (rec.has(61)) {
        k.direction = rec.uint(61) == 0 ? Direction::ingress : Direction::egress;
        std::uint16_t if_ie = k.direction == Direction::ingress ? 10 : 14;
        if (rec.has(if_ie)) k.ifindex = std::uint32_t(rec.uint(if_ie));
    } else if (rec.has(10) && rec.uint(10) != 0) {
        k.direction = Direction::ingress;
        k.ifindex = std::uint32_t(rec.uint(10));
    } else if (rec.has(14) && rec.uint(14) != 0) {
        k.direction = Direction::egress;
        k.ifindex = std::uint32_t(rec.uint(14));
    }
    if (rec.has(58)) k.vlan_id = std::uint16_t(rec.uint(58));
    else if (rec.has(243)) k.vlan_id = std::uint16_t(rec.uint(243));
    if (rec.has(245)) k.inner_vlan_id = std::uint16_t(rec.uint(245));

    if (rec.has(2)) out.packets = rec.uint(2);
    if (rec.has(1)) out.bytes = rec.uint(1);
    if (rec.has(6)) out.tcp_flags = std::uint16_t(rec.uint(6));
    if (rec.has(5)) out.tos = std::uint8_t(rec.uint(5));
    if (rec.has(136)) out.end_reason = static_cast<EndReason>(rec.uint(136));

    if (msg.protocol == ipfix::Protocol::ipfix) {
        if (rec.has(152) && rec.has(153)) {
            out.start_ms = rec.uint(152);
            out.end_ms = rec.uint(153);
        } else if (rec.has(150) && rec.has(151)) {
            out.start_ms = rec.uint(150) * 1000;
            out.end_ms = rec.uint(151) * 1000;
        } else if (rec.has(22) && rec.has(21)) {
            if (!uptime_origin_ms) fail("flowStart/EndSysUpTime without systemInitTimeMilliseconds");
            out.start_ms = *uptime_origin_ms + rec.uint(22);
            out.end_ms = *uptime_origin_ms + rec.uint(21);
        } else {
            fail("carries no flow start/end time");
        }
    } else {
        if (!rec.has(22) || !rec.has(21)) fail("carries no FIRST_SWITCHED/LAST_SWITCHED");
        std::uint64_t origin = uptime_origin_ms
                                   ? *uptime_origin_ms
                                   : std::uint64_t(msg.export_time_s) * 1000 - msg.sys_uptime_ms;
        out.start_ms = origin + rec.uint(22);
        out.end_ms = origin + rec.uint(21);
    }
    return out;
}

}  // namespace ebpfix::test
