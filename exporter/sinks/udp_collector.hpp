// A collector over UDP: an IPFIX or NetFlow v9 encoder feeding a CollectorSender.
// Templates go before their first use, again on refresh, after any loss (the collector
// may have restarted) and before the last records at stop; options (statistics,
// reliability, sampling, the interface table) at the first cycle, with every template
// refresh, and in the last cycle. With encoder.attribution on, records go with their
// owners (CycleContext::owner); with encoder.biflow on, a cycle's records are paired
// into RFC 5103 biflows (ipfix::pair_biflows) and sent as those.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "ipfix/flow_encoder.hpp"
#include "sinks/collector_sender.hpp"
#include "sinks/sink.hpp"

namespace ebpfix::sinks {

struct UdpCollectorSettings {
    std::string host;
    std::uint16_t port = 0;
    ipfix::EncoderOptions encoder;
    // encoder.max_message_size was not chosen by the user: for a collector that resolves
    // to IPv6 it becomes ipv6_max_message_size, so that a datagram fits a 1500-byte path
    // without fragments (RFC 7011 10.3.3; IPv6 has 20 more header bytes than IPv4).
    bool default_message_size = false;
};

// 1500 - 40 (IPv6) - 8 (UDP); the encoder's default 1472 is the IPv4 figure.
inline constexpr std::size_t ipv6_max_message_size = 1452;

// A collector endpoint that is IPv6 on the wire (not IPv4-mapped).
bool ipv6_on_the_wire(const boost::asio::ip::udp::endpoint& endpoint);

class UdpCollectorSink : public Sink {
public:
    // Resolves and opens the socket; throws std::runtime_error naming the collector.
    UdpCollectorSink(boost::asio::io_context& io, const UdpCollectorSettings& settings);

    std::string kind() const override;
    std::string name() const override { return sender_.name(); }
    std::string identity() const override;
    void cycle(const CycleContext& ctx) override;
    bool busy() const override { return sender_.queued_bytes() > 0; }
    bool resend_templates() override {
        encoder_.resend_templates();
        return true;
    }
    SinkCounters counters() const override;
    std::vector<OwnSocket> own_sockets() const override;

    const CollectorSender& sender() const noexcept { return sender_; }
    const ipfix::FlowEncoder& encoder() const noexcept { return encoder_; }

private:
    void export_records(const CycleContext& ctx);
    void export_options(const CycleContext& ctx);

    UdpCollectorSettings settings_;
    ipfix::FlowEncoder encoder_;
    CollectorSender sender_;
    std::uint64_t last_options_ms_ = 0;
    bool options_sent_ = false;
};

// "HOST:PORT" with an IPv6 literal in brackets.
std::string host_port_text(const std::string& host, std::uint16_t port);

// What every sink over a CollectorSender reports: its counters (templates_sent and
// records_not_exportable are the encoder's, left 0 here) and its socket.
SinkCounters sender_sink_counters(const SenderCounters& sender);
std::vector<OwnSocket> sender_own_sockets(const CollectorSender& sender);

}  // namespace ebpfix::sinks
