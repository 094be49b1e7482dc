#include "store/disk_tier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "common/files.h"
#include "common/server_paths.h"
#include "store/safetensors.h"

namespace samcache {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kExtension = ".safetensors";
constexpr std::string_view kTmpFolder = "tmp";
constexpr size_t kMaxKeyPartLength = 128;

// Key parts become path components, so only names that cannot escape the root or collide
// with the temp folder are accepted.
bool IsStorableModelId(std::string_view model_id) {
  if (model_id.empty() || model_id.size() > kMaxKeyPartLength || model_id.front() == '.' ||
      model_id == kTmpFolder) {
    return false;
  }
  return std::all_of(model_id.begin(), model_id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool IsStorablePixelHash(std::string_view pixel_hash) {
  if (pixel_hash.size() < 2 || pixel_hash.size() > kMaxKeyPartLength) return false;
  return std::all_of(pixel_hash.begin(), pixel_hash.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsStorableKey(const EmbeddingKey& key) {
  return IsStorableModelId(key.model_id) && IsStorablePixelHash(key.pixel_hash);
}

// Modification time is our persisted recency. Set explicitly, with the nanoseconds of the
// real-time clock, because the kernel stamps writes with a coarse clock (ticks of several
// milliseconds) and consecutive puts would tie.
void MarkUsedNow(const fs::path& path) {
  std::error_code ignored;
  fs::last_write_time(path, fs::file_time_type::clock::now(), ignored);
}

// Exactly `size` bytes at `offset`. A file that ends early is truncated, hence Corrupt.
Status ReadExactly(int fd, uint64_t offset, char* out, size_t size, const fs::path& path) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError("cannot read " + path.string() + ": " + std::strerror(errno));
    if (n == 0) return Status::Corrupt("file ended early (truncated)");
    out += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

struct ScannedFile {
  EmbeddingKey key;
  uint64_t bytes = 0;
  fs::file_time_type modified;
};

// Every well-named entry file under `root`. Other files are left alone and not counted.
Result<std::vector<ScannedFile>> ScanEntryFiles(const fs::path& root) {
  std::vector<ScannedFile> files;
  std::error_code ec;
  fs::directory_iterator models(root, ec);
  if (ec) return Status::IoError("cannot list " + root.string() + ": " + ec.message());
  try {
    for (const fs::directory_entry& model_dir : models) {
      const std::string model_id = model_dir.path().filename().string();
      if (!IsStorableModelId(model_id) || !model_dir.is_directory(ec)) continue;
      for (const fs::directory_entry& shard_dir : fs::directory_iterator(model_dir.path(), ec)) {
        const std::string shard = shard_dir.path().filename().string();
        if (shard.size() != 2 || !shard_dir.is_directory(ec)) continue;
        for (const fs::directory_entry& file : fs::directory_iterator(shard_dir.path(), ec)) {
          const std::string name = file.path().filename().string();
          if (!name.ends_with(kExtension)) continue;
          const std::string pixel_hash = name.substr(0, name.size() - kExtension.size());
          if (!IsStorablePixelHash(pixel_hash) || pixel_hash.compare(0, 2, shard) != 0) continue;
          std::error_code size_ec, time_ec;
          const uintmax_t size = file.file_size(size_ec);
          const fs::file_time_type modified = file.last_write_time(time_ec);
          if (size_ec || time_ec) continue;  // removed while we looked
          files.push_back({{model_id, pixel_hash}, size, modified});
        }
      }
    }
  } catch (const fs::filesystem_error& e) {
    return Status::IoError(std::string("cannot scan the disk tier: ") + e.what());
  }
  return files;
}

}  // namespace

DiskTier::DiskTier(fs::path root, uint64_t max_bytes, StorageDtype dtype)
    : root_(std::move(root)), tmp_(root_ / kTmpFolder), max_bytes_(max_bytes), dtype_(dtype) {}

fs::path DiskTier::PathFor(const EmbeddingKey& key) const {
  return root_ / key.model_id / key.pixel_hash.substr(0, 2) / (key.pixel_hash + std::string(kExtension));
}

Status DiskTier::Init() {
  std::error_code ec;
  fs::create_directories(tmp_, ec);
  if (ec) return Status::IoError("cannot create " + tmp_.string() + ": " + ec.message());
  if (const uint64_t removed = RemoveStaleTempFiles(kTempFileGrace); removed > 0) {
    spdlog::info("[CACHE] removed {} temp file(s) of interrupted embedding writes", removed);
  }
  SAMCACHE_RETURN_IF_ERROR(RebuildIndex());
  std::lock_guard lock(mutex_);
  EvictLocked();
  return Status::Ok();
}

uint64_t DiskTier::RemoveStaleTempFiles(std::chrono::seconds grace) {
  const auto cutoff = fs::file_time_type::clock::now() - grace;
  uint64_t removed = 0;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(tmp_, ec)) {
    std::error_code ignored;
    if (entry.is_regular_file(ignored) && entry.last_write_time(ignored) < cutoff &&
        fs::remove(entry.path(), ignored)) {
      ++removed;
    }
  }
  return removed;
}

Status DiskTier::RebuildIndex() {
  SAMCACHE_ASSIGN_OR_RETURN(std::vector<ScannedFile> files, ScanEntryFiles(root_));
  std::sort(files.begin(), files.end(),
            [](const ScannedFile& a, const ScannedFile& b) { return a.modified < b.modified; });
  std::lock_guard lock(mutex_);
  lru_.clear();
  index_.clear();
  entries_per_model_.clear();
  bytes_ = 0;
  // Oldest first, so the most recently used ends up at the front.
  for (const ScannedFile& file : files) InsertLocked(file.key, file.bytes);
  return Status::Ok();
}

void DiskTier::InsertLocked(const EmbeddingKey& key, uint64_t bytes) {
  std::string name = key.ToString();
  if (auto it = index_.find(name); it != index_.end()) EraseLocked(it->second);
  lru_.push_front(Entry{key, name, bytes});
  index_.emplace(std::move(name), lru_.begin());
  bytes_ += bytes;
  ++entries_per_model_[key.model_id];
}

void DiskTier::EraseLocked(Lru::iterator entry) {
  bytes_ -= entry->bytes;
  auto count = entries_per_model_.find(entry->key.model_id);
  // Every indexed entry was counted by InsertLocked.
  if (--count->second == 0) entries_per_model_.erase(count);
  index_.erase(entry->name);
  lru_.erase(entry);
}

uint64_t DiskTier::EvictLocked() {
  uint64_t evicted = 0;
  while (max_bytes_ != 0 && bytes_ > max_bytes_ && !lru_.empty()) {
    // Deleted under the lock, so a Put that re-adds this key cannot interleave (see Put).
    std::error_code ignored;
    fs::remove(PathFor(lru_.back().key), ignored);
    EraseLocked(std::prev(lru_.end()));
    ++evictions_;
    ++evicted;
  }
  return evicted;
}

Result<Embedding> DiskTier::ReadEntry(const EmbeddingKey& key, FileIdentity* identity) {
  const fs::path path = PathFor(key);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::NotFound("no such file: " + path.string());
    return Status::IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Status::IoError("cannot stat " + path.string() + ": " + std::strerror(errno));
  }
  *identity = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  return DecodeSafetensors(
      static_cast<uint64_t>(st.st_size),
      [&](uint64_t offset, char* out, size_t size) { return ReadExactly(fd.get(), offset, out, size, path); },
      key);
}

void DiskTier::DropCorrupt(const EmbeddingKey& key, const std::string& reason, const FileIdentity& identity) {
  const fs::path path = PathFor(key);
  spdlog::warn("disk tier: corrupt embedding {}: {}; deleted, treated as a miss", path.string(), reason);
  std::lock_guard lock(mutex_);
  ++corrupt_;
  // Only the file we read: a writer may have renamed a good one into place since.
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  const bool replaced = exists && (static_cast<uint64_t>(st.st_dev) != identity.device ||
                                   static_cast<uint64_t>(st.st_ino) != identity.inode);
  if (replaced) return;
  if (exists) ::unlink(path.c_str());
  if (auto it = index_.find(key.ToString()); it != index_.end()) EraseLocked(it->second);
}

std::shared_ptr<const Embedding> DiskTier::Get(const EmbeddingKey& key) {
  if (!IsStorableKey(key)) {
    std::lock_guard lock(mutex_);
    ++misses_;
    return nullptr;
  }
  FileIdentity identity;
  Result<Embedding> embedding = ReadEntry(key, &identity);
  if (!embedding.ok()) {
    if (embedding.status().code() == StatusCode::kCorrupt) {
      DropCorrupt(key, embedding.status().message(), identity);
    } else if (embedding.status().code() != StatusCode::kNotFound) {
      spdlog::warn("disk tier: cannot read {}: {}", key.ToString(), embedding.status().message());
    }
    std::lock_guard lock(mutex_);
    // Removed behind our back (another process's gc): forget it too, unless a Put has
    // written it again since our read.
    std::error_code ec;
    if (embedding.status().code() == StatusCode::kNotFound && !fs::exists(PathFor(key), ec)) {
      if (auto it = index_.find(key.ToString()); it != index_.end()) EraseLocked(it->second);
    }
    ++misses_;
    return nullptr;
  }
  {
    std::lock_guard lock(mutex_);
    ++hits_;
    if (auto it = index_.find(key.ToString()); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
    } else {
      // Written by another process: adopt it, unless it was evicted since our read (checked
      // under the lock, where deletions happen). The file size is what the budget counts.
      std::error_code ec;
      const uintmax_t file_bytes = fs::file_size(PathFor(key), ec);
      if (!ec) {
        InsertLocked(key, file_bytes);
        EvictLocked();
      }
    }
  }
  MarkUsedNow(PathFor(key));
  return std::make_shared<const Embedding>(std::move(embedding).value());
}

Status DiskTier::Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) {
  if (!IsStorableKey(key)) return Status::InvalidArgument("cannot store key " + key.ToString() + " on disk");
  if (!embedding) return Status::InvalidArgument("no embedding to store for " + key.ToString());
  SAMCACHE_ASSIGN_OR_RETURN(const std::string encoded, EncodeSafetensors(key, *embedding, dtype_));
  if (max_bytes_ != 0 && encoded.size() > max_bytes_) return Status::Ok();
  const fs::path path = PathFor(key);
  SAMCACHE_RETURN_IF_ERROR(ClientSafe(WriteFileAtomically(path, encoded, tmp_),
                                      "the server could not write to its embedding cache"));
  MarkUsedNow(path);

  std::lock_guard lock(mutex_);
  // Deletions (eviction, Remove, corruption) happen under the lock, so if the file is still
  // there now, the index entry we add matches a file.
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (auto it = index_.find(key.ToString()); it != index_.end()) EraseLocked(it->second);
    return Status::Ok();
  }
  InsertLocked(key, encoded.size());
  EvictLocked();
  return Status::Ok();
}

