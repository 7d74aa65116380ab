#include "sinks/tcp_collector.hpp"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

#include "common/log.hpp"
#include "ipfix/wire.hpp"
#include "sinks/udp_collector.hpp"

namespace ebpfix::sinks {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

constexpr std::size_t k_header = 16;               // RFC 7011 section 3.1
constexpr std::size_t k_set_header = 4;
constexpr std::uint16_t k_template_set = 2, k_options_template_set = 3;
constexpr std::size_t k_gather = 64;               // messages per sendmsg()
constexpr std::size_t k_gather_bytes = 256 << 10;  // bytes per sendmsg()
// Unacknowledged data is looked at this often, doubling while nothing moves.
constexpr milliseconds k_first_ack_poll{2}, k_longest_ack_poll{200};

std::uint16_t get_u16(const std::uint8_t* p) noexcept { return std::uint16_t(p[0] << 8 | p[1]); }
std::uint32_t get_u32(const std::uint8_t* p) noexcept {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

bool contains(const std::vector<std::uint16_t>& sorted, std::uint16_t id) {
    return std::binary_search(sorted.begin(), sorted.end(), id);
}
void insert_sorted(std::vector<std::uint16_t>& sorted, std::uint16_t id) {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), id);
    if (it == sorted.end() || *it != id) sorted.insert(it, id);
}

std::string ms_text(milliseconds ms) { return std::to_string(ms.count()) + "ms"; }

ipfix::EncoderOptions tcp_encoder_options(const TcpCollectorSettings& s, const std::string& name) {
    if (s.encoder.protocol != ipfix::Protocol::ipfix)
        throw std::invalid_argument("collector " + name +
                                    ": only IPFIX goes over TCP (NetFlow v9 defines UDP transport only)");
    ipfix::EncoderOptions o = s.encoder;
    // The sink announces templates itself, once per connection, and cuts the encoder's
    // announcements out of its messages: the encoder never needs to refresh them.
    o.template_refresh_messages = 0;
    o.template_refresh_seconds = std::numeric_limits<std::uint32_t>::max();
    return o;
}

std::array<std::uint8_t, 16> address_bytes(const asio::ip::address& a) {
    if (a.is_v4()) return FlowKey::mapped_v4(a.to_v4().to_uint());
    if (a.to_v6().is_v4_mapped())
        return FlowKey::mapped_v4(asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_uint());
    std::array<std::uint8_t, 16> out{};
    const auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.begin());
    return out;
}

}  // namespace

TcpCollectorSink::TcpCollectorSink(asio::io_context& io, const TcpCollectorSettings& settings)
    : settings_(settings),
      name_(host_port_text(settings.host, settings.port)),
      socket_(io),
      retry_timer_(io),
      connect_timer_(io),
      ack_timer_(io),
      encoder_(tcp_encoder_options(settings, name_)),
      backoff_(settings.backoff_min) {
    auto invalid = [&](const std::string& what) { throw std::invalid_argument("collector " + name_ + ": " + what); };
    if (settings.port == 0) invalid("port 0");
    // Room for a message being written and a whole one besides it, so the oldest can
    // always be dropped for a new one.
    const std::size_t two = 2 * (settings.encoder.max_message_size + sizeof(Message) + 16 * sizeof(std::uint16_t));
    if (settings.max_buffer_bytes < two)
        invalid("max_buffer_bytes " + std::to_string(settings.max_buffer_bytes) + " holds less than two messages of " +
                std::to_string(settings.encoder.max_message_size) + " bytes (" + std::to_string(two) + " with their bookkeeping)");
    if (settings.backoff_min.count() <= 0 || settings.backoff_max < settings.backoff_min)
        invalid("backoff must be 0 < min <= max (" + ms_text(settings.backoff_min) + ", " +
                ms_text(settings.backoff_max) + ")");
    if (settings.min_connect_interval.count() < 0) invalid("negative min_connect_interval");
    if (settings.connect_timeout.count() <= 0) invalid("connect_timeout must be positive");
    if (settings.unacked_timeout.count() < 0 ||
        settings.unacked_timeout.count() > std::numeric_limits<unsigned>::max())
        invalid("unacked_timeout out of range");

    boost::system::error_code ec;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(settings.host, std::to_string(settings.port), tcp::resolver::numeric_service, ec);
    if (ec || results.empty())
        throw std::runtime_error("collector " + name_ + ": cannot resolve '" + settings.host + "': " + ec.message());
    endpoint_ = results.begin()->endpoint();
    connect();
}

