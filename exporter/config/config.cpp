// The TOML file, validation and the merge of file + command line.
#include "config/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>

#include <toml++/toml.h>

#include "config/rules.hpp"

namespace ebpfix::config {

namespace {

using detail::IntegerRule;
using detail::SecondsRule;

std::string_view type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a float";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        case toml::node_type::none: break;
    }
    return "nothing";
}

std::string join(std::initializer_list<std::string_view> words) {
    std::string out;
    for (auto w : words) {
        if (!out.empty()) out += ", ";
        out += w;
    }
    return out;
}

// Reads one TOML document into a Config, recording where each setting came from.
// Checks types, names and per-value limits; the rules between values are validate()'s.
class FileReader {
public:
    FileReader(std::string_view source_name, Config& config) : source_(source_name), config_(config) {}

    void read(const toml::table& root) {
        check_keys(root, "",
                   {"interfaces", "attach", "capture", "xdp_mode", "xdp_only", "cgroup", "control", "control_group",
                    "flow", "sampling", "filter", "collector", "kafka", "log", "stats", "metrics", "attribution", "graph",
                    "privileges"});
        if (const toml::node* n = root.get("interfaces")) read_interfaces(*n);
        if (auto s = get_string(root, "attach", "attach"))
            config_.attach_mode = convert(*s, "attach", detail::parse_attach_mode);
        read_capture(root);
        if (auto s = get_string(root, "control", "control")) {
            // "" = no control socket.
            if (!s->get().empty()) check(*s, "control", [&] { detail::check_socket_path(s->get()); });
            config_.control_socket = s->get();
        }
        if (auto s = get_string(root, "control_group", "control_group")) {
            check(*s, "control_group", [&] { detail::check_group_name(s->get()); });
            config_.control_group = s->get();
        }
        if (const toml::table* flow = get_table(root, "flow", "flow")) read_flow(*flow);
        if (const toml::table* sampling = get_table(root, "sampling", "sampling")) read_sampling(*sampling);
        if (const toml::table* filter = get_table(root, "filter", "filter")) {
            check_keys(*filter, "filter.", {"exclude"});
            if (const toml::node* n = filter->get("exclude")) read_exclude(*n);
        }
        if (const toml::node* n = root.get("collector")) read_collectors(*n);
        if (const toml::node* n = root.get("kafka")) read_kafka(*n);
        if (const toml::table* log = get_table(root, "log", "log")) read_log(*log);
        if (const toml::table* stats = get_table(root, "stats", "stats")) read_stats(*stats);
        if (const toml::table* metrics = get_table(root, "metrics", "metrics")) read_metrics(*metrics);
        if (const toml::table* attribution = get_table(root, "attribution", "attribution")) {
            check_keys(*attribution, "attribution.", {"enabled", "ipfix_enterprise"});
            if (auto b = get_boolean(*attribution, "enabled", "attribution.enabled")) config_.attribution = *b;
            if (auto v = get_integer(*attribution, "ipfix_enterprise", "attribution.ipfix_enterprise",
                                     detail::ipfix_enterprise_rule))
                config_.ipfix_enterprise = static_cast<std::uint32_t>(*v);
        }
        if (const toml::table* graph = get_table(root, "graph", "graph")) {
            check_keys(*graph, "graph.", {"dot"});
            if (auto s = get_string(*graph, "dot", "graph.dot")) {
                if (!s->get().empty()) check(*s, "graph.dot", [&] { detail::check_file_name(s->get()); });
                config_.dot_file = s->get();
            }
        }
        if (const toml::table* priv = get_table(root, "privileges", "privileges")) {
            check_keys(*priv, "privileges.", {"user"});
            if (auto s = get_string(*priv, "user", "privileges.user")) {
                if (!s->get().empty()) check(*s, "privileges.user", [&] { detail::check_user_name(s->get()); });
                config_.user = s->get();
            }
        }
    }

private:
    std::string place(const toml::source_region& region) const {
        return source_ + ":" + std::to_string(region.begin.line) + ":" + std::to_string(region.begin.column);
    }

    [[noreturn]] void fail(const toml::source_region& region, const std::string& message,
                           std::string_view key_path) const {
        throw ConfigError(place(region) + ": " + message + " (" + std::string(key_path) + ")");
    }

    // Runs a detail:: check; its std::invalid_argument becomes a ConfigError at the node.
    template <typename F>
    void check(const toml::node& node, std::string_view key_path, F&& f) const {
        try {
            f();
        } catch (const std::invalid_argument& e) {
            fail(node.source(), e.what(), key_path);
        }
    }

    template <typename F>
    auto convert(const toml::value<std::string>& node, std::string_view key_path, F&& parse)
        -> decltype(parse(std::string_view{})) {
        decltype(parse(std::string_view{})) result{};
        check(node, key_path, [&] { result = parse(node.get()); });
        note(key_path, node);
        return result;
    }

    void note(std::string_view key_path, const toml::node& node) { config_.origins[std::string(key_path)] = place(node.source()); }

