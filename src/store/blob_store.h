// Content-addressed storage of original image files on local disk.
//
// Layout: <root>/blobs/<first two hex>/<sha256>. Files are written atomically (temp file,
// fsync, rename), so a crash leaves a whole blob or none. Thread-safe; several processes
// may share one root.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace samcache {

class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path root);
  // Blobs directly under `blobs_dir` (<blobs_dir>/ab/abcdef...), in-flight writes in `tmp_dir`,
  // which must be on the same file system (files are renamed from one into the other).
  BlobStore(std::filesystem::path blobs_dir, std::filesystem::path tmp_dir);

  // Creates the folders and removes temp files a crashed writer left behind.
  Status Init();

  // Held by a writer from Put() until its catalog row is committed, so that a concurrent
  // RemoveUnreferenced() cannot delete the file in between.
  std::shared_lock<std::shared_mutex> PinForWrite() { return std::shared_lock(gc_mutex_); }

  // Stores `bytes` under `content_hash` unless a blob of that size is already there (then
  // its modification time is renewed, which keeps CollectGarbage away from it).
  // The caller guarantees that content_hash is the SHA-256 of bytes.
  Status Put(const std::string& content_hash, std::string_view bytes);
  bool Contains(const std::string& content_hash) const;
  Result<std::string> Read(const std::string& content_hash) const;
  std::filesystem::path PathFor(const std::string& content_hash) const;

  // Deletes the files of `hashes` for which `still_referenced` answers false; it is asked
  // while no writer holds a pin. Returns how many files were removed.
  size_t RemoveUnreferenced(const std::vector<std::string>& hashes,
                            const std::function<bool(const std::string&)>& still_referenced);

  struct GarbageReport {
    size_t files_seen = 0;
    size_t files_removed = 0;
    uint64_t bytes_removed = 0;
  };
  // Removes blob files that `is_recorded` says no catalog row refers to, such as a file
  // whose upload crashed before its row was committed. Files modified within `grace` are
  // left alone: another process may be between writing one and committing its row. With
  // `dry_run`, only counts.
  GarbageReport CollectGarbage(const std::function<bool(const std::string&)>& is_recorded,
                               std::chrono::seconds grace, bool dry_run);

 private:
  std::filesystem::path blobs_;
  std::filesystem::path tmp_;
  std::shared_mutex gc_mutex_;
};

}  // namespace samcache