TcpCollectorSink::~TcpCollectorSink() {
    boost::system::error_code ec;
    socket_.close(ec);
}

std::string TcpCollectorSink::identity_of(const TcpCollectorSettings& settings) {
    const auto& e = settings.encoder;
    const auto& s = settings;
    return "tcp ipfix " + host_port_text(s.host, s.port) + " domain " + std::to_string(e.observation_domain) + " size " +
           std::to_string(e.max_message_size) + " options " + std::to_string(e.template_refresh_seconds) +
           "s sampling " + std::to_string(e.sampling_interval) + " origin " + std::to_string(e.uptime_origin_ms) +
           " buffer " + std::to_string(s.max_buffer_bytes) + " backoff " + ms_text(s.backoff_min) + "-" +
           ms_text(s.backoff_max) + " interval " + ms_text(s.min_connect_interval) + " connect-timeout " +
           ms_text(s.connect_timeout) + " unacked-timeout " + ms_text(s.unacked_timeout) +
           (e.attribution ? " attribution pen " + std::to_string(e.enterprise_number) : "") + (e.biflow ? " biflow" : "");
}

SinkCounters TcpCollectorSink::counters() const {
    SinkCounters c = counters_;
    c.records_queued = queued_records_ + in_flight_records_;
    return c;
}

std::vector<OwnSocket> TcpCollectorSink::own_sockets() const {
    if ((state_ != State::connected && state_ != State::connecting) || !socket_.is_open()) return {};
    boost::system::error_code ec;
    const tcp::endpoint local = socket_.local_endpoint(ec);
    if (ec || local.port() == 0) return {};
    OwnSocket own;
    const auto& remote = endpoint_.address();
    // An IPv4-mapped address on an IPv6 socket is an IPv4 flow on the wire.
    own.forward.ip_version = remote.is_v4() || remote.to_v6().is_v4_mapped() ? 4 : 6;
    own.forward.src_addr = address_bytes(local.address());
    own.forward.dst_addr = address_bytes(remote);
    own.forward.src_port = local.port();
    own.forward.dst_port = endpoint_.port();
    own.forward.protocol = 6;
    return {own};
}

void TcpCollectorSink::warn(const std::string& what) {
    ++warnings_;
    if (warnings_ <= 10 || warnings_ % 100 == 0) log_warning("collector " + name_ + ": " + what);
}

void TcpCollectorSink::not_sent(std::uint64_t records, std::uint64_t packets, std::uint64_t octets) {
    counters_.records_not_sent += records;
    counters_.packets_not_sent += packets;
    counters_.octets_not_sent += octets;
    counters_.messages_not_sent += 1;
}

// ---- messages ----

void TcpCollectorSink::store_templates(std::uint16_t set_id, const std::uint8_t* body, std::size_t length) {
    const bool options = set_id == k_options_template_set;
    auto malformed = [&](const std::string& what) {
        throw std::logic_error("collector " + name_ + ": the encoder wrote a bad template set: " + what);
    };
    std::size_t pos = 0;
    while (length - pos >= 4) {  // less is padding
        const std::size_t start = pos;
        const std::uint16_t id = get_u16(body + pos);
        const std::uint16_t fields = get_u16(body + pos + 2);
        pos += 4;
        if (id < 256 || fields == 0) malformed("template " + std::to_string(id) + " with " + std::to_string(fields) + " fields");
        if (options) {
            if (length - pos < 2) malformed("truncated options template " + std::to_string(id));
            pos += 2;
        }
        for (std::uint16_t f = 0; f < fields; ++f) {
            if (length - pos < 4) malformed("truncated template " + std::to_string(id));
            const bool enterprise = (get_u16(body + pos) & 0x8000) != 0;
            pos += 4;
            if (enterprise) {
                if (length - pos < 4) malformed("truncated template " + std::to_string(id));
                pos += 4;
            }
        }
        std::vector<std::uint8_t> record(body + start, body + pos);
        auto it = templates_.find(id);
        if (it == templates_.end()) {
            templates_.emplace(id, TemplateRecord{options, std::move(record)});
        } else if (it->second.bytes != record || it->second.options != options) {
            // Connections already announced the old layout; ids never change layout.
            malformed("template " + std::to_string(id) + " changed its layout");
        }
    }
}

