// IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) message building. The layouts come from
// templates/ (generated at build time); this file owns message framing, sequence numbers
// and template (re)transmission.
#include "ipfix/flow_encoder.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>

#include "attribution/owners.hpp"
#include "ipfix/record_sources.hpp"
#include "ipfix/wire.hpp"
#include "templates_gen/ebpfix_templates.hpp"

namespace ebpfix::ipfix {
namespace {

// Index of each template the encoder uses; the same slots exist in both protocols (a
// slot NetFlow v9 has no template for is nullptr there). Data templates come first: they
// share one Template Set.
enum TemplateIndex : unsigned {
    t_ipv4,              // 256
    t_ipv6,              // 257
    t_ipv4_owner,        // 264: attribution
    t_ipv6_owner,        // 265
    t_ipv4_owner_pen,    // 266: attribution with the enterprise IEs (IPFIX)
    t_ipv6_owner_pen,    // 267
    t_biflow_ipv4,       // 268: RFC 5103 (IPFIX)
    t_biflow_ipv6,       // 269
    t_sampling,          // 258: samplingInterval
    t_sampling_algorithm,  // 263: samplingInterval + samplingAlgorithm
    t_metering_statistics,
    t_metering_reliability,
    t_exporting_reliability,
    t_interfaces,
    t_count
};
constexpr unsigned k_first_options = t_sampling;

constexpr const gen::TemplateSpec* k_ipfix_specs[t_count] = {
    &gen::ipfix_ipv4, &gen::ipfix_ipv6, &gen::ipfix_ipv4_owner, &gen::ipfix_ipv6_owner,
    &gen::ipfix_ipv4_owner_pen, &gen::ipfix_ipv6_owner_pen, &gen::ipfix_biflow_ipv4, &gen::ipfix_biflow_ipv6,
    &gen::ipfix_sampling, &gen::ipfix_sampling_algorithm, &gen::ipfix_metering_statistics,
    &gen::ipfix_metering_reliability, &gen::ipfix_exporting_reliability, &gen::ipfix_interfaces};
constexpr const gen::TemplateSpec* k_v9_specs[t_count] = {
    &gen::v9_ipv4, &gen::v9_ipv6, &gen::v9_ipv4_owner, &gen::v9_ipv6_owner, nullptr, nullptr, nullptr, nullptr,
    &gen::v9_sampling, &gen::v9_sampling_algorithm, &gen::v9_metering_statistics, &gen::v9_metering_reliability,
    &gen::v9_exporting_reliability, &gen::v9_interfaces};

constexpr std::size_t k_ipfix_header = 16;  // RFC 7011 section 3.1
constexpr std::size_t k_v9_header = 20;     // RFC 3954 section 5.1
constexpr std::size_t k_set_header = 4;
constexpr std::uint16_t k_ipfix_template_set = 2, k_ipfix_options_template_set = 3;
constexpr std::uint16_t k_v9_template_set = 0, k_v9_options_template_set = 1;
constexpr std::uint32_t k_no_set = 0x10000;  // no set open (set ids are 16 bits)
// Cap for interface texts in a variable-length (65535) field, should a template use one:
// a record then always fits a small message and keeps a one-byte length prefix.
constexpr std::size_t k_interface_text_cap = 64;
// Caps for the owner texts in variable-length fields: user and command names, and the
// cgroup path (cut further when a record with it would not fit an empty message).
constexpr std::size_t k_owner_name_cap = 64;
constexpr std::size_t k_cgroup_path_cap = 1024;

constexpr std::size_t pad4(std::size_t n) noexcept { return (n + 3) & ~std::size_t{3}; }
constexpr std::uint32_t bit(unsigned index) noexcept { return 1u << index; }
constexpr std::uint32_t k_data_mask = bit(k_first_options) - 1;

// The field with this element name in a template (templates/templates.def has it).
const gen::FieldSpec& field_named(const gen::TemplateSpec& s, const char* element) {
    for (std::size_t i = 0; i < s.field_count; ++i)
        if (std::strcmp(s.fields[i].element_name, element) == 0) return s.fields[i];
    throw std::logic_error(std::string("ipfix: template ") + s.name + " has no " + element);
}

}  // namespace

struct FlowEncoder::Impl {
    EncoderOptions opt;
    EncoderCounters counters{};
    bool v9 = false;
    const gen::TemplateSpec* const* specs = nullptr;
    std::uint32_t available = 0;  // templates this encoder may send (by the options)
    std::vector<std::uint8_t> storage;  // the one message buffer, allocated once
    gsl::span<std::uint8_t> buf;
    std::size_t limit = 0;       // usable bytes (v9: a multiple of 4, sets are 4-aligned)
    std::size_t header_len = 0;
    std::size_t name_cap = 0;    // interface text caps in bytes
    std::size_t description_cap = 0;

