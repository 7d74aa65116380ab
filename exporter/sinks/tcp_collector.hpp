// An IPFIX collector over TCP (RFC 7011 section 10.4): one connection on the daemon's
// io_context, opened without blocking and opened again with capped exponential backoff
// when it fails or ends. The cycle never waits for it and a dead collector costs bounded
// memory.
//
// Transport Sessions (RFC 7011 sections 3.1, 8, 8.1). Each TCP connection is a new
// Transport Session: it starts with no templates at the collector ("the end of a
// Transport Session implicitly withdraws all the Templates ... Templates must be resent"),
// so every connection begins with a message holding every template known so far (more
// than one only if they do not fit one), and a template first used later goes out in its
// own message before the first message that uses it; no template is sent twice on a
// connection. The Sequence Number counts the data
// records (flow and options) sent in the current stream, and "all messages in a TCP
// connection ... are part of the same stream": it starts at 0 on each connection and a
// collector sees no gap in what it receives. Records dropped before they went out were
// never sent on any connection: they are reported in the exporting-process reliability
// options (notSent*, section 4.3), as section 10.4.1 asks.
//
// Messages and their buffer. Records are encoded when they arrive and the messages wait
// in a buffer of whole messages (max_buffer_bytes, bookkeeping included); the encoder's templates are cut out
// of them and kept apart, and each message gets its Sequence Number and Export Time when
// it starts to go out on a connection. So a message is tied to no connection until it is
// written, and buffered messages stay decodable on the next one (template ids never
// change). A full buffer drops its oldest message that is not being written, counted
// with the records, packets and octets it carried.
//
// Delivered means acknowledged by the collector's TCP (the socket's unacknowledged byte
// count, SIOCOUTQ): written bytes can still die in the exporter's send queue. When a
// connection ends (EOF, RST, write error, timeout) the message being written and every
// message not yet acknowledged are counted as not sent, and the connection is reset
// (RST) so the kernel sends none of them afterwards: the collector cannot use a partial
// message, and resending the rest could deliver a record twice. Every record the sink is
// given is delivered, counted as not sent, or still queued; never two of them.
//
// Reconnecting: after a failure the next attempt waits backoff_min, doubling up to
// backoff_max; a connection that stayed up backoff_max or longer resets it. Attempts are
// also at least min_connect_interval apart: RFC 7011 10.4.4, "in the default
// configuration, an Exporting Process MUST NOT attempt to establish a connection more
// frequently than once per minute". At the final cycle the sink sends what it holds and
// then shuts the connection down (10.4.4: the exporter "SHOULD shut down the TCP
// connection").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gsl/span>

#include "ipfix/flow_encoder.hpp"
#include "sinks/sink.hpp"

namespace ebpfix::sinks {

struct TcpCollectorSettings {
    std::string host;
    std::uint16_t port = 0;
    // protocol must be IPFIX. template_refresh_* do not apply over TCP (templates go once
    // per connection); template_refresh_seconds is the options cadence, as over UDP.
    ipfix::EncoderOptions encoder;
    std::size_t max_buffer_bytes = std::size_t{8} << 20;
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{30000};
    std::chrono::milliseconds min_connect_interval{60000};  // RFC 7011 10.4.4; 0 = none
    std::chrono::milliseconds connect_timeout{10000};
    // TCP_USER_TIMEOUT: how long written data may stay unacknowledged before the
    // connection is given up (0 = the kernel's default, many minutes).
    std::chrono::milliseconds unacked_timeout{30000};
};

class TcpCollectorSink : public Sink {
public:
    // Resolves host:port (blocking, like the UDP sender) and starts connecting. Throws
    // std::invalid_argument for settings that cannot work and std::runtime_error naming
    // the collector when the name does not resolve. A refusing or unreachable collector
    // is not an error: the sink keeps trying.
    TcpCollectorSink(boost::asio::io_context& io, const TcpCollectorSettings& settings);
    ~TcpCollectorSink() override;
    TcpCollectorSink(const TcpCollectorSink&) = delete;
    TcpCollectorSink& operator=(const TcpCollectorSink&) = delete;

    std::string kind() const override { return "ipfix-tcp"; }
    std::string name() const override { return name_; }
    std::string identity() const override { return identity_of(settings_); }
    // The identity a sink with these settings has, without making one (no connection).
    static std::string identity_of(const TcpCollectorSettings& settings);
    void cycle(const CycleContext& ctx) override;
    // Messages waiting, or written and not yet acknowledged.
    bool busy() const override { return !queue_.empty() || !in_flight_.empty(); }
    SinkCounters counters() const override;
    std::vector<OwnSocket> own_sockets() const override;

