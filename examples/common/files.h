// examples/common/files.h — reading a whole file, and writing one so a crash never leaves half of
// it behind.
//
// write_file_atomically writes to a temporary file in the same directory, fsyncs it and renames
// it over the target (rename within one file system is atomic), then fsyncs the directory, so
// `path` holds either its old content or the complete new one (vocabularies, plots, logs).
#pragma once

#include <string>
#include <string_view>

namespace examples {

// Throws tessera::Error naming the path and the system's reason (errno text) on any failure;
// the temporary file is removed then and the old file, if any, is untouched.
void write_file_atomically(const std::string& path, const std::string& contents);

// The whole file as bytes. Throws tessera::Error naming the path when it is missing, a
// directory or unreadable.
std::string read_file(const std::string& path);

// The whole file inflated, for gzip files (.gz) and dictzip files (.dict.dz, gzip with an extra
// header field); a file without a gzip header is returned as it is (zlib's transparent mode).
// Throws tessera::Error naming the path when it is missing or the compressed data is damaged.
std::string read_gzip_file(const std::string& path);

// The same for bytes already in memory (read_gzip_file is read_file + this): one or more gzip
// members inflated and concatenated, or the bytes as they are when they do not start with the
// gzip magic 1f 8b. A damaged or truncated stream, or bytes after the last member, throw
// tessera::Error naming `source` and the compressed offset.
std::string inflate_gzip(std::string_view bytes, const std::string& source);

}  // namespace examples