    // Attribution: the templates owned records go in, and the owner text caps in bytes.
    unsigned owner_v4 = t_ipv4_owner;
    unsigned owner_v6 = t_ipv6_owner;
    bool owner_pen = false;      // the enterprise IEs (and the cgroup path) are sent
    std::size_t user_cap = 0;
    std::size_t application_cap = 0;
    std::size_t cgroup_cap = 0;
    bool user_variable = false;  // userName / applicationName are variable-length fields
    bool application_variable = false;
    // Template records with the configured PEN written in (templates with PEN fields).
    std::array<std::vector<std::uint8_t>, t_count> patched_wire;
    std::array<std::size_t, t_count> max_record{};

    // The message under construction.
    const MessageSink* sink = nullptr;
    bool open = false;
    std::size_t pos = 0;
    std::size_t set_start = 0;
    std::uint32_t set_id = k_no_set;
    std::uint64_t msg_now_ms = 0;
    std::uint32_t msg_records = 0;  // every record (v9 header count)
    std::uint32_t msg_data = 0;
    std::uint32_t msg_options = 0;
    std::uint32_t msg_templates = 0;
    std::uint64_t msg_data_packets = 0;  // sums over the message's flow records
    std::uint64_t msg_data_octets = 0;

    std::uint32_t ipfix_sequence = 0;  // data records sent before the current message
    std::uint32_t v9_sequence = 0;     // packets sent before the current message

    // Template transmission state.
    std::uint32_t announced = 0;  // templates sent since the last refresh
    bool force_resend = false;
    bool refresh_started = false;
    std::uint64_t refresh_epoch_ms = 0;
    std::uint64_t messages_since_refresh = 0;

    std::string name_text;  // sanitized interface texts, reused
    std::string description_text;
    std::vector<const attribution::Owner*> owner_of;  // per record of an encode() call, reused
    std::string user_text;  // sanitized owner texts, reused
    std::string application_text;
    std::string cgroup_text;

    explicit Impl(const EncoderOptions& o);

    const std::uint8_t* wire_of(unsigned index) const noexcept {
        return patched_wire[index].empty() ? specs[index]->wire : patched_wire[index].data();
    }
    std::size_t template_set_bytes(unsigned index) const noexcept {
        std::size_t n = k_set_header + specs[index]->wire_length;
        return v9 ? pad4(n) : n;
    }
    // The longest text a string field carries: a fixed one keeps a NUL at its end.
    std::size_t text_cap(const gen::FieldSpec& f) const noexcept {
        if (f.length != gen::k_variable_length) return std::size_t{f.length} - 1;
        if (std::strcmp(f.element_name, "userName") == 0) return user_cap;
        if (std::strcmp(f.element_name, "applicationName") == 0) return application_cap;
        if (std::strcmp(f.element_name, "ebpfixCgroupPath") == 0) return cgroup_cap;
        return k_interface_text_cap;
    }
    std::size_t largest_record(unsigned index) const noexcept {
        const auto& s = *specs[index];
        std::size_t n = s.fixed_length;
        for (std::size_t i = 0; i < s.field_count; ++i)
            if (s.fields[i].length == gen::k_variable_length) n += var_string_size(text_cap(s.fields[i]));
        return n;
    }