void DiskTier::AdoptExisting(const std::vector<const EmbeddingKey*>& keys) {
  // Most asked keys are usually absent: look outside the lock first.
  std::vector<const EmbeddingKey*> found;
  for (const EmbeddingKey* key : keys) {
    std::error_code ec;
    if (fs::is_regular_file(PathFor(*key), ec)) found.push_back(key);
  }
  if (found.empty()) return;
  std::lock_guard lock(mutex_);
  // A file we did not know was written recently by another process: it counts as recent.
  for (const EmbeddingKey* key : found) {
    if (index_.count(key->ToString()) > 0) continue;
    // Checked again under the lock: a thread may have evicted or removed it meanwhile.
    std::error_code ec;
    const uintmax_t bytes = fs::file_size(PathFor(*key), ec);
    if (!ec) InsertLocked(*key, bytes);
  }
  EvictLocked();
}

bool DiskTier::Contains(const EmbeddingKey& key) { return ContainsMany({key}).front(); }

std::vector<bool> DiskTier::ContainsMany(const std::vector<EmbeddingKey>& keys) {
  std::vector<bool> present(keys.size(), false);
  std::vector<const EmbeddingKey*> unknown;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (index_.count(keys[i].ToString()) > 0) {
        present[i] = true;
      } else if (IsStorableKey(keys[i])) {
        unknown.push_back(&keys[i]);
      }
    }
  }
  if (unknown.empty()) return present;
  AdoptExisting(unknown);
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!present[i]) present[i] = index_.count(keys[i].ToString()) > 0;
  }
  return present;
}