    void check_keys(const toml::table& table, std::string_view prefix, std::initializer_list<std::string_view> allowed) {
        for (auto&& [key, node] : table) {
            if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
                const std::string name = detail::quoted(key.str());
                fail(key.source(), "unknown key " + name + "; expected one of: " + join(allowed),
                     std::string(prefix) + name.substr(1, name.size() - 2));
            }
        }
    }

    [[noreturn]] void wrong_type(const toml::node& node, std::string_view expected, std::string_view key_path) const {
        fail(node.source(), "expected " + std::string(expected) + ", got " + std::string(type_name(node.type())),
             key_path);
    }

    const toml::table* get_table(const toml::table& parent, std::string_view key, std::string_view key_path) {
        const toml::node* n = parent.get(key);
        if (n == nullptr) return nullptr;
        if (!n->is_table()) wrong_type(*n, "a table", key_path);
        return n->as_table();
    }

    const toml::value<std::string>* get_string(const toml::table& parent, std::string_view key,
                                               std::string_view key_path) {
        const toml::node* n = parent.get(key);
        if (n == nullptr) return nullptr;
        if (!n->is_string()) wrong_type(*n, "a string", key_path);
        note(key_path, *n);
        return n->as_string();
    }

    std::optional<bool> get_boolean(const toml::table& parent, std::string_view key, std::string_view key_path) {
        const toml::node* n = parent.get(key);
        if (n == nullptr) return std::nullopt;
        if (!n->is_boolean()) wrong_type(*n, "a boolean (true or false)", key_path);
        note(key_path, *n);
        return n->as_boolean()->get();
    }

    std::optional<std::int64_t> get_integer(const toml::table& parent, std::string_view key,
                                            std::string_view key_path, const IntegerRule& rule) {
        const toml::node* n = parent.get(key);
        if (n == nullptr) return std::nullopt;
        if (!n->is_integer()) wrong_type(*n, "an integer", key_path);
        std::int64_t v = n->as_integer()->get();
        check(*n, key_path, [&] { detail::check_integer(v, rule); });
        note(key_path, *n);
        return v;
    }

    std::optional<std::uint64_t> get_seconds(const toml::table& parent, std::string_view key,
                                             std::string_view key_path, const SecondsRule& rule) {
        const toml::node* n = parent.get(key);
        if (n == nullptr) return std::nullopt;
        double seconds = 0;
        if (n->is_integer())
            seconds = double(n->as_integer()->get());
        else if (n->is_floating_point())
            seconds = n->as_floating_point()->get();
        else
            wrong_type(*n, "a number of seconds", key_path);
        std::uint64_t ms = 0;
        check(*n, key_path, [&] { ms = detail::seconds_to_ms(seconds, rule); });
        note(key_path, *n);
        return ms;
    }

    void read_interfaces(const toml::node& node) {
        if (!node.is_array()) wrong_type(node, "an array of interface names", "interfaces");
        note("interfaces", node);
        config_.interfaces.clear();
        std::size_t index = 0;
        for (const toml::node& element : *node.as_array()) {
            std::string path = "interfaces[" + std::to_string(index++) + "]";
            if (!element.is_string()) wrong_type(element, "a string", path);
            const std::string& name = element.as_string()->get();
            check(element, path, [&] { detail::check_interface_name(name); });
            if (std::find(config_.interfaces.begin(), config_.interfaces.end(), name) != config_.interfaces.end())
                fail(element.source(), "interface '" + name + "' is listed twice", path);
            note(path, element);
            config_.interfaces.push_back(name);
        }
    }

    // The top-level capture keys; which of them apply to which mode is validate()'s.
    void read_capture(const toml::table& root) {
        if (auto s = get_string(root, "capture", "capture"))
            config_.capture = convert(*s, "capture", detail::parse_capture_mode);
        if (auto s = get_string(root, "xdp_mode", "xdp_mode"))
            config_.xdp_mode = convert(*s, "xdp_mode", detail::parse_xdp_mode);
        if (auto b = get_boolean(root, "xdp_only", "xdp_only")) config_.xdp_only = *b;
        if (auto s = get_string(root, "cgroup", "cgroup")) {
            check(*s, "cgroup", [&] { detail::check_cgroup_path(s->get()); });
            config_.cgroup_path = s->get();
        }
    }

    void read_sampling(const toml::table& sampling) {
        check_keys(sampling, "sampling.", {"interval", "algorithm"});
        if (auto v = get_integer(sampling, "interval", "sampling.interval", detail::sample_interval_rule))
            config_.sample_interval = static_cast<std::uint32_t>(*v);
        if (auto s = get_string(sampling, "algorithm", "sampling.algorithm"))
            config_.sample_algorithm = convert(*s, "sampling.algorithm", detail::parse_sample_algorithm);
    }

    void read_exclude(const toml::node& node) {
        if (!node.is_array()) wrong_type(node, "an array of addresses (\"10.0.0.0/8\", \"192.168.1.*\")", "filter.exclude");
        note("filter.exclude", node);
        config_.exclude.clear();
        std::size_t index = 0;
        for (const toml::node& element : *node.as_array()) {
            std::string path = "filter.exclude[" + std::to_string(index++) + "]";
            if (!element.is_string()) wrong_type(element, "a string", path);
            Cidr cidr;
            check(element, path, [&] { cidr = detail::parse_cidr(element.as_string()->get()); });
            note(path, element);
            config_.exclude.push_back(std::move(cidr));
        }
    }

    void read_metrics(const toml::table& metrics) {
        check_keys(metrics, "metrics.", {"listen", "per_user", "per_cgroup", "label_limit"});
        if (auto s = get_string(metrics, "listen", "metrics.listen")) {
            if (!s->get().empty()) check(*s, "metrics.listen", [&] { parse_host_port(s->get()); });
            config_.metrics_listen = s->get();
        }
        if (auto b = get_boolean(metrics, "per_user", "metrics.per_user")) config_.metrics_per_user = *b;
        if (auto b = get_boolean(metrics, "per_cgroup", "metrics.per_cgroup")) config_.metrics_per_cgroup = *b;
        if (auto v = get_integer(metrics, "label_limit", "metrics.label_limit", detail::label_limit_rule))
            config_.metrics_label_limit = static_cast<std::uint32_t>(*v);
    }

    void read_flow(const toml::table& flow) {
        check_keys(flow, "flow.",
                   {"drain_interval", "idle_timeout", "active_timeout", "export_interval", "tcp_fin_linger", "max_flows",
                    "map_entries"});
        if (auto v = get_seconds(flow, "drain_interval", "flow.drain_interval", detail::drain_interval_rule))
            config_.drain_interval_ms = *v;
        if (auto v = get_seconds(flow, "idle_timeout", "flow.idle_timeout", detail::idle_timeout_rule))
            config_.idle_timeout_ms = *v;
        if (auto v = get_seconds(flow, "active_timeout", "flow.active_timeout", detail::active_timeout_rule))
            config_.active_timeout_ms = *v;
        if (auto v = get_seconds(flow, "export_interval", "flow.export_interval", detail::export_interval_rule))
            config_.export_interval_ms = *v;
        if (auto v = get_seconds(flow, "tcp_fin_linger", "flow.tcp_fin_linger", detail::tcp_fin_linger_rule))
            config_.tcp_fin_linger_ms = *v;
        if (auto v = get_integer(flow, "max_flows", "flow.max_flows", detail::max_flows_rule))
            config_.max_flows = static_cast<std::uint32_t>(*v);
        if (auto v = get_integer(flow, "map_entries", "flow.map_entries", detail::map_entries_rule))
            config_.map_entries = static_cast<std::uint32_t>(*v);
    }

    void read_collectors(const toml::node& node) {
        if (!node.is_array_of_tables())
            wrong_type(node, "an array of tables (write each collector as [[collector]])", "collector");
        std::size_t index = 0;
        for (const toml::node& element : *node.as_array()) {
            const std::string prefix = "collector[" + std::to_string(index++) + "].";
            const toml::table& table = *element.as_table();
            check_keys(table, prefix,
                       {"protocol", "address", "transport", "observation_domain", "template_refresh",
                        "template_refresh_messages", "max_message_size", "biflow", "engine_type", "engine_id",
                        "reconnect_min_interval"});
            CollectorConfig collector;
            auto address = get_string(table, "address", prefix + "address");
            if (!address)
                fail(element.source(), "collector without an address; add address = \"HOST:PORT\"", prefix + "address");
            HostPort hp;
            check(*address, prefix + "address", [&] { hp = parse_host_port(address->get()); });
            collector.host = hp.host;
            collector.port = hp.port;
            if (auto s = get_string(table, "protocol", prefix + "protocol")) {
                if (s->get() == "netflow5") {
                    collector.netflow5 = true;
                    note(prefix + "protocol", *s);
                } else {
                    collector.encoder.protocol = convert(*s, prefix + "protocol", detail::parse_protocol);
                }
            }
            if (auto s = get_string(table, "transport", prefix + "transport"))
                collector.transport = convert(*s, prefix + "transport", detail::parse_transport);
            if (auto b = get_boolean(table, "biflow", prefix + "biflow")) collector.encoder.biflow = *b;
            if (auto v = get_integer(table, "engine_type", prefix + "engine_type", detail::engine_type_rule))
                collector.engine_type = static_cast<std::uint8_t>(*v);
            if (auto v = get_integer(table, "engine_id", prefix + "engine_id", detail::engine_id_rule))
                collector.engine_id = static_cast<std::uint8_t>(*v);
            if (auto v = get_integer(table, "reconnect_min_interval", prefix + "reconnect_min_interval",
                                     detail::reconnect_min_interval_rule))
                collector.reconnect_min_interval_s = static_cast<std::uint32_t>(*v);
            if (auto v = get_integer(table, "observation_domain", prefix + "observation_domain",
                                     detail::observation_domain_rule))
                collector.encoder.observation_domain = static_cast<std::uint32_t>(*v);
            if (auto v = get_integer(table, "template_refresh", prefix + "template_refresh",
                                     detail::template_refresh_rule))
                collector.encoder.template_refresh_seconds = static_cast<std::uint32_t>(*v);
            if (auto v = get_integer(table, "template_refresh_messages", prefix + "template_refresh_messages",
                                     detail::template_refresh_messages_rule))
                collector.encoder.template_refresh_messages = static_cast<std::uint32_t>(*v);
            if (auto v = get_integer(table, "max_message_size", prefix + "max_message_size",
                                     detail::max_message_size_rule))
                collector.encoder.max_message_size = static_cast<std::size_t>(*v);
            config_.collectors.push_back(std::move(collector));
        }
    }

    void read_kafka(const toml::node& node) {
        if (!node.is_array_of_tables())
            wrong_type(node, "an array of tables (write each Kafka output as [[kafka]])", "kafka");
        std::size_t index = 0;
        for (const toml::node& element : *node.as_array()) {
            const std::string name = "kafka[" + std::to_string(index++) + "]";
            const std::string prefix = name + ".";
            const toml::table& table = *element.as_table();
            check_keys(table, prefix,
                       {"brokers", "topic", "format", "key", "compression", "max_queued_messages", "flush_timeout",
                        "exporter_id", "properties"});
            note(name, element);
            KafkaConfig kafka;
            auto brokers = get_string(table, "brokers", prefix + "brokers");
            if (!brokers)
                fail(element.source(), "Kafka output without brokers; add brokers = \"HOST:PORT[,HOST:PORT]\"",
                     prefix + "brokers");
            check(*brokers, prefix + "brokers", [&] { detail::check_kafka_brokers(brokers->get()); });
            kafka.brokers = brokers->get();
            auto topic = get_string(table, "topic", prefix + "topic");
            if (!topic) fail(element.source(), "Kafka output without a topic; add topic = \"NAME\"", prefix + "topic");
            check(*topic, prefix + "topic", [&] { detail::check_kafka_topic(topic->get()); });
            kafka.topic = topic->get();
            if (auto s = get_string(table, "format", prefix + "format"))
                kafka.format = convert(*s, prefix + "format", detail::parse_kafka_format);
            if (auto s = get_string(table, "key", prefix + "key"))
                kafka.key = convert(*s, prefix + "key", detail::parse_kafka_key);
            if (auto s = get_string(table, "compression", prefix + "compression"))
                kafka.compression = convert(*s, prefix + "compression", detail::parse_kafka_compression);
            if (auto v = get_integer(table, "max_queued_messages", prefix + "max_queued_messages",
                                     detail::kafka_max_queued_rule))
                kafka.max_queued_messages = static_cast<std::uint32_t>(*v);
            if (auto v = get_seconds(table, "flush_timeout", prefix + "flush_timeout", detail::kafka_flush_timeout_rule))
                kafka.flush_timeout_ms = *v;
            if (auto s = get_string(table, "exporter_id", prefix + "exporter_id")) {
                if (s->get().find('\0') != std::string::npos)
                    fail(s->source(), "exporter_id contains a NUL byte", prefix + "exporter_id");
                kafka.exporter_id = s->get();
            }
            if (const toml::table* properties = get_table(table, "properties", prefix + "properties")) {
                for (auto&& [key, value] : *properties) {
                    const std::string property(key.str());
                    const std::string path = prefix + "properties." + detail::quoted(property);
                    if (!value.is_string()) wrong_type(value, "a string (librdkafka takes every value as text)", path);
                    const std::string& text = value.as_string()->get();
                    check(value, path, [&] { detail::check_kafka_property(property, text); });
                    note(path, value);
                    kafka.properties[property] = text;
                }
            }
            config_.kafka.push_back(std::move(kafka));
        }
    }

    void read_log(const toml::table& log) {
        check_keys(log, "log.", {"format", "file", "max_export_per_cycle", "per_user"});
        if (auto s = get_string(log, "format", "log.format"))
            config_.log_format = convert(*s, "log.format", detail::parse_log_format);
        if (auto s = get_string(log, "file", "log.file")) {
            check(*s, "log.file", [&] { detail::check_file_name(s->get()); });
            config_.log_file = s->get();
        }
        if (auto v = get_integer(log, "max_export_per_cycle", "log.max_export_per_cycle",
                                 detail::max_export_per_cycle_rule))
            config_.max_export_per_cycle = static_cast<std::uint32_t>(*v);
        if (auto s = get_string(log, "per_user", "log.per_user")) {
            // "" = no per-user logs.
            if (!s->get().empty()) check(*s, "log.per_user", [&] { detail::check_directory_name(s->get()); });
            config_.per_user_log = s->get();
        }
    }

    void read_stats(const toml::table& stats) {
        check_keys(stats, "stats.", {"file", "format"});
        if (auto s = get_string(stats, "file", "stats.file")) {
            // "" = off; anything else must be a usable name.
            if (!s->get().empty()) check(*s, "stats.file", [&] { detail::check_file_name(s->get()); });
            config_.stats_file = s->get();
        }
        if (auto s = get_string(stats, "format", "stats.format"))
            config_.stats_format = convert(*s, "stats.format", detail::parse_stats_format);
    }

    std::string source_;
    Config& config_;
};