    void open_set(std::uint16_t id) noexcept {
        set_start = pos;
        put_u16(buf.data() + pos, id);
        pos += k_set_header;
        set_id = id;
    }
    void close_set() noexcept {
        if (set_id == k_no_set) return;
        if (v9) {  // RFC 3954 5.3: pad the FlowSet to a 4-byte boundary with zeros
            while (pos % 4 != 0) buf[pos++] = 0;
        }
        put_u16(buf.data() + set_start + 2, static_cast<std::uint16_t>(pos - set_start));
        set_id = k_no_set;
    }
    void append_template(unsigned index) noexcept {
        const auto& s = *specs[index];
        std::copy_n(wire_of(index), s.wire_length, buf.data() + pos);
        pos += s.wire_length;
        announced |= bit(index);
        ++msg_templates;
        ++msg_records;
    }
    std::uint16_t template_set_id(unsigned index) const noexcept {
        bool options = specs[index]->options;
        if (v9) return options ? k_v9_options_template_set : k_v9_template_set;
        return options ? k_ipfix_options_template_set : k_ipfix_template_set;
    }
    // Data templates share one Template Set; each options template gets its own set.
    void write_templates(std::uint32_t mask) noexcept {
        if (mask & k_data_mask) {
            close_set();
            open_set(template_set_id(t_ipv4));
            for (unsigned i = 0; i < k_first_options; ++i)
                if (mask & bit(i)) append_template(i);
            close_set();
        }
        for (unsigned i = k_first_options; i < t_count; ++i) {
            if (!(mask & bit(i))) continue;
            close_set();
            open_set(template_set_id(i));
            append_template(i);
            close_set();
        }
    }
    std::size_t templates_bytes(std::uint32_t mask) const noexcept {
        std::size_t n = 0;
        if (mask & k_data_mask) {
            n += k_set_header;
            for (unsigned i = 0; i < k_first_options; ++i)
                if (mask & bit(i)) n += specs[i]->wire_length;
            if (v9) n = pad4(n);
        }
        for (unsigned i = k_first_options; i < t_count; ++i)
            if (mask & bit(i)) n += template_set_bytes(i);
        return n;
    }

    bool refresh_due(std::uint64_t now_ms) const noexcept {
        if (force_resend) return true;
        if (opt.template_refresh_seconds != 0 &&
            (now_ms < refresh_epoch_ms ||  // the clock went back: resend rather than wait
             now_ms - refresh_epoch_ms >= std::uint64_t{opt.template_refresh_seconds} * 1000))
            return true;
        return opt.template_refresh_messages != 0 &&
               messages_since_refresh >= opt.template_refresh_messages;
    }

    // Starts a message. Templates that this call will use and the collector does not have
    // go first, when they all fit beside the largest record; otherwise each goes just
    // before its first set (acquire).
    void begin_message(std::uint64_t now_ms, std::uint32_t will_use) {
        if (!refresh_started) {
            refresh_started = true;
            refresh_epoch_ms = now_ms;
        }
        if (refresh_due(now_ms)) {
            announced = 0;
            force_resend = false;
            refresh_epoch_ms = now_ms;
            messages_since_refresh = 0;
        }
        open = true;
        pos = header_len;
        set_id = k_no_set;
        msg_now_ms = now_ms;
        msg_records = msg_data = msg_options = msg_templates = 0;
        msg_data_packets = msg_data_octets = 0;
        std::uint32_t missing = will_use & ~announced;
        if (missing == 0) return;
        std::size_t largest = 0;
        for (unsigned i = 0; i < t_count; ++i)
            if (missing & bit(i)) largest = std::max(largest, max_record[i]);
        if (pos + templates_bytes(missing) + k_set_header + largest <= limit) write_templates(missing);
    }

    void finish_message() {
        close_set();
        if (!open) return;
        open = false;
        if (pos == header_len) return;  // nothing in it: never send a message without a set
        std::uint8_t* h = buf.data();
        if (v9) {
            put_u16(h, 9);
            put_u16(h + 2, static_cast<std::uint16_t>(msg_records));
            std::uint64_t up = msg_now_ms > opt.uptime_origin_ms ? msg_now_ms - opt.uptime_origin_ms : 0;
            put_u32(h + 4, static_cast<std::uint32_t>(up));
            put_u32(h + 8, static_cast<std::uint32_t>(msg_now_ms / 1000));
            put_u32(h + 12, v9_sequence);
            put_u32(h + 16, opt.observation_domain);
            ++v9_sequence;
        } else {
            put_u16(h, 10);
            put_u16(h + 2, static_cast<std::uint16_t>(pos));
            put_u32(h + 4, static_cast<std::uint32_t>(msg_now_ms / 1000));
            put_u32(h + 8, ipfix_sequence);
            put_u32(h + 12, opt.observation_domain);
            ipfix_sequence += msg_data + msg_options;  // templates do not count (RFC 7011 3.1)
        }
        ++counters.messages;
        counters.octets += pos;
        counters.data_records += msg_data;
        counters.data_packets += msg_data_packets;
        counters.data_octets += msg_data_octets;
        counters.options_records += msg_options;
        counters.template_records += msg_templates;
        ++messages_since_refresh;
        // State first: a throwing sink loses this message, never the sequence numbering.
        (*sink)(gsl::span<const std::uint8_t>(h, pos));
    }

