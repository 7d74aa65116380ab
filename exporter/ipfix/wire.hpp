// Big-endian stores for the record writers (generated from templates/) and the message
// builder. The caller has checked the bounds once per record; these are plain stores.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ebpfix::ipfix {

inline void put_u8(std::uint8_t* p, std::uint8_t v) noexcept { *p = v; }
inline void put_u16(std::uint8_t* p, std::uint16_t v) noexcept {
    v = __builtin_bswap16(v);
    std::memcpy(p, &v, 2);
}
inline void put_u32(std::uint8_t* p, std::uint32_t v) noexcept {
    v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
}
inline void put_u64(std::uint8_t* p, std::uint64_t v) noexcept {
    v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
}
// IPv4 address given as a host-order integer (FlowKey::src_v4()).
inline void put_addr4(std::uint8_t* p, std::uint32_t host_order) noexcept { put_u32(p, host_order); }
inline void put_addr16(std::uint8_t* p, const std::array<std::uint8_t, 16>& a) noexcept {
    std::memcpy(p, a.data(), 16);
}

// Fixed-length string field (NetFlow v9 has no other kind): the text, then NUL bytes up
// to the length. The text must already be valid UTF-8 shorter than length
// (utf8_prefix), so a C collector always finds a terminator.
inline void put_fixed_string(std::uint8_t* p, std::size_t length, std::string_view text) noexcept {
    std::size_t n = text.size() < length ? text.size() : length - 1;
    std::memcpy(p, text.data(), n);
    std::memset(p + n, 0, length - n);
}

// Variable-length field, RFC 7011 section 7: one length byte below 255, otherwise 255 and
// a two-byte length. Returns the end.
inline std::uint8_t* put_var_string(std::uint8_t* p, std::string_view text) noexcept {
    if (text.size() < 255) {
        *p++ = static_cast<std::uint8_t>(text.size());
    } else {
        *p++ = 255;
        put_u16(p, static_cast<std::uint16_t>(text.size()));
        p += 2;
    }
    std::memcpy(p, text.data(), text.size());
    return p + text.size();
}

inline std::size_t var_string_size(std::size_t text_size) noexcept {
    return (text_size < 255 ? 1 : 3) + text_size;
}

}  // namespace ebpfix::ipfix
