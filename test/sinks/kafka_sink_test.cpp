// KafkaSink against librdkafka's mock cluster (rd_kafka_mock_cluster_new: real Kafka
// brokers in this process, listening on 127.0.0.1), read back by a librdkafka consumer
// and by kcat. Protobuf messages are decoded with the generated C++ and with protoc
// (proto/flow.proto); JSON lines are parsed and compared with the flow log's lines. The
// counters are checked exactly: delivered + not sent == given (records, packets, octets)
// through a broker that goes down and comes back, a full queue, and a final flush that
// gives up while the broker is down.
#define BOOST_TEST_MODULE kafka_sink
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define BOOST_BIND_GLOBAL_PLACEHOLDERS  // property_tree still includes the old boost/bind.hpp
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "collectors/flow_generator.hpp"
#include "proto/flow.pb.h"
#include "sinks/flow_log.hpp"
#include "sinks/kafka_sink.hpp"

using namespace ebpfix;
using namespace std::chrono_literals;
using sinks::KafkaSettings;
using sinks::KafkaSink;

namespace {

constexpr std::uint64_t k_origin_ms = 1'700'000'000'000;
constexpr std::uint64_t k_now_ms = 1'700'000'600'000;
constexpr int k_partitions = 3;
// Only a hang guard: every wait below ends as soon as its condition holds.
constexpr auto k_guard = 60s;

struct Totals {
    std::uint64_t records = 0, packets = 0, octets = 0;
    void add(std::uint64_t p, std::uint64_t o) {
        records += 1;
        packets += p;  // wraps like the sums it is compared with
        octets += o;
    }
    friend bool operator==(const Totals&, const Totals&) = default;
};
std::ostream& operator<<(std::ostream& os, const Totals& t) {
    return os << "{records " << t.records << " packets " << t.packets << " octets " << t.octets << "}";
}

Totals totals_of(const std::vector<FlowRecord>& records, std::size_t from = 0, std::size_t to = SIZE_MAX) {
    Totals t;
    for (std::size_t i = from; i < std::min(to, records.size()); ++i) t.add(records[i].packets, records[i].bytes);
    return t;
}
Totals not_sent_of(const sinks::SinkCounters& c) {
    return {c.records_not_sent, c.packets_not_sent, c.octets_not_sent};
}

// The mock cluster lives as long as the handle that made it.
class MockCluster {
public:
    explicit MockCluster(const std::string& topic) {
        char errstr[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof errstr);
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (rk_ == nullptr) throw std::runtime_error(std::string("mock handle: ") + errstr);
        cluster_ = rd_kafka_mock_cluster_new(rk_, 1);
        if (cluster_ == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
        if (rd_kafka_mock_topic_create(cluster_, topic.c_str(), k_partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
            throw std::runtime_error("mock topic " + topic);
    }
    ~MockCluster() {
        rd_kafka_mock_cluster_destroy(cluster_);
        rd_kafka_destroy(rk_);
    }
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;

    std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
    void down() { BOOST_REQUIRE(rd_kafka_mock_broker_set_down(cluster_, 1) == RD_KAFKA_RESP_ERR_NO_ERROR); }
    void up() { BOOST_REQUIRE(rd_kafka_mock_broker_set_up(cluster_, 1) == RD_KAFKA_RESP_ERR_NO_ERROR); }

private:
    rd_kafka_t* rk_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

struct Message {
    std::optional<std::string> key;
    std::string value;
    std::int32_t partition = 0;
};

// Every message of the topic, from the start of each partition to its end.
std::vector<Message> consume_all(const std::string& bootstraps, const std::string& topic) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (auto [k, v] : std::map<std::string, std::string>{{"bootstrap.servers", bootstraps},
                                                           {"group.id", "ebpfix-kafka-test"},
                                                           {"enable.partition.eof", "true"},
                                                           {"enable.auto.commit", "false"},
                                                           {"log_level", "2"}})
        BOOST_REQUIRE(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) == RD_KAFKA_CONF_OK);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    BOOST_REQUIRE_MESSAGE(rk != nullptr, errstr);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(k_partitions);
    for (int p = 0; p < k_partitions; ++p)
        rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    BOOST_REQUIRE(rd_kafka_assign(rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    std::vector<Message> out;
    std::set<std::int32_t> at_end;
    const auto deadline = std::chrono::steady_clock::now() + k_guard;
    while (at_end.size() < std::size_t(k_partitions) && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
        if (m == nullptr) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end.insert(m->partition);
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            BOOST_ERROR("consumer: " << rd_kafka_message_errstr(m));
        } else {
            Message msg;
            if (m->key != nullptr) msg.key = std::string(static_cast<const char*>(m->key), m->key_len);
            msg.value.assign(static_cast<const char*>(m->payload), m->len);
            msg.partition = m->partition;
            out.push_back(std::move(msg));
        }
        rd_kafka_message_destroy(m);
    }
    BOOST_REQUIRE_MESSAGE(at_end.size() == std::size_t(k_partitions),
                          "the consumer did not reach every partition's end");
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

// A length-delimited FlowMessage: the varint must say exactly the rest of the message.
flowpb::FlowMessage decode_delimited(const std::string& value) {
    std::uint64_t length = 0;
    std::size_t pos = 0;
    for (int shift = 0;; shift += 7) {
        BOOST_REQUIRE_MESSAGE(pos < value.size() && shift < 64, "a cut varint length prefix");
        const auto b = static_cast<unsigned char>(value[pos++]);
        length |= std::uint64_t(b & 0x7f) << shift;
        if ((b & 0x80) == 0) break;
    }
    BOOST_REQUIRE_EQUAL(length, value.size() - pos);
    flowpb::FlowMessage m;
    BOOST_REQUIRE(m.ParseFromArray(value.data() + pos, static_cast<int>(length)));
    return m;
}

struct Command {
    int status = -1;
    std::string output;
};
// Runs a shell command from the source tree; its standard output.
Command run(const std::string& command) {
    const std::string full = "cd '" EBPFIX_SOURCE_DIR "' && " + command;
    FILE* p = ::popen(full.c_str(), "r");
    BOOST_REQUIRE_MESSAGE(p != nullptr, "popen " << command);
    Command c;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) c.output.append(buf, n);
    const int st = ::pclose(p);
    c.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return c;
}

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "ebpfix-kafka-XXXXXX").string();
        BOOST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

sinks::CycleContext context(std::span<const FlowRecord> records, bool final = false) {
    sinks::CycleContext ctx;
    ctx.now_ms = k_now_ms;
    ctx.records = records;
    ctx.final = final;
    return ctx;
}

// Cycles without new records until nothing is queued.
void wait_delivered(KafkaSink& sink) {
    const auto deadline = std::chrono::steady_clock::now() + k_guard;
    while (sink.counters().records_queued > 0 && std::chrono::steady_clock::now() < deadline) {
        sink.cycle(context({}));
        std::this_thread::sleep_for(5ms);
    }
    BOOST_REQUIRE_EQUAL(sink.counters().records_queued, 0u);
}

// Every record given is delivered, not sent or queued; never two of them.
void check_accounting(const KafkaSink& sink, std::uint64_t given) {
    const sinks::SinkCounters c = sink.counters();
    BOOST_TEST(c.records_delivered + c.records_not_sent + c.records_queued == given);
    BOOST_TEST(c.messages_delivered == c.records_delivered);
}

KafkaSettings settings_for(const MockCluster& cluster, const std::string& topic) {
    KafkaSettings s;
    s.brokers = cluster.bootstraps();
    s.topic = topic;
    s.exporter_id = "192.0.2.7";
    return s;
}

std::uint32_t address_v4(const std::string& b) {
    return std::uint32_t(std::uint8_t(b[0])) << 24 | std::uint32_t(std::uint8_t(b[1])) << 16 |
           std::uint32_t(std::uint8_t(b[2])) << 8 | std::uint32_t(std::uint8_t(b[3]));
}

// What the FlowMessage of a record must hold (docs/kafka.md, "Fields").
void check_fields(const flowpb::FlowMessage& m, const FlowRecord& r, std::uint32_t sampling_rate) {
    const FlowKey& k = r.key;
    BOOST_TEST_CONTEXT(test::describe(r)) {
        BOOST_TEST(m.type() == flowpb::FlowMessage::IPFIX);
        BOOST_TEST(m.time_received_ns() == k_now_ms * 1'000'000);
        BOOST_TEST(m.sampling_rate() == sampling_rate);
        BOOST_TEST(m.sampler_address() == std::string("\xc0\x00\x02\x07", 4));  // 192.0.2.7
        BOOST_TEST(m.time_flow_start_ns() == r.start_ms * 1'000'000);
        BOOST_TEST(m.time_flow_end_ns() == r.end_ms * 1'000'000);
        BOOST_TEST(m.bytes() == r.bytes);
        BOOST_TEST(m.packets() == r.packets);
        if (k.ip_version == 4) {
            BOOST_TEST(m.etype() == 0x800u);
            BOOST_REQUIRE_EQUAL(m.src_addr().size(), 4u);
            BOOST_REQUIRE_EQUAL(m.dst_addr().size(), 4u);
            BOOST_TEST(address_v4(m.src_addr()) == k.src_v4());
            BOOST_TEST(address_v4(m.dst_addr()) == k.dst_v4());
        } else {
            BOOST_TEST(m.etype() == 0x86ddu);
            BOOST_TEST(m.src_addr() == std::string(k.src_addr.begin(), k.src_addr.end()));
            BOOST_TEST(m.dst_addr() == std::string(k.dst_addr.begin(), k.dst_addr.end()));
        }
        BOOST_TEST(m.proto() == k.protocol);
        if (k.is_icmp()) {
            BOOST_TEST(m.src_port() == 0u);
            BOOST_TEST(m.dst_port() == 0u);
            BOOST_TEST(m.icmp_type() == std::uint32_t(k.dst_port >> 8));
            BOOST_TEST(m.icmp_code() == std::uint32_t(k.dst_port & 0xff));
        } else {
            BOOST_TEST(m.src_port() == k.src_port);
            BOOST_TEST(m.dst_port() == k.dst_port);
            BOOST_TEST(m.icmp_type() == 0u);
            BOOST_TEST(m.icmp_code() == 0u);
        }
        BOOST_TEST(m.in_if() == (k.direction == Direction::ingress ? k.ifindex : 0u));
        BOOST_TEST(m.out_if() == (k.direction == Direction::egress ? k.ifindex : 0u));
        BOOST_TEST(m.vlan_id() == k.vlan_id);
        BOOST_TEST(m.src_vlan() == k.vlan_id);
        BOOST_TEST(m.ip_tos() == r.tos);
        BOOST_TEST(m.tcp_flags() == r.tcp_flags);
    }
}

std::string temp_topic(const std::string& what) { return "ebpfix-" + what; }

}  // namespace

BOOST_AUTO_TEST_CASE(protobuf_records_arrive_whole_and_decode_with_protoc) {
    const std::string topic = temp_topic("protobuf");
    MockCluster cluster(topic);
    KafkaSettings s = settings_for(cluster, topic);
    s.sampling_rate = 0;
    test::FlowGenerator gen(15, k_origin_ms, k_now_ms);
    const std::vector<FlowRecord> records = gen.batch(300);
    {
        KafkaSink sink(s);
        BOOST_TEST(sink.kind() == "kafka");
        BOOST_TEST(sink.name() == s.brokers + "/" + topic);
        sink.cycle(context(records));
        check_accounting(sink, records.size());
        wait_delivered(sink);
        const sinks::SinkCounters c = sink.counters();
        BOOST_TEST(c.records_delivered == records.size());
        BOOST_TEST(c.records_not_sent == 0u);
        BOOST_TEST(c.errors == 0u);
        BOOST_TEST(c.bytes_delivered > 0u);
        // The broker connection is ebpfix's own traffic: TCP from loopback to the broker.
        const std::vector<sinks::OwnSocket> own = sink.own_sockets();
        BOOST_REQUIRE(!own.empty());
        const std::string port = s.brokers.substr(s.brokers.rfind(':') + 1);
        BOOST_TEST(std::any_of(own.begin(), own.end(), [&](const sinks::OwnSocket& o) {
            return o.forward.protocol == 6 && o.forward.ip_version == 4 && o.forward.dst_v4() == 0x7f000001 &&
                   std::to_string(o.forward.dst_port) == port && o.forward.src_port != 0;
        }));
    }

    const std::vector<Message> messages = consume_all(s.brokers, topic);
    BOOST_REQUIRE_EQUAL(messages.size(), records.size());
    Totals seen;
    std::set<std::uint32_t> sequences;
    std::string stream;
    for (const Message& msg : messages) {
        BOOST_TEST(!msg.key.has_value());  // key "none": no key at all
        const flowpb::FlowMessage m = decode_delimited(msg.value);
        BOOST_REQUIRE_LT(m.sequence_num(), records.size());
        BOOST_TEST(sequences.insert(m.sequence_num()).second);
        check_fields(m, records[m.sequence_num()], 1);
        seen.add(m.packets(), m.bytes());
        stream += '\x0a';  // kafka_batch.proto: the message is element `flows` of a Batch
        stream += msg.value;
    }
    BOOST_TEST(seen == totals_of(records));

    // protoc, from proto/flow.proto alone, reads the same totals.
    TempDir dir;
    const std::string batch = dir.file("topic.bin");
    std::ofstream(batch, std::ios::binary) << stream;
    const Command decoded = run(std::string(EBPFIX_PROTOC) +
                                " -I. --decode=ebpfix_test.Batch test/sinks/kafka_batch.proto < '" + batch + "'");
    BOOST_REQUIRE_MESSAGE(decoded.status == 0, "protoc exited with " << decoded.status);
    Totals by_protoc;
    std::istringstream lines(decoded.output);
    std::uint64_t packets = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("  packets: ", 0) == 0) packets = std::stoull(line.substr(11));
        if (line.rfind("  bytes: ", 0) == 0) by_protoc.octets += std::stoull(line.substr(9));
        if (line == "}") {
            by_protoc.records += 1;
            by_protoc.packets += packets;
            packets = 0;
        }
    }
    BOOST_TEST(by_protoc == totals_of(records));