    // Makes sure a set for template `index` is open with room for record_len more bytes,
    // starting messages and sending the template as needed.
    void acquire(unsigned index, std::size_t record_len, std::uint64_t now_ms, std::uint32_t will_use) {
        const std::uint32_t id = specs[index]->id;
        for (;;) {
            if (!open) begin_message(now_ms, will_use);
            if (set_id == id) {
                if (pos + record_len <= limit) return;
                finish_message();
                continue;
            }
            close_set();
            bool empty = pos == header_len;
            bool have_template = announced & bit(index);
            std::size_t need = (have_template ? 0 : template_set_bytes(index)) + k_set_header + record_len;
            if (pos + need > limit) {
                // The constructor checked that an empty message holds template + record.
                if (empty) throw std::logic_error("ipfix: record does not fit an empty message");
                finish_message();
                continue;
            }
            if (!have_template) write_templates(bit(index));
            open_set(static_cast<std::uint16_t>(id));
            return;
        }
    }

    // Records of one fixed-length template: for each i that select(i) takes, write(p, i)
    // writes the record at p and returns the packets and octets it carries.
    template <typename Select, typename Writer>
    void encode_fixed(std::size_t count, unsigned index, std::uint64_t now_ms, std::uint32_t will_use,
                      Select select, Writer write) {
        const std::size_t record_len = specs[index]->fixed_length;
        const std::uint32_t id = specs[index]->id;
        for (std::size_t i = 0; i < count; ++i) {
            if (!select(i)) continue;
            if (set_id != id || pos + record_len > limit) acquire(index, record_len, now_ms, will_use);
            auto [packets, octets] = write(buf.data() + pos, i);
            pos += record_len;
            ++msg_data;
            ++msg_records;
            msg_data_packets += packets;  // what the packetDeltaCount / octetDeltaCount fields carry
            msg_data_octets += octets;
        }
    }

    template <typename Writer>
    void encode_family(std::span<const FlowRecord> records, std::uint8_t family, unsigned index,
                       std::uint64_t now_ms, std::uint32_t will_use, Writer write) {
        const std::uint64_t origin = opt.uptime_origin_ms;
        encode_fixed(
            records.size(), index, now_ms, will_use, [&](std::size_t i) { return records[i].key.ip_version == family; },
            [&](std::uint8_t* p, std::size_t i) {
                const FlowRecord& r = records[i];
                write(p, FlowSource{r, origin, now_ms});
                return std::pair{r.packets, r.bytes};
            });
    }

    // The owner texts of one record into user_text, application_text, cgroup_text.
    void owner_texts(const attribution::Owner& o) {
        std::string_view user = o.user;
        char digits[16];
        if (user.empty() && o.uid) {  // a uid without a name: the number, never ""
            auto end = std::to_chars(digits, digits + sizeof digits, *o.uid).ptr;
            user = std::string_view(digits, static_cast<std::size_t>(end - digits));
        }
        utf8_prefix(user, user_cap, user_text);
        utf8_prefix(o.comm, application_cap, application_text);
        if (owner_pen)
            utf8_prefix(o.cgroup, cgroup_cap, cgroup_text);
        else
            cgroup_text.clear();
    }