std::optional<TcpCollectorSink::Message> TcpCollectorSink::take_message(gsl::span<const std::uint8_t> encoded,
                                                                        const ipfix::EncoderCounters& before,
                                                                        const ipfix::EncoderCounters& after) {
    const std::uint8_t* p = encoded.data();
    const std::size_t n = encoded.size();
    auto malformed = [&](const std::string& what) {
        throw std::logic_error("collector " + name_ + ": the encoder wrote a bad message: " + what);
    };
    if (n < k_header || get_u16(p) != 10 || get_u16(p + 2) != n) malformed("header");
    Message m;
    m.bytes.reserve(n);
    m.bytes.assign(p, p + k_header);
    for (std::size_t pos = k_header; pos < n;) {
        if (n - pos < k_set_header) malformed("truncated set header at " + std::to_string(pos));
        const std::uint16_t id = get_u16(p + pos);
        const std::uint16_t length = get_u16(p + pos + 2);
        if (length < k_set_header || length > n - pos) malformed("set length " + std::to_string(length));
        if (id == k_template_set || id == k_options_template_set) {
            store_templates(id, p + pos + k_set_header, length - k_set_header);
        } else if (id >= 256) {
            m.bytes.insert(m.bytes.end(), p + pos, p + pos + length);
            insert_sorted(m.uses, id);
        } else {
            malformed("set id " + std::to_string(id));
        }
        pos += length;
    }
    m.records = after.data_records - before.data_records;
    m.packets = after.data_packets - before.data_packets;
    m.octets = after.data_octets - before.data_octets;
    m.sequenced = static_cast<std::uint32_t>(m.records + (after.options_records - before.options_records));
    if (m.bytes.size() == k_header) {
        if (m.sequenced != 0) malformed("records without a data set");
        return std::nullopt;  // templates only: they went to the cache
    }
    ipfix::put_u16(m.bytes.data() + 2, static_cast<std::uint16_t>(m.bytes.size()));
    return m;
}

std::vector<TcpCollectorSink::Message> TcpCollectorSink::templates_messages(const std::vector<std::uint16_t>& ids) {
    std::vector<Message> out;
    Message cur;
    std::size_t set_start = 0;
    int set_kind = -1;  // -1 none open, 0 template set, 1 options template set
    auto close_set = [&] {
        if (set_kind < 0) return;
        ipfix::put_u16(cur.bytes.data() + set_start + 2, static_cast<std::uint16_t>(cur.bytes.size() - set_start));
        set_kind = -1;
    };
    auto finish = [&] {
        close_set();
        if (cur.bytes.size() <= k_header) return;
        std::uint8_t* h = cur.bytes.data();
        ipfix::put_u16(h, 10);
        ipfix::put_u16(h + 2, static_cast<std::uint16_t>(cur.bytes.size()));
        ipfix::put_u32(h + 12, settings_.encoder.observation_domain);
        patch_header(cur, sequence_);
        out.push_back(std::move(cur));
    };
    auto start = [&] {
        cur = Message{};
        cur.templates = true;
        cur.bytes.assign(k_header, 0);
    };
    start();
    // Data templates share one Template Set, options templates one Options Template Set.
    for (int kind : {0, 1}) {
        for (std::uint16_t id : ids) {
            const TemplateRecord& t = templates_.at(id);
            if (int(t.options) != kind) continue;
            const std::size_t need = t.bytes.size() + (set_kind == kind ? 0 : k_set_header);
            if (cur.bytes.size() + need > settings_.encoder.max_message_size) {
                finish();
                start();
            }
            if (set_kind != kind) {
                close_set();
                set_start = cur.bytes.size();
                cur.bytes.resize(set_start + k_set_header);
                ipfix::put_u16(cur.bytes.data() + set_start, kind ? k_options_template_set : k_template_set);
                set_kind = kind;
            }
            cur.bytes.insert(cur.bytes.end(), t.bytes.begin(), t.bytes.end());
            insert_sorted(announced_, id);
            counters_.templates_sent += 1;
        }
    }
    finish();
    return out;
}