uint64_t DiskTier::EntriesFor(const std::string& model_id) {
  std::lock_guard lock(mutex_);
  auto it = entries_per_model_.find(model_id);
  return it == entries_per_model_.end() ? 0 : it->second;
}

std::map<std::string, uint64_t> DiskTier::EntriesPerModel() {
  std::lock_guard lock(mutex_);
  return {entries_per_model_.begin(), entries_per_model_.end()};
}

TierStats DiskTier::Stats() {
  std::lock_guard lock(mutex_);
  TierStats stats{"disk", hits_, misses_, lru_.size(), bytes_, evictions_};
  stats.corrupt = corrupt_;
  return stats;
}

uint64_t DiskTier::corrupt_entries() {
  std::lock_guard lock(mutex_);
  return corrupt_;
}

Status DiskTier::Remove(const EmbeddingKey& key) {
  if (!IsStorableKey(key)) return Status::InvalidArgument("not a disk tier key: " + key.ToString());
  const fs::path path = PathFor(key);
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key.ToString()); it != index_.end()) EraseLocked(it->second);
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) return Status::IoError("cannot remove " + path.string() + ": " + ec.message());
  return Status::Ok();
}

Result<std::vector<DiskEntryFile>> DiskTier::ListEntryFiles() const {
  SAMCACHE_ASSIGN_OR_RETURN(std::vector<ScannedFile> files, ScanEntryFiles(root_));
  std::vector<DiskEntryFile> out;
  out.reserve(files.size());
  for (ScannedFile& file : files) out.push_back({std::move(file.key), file.bytes, file.modified});
  return out;
}

