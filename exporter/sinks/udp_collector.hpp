// A collector over UDP: an IPFIX or NetFlow v9 encoder feeding a CollectorSender.
// Templates go before their first use, again on refresh, after any loss (the collector
// may have restarted) and before the last records at stop; options (statistics,
// reliability, sampling, the interface table) at the first cycle, with every template
// refresh, and in the last cycle.
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
};

class UdpCollectorSink : public Sink {
public:
    // Resolves and opens the socket; throws std::runtime_error naming the collector.
    UdpCollectorSink(boost::asio::io_context& io, const UdpCollectorSettings& settings);

    std::string kind() const override;
    std::string name() const override { return sender_.name(); }
    std::string identity() const override;
    void cycle(const CycleContext& ctx) override;
    bool busy() const override { return sender_.queued_bytes() > 0; }
    SinkCounters counters() const override;
    std::vector<OwnSocket> own_sockets() const override;

    const CollectorSender& sender() const noexcept { return sender_; }
    const ipfix::FlowEncoder& encoder() const noexcept { return encoder_; }

private:
    void export_records(std::span<const FlowRecord> records, std::uint64_t now_ms);
    void export_options(const CycleContext& ctx);

    UdpCollectorSettings settings_;
    ipfix::FlowEncoder encoder_;
    CollectorSender sender_;
    std::uint64_t last_options_ms_ = 0;
    bool options_sent_ = false;
};

// "HOST:PORT" with an IPv6 literal in brackets.
std::string host_port_text(const std::string& host, std::uint16_t port);

}  // namespace ebpfix::sinks