Config parse_unvalidated(std::string_view toml_text, std::string_view source_name) {
    Config config;
    config.source_file = std::string(source_name);
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        throw ConfigError(std::string(source_name) + ":" + std::to_string(e.source().begin.line) + ":" +
                          std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    }
    FileReader(source_name, config).read(root);
    return config;
}

// A configuration file is small; the cap keeps /dev/zero or a wrong path from eating memory.
constexpr std::size_t max_file_size = 1 << 20;

std::string read_file(const std::string& path) {
    // open() of a socket fails with ENXIO, which would not say why.
    if (struct stat st {}; ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        throw ConfigError(path + ": is a socket, not a configuration file (softflowd's -c names its control socket; "
                                 "ebpfix's -c names the configuration file)");
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ConfigError(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw ConfigError(path + ": is a directory, not a configuration file");
    }
    std::string text;
    char buf[65536];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            throw ConfigError(path + ": cannot read: " + std::strerror(err));
        }
        if (n == 0) break;
        text.append(buf, std::size_t(n));
        if (text.size() > max_file_size) {
            ::close(fd);
            throw ConfigError(path + ": larger than " + std::to_string(max_file_size) +
                              " bytes; not a configuration file");
        }
    }
    ::close(fd);
    return text;
}

Config load_unvalidated(const std::string& path) { return parse_unvalidated(read_file(path), path); }