    // The records of one family that have an owner (owner_of), in an attribution template.
    template <typename Writer>
    void encode_owned(std::span<const FlowRecord> records, std::uint8_t family, unsigned index,
                      std::uint64_t now_ms, std::uint32_t will_use, Writer write) {
        const auto& spec = *specs[index];
        const std::uint64_t origin = opt.uptime_origin_ms;
        for (std::size_t i = 0; i < records.size(); ++i) {
            const FlowRecord& r = records[i];
            if (r.key.ip_version != family || owner_of[i] == nullptr) continue;
            const attribution::Owner& o = *owner_of[i];
            owner_texts(o);
            std::size_t len = spec.fixed_length;
            if (user_variable) len += var_string_size(user_text.size());
            if (application_variable) len += var_string_size(application_text.size());
            if (owner_pen) len += var_string_size(cgroup_text.size());
            if (set_id != spec.id || pos + len > limit) acquire(index, len, now_ms, will_use);
            std::uint8_t* at = buf.data() + pos;
            std::uint8_t* end =
                write(at, OwnedFlowSource{{r, origin, now_ms}, o, user_text, application_text, cgroup_text});
            if (static_cast<std::size_t>(end - at) != len)
                throw std::logic_error("ipfix: attribution record length differs from its layout");
            pos += len;
            ++msg_data;
            ++msg_records;
            msg_data_packets += r.packets;
            msg_data_octets += r.bytes;
        }
    }

    std::uint8_t* write_owned(unsigned index, std::uint8_t* p, const OwnedFlowSource& s) const noexcept {
        if (v9) return index == t_ipv4_owner ? gen::write_v9_ipv4_owner(p, s) : gen::write_v9_ipv6_owner(p, s);
        switch (index) {
            case t_ipv4_owner: return gen::write_ipfix_ipv4_owner(p, s);
            case t_ipv6_owner: return gen::write_ipfix_ipv6_owner(p, s);
            case t_ipv4_owner_pen: return gen::write_ipfix_ipv4_owner_pen(p, s);
            default: return gen::write_ipfix_ipv6_owner_pen(p, s);
        }
    }

    std::uint8_t* write_options_record(unsigned index, std::uint8_t* p, const OptionsSource& s) const noexcept {
        if (v9) {
            switch (index) {
                case t_sampling: return gen::write_v9_sampling(p, s);
                case t_sampling_algorithm: return gen::write_v9_sampling_algorithm(p, s);
                case t_metering_statistics: return gen::write_v9_metering_statistics(p, s);
                case t_metering_reliability: return gen::write_v9_metering_reliability(p, s);
                case t_exporting_reliability: return gen::write_v9_exporting_reliability(p, s);
                default: return gen::write_v9_interfaces(p, s);
            }
        }
        switch (index) {
            case t_sampling: return gen::write_ipfix_sampling(p, s);
            case t_sampling_algorithm: return gen::write_ipfix_sampling_algorithm(p, s);
            case t_metering_statistics: return gen::write_ipfix_metering_statistics(p, s);
            case t_metering_reliability: return gen::write_ipfix_metering_reliability(p, s);
            case t_exporting_reliability: return gen::write_ipfix_exporting_reliability(p, s);
            default: return gen::write_ipfix_interfaces(p, s);
        }
    }

