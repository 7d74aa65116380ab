// A NetFlow v5 collector over UDP: the v5 encoder feeding a CollectorSender, with the
// same queueing and not-sent accounting as UdpCollectorSink. v5 has no templates and no
// options: each cycle's records go out as they are, 30 per datagram. IPv6 records cannot
// be expressed in v5; the encoder skips them and they are counted as not exportable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "ipfix/netflow5_encoder.hpp"
#include "sinks/collector_sender.hpp"
#include "sinks/sink.hpp"

namespace ebpfix::sinks {

struct Netflow5CollectorSettings {
    std::string host;
    std::uint16_t port = 0;
    ipfix::Netflow5Options encoder;  // engine type/id, sampling interval, sysUptime origin
};

class Netflow5CollectorSink : public Sink {
public:
    // Resolves and opens the socket; throws std::runtime_error naming the collector, and
    // std::invalid_argument for encoder options v5 cannot carry (a sampling interval
    // above 16383).
    Netflow5CollectorSink(boost::asio::io_context& io, const Netflow5CollectorSettings& settings);

    std::string kind() const override { return "netflow5"; }
    std::string name() const override { return sender_.name(); }
    std::string identity() const override;
    void cycle(const CycleContext& ctx) override;
    bool busy() const override { return sender_.queued_bytes() > 0; }
    // records_not_exportable: the IPv6 (and oversized) records v5 cannot carry.
    SinkCounters counters() const override;
    std::vector<OwnSocket> own_sockets() const override;

    const CollectorSender& sender() const noexcept { return sender_; }
    const ipfix::Netflow5Encoder& encoder() const noexcept { return encoder_; }

private:
    Netflow5CollectorSettings settings_;
    ipfix::Netflow5Encoder encoder_;
    CollectorSender sender_;
};

}  // namespace ebpfix::sinks
