// Daemon log lines: a priority prefix for the journal, plain words on a terminal.
#define BOOST_TEST_MODULE daemon_log
#include <boost/test/unit_test.hpp>

#include "common/log.hpp"

using ebpfix::Level;
using ebpfix::log_line;

BOOST_AUTO_TEST_CASE(journal_lines_carry_the_priority) {
    BOOST_TEST(log_line(Level::info, "attached to eth0", true) == "<6>ebpfix: attached to eth0");
    BOOST_TEST(log_line(Level::error, "cannot open x", true) == "<3>ebpfix: cannot open x");
    BOOST_TEST(log_line(Level::warning, "w", true) == "<4>ebpfix: w");
}

BOOST_AUTO_TEST_CASE(terminal_lines_have_no_syslog_prefix) {
    BOOST_TEST(log_line(Level::info, "attached to eth0", false) == "ebpfix: attached to eth0");
    BOOST_TEST(log_line(Level::error, "cannot open x", false) == "ebpfix: error: cannot open x");
    BOOST_TEST(log_line(Level::warning, "w", false) == "ebpfix: warning: w");
}
