// IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) message building. The layouts come from
// templates/ (generated at build time); this file owns message framing, sequence numbers
// and template (re)transmission.
#include "ipfix/flow_encoder.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "ipfix/record_sources.hpp"
#include "ipfix/wire.hpp"
#include "templates_gen/ebpfix_templates.hpp"

namespace ebpfix::ipfix {
namespace {

// Index of each template the encoder uses; the same slots exist in both protocols.
enum TemplateIndex : unsigned {
    t_ipv4,
    t_ipv6,
    t_sampling,            // 258: samplingInterval
    t_sampling_algorithm,  // 263: samplingInterval + samplingAlgorithm
    t_metering_statistics,
    t_metering_reliability,
    t_exporting_reliability,
    t_interfaces,
    t_count
};

constexpr const gen::TemplateSpec* k_ipfix_specs[t_count] = {
    &gen::ipfix_ipv4, &gen::ipfix_ipv6, &gen::ipfix_sampling, &gen::ipfix_sampling_algorithm,
    &gen::ipfix_metering_statistics, &gen::ipfix_metering_reliability, &gen::ipfix_exporting_reliability,
    &gen::ipfix_interfaces};
constexpr const gen::TemplateSpec* k_v9_specs[t_count] = {
    &gen::v9_ipv4, &gen::v9_ipv6, &gen::v9_sampling, &gen::v9_sampling_algorithm, &gen::v9_metering_statistics,
    &gen::v9_metering_reliability, &gen::v9_exporting_reliability, &gen::v9_interfaces};

constexpr std::size_t k_ipfix_header = 16;  // RFC 7011 section 3.1
constexpr std::size_t k_v9_header = 20;     // RFC 3954 section 5.1
constexpr std::size_t k_set_header = 4;
constexpr std::uint16_t k_ipfix_template_set = 2, k_ipfix_options_template_set = 3;
constexpr std::uint16_t k_v9_template_set = 0, k_v9_options_template_set = 1;
constexpr std::uint32_t k_no_set = 0x10000;  // no set open (set ids are 16 bits)
// Cap for interface texts in a variable-length (65535) field, should a template use one:
// a record then always fits a small message and keeps a one-byte length prefix.
constexpr std::size_t k_interface_text_cap = 64;

constexpr std::size_t pad4(std::size_t n) noexcept { return (n + 3) & ~std::size_t{3}; }
constexpr std::uint32_t bit(unsigned index) noexcept { return 1u << index; }

}  // namespace

struct FlowEncoder::Impl {
    EncoderOptions opt;
    EncoderCounters counters{};
    bool v9 = false;
    const gen::TemplateSpec* const* specs = nullptr;
    std::vector<std::uint8_t> storage;  // the one message buffer, allocated once
    gsl::span<std::uint8_t> buf;
    std::size_t limit = 0;       // usable bytes (v9: a multiple of 4, sets are 4-aligned)
    std::size_t header_len = 0;
    std::size_t name_cap = 0;    // interface text caps in bytes
    std::size_t description_cap = 0;

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

    explicit Impl(const EncoderOptions& o);

