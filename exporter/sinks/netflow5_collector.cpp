#include "sinks/netflow5_collector.hpp"

#include "sinks/udp_collector.hpp"

namespace ebpfix::sinks {

Netflow5CollectorSink::Netflow5CollectorSink(boost::asio::io_context& io, const Netflow5CollectorSettings& settings)
    : settings_(settings), encoder_(settings.encoder), sender_(io, settings.host, settings.port) {
    // 30 records make a 1464-byte datagram: over IPv6 that is 1512 bytes on the wire, more
    // than a 1500-byte path takes without fragments; 29 fit.
    constexpr std::size_t ipv6_max_records = (ipv6_max_message_size - ipfix::Netflow5Encoder::k_header_size) /
                                             ipfix::Netflow5Encoder::k_record_size;
    if (ipv6_on_the_wire(sender_.endpoint()) && settings_.encoder.max_records > ipv6_max_records) {
        settings_.encoder.max_records = ipv6_max_records;
        encoder_ = ipfix::Netflow5Encoder(settings_.encoder);
    }
}

std::string Netflow5CollectorSink::identity() const {
    const auto& e = settings_.encoder;
    return "udp netflow5 " + host_port_text(settings_.host, settings_.port) + " engine " +
           std::to_string(e.engine_type) + "/" + std::to_string(e.engine_id) + " sampling " +
           std::to_string(e.sampling_interval) + " records " + std::to_string(e.max_records) + " origin " +
           std::to_string(e.uptime_origin_ms);
}

void Netflow5CollectorSink::cycle(const CycleContext& ctx) {
    // Refusals that came back are counted (v5 has no templates to send again).
    sender_.take_losses();
    if (ctx.records.empty()) return;
    // The encoder counts a datagram before it hands it over, so a lost one is counted
    // with the records, packets and octets it carried.
    ipfix::EncoderCounters before = encoder_.counters();
    encoder_.encode(ctx.records, ctx.now_ms, [&](gsl::span<const std::uint8_t> datagram) {
        const ipfix::EncoderCounters& now = encoder_.counters();
        sender_.send(datagram, now.data_records - before.data_records, now.data_packets - before.data_packets,
                     now.data_octets - before.data_octets);
        before = now;
    });
    sender_.flush();
}

SinkCounters Netflow5CollectorSink::counters() const {
    SinkCounters c = sender_sink_counters(sender_.counters());
    c.records_not_exportable = encoder_.counters().not_exportable_records;
    return c;
}

std::vector<OwnSocket> Netflow5CollectorSink::own_sockets() const { return sender_own_sockets(sender_); }

}  // namespace ebpfix::sinks
