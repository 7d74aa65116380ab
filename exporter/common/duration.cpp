#include "common/duration.hpp"

#include <charconv>
#include <system_error>

namespace ebpfix {

std::optional<double> parse_duration_seconds(std::string_view text) noexcept {
    if (text.empty()) return std::nullopt;
    double plain = 0;
    auto [plain_end, plain_ec] = std::from_chars(text.data(), text.data() + text.size(), plain);
    if (plain_ec == std::errc{} && plain_end == text.data() + text.size()) return plain;
    // Sub-second units divide, so that 100us is 0.0001 s exactly as written.
    struct Unit {
        std::string_view name;
        double multiplier;
        double divisor;
    };
    // Longest names first: "ms" before "m".
    static constexpr Unit units[] = {{"ns", 1, 1e9}, {"us", 1, 1e6}, {"\u00b5s", 1, 1e6}, {"\u03bcs", 1, 1e6},
                                     {"ms", 1, 1e3}, {"s", 1, 1},    {"m", 60, 1},        {"h", 3600, 1}};
    double total = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t start = pos;
        while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.')) ++pos;
        double number = 0;
        auto [end, ec] = std::from_chars(text.data() + start, text.data() + pos, number, std::chars_format::fixed);
        if (pos == start || ec != std::errc{} || end != text.data() + pos) return std::nullopt;
        const Unit* unit = nullptr;
        for (const Unit& u : units)
            if (text.substr(pos, u.name.size()) == u.name) {
                unit = &u;
                break;
            }
        if (unit == nullptr) return std::nullopt;
        pos += unit->name.size();
        total += number * unit->multiplier / unit->divisor;
    }
    return total;
}

}  // namespace ebpfix
