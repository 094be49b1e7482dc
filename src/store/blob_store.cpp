#include "store/blob_store.h"

#include <chrono>
#include <mutex>

#include "common/crypto.h"
#include "common/files.h"

namespace samcache {
namespace fs = std::filesystem;

BlobStore::BlobStore(fs::path root) : root_(std::move(root)), tmp_(root_ / "tmp") {}

Status BlobStore::Init() {
  std::error_code ec;
  fs::create_directories(root_ / "blobs", ec);
  if (ec) return Status::IoError("cannot create " + (root_ / "blobs").string() + ": " + ec.message());
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
  return root_ / "blobs" / content_hash.substr(0, 2) / content_hash;
}

Status BlobStore::Put(const std::string& content_hash, std::string_view bytes) {
  if (!IsSha256Hex(content_hash)) return Status::Internal("not a content hash: " + content_hash);
  const fs::path path = PathFor(content_hash);
  std::error_code ec;
  if (fs::file_size(path, ec) == bytes.size() && !ec) return Status::Ok();
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

}  // namespace samcache
