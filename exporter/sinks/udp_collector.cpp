#include "sinks/udp_collector.hpp"

namespace ebpfix::sinks {

std::string host_port_text(const std::string& host, std::uint16_t port) {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool ipv6_on_the_wire(const boost::asio::ip::udp::endpoint& endpoint) {
    const auto a = endpoint.address();
    return a.is_v6() && !a.to_v6().is_v4_mapped();
}

UdpCollectorSink::UdpCollectorSink(boost::asio::io_context& io, const UdpCollectorSettings& settings)
    : settings_(settings), encoder_(settings.encoder), sender_(io, settings.host, settings.port) {
    // The address family is known only once the name resolved (the sender did that).
    if (settings_.default_message_size && ipv6_on_the_wire(sender_.endpoint()) &&
        settings_.encoder.max_message_size > ipv6_max_message_size) {
        settings_.encoder.max_message_size = ipv6_max_message_size;
        encoder_ = ipfix::FlowEncoder(settings_.encoder);
    }
}

std::string UdpCollectorSink::kind() const {
    return settings_.encoder.protocol == ipfix::Protocol::netflow9 ? "netflow9" : "ipfix";
}

std::string UdpCollectorSink::identity() const {
    const auto& e = settings_.encoder;
    return "udp " + kind() + " " + host_port_text(settings_.host, settings_.port) + " domain " +
           std::to_string(e.observation_domain) + " size " + std::to_string(e.max_message_size) + " refresh " +
           std::to_string(e.template_refresh_seconds) + "/" + std::to_string(e.template_refresh_messages) +
           " sampling " + std::to_string(e.sampling_interval) +
           (e.sampling_algorithm == ipfix::SamplingAlgorithm::hash ? "/hash" : "/random") + " origin " +
           std::to_string(e.uptime_origin_ms) + (e.attribution ? " attribution pen " + std::to_string(e.enterprise_number) : "") +
           (e.biflow ? " biflow" : "");
}

void UdpCollectorSink::export_records(const CycleContext& ctx) {
    const std::span<const FlowRecord> records = ctx.records;
    const std::uint64_t now_ms = ctx.now_ms;
    if (records.empty()) return;
    // A message lost since the last export may have carried templates, or the collector
    // restarted without them: announce them again now.
    if (sender_.take_losses() > 0) encoder_.resend_templates();
    // The encoder counts a message before it hands the message over, so a lost message is
    // counted with the records, packets and octets it carried.
    ipfix::EncoderCounters before = encoder_.counters();
    const ipfix::MessageSink send = [&](gsl::span<const std::uint8_t> message) {
        const ipfix::EncoderCounters& now = encoder_.counters();
        sender_.send(message, now.data_records - before.data_records, now.data_packets - before.data_packets,
                     now.data_octets - before.data_octets);
        before = now;
    };
    if (settings_.encoder.biflow)
        encoder_.encode_biflows(ipfix::pair_biflows(records), now_ms, send);
    else if (settings_.encoder.attribution && ctx.owner)
        encoder_.encode(records, ctx.owner, now_ms, send);
    else
        encoder_.encode(records, now_ms, send);
    sender_.flush();
}

void UdpCollectorSink::export_options(const CycleContext& ctx) {
    // Reads the refusals that came back, so the totals below are up to date.
    if (sender_.take_losses() > 0) encoder_.resend_templates();
    ipfix::ExporterStatistics stats;
    const ebpfix_counters& k = ctx.totals->kernel;
    // Packets the metering process could not (or was told not to) account: every drop
    // reason and the exclude lists. Packets left out by sampling are not "ignored": the
    // sampling options say how many were selected.
    for (const ebpfix_pkt_bytes* pb : {&k.non_ip, &k.parse_error, &k.truncated, &k.map_full, &k.excluded}) {
        stats.ignored_packets += pb->packets;
        stats.ignored_octets += pb->bytes;
    }
    stats.not_sent_flows = sender_.counters().records_not_sent;
    stats.not_sent_packets = sender_.counters().packets_not_sent;
    stats.not_sent_octets = sender_.counters().octets_not_sent;
    encoder_.encode_options(stats, ctx.interfaces, ctx.now_ms,
                            [&](gsl::span<const std::uint8_t> message) { sender_.send(message); });
    sender_.flush();
    last_options_ms_ = ctx.now_ms;
    options_sent_ = true;
}

void UdpCollectorSink::cycle(const CycleContext& ctx) {
    if (ctx.final) {
        // A collector that started after ebpfix (or lost a template) can decode the last
        // records: they go with every template, then the last statistics.
        encoder_.resend_templates();
        export_records(ctx);
        export_options(ctx);
        return;
    }
    const std::uint64_t every_ms = std::uint64_t(settings_.encoder.template_refresh_seconds) * 1000;
    if (!options_sent_ || ctx.now_ms < last_options_ms_ || ctx.now_ms >= last_options_ms_ + every_ms)
        export_options(ctx);
    const std::uint64_t templates_before = encoder_.counters().template_records;
    export_records(ctx);
    // With sampling on, a collector that just got the templates again (refresh by message
    // count, or after a loss) gets the sampling rate with them, not a refresh later:
    // without it nfdump would store raw counts and Akvorado drop the flows.
    if (settings_.encoder.sampling_interval > 1 && encoder_.counters().template_records != templates_before)
        export_options(ctx);
}

SinkCounters sender_sink_counters(const SenderCounters& s) {
    SinkCounters c;
    c.records_delivered = s.records_sent - s.records_refused;
    c.messages_delivered = s.messages_sent - s.messages_refused;
    c.bytes_delivered = s.bytes_sent;
    c.records_not_sent = s.records_not_sent;
    c.packets_not_sent = s.packets_not_sent;
    c.octets_not_sent = s.octets_not_sent;
    c.messages_not_sent = s.send_errors + s.queue_drops;
    c.queue_drops = s.queue_drops;
    c.errors = s.send_errors;
    return c;
}

std::vector<OwnSocket> sender_own_sockets(const CollectorSender& sender) {
    const auto local = sender.local_endpoint();
    if (!local) return {};
    auto bytes_of = [](const boost::asio::ip::address& a) {
        std::array<std::uint8_t, 16> out{};
        if (a.is_v4()) return FlowKey::mapped_v4(a.to_v4().to_uint());
        const auto b = a.to_v6().to_bytes();
        std::copy(b.begin(), b.end(), out.begin());
        return out;
    };
    OwnSocket own;
    const auto& remote = sender.endpoint();
    // An IPv4-mapped local address on an IPv6 socket is an IPv4 flow on the wire.
    auto v4_of = [](const boost::asio::ip::address& a) {
        return a.is_v4() || (a.is_v6() && a.to_v6().is_v4_mapped());
    };
    own.forward.ip_version = v4_of(remote.address()) ? 4 : 6;
    auto norm = [&](const boost::asio::ip::address& a) {
        if (a.is_v6() && a.to_v6().is_v4_mapped())
            return bytes_of(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()));
        return bytes_of(a);
    };
    own.forward.src_addr = norm(local->address());
    own.forward.dst_addr = norm(remote.address());
    own.forward.src_port = local->port();
    own.forward.dst_port = remote.port();
    own.forward.protocol = 17;
    return {own};
}

SinkCounters UdpCollectorSink::counters() const {
    SinkCounters c = sender_sink_counters(sender_.counters());
    c.templates_sent = encoder_.counters().template_records;
    return c;
}

std::vector<OwnSocket> UdpCollectorSink::own_sockets() const { return sender_own_sockets(sender_); }

}  // namespace ebpfix::sinks
