// Kafka as an output (librdkafka's C API): one Kafka message per flow record, GoFlow2's
// length-delimited protobuf FlowMessage (proto/flow.proto) or the flow log's JSON line.
//
// The cycle never waits: records are handed to librdkafka without blocking (copied into
// its queue, bounded by max_queued_messages) and librdkafka's threads deliver them.
// Delivery reports are read once per cycle (rd_kafka_poll(rk, 0) at its start: cycles run
// every drain interval, so a record's fate is known at most one interval late). Every
// record the sink is given ends as exactly one of
//   delivered   the broker acknowledged it (delivery report without error);
//   not sent    a delivery report with an error (message.timeout.ms expired while the
//               brokers were down, a refused topic...), the queue was full when it came
//               (queue_drops; never waited for, never retried), or it was still
//               undelivered when the final cycle's flush_timeout ran out;
//   queued      in librdkafka's queue or in flight, its report not read yet.
// Not-sent records are counted with their packets and octets.
//
// Own sockets: librdkafka opens the broker connections on its own threads; a connect
// callback and a close callback record each connection's addresses, so the daemon can
// keep ebpfix's Kafka traffic out of the flows. A closed connection is still listed for
// one more cycle: its last packets are drained after it closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "sinks/sink.hpp"

struct rd_kafka_s;
struct sockaddr;
struct rd_kafka_topic_s;
struct rd_kafka_message_s;

namespace ebpfix::sinks {

struct KafkaSettings {
    enum class Format : std::uint8_t { protobuf, json };
    // The message key: none (librdkafka spreads the records over the partitions), the
    // exporter id, the source address as text, or the flow's 5-tuple as text (all the
    // records of a flow go to one partition, in order). kafka_message_key() below.
    enum class Key : std::uint8_t { none, exporter, src_ip, flow };

    std::string brokers;  // bootstrap.servers: "host:9092,host2:9092"
    std::string topic;
    Format format = Format::protobuf;
    Key key = Key::none;
    std::string compression = "none";  // "none" | "gzip" | "snappy" | "lz4" | "zstd"
    // Passed to librdkafka as they are, after every other setting (so they win).
    std::map<std::string, std::string> properties;
    // librdkafka's queue.buffering.max.messages: records waiting or in flight.
    std::size_t max_queued_messages = 100000;
    // How long the final cycle waits for the queued records.
    std::chrono::milliseconds flush_timeout{5000};
    std::uint32_t sampling_rate = 0;  // 1-in-N packet sampling; 0 or 1 = off
    // Who exports (the key "exporter"; sampler_address when it is an IP address).
    std::string exporter_id;
};

// "none", "exporter", "src_ip", "flow" / "protobuf", "json".
std::string key_word(KafkaSettings::Key key);
std::string format_word(KafkaSettings::Format format);

// The key of a record's message ("" for Key::none):
//   exporter  the exporter id
//   src_ip    the source address as the flow log writes it ("192.0.2.1", "2001:db8::1")
//   flow      "PROTO SRC_IP SRC_PORT DST_IP DST_PORT", ports as in the flow key (ICMP:
//             src 0, dst type*256+code), e.g. "6 192.0.2.1 40000 198.51.100.2 443"
std::string kafka_message_key(const KafkaSettings& settings, const FlowRecord& record);

// The protobuf message of a record with its varint length in front.
// export_time_ms: time_received_ns; sequence: sequence_num.
std::string kafka_protobuf_message(const KafkaSettings& settings, const FlowRecord& record,
                                   std::uint64_t export_time_ms, std::uint32_t sequence);

class KafkaSink : public Sink {
public:
    // Checks the settings and creates the producer (no connection is made here: brokers
    // that are down cost queued records, not an error). Throws std::invalid_argument
    // naming the setting or the property that is wrong.
    explicit KafkaSink(const KafkaSettings& settings);
    // Gives the queued records flush_timeout to go (none after the final cycle).
    ~KafkaSink() override;
    KafkaSink(const KafkaSink&) = delete;
    KafkaSink& operator=(const KafkaSink&) = delete;

    std::string kind() const override { return "kafka"; }
    std::string name() const override { return settings_.brokers + "/" + settings_.topic; }
    std::string identity() const override { return identity_of(settings_); }
    // The identity a sink with these settings has, without making one (no producer).
    static std::string identity_of(const KafkaSettings& settings);
    void cycle(const CycleContext& ctx) override;
    // librdkafka delivers on its own threads; the event loop has nothing to carry out.
    bool busy() const override { return false; }
    SinkCounters counters() const override;
    std::vector<OwnSocket> own_sockets() const override;

    const KafkaSettings& settings() const noexcept { return settings_; }

private:
    struct InFlight {
        std::uint64_t packets = 0;
        std::uint64_t octets = 0;
    };
    struct Connection {
        OwnSocket socket;
        std::uint64_t closed_at_cycle = 0;  // 0 = open
    };

    void produce(const FlowRecord& record, const CycleContext& ctx, bool& polled_for_room);
    void not_sent(std::uint64_t packets, std::uint64_t octets);
    void delivered(const rd_kafka_message_s& message);
    void forget_closed_connections();
    // Counts what is still queued as not sent after the flush, and drops it from librdkafka.
    void give_up_queued();

    static void on_delivery(rd_kafka_s* rk, const rd_kafka_message_s* message, void* opaque);
    static void on_error(rd_kafka_s* rk, int err, const char* reason, void* opaque);
    static void on_log(const rd_kafka_s* rk, int level, const char* facility, const char* text);
    static int on_connect(int fd, const struct sockaddr* addr, int addrlen, const char* id, void* opaque);
    static int on_close_socket(int fd, void* opaque);

    KafkaSettings settings_;
    rd_kafka_s* rk_ = nullptr;
    rd_kafka_topic_s* topic_ = nullptr;

    // Packets and octets of every record in librdkafka's hands, by the id it carries.
    std::unordered_map<std::uint64_t, InFlight> in_flight_;
    std::uint64_t next_id_ = 1;
    std::uint32_t sequence_ = 0;
    std::uint64_t cycles_ = 0;
    SinkCounters counters_;
    std::string payload_;
    std::vector<int> errors_logged_;  // since the last delivery

    // Written by librdkafka's broker threads.
    mutable std::mutex connections_mutex_;
    std::unordered_map<int, Connection> connections_;
    std::vector<Connection> closed_connections_;
};

}  // namespace ebpfix::sinks
