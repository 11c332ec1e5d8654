// examples/common/files.cpp — see files.h.
#include "examples/common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "engine/error.h"

namespace examples {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Writes all of [data, data + size) to fd, retrying after interrupts and short writes.
void write_all(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0)
      tessera::fail("write_file_atomically: writing '{}' failed: {} (the old file, if any, is untouched)",
                    path, errno_text(errno));
    data += written;
    size -= static_cast<size_t>(written);
  }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& contents) {
  namespace fs = std::filesystem;
  TS_CHECK(!path.empty(), "write_file_atomically: the path is empty");
  const fs::path target(path);
  const fs::path directory = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(directory, ec))
    tessera::fail("write_file_atomically: cannot write '{}': directory '{}' {}", path, directory.string(),
                  fs::exists(directory, ec) ? "is not a directory" : "does not exist");
  if (fs::is_directory(target, ec)) tessera::fail("write_file_atomically: cannot write '{}': it is a directory", path);

  static std::atomic<uint64_t> counter{0};
  const std::string temporary = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    tessera::fail("write_file_atomically: cannot create a temporary file for '{}' in '{}': {}", path,
                  directory.string(), errno_text(errno));
  try {
    struct stat old_file {};
    if (::stat(path.c_str(), &old_file) == 0) (void)::fchmod(fd, old_file.st_mode & 07777);  // keep its mode
    write_all(fd, contents.data(), contents.size(), path);
    if (::fsync(fd) != 0)
      tessera::fail("write_file_atomically: flushing '{}' to disk failed: {}", path, errno_text(errno));
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) tessera::fail("write_file_atomically: closing '{}' failed: {}", path, errno_text(errno));
    if (::rename(temporary.c_str(), path.c_str()) != 0)
      tessera::fail("write_file_atomically: cannot replace '{}': {}", path, errno_text(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }
  // Make the rename durable too (best effort: some file systems refuse fsync on a directory).
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd >= 0) {
    (void)::fsync(directory_fd);
    ::close(directory_fd);
  }
}

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    tessera::fail("read_file: cannot open '{}': {}", path, errno_text(err));
  }
  std::string contents;
  char buffer[1 << 16];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      tessera::fail("read_file: reading '{}' failed: {}", path, errno_text(err));
    }
    if (got == 0) break;
    contents.append(buffer, static_cast<size_t>(got));
  }
  ::close(fd);
  return contents;
}

namespace {

// Inflates gzip members into `out`; returns what is wrong ("" when nothing is).
std::string inflate_gzip_members(std::string_view bytes, std::string& out) {
  const auto has_magic = [](std::string_view b) {
    return b.size() >= 2 && static_cast<unsigned char>(b[0]) == 0x1f && static_cast<unsigned char>(b[1]) == 0x8b;
  };
  if (!has_magic(bytes)) {
    out.assign(bytes);  // no gzip header: the bytes as they are (zlib's transparent mode)
    return "";
  }
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) return "zlib could not start inflating";  // 16: gzip only
  std::vector<char> buffer(1 << 16);
  size_t offset = 0;  // of the current member's first byte
  std::string problem;
  while (problem.empty() && offset < bytes.size()) {
    const std::string_view member = bytes.substr(offset);
    if (offset > 0 && !has_magic(member)) {
      problem = fmt::format("{} bytes after the end of the gzip stream at byte {}", member.size(), offset);
      break;
    }
    inflateReset(&stream);
    stream.avail_in = 0;  // the previous member's unread bytes are fed again from `member` (found by fuzzing:
                          // they were counted against this member, and offset went backwards forever)
    // zlib takes unsigned sizes: feed at most 1 GiB at a time
    size_t fed = 0;
    int status = Z_OK;
    while (status == Z_OK) {
      if (stream.avail_in == 0 && fed < member.size()) {
        const size_t chunk = std::min<size_t>(member.size() - fed, size_t{1} << 30);
        stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(member.data() + fed));
        stream.avail_in = static_cast<uInt>(chunk);
        fed += chunk;
      }
      stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
      stream.avail_out = static_cast<uInt>(buffer.size());
      status = inflate(&stream, Z_NO_FLUSH);
      out.append(buffer.data(), buffer.size() - stream.avail_out);
      if (status == Z_BUF_ERROR && stream.avail_in == 0 && fed == member.size()) {
        problem = fmt::format("the compressed stream is truncated after {} bytes", offset + fed);
      } else if (status == Z_BUF_ERROR) {
        status = Z_OK;  // no progress possible with this output buffer yet: go on
      } else if (status != Z_OK && status != Z_STREAM_END) {
        problem = fmt::format("{} (zlib error {} near compressed byte {})", stream.msg ? stream.msg : "invalid data",
                              status, offset + fed - stream.avail_in);
      }
    }
    offset += fed - stream.avail_in;
  }
  inflateEnd(&stream);
  return problem;
}

}  // namespace

std::string inflate_gzip(std::string_view bytes, const std::string& source) {
  std::string out;
  const std::string problem = inflate_gzip_members(bytes, out);
  if (!problem.empty()) tessera::fail("inflate_gzip: {} is damaged: {}", source, problem);
  return out;
}

std::string read_gzip_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    tessera::fail("read_gzip_file: cannot open '{}': {}", path,
                  std::filesystem::exists(path, ec) ? "not a regular file" : "No such file or directory");
  std::string out;
  const std::string problem = inflate_gzip_members(read_file(path), out);
  if (!problem.empty()) tessera::fail("read_gzip_file: '{}' is damaged: {}", path, problem);
  return out;
}

}  // namespace examples
