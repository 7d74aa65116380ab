// The control socket client and the `flows --json` parser.
#include "views/control_reader.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <limits>

#include "common/host_port.hpp"

namespace ebpfix::views {

namespace {

// At most this many characters of the received text go into an error message.
constexpr std::size_t quoted_limit = 60;

std::string shown(std::string_view text) {
    if (text.size() <= quoted_limit) return quoted(text);
    return quoted(text.substr(0, quoted_limit)) + "...";
}

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates,
// at most U+10FFFF), 0 when it is not one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c == 0xe0) n = 3, lo = 0xa0;
    else if (c >= 0xe1 && c <= 0xec) n = 3;
    else if (c == 0xed) n = 3, hi = 0x9f;
    else if (c >= 0xee && c <= 0xef) n = 3;
    else if (c == 0xf0) n = 4, lo = 0x90;
    else if (c >= 0xf1 && c <= 0xf3) n = 4;
    else if (c == 0xf4) n = 4, hi = 0x8f;
    else return 0;
    if (i + n > s.size()) return 0;
    if (b(1) < lo || b(1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(k) < 0x80 || b(k) > 0xbf) return 0;
    return n;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xc0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += char(0xe0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    } else {
        out += char(0xf0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3f));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    }
}

// Nesting allowed inside a skipped (unknown) value; deeper is refused, not recursed into.
constexpr int max_skip_depth = 16;

// One JSON line: a flat object of known keys (plus unknown ones, skipped).
class LineParser {
public:
    LineParser(std::string_view line, std::size_t line_number) : line_(line), line_number_(line_number) {}

    [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
    [[noreturn]] void fail_at(std::size_t pos, const std::string& what) const {
        throw ReplyError("line " + std::to_string(line_number_) + ", column " + std::to_string(pos + 1) + ": " + what +
                         (pos >= line_.size() ? ", found the end of the line" : ""));
    }

    // Calls on_member(key, key_position) for each member; on_member parses the value.
    template <typename F>
    void parse_object(F&& on_member) {
        skip_ws();
        expect('{', "expected '{' (a JSON object)");
        std::vector<std::string> seen;
        skip_ws();
        if (!consume('}')) {
            for (;;) {
                skip_ws();
                const std::size_t key_pos = pos_;
                if (peek() != '"') fail("expected a key in double quotes");
                std::string key = parse_string();
                for (const std::string& k : seen)
                    if (k == key) fail_at(key_pos, "duplicate key " + shown(key));
                seen.push_back(key);
                skip_ws();
                expect(':', "expected ':' after the key");
                skip_ws();
                on_member(key);
                skip_ws();
                if (consume(',')) continue;
                expect('}', "expected ',' or '}'");
                break;
            }
        }
        skip_ws();
        if (pos_ != line_.size()) fail("unexpected text after the object");
    }

    std::string parse_string() {
        expect('"', "expected a string");
        std::string out;
        for (;;) {
            if (pos_ >= line_.size()) fail("unterminated string");
            const auto c = static_cast<unsigned char>(line_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20) fail("control character in a string (must be escaped)");
            if (c == '\\') {
                parse_escape(out);
                continue;
            }
            if (c < 0x80) {
                out += char(c);
                ++pos_;
                continue;
            }
            const std::size_t n = utf8_length(line_, pos_);
            if (n == 0) fail("invalid UTF-8 in a string");
            out.append(line_.substr(pos_, n));
            pos_ += n;
        }
    }

    // A JSON number that is a non-negative integer no larger than max.
    std::uint64_t parse_uint(std::string_view key, std::uint64_t max) {
        const std::size_t start = pos_;
        if (peek() == '-') fail(shown(key) + " must be a non-negative integer");
        if (peek() < '0' || peek() > '9') fail(shown(key) + " must be a number");
        std::uint64_t value = 0;
        bool overflow = false;
        while (pos_ < line_.size() && line_[pos_] >= '0' && line_[pos_] <= '9') {
            const unsigned digit = unsigned(line_[pos_] - '0');
            if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) overflow = true;
            else value = value * 10 + digit;
            ++pos_;
        }
        if (pos_ - start > 1 && line_[start] == '0') fail_at(start, "number with a leading zero");
        if (peek() == '.' || peek() == 'e' || peek() == 'E') fail_at(start, shown(key) + " must be an integer");
        if (overflow || value > max)
            fail_at(start, shown(key) + " is out of range (at most " + std::to_string(max) + ")");
        return value;
    }

