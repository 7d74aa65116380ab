#include "sinks/kafka_sink.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <stdexcept>

#include "common/log.hpp"
#include "proto/flow.pb.h"
#include "sinks/flow_log.hpp"

namespace ebpfix::sinks {

namespace {

// Kafka's legal topic names (kafka.common.internals.Topic): at most 249 of [a-zA-Z0-9._-].
void check_topic(const std::string& topic) {
    if (topic.empty()) throw std::invalid_argument("kafka topic: empty");
    if (topic.size() > 249)
        throw std::invalid_argument("kafka topic " + json_string(topic) + ": longer than 249 characters");
    if (topic == "." || topic == "..")
        throw std::invalid_argument("kafka topic " + json_string(topic) + ": not a topic name");
    for (char c : topic) {
        const bool legal = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                           c == '_' || c == '-';
        if (!legal)
            throw std::invalid_argument("kafka topic " + json_string(topic) +
                                        ": only letters, digits, '.', '_' and '-' are allowed");
    }
}

bool secret_property(const std::string& name) {
    return name.find("password") != std::string::npos || name.find("secret") != std::string::npos ||
           name.find(".key") != std::string::npos;
}

// Identities may be logged: secret values appear as a hash (a changed secret still makes
// a new identity).
std::string fnv1a_hex(const std::string& value) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : value) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[20];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

// An exporter id that is an IP address, as GoFlow2 puts sampler addresses: 4 or 16 bytes.
std::string address_bytes_of(const std::string& text) {
    std::array<unsigned char, 16> buf{};
    if (inet_pton(AF_INET, text.c_str(), buf.data()) == 1) return std::string(reinterpret_cast<char*>(buf.data()), 4);
    if (inet_pton(AF_INET6, text.c_str(), buf.data()) == 1)
        return std::string(reinterpret_cast<char*>(buf.data()), 16);
    return {};
}

std::string key_address_bytes(const std::array<std::uint8_t, 16>& addr, std::uint8_t ip_version) {
    const char* p = reinterpret_cast<const char*>(addr.data());
    return ip_version == 4 ? std::string(p + 12, 4) : std::string(p, 16);
}

OwnSocket own_socket_of(const sockaddr_storage& local, const sockaddr_storage& remote) {
    auto put = [](const sockaddr_storage& sa, std::array<std::uint8_t, 16>& addr, std::uint16_t& port) {
        if (sa.ss_family == AF_INET) {
            const auto& in = reinterpret_cast<const sockaddr_in&>(sa);
            addr = FlowKey::mapped_v4(ntohl(in.sin_addr.s_addr));
            port = ntohs(in.sin_port);
            return true;  // IPv4
        }
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(sa);
        std::copy(std::begin(in6.sin6_addr.s6_addr), std::end(in6.sin6_addr.s6_addr), addr.begin());
        port = ntohs(in6.sin6_port);
        // An IPv4-mapped address on an IPv6 socket is an IPv4 flow on the wire.
        return IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr) != 0;
    };
    OwnSocket own;
    put(local, own.forward.src_addr, own.forward.src_port);
    const bool v4 = put(remote, own.forward.dst_addr, own.forward.dst_port);
    own.forward.ip_version = v4 ? 4 : 6;
    own.forward.protocol = 6;
    return own;
}

}  // namespace

std::string key_word(KafkaSettings::Key key) {
    switch (key) {
        case KafkaSettings::Key::none: return "none";
        case KafkaSettings::Key::exporter: return "exporter";
        case KafkaSettings::Key::src_ip: return "src_ip";
        case KafkaSettings::Key::flow: return "flow";
    }
    return "unknown_" + std::to_string(static_cast<int>(key));
}

std::string format_word(KafkaSettings::Format format) {
    switch (format) {
        case KafkaSettings::Format::protobuf: return "protobuf";
        case KafkaSettings::Format::json: return "json";
    }
    return "unknown_" + std::to_string(static_cast<int>(format));
}

std::string kafka_message_key(const KafkaSettings& settings, const FlowRecord& record) {
    const FlowKey& k = record.key;
    switch (settings.key) {
        case KafkaSettings::Key::none: return {};
        case KafkaSettings::Key::exporter: return settings.exporter_id;
        case KafkaSettings::Key::src_ip: return address_text(k.src_addr, k.ip_version);
        case KafkaSettings::Key::flow:
            return std::to_string(k.protocol) + " " + address_text(k.src_addr, k.ip_version) + " " +
                   std::to_string(k.src_port) + " " + address_text(k.dst_addr, k.ip_version) + " " +
                   std::to_string(k.dst_port);
    }
    return {};
}