    std::size_t template_set_bytes(unsigned index) const noexcept {
        std::size_t n = k_set_header + specs[index]->wire_length;
        return v9 ? pad4(n) : n;
    }
    std::size_t max_record_bytes(unsigned index) const noexcept {
        const auto& s = *specs[index];
        return s.fixed_length + s.variable_fields * var_string_size(k_interface_text_cap);
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
        std::copy_n(s.wire, s.wire_length, buf.data() + pos);
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
        if (mask & (bit(t_ipv4) | bit(t_ipv6))) {
            close_set();
            open_set(template_set_id(t_ipv4));
            if (mask & bit(t_ipv4)) append_template(t_ipv4);
            if (mask & bit(t_ipv6)) append_template(t_ipv6);
            close_set();
        }
        for (unsigned i = t_sampling; i < t_count; ++i) {
            if (!(mask & bit(i))) continue;
            close_set();
            open_set(template_set_id(i));
            append_template(i);
            close_set();
        }
    }
    std::size_t templates_bytes(std::uint32_t mask) const noexcept {
        std::size_t n = 0;
        if (mask & (bit(t_ipv4) | bit(t_ipv6))) {
            n += k_set_header;
            if (mask & bit(t_ipv4)) n += specs[t_ipv4]->wire_length;
            if (mask & bit(t_ipv6)) n += specs[t_ipv6]->wire_length;
            if (v9) n = pad4(n);
        }
        for (unsigned i = t_sampling; i < t_count; ++i)
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
        std::size_t largest_record = 0;
        for (unsigned i = 0; i < t_count; ++i)
            if (missing & bit(i)) largest_record = std::max(largest_record, max_record_bytes(i));
        if (pos + templates_bytes(missing) + k_set_header + largest_record <= limit) write_templates(missing);
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

    template <typename Writer>
    void encode_family(std::span<const FlowRecord> records, std::uint8_t family, unsigned index,
                       std::uint64_t now_ms, std::uint32_t will_use, Writer write) {
        const std::size_t record_len = specs[index]->fixed_length;
        const std::uint32_t id = specs[index]->id;
        const std::uint64_t origin = opt.uptime_origin_ms;
        for (const FlowRecord& r : records) {
            if (r.key.ip_version != family) continue;
            if (set_id != id || pos + record_len > limit) acquire(index, record_len, now_ms, will_use);
            write(buf.data() + pos, FlowSource{r, origin, now_ms});
            pos += record_len;
            ++msg_data;
            ++msg_records;
            msg_data_packets += r.packets;  // what the packetDeltaCount / octetDeltaCount fields carry
            msg_data_octets += r.bytes;
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
    v9 = o.protocol == Protocol::netflow9;
    specs = v9 ? k_v9_specs : k_ipfix_specs;
    header_len = v9 ? k_v9_header : k_ipfix_header;
    limit = v9 ? (o.max_message_size & ~std::size_t{3}) : o.max_message_size;
    for (unsigned i = 0; i < t_count; ++i) {
        std::size_t need = header_len + template_set_bytes(i) + k_set_header + max_record_bytes(i);
        if (need > limit)
            throw std::invalid_argument("encoder: max_message_size " + std::to_string(o.max_message_size) +
                                        " is too small: template " + std::to_string(specs[i]->id) + " (" +
                                        specs[i]->name + ") with one record needs " + std::to_string(need) +
                                        " bytes");
    }
    const auto& ifs = *specs[t_interfaces];
    auto text_cap = [&](std::size_t field) {
        std::uint16_t len = ifs.fields[field].length;
        return len == gen::k_variable_length ? k_interface_text_cap : std::size_t{len} - 1;  // keep a NUL
    };
    name_cap = text_cap(1);
    description_cap = text_cap(2);
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
    Impl& m = *impl_;
    // Validate everything before the first byte goes out.
    std::uint32_t will_use = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
        std::uint8_t v = records[i].key.ip_version;
        if (v == 4) {
            will_use |= bit(t_ipv4);
        } else if (v == 6) {
            will_use |= bit(t_ipv6);
        } else {
            throw std::invalid_argument("encoder: record " + std::to_string(i) + " has ip_version " +
                                        std::to_string(v) + " (4 or 6 expected)");
        }
    }
    if (will_use == 0) return;
    m.sink = &sink;
    // Families are encoded one after the other (each in input order) so a message holds
    // at most one data set per family.
    if (m.v9) {
        if (will_use & bit(t_ipv4))
            m.encode_family(records, 4, t_ipv4, now_ms, will_use,
                            [](std::uint8_t* p, const FlowSource& s) { gen::write_v9_ipv4(p, s); });
        if (will_use & bit(t_ipv6))
            m.encode_family(records, 6, t_ipv6, now_ms, will_use,
                            [](std::uint8_t* p, const FlowSource& s) { gen::write_v9_ipv6(p, s); });
    } else {
        if (will_use & bit(t_ipv4))
            m.encode_family(records, 4, t_ipv4, now_ms, will_use,
                            [](std::uint8_t* p, const FlowSource& s) { gen::write_ipfix_ipv4(p, s); });
        if (will_use & bit(t_ipv6))
            m.encode_family(records, 6, t_ipv6, now_ms, will_use,
                            [](std::uint8_t* p, const FlowSource& s) { gen::write_ipfix_ipv6(p, s); });
    }
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