// Settings left unset get their defaults that depend on other settings.
void apply_dependent_defaults(Config& config) {
    // No collector (or a log file named) and no format chosen: the text log, so that
    // `ebpfix eth0` shows flows on stdout. A timed run with neither prints its summary
    // instead (unless the summary is turned off).
    if (config.origins.count("log.format") == 0) {
        const bool log_file_named = config.origins.count("log.file") != 0;
        const bool summary_is_output = config.run_timeout_ms > 0 && config.summary.value_or(true);
        if (config.collectors.empty() && config.kafka.empty() && !log_file_named)
            config.log_format = summary_is_output ? OutputFormat::none : OutputFormat::text;
        else
            config.log_format = log_file_named ? OutputFormat::text : OutputFormat::none;
    }
    // The default cgroup is the whole cgroup v2 hierarchy, wherever this machine mounts it.
    if (config.origins.count("cgroup") == 0)
        if (const std::string root = cgroup2_root(); !root.empty()) config.cgroup_path = root;
    // Cgroup mode sees the sockets: naming their owners is what it is for.
    if (config.origins.count("attribution.enabled") == 0) config.attribution = config.capture == CaptureMode::cgroup;
    // Without a collector the log is the output: flowcap's periodic snapshots, so that a
    // long flow shows up within 10 s (or one drain, if drains are further apart).
    // Collectors get records at the active timeout, as NetFlow collectors expect.
    if (config.origins.count("flow.export_interval") == 0)
        config.export_interval_ms = config.collectors.empty() && config.kafka.empty()
                                        ? std::max<std::uint64_t>(10000, config.drain_interval_ms)
                                        : 0;
}

}  // namespace

namespace detail {

std::string place_of(const Config& config, const std::string& key_path) {
    auto known = [&](const std::string& key) -> const std::string* {
        auto it = config.origins.find(key);
        return it == config.origins.end() ? nullptr : &it->second;
    };
    if (const std::string* p = known(key_path)) return *p;
    if (key_path.starts_with("collector[")) {
        if (const std::string* p = known(key_path.substr(0, key_path.find(']') + 2) + "address")) return *p;
    }
    if (key_path.starts_with("kafka[")) {
        if (const std::string* p = known(key_path.substr(0, key_path.find(']') + 1))) return *p;
    }
    if (key_path.starts_with("interfaces[")) {
        if (const std::string* p = known("interfaces")) return *p;
    }
    if (key_path.starts_with("filter.exclude[")) {
        if (const std::string* p = known("filter.exclude")) return *p;
    }
    return config.source_file.empty() ? "configuration" : config.source_file;
}

}  // namespace detail

namespace {

using detail::place_of;

[[noreturn]] void fail_at(const Config& config, const std::string& key_path, const std::string& message) {
    throw ConfigError(place_of(config, key_path) + ": " + message + " (" + key_path + ")");
}

template <typename F>
void check_at(const Config& config, const std::string& key_path, F&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        fail_at(config, key_path, e.what());
    }
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
    return out;
}

}  // namespace

Config parse_config_text(std::string_view toml_text, std::string_view source_name) {
    Config config = parse_unvalidated(toml_text, source_name);
    apply_dependent_defaults(config);
    validate(config);
    return config;
}

Config load_config_file(const std::string& path) {
    return parse_config_text(read_file(path), path);
}