std::string kafka_protobuf_message(const KafkaSettings& settings, const FlowRecord& record,
                                   std::uint64_t export_time_ms, std::uint32_t sequence) {
    constexpr std::uint64_t ns_per_ms = 1'000'000;
    const FlowKey& k = record.key;
    flowpb::FlowMessage m;
    m.set_type(flowpb::FlowMessage::IPFIX);
    m.set_time_received_ns(export_time_ms * ns_per_ms);
    m.set_sequence_num(sequence);
    m.set_sampling_rate(settings.sampling_rate > 1 ? settings.sampling_rate : 1);
    m.set_sampler_address(address_bytes_of(settings.exporter_id));
    m.set_time_flow_start_ns(record.start_ms * ns_per_ms);
    m.set_time_flow_end_ns(record.end_ms * ns_per_ms);
    m.set_bytes(record.bytes);
    m.set_packets(record.packets);
    m.set_src_addr(key_address_bytes(k.src_addr, k.ip_version));
    m.set_dst_addr(key_address_bytes(k.dst_addr, k.ip_version));
    m.set_etype(k.ip_version == 4 ? 0x800 : 0x86dd);
    m.set_proto(k.protocol);
    if (k.is_icmp()) {
        m.set_icmp_type(record.icmp_type_code() >> 8);
        m.set_icmp_code(record.icmp_type_code() & 0xff);
    } else {
        m.set_src_port(k.src_port);
        m.set_dst_port(k.dst_port);
    }
    m.set_in_if(record.ingress_ifindex());
    m.set_out_if(record.egress_ifindex());
    m.set_src_vlan(k.vlan_id);
    m.set_vlan_id(k.vlan_id);
    m.set_ip_tos(record.tos);
    m.set_tcp_flags(record.tcp_flags);

    // The varint length first (protodelim, as GoFlow2 writes its messages).
    std::string out;
    std::size_t size = m.ByteSizeLong();
    do {
        const auto low = static_cast<unsigned char>(size & 0x7f);
        size >>= 7;
        out += static_cast<char>(size != 0 ? low | 0x80 : low);
    } while (size != 0);
    m.AppendToString(&out);
    return out;
}

// ---- the sink ----

KafkaSink::KafkaSink(const KafkaSettings& settings) : settings_(settings) {
    const std::string where = "kafka " + name();
    if (settings_.brokers.find_first_not_of(" \t,") == std::string::npos)
        throw std::invalid_argument("kafka brokers: empty");
    check_topic(settings_.topic);
    if (settings_.format != KafkaSettings::Format::protobuf && settings_.format != KafkaSettings::Format::json)
        throw std::invalid_argument(where + ": format " + format_word(settings_.format) + " is not protobuf or json");
    if (settings_.key > KafkaSettings::Key::flow)
        throw std::invalid_argument(where + ": key " + key_word(settings_.key) +
                                    " is not none, exporter, src_ip or flow");
    if (settings_.key == KafkaSettings::Key::exporter && settings_.exporter_id.empty())
        throw std::invalid_argument(where + ": key \"exporter\" needs an exporter id");
    static constexpr std::array<const char*, 5> codecs{"none", "gzip", "snappy", "lz4", "zstd"};
    if (std::find(codecs.begin(), codecs.end(), settings_.compression) == codecs.end())
        throw std::invalid_argument("kafka compression " + json_string(settings_.compression) +
                                    ": not none, gzip, snappy, lz4 or zstd");
    // 0 would lift librdkafka's bound altogether.
    if (settings_.max_queued_messages < 1 || settings_.max_queued_messages > std::size_t(INT_MAX))
        throw std::invalid_argument(where + ": max queued messages " + std::to_string(settings_.max_queued_messages) +
                                    " is not 1.." + std::to_string(INT_MAX));
    if (settings_.flush_timeout.count() < 0 || settings_.flush_timeout.count() > INT_MAX)
        throw std::invalid_argument(where + ": flush timeout " + std::to_string(settings_.flush_timeout.count()) +
                                    "ms is out of range");

    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[512];
    auto set = [&](const std::string& property, const std::string& value, const std::string& what) {
        if (rd_kafka_conf_set(conf, property.c_str(), value.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            throw std::invalid_argument(what + ": " + errstr);
        }
    };
    set("bootstrap.servers", settings_.brokers, "kafka brokers " + json_string(settings_.brokers));
    set("client.id", "ebpfix", where);
    set("compression.codec", settings_.compression, "kafka compression " + json_string(settings_.compression));
    set("queue.buffering.max.messages", std::to_string(settings_.max_queued_messages), where);
    // Logs wait for rd_kafka_poll() on the daemon's thread instead of coming from
    // librdkafka's threads.
    set("log.queue", "true", where);
    for (const auto& [property, value] : settings_.properties)
        set(property, value, "kafka property " + json_string(property));
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaSink::on_delivery);
    rd_kafka_conf_set_error_cb(conf, &KafkaSink::on_error);
    rd_kafka_conf_set_log_cb(conf, &KafkaSink::on_log);
    rd_kafka_conf_set_connect_cb(conf, &KafkaSink::on_connect);
    rd_kafka_conf_set_closesocket_cb(conf, &KafkaSink::on_close_socket);

    // rd_kafka_new takes the configuration only when it succeeds.
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk_ == nullptr) {
        rd_kafka_conf_destroy(conf);
        throw std::invalid_argument(where + ": cannot create the producer: " + errstr);
    }
    rd_kafka_set_log_queue(rk_, nullptr);  // the main queue, served by rd_kafka_poll()
    topic_ = rd_kafka_topic_new(rk_, settings_.topic.c_str(), nullptr);
    if (topic_ == nullptr) {
        const std::string why = rd_kafka_err2str(rd_kafka_last_error());
        rd_kafka_destroy(rk_);
        throw std::invalid_argument(where + ": cannot use the topic: " + why);
    }
}