    // Any JSON value (for keys this version does not know).
    void skip_value(int depth = 0) {
        if (depth > max_skip_depth) fail("value nested too deeply");
        const char c = peek();
        if (c == '"') {
            parse_string();
        } else if (c == '{' || c == '[') {
            const char close = c == '{' ? '}' : ']';
            ++pos_;
            skip_ws();
            if (consume(close)) return;
            for (;;) {
                skip_ws();
                if (c == '{') {
                    if (peek() != '"') fail("expected a key in double quotes");
                    parse_string();
                    skip_ws();
                    expect(':', "expected ':' after the key");
                    skip_ws();
                }
                skip_value(depth + 1);
                skip_ws();
                if (consume(',')) continue;
                expect(close, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
                return;
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            skip_number();
        } else if (!consume_word("true") && !consume_word("false") && !consume_word("null")) {
            fail("expected a JSON value");
        }
    }

    // A string value of key: a clear message when it is something else.
    std::string string_value(std::string_view key) {
        if (peek() != '"') fail(shown(key) + " must be a string");
        return parse_string();
    }

    std::size_t position() const { return pos_; }

private:
    char peek() const { return pos_ < line_.size() ? line_[pos_] : '\0'; }
    bool consume(char c) {
        if (peek() != c) return false;
        ++pos_;
        return true;
    }
    void expect(char c, const char* what) {
        if (!consume(c)) fail(what);
    }
    bool consume_word(std::string_view word) {
        if (line_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }
    void skip_ws() {
        while (pos_ < line_.size() && (line_[pos_] == ' ' || line_[pos_] == '\t' || line_[pos_] == '\r')) ++pos_;
    }
    void skip_digits(const char* what) {
        const std::size_t start = pos_;
        while (pos_ < line_.size() && line_[pos_] >= '0' && line_[pos_] <= '9') ++pos_;
        if (pos_ == start) fail(what);
    }
    void skip_number() {
        consume('-');
        const std::size_t start = pos_;
        skip_digits("expected digits");
        if (pos_ - start > 1 && line_[start] == '0') fail_at(start, "number with a leading zero");
        if (consume('.')) skip_digits("expected digits after '.'");
        if (consume('e') || consume('E')) {
            if (!consume('+')) consume('-');
            skip_digits("expected digits in the exponent");
        }
    }
    unsigned hex4() {
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            const char h = peek();
            unsigned d = 0;
            if (h >= '0' && h <= '9') d = unsigned(h - '0');
            else if (h >= 'a' && h <= 'f') d = unsigned(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') d = unsigned(h - 'A' + 10);
            else fail("expected 4 hex digits after \\u");
            v = v << 4 | d;
            ++pos_;
        }
        return v;
    }
    void parse_escape(std::string& out) {
        const std::size_t start = pos_;
        ++pos_;  // the backslash
        const char e = peek();
        ++pos_;
        switch (e) {
            case '"': out += '"'; return;
            case '\\': out += '\\'; return;
            case '/': out += '/'; return;
            case 'b': out += '\b'; return;
            case 'f': out += '\f'; return;
            case 'n': out += '\n'; return;
            case 'r': out += '\r'; return;
            case 't': out += '\t'; return;
            case 'u': break;
            default: fail_at(start, "invalid escape in a string");
        }
        std::uint32_t cp = hex4();
        if (cp >= 0xdc00 && cp <= 0xdfff) fail_at(start, "lone low surrogate in \\u escape");
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (!consume_word("\\u")) fail_at(start, "high surrogate without a low one in \\u escape");
            const std::uint32_t low = hex4();
            if (low < 0xdc00 || low > 0xdfff) fail_at(start, "high surrogate without a low one in \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        append_utf8(out, cp);
    }

    std::string_view line_;
    std::size_t line_number_;
    std::size_t pos_ = 0;
};

Address parse_address(LineParser& p, std::string_view key) {
    const std::size_t pos = p.position();
    Address a;
    a.text = p.string_value(key);
    if (inet_pton(AF_INET, a.text.c_str(), a.bytes.data()) == 1) {
        a.family = 4;
    } else if (inet_pton(AF_INET6, a.text.c_str(), a.bytes.data()) == 1) {
        a.family = 6;
    } else {
        p.fail_at(pos, shown(key) + ": " + shown(a.text) + " is not an IP address");
    }
    return a;
}

std::uint16_t parse_tcp_flags(LineParser& p) {
    const std::size_t pos = p.position();
    const std::string text = p.string_value("tcp_flags");
    const auto bad = [&] { p.fail_at(pos, "'tcp_flags': " + shown(text) + " is not a hex number like '0x1b'"); };
    if (text.size() < 3 || text.size() > 6 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X')) bad();
    std::uint16_t v = 0;
    for (std::size_t i = 2; i < text.size(); ++i) {
        const char h = text[i];
        unsigned d = 0;
        if (h >= '0' && h <= '9') d = unsigned(h - '0');
        else if (h >= 'a' && h <= 'f') d = unsigned(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') d = unsigned(h - 'A' + 10);
        else bad();
        v = std::uint16_t(v << 4 | d);
    }
    return v;
}

constexpr std::uint64_t u16_max = 0xffff, u32_max = 0xffffffff, u64_max = std::numeric_limits<std::uint64_t>::max();

// The keys every flow line has (the attribution keys are optional).
constexpr std::string_view required_flow_keys[] = {"src_ip",  "dst_ip", "src_port",     "dst_port",   "protocol",
                                                   "direction", "ifname", "packets",    "bytes",      "held_packets",
                                                   "held_bytes", "last_ms", "tcp_flags"};

LiveFlow parse_flow_line(std::string_view line, std::size_t line_number) {
    LineParser p(line, line_number);
    LiveFlow f;
    std::vector<std::string_view> found;
    p.parse_object([&](const std::string& key) {
        for (std::string_view k : required_flow_keys)
            if (k == key) found.push_back(k);
        if (key == "src_ip") f.src = parse_address(p, key);
        else if (key == "dst_ip") f.dst = parse_address(p, key);
        else if (key == "src_port") f.src_port = std::uint16_t(p.parse_uint(key, u16_max));
        else if (key == "dst_port") f.dst_port = std::uint16_t(p.parse_uint(key, u16_max));
        else if (key == "protocol") f.protocol = std::uint8_t(p.parse_uint(key, 255));
        else if (key == "direction") {
            const std::size_t pos = p.position();
            const std::string d = p.string_value(key);
            if (d == "ingress") f.direction = Direction::ingress;
            else if (d == "egress") f.direction = Direction::egress;
            else p.fail_at(pos, "'direction': " + shown(d) + " is neither 'ingress' nor 'egress'");
        } else if (key == "ifname") f.ifname = p.string_value(key);
        else if (key == "packets") f.packets = p.parse_uint(key, u64_max);
        else if (key == "bytes") f.bytes = p.parse_uint(key, u64_max);
        else if (key == "held_packets") f.held_packets = p.parse_uint(key, u64_max);
        else if (key == "held_bytes") f.held_bytes = p.parse_uint(key, u64_max);
        else if (key == "last_ms") f.last_ms = p.parse_uint(key, u64_max);
        else if (key == "tcp_flags") f.tcp_flags = parse_tcp_flags(p);
        else if (key == "uid") f.uid = std::uint32_t(p.parse_uint(key, u32_max));
        else if (key == "user") f.user = p.string_value(key);
        else if (key == "pid") f.pid = std::uint32_t(p.parse_uint(key, u32_max));
        else if (key == "comm") f.comm = p.string_value(key);
        else if (key == "cgroup") f.cgroup = p.string_value(key);
        else p.skip_value();
    });
    for (std::string_view k : required_flow_keys) {
        bool present = false;
        for (std::string_view got : found) present = present || got == k;
        if (!present)
            throw ReplyError("line " + std::to_string(line_number) + ": missing key " + shown(k));
    }
    return f;
}

}  // namespace

std::string_view reply_body(std::string_view reply) {
    if (reply.empty()) throw ReplyError("the daemon closed the connection without a reply");
    const std::size_t eol = reply.find('\n');
    const std::string_view status = reply.substr(0, eol);
    const std::string_view body = eol == std::string_view::npos ? std::string_view{} : reply.substr(eol + 1);
    if (status == "ok") return body;
    if (status.starts_with("error: ")) throw ReplyError("the daemon answered: " + std::string(status.substr(7)));
    throw ReplyError("unexpected status line " + shown(status) + " (expected 'ok' or 'error: ...')");
}

Snapshot parse_flows_json(std::string_view body) {
    Snapshot snapshot;
    if (body.empty()) throw ReplyError("line 1: empty reply (expected {\"now_ms\":...,\"flows\":...})");
    std::size_t line_number = 0;
    std::optional<std::uint64_t> announced;
    std::size_t pos = 0;
    while (pos < body.size()) {
        const std::size_t eol = body.find('\n', pos);
        const std::string_view line = body.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        pos = eol == std::string_view::npos ? body.size() : eol + 1;
        ++line_number;
        if (line.find_first_not_of(" \t\r") == std::string_view::npos)
            throw ReplyError("line " + std::to_string(line_number) + ": empty line");
        if (line_number == 1) {
            LineParser p(line, line_number);
            std::optional<std::uint64_t> now_ms;
            p.parse_object([&](const std::string& key) {
                if (key == "now_ms") now_ms = p.parse_uint(key, u64_max);
                else if (key == "flows") announced = p.parse_uint(key, u64_max);
                else p.skip_value();
            });
            if (!now_ms) throw ReplyError("line 1: missing key 'now_ms'");
            if (!announced) throw ReplyError("line 1: missing key 'flows'");
            snapshot.now_ms = *now_ms;
            // Reserve only what the reply could hold, whatever the header claims.
            snapshot.flows.reserve(std::min<std::uint64_t>(*announced, body.size() / 64));
            continue;
        }
        if (snapshot.flows.size() >= *announced)
            throw ReplyError("line " + std::to_string(line_number) + ": more flow lines than the " +
                             std::to_string(*announced) + " the header announced");
        snapshot.flows.push_back(parse_flow_line(line, line_number));
    }
    if (snapshot.flows.size() != *announced)
        throw ReplyError("the header announced " + std::to_string(*announced) + " flows, the reply has " +
                         std::to_string(snapshot.flows.size()) + " (cut short?)");
    return snapshot;
}

namespace {

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

std::string control_request(const std::string& path, std::string_view request_line,
                            std::chrono::milliseconds idle_timeout) {
    const auto failure = [&](const std::string& what, int err) {
        return ConnectionError("control socket " + path + ": " + what + ": " + std::strerror(err));
    };
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path))
        throw ConnectionError("control socket " + quoted(path) + ": the path must be 1 to " +
                              std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
    std::memcpy(addr.sun_path, path.data(), path.size());

    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw failure("socket", errno);
    // UNIX stream connect, send and recv all honour these: no wait is longer.
    timeval tv{};
    tv.tv_sec = idle_timeout.count() / 1000;
    tv.tv_usec = (idle_timeout.count() % 1000) * 1000;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    int rc;
    do rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        const int err = errno;
        if (err == ENOENT || err == ECONNREFUSED)
            throw ConnectionError("control socket " + path + ": " + std::strerror(err) + " (is the ebpfix daemon running?)");
        if (err == EACCES)
            throw ConnectionError("control socket " + path + ": " + std::strerror(err) +
                                  " (run as root or as a member of the socket's group)");
        throw failure("connect", err);
    }

    const std::string request = std::string(request_line) + "\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
        const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw failure(errno == EAGAIN ? "no room to send the request" : "send", errno);
        sent += std::size_t(n);
    }

    std::string reply;
    char buf[64 * 1024];
    for (;;) {
        const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            throw ConnectionError("control socket " + path + ": no reply within " +
                                  std::to_string(idle_timeout.count()) + " ms");
        if (n < 0) throw failure("recv", errno);
        if (n == 0) break;
        if (reply.size() + std::size_t(n) > max_reply_bytes)
            throw ReplyError("control socket " + path + ": reply larger than " + std::to_string(max_reply_bytes >> 20) +
                             " MiB");
        reply.append(buf, std::size_t(n));
    }
    return reply;
}

Snapshot fetch_flows(const std::string& path) {
    const std::string reply = control_request(path, "flows --json");
    try {
        return parse_flows_json(reply_body(reply));
    } catch (const ReplyError& e) {
        throw ReplyError("control socket " + path + ": flows --json: " + e.what());
    }
}

}  // namespace ebpfix::views