    void encode_options_record(unsigned index, std::size_t record_len, const OptionsSource& s,
                               std::uint64_t now_ms, std::uint32_t will_use) {
        acquire(index, record_len, now_ms, will_use);
        std::uint8_t* end = write_options_record(index, buf.data() + pos, s);
        if (static_cast<std::size_t>(end - (buf.data() + pos)) != record_len)
            throw std::logic_error("ipfix: options record length differs from its layout");
        pos += record_len;
        ++msg_options;
        ++msg_records;
    }
};

FlowEncoder::Impl::Impl(const EncoderOptions& o) : opt(o) {
    if (o.protocol != Protocol::ipfix && o.protocol != Protocol::netflow9)
        throw std::invalid_argument("encoder: unknown protocol " + std::to_string(static_cast<int>(o.protocol)));
    if (o.observation_domain == 0)
        throw std::invalid_argument(
            "encoder: observation_domain 0 is reserved; use a stable non-zero IPFIX Observation Domain "
            "ID / NetFlow v9 Source ID");
    if (o.max_message_size > 65535)
        throw std::invalid_argument("encoder: max_message_size " + std::to_string(o.max_message_size) +
                                    " exceeds 65535 (the IPFIX length field and a UDP payload)");
    if (o.sampling_algorithm != SamplingAlgorithm::random && o.sampling_algorithm != SamplingAlgorithm::hash)
        throw std::invalid_argument("encoder: unknown sampling_algorithm " +
                                    std::to_string(static_cast<int>(o.sampling_algorithm)) + " (random or hash)");
    if (o.template_refresh_seconds == 0 && o.template_refresh_messages == 0)
        throw std::invalid_argument(
            "encoder: template_refresh_seconds and template_refresh_messages are both 0; over UDP "
            "templates must be re-sent periodically (RFC 7011 8.4, RFC 3954 9)");
    if (o.enterprise_number == gen::k_reverse_pen)
        throw std::invalid_argument(
            "encoder: enterprise_number 29305 is the RFC 5103 reverse Information Element PEN; configure "
            "your organization's Private Enterprise Number (or 0 for none)");
    v9 = o.protocol == Protocol::netflow9;
    if (o.biflow && v9)
        throw std::invalid_argument("encoder: biflow needs IPFIX (RFC 5103); NetFlow v9 has no reverse fields");
    specs = v9 ? k_v9_specs : k_ipfix_specs;
    header_len = v9 ? k_v9_header : k_ipfix_header;
    limit = v9 ? (o.max_message_size & ~std::size_t{3}) : o.max_message_size;

    available = bit(t_ipv4) | bit(t_ipv6);
    for (unsigned i = k_first_options; i < t_count; ++i) available |= bit(i);
    owner_pen = o.attribution && !v9 && o.enterprise_number != 0;
    if (owner_pen) {
        owner_v4 = t_ipv4_owner_pen;
        owner_v6 = t_ipv6_owner_pen;
    }
    if (o.attribution) available |= bit(owner_v4) | bit(owner_v6);
    if (o.biflow) available |= bit(t_biflow_ipv4) | bit(t_biflow_ipv6);

    // Owner text caps: a fixed field keeps a NUL; a variable one has a cap (the cgroup path
    // the largest that still fits one record in an empty message).
    const auto& owned = *specs[owner_v6];
    const auto& user_field = field_named(owned, "userName");
    const auto& application_field = field_named(owned, "applicationName");
    user_variable = user_field.length == gen::k_variable_length;
    application_variable = application_field.length == gen::k_variable_length;
    user_cap = user_variable ? k_owner_name_cap : std::size_t{user_field.length} - 1;
    application_cap = application_variable ? k_owner_name_cap : std::size_t{application_field.length} - 1;
    if (owner_pen) {
        std::size_t base = header_len + template_set_bytes(owner_v6) + k_set_header + owned.fixed_length +
                           var_string_size(user_cap) + var_string_size(application_cap);
        std::size_t room = limit > base ? limit - base : 0;  // for the path and its length prefix
        if (room >= 3 + 255)
            cgroup_cap = std::min(room - 3, k_cgroup_path_cap);
        else if (room >= 1)
            cgroup_cap = std::min(room - 1, std::size_t{254});
    }

    for (unsigned i = 0; i < t_count; ++i) {
        if (!(available & bit(i))) continue;
        max_record[i] = largest_record(i);
        std::size_t need = header_len + template_set_bytes(i) + k_set_header + max_record[i];
        if (need > limit)
            throw std::invalid_argument("encoder: max_message_size " + std::to_string(o.max_message_size) +
                                        " is too small: template " + std::to_string(specs[i]->id) + " (" +
                                        specs[i]->name + ") with one record needs " + std::to_string(need) +
                                        " bytes");
        // RFC 7011 3.2: the Enterprise Number follows the field's id and length.
        const auto& s = *specs[i];
        if (s.pen_offset_count != 0) {
            patched_wire[i].assign(s.wire, s.wire + s.wire_length);
            for (std::size_t k = 0; k < s.pen_offset_count; ++k)
                put_u32(patched_wire[i].data() + s.pen_offsets[k], o.enterprise_number);
        }
    }
    const auto& ifs = *specs[t_interfaces];
    name_cap = text_cap(ifs.fields[1]);
    description_cap = text_cap(ifs.fields[2]);
    name_text.reserve(k_interface_text_cap);
    description_text.reserve(k_interface_text_cap);
    storage.assign(o.max_message_size, 0);
    buf = gsl::span<std::uint8_t>(storage.data(), storage.size());
}

FlowEncoder::FlowEncoder(const EncoderOptions& options) : impl_(std::make_unique<Impl>(options)) {}
FlowEncoder::~FlowEncoder() = default;
FlowEncoder::FlowEncoder(FlowEncoder&&) noexcept = default;
FlowEncoder& FlowEncoder::operator=(FlowEncoder&&) noexcept = default;

void FlowEncoder::encode(std::span<const FlowRecord> records, std::uint64_t now_ms, const MessageSink& sink) {
    encode(records, OwnerLookup{}, now_ms, sink);
}

void FlowEncoder::encode(std::span<const FlowRecord> records, const OwnerLookup& owners, std::uint64_t now_ms,
                         const MessageSink& sink) {
    Impl& m = *impl_;
    const bool attribute = m.opt.attribution && owners;
    // Validate everything (and look the owners up) before the first byte goes out.
    if (attribute) m.owner_of.assign(records.size(), nullptr);
    std::uint32_t will_use = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
        std::uint8_t v = records[i].key.ip_version;
        if (v != 4 && v != 6)
            throw std::invalid_argument("encoder: record " + std::to_string(i) + " has ip_version " +
                                        std::to_string(v) + " (4 or 6 expected)");
        const attribution::Owner* owner = nullptr;
        if (attribute && records[i].key.owner != 0) owner = m.owner_of[i] = owners(records[i].key.owner);
        if (owner)
            will_use |= bit(v == 4 ? m.owner_v4 : m.owner_v6);
        else
            will_use |= bit(v == 4 ? t_ipv4 : t_ipv6);
    }
    if (will_use == 0) return;
    m.sink = &sink;
    // Templates are encoded one after the other (each in input order) so a message holds
    // at most one data set per template.
    auto plain = [&](std::uint8_t family, unsigned index, auto write) {
        if (!(will_use & bit(index))) return;
        if (!attribute) {
            m.encode_family(records, family, index, now_ms, will_use, write);
            return;
        }
        const std::uint64_t origin = m.opt.uptime_origin_ms;
        m.encode_fixed(
            records.size(), index, now_ms, will_use,
            [&](std::size_t i) { return records[i].key.ip_version == family && m.owner_of[i] == nullptr; },
            [&](std::uint8_t* p, std::size_t i) {
                const FlowRecord& r = records[i];
                write(p, FlowSource{r, origin, now_ms});
                return std::pair{r.packets, r.bytes};
            });
    };
    auto owned = [&](std::uint8_t family, unsigned index) {
        if (!(will_use & bit(index))) return;
        m.encode_owned(records, family, index, now_ms, will_use,
                       [&](std::uint8_t* p, const OwnedFlowSource& s) { return m.write_owned(index, p, s); });
    };
    if (m.v9) {
        plain(4, t_ipv4, [](std::uint8_t* p, const FlowSource& s) { gen::write_v9_ipv4(p, s); });
        owned(4, m.owner_v4);
        plain(6, t_ipv6, [](std::uint8_t* p, const FlowSource& s) { gen::write_v9_ipv6(p, s); });
        owned(6, m.owner_v6);
    } else {
        plain(4, t_ipv4, [](std::uint8_t* p, const FlowSource& s) { gen::write_ipfix_ipv4(p, s); });
        owned(4, m.owner_v4);
        plain(6, t_ipv6, [](std::uint8_t* p, const FlowSource& s) { gen::write_ipfix_ipv6(p, s); });
        owned(6, m.owner_v6);
    }
    m.finish_message();
}

