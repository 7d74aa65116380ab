// Prometheus metrics registry: counters, gauges and histograms rendered in the text
// exposition format 0.0.4. The daemon runs on one io_context thread, so nothing here
// locks; every call must come from that thread (or be otherwise serialized).
//
// A family (one metric name) is declared by its first use, which fixes its type, HELP
// text, label names (and, for histograms, bucket bounds). Later uses must repeat the same
// declaration and pick or create one series by label values. References returned stay
// valid until the series is removed or the registry is destroyed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ebpfix::metrics {

// Label name/value pairs, e.g. {{"interface", "eth0"}, {"direction", "ingress"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Monotonic count. Integral, so totals of packets and bytes render exactly.
class Counter {
public:
    void inc(std::uint64_t n = 1) { value_ += n; }
    // Mirrors a total kept elsewhere (the kernel's per-CPU counters). A value below the
    // previous one is taken as a reset, which Prometheus' rate() handles.
    void set_total(std::uint64_t total) { value_ = total; }
    std::uint64_t value() const { return value_; }

private:
    std::uint64_t value_ = 0;
};

class Gauge {
public:
    void set(double v) { value_ = v; }
    void inc(double d = 1) { value_ += d; }
    void dec(double d = 1) { value_ -= d; }
    double value() const { return value_; }

private:
    double value_ = 0;
};

class Histogram {
public:
    explicit Histogram(const std::vector<double>& bounds) : bounds_(bounds), counts_(bounds.size() + 1, 0) {}
    // Counts v in the first bucket whose upper bound is >= v (Prometheus' "le"). NaN is
    // ignored: one NaN would turn _sum into NaN for the life of the process.
    void observe(double v);
    std::uint64_t count() const { return count_; }
    double sum() const { return sum_; }
    // Per-bucket (not cumulative) counts; the last entry is the +Inf bucket.
    const std::vector<std::uint64_t>& bucket_counts() const { return counts_; }
    const std::vector<double>& bounds() const { return bounds_; }

private:
    std::vector<double> bounds_;
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    double sum_ = 0;
};

// Exponential bucket bounds: start, start*factor, ... (count bounds). Throws
// std::invalid_argument unless start > 0, factor > 1 and count >= 1.
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);

class Registry {
public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    // Each throws std::invalid_argument naming the metric when: the name is not
    // [a-zA-Z_:][a-zA-Z0-9_:]*; a label name is not [a-zA-Z_][a-zA-Z0-9_]* (the exposition
    // format allows no ':' there), starts with the reserved "__" or is repeated; HELP is
    // empty or not UTF-8; the family exists with another type, HELP, label names or
    // bounds; a counter name does not end in "_total"; a sample name would collide with
    // another family's (a histogram "x" owns x_bucket, x_sum, x_count); a histogram uses
    // the label "le" or has bounds that are not finite and strictly increasing.
    // Label values may be any text; invalid UTF-8 is replaced with U+FFFD.
    // Labels may be given in any order; they are stored in the family's order.
    Counter& counter(std::string name, std::string help, Labels labels = {});
    Gauge& gauge(std::string name, std::string help, Labels labels = {});
    Histogram& histogram(std::string name, std::string help, std::vector<double> bounds, Labels labels = {});

    // Drops one series (e.g. a collector removed on reload). References to it dangle
    // afterwards. The family's HELP/TYPE stay declared. Returns false if there was none.
    bool remove(std::string_view name, const Labels& labels);

    // Text exposition format 0.0.4: families sorted by name, each with one # HELP and
    // one # TYPE line, then its series sorted by label values. A family with no series
    // renders nothing (promtool rejects metadata without samples in some versions).
    std::string render() const;

private:
    enum class Type : std::uint8_t { counter, gauge, histogram };
    struct Family;
    // Finds or declares the family and returns it with the series key (label values in
    // the family's label order, sanitized).
    std::pair<Family*, std::vector<std::string>> declare(std::string name, std::string help, Type type,
                                                         const Labels& labels, const std::vector<double>* bounds);
    std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
    std::map<std::string, std::string, std::less<>> sample_owner_;  // sample name -> family
};

// Helpers exposed for tests and for other text outputs.
// Prometheus float text: integers without exponent up to 1e21, shortest round-trip
// otherwise; "NaN", "+Inf", "-Inf".
std::string format_value(double v);
// Label value escaping: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);
// HELP escaping: backslash and newline.
std::string escape_help(std::string_view v);

}  // namespace ebpfix::metrics
