#include "store/blob_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>

#include "common/crypto.h"
#include "common/files.h"
#include "common/server_paths.h"

namespace samcache {
namespace fs = std::filesystem;

namespace {

// Takes a flock, retrying when a signal interrupts the wait.
bool Flock(int fd, int operation) {
  while (::flock(fd, operation) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

// Removes the temp files last modified before `cutoff`; returns how many.
size_t RemoveTempFilesBefore(const fs::path& tmp, fs::file_time_type cutoff, bool dry_run) {
  size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(tmp, ec)) {
    std::error_code ignored;
    if (!entry.is_regular_file(ignored) || entry.last_write_time(ignored) >= cutoff) continue;
    if (dry_run || fs::remove(entry.path(), ignored)) ++removed;
  }
  return removed;
}

}  // namespace

BlobStore::BlobStore(fs::path root) : BlobStore(root / "blobs", root / "tmp") {}

BlobStore::BlobStore(fs::path blobs_dir, fs::path tmp_dir)
    : blobs_(std::move(blobs_dir)), tmp_(std::move(tmp_dir)) {}

Status BlobStore::Init() {
  std::error_code ec;
  fs::create_directories(blobs_, ec);
  if (ec) return Status::IoError("cannot create " + blobs_.string() + ": " + ec.message());
  fs::create_directories(tmp_, ec);
  if (ec) return Status::IoError("cannot create " + tmp_.string() + ": " + ec.message());
  // Another process may be writing into tmp/ right now: only old files are leftovers.
  const size_t removed =
      RemoveTempFilesBefore(tmp_, fs::file_time_type::clock::now() - std::chrono::hours(1), false);
  if (removed > 0) spdlog::info("[STORE] removed {} temp file(s) of interrupted uploads", removed);
  return Status::Ok();
}

int BlobStore::LockFolder(int operation) {
  int fd = ::open(blobs_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 && !Flock(fd, operation)) {
    ::close(fd);
    fd = -1;
  }
  // Without it, this process's own writers and deletions still exclude each other (the local
  // lock); only other processes sharing the folder could interfere.
  if (fd < 0 && !lock_warned_.exchange(true)) {
    spdlog::warn("[STORE] cannot flock {} ({}): processes sharing it may delete a file another is recording",
                 blobs_.string(), std::strerror(errno));
  }
  return fd;
}

BlobStore::WritePin BlobStore::PinForWrite() {
  std::shared_lock local(gc_mutex_);
  const int fd = LockFolder(LOCK_SH);
  return WritePin(std::move(local), fd);
}

BlobStore::WritePin::WritePin(WritePin&& other) noexcept
    : local_(std::move(other.local_)), fd_(std::exchange(other.fd_, -1)) {}

BlobStore::WritePin::~WritePin() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

BlobStore::Exclusive::Exclusive(BlobStore& store) : local_(store.gc_mutex_), fd_(store.LockFolder(LOCK_EX)) {}

BlobStore::Exclusive::~Exclusive() {
  if (fd_ >= 0) ::close(fd_);
}

fs::path BlobStore::PathFor(const std::string& content_hash) const {
  // Only our own SHA-256 hex digests reach here, never user text.
  return blobs_ / content_hash.substr(0, 2) / content_hash;
}

Status BlobStore::Put(const std::string& content_hash, std::string_view bytes) {
  if (!IsSha256Hex(content_hash)) return Status::Internal("not a content hash");
  const fs::path path = PathFor(content_hash);
  std::error_code ec;
  if (fs::file_size(path, ec) == bytes.size() && !ec) {
    fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
    return Status::Ok();
  }
  return ClientSafe(WriteFileAtomically(path, bytes, tmp_), "the server could not write to its data folder");
}

bool BlobStore::Contains(const std::string& content_hash) const {
  std::error_code ec;
  return IsSha256Hex(content_hash) && fs::is_regular_file(PathFor(content_hash), ec);
}

Result<std::string> BlobStore::Read(const std::string& content_hash) const {
  const std::string name = content_hash.substr(0, 12);
  if (!IsSha256Hex(content_hash)) return Status::NotFound("no stored file " + name);
  Result<std::string> bytes = ReadFile(PathFor(content_hash));
  if (!bytes.ok() && bytes.status().code() == StatusCode::kNotFound) {
    spdlog::error("[STORE] {}", bytes.status().message());
    return Status::NotFound("the stored file of content " + name + " is missing");
  }
  if (!bytes.ok()) return ClientSafe(bytes.status(), "the server could not read the stored file " + name);
  return bytes;
}

size_t BlobStore::RemoveUnreferenced(const std::vector<std::string>& hashes,
                                     const std::function<bool(const std::string&)>& still_referenced) {
  Exclusive lock(*this);
  size_t removed = 0;
  for (const std::string& hash : hashes) {
    if (!IsSha256Hex(hash) || still_referenced(hash)) continue;
    std::error_code ec;
    if (fs::remove(PathFor(hash), ec)) ++removed;
  }
  return removed;
}

BlobStore::GarbageReport BlobStore::CollectGarbage(const std::function<bool(const std::string&)>& is_recorded,
                                                   std::chrono::seconds grace, bool dry_run) {
  GarbageReport report;
  const auto cutoff = fs::file_time_type::clock::now() - grace;
  std::error_code ec;
  for (const auto& shard : fs::directory_iterator(blobs_, ec)) {
    std::error_code shard_ec;
    if (!shard.is_directory(shard_ec)) continue;
    for (const auto& entry : fs::directory_iterator(shard.path(), shard_ec)) {
      const std::string hash = entry.path().filename().string();
      std::error_code file_ec;
      if (!IsSha256Hex(hash) || !entry.is_regular_file(file_ec)) continue;
      ++report.files_seen;
      if (entry.last_write_time(file_ec) >= cutoff || file_ec) continue;
      // Asked under the exclusive lock: no upload of any process is between Put and its row.
      Exclusive lock(*this);
      if (is_recorded(hash)) continue;
      std::error_code size_ec, remove_ec;
      const uintmax_t size = entry.file_size(size_ec);
      if (dry_run || fs::remove(entry.path(), remove_ec)) {
        ++report.files_removed;
        report.bytes_removed += size_ec ? 0 : size;
      }
    }
  }
  report.temp_removed = RemoveTempFilesBefore(tmp_, cutoff, dry_run);
  return report;
}

}  // namespace samcache
