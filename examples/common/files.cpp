// examples/common/files.cpp — see files.h.
#include "examples/common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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

std::string read_gzip_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    tessera::fail("read_gzip_file: cannot open '{}': {}", path,
                  std::filesystem::exists(path, ec) ? "not a regular file" : "No such file or directory");
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) tessera::fail("read_gzip_file: cannot open '{}': {}", path, errno_text(errno));
  std::string contents;
  std::vector<char> buffer(1 << 20);
  while (true) {
    const int got = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (got < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      tessera::fail("read_gzip_file: '{}' is damaged: {}", path, message);
    }
    if (got == 0) break;
    contents.append(buffer.data(), static_cast<size_t>(got));
  }
  const int closed = gzclose(file);
  TS_CHECK(closed == Z_OK, "read_gzip_file: '{}' is damaged: the compressed stream does not end cleanly (zlib error {})",
           path, closed);
  return contents;
}

}  // namespace examples