void TcpCollectorSink::patch_header(Message& m, std::uint32_t sequence) {
    // Export Time is when the message leaves (RFC 7011 3.1), never before the templates
    // it needs (8.2) or the records it carries: it only grows on a connection.
    const std::uint32_t encoded_s = get_u32(m.bytes.data() + 4);
    const std::uint32_t t = std::max({export_floor_s_, static_cast<std::uint32_t>(now_ms_ / 1000), encoded_s});
    ipfix::put_u32(m.bytes.data() + 4, t);
    ipfix::put_u32(m.bytes.data() + 8, sequence);
    export_floor_s_ = t;
}

std::size_t TcpCollectorSink::footprint(const Message& m) noexcept {
    return sizeof(Message) + m.bytes.capacity() + m.uses.capacity() * sizeof(std::uint16_t);
}

void TcpCollectorSink::drop_at(std::deque<Message>::iterator it) {
    not_sent(it->records, it->packets, it->octets);
    queued_bytes_ -= footprint(*it);
    queued_records_ -= it->records;
    queue_.erase(it);
}

bool TcpCollectorSink::make_room(std::size_t incoming) {
    std::uint64_t dropped = 0;
    while (queued_bytes_ + incoming > settings_.max_buffer_bytes) {
        // The oldest message that is not going out and is not a connection's templates.
        auto it = queue_.begin();
        if (front_prepared_ && it != queue_.end()) ++it;
        while (it != queue_.end() && it->templates) ++it;
        if (it == queue_.end()) break;
        drop_at(it);
        ++dropped;
    }
    if (dropped > 0)
        warn("send buffer full (" + std::to_string(settings_.max_buffer_bytes) + " bytes): " + std::to_string(dropped) +
             " oldest message(s) dropped, " + std::to_string(counters_.messages_not_sent) + " not sent so far");
    return queued_bytes_ + incoming <= settings_.max_buffer_bytes;
}

void TcpCollectorSink::push(Message message) {
    if (!make_room(footprint(message))) {
        not_sent(message.records, message.packets, message.octets);
        return;
    }
    queued_bytes_ += footprint(message);
    queued_records_ += message.records;
    queue_.push_back(std::move(message));
}

void TcpCollectorSink::encode_records(std::span<const FlowRecord> records, const ipfix::OwnerLookup& owners) {
    if (records.empty()) return;
    ipfix::EncoderCounters before = encoder_.counters();
    const ipfix::MessageSink take = [&](gsl::span<const std::uint8_t> encoded) {
        const ipfix::EncoderCounters after = encoder_.counters();
        std::optional<Message> m = take_message(encoded, before, after);
        before = after;
        if (m) push(std::move(*m));
    };
    // As over UDP: biflows pair the cycle's records; attribution names their owners.
    if (settings_.encoder.biflow)
        encoder_.encode_biflows(ipfix::pair_biflows(records), now_ms_, take);
    else if (settings_.encoder.attribution && owners)
        encoder_.encode(records, owners, now_ms_, take);
    else
        encoder_.encode(records, now_ms_, take);
}

void TcpCollectorSink::encode_options(bool at_front) {
    ipfix::ExporterStatistics stats = last_stats_;
    stats.not_sent_flows = counters_.records_not_sent;
    stats.not_sent_packets = counters_.packets_not_sent;
    stats.not_sent_octets = counters_.octets_not_sent;
    std::vector<Message> made;
    ipfix::EncoderCounters before = encoder_.counters();
    encoder_.encode_options(stats, last_interfaces_, now_ms_, [&](gsl::span<const std::uint8_t> encoded) {
        const ipfix::EncoderCounters after = encoder_.counters();
        std::optional<Message> m = take_message(encoded, before, after);
        before = after;
        if (m) made.push_back(std::move(*m));
    });
    last_options_ms_ = now_ms_;
    options_sent_ = true;
    if (!at_front) {
        for (Message& m : made) push(std::move(m));
        return;
    }
    // A connection's first options go before what waited for it.
    std::size_t bytes = 0;
    for (const Message& m : made) bytes += footprint(m);
    if (!make_room(bytes)) {
        for (const Message& m : made) not_sent(m.records, m.packets, m.octets);
        return;
    }
    for (auto it = made.rbegin(); it != made.rend(); ++it) {
        queued_bytes_ += footprint(*it);
        queue_.push_front(std::move(*it));
    }
}

