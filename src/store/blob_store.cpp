#include "store/blob_store.h"

#include <chrono>
#include <mutex>

#include "common/crypto.h"
#include "common/files.h"

namespace samcache {
namespace fs = std::filesystem;

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
  const auto cutoff = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const auto& entry : fs::directory_iterator(tmp_, ec)) {
    std::error_code ignored;
    if (entry.is_regular_file(ignored) && entry.last_write_time(ignored) < cutoff) {
      fs::remove(entry.path(), ignored);
    }
  }
  return Status::Ok();
}

fs::path BlobStore::PathFor(const std::string& content_hash) const {
  // Only our own SHA-256 hex digests reach here, never user text.
  return blobs_ / content_hash.substr(0, 2) / content_hash;
}

Status BlobStore::Put(const std::string& content_hash, std::string_view bytes) {
  if (!IsSha256Hex(content_hash)) return Status::Internal("not a content hash: " + content_hash);
  const fs::path path = PathFor(content_hash);
  std::error_code ec;
  if (fs::file_size(path, ec) == bytes.size() && !ec) {
    fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
    return Status::Ok();
  }
  return WriteFileAtomically(path, bytes, tmp_);
}

bool BlobStore::Contains(const std::string& content_hash) const {
  std::error_code ec;
  return IsSha256Hex(content_hash) && fs::is_regular_file(PathFor(content_hash), ec);
}

Result<std::string> BlobStore::Read(const std::string& content_hash) const {
  if (!IsSha256Hex(content_hash)) return Status::NotFound("no blob " + content_hash);
  return ReadFile(PathFor(content_hash));
}

size_t BlobStore::RemoveUnreferenced(const std::vector<std::string>& hashes,
                                     const std::function<bool(const std::string&)>& still_referenced) {
  std::unique_lock lock(gc_mutex_);
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
    for (const auto& entry : fs::directory_iterator(shard.path(), shard_ec)) {
      const std::string hash = entry.path().filename().string();
      std::error_code file_ec;
      if (!IsSha256Hex(hash) || !entry.is_regular_file(file_ec)) continue;
      ++report.files_seen;
      if (entry.last_write_time(file_ec) >= cutoff || file_ec) continue;
      // Asked under the exclusive pin: no upload of this process is between Put and its row.
      std::unique_lock lock(gc_mutex_);
      if (is_recorded(hash)) continue;
      std::error_code size_ec, remove_ec;
      const uintmax_t size = entry.file_size(size_ec);
      if (dry_run || fs::remove(entry.path(), remove_ec)) {
        ++report.files_removed;
        report.bytes_removed += size_ec ? 0 : size;
      }
    }
  }
  return report;
}

}  // namespace samcache
