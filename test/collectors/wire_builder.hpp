// Hand-writes IPFIX / NetFlow v9 bytes for decoder tests: big-endian appends plus length
// fix-ups, so each bad message below is spelled out field by field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace ebpfix::test {

class Wire {
public:
    Wire& u8(std::uint8_t v) { b_.push_back(v); return *this; }
    Wire& u16(std::uint16_t v) { return u8(std::uint8_t(v >> 8)).u8(std::uint8_t(v)); }
    Wire& u32(std::uint32_t v) { return u16(std::uint16_t(v >> 16)).u16(std::uint16_t(v)); }
    Wire& u64(std::uint64_t v) { return u32(std::uint32_t(v >> 32)).u32(std::uint32_t(v)); }
    Wire& raw(std::initializer_list<std::uint8_t> bytes) { b_.insert(b_.end(), bytes); return *this; }
    Wire& zeros(std::size_t n) { b_.insert(b_.end(), n, 0); return *this; }

    // Sets and headers: begin_set remembers where the length goes; end_set writes it.
    Wire& begin_set(std::uint16_t id) { set_at_ = b_.size(); return u16(id).u16(0); }
    Wire& end_set() { put16(set_at_ + 2, std::uint16_t(b_.size() - set_at_)); return *this; }

    // IPFIX header with Length patched by finish_ipfix().
    Wire& ipfix_header(std::uint32_t export_s, std::uint32_t seq, std::uint32_t domain) {
        return u16(10).u16(0).u32(export_s).u32(seq).u32(domain);
    }
    std::vector<std::uint8_t> finish_ipfix() { put16(2, std::uint16_t(b_.size())); return b_; }

    Wire& v9_header(std::uint16_t count, std::uint32_t uptime_ms, std::uint32_t unix_s, std::uint32_t seq,
                    std::uint32_t source) {
        return u16(9).u16(count).u32(uptime_ms).u32(unix_s).u32(seq).u32(source);
    }
    std::vector<std::uint8_t> bytes() const { return b_; }
    std::size_t size() const { return b_.size(); }

private:
    void put16(std::size_t at, std::uint16_t v) {
        b_[at] = std::uint8_t(v >> 8);
        b_[at + 1] = std::uint8_t(v);
    }
    std::vector<std::uint8_t> b_;
    std::size_t set_at_ = 0;
};

}  // namespace ebpfix::test