void validate(const Config& c) {
    for (std::size_t i = 0; i < c.interfaces.size(); ++i) {
        std::string key = "interfaces[" + std::to_string(i) + "]";
        check_at(c, key, [&] { detail::check_interface_name(c.interfaces[i]); });
        for (std::size_t j = 0; j < i; ++j)
            if (c.interfaces[j] == c.interfaces[i]) fail_at(c, key, "interface '" + c.interfaces[i] + "' is listed twice");
    }

    // Capture: the XDP keys apply to XDP only, and cgroup mode has no devices.
    if (c.capture != CaptureMode::xdp && c.capture != CaptureMode::tc && c.capture != CaptureMode::cgroup)
        fail_at(c, "capture", "unknown capture mode");
    const std::string capture_place =
        c.origins.count("capture") ? "set at " + place_of(c, "capture") : std::string("the default");
    if (c.capture != CaptureMode::xdp) {
        for (const char* key : {"xdp_mode", "xdp_only"})
            if (c.origins.count(key))
                fail_at(c, key, std::string(key) + " applies to capture = \"xdp\" only, and capture is \"" +
                                    std::string(to_string(c.capture)) + "\" (" + capture_place + ")");
    }
    if (c.xdp_mode != XdpMode::automatic && c.xdp_mode != XdpMode::native && c.xdp_mode != XdpMode::generic)
        fail_at(c, "xdp_mode", "unknown XDP mode");
    if (c.capture == CaptureMode::cgroup && !c.interfaces.empty())
        fail_at(c, "interfaces", "cgroup mode watches sockets, not devices: remove the interfaces, or set capture to "
                                 "\"tc\" or \"xdp\" (capture = \"cgroup\" " + capture_place + ")");
    check_at(c, "cgroup", [&] { detail::check_cgroup_path(c.cgroup_path); });
    if (!c.control_socket.empty()) check_at(c, "control", [&] { detail::check_socket_path(c.control_socket); });
    check_at(c, "control_group", [&] { detail::check_group_name(c.control_group); });

    const struct {
        std::uint64_t ms;
        const detail::SecondsRule& rule;
    } durations[] = {{c.drain_interval_ms, detail::drain_interval_rule},
                     {c.idle_timeout_ms, detail::idle_timeout_rule},
                     {c.active_timeout_ms, detail::active_timeout_rule},
                     {c.tcp_fin_linger_ms, detail::tcp_fin_linger_rule}};
    for (const auto& d : durations) check_at(c, std::string(d.rule.key), [&] { detail::check_ms(d.ms, d.rule); });
    // A flow must be seen by at least one drain before it can go idle.
    if (c.drain_interval_ms >= c.idle_timeout_ms) {
        bool drain_set = c.origins.count("flow.drain_interval") != 0;
        std::string key = drain_set ? "flow.drain_interval" : "flow.idle_timeout";
        std::string other = drain_set ? "flow.idle_timeout" : "flow.drain_interval";
        std::string message = "drain_interval (" + detail::format_ms(c.drain_interval_ms) +
                              ") must be shorter than idle_timeout (" + detail::format_ms(c.idle_timeout_ms);
        if (c.origins.count(other) && place_of(c, other) != place_of(c, key))
            message += ", set at " + place_of(c, other);
        fail_at(c, key, message + ")");
    }
    // Snapshots between drains would find nothing new.
    check_at(c, "flow.export_interval", [&] { detail::check_ms(c.export_interval_ms, detail::export_interval_rule); });
    if (c.export_interval_ms > 0 && c.export_interval_ms < c.drain_interval_ms) {
        bool export_set = c.origins.count("flow.export_interval") != 0;
        std::string key = export_set ? "flow.export_interval" : "flow.drain_interval";
        std::string other = export_set ? "flow.drain_interval" : "flow.export_interval";
        std::string message = "export_interval (" + detail::format_ms(c.export_interval_ms) +
                              ") must be 0 (off) or at least drain_interval (" + detail::format_ms(c.drain_interval_ms);
        if (c.origins.count(other) && place_of(c, other) != place_of(c, key))
            message += ", set at " + place_of(c, other);
        fail_at(c, key, message + ")");
    }
    check_at(c, "flow.max_flows", [&] { detail::check_integer(c.max_flows, detail::max_flows_rule); });
    check_at(c, "flow.map_entries", [&] { detail::check_integer(c.map_entries, detail::map_entries_rule); });

    check_at(c, "sampling.interval", [&] { detail::check_integer(c.sample_interval, detail::sample_interval_rule); });
    if (c.sample_algorithm != SampleAlgorithm::random && c.sample_algorithm != SampleAlgorithm::hash)
        fail_at(c, "sampling.algorithm", "unknown sampling algorithm");
    std::size_t per_family[2] = {0, 0};
    for (std::size_t i = 0; i < c.exclude.size(); ++i) {
        const std::string key = "filter.exclude[" + std::to_string(i) + "]";
        check_at(c, key, [&] { detail::check_cidr(c.exclude[i]); });
        // Duplicates are harmless, but each takes a slot of the kernel map.
        if (++per_family[c.exclude[i].family == 6 ? 1 : 0] > detail::max_exclude_per_family)
            fail_at(c, key, "more than " + std::to_string(detail::max_exclude_per_family) + " IPv" +
                                std::to_string(c.exclude[i].family) +
                                " entries in filter.exclude (the size of the kernel's exclude map)");
    }

    for (std::size_t i = 0; i < c.collectors.size(); ++i) {
        const CollectorConfig& cc = c.collectors[i];
        const std::string prefix = "collector[" + std::to_string(i) + "].";
        auto key_for = [&](std::string_view field) { return prefix + std::string(field); };
        check_at(c, prefix + "address", [&] {
            detail::check_host(cc.host);
            if (cc.port == 0) throw std::invalid_argument("port must be a number from 1 to 65535");
        });
        const auto& e = cc.encoder;
        if (e.protocol != ipfix::Protocol::ipfix && e.protocol != ipfix::Protocol::netflow9)
            fail_at(c, key_for("protocol"), "unknown protocol");
        if (cc.transport != Transport::udp && cc.transport != Transport::tcp)
            fail_at(c, key_for("transport"), "unknown transport");
        // Keys that mean nothing for this collector's protocol or transport are refused
        // where they are written (a key left at its default has no origin).
        const std::string protocol_place =
            c.origins.count(key_for("protocol")) ? "set at " + place_of(c, key_for("protocol")) : "the default";
        const std::string protocol_text = "protocol is \"" + std::string(cc.protocol_name()) + "\" (" + protocol_place + ")";
        auto refuse_set = [&](std::string_view field, const std::string& why) {
            if (c.origins.count(key_for(field))) fail_at(c, key_for(field), std::string(field) + " " + why);
        };
        if (cc.netflow5) {
            const std::string why = "does not apply to NetFlow v5, which has no templates, observation domains or "
                                    "biflows (" + protocol_text + ")";
            for (std::string_view field : {"observation_domain", "template_refresh", "template_refresh_messages",
                                           "max_message_size", "biflow", "reconnect_min_interval"})
                refuse_set(field, why);
            if (cc.transport == Transport::tcp)
                fail_at(c, key_for("transport"), "transport \"tcp\" is IPFIX only (RFC 7011 section 10.4); NetFlow v5 "
                                                 "goes over UDP (" + protocol_text + ")");
            if (e.biflow) fail_at(c, key_for("biflow"), "biflow is IPFIX only (RFC 5103) (" + protocol_text + ")");
        } else {
            for (std::string_view field : {"engine_type", "engine_id"})
                refuse_set(field, "applies to protocol = \"netflow5\" only (" + protocol_text + ")");
            if (cc.transport == Transport::tcp && e.protocol != ipfix::Protocol::ipfix)
                fail_at(c, key_for("transport"), "transport \"tcp\" is IPFIX only (RFC 7011 section 10.4) (" +
                                                     protocol_text + ")");
            if (e.biflow && e.protocol != ipfix::Protocol::ipfix)
                fail_at(c, key_for("biflow"), "biflow is IPFIX only (RFC 5103) (" + protocol_text + ")");
        }
        const std::string transport_place =
            c.origins.count(key_for("transport")) ? "set at " + place_of(c, key_for("transport")) : "the default";
        if (cc.transport == Transport::tcp) {
            // Templates go once per connection over TCP; the refresh in seconds stays the options' cadence.
            refuse_set("template_refresh_messages",
                       "does not apply over TCP, where every connection gets the templates once (transport is \"tcp\", " +
                           transport_place + ")");
        } else {
            refuse_set("reconnect_min_interval", "applies to transport = \"tcp\" only (transport is \"udp\", " +
                                                     transport_place + ")");
        }
        check_at(c, key_for("reconnect_min_interval"),
                 [&] { detail::check_integer(cc.reconnect_min_interval_s, detail::reconnect_min_interval_rule); });
        // A NetFlow v5 header holds a sampling interval of 14 bits.
        if (cc.netflow5 && c.sample_interval > detail::netflow5_max_sample_interval) {
            const bool sampling_set = c.origins.count("sampling.interval") != 0;
            const std::string key = sampling_set ? "sampling.interval" : key_for("protocol");
            fail_at(c, key, "sampling interval " + std::to_string(c.sample_interval) +
                                " does not fit a NetFlow v5 header (at most " +
                                std::to_string(detail::netflow5_max_sample_interval) + "): sampling.interval " +
                                (sampling_set ? "set at " + place_of(c, "sampling.interval") : std::string("the default")) +
                                ", collector " + cc.source() + " is netflow5 (" + place_of(c, key_for("protocol")) + ")");
        }
        check_at(c, key_for("observation_domain"),
                 [&] { detail::check_integer(e.observation_domain, detail::observation_domain_rule); });
        check_at(c, key_for("template_refresh"),
                 [&] { detail::check_integer(e.template_refresh_seconds, detail::template_refresh_rule); });
        check_at(c, key_for("template_refresh_messages"), [&] {
            detail::check_integer(e.template_refresh_messages, detail::template_refresh_messages_rule);
        });
        check_at(c, key_for("max_message_size"), [&] {
            if (e.max_message_size > std::size_t(detail::max_message_size_rule.max))
                throw std::invalid_argument("must be between 256 and 65507, got " +
                                            std::to_string(e.max_message_size));
            detail::check_integer(std::int64_t(e.max_message_size), detail::max_message_size_rule);
        });
        for (std::size_t j = 0; j < i; ++j) {
            const CollectorConfig& earlier = c.collectors[j];
            if (lower(earlier.host) == lower(cc.host) && earlier.port == cc.port && earlier.transport == cc.transport)
                fail_at(c, prefix + "address",
                        "collector " + cc.source() + " is configured twice (first at " +
                            place_of(c, "collector[" + std::to_string(j) + "].address") + ")");
        }
    }

    for (std::size_t i = 0; i < c.kafka.size(); ++i) {
        const KafkaConfig& k = c.kafka[i];
        const std::string prefix = "kafka[" + std::to_string(i) + "].";
        check_at(c, prefix + "brokers", [&] { detail::check_kafka_brokers(k.brokers); });
        check_at(c, prefix + "topic", [&] { detail::check_kafka_topic(k.topic); });
        check_at(c, prefix + "compression", [&] { detail::parse_kafka_compression(k.compression); });
        check_at(c, prefix + "max_queued_messages",
                 [&] { detail::check_integer(k.max_queued_messages, detail::kafka_max_queued_rule); });
        check_at(c, prefix + "flush_timeout", [&] { detail::check_ms(k.flush_timeout_ms, detail::kafka_flush_timeout_rule); });
        for (std::size_t j = 0; j < i; ++j)
            if (c.kafka[j].brokers == k.brokers && c.kafka[j].topic == k.topic)
                fail_at(c, prefix + "topic", "Kafka output " + k.brokers + "/" + k.topic + " is configured twice (first at " +
                                                 place_of(c, "kafka[" + std::to_string(j) + "].topic") + ")");
    }

    check_at(c, "log.file", [&] { detail::check_file_name(c.log_file); });
    check_at(c, "log.max_export_per_cycle",
             [&] { detail::check_integer(c.max_export_per_cycle, detail::max_export_per_cycle_rule); });
    if (!c.per_user_log.empty()) check_at(c, "log.per_user", [&] { detail::check_directory_name(c.per_user_log); });
    if (c.run_timeout_ms > 0) check_at(c, "timeout", [&] { detail::check_ms(c.run_timeout_ms, detail::run_timeout_rule); });
    if (!c.dot_file.empty()) check_at(c, "graph.dot", [&] { detail::check_file_name(c.dot_file); });
    // The other outputs of flows: per-user logs, the graph, the summary of a timed run.
    const bool other_output = !c.per_user_log.empty() || !c.dot_file.empty() ||
                              c.summary.value_or(c.run_timeout_ms > 0);
    if (c.collectors.empty() && c.kafka.empty() && c.log_format == OutputFormat::none && !other_output)
        fail_at(c, "log.format", "no collector and no flow log: flows would go nowhere; add a [[collector]] or a log format");
    if (!c.stats_file.empty()) check_at(c, "stats.file", [&] { detail::check_file_name(c.stats_file); });
    if (c.stats_format == OutputFormat::none) fail_at(c, "stats.format", "stats format must be text or json");
    if (!c.metrics_listen.empty()) check_at(c, "metrics.listen", [&] { parse_host_port(c.metrics_listen); });
    check_at(c, "metrics.label_limit", [&] { detail::check_integer(c.metrics_label_limit, detail::label_limit_rule); });
    if (!c.user.empty()) check_at(c, "privileges.user", [&] { detail::check_user_name(c.user); });
    if (!c.pcap_file.empty()) check_at(c, "pcap", [&] { detail::check_file_name(c.pcap_file); });
}

