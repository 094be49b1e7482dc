#include "store/space_reserve.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstring>

#include "common/files.h"

namespace samcache {
namespace fs = std::filesystem;

SpaceReserve::SpaceReserve(fs::path path, uint64_t bytes) : path_(std::move(path)), bytes_(bytes) {}

bool SpaceReserve::Restore() {
  if (bytes_ == 0) return false;
  std::lock_guard lock(mutex_);
  std::error_code ec;
  if (fs::file_size(path_, ec) >= bytes_ && !ec) return true;
  struct statvfs fsinfo {};
  if (::statvfs(path_.parent_path().c_str(), &fsinfo) != 0) return false;
  const uint64_t available = static_cast<uint64_t>(fsinfo.f_bavail) * fsinfo.f_frsize;
  if (available < 2 * bytes_) return false;  // not yet: the reserve must not fill the disk itself

  // Allocated under another name and renamed, so the reserve is whole or absent.
  const fs::path partial = fs::path(path_).concat(".new");
  Fd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  int error = fd.get() < 0 ? errno : ::posix_fallocate(fd.get(), 0, static_cast<off_t>(bytes_));
  if (error == 0 && ::fsync(fd.get()) != 0) error = errno;
  if (error == 0 && ::rename(partial.c_str(), path_.c_str()) != 0) error = errno;
  if (error != 0) {
    fs::remove(partial, ec);
    spdlog::warn("[STORE] cannot create the {} MiB space reserve {}: {}", bytes_ >> 20, path_.string(),
                 std::strerror(error));
    return false;
  }
  return true;
}

bool SpaceReserve::Release() {
  if (bytes_ == 0) return false;
  std::lock_guard lock(mutex_);
  std::error_code ec;
  if (!fs::remove(path_, ec)) return false;
  spdlog::warn("[STORE] the disk is full: released the {} MiB space reserve {} so that data can be deleted",
               bytes_ >> 20, path_.string());
  return true;
}

}  // namespace samcache
