#include "metrics/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <system_error>
#include <variant>

namespace ebpfix::metrics {

namespace {

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool valid_metric_name(std::string_view n) {
    if (n.empty() || !(is_name_start(n[0]) || n[0] == ':')) return false;
    return std::all_of(n.begin(), n.end(), [](char c) { return is_name_start(c) || is_digit(c) || c == ':'; });
}

bool valid_label_name(std::string_view n) {
    if (n.empty() || !is_name_start(n[0])) return false;
    return std::all_of(n.begin(), n.end(), [](char c) { return is_name_start(c) || is_digit(c); });
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 if it is not well formed.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;  // overlong
        if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;  // overlong
        if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < len; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
    return len;
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

// The exposition format is UTF-8; label values come from the system (interface names
// are arbitrary bytes), so a bad byte becomes U+FFFD instead of breaking the scrape.
std::string sanitize_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

const char* type_name(int t) {
    switch (t) {
        case 0: return "counter";
        case 1: return "gauge";
        default: return "histogram";
    }
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == 0) return "0";  // also -0
    char buf[64];
    const double mag = std::fabs(v);
    const auto fmt = (mag >= 1e-4 && mag < 1e21) ? std::chars_format::fixed : std::chars_format::scientific;
    const auto res = std::to_chars(buf, buf + sizeof buf, v, fmt);
    if (res.ec != std::errc{}) return "NaN";  // cannot happen with 64 bytes; never emit garbage
    return std::string(buf, res.ptr);
}

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

std::string escape_help(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

void Histogram::observe(double v) {
    if (std::isnan(v)) return;
    const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
    ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
    ++count_;
    sum_ += v;
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
    if (!(start > 0) || !std::isfinite(start) || !(factor > 1) || !std::isfinite(factor) || count < 1)
        throw std::invalid_argument("metrics: exponential_buckets needs start > 0, factor > 1, count >= 1");
    std::vector<double> bounds;
    bounds.reserve(count);
    double b = start;
    for (std::size_t i = 0; i < count; ++i, b *= factor) {
        if (!std::isfinite(b)) throw std::invalid_argument("metrics: exponential_buckets overflows to infinity");
        bounds.push_back(b);
    }
    return bounds;
}

struct Registry::Family {
    std::string name;
    std::string help;
    Type type;
    std::vector<std::string> label_names;
    std::vector<double> bounds;
    // Keyed by label values in label_names order; std::map keeps both the render order
    // deterministic and references stable.
    std::map<std::vector<std::string>, std::variant<Counter, Gauge, Histogram>> series;
};

Registry::Registry() = default;
Registry::~Registry() = default;

std::pair<Registry::Family*, std::vector<std::string>> Registry::declare(std::string name, std::string help,
                                                                         Type type, const Labels& labels,
                                                                         const std::vector<double>* bounds) {
    const char* tname = type_name(static_cast<int>(type));
    const auto fail = [&](const std::string& why) {
        throw std::invalid_argument("metrics: " + std::string(tname) + " " + quoted(name) + ": " + why);
    };
    if (!valid_metric_name(name)) fail("invalid metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
    if (help.empty()) fail("HELP text is empty");
    if (!valid_utf8(help)) fail("HELP text is not valid UTF-8");
    std::vector<std::string> names;
    names.reserve(labels.size());
    for (const auto& [label, value] : labels) {
        if (!valid_label_name(label)) fail("invalid label name " + quoted(label) + " (must match [a-zA-Z_][a-zA-Z0-9_]*)");
        if (label.starts_with("__")) fail("label name " + quoted(label) + " is reserved (starts with \"__\")");
        if (type == Type::histogram && label == "le") fail("label name \"le\" is reserved for histogram buckets");
        if (std::find(names.begin(), names.end(), label) != names.end()) fail("label " + quoted(label) + " given twice");
        names.push_back(label);
    }

    if (auto it = families_.find(name); it != families_.end()) {
        Family& f = *it->second;
        if (f.type != type) fail("already declared as a " + std::string(type_name(static_cast<int>(f.type))));
        if (f.help != help) fail("already declared with another HELP text");
        if (bounds != nullptr && *bounds != f.bounds) fail("already declared with other bucket bounds");
        if (names.size() != f.label_names.size()) fail("label names differ from the family's declaration");
        std::vector<std::string> key(f.label_names.size());
        for (std::size_t i = 0; i < f.label_names.size(); ++i) {
            const auto at = std::find_if(labels.begin(), labels.end(),
                                         [&](const auto& l) { return l.first == f.label_names[i]; });
            if (at == labels.end()) fail("label " + quoted(f.label_names[i]) + " missing (declared with it)");
            key[i] = sanitize_utf8(at->second);
        }
        return {&f, std::move(key)};
    }

    // A new family.
    if (type == Type::counter && !ends_with(name, "_total")) fail("counter names must end in \"_total\"");
    std::vector<std::string> samples;
    if (type == Type::histogram) {
        for (const char* s : {"_bucket", "_sum", "_count"}) samples.push_back(name + s);
        if (bounds == nullptr || bounds->empty()) fail("needs at least one bucket bound");
        for (std::size_t i = 0; i < bounds->size(); ++i) {
            if (!std::isfinite((*bounds)[i])) fail("bucket bounds must be finite (+Inf is implied)");
            if (i > 0 && !((*bounds)[i - 1] < (*bounds)[i])) fail("bucket bounds must be strictly increasing");
        }
    } else {
        samples.push_back(name);
    }
    for (const auto& s : samples) {
        if (auto owner = sample_owner_.find(s); owner != sample_owner_.end())
            fail("sample name " + quoted(s) + " collides with metric " + quoted(owner->second));
    }
    for (const auto& s : samples) sample_owner_.emplace(s, name);

    auto fam = std::make_unique<Family>();
    fam->name = name;
    fam->help = std::move(help);
    fam->type = type;
    fam->label_names = names;
    if (bounds != nullptr) fam->bounds = *bounds;
    std::vector<std::string> key;
    key.reserve(labels.size());
    for (const auto& l : labels) key.push_back(sanitize_utf8(l.second));
    Family* raw = fam.get();
    families_.emplace(std::move(name), std::move(fam));
    return {raw, std::move(key)};
}

Counter& Registry::counter(std::string name, std::string help, Labels labels) {
    auto [fam, key] = declare(std::move(name), std::move(help), Type::counter, labels, nullptr);
    auto it = fam->series.try_emplace(std::move(key), std::in_place_type<Counter>).first;
    return std::get<Counter>(it->second);
}

Gauge& Registry::gauge(std::string name, std::string help, Labels labels) {
    auto [fam, key] = declare(std::move(name), std::move(help), Type::gauge, labels, nullptr);
    auto it = fam->series.try_emplace(std::move(key), std::in_place_type<Gauge>).first;
    return std::get<Gauge>(it->second);
}

Histogram& Registry::histogram(std::string name, std::string help, std::vector<double> bounds, Labels labels) {
    auto [fam, key] = declare(std::move(name), std::move(help), Type::histogram, labels, &bounds);
    auto it = fam->series.try_emplace(std::move(key), std::in_place_type<Histogram>, fam->bounds).first;
    return std::get<Histogram>(it->second);
}

bool Registry::remove(std::string_view name, const Labels& labels) {
    const auto it = families_.find(name);
    if (it == families_.end()) return false;
    Family& f = *it->second;
    if (labels.size() != f.label_names.size()) return false;
    std::vector<std::string> key(f.label_names.size());
    for (std::size_t i = 0; i < f.label_names.size(); ++i) {
        const auto at = std::find_if(labels.begin(), labels.end(),
                                     [&](const auto& l) { return l.first == f.label_names[i]; });
        if (at == labels.end()) return false;
        key[i] = sanitize_utf8(at->second);
    }
    return f.series.erase(key) == 1;
}

namespace {

// name{a="x",b="y"} or name{a="x",le="0.5"}; no braces when there are no labels.
void append_series_name(std::string& out, std::string_view sample, const std::vector<std::string>& names,
                        const std::vector<std::string>& values, const std::string* le) {
    out += sample;
    if (names.empty() && le == nullptr) return;
    out += '{';
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += ',';
        out += names[i];
        out += "=\"";
        out += escape_label_value(values[i]);
        out += '"';
    }
    if (le != nullptr) {
        if (!names.empty()) out += ',';
        out += "le=\"";
        out += *le;
        out += '"';
    }
    out += '}';
}

}  // namespace

std::string Registry::render() const {
    std::string out;
    for (const auto& [name, fam] : families_) {
        if (fam->series.empty()) continue;
        out += "# HELP " + name + " " + escape_help(fam->help) + "\n";
        out += "# TYPE " + name + " " + type_name(static_cast<int>(fam->type)) + "\n";
        for (const auto& [values, series] : fam->series) {
            if (const auto* c = std::get_if<Counter>(&series)) {
                append_series_name(out, name, fam->label_names, values, nullptr);
                out += ' ' + std::to_string(c->value()) + '\n';
            } else if (const auto* g = std::get_if<Gauge>(&series)) {
                append_series_name(out, name, fam->label_names, values, nullptr);
                out += ' ' + format_value(g->value()) + '\n';
            } else {
                const auto& h = std::get<Histogram>(series);
                const std::string bucket = name + "_bucket";
                std::uint64_t cumulative = 0;
                for (std::size_t i = 0; i <= fam->bounds.size(); ++i) {
                    cumulative += h.bucket_counts()[i];
                    const std::string le = i < fam->bounds.size() ? format_value(fam->bounds[i]) : "+Inf";
                    append_series_name(out, bucket, fam->label_names, values, &le);
                    out += ' ' + std::to_string(cumulative) + '\n';
                }
                append_series_name(out, name + "_sum", fam->label_names, values, nullptr);
                out += ' ' + format_value(h.sum()) + '\n';
                append_series_name(out, name + "_count", fam->label_names, values, nullptr);
                out += ' ' + std::to_string(h.count()) + '\n';
            }
        }
    }
    return out;
}

}  // namespace ebpfix::metrics