void TcpCollectorSink::cycle(const CycleContext& ctx) {
    now_ms_ = ctx.now_ms;
    have_cycle_ = true;
    if (ctx.totals != nullptr) {
        // As over UDP: every packet the metering process could not or was told not to
        // account (drop reasons, exclude lists); sampling is announced apart.
        last_stats_ = {};
        const ebpfix_counters& k = ctx.totals->kernel;
        for (const ebpfix_pkt_bytes* pb : {&k.non_ip, &k.parse_error, &k.truncated, &k.map_full, &k.excluded}) {
            last_stats_.ignored_packets += pb->packets;
            last_stats_.ignored_octets += pb->bytes;
        }
    }
    last_interfaces_.assign(ctx.interfaces.begin(), ctx.interfaces.end());
    // Options only go on a connection: each new one starts with fresh ones anyway.
    const std::uint64_t every_ms = std::uint64_t(settings_.encoder.template_refresh_seconds) * 1000;
    const bool options_due =
        !options_sent_ || ctx.now_ms < last_options_ms_ || ctx.now_ms >= last_options_ms_ + every_ms;
    if (ctx.final) {
        final_ = true;
        encode_records(ctx.records, ctx.owner);
        if (connected()) encode_options(false);  // the last totals, after the last records
    } else {
        if (connected() && options_due) encode_options(false);
        encode_records(ctx.records, ctx.owner);
    }
    update_acked();
    write_some();
}

// ---- the connection ----

void TcpCollectorSink::connect() {
    state_ = State::connecting;
    last_attempt_ = steady_clock::now();
    const std::uint64_t generation = ++generation_;
    boost::system::error_code ec;
    socket_.open(endpoint_.protocol(), ec);
    if (!ec) socket_.non_blocking(true, ec);
    if (ec) {
        connection_failed("cannot open a TCP socket: " + ec.message());
        return;
    }
    const int fd = socket_.native_handle();
    if (settings_.unacked_timeout.count() > 0) {
        const unsigned ms = static_cast<unsigned>(settings_.unacked_timeout.count());
        if (::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms) != 0)
            warn(std::string("cannot set TCP_USER_TIMEOUT: ") + std::strerror(errno));
    }
    // Messages are gathered into full writes; the last one of a burst should not wait.
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    auto alive = std::weak_ptr<int>(alive_);
    socket_.async_connect(endpoint_, [this, alive, generation](const boost::system::error_code& e) {
        if (alive.expired() || generation != generation_) return;
        connect_done(e);
    });
    connect_timer_.expires_after(settings_.connect_timeout);
    connect_timer_.async_wait([this, alive, generation](const boost::system::error_code& e) {
        if (e || alive.expired() || generation != generation_ || state_ != State::connecting) return;
        connection_failed("no connection within " + ms_text(settings_.connect_timeout));
    });
}

void TcpCollectorSink::connect_done(const boost::system::error_code& ec) {
    connect_timer_.cancel();
    if (ec) {
        connection_failed(ec.message());
        return;
    }
    state_ = State::connected;
    connected_at_ = steady_clock::now();
    ++connections_;
    if (connections_ > 1 || failed_attempts_ > 0) log_info("collector " + name_ + ": connected");
    // A new Transport Session: numbering from 0, no template announced yet.
    written_ = 0;
    sequence_ = 0;
    export_floor_s_ = 0;
    announced_.clear();
    front_prepared_ = false;
    front_written_ = 0;
    wait_readable();
    if (have_cycle_) encode_options(true);
    // Every template known so far goes first; ones first used later go before their use.
    std::vector<std::uint16_t> all;
    for (const auto& [id, t] : templates_) all.push_back(id);
    if (!all.empty()) {
        std::vector<Message> made = templates_messages(all);
        for (auto it = made.rbegin(); it != made.rend(); ++it) {
            queued_bytes_ += footprint(*it);
            queue_.push_front(std::move(*it));
        }
    }
    write_some();
}

void TcpCollectorSink::connection_failed(const std::string& why) {
    ++failed_attempts_;
    counters_.errors += 1;
    warn("cannot connect to " + endpoint_.address().to_string() + " port " + std::to_string(endpoint_.port()) + ": " +
         why + "; trying again in " + ms_text(backoff_) + " or later");
    close_socket(false);
    schedule_attempt();
}

