// Small file-system helpers with the durability the stores need.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace samcache {

// Owns a file descriptor: closed on every path out of a scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Writes `bytes` to `path` so that a crash at any moment leaves either no file or the whole
// file: write to a uniquely named temp file in `tmp_dir` (same file system as `path`),
// fsync it, rename it over `path`, fsync the parent directory. The temp file is removed on
// failure.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes,
                           const std::filesystem::path& tmp_dir);

// Reads a whole file. NotFound when it does not exist.
Result<std::string> ReadFile(const std::filesystem::path& path);

// A UTC time as ISO 8601 with milliseconds, e.g. "2026-11-24T13:53:17.123Z": the catalog's
// time format, which sorts as text in time order.
std::string Iso8601(std::chrono::system_clock::time_point time);
inline std::string NowIso8601() { return Iso8601(std::chrono::system_clock::now()); }

}  // namespace samcache