KafkaSink::~KafkaSink() {
    if (!in_flight_.empty()) {
        rd_kafka_flush(rk_, static_cast<int>(settings_.flush_timeout.count()));
        give_up_queued();
    }
    rd_kafka_topic_destroy(topic_);
    rd_kafka_destroy(rk_);
}

std::string KafkaSink::identity_of(const KafkaSettings& settings) {
    std::string id = "kafka " + settings.brokers + "/" + settings.topic + " format " + format_word(settings.format) + " key " +
                     key_word(settings.key) + " compression " + settings.compression + " queue " +
                     std::to_string(settings.max_queued_messages) + " flush " +
                     std::to_string(settings.flush_timeout.count()) + "ms sampling " +
                     std::to_string(settings.sampling_rate) + " exporter " + json_string(settings.exporter_id) +
                     " properties {";
    bool first = true;
    for (const auto& [property, value] : settings.properties) {
        id += first ? "" : ",";
        first = false;
        id += json_string(property) + "=" +
              (secret_property(property) ? "#" + fnv1a_hex(value) : json_string(value));
    }
    return id + "}";
}

void KafkaSink::cycle(const CycleContext& ctx) {
    forget_closed_connections();
    // The delivery reports since the last cycle (they are read once per cycle).
    rd_kafka_poll(rk_, 0);
    bool polled_for_room = false;
    for (const FlowRecord& record : ctx.records) produce(record, ctx, polled_for_room);
    if (ctx.final) {
        // flush serves the delivery reports while it waits.
        rd_kafka_flush(rk_, static_cast<int>(settings_.flush_timeout.count()));
        give_up_queued();
    }
}

void KafkaSink::produce(const FlowRecord& record, const CycleContext& ctx, bool& polled_for_room) {
    const std::uint32_t sequence = sequence_++;
    if (settings_.format == KafkaSettings::Format::protobuf) {
        payload_ = kafka_protobuf_message(settings_, record, ctx.now_ms, sequence);
    } else {
        const std::string ifname = ctx.ifname ? ctx.ifname(record.key.ifindex) : std::string();
        const attribution::Owner* owner = ctx.owner && record.key.owner != 0 ? ctx.owner(record.key.owner) : nullptr;
        payload_ = format_json(record, ifname, static_cast<std::int64_t>(ctx.now_ms / 1000), owner);
    }
    const std::string key = kafka_message_key(settings_, record);
    const std::uint64_t id = next_id_;
    auto send = [&] {
        // The id comes back in the delivery report (rkmessage->_private).
        void* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(id));
        return settings_.key == KafkaSettings::Key::none
                   ? rd_kafka_producev(rk_, RD_KAFKA_V_RKT(topic_), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_VALUE(payload_.data(), payload_.size()), RD_KAFKA_V_OPAQUE(opaque),
                                       RD_KAFKA_V_END)
                   : rd_kafka_producev(rk_, RD_KAFKA_V_RKT(topic_), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_VALUE(payload_.data(), payload_.size()),
                                       RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_OPAQUE(opaque),
                                       RD_KAFKA_V_END);
    };
    rd_kafka_resp_err_t err = send();
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !polled_for_room) {
        // Reports that arrived during this cycle free their room; reading them costs no wait.
        polled_for_room = true;
        rd_kafka_poll(rk_, 0);
        err = send();
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++next_id_;
        in_flight_.emplace(id, InFlight{record.packets, record.bytes});
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        ++counters_.queue_drops;
    } else {
        ++counters_.errors;
        on_error(rk_, err, "cannot queue a record", this);
    }
    not_sent(record.packets, record.bytes);
}

void KafkaSink::not_sent(std::uint64_t packets, std::uint64_t octets) {
    counters_.records_not_sent += 1;
    counters_.packets_not_sent += packets;
    counters_.octets_not_sent += octets;
    counters_.messages_not_sent += 1;
}