Result<bool> DiskTier::RemoveIfUnusedSince(const EmbeddingKey& key, fs::file_time_type cutoff) {
  if (!IsStorableKey(key)) return Status::InvalidArgument("not a disk tier key: " + key.ToString());
  const fs::path path = PathFor(key);
  std::lock_guard lock(mutex_);
  std::error_code ec;
  const fs::file_time_type used = fs::last_write_time(path, ec);
  if (ec) return false;  // gone already
  if (used >= cutoff) return false;
  if (auto it = index_.find(key.ToString()); it != index_.end()) EraseLocked(it->second);
  if (!fs::remove(path, ec) && ec)
    return Status::IoError("cannot remove " + path.string() + ": " + ec.message());
  return true;
}

Result<uint64_t> DiskTier::RemoveModel(const std::string& model_id) {
  if (!IsStorableModelId(model_id)) return Status::InvalidArgument("not a disk tier model id: " + model_id);
  {
    std::lock_guard lock(mutex_);
    for (auto it = lru_.begin(); it != lru_.end();) {
      auto next = std::next(it);
      if (it->key.model_id == model_id) EraseLocked(it);
      it = next;
    }
  }
  // Deleted outside the lock: a model may have many thousands of files.
  const fs::path folder = root_ / model_id;
  uint64_t removed = 0;
  std::error_code ec;
  if (!fs::exists(folder, ec)) return removed;
  try {
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(folder)) {
      std::error_code ignored;
      if (entry.is_regular_file(ignored) && entry.path().filename().string().ends_with(kExtension)) ++removed;
    }
  } catch (const fs::filesystem_error& e) {
    return Status::IoError(std::string("cannot list ") + folder.string() + ": " + e.what());
  }
  fs::remove_all(folder, ec);
  if (ec) return Status::IoError("cannot remove " + folder.string() + ": " + ec.message());
  return removed;
}

Result<DiskVerifyOutcome> DiskTier::Verify(bool read_all) {
  DiskVerifyOutcome outcome;
  std::error_code ec;
  fs::create_directories(tmp_, ec);
  outcome.temp_removed = RemoveStaleTempFiles(kTempFileGrace);
  SAMCACHE_RETURN_IF_ERROR(RebuildIndex());

  std::vector<EmbeddingKey> keys;
  {
    std::lock_guard lock(mutex_);
    for (const Entry& entry : lru_) keys.push_back(entry.key);
  }
  outcome.checked = keys.size();
  if (read_all) {
    for (const EmbeddingKey& key : keys) {
      FileIdentity identity;
      Result<Embedding> embedding = ReadEntry(key, &identity);
      if (embedding.ok()) continue;
      if (embedding.status().code() == StatusCode::kCorrupt) {
        DropCorrupt(key, embedding.status().message(), identity);
        ++outcome.corrupt_removed;
      } else if (embedding.status().code() == StatusCode::kNotFound) {
        std::lock_guard lock(mutex_);
        std::error_code ec;
        if (fs::exists(PathFor(key), ec)) continue;  // written again since our read
        if (auto it = index_.find(key.ToString()); it != index_.end()) EraseLocked(it->second);
      } else {
        return embedding.status();
      }
    }
  }
  std::lock_guard lock(mutex_);
  outcome.evicted = EvictLocked();
  outcome.bytes_after = bytes_;
  return outcome;
}

}  // namespace samcache