void FlowEncoder::encode_biflows(std::span<const Biflow> biflows, std::uint64_t now_ms, const MessageSink& sink) {
    Impl& m = *impl_;
    if (!m.opt.biflow) throw std::logic_error("encoder: encode_biflows needs EncoderOptions::biflow");
    std::uint32_t will_use = 0;
    for (std::size_t i = 0; i < biflows.size(); ++i) {
        const Biflow& b = biflows[i];
        std::uint8_t v = b.forward.key.ip_version;
        if (v != 4 && v != 6)
            throw std::invalid_argument("encoder: biflow " + std::to_string(i) + " has ip_version " +
                                        std::to_string(v) + " (4 or 6 expected)");
        if (b.reverse && (b.reverse->key.ip_version != v || b.reverse->key.protocol != b.forward.key.protocol))
            throw std::invalid_argument("encoder: biflow " + std::to_string(i) +
                                        ": the reverse record is not of the forward's family and protocol");
        if (static_cast<std::uint8_t>(b.direction) > static_cast<std::uint8_t>(BiflowDirection::perimeter))
            throw std::invalid_argument("encoder: biflow " + std::to_string(i) + " has biflowDirection " +
                                        std::to_string(static_cast<int>(b.direction)) + " (0..3 expected)");
        will_use |= bit(v == 4 ? t_biflow_ipv4 : t_biflow_ipv6);
    }
    if (will_use == 0) return;
    m.sink = &sink;
    const std::uint64_t origin = m.opt.uptime_origin_ms;
    auto family = [&](std::uint8_t v, unsigned index, auto write) {
        if (!(will_use & bit(index))) return;
        m.encode_fixed(
            biflows.size(), index, now_ms, will_use, [&](std::size_t i) { return biflows[i].forward.key.ip_version == v; },
            [&](std::uint8_t* p, std::size_t i) {
                const Biflow& b = biflows[i];
                const FlowRecord* rev = b.reverse ? &*b.reverse : nullptr;
                write(p, BiflowSource{{b.forward, origin, now_ms}, rev, b.direction});
                return std::pair{b.forward.packets + (rev ? rev->packets : 0),
                                 b.forward.bytes + (rev ? rev->bytes : 0)};
            });
    };
    family(4, t_biflow_ipv4, [](std::uint8_t* p, const BiflowSource& s) { gen::write_ipfix_biflow_ipv4(p, s); });
    family(6, t_biflow_ipv6, [](std::uint8_t* p, const BiflowSource& s) { gen::write_ipfix_biflow_ipv6(p, s); });
    m.finish_message();
}