    // One message alone, its prefix cut off, as `protoc --decode=flowpb.FlowMessage` reads it.
    // (proto3 leaves zeros out: the record has a nonzero type and packet count.)
    const auto icmp = std::find_if(records.begin(), records.end(), [](const FlowRecord& r) {
        return r.key.is_icmp() && (r.key.dst_port >> 8) != 0 && r.packets != 0;
    });
    BOOST_REQUIRE(icmp != records.end());
    const auto index = static_cast<std::uint32_t>(icmp - records.begin());
    const auto msg = std::find_if(messages.begin(), messages.end(),
                                  [&](const Message& m) { return decode_delimited(m.value).sequence_num() == index; });
    BOOST_REQUIRE(msg != messages.end());
    const std::string one = dir.file("one.bin");
    std::ofstream(one, std::ios::binary) << decode_delimited(msg->value).SerializeAsString();
    const Command single =
        run(std::string(EBPFIX_PROTOC) + " -I. --decode=flowpb.FlowMessage proto/flow.proto < '" + one + "'");
    BOOST_REQUIRE_EQUAL(single.status, 0);
    BOOST_TEST(single.output.find("type: IPFIX\n") != std::string::npos);
    const std::string icmp_type = "\nicmp_type: " + std::to_string(icmp->key.dst_port >> 8) + "\n";
    BOOST_TEST(single.output.find(icmp_type) != std::string::npos);
    BOOST_TEST((index == 0 ||  // proto3 leaves a 0 out
                single.output.find("\nsequence_num: " + std::to_string(index) + "\n") != std::string::npos));
    BOOST_TEST(single.output.find("\npackets: " + std::to_string(icmp->packets) + "\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sampling_rate_and_every_compression) {
    for (const std::string codec : {"gzip", "snappy", "lz4", "zstd"}) {
        BOOST_TEST_CONTEXT("compression " << codec) {
            const std::string topic = temp_topic("compressed-" + codec);
            MockCluster cluster(topic);
            KafkaSettings s = settings_for(cluster, topic);
            s.compression = codec;
            s.sampling_rate = 64;
            test::FlowGenerator gen(codec.size(), k_origin_ms, k_now_ms);
            const std::vector<FlowRecord> records = gen.batch(80);
            {
                KafkaSink sink(s);
                BOOST_TEST(sink.identity().find(" compression " + codec + " ") != std::string::npos);
                sink.cycle(context(records));
                wait_delivered(sink);
                BOOST_TEST(sink.counters().records_delivered == records.size());
            }
            Totals seen;
            for (const Message& msg : consume_all(s.brokers, topic)) {
                const flowpb::FlowMessage m = decode_delimited(msg.value);
                BOOST_REQUIRE_LT(m.sequence_num(), records.size());
                check_fields(m, records[m.sequence_num()], 64);
                seen.add(m.packets(), m.bytes());
            }
            BOOST_TEST(seen == totals_of(records));
        }
    }
}

BOOST_AUTO_TEST_CASE(json_lines_are_the_flow_log_lines_and_kcat_reads_them) {
    const std::string topic = temp_topic("json");
    MockCluster cluster(topic);
    KafkaSettings s = settings_for(cluster, topic);
    s.format = KafkaSettings::Format::json;
    test::FlowGenerator gen(7, k_origin_ms, k_now_ms);
    std::vector<FlowRecord> records = gen.batch(120);
    attribution::Owner owner;
    owner.uid = 1000;
    owner.user = "alice \"quoted\"";
    owner.pid = 4242;
    owner.comm = "curl";
    for (std::size_t i = 0; i < records.size(); i += 3) records[i].key.owner = 77;
    auto ifname = [](std::uint32_t ifindex) { return "if" + std::to_string(ifindex % 5); };
    auto owner_of = [&](std::uint64_t cookie) -> const attribution::Owner* { return cookie == 77 ? &owner : nullptr; };
    {
        KafkaSink sink(s);
        sinks::CycleContext ctx = context(records);
        ctx.ifname = ifname;
        ctx.owner = owner_of;
        sink.cycle(ctx);
        wait_delivered(sink);
        BOOST_TEST(sink.counters().records_delivered == records.size());
    }
    std::vector<std::string> want;
    for (const FlowRecord& r : records)
        want.push_back(sinks::format_json(r, ifname(r.key.ifindex), std::int64_t(k_now_ms / 1000),
                                          r.key.owner == 77 ? &owner : nullptr));

    // kcat: an independent consumer, one value per line.
    const Command kcat = run("kcat -C -q -e -o beginning -b '" + s.brokers + "' -t " + topic + " -f '%s\\n'");
    BOOST_REQUIRE_MESSAGE(kcat.status == 0,
                          "kcat exited with " << kcat.status << " (127: not installed; Debian package kcat)");
    std::vector<std::string> got;
    std::istringstream lines(kcat.output);
    Totals seen;
    for (std::string line; std::getline(lines, line);) {
        boost::property_tree::ptree tree;
        std::istringstream in(line);
        BOOST_REQUIRE_NO_THROW(boost::property_tree::read_json(in, tree));
        // Numbers read as text: property_tree's numeric translators trip GCC's
        // -Wmaybe-uninitialized under the sanitizers.
        auto number = [&](const char* key) { return std::stoull(tree.get<std::string>(key)); };
        seen.add(number("packets"), number("bytes"));
        BOOST_TEST(!tree.get<std::string>("src_ip").empty());
        BOOST_TEST(tree.get<std::string>("ifname").rfind("if", 0) == 0);
        if (tree.count("user") != 0) {
            BOOST_TEST(tree.get<std::string>("user") == owner.user);
            BOOST_TEST(number("pid") == *owner.pid);
        }
        got.push_back(line);
    }
    BOOST_TEST(seen == totals_of(records));
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    BOOST_TEST(got == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(message_keys_as_documented) {
    // The documented forms (docs/kafka.md, "Keys").
    FlowRecord tcp;
    tcp.key.ip_version = 4;
    tcp.key.protocol = 6;
    tcp.key.src_addr = FlowKey::mapped_v4(0xc0000201);
    tcp.key.dst_addr = FlowKey::mapped_v4(0xc6336402);
    tcp.key.src_port = 40000;
    tcp.key.dst_port = 443;
    KafkaSettings doc;
    doc.exporter_id = "edge-1";
    doc.key = KafkaSettings::Key::flow;
    BOOST_TEST(sinks::kafka_message_key(doc, tcp) == "6 192.0.2.1 40000 198.51.100.2 443");
    doc.key = KafkaSettings::Key::src_ip;
    BOOST_TEST(sinks::kafka_message_key(doc, tcp) == "192.0.2.1");
    doc.key = KafkaSettings::Key::exporter;
    BOOST_TEST(sinks::kafka_message_key(doc, tcp) == "edge-1");

    for (const auto mode : {KafkaSettings::Key::exporter, KafkaSettings::Key::src_ip, KafkaSettings::Key::flow}) {
        BOOST_TEST_CONTEXT("key " << sinks::key_word(mode)) {
            const std::string topic = temp_topic("key-" + sinks::key_word(mode));
            MockCluster cluster(topic);
            KafkaSettings s = settings_for(cluster, topic);
            s.key = mode;
            s.exporter_id = "edge-1";
            test::FlowGenerator gen(3, k_origin_ms, k_now_ms);
            std::vector<FlowRecord> records = gen.batch(60);
            // Records of the same flow (an active timeout splits them) share a key.
            for (std::size_t i = 1; i < records.size(); i += 4) records[i].key = records[i - 1].key;
            {
                KafkaSink sink(s);
                BOOST_TEST(sink.identity().find(" key " + sinks::key_word(mode) + " ") != std::string::npos);
                sink.cycle(context(records));
                wait_delivered(sink);
                BOOST_TEST(sink.counters().records_delivered == records.size());
            }
            const std::vector<Message> messages = consume_all(s.brokers, topic);
            BOOST_REQUIRE_EQUAL(messages.size(), records.size());
            std::map<std::string, std::int32_t> partition_of_key;
            for (const Message& msg : messages) {
                const flowpb::FlowMessage m = decode_delimited(msg.value);
                BOOST_REQUIRE_LT(m.sequence_num(), records.size());
                const FlowRecord& r = records[m.sequence_num()];
                BOOST_REQUIRE(msg.key.has_value());
                BOOST_TEST(*msg.key == sinks::kafka_message_key(s, r));
                if (mode == KafkaSettings::Key::exporter) BOOST_TEST(*msg.key == "edge-1");
                if (mode == KafkaSettings::Key::src_ip) BOOST_TEST(*msg.key == test::address_text(r.key, true));
                // One key, one partition.
                const auto [it, fresh] = partition_of_key.emplace(*msg.key, msg.partition);
                BOOST_TEST(it->second == msg.partition);
                (void)fresh;
            }
            if (mode == KafkaSettings::Key::flow) BOOST_TEST(partition_of_key.size() < records.size());
        }
    }
}

BOOST_AUTO_TEST_CASE(broker_down_and_back_every_record_accounted_exactly) {
    const std::string topic = temp_topic("down");
    MockCluster cluster(topic);
    KafkaSettings s = settings_for(cluster, topic);
    s.flush_timeout = 1000ms;
    test::FlowGenerator gen(99, k_origin_ms, k_now_ms);
    const std::vector<FlowRecord> records = gen.batch(150);
    const std::span<const FlowRecord> all(records);
    auto sink = std::make_unique<KafkaSink>(s);

    // Up: the first 50 are delivered.
    sink->cycle(context(all.subspan(0, 50)));
    wait_delivered(*sink);
    BOOST_TEST(sink->counters().records_delivered == 50u);

    // Down: the next 60 wait in librdkafka's queue, cycle after cycle.
    cluster.down();
    sink->cycle(context(all.subspan(50, 30)));
    for (int i = 0; i < 20; ++i) {
        sink->cycle(context(i == 10 ? all.subspan(80, 30) : std::span<const FlowRecord>()));
        check_accounting(*sink, i >= 10 ? 110 : 80);
        std::this_thread::sleep_for(10ms);
    }
    BOOST_TEST(sink->counters().records_not_sent == 0u);

    // Back: they go out.
    cluster.up();
    wait_delivered(*sink);
    check_accounting(*sink, 110);

    // Down again at stop: the final flush waits flush_timeout, then counts the rest.
    cluster.down();
    const auto before = sink->counters();
    const auto started = std::chrono::steady_clock::now();
    sink->cycle(context(all.subspan(110), true));
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    BOOST_TEST(took.count() < (s.flush_timeout + 5s).count());  // ends near the timeout, not after message.timeout.ms
    const sinks::SinkCounters c = sink->counters();
    BOOST_TEST(c.records_queued == 0u);
    BOOST_TEST(c.records_delivered == before.records_delivered);
    BOOST_TEST(not_sent_of(before) == Totals{});
    BOOST_TEST(not_sent_of(c) == totals_of(records, 110));
    check_accounting(*sink, records.size());
    const Totals delivered{c.records_delivered, 0, 0};
    sink.reset();  // nothing waits: destroying is prompt
    cluster.up();

    // What the consumer reads is exactly what was counted as delivered.
    Totals seen;
    for (const Message& msg : consume_all(s.brokers, topic)) {
        const flowpb::FlowMessage m = decode_delimited(msg.value);
        seen.add(m.packets(), m.bytes());
    }
    const Totals given = totals_of(records);
    const Totals not_sent = not_sent_of(c);
    BOOST_TEST(seen.records == delivered.records);
    BOOST_TEST(seen.records + not_sent.records == given.records);
    BOOST_TEST(seen.packets + not_sent.packets == given.packets);
    BOOST_TEST(seen.octets + not_sent.octets == given.octets);
}

BOOST_AUTO_TEST_CASE(full_queue_counts_not_sent_and_never_waits) {
    const std::string topic = temp_topic("full");
    MockCluster cluster(topic);
    cluster.down();  // nothing leaves: the queue fills
    KafkaSettings s = settings_for(cluster, topic);
    s.max_queued_messages = 10;
    test::FlowGenerator gen(5, k_origin_ms, k_now_ms);
    const std::vector<FlowRecord> records = gen.batch(25);
    KafkaSink sink(s);
    sink.cycle(context(records));
    sinks::SinkCounters c = sink.counters();
    BOOST_TEST(c.records_queued == 10u);
    BOOST_TEST(c.queue_drops == 15u);
    BOOST_TEST(c.messages_not_sent == 15u);
    BOOST_TEST(not_sent_of(c) == totals_of(records, 10));  // the first ten took the room

    cluster.up();
    wait_delivered(sink);
    c = sink.counters();
    BOOST_TEST(c.records_delivered == 10u);
    check_accounting(sink, records.size());
    std::set<std::uint32_t> sequences;
    for (const Message& msg : consume_all(s.brokers, topic))
        sequences.insert(decode_delimited(msg.value).sequence_num());
    BOOST_TEST(sequences == (std::set<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

BOOST_AUTO_TEST_CASE(properties_are_applied_last) {
    const std::string topic = temp_topic("properties");
    MockCluster cluster(topic);
    cluster.down();
    KafkaSettings s = settings_for(cluster, topic);
    s.max_queued_messages = 1000;
    s.flush_timeout = 200ms;  // the destructor's wait for what is queued
    s.properties["queue.buffering.max.messages"] = "4";  // wins over max_queued_messages
    s.properties["linger.ms"] = "0";
    test::FlowGenerator gen(6, k_origin_ms, k_now_ms);
    const std::vector<FlowRecord> records = gen.batch(9);
    KafkaSink sink(s);
    sink.cycle(context(records));
    BOOST_TEST(sink.counters().records_queued == 4u);
    BOOST_TEST(not_sent_of(sink.counters()) == totals_of(records, 4));
}

BOOST_AUTO_TEST_CASE(final_flush_gives_up_within_its_timeout_while_the_broker_is_down) {
    const std::string topic = temp_topic("stop");
    MockCluster cluster(topic);
    cluster.down();
    KafkaSettings s = settings_for(cluster, topic);
    s.flush_timeout = 1500ms;
    test::FlowGenerator gen(8, k_origin_ms, k_now_ms);
    const std::vector<FlowRecord> records = gen.batch(200);
    KafkaSink sink(s);
    sink.cycle(context(std::span<const FlowRecord>(records).subspan(0, 120)));
    const auto started = std::chrono::steady_clock::now();
    sink.cycle(context(std::span<const FlowRecord>(records).subspan(120), true));
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    BOOST_TEST(took.count() < (s.flush_timeout + 5s).count());  // a hang guard, not a measurement
    const sinks::SinkCounters c = sink.counters();
    BOOST_TEST(c.records_queued == 0u);
    BOOST_TEST(c.records_delivered == 0u);
    BOOST_TEST(not_sent_of(c) == totals_of(records));
    BOOST_TEST(c.queue_drops == 0u);
}

BOOST_AUTO_TEST_CASE(bad_settings_name_what_is_wrong) {
    auto error_of = [](const KafkaSettings& s) -> std::string {
        try {
            KafkaSink sink(s);
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "no error";
    };
    KafkaSettings good;
    good.brokers = "127.0.0.1:9";  // never contacted: no cycle runs
    good.topic = "flows";
    good.exporter_id = "edge-1";

    KafkaSettings s = good;
    s.properties["no.such.property"] = "1";
    BOOST_TEST(error_of(s).find("kafka property \"no.such.property\"") != std::string::npos);
    s = good;
    s.properties["acks"] = "sometimes";
    BOOST_TEST(error_of(s).find("kafka property \"acks\"") != std::string::npos);
    s = good;
    s.compression = "brotli";
    BOOST_TEST(error_of(s).find("kafka compression \"brotli\"") != std::string::npos);
    s = good;
    s.topic = "flows/raw";
    BOOST_TEST(error_of(s).find("kafka topic \"flows/raw\"") != std::string::npos);
    s = good;
    s.topic = "";
    BOOST_TEST(error_of(s).find("kafka topic") != std::string::npos);
    s = good;
    s.brokers = " ";
    BOOST_TEST(error_of(s).find("kafka brokers") != std::string::npos);
    s = good;
    s.key = KafkaSettings::Key::exporter;
    s.exporter_id = "";
    BOOST_TEST(error_of(s).find("exporter id") != std::string::npos);
    s = good;
    s.max_queued_messages = 0;
    BOOST_TEST(error_of(s).find("max queued messages 0") != std::string::npos);
    BOOST_TEST(error_of(good) == "no error");
}

BOOST_AUTO_TEST_CASE(identity_holds_every_setting_and_hides_secrets) {
    KafkaSettings s;
    s.brokers = "127.0.0.1:9,127.0.0.1:10";
    s.topic = "flows";
    s.format = KafkaSettings::Format::json;
    s.key = KafkaSettings::Key::src_ip;
    s.compression = "lz4";
    s.max_queued_messages = 1234;
    s.flush_timeout = 2500ms;
    s.sampling_rate = 100;
    s.exporter_id = "edge-1";
    s.properties["sasl.password"] = "hunter2";
    s.properties["linger.ms"] = "20";
    const KafkaSink sink(s);
    const std::string id = sink.identity();
    BOOST_TEST(sink.name() == "127.0.0.1:9,127.0.0.1:10/flows");
    for (const std::string part : {"127.0.0.1:9,127.0.0.1:10/flows", "format json", "key src_ip", "compression lz4",
                                   "queue 1234", "flush 2500ms", "sampling 100", "exporter \"edge-1\"",
                                   "\"linger.ms\"=\"20\"", "\"sasl.password\"=#"})
        BOOST_TEST_CONTEXT(part) { BOOST_TEST(id.find(part) != std::string::npos); }
    BOOST_TEST(id.find("hunter2") == std::string::npos);
    // Any changed setting is another output.
    KafkaSettings other = s;
    other.properties["sasl.password"] = "hunter3";
    BOOST_TEST(KafkaSink(other).identity() != id);
    other = s;
    other.flush_timeout = 2501ms;
    BOOST_TEST(KafkaSink(other).identity() != id);
}