Config resolve(const CommandLine& cl) {
    Config c;
    if (cl.config_file_given) {
        c = load_unvalidated(cl.config_file);
    } else {
        std::error_code ec;
        // The default file is optional: `ebpfix eth0` works without one.
        if (std::filesystem::exists(cl.config_file, ec)) c = load_unvalidated(cl.config_file);
    }

    const std::string cmd = "command line";
    // The option as the user wrote it ("-timeout", "-t general") when the parser noted it.
    auto from_cli = [&](const std::string& key, std::string_view option) {
        auto spelled = cl.spellings.find(key);
        c.origins[key] = cmd + " (" + (spelled != cl.spellings.end() ? spelled->second : std::string(option)) + ")";
    };
    auto erase_prefix = [&](std::string_view prefix) {
        for (auto it = c.origins.begin(); it != c.origins.end();)
            it = it->first.starts_with(prefix) ? c.origins.erase(it) : std::next(it);
    };

    if (!cl.interfaces.empty()) {
        c.interfaces = cl.interfaces;
        erase_prefix("interfaces");
        from_cli("interfaces", "IFACE");
    }
    if (!cl.collectors.empty()) {
        c.collectors = cl.collectors;
        erase_prefix("collector[");
        for (std::size_t i = 0; i < cl.collectors.size(); ++i) {
            const std::string prefix = "collector[" + std::to_string(i) + "].";
            const std::string option = i < cl.collector_options.size() ? cl.collector_options[i] : "--ipfix/--netflow9";
            from_cli(prefix + "address", option);
            from_cli(prefix + "protocol", option);
            if (cl.collectors[i].transport == Transport::tcp) from_cli(prefix + "transport", option);
            if (cl.collectors[i].encoder.biflow) from_cli(prefix + "biflow", "-b");
        }
    }
    if (cl.log_format) {
        c.log_format = *cl.log_format;
        from_cli("log.format", "--log");
    }
    if (cl.log_file) {
        c.log_file = *cl.log_file;
        from_cli("log.file", "--log-file");
    }
    if (cl.stats_file) {
        c.stats_file = *cl.stats_file;
        from_cli("stats.file", "--stats-file");
    }
    if (cl.stats_format) {
        c.stats_format = *cl.stats_format;
        from_cli("stats.format", "--stats-format");
    }
    if (cl.drain_interval_ms) {
        c.drain_interval_ms = *cl.drain_interval_ms;
        from_cli("flow.drain_interval", "--drain-interval");
    }
    if (cl.active_timeout_ms) {
        c.active_timeout_ms = *cl.active_timeout_ms;
        from_cli("flow.active_timeout", "--active-timeout");
    }
    if (cl.idle_timeout_ms) {
        c.idle_timeout_ms = *cl.idle_timeout_ms;
        from_cli("flow.idle_timeout", "--idle-timeout");
    }
    if (cl.tcp_fin_linger_ms) {
        c.tcp_fin_linger_ms = *cl.tcp_fin_linger_ms;
        from_cli("flow.tcp_fin_linger", "-t tcp.fin");
    }
    if (cl.export_interval_ms) {
        c.export_interval_ms = *cl.export_interval_ms;
        from_cli("flow.export_interval", "--interval");
    }
    if (cl.max_flows) {
        c.max_flows = *cl.max_flows;
        from_cli("flow.max_flows", "--max-flows");
    }
    if (cl.max_export_per_cycle) {
        c.max_export_per_cycle = *cl.max_export_per_cycle;
        from_cli("log.max_export_per_cycle", "--max-export-per-cycle");
    }
    if (cl.verbose) {
        c.verbose = true;
        from_cli("verbose", "--verbose");
    }
    if (cl.metrics_listen) {
        c.metrics_listen = *cl.metrics_listen;
        from_cli("metrics.listen", "--metrics-addr");
    }
    if (cl.pcap_file) {
        // A capture replaces the live interfaces (the file's list does not apply).
        c.pcap_file = *cl.pcap_file;
        c.interfaces.clear();
        erase_prefix("interfaces");
        from_cli("pcap", "--pcap");
    }
    if (cl.attach_mode) {
        c.attach_mode = *cl.attach_mode;
        from_cli("attach", "--attach");
    }
    if (cl.capture) {
        c.capture = *cl.capture;
        from_cli("capture", *cl.capture == CaptureMode::cgroup ? "--cgroup" : "--xdp");
        if (c.capture != CaptureMode::xdp) {
            // The file's XDP settings do not apply to this run.
            c.xdp_mode = XdpMode::automatic;
            c.xdp_only = false;
            c.origins.erase("xdp_mode");
            c.origins.erase("xdp_only");
        }
        if (c.capture == CaptureMode::cgroup) {
            // Sockets replace devices (the file's list does not apply), as for --pcap.
            c.interfaces.clear();
            erase_prefix("interfaces");
        }
    }
    if (cl.xdp_mode) {
        c.xdp_mode = *cl.xdp_mode;
        from_cli("xdp_mode", "--xdp-mode");
    }
    if (cl.xdp_only) {
        c.xdp_only = true;
        from_cli("xdp_only", "--xdp-only");
    }
    if (cl.cgroup_path) {
        c.cgroup_path = *cl.cgroup_path;
        from_cli("cgroup", "--cgroup");
    }
    if (cl.sample_interval) {
        c.sample_interval = *cl.sample_interval;
        from_cli("sampling.interval", "--sample");
    }
    if (cl.sample_algorithm) {
        c.sample_algorithm = *cl.sample_algorithm;
        from_cli("sampling.algorithm", "--sample-algorithm");
    }
    if (!cl.exclude.empty()) {
        c.exclude = cl.exclude;
        erase_prefix("filter.exclude");
        from_cli("filter.exclude", "--exclude");
        for (std::size_t i = 0; i < cl.exclude.size(); ++i)
            from_cli("filter.exclude[" + std::to_string(i) + "]",
                     i < cl.exclude_options.size() ? cl.exclude_options[i] : "--exclude");
    }
    if (cl.attribution) {
        c.attribution = true;
        from_cli("attribution.enabled", "--attribution");
    }
    if (cl.per_user_log) {
        c.per_user_log = *cl.per_user_log;
        from_cli("log.per_user", "--per-user-log");
    }
    if (cl.control_socket) {
        c.control_socket = *cl.control_socket;
        from_cli("control", "--control");
    }
    if (cl.run_timeout_ms) {
        c.run_timeout_ms = *cl.run_timeout_ms;
        from_cli("timeout", "--timeout");
    }
    if (cl.summary) {
        c.summary = *cl.summary;
        from_cli("summary", *cl.summary ? "--summary" : "--no-summary");
    }
    if (cl.json) {
        c.json = true;
        from_cli("json", "--json");
    }
    if (cl.dot_file) {
        c.dot_file = *cl.dot_file;
        from_cli("graph.dot", "--dot");
    }

    apply_dependent_defaults(c);
    // Cgroup mode hooks sockets: no device needed.
    if (c.interfaces.empty() && c.pcap_file.empty() && c.capture != CaptureMode::cgroup) {
        if (c.source_file.empty())
            throw UsageError("no interface to watch: name one (e.g. `ebpfix eth0`), or give --pcap FILE or --cgroup PATH");
        throw ConfigError(place_of(c, "interfaces") +
                          ": no interface to watch: set interfaces = [\"eth0\"] (or capture = \"cgroup\") or name one "
                          "on the command line (interfaces)");
    }
    validate(c);
    c.command_line = cl.arguments;
    return c;
}

