#include "sinks/append_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ebpfix::sinks {

int write_fully(int fd, std::string_view buf) noexcept {
    while (!buf.empty()) {
        const ssize_t n = ::write(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        buf.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

AppendFile::AppendFile(std::string path, const char* empty_path_message) : path_(std::move(path)) {
    if (path_.empty()) throw OutputError(empty_path_message);
    if (path_ == "-") {
        fd_ = STDOUT_FILENO;
        return;
    }
    fd_ = open_path();
    if (fd_ < 0) throw OutputError(last_error_);
    owns_fd_ = true;
}

AppendFile::~AppendFile() {
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

int AppendFile::open_path() {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) last_error_ = path_ + ": " + std::strerror(errno);
    return fd;
}

int AppendFile::append(std::string_view buf, bool sync) {
    // A write that stops part way (ENOSPC after some pages) would leave a cut line, and the
    // flow log writes the whole block again later: cut the file back to where this append
    // began, so that it only ever holds whole appends.
    struct stat before {};
    const bool regular = owns_fd_ && ::fstat(fd_, &before) == 0 && S_ISREG(before.st_mode);
    int err = write_fully(fd_, buf);
    if (err != 0 && regular && ::ftruncate(fd_, before.st_size) != 0)
        err = errno;  // the cut line stays: say why
    if (err == 0 && sync && owns_fd_ && ::fsync(fd_) != 0) err = errno;
    if (err != 0) last_error_ = name() + ": " + std::strerror(err);
    return err;
}

bool AppendFile::reopen() {
    if (!owns_fd_) return true;
    const int fd = open_path();
    if (fd < 0) return false;
    ::close(fd_);
    fd_ = fd;
    return true;
}

}  // namespace ebpfix::sinks
