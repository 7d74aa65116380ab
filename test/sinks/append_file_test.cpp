// AppendFile: an append that fails part way (the disk filled after some bytes) leaves
// the file as it was before that append, so a retry never follows a cut line.
#define BOOST_TEST_MODULE append_file
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "sinks/append_file.hpp"

namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace

// RLIMIT_FSIZE stands in for a full disk: the kernel writes up to the limit, then the
// next write fails (EFBIG with SIGXFSZ ignored), as ENOSPC does part way into a block.
BOOST_AUTO_TEST_CASE(a_write_cut_part_way_is_taken_back) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("ebpfix-append-" + std::to_string(::getpid()))).string();
    std::filesystem::remove(path);
    const std::string first(1000, 'a'), block(10000, 'b');
    const pid_t child = ::fork();
    BOOST_TEST_REQUIRE(child >= 0);
    if (child == 0) {
        // In a child: the limit must not touch the test process.
        std::signal(SIGXFSZ, SIG_IGN);
        ebpfix::sinks::AppendFile file(path, "no path");
        if (file.append(first) != 0) std::_Exit(2);
        const rlimit limit{4096, 4096};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) std::_Exit(3);
        const int err = file.append(block);  // 3096 bytes fit, then EFBIG
        std::_Exit(err == EFBIG ? 0 : 4);
    }
    int status = 0;
    BOOST_TEST_REQUIRE(::waitpid(child, &status, 0) == child);
    BOOST_TEST_REQUIRE(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0);
    BOOST_TEST(read_all(path) == first);  // not first + 3096 bytes of the block
    std::filesystem::remove(path);
}