Config reload_config(const Config& current) {
    std::vector<const char*> argv{"ebpfix"};
    for (const auto& a : current.command_line) argv.push_back(a.c_str());
    CommandLine cl = parse_command_line(int(argv.size()), argv.data());
    if (!current.source_file.empty()) {
        cl.config_file = current.source_file;
        cl.config_file_given = true;  // the file we started with must still be there
    }
    return resolve(cl);
}

std::vector<std::string> diff(const Config& before, const Config& after) {
    std::vector<std::string> lines;
    auto list = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
        return out.empty() ? std::string("(none)") : out;
    };
    auto text = [](const std::string& s) { return s.empty() ? std::string("(off)") : s; };
    auto line = [&](std::string_view key, const std::string& from, const std::string& to) {
        if (from != to) lines.push_back(std::string(key) + ": " + from + " -> " + to);
    };
    auto on_off = [](bool b) { return std::string(b ? "on" : "off"); };
    line("interfaces", list(before.interfaces), list(after.interfaces));
    line("attach", std::string(to_string(before.attach_mode)), std::string(to_string(after.attach_mode)));
    line("capture", std::string(to_string(before.capture)), std::string(to_string(after.capture)));
    line("xdp_mode", std::string(to_string(before.xdp_mode)), std::string(to_string(after.xdp_mode)));
    line("xdp_only", on_off(before.xdp_only), on_off(after.xdp_only));
    line("cgroup", before.cgroup_path, after.cgroup_path);
    line("control", text(before.control_socket), text(after.control_socket));
    line("control_group", before.control_group, after.control_group);
    line("flow.map_entries", std::to_string(before.map_entries), std::to_string(after.map_entries));
    line("flow.drain_interval", detail::format_ms(before.drain_interval_ms), detail::format_ms(after.drain_interval_ms));
    line("flow.idle_timeout", detail::format_ms(before.idle_timeout_ms), detail::format_ms(after.idle_timeout_ms));
    line("flow.active_timeout", detail::format_ms(before.active_timeout_ms), detail::format_ms(after.active_timeout_ms));
    line("flow.tcp_fin_linger", detail::format_ms(before.tcp_fin_linger_ms), detail::format_ms(after.tcp_fin_linger_ms));
    auto interval = [](std::uint64_t ms) { return ms == 0 ? std::string("(off)") : detail::format_ms(ms); };
    line("flow.export_interval", interval(before.export_interval_ms), interval(after.export_interval_ms));
    line("flow.max_flows", std::to_string(before.max_flows), std::to_string(after.max_flows));
    auto sampling = [](std::uint32_t n) { return n == 1 ? std::string("1 (every packet)") : "1 in " + std::to_string(n); };
    line("sampling.interval", sampling(before.sample_interval), sampling(after.sample_interval));
    line("sampling.algorithm", std::string(to_string(before.sample_algorithm)),
         std::string(to_string(after.sample_algorithm)));
    auto cidrs = [](const std::vector<Cidr>& v) {
        std::string out;
        for (const auto& cidr : v) out += (out.empty() ? "" : ", ") + cidr.text;
        return out.empty() ? std::string("(none)") : out;
    };
    line("filter.exclude", cidrs(before.exclude), cidrs(after.exclude));

    auto describe = [](const CollectorConfig& cc) {
        const auto& e = cc.encoder;
        if (cc.netflow5)
            return "netflow5 " + cc.source() + " (engine_type " + std::to_string(cc.engine_type) + ", engine_id " +
                   std::to_string(cc.engine_id) + ")";
        std::string extra;
        if (cc.transport == Transport::tcp)
            extra += ", transport tcp, reconnect_min_interval " + std::to_string(cc.reconnect_min_interval_s) + " s";
        if (e.biflow) extra += ", biflow";
        return std::string(detail::to_string(e.protocol)) + " " + cc.source() +
               " (observation_domain " + std::to_string(e.observation_domain) + ", template_refresh " +
               std::to_string(e.template_refresh_seconds) + " s / " + std::to_string(e.template_refresh_messages) +
               " messages, max_message_size " + std::to_string(e.max_message_size) + extra + ")";
    };
    for (const auto& cc : before.collectors) {
        std::string d = describe(cc);
        bool kept = std::any_of(after.collectors.begin(), after.collectors.end(),
                                [&](const CollectorConfig& x) { return describe(x) == d; });
        if (!kept) lines.push_back("collector removed: " + d);
    }
    for (const auto& cc : after.collectors) {
        std::string d = describe(cc);
        bool existed = std::any_of(before.collectors.begin(), before.collectors.end(),
                                   [&](const CollectorConfig& x) { return describe(x) == d; });
        if (!existed) lines.push_back("collector added: " + d);
    }

    auto describe_kafka = [](const KafkaConfig& k) {
        // Property values may be secrets: only their names are logged.
        std::string properties;
        for (const auto& [name, value] : k.properties) properties += (properties.empty() ? "" : ", ") + name;
        return "kafka " + k.brokers + "/" + k.topic + " (format " + std::string(to_string(k.format)) + ", key " +
               std::string(to_string(k.key)) + ", compression " + k.compression + ", max_queued_messages " +
               std::to_string(k.max_queued_messages) + ", flush_timeout " + detail::format_ms(k.flush_timeout_ms) +
               ", exporter_id " + (k.exporter_id.empty() ? std::string("(host name)") : k.exporter_id) +
               ", properties " + (properties.empty() ? std::string("(none)") : properties) + ")";
    };
    // Equal descriptions with different property values (a new password) are a change too.
    auto same_kafka = [&](const KafkaConfig& a, const KafkaConfig& b) {
        return describe_kafka(a) == describe_kafka(b) && a.properties == b.properties;
    };
    for (const auto& k : before.kafka)
        if (std::none_of(after.kafka.begin(), after.kafka.end(), [&](const KafkaConfig& x) { return same_kafka(k, x); }))
            lines.push_back("kafka output removed: " + describe_kafka(k));
    for (const auto& k : after.kafka)
        if (std::none_of(before.kafka.begin(), before.kafka.end(), [&](const KafkaConfig& x) { return same_kafka(k, x); }))
            lines.push_back("kafka output added: " + describe_kafka(k));

    line("log.format", std::string(to_string(before.log_format)), std::string(to_string(after.log_format)));
    line("log.file", before.log_file, after.log_file);
    line("log.max_export_per_cycle", std::to_string(before.max_export_per_cycle),
         std::to_string(after.max_export_per_cycle));
    line("log.per_user", text(before.per_user_log), text(after.per_user_log));
    line("stats.file", text(before.stats_file), text(after.stats_file));
    line("stats.format", std::string(to_string(before.stats_format)), std::string(to_string(after.stats_format)));
    line("metrics.listen", text(before.metrics_listen), text(after.metrics_listen));
    line("metrics.per_user", on_off(before.metrics_per_user), on_off(after.metrics_per_user));
    line("metrics.per_cgroup", on_off(before.metrics_per_cgroup), on_off(after.metrics_per_cgroup));
    line("metrics.label_limit", std::to_string(before.metrics_label_limit), std::to_string(after.metrics_label_limit));
    line("attribution.enabled", on_off(before.attribution), on_off(after.attribution));
    auto enterprise = [](std::uint32_t pen) { return pen == 0 ? std::string("(off)") : std::to_string(pen); };
    line("attribution.ipfix_enterprise", enterprise(before.ipfix_enterprise), enterprise(after.ipfix_enterprise));
    line("graph.dot", text(before.dot_file), text(after.dot_file));
    line("privileges.user", text(before.user), text(after.user));
    line("pcap", text(before.pcap_file), text(after.pcap_file));
    line("verbose", on_off(before.verbose), on_off(after.verbose));
    auto timeout = [](std::uint64_t ms) { return ms == 0 ? std::string("(off)") : detail::format_ms(ms); };
    line("timeout", timeout(before.run_timeout_ms), timeout(after.run_timeout_ms));
    auto summary = [](const std::optional<bool>& s) { return s ? std::string(*s ? "on" : "off") : std::string("auto"); };
    line("summary", summary(before.summary), summary(after.summary));
    line("json", on_off(before.json), on_off(after.json));
    return lines;
}

}  // namespace ebpfix::config
