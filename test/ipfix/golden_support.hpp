// Helpers for the encoder golden tests: hand-written hex, a capturing sink and a set walker.
#pragma once

#include <cctype>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ipfix/flow_encoder.hpp"

namespace ebpfix::test {

using Bytes = std::vector<std::uint8_t>;

// "000a 00a8 | 6553f100" -> bytes. Spaces, newlines and '|' separate fields for the reader.
inline Bytes hex(std::string_view text) {
    Bytes out;
    int high = -1;
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '|') continue;
        if (!std::isxdigit(static_cast<unsigned char>(c))) throw std::invalid_argument("bad hex digit");
        int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<std::uint8_t>(high << 4 | v));
            high = -1;
        }
    }
    if (high >= 0) throw std::invalid_argument("odd number of hex digits");
    return out;
}

inline std::string to_hex(const Bytes& b) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i && i % 4 == 0) s += ' ';
        s += digits[b[i] >> 4];
        s += digits[b[i] & 15];
    }
    return s;
}

struct Capture {
    std::vector<Bytes> messages;
    ipfix::MessageSink sink() {
        return [this](gsl::span<const std::uint8_t> m) { messages.emplace_back(m.begin(), m.end()); };
    }
};

inline std::uint16_t u16(const Bytes& b, std::size_t at) { return std::uint16_t(b.at(at) << 8 | b.at(at + 1)); }
inline std::uint32_t u32(const Bytes& b, std::size_t at) {
    return std::uint32_t(u16(b, at)) << 16 | u16(b, at + 2);
}

struct SetView {
    std::uint16_t id;
    std::uint16_t length;
    std::size_t offset;
};

// The sets of one message; throws when the set lengths do not tile the message exactly.
inline std::vector<SetView> sets_of(const Bytes& m, bool v9) {
    std::vector<SetView> sets;
    std::size_t at = v9 ? 20 : 16;
    while (at < m.size()) {
        if (at + 4 > m.size()) throw std::runtime_error("truncated set header");
        SetView s{u16(m, at), u16(m, at + 2), at};
        if (s.length < 4 || at + s.length > m.size()) throw std::runtime_error("bad set length");
        sets.push_back(s);
        at += s.length;
    }
    return sets;
}

}  // namespace ebpfix::test
