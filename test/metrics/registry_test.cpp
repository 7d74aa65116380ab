// The registry's text exposition output, byte for byte: family and series order,
// escaping, histogram buckets, number formatting, and every declaration error.
#define BOOST_TEST_MODULE metrics_registry
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "metrics/registry.hpp"

using namespace ebpfix::metrics;

namespace {

// Checks that f throws std::invalid_argument whose message contains every fragment.
template <typename F>
void expect_invalid(F&& f, std::initializer_list<std::string> fragments) {
    try {
        f();
        BOOST_ERROR("no exception; expected one mentioning " << *fragments.begin());
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        for (const auto& frag : fragments)
            BOOST_CHECK_MESSAGE(what.find(frag) != std::string::npos, "\"" << what << "\" lacks \"" << frag << "\"");
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(empty_registry_renders_nothing) {
    Registry r;
    BOOST_TEST(r.render() == "");
}

BOOST_AUTO_TEST_CASE(families_sorted_series_grouped_and_zero_series_present) {
    Registry r;
    // Declared out of name order; labels of the second series given in another order.
    r.counter("ebpfix_packets_total", "Packets counted.", {{"interface", "eth0"}, {"direction", "ingress"}}).inc(5);
    r.gauge("ebpfix_flows_active", "Flows in the table.").set(42);
    r.counter("ebpfix_packets_total", "Packets counted.", {{"direction", "egress"}, {"interface", "eth0"}}).set_total(7);
    r.counter("ebpfix_config_reloads_total", "Reloads.", {{"result", "ok"}});
    r.counter("ebpfix_config_reloads_total", "Reloads.", {{"result", "error"}}).inc();
    r.counter("ebpfix_packets_total", "Packets counted.", {{"interface", "eth0"}, {"direction", "ingress"}}).inc(2);
    r.counter("ebpfix_packets_total", "Packets counted.", {{"interface", "a"}, {"direction", "z"}});

    BOOST_TEST(r.render() ==
               "# HELP ebpfix_config_reloads_total Reloads.\n"
               "# TYPE ebpfix_config_reloads_total counter\n"
               "ebpfix_config_reloads_total{result=\"error\"} 1\n"
               "ebpfix_config_reloads_total{result=\"ok\"} 0\n"
               "# HELP ebpfix_flows_active Flows in the table.\n"
               "# TYPE ebpfix_flows_active gauge\n"
               "ebpfix_flows_active 42\n"
               "# HELP ebpfix_packets_total Packets counted.\n"
               "# TYPE ebpfix_packets_total counter\n"
               "ebpfix_packets_total{interface=\"a\",direction=\"z\"} 0\n"
               "ebpfix_packets_total{interface=\"eth0\",direction=\"egress\"} 7\n"
               "ebpfix_packets_total{interface=\"eth0\",direction=\"ingress\"} 7\n");
}

BOOST_AUTO_TEST_CASE(counter_inc_set_total_and_full_range) {
    Registry r;
    Counter& c = r.counter("c_total", "C.");
    c.inc();
    c.inc(9);
    BOOST_TEST(c.value() == 10u);
    c.set_total(std::numeric_limits<std::uint64_t>::max());
    BOOST_TEST(r.render() == "# HELP c_total C.\n# TYPE c_total counter\nc_total 18446744073709551615\n");
    c.set_total(3);  // a kernel counter reset is passed through as is
    BOOST_TEST(r.render() == "# HELP c_total C.\n# TYPE c_total counter\nc_total 3\n");
}

BOOST_AUTO_TEST_CASE(references_stay_valid_while_series_are_added) {
    Registry r;
    Counter& first = r.counter("x_total", "X.", {{"n", "0"}});
    Gauge& g = r.gauge("g", "G.");
    for (int i = 1; i < 200; ++i) {
        r.counter("x_total", "X.", {{"n", std::to_string(i)}}).inc(static_cast<std::uint64_t>(i));
        r.gauge("g_" + std::to_string(i), "G.").set(i);
    }
    first.inc(77);
    g.set(-1.5);
    BOOST_TEST(r.counter("x_total", "X.", {{"n", "0"}}).value() == 77u);
    BOOST_TEST(&r.counter("x_total", "X.", {{"n", "0"}}) == &first);
    BOOST_TEST(r.gauge("g", "G.").value() == -1.5);
}

BOOST_AUTO_TEST_CASE(escaping_of_label_values_and_help) {
    Registry r;
    r.gauge("esc", "Line one\nback\\slash \"quotes\" stay", {{"v", "a\\b\"c\nd"}}).set(1);
    BOOST_TEST(r.render() ==
               "# HELP esc Line one\\nback\\\\slash \"quotes\" stay\n"
               "# TYPE esc gauge\n"
               "esc{v=\"a\\\\b\\\"c\\nd\"} 1\n");
    BOOST_TEST(escape_label_value("plain") == "plain");
    BOOST_TEST(escape_help("tab\tis kept") == "tab\tis kept");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_label_values_become_replacement_characters) {
    Registry r;
    r.gauge("u", "U.", {{"if", "eth\xff" "0"}}).set(1);             // stray byte
    r.gauge("u", "U.", {{"if", "wg-\xE2\x82\xAC"}}).set(2);          // valid euro sign kept
    r.gauge("u", "U.", {{"if", "o\xC0\xAF"}}).set(3);                // overlong '/'
    r.gauge("u", "U.", {{"if", "s\xED\xA0\x80"}}).set(4);            // UTF-16 surrogate
    r.gauge("u", "U.", {{"if", "t\xE2\x82"}}).set(5);                // truncated sequence
    const std::string rep = "\xEF\xBF\xBD";
    BOOST_TEST(r.render() ==
               "# HELP u U.\n# TYPE u gauge\n"
               "u{if=\"eth" + rep + "0\"} 1\n"
               "u{if=\"o" + rep + rep + "\"} 3\n"
               "u{if=\"s" + rep + rep + rep + "\"} 4\n"
               "u{if=\"t" + rep + rep + "\"} 5\n"
               "u{if=\"wg-\xE2\x82\xAC\"} 2\n");
    // The sanitized value is the key: asking with the raw bytes finds the same series.
    BOOST_TEST(r.gauge("u", "U.", {{"if", "eth\xff" "0"}}).value() == 1.0);
}

BOOST_AUTO_TEST_CASE(histogram_cumulative_buckets_sum_count) {
    Registry r;
    const std::vector<double> bounds{0.125, 0.5, 1, 2};
    Histogram& h = r.histogram("ebpfix_drain_duration_seconds", "Drain time.", bounds, {{"phase", "drain"}});
    for (double v : {0.25, 0.5, 1.0, 3.0, 0.125}) h.observe(v);  // 0.5, 1 and 0.125 sit on bounds: le is inclusive
    h.observe(std::nan(""));                                    // ignored
    r.histogram("ebpfix_drain_duration_seconds", "Drain time.", bounds, {{"phase", "flip"}});
    BOOST_TEST(h.count() == 5u);
    BOOST_TEST(h.sum() == 4.875);
    BOOST_TEST(r.render() ==
               "# HELP ebpfix_drain_duration_seconds Drain time.\n"
               "# TYPE ebpfix_drain_duration_seconds histogram\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"drain\",le=\"0.125\"} 1\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"drain\",le=\"0.5\"} 3\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"drain\",le=\"1\"} 4\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"drain\",le=\"2\"} 4\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"drain\",le=\"+Inf\"} 5\n"
               "ebpfix_drain_duration_seconds_sum{phase=\"drain\"} 4.875\n"
               "ebpfix_drain_duration_seconds_count{phase=\"drain\"} 5\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"flip\",le=\"0.125\"} 0\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"flip\",le=\"0.5\"} 0\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"flip\",le=\"1\"} 0\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"flip\",le=\"2\"} 0\n"
               "ebpfix_drain_duration_seconds_bucket{phase=\"flip\",le=\"+Inf\"} 0\n"
               "ebpfix_drain_duration_seconds_sum{phase=\"flip\"} 0\n"
               "ebpfix_drain_duration_seconds_count{phase=\"flip\"} 0\n");
}

BOOST_AUTO_TEST_CASE(histogram_without_labels_and_extreme_observations) {
    Registry r;
    Histogram& h = r.histogram("h", "H.", {1e-05, 0.001});
    h.observe(-std::numeric_limits<double>::infinity());
    h.observe(0.0005);
    h.observe(std::numeric_limits<double>::infinity());
    BOOST_TEST(r.render() ==
               "# HELP h H.\n# TYPE h histogram\n"
               "h_bucket{le=\"1e-05\"} 1\n"
               "h_bucket{le=\"0.001\"} 2\n"
               "h_bucket{le=\"+Inf\"} 3\n"
               "h_sum NaN\n"
               "h_count 3\n");
}

BOOST_AUTO_TEST_CASE(number_formatting) {
    BOOST_TEST(format_value(0.0) == "0");
    BOOST_TEST(format_value(-0.0) == "0");
    BOOST_TEST(format_value(42) == "42");
    BOOST_TEST(format_value(-2.5) == "-2.5");
    BOOST_TEST(format_value(1e6) == "1000000");
    BOOST_TEST(format_value(0.1) == "0.1");
    BOOST_TEST(format_value(0.0001) == "0.0001");
    BOOST_TEST(format_value(0.00001) == "1e-05");
    BOOST_TEST(format_value(9007199254740993.0) == "9007199254740992");  // nearest double
    BOOST_TEST(format_value(1e21) == "1e+21");
    BOOST_TEST(format_value(1.5e300) == "1.5e+300");
    BOOST_TEST(format_value(std::nan("")) == "NaN");
    BOOST_TEST(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
    BOOST_TEST(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
}

BOOST_AUTO_TEST_CASE(exponential_bucket_bounds) {
    const auto b = exponential_buckets(0.001, 2, 4);
    BOOST_TEST(b == (std::vector<double>{0.001, 0.002, 0.004, 0.008}), boost::test_tools::per_element());
    expect_invalid([] { exponential_buckets(0, 2, 3); }, {"start > 0"});
    expect_invalid([] { exponential_buckets(1, 1, 3); }, {"factor > 1"});
    expect_invalid([] { exponential_buckets(1, 2, 0); }, {"count >= 1"});
    expect_invalid([] { exponential_buckets(1e300, 1e10, 3); }, {"infinity"});
}

BOOST_AUTO_TEST_CASE(invalid_names_are_refused_with_the_name) {
    Registry r;
    expect_invalid([&] { r.counter("bad-name_total", "H."); }, {"counter", "\"bad-name_total\"", "invalid metric name"});
    expect_invalid([&] { r.gauge("", "H."); }, {"invalid metric name"});
    expect_invalid([&] { r.gauge("9lives", "H."); }, {"\"9lives\"", "invalid metric name"});
    BOOST_CHECK_NO_THROW(r.gauge("ns:sub_system:x", "Colons are allowed in metric names."));
    expect_invalid([&] { r.counter("packets", "H."); }, {"\"packets\"", "must end in \"_total\""});
    expect_invalid([&] { r.gauge("g1", "H.", {{"1x", "v"}}); }, {"\"g1\"", "invalid label name \"1x\""});
    expect_invalid([&] { r.gauge("g2", "H.", {{"a:b", "v"}}); }, {"invalid label name \"a:b\""});
    expect_invalid([&] { r.gauge("g3", "H.", {{"__name__", "v"}}); }, {"\"__name__\" is reserved"});
    expect_invalid([&] { r.gauge("g4", "H.", {{"a", "1"}, {"a", "2"}}); }, {"label \"a\" given twice"});
    expect_invalid([&] { r.gauge("g5", ""); }, {"HELP text is empty"});
    expect_invalid([&] { r.gauge("g6", "bad \xff"); }, {"not valid UTF-8"});
    expect_invalid([&] { r.histogram("h1", "H.", {1}, {{"le", "x"}}); }, {"\"le\" is reserved"});
    // Nothing of the refused declarations was kept.
    BOOST_TEST(r.render() == "# HELP ns:sub_system:x Colons are allowed in metric names.\n"
                             "# TYPE ns:sub_system:x gauge\nns:sub_system:x 0\n");
}

BOOST_AUTO_TEST_CASE(redeclarations_must_match) {
    Registry r;
    r.counter("a_total", "A.", {{"collector", "c1"}, {"kind", "k"}});
    expect_invalid([&] { r.gauge("a_total", "A."); }, {"gauge \"a_total\"", "already declared as a counter"});
    expect_invalid([&] { r.counter("a_total", "Other help.", {{"collector", "c1"}, {"kind", "k"}}); },
                   {"another HELP"});
    expect_invalid([&] { r.counter("a_total", "A.", {{"collector", "c1"}}); }, {"label names differ"});
    expect_invalid([&] { r.counter("a_total", "A.", {{"collector", "c1"}, {"other", "k"}}); },
                   {"label \"kind\" missing"});
    expect_invalid([&] { r.counter("a_total", "A."); }, {"label names differ"});

    r.histogram("h", "H.", {1, 2});
    expect_invalid([&] { r.histogram("h", "H.", {1, 3}); }, {"other bucket bounds"});
    expect_invalid([&] { r.histogram("h2", "H.", {}); }, {"at least one bucket"});
    expect_invalid([&] { r.histogram("h3", "H.", {1, 1}); }, {"strictly increasing"});
    expect_invalid([&] { r.histogram("h4", "H.", {2, 1}); }, {"strictly increasing"});
    expect_invalid([&] { r.histogram("h5", "H.", {1, std::numeric_limits<double>::infinity()}); }, {"finite"});
    expect_invalid([&] { r.histogram("h6", "H.", {std::nan("")}); }, {"finite"});

    // Sample names that would be ambiguous in the text format.
    expect_invalid([&] { r.gauge("h_sum", "S."); }, {"sample name \"h_sum\" collides with metric \"h\""});
    BOOST_CHECK_NO_THROW(r.counter("h_count_total", "Not a sample of h."));
}

BOOST_AUTO_TEST_CASE(sample_name_collisions_both_ways) {
    Registry r;
    r.gauge("q_bucket", "Q.");
    expect_invalid([&] { r.histogram("q", "H.", {1}); }, {"histogram \"q\"", "\"q_bucket\" collides with metric \"q_bucket\""});
    r.histogram("w", "W.", {1});
    expect_invalid([&] { r.gauge("w_count", "C."); }, {"collides with metric \"w\""});
    expect_invalid([&] { r.gauge("w", "C."); }, {"already declared as a histogram"});
}

BOOST_AUTO_TEST_CASE(remove_drops_one_series) {
    Registry r;
    r.counter("ebpfix_collector_records_total", "Records.", {{"collector", "10.0.0.1:2055"}}).inc(3);
    r.counter("ebpfix_collector_records_total", "Records.", {{"collector", "[::1]:4739"}}).inc(4);
    BOOST_TEST(r.remove("ebpfix_collector_records_total", {{"collector", "10.0.0.1:2055"}}));
    BOOST_TEST(!r.remove("ebpfix_collector_records_total", {{"collector", "10.0.0.1:2055"}}));
    BOOST_TEST(!r.remove("nope_total", {}));
    BOOST_TEST(!r.remove("ebpfix_collector_records_total", {{"other", "x"}}));
    BOOST_TEST(r.render() ==
               "# HELP ebpfix_collector_records_total Records.\n"
               "# TYPE ebpfix_collector_records_total counter\n"
               "ebpfix_collector_records_total{collector=\"[::1]:4739\"} 4\n");
    BOOST_TEST(r.remove("ebpfix_collector_records_total", {{"collector", "[::1]:4739"}}));
    BOOST_TEST(r.render() == "");  // a family without series renders nothing
    // Re-created at zero, with the same declaration.
    r.counter("ebpfix_collector_records_total", "Records.", {{"collector", "[::1]:4739"}});
    BOOST_TEST(r.render() ==
               "# HELP ebpfix_collector_records_total Records.\n"
               "# TYPE ebpfix_collector_records_total counter\n"
               "ebpfix_collector_records_total{collector=\"[::1]:4739\"} 0\n");
}