void TcpCollectorSink::schedule_attempt() {
    state_ = State::waiting;
    const milliseconds delay = backoff_;
    backoff_ = std::min(backoff_ * 2, settings_.backoff_max);
    steady_clock::time_point at = steady_clock::now() + delay;
    at = std::max(at, last_attempt_ + settings_.min_connect_interval);
    retry_timer_.expires_at(at);
    retry_timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
        if (ec || alive.expired() || state_ != State::waiting) return;
        connect();
    });
}

void TcpCollectorSink::close_socket(bool reset) {
    boost::system::error_code ec;
    // A reset makes the kernel drop what it still holds: those messages are counted as
    // not sent and must not reach the collector afterwards.
    if (reset) socket_.set_option(asio::socket_base::linger(true, 0), ec);
    socket_.close(ec);
    ++generation_;
    connect_timer_.cancel();
    ack_timer_.cancel();
    write_waiting_ = false;
    ack_polling_ = false;
}

void TcpCollectorSink::lost_connection(const std::string& why) {
    update_acked();
    const std::uint64_t before = counters_.messages_not_sent;
    for (const InFlight& f : in_flight_) not_sent(f.records, f.packets, f.octets);
    in_flight_.clear();
    in_flight_records_ = 0;
    if (!queue_.empty() && front_written_ > 0) {
        // Partly written: the collector drops it, and its rest would make no message.
        drop_at(queue_.begin());
    }
    // Templates made for this connection mean nothing on the next one.
    while (!queue_.empty() && queue_.front().templates) {
        queued_bytes_ -= footprint(queue_.front());
        queue_.pop_front();
    }
    front_prepared_ = false;
    front_written_ = 0;
    counters_.errors += 1;
    if (steady_clock::now() - connected_at_ >= settings_.backoff_max) backoff_ = settings_.backoff_min;
    warn("connection lost: " + why + "; " + std::to_string(counters_.messages_not_sent - before) +
         " message(s) not acknowledged counted as not sent, " + std::to_string(queue_.size()) + " waiting");
    close_socket(true);
    if (final_ && queue_.empty()) {
        state_ = State::finished;
        return;
    }
    schedule_attempt();
}

void TcpCollectorSink::wait_readable() {
    socket_.async_wait(tcp::socket::wait_read, [this, alive = std::weak_ptr<int>(alive_),
                                                generation = generation_](const boost::system::error_code& ec) {
        if (alive.expired() || generation != generation_) return;
        if (ec) {
            lost_connection(ec.message());
            return;
        }
        read_ready();
    });
}

