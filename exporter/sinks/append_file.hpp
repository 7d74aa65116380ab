// An output file that is only appended to, shared by the flow log and the stats file:
// "-" is standard output, anything else is opened O_APPEND|O_CREAT and can be reopened
// for logrotate without ever losing the old descriptor on failure.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace ebpfix::sinks {

class OutputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Writes all of buf to fd, retrying on EINTR and partial writes. Returns 0 or an errno.
int write_fully(int fd, std::string_view buf) noexcept;

class AppendFile {
public:
    // Opens path (0644). Throws OutputError: empty_path_message for "", "PATH: reason"
    // when the file cannot be opened.
    AppendFile(std::string path, const char* empty_path_message);
    ~AppendFile();
    AppendFile(const AppendFile&) = delete;
    AppendFile& operator=(const AppendFile&) = delete;

    // Appends buf; with sync, fsyncs a real file afterwards. Returns 0 or an errno and
    // sets last_error() ("NAME: reason").
    int append(std::string_view buf, bool sync = false);
    // Closes and opens the path again; stdout is left alone. On failure the old
    // descriptor is kept, last_error() says why and false is returned.
    bool reopen();

    bool is_stdout() const noexcept { return !owns_fd_; }
    const std::string& path() const noexcept { return path_; }
    // "stdout" or the path, for messages.
    std::string name() const { return owns_fd_ ? path_ : std::string("stdout"); }
    const std::string& last_error() const noexcept { return last_error_; }

private:
    int open_path();  // -1 and last_error_ set on failure

    std::string path_;
    int fd_ = -1;
    bool owns_fd_ = false;
    std::string last_error_;
};

}  // namespace ebpfix::sinks
