#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>

#include "common/crypto.h"

namespace samcache {
namespace fs = std::filesystem;

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

std::string ErrnoText(const std::string& what, const fs::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

Status WriteAll(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(ErrnoText("cannot write", path));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Status WriteFileAtomically(const fs::path& path, std::string_view bytes, const fs::path& tmp_dir) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::create_directories(tmp_dir, ec);
  const fs::path tmp = tmp_dir / (RandomId() + ".tmp");
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status::IoError(ErrnoText("cannot create", tmp));

  Status st = WriteAll(fd.get(), bytes, tmp);
  if (st.ok() && ::fsync(fd.get()) != 0) st = Status::IoError(ErrnoText("cannot fsync", tmp));
  if (st.ok() && ::close(fd.Release()) != 0) st = Status::IoError(ErrnoText("cannot close", tmp));
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = Status::IoError(ErrnoText("cannot rename into", path));
  }
  if (!st.ok()) {
    fs::remove(tmp, ec);
    return st;
  }
  // The rename is durable only once the directory entry is on disk.
  Fd dir(::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
  return Status::Ok();
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) return Status::NotFound("no such file: " + path.string());
    return Status::IoError(ErrnoText("cannot open", path));
  }
  std::string bytes;
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  if (size < 0) return Status::IoError(ErrnoText("cannot size", path));
  bytes.resize(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(bytes.data(), size)) return Status::IoError(ErrnoText("cannot read", path));
  return bytes;
}

std::string Iso8601(std::chrono::system_clock::time_point time) {
  const auto since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const auto ms = since_epoch % 1000;
  const std::time_t t =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::time_point(since_epoch - ms));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms.count()));
  return buf;
}

}  // namespace samcache
