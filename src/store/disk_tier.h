// The persistent tier: one safetensors file per embedding on local disk, least-recently-used
// eviction within a byte budget, recency that survives restarts.
//
// Layout: <root>/<model_id>/<first 2 hex of pixel_hash>/<pixel_hash>.safetensors, temp files
// in <root>/tmp/. Files are written atomically (temp file, fsync, rename, directory fsync),
// so a crash leaves a whole file or none, and every read is verified (checksum, key); a file
// that fails is logged, deleted and answered as a miss, never served.
//
// The index (key -> file size, recency) lives in memory and is rebuilt from the files by
// Init(); recency is each file's modification time, renewed on every hit. Several processes
// may share one root (`samcache serve` and `samcache prewarm`): a file another process wrote
// is adopted into the index the first time Get/Contains/ContainsMany asks for its key. Each
// process enforces the budget over the entries it knows.
//
// Thread-safety: all methods may be called from any number of threads. File reads, decoding
// and writes happen outside the index lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/embedding_tier.h"
#include "store/safetensors.h"

namespace samcache {

// What DiskTier::Verify found and did.
struct DiskVerifyOutcome {
  uint64_t checked = 0;          // entries found on disk (and, with read_all, decoded)
  uint64_t corrupt_removed = 0;  // entries that failed verification and were deleted
  uint64_t temp_removed = 0;     // temp files left behind by crashed writers
  uint64_t evicted = 0;          // entries deleted to get back within the budget
  uint64_t bytes_after = 0;      // bytes of the entries kept
};

// An entry file as `samcache gc` sees it.
struct DiskEntryFile {
  EmbeddingKey key;
  uint64_t bytes = 0;
  std::filesystem::file_time_type last_used;  // written or last read (recency)
};

class DiskTier final : public EmbeddingTier {
 public:
  // A temp file younger than this may belong to a writer in another process, so it is kept.
  static constexpr std::chrono::hours kTempFileGrace{1};

  // `max_bytes` bounds the total size of the files; 0 means unlimited. Put writes values as
  // `dtype` (fp16: half the bytes, rounded); Get reads files of either dtype, so a cache
  // written with one setting stays readable after switching. Call Init() first.
  DiskTier(std::filesystem::path root, uint64_t max_bytes, StorageDtype dtype = StorageDtype::kF32);

  // Creates the folders, removes stale temp files, and builds the index from the files on
  // disk, most recently modified first; then evicts down to the budget (which may have
  // shrunk since the last run). Files are not read: a corrupt one is found when first read.
  // IoError when the root cannot be created or listed.
  Status Init();

  // A miss (nullptr) when the file is absent or fails verification. A hit renews recency in
  // memory and on disk.
  std::shared_ptr<const Embedding> Get(const EmbeddingKey& key) override;
  // Encodes (as the tier's dtype) and writes the file, then evicts least-recently-used entries until the
  // total is within the budget. An embedding larger than the whole budget is not kept (not an error).
  // InvalidArgument for a key that cannot be a file name (model_id: letters, digits, '.', '_',
  // '-', not starting with '.', not "tmp"; pixel_hash: lowercase hex) or an embedding that
  // cannot be encoded; IoError when the write fails (e.g. a full disk), naming no server path.
  Status Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) override;
  // From the index; a key it lacks is looked up on disk (one stat) and adopted if present.
  bool Contains(const EmbeddingKey& key) override;
  std::vector<bool> ContainsMany(const std::vector<EmbeddingKey>& keys) override;
  uint64_t EntriesFor(const std::string& model_id) override;
  // Entry count of every model with entries, by model id.
  std::map<std::string, uint64_t> EntriesPerModel();
  // With corrupt: corrupt_entries().
  TierStats Stats() override;
  // Entries found corrupt (and deleted) since construction, by Get or Verify.
  uint64_t corrupt_entries();

  // Deletes one entry. Ok also when it was not there.
  Status Remove(const EmbeddingKey& key);
  // Every well-named entry file on disk, of every model, indexed or not. Needs no Init().
  Result<std::vector<DiskEntryFile>> ListEntryFiles() const;
  // Deletes one entry unless its file was used at or after `cutoff` (looked at again just
  // before: a process may have read or written it since it was listed). True when deleted.
  Result<bool> RemoveIfUnusedSince(const EmbeddingKey& key, std::filesystem::file_time_type cutoff);
  // Deletes every entry of one model, including files not yet in the index; returns how
  // many files were deleted. A Put for that model running at the same time may or may not
  // survive.
  Result<uint64_t> RemoveModel(const std::string& model_id);
  // For `samcache gc`: removes stale temp files, rebuilds the index from disk, with
  // `read_all` reads and verifies every entry (deleting corrupt ones), and evicts down to
  // the budget.
  Result<DiskVerifyOutcome> Verify(bool read_all);
  // Removes the temp files of interrupted writes (a crash, kill -9) not modified for
  // `grace`; returns how many. A younger one may be a write in progress in another process.
  // Init() and Verify() do this with kTempFileGrace; `samcache gc` first with its own grace.
  uint64_t RemoveStaleTempFiles(std::chrono::seconds grace);

  // Where `key` is (or would be) stored. Only meaningful for a key Put() accepts.
  std::filesystem::path PathFor(const EmbeddingKey& key) const;

 private:
  struct Entry {
    EmbeddingKey key;
    std::string name;  // key.ToString(), the index key
    uint64_t bytes = 0;
  };
  using Lru = std::list<Entry>;
  // Identifies one version of a file, so a corrupt file is not confused with its replacement.
  struct FileIdentity {
    uint64_t device = 0;
    uint64_t inode = 0;
  };

  Status RebuildIndex();
  // Reads and verifies one entry without touching recency or counters. NotFound when the
  // file is gone; Corrupt (with `identity` set) when it fails verification.
  Result<Embedding> ReadEntry(const EmbeddingKey& key, FileIdentity* identity);
  void DropCorrupt(const EmbeddingKey& key, const std::string& reason, const FileIdentity& identity);
  // Adds the files that exist for `keys` (not yet in the index) as most recent entries.
  void AdoptExisting(const std::vector<const EmbeddingKey*>& keys);

  void InsertLocked(const EmbeddingKey& key, uint64_t bytes);
  void EraseLocked(Lru::iterator entry);
  // Deletes least-recently-used files until within the budget; returns how many.
  uint64_t EvictLocked();

  const std::filesystem::path root_;
  const std::filesystem::path tmp_;
  const uint64_t max_bytes_;
  const StorageDtype dtype_;

  std::mutex mutex_;
  Lru lru_;  // front: most recently used
  std::unordered_map<std::string, Lru::iterator> index_;
  std::unordered_map<std::string, uint64_t> entries_per_model_;
  uint64_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
  uint64_t corrupt_ = 0;
};

}  // namespace samcache