void FlowEncoder::encode_options(const ExporterStatistics& stats, std::span<const InterfaceInfo> interfaces,
                                 std::uint64_t now_ms, const MessageSink& sink) {
    Impl& m = *impl_;
    m.sink = &sink;
    const bool sampling = m.opt.sampling_interval > 1;
    std::uint32_t will_use = bit(t_metering_statistics) | bit(t_metering_reliability) | bit(t_exporting_reliability);
    if (sampling) will_use |= bit(t_sampling) | bit(t_sampling_algorithm);
    if (!interfaces.empty()) will_use |= bit(t_interfaces);
    const EncoderCounters before = m.counters;
    OptionsSource source{m.opt.observation_domain, m.opt.sampling_interval, m.opt.sampling_algorithm, before, stats,
                         m.opt.uptime_origin_ms, now_ms, 0, {}, {}};
    auto fixed = [&](unsigned index) { return std::size_t{m.specs[index]->fixed_length}; };
    // The sampling records go first: a collector learns N before the next flow records.
    if (sampling) {
        m.encode_options_record(t_sampling, fixed(t_sampling), source, now_ms, will_use);
        m.encode_options_record(t_sampling_algorithm, fixed(t_sampling_algorithm), source, now_ms, will_use);
    }
    m.encode_options_record(t_metering_statistics, fixed(t_metering_statistics), source, now_ms, will_use);
    m.encode_options_record(t_metering_reliability, fixed(t_metering_reliability), source, now_ms, will_use);
    m.encode_options_record(t_exporting_reliability, fixed(t_exporting_reliability), source, now_ms, will_use);
    const bool variable = m.specs[t_interfaces]->variable_fields != 0;
    for (const InterfaceInfo& info : interfaces) {
        utf8_prefix(info.name, m.name_cap, m.name_text);
        utf8_prefix(info.description, m.description_cap, m.description_text);
        source.if_index = info.ifindex;
        source.if_name = m.name_text;
        source.if_description = m.description_text;
        std::size_t len = fixed(t_interfaces);
        if (variable) len += var_string_size(m.name_text.size()) + var_string_size(m.description_text.size());
        m.encode_options_record(t_interfaces, len, source, now_ms, will_use);
    }
    m.finish_message();
}

void FlowEncoder::resend_templates() { impl_->force_resend = true; }

const EncoderOptions& FlowEncoder::options() const noexcept { return impl_->opt; }
const EncoderCounters& FlowEncoder::counters() const noexcept { return impl_->counters; }

}  // namespace ebpfix::ipfix