void KafkaSink::delivered(const rd_kafka_message_s& message) {
    const auto it = in_flight_.find(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(message._private)));
    if (it == in_flight_.end()) return;  // given up already and counted as not sent
    if (message.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        counters_.records_delivered += 1;
        counters_.messages_delivered += 1;
        counters_.bytes_delivered += message.len;
        errors_logged_.clear();  // the next failure is news again
    } else {
        ++counters_.errors;
        on_error(rk_, message.err, "a record was not delivered", this);
        not_sent(it->second.packets, it->second.octets);
    }
    in_flight_.erase(it);
}

void KafkaSink::give_up_queued() {
    for (const auto& [id, record] : in_flight_) not_sent(record.packets, record.octets);
    in_flight_.clear();
    // librdkafka drops them too (their late reports find no id and are ignored): nothing
    // counted as not sent is delivered behind the counters' back, except what a broker
    // already took without acknowledging it yet.
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
    rd_kafka_poll(rk_, 0);
}

SinkCounters KafkaSink::counters() const {
    SinkCounters c = counters_;
    c.records_queued = in_flight_.size();
    return c;
}

// ---- librdkafka's callbacks ----

void KafkaSink::on_delivery(rd_kafka_s* /*rk*/, const rd_kafka_message_s* message, void* opaque) {
    static_cast<KafkaSink*>(opaque)->delivered(*message);
}

void KafkaSink::on_error(rd_kafka_s* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    const bool fatal = err == RD_KAFKA_RESP_ERR__FATAL;
    // Brokers that stay down report the same few errors at every retry: each is logged
    // once until a delivery succeeds again.
    auto& logged = self->errors_logged_;
    if (!fatal && std::find(logged.begin(), logged.end(), err) != logged.end()) return;
    if (!fatal) logged.push_back(err);
    std::string text = "kafka " + self->name() + ": " + rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err));
    if (fatal) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof(why));
        text += std::string(": ") + why;
    } else if (reason != nullptr && *reason != '\0') {
        text += std::string(": ") + reason;
    }
    log_warning(text);
}

void KafkaSink::on_log(const rd_kafka_s* rk, int level, const char* facility, const char* text) {
    auto* self = static_cast<KafkaSink*>(rd_kafka_opaque(rk));
    const std::string name = self != nullptr ? self->name() : std::string("?");
    log_debug("kafka " + name + ": librdkafka " + std::to_string(level) + " " + facility + ": " + text);
}

// librdkafka's own connect: a non-blocking socket, EINPROGRESS is success.
int KafkaSink::on_connect(int fd, const struct sockaddr* addr, int addrlen, const char* /*id*/, void* opaque) {
    if (::connect(fd, addr, static_cast<socklen_t>(addrlen)) != 0 && errno != EINPROGRESS) return errno;
    sockaddr_storage local{}, remote{};
    socklen_t local_len = sizeof(local);
    // The local port exists from connect() on, even before the handshake ends.
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) return 0;
    if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) return 0;
    std::copy_n(reinterpret_cast<const unsigned char*>(addr), std::min<std::size_t>(addrlen, sizeof(remote)),
                reinterpret_cast<unsigned char*>(&remote));
    auto* self = static_cast<KafkaSink*>(opaque);
    const std::lock_guard<std::mutex> lock(self->connections_mutex_);
    self->connections_[fd] = Connection{own_socket_of(local, remote), 0};
    return 0;
}

int KafkaSink::on_close_socket(int fd, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    {
        const std::lock_guard<std::mutex> lock(self->connections_mutex_);
        const auto it = self->connections_.find(fd);
        if (it != self->connections_.end()) {
            self->closed_connections_.push_back(it->second);
            self->connections_.erase(it);
        }
    }
    return ::close(fd) == 0 ? 0 : errno;
}

void KafkaSink::forget_closed_connections() {
    ++cycles_;
    const std::lock_guard<std::mutex> lock(connections_mutex_);
    // Closed before the previous cycle: the drain since then has taken its last packets.
    std::erase_if(closed_connections_,
                  [&](const Connection& c) { return c.closed_at_cycle != 0 && c.closed_at_cycle < cycles_; });
    for (Connection& c : closed_connections_)
        if (c.closed_at_cycle == 0) c.closed_at_cycle = cycles_;
}

std::vector<OwnSocket> KafkaSink::own_sockets() const {
    const std::lock_guard<std::mutex> lock(connections_mutex_);
    std::vector<OwnSocket> out;
    out.reserve(connections_.size() + closed_connections_.size());
    for (const auto& [fd, c] : connections_) out.push_back(c.socket);
    for (const Connection& c : closed_connections_) out.push_back(c.socket);
    return out;
}

}  // namespace ebpfix::sinks