void TcpCollectorSink::read_ready() {
    // A collector sends nothing: what comes is an end (EOF, RST) or ignored.
    std::array<std::uint8_t, 512> scratch;
    for (int reads = 0; reads < 64; ++reads) {
        const ssize_t n = ::recv(socket_.native_handle(), scratch.data(), scratch.size(), MSG_DONTWAIT);
        if (n > 0) continue;
        if (n == 0) {
            if (shut_down_) {
                close_socket(false);
                state_ = State::finished;
                return;
            }
            lost_connection("the collector closed the connection");
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        lost_connection(std::strerror(errno));
        return;
    }
    wait_readable();
}

void TcpCollectorSink::prepare_front() {
    Message& m = queue_.front();
    if (!m.templates) {
        std::vector<std::uint16_t> missing;
        for (std::uint16_t id : m.uses)
            if (!contains(announced_, id)) missing.push_back(id);
        if (!missing.empty()) {
            std::vector<Message> made = templates_messages(missing);
            for (auto it = made.rbegin(); it != made.rend(); ++it) {
                queued_bytes_ += footprint(*it);
                queue_.push_front(std::move(*it));
            }
        } else {
            patch_header(m, sequence_);
            sequence_ += m.sequenced;
        }
    }
    // A connection's templates messages were numbered when they were made.
    front_prepared_ = true;
}

void TcpCollectorSink::write_some() {
    if (state_ != State::connected || write_waiting_) return;
    const int fd = socket_.native_handle();
    std::array<iovec, k_gather> iov;
    while (!queue_.empty()) {
        if (!front_prepared_) prepare_front();
        // The front from where it stopped, then whole messages behind it, numbered as if
        // they follow; the ones that get no byte are numbered again when they do.
        Message& front = queue_.front();
        std::size_t count = 0, bytes = front.bytes.size() - front_written_;
        iov[count++] = iovec{front.bytes.data() + front_written_, bytes};
        std::uint32_t sequence = sequence_;
        for (std::size_t i = 1; i < queue_.size() && count < k_gather && bytes < k_gather_bytes; ++i) {
            Message& m = queue_[i];
            if (!m.templates) {
                bool covered = true;
                for (std::uint16_t id : m.uses) covered = covered && contains(announced_, id);
                if (!covered) break;  // its templates go first, when it is the front
                patch_header(m, sequence);
                sequence += m.sequenced;
            }
            iov[count++] = iovec{m.bytes.data(), m.bytes.size()};
            bytes += m.bytes.size();
        }
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = count;
        const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            lost_connection(std::string("write failed: ") + std::strerror(errno));
            return;
        }
        std::uint64_t offset = written_;
        written_ += static_cast<std::uint64_t>(n);
        std::size_t left = static_cast<std::size_t>(n);
        while (left > 0) {
            Message& m = queue_.front();
            if (!front_prepared_) {  // a message behind the front got its first byte
                sequence_ += m.sequenced;
                front_prepared_ = true;
            }
            const std::size_t rest = m.bytes.size() - front_written_;
            if (left < rest) {
                front_written_ += left;
                break;
            }
            left -= rest;
            offset += rest;
            in_flight_.push_back(InFlight{offset, m.bytes.size(), m.records, m.packets, m.octets});
            in_flight_records_ += m.records;
            queued_bytes_ -= footprint(m);
            queued_records_ -= m.records;
            queue_.pop_front();
            front_written_ = 0;
            front_prepared_ = false;
        }
        if (static_cast<std::size_t>(n) < bytes) break;  // the socket is full
    }
    if (!queue_.empty()) {
        write_waiting_ = true;
        socket_.async_wait(tcp::socket::wait_write, [this, alive = std::weak_ptr<int>(alive_),
                                                     generation = generation_](const boost::system::error_code& ec) {
            if (alive.expired() || generation != generation_) return;
            write_waiting_ = false;
            if (ec) {
                lost_connection(ec.message());
                return;
            }
            write_some();
        });
    }
    update_acked();
    poll_acks();
    maybe_shut_down();
}

bool TcpCollectorSink::update_acked() {
    if (in_flight_.empty() || !socket_.is_open()) return false;
    // SIOCOUTQ: bytes written and not yet acknowledged (also valid after a reset).
    int unacked = 0;
    if (::ioctl(socket_.native_handle(), SIOCOUTQ, &unacked) != 0 || unacked < 0) return false;
    const std::uint64_t acked = written_ - std::min<std::uint64_t>(static_cast<std::uint64_t>(unacked), written_);
    bool progress = false;
    while (!in_flight_.empty() && in_flight_.front().end <= acked) {
        const InFlight& f = in_flight_.front();
        counters_.records_delivered += f.records;
        counters_.messages_delivered += 1;
        counters_.bytes_delivered += f.bytes;
        in_flight_records_ -= f.records;
        in_flight_.pop_front();
        progress = true;
    }
    return progress;
}

void TcpCollectorSink::poll_acks() {
    if (ack_polling_ || in_flight_.empty() || state_ != State::connected) return;
    ack_polling_ = true;
    if (ack_poll_.count() == 0) ack_poll_ = k_first_ack_poll;
    ack_timer_.expires_after(ack_poll_);
    ack_timer_.async_wait([this, alive = std::weak_ptr<int>(alive_),
                           generation = generation_](const boost::system::error_code& ec) {
        if (ec || alive.expired() || generation != generation_) return;
        ack_polling_ = false;
        ack_poll_ = update_acked() ? k_first_ack_poll : std::min(ack_poll_ * 2, k_longest_ack_poll);
        poll_acks();
        maybe_shut_down();
    });
}

void TcpCollectorSink::maybe_shut_down() {
    if (!final_ || shut_down_ || state_ != State::connected || !queue_.empty() || !in_flight_.empty()) return;
    // Everything is acknowledged: end the Transport Session cleanly (FIN).
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    shut_down_ = true;
}

}  // namespace ebpfix::sinks