    bool connected() const noexcept { return state_ == State::connected; }
    std::uint64_t connections() const noexcept { return connections_; }        // established so far
    std::uint64_t failed_attempts() const noexcept { return failed_attempts_; }  // connects that failed
    // The wait before the attempt after the next failure.
    std::chrono::milliseconds backoff() const noexcept { return backoff_; }
    const boost::asio::ip::tcp::endpoint& endpoint() const noexcept { return endpoint_; }

private:
    enum class State { waiting, connecting, connected, finished };
    struct Message {
        std::vector<std::uint8_t> bytes;
        std::uint64_t records = 0, packets = 0, octets = 0;  // the flow records it carries
        std::uint32_t sequenced = 0;         // data + options records: what the sequence counts
        std::vector<std::uint16_t> uses;     // template ids of its data sets
        bool templates = false;              // made for the current connection: never buffered
    };
    struct InFlight {
        std::uint64_t end = 0;  // offset of its last byte + 1 in the connection's stream
        std::uint64_t bytes = 0, records = 0, packets = 0, octets = 0;
    };
    struct TemplateRecord {
        bool options = false;
        std::vector<std::uint8_t> bytes;
    };

    // Turns an encoder message into a buffered one: template sets go to the cache.
    std::optional<Message> take_message(gsl::span<const std::uint8_t> encoded, const ipfix::EncoderCounters& before,
                                        const ipfix::EncoderCounters& after);
    void store_templates(std::uint16_t set_id, const std::uint8_t* body, std::size_t length);
    std::vector<Message> templates_messages(const std::vector<std::uint16_t>& ids);
    // What a buffered message costs: its bytes and bookkeeping (max_buffer_bytes bounds it).
    static std::size_t footprint(const Message& m) noexcept;
    void push(Message message);
    void encode_records(std::span<const FlowRecord> records, const ipfix::OwnerLookup& owners);
    void encode_options(bool at_front);

    void connect();
    void connect_done(const boost::system::error_code& ec);
    void connection_failed(const std::string& why);
    void schedule_attempt();
    void lost_connection(const std::string& why);
    void close_socket(bool reset);
    void wait_readable();
    void read_ready();
    void write_some();
    void prepare_front();
    bool make_room(std::size_t incoming);
    void drop_at(std::deque<Message>::iterator it);
    void maybe_shut_down();
    void patch_header(Message& m, std::uint32_t sequence);
    bool update_acked();
    void poll_acks();
    void not_sent(std::uint64_t records, std::uint64_t packets, std::uint64_t octets);
    void warn(const std::string& what);

    TcpCollectorSettings settings_;
    std::string name_;
    boost::asio::ip::tcp::endpoint endpoint_;
    boost::asio::ip::tcp::socket socket_;
    boost::asio::steady_timer retry_timer_;
    boost::asio::steady_timer connect_timer_;
    boost::asio::steady_timer ack_timer_;
    ipfix::FlowEncoder encoder_;

    State state_ = State::waiting;
    std::uint64_t generation_ = 0;  // of the socket: handlers of an older one do nothing
    std::chrono::steady_clock::time_point last_attempt_{};
    std::chrono::steady_clock::time_point connected_at_{};
    std::chrono::milliseconds backoff_;
    std::uint64_t connections_ = 0;
    std::uint64_t failed_attempts_ = 0;
    bool write_waiting_ = false;
    bool ack_polling_ = false;
    std::chrono::milliseconds ack_poll_{0};
    bool final_ = false;
    bool shut_down_ = false;

    // What every connection needs: the templates seen in the encoder's output.
    std::map<std::uint16_t, TemplateRecord> templates_;

    // The buffer: whole messages, oldest first; the front may be going out.
    std::deque<Message> queue_;
    std::size_t queued_bytes_ = 0;  // footprints
    std::uint64_t queued_records_ = 0;
    bool front_prepared_ = false;    // numbered for this connection
    std::size_t front_written_ = 0;  // bytes of the front already written

    // The current connection.
    std::deque<InFlight> in_flight_;  // written, not yet acknowledged
    std::uint64_t in_flight_records_ = 0;
    std::uint64_t written_ = 0;       // bytes written on it
    std::uint32_t sequence_ = 0;      // data records numbered on it
    std::uint32_t export_floor_s_ = 0;
    std::vector<std::uint16_t> announced_;  // template ids sent on it, sorted

    // The last cycle: the time and what connection-start options report.
    std::uint64_t now_ms_ = 0;
    bool have_cycle_ = false;
    ipfix::ExporterStatistics last_stats_;
    std::vector<ipfix::InterfaceInfo> last_interfaces_;
    std::uint64_t last_options_ms_ = 0;
    bool options_sent_ = false;

    SinkCounters counters_;
    std::uint64_t warnings_ = 0;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace ebpfix::sinks
