// Content-addressed storage of original image files on local disk.
//
// Layout: <root>/blobs/<first two hex>/<sha256>. Files are written atomically (temp file,
// fsync, rename), so a crash leaves a whole blob or none. Thread-safe; several processes
// may share one root: a flock on the blobs folder keeps every process's deletions away from
// every process's writes between Put() and the commit of their catalog row (where the file
// system has no flock, e.g. some network mounts, only this process's are kept apart).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
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

  // Creates the folders and removes temp files a crashed writer left behind more than an
  // hour ago.
  Status Init();

  // Held by a writer from Put() until its catalog row is committed, so that no
  // RemoveUnreferenced() or CollectGarbage() of this or another process sharing the folder
  // deletes the file in between: a shared lock here and a shared flock on the blobs folder.
  class WritePin {
   public:
    WritePin(WritePin&& other) noexcept;
    WritePin& operator=(WritePin&&) = delete;
    ~WritePin();

   private:
    friend class BlobStore;
    WritePin(std::shared_lock<std::shared_mutex> local, int fd) : local_(std::move(local)), fd_(fd) {}
    std::shared_lock<std::shared_mutex> local_;
    int fd_ = -1;  // the blobs folder, flock(LOCK_SH); -1 when it could not be locked
  };
  WritePin PinForWrite();

  // Stores `bytes` under `content_hash` unless a blob of that size is already there (then
  // its modification time is renewed, which keeps CollectGarbage away from it).
  // The caller guarantees that content_hash is the SHA-256 of bytes. An IoError names no
  // server path (the full message is logged).
  Status Put(const std::string& content_hash, std::string_view bytes);
  bool Contains(const std::string& content_hash) const;
  // NotFound when the file is missing. Messages name no server path.
  Result<std::string> Read(const std::string& content_hash) const;
  std::filesystem::path PathFor(const std::string& content_hash) const;

  // Deletes the files of `hashes` for which `still_referenced` answers false; it is asked
  // while no writer of any process sharing the folder holds a pin. Returns how many files
  // were removed.
  size_t RemoveUnreferenced(const std::vector<std::string>& hashes,
                            const std::function<bool(const std::string&)>& still_referenced);

  struct GarbageReport {
    size_t files_seen = 0;
    size_t files_removed = 0;
    uint64_t bytes_removed = 0;
    size_t temp_removed = 0;  // partial writes left in the temp folder by a crash
  };
  // Removes blob files that `is_recorded` says no catalog row refers to, such as a file
  // whose upload crashed before its row was committed, and the temp files of writes that
  // never finished. Files modified within `grace` are left alone: another process may be
  // between writing one and committing its row. With `dry_run`, only counts.
  GarbageReport CollectGarbage(const std::function<bool(const std::string&)>& is_recorded,
                               std::chrono::seconds grace, bool dry_run);

 private:
  // Excludes every writer of this process, and of the others sharing the folder where the
  // file system supports flock.
  class Exclusive {
   public:
    explicit Exclusive(BlobStore& store);
    ~Exclusive();
    Exclusive(const Exclusive&) = delete;
    Exclusive& operator=(const Exclusive&) = delete;

   private:
    std::unique_lock<std::shared_mutex> local_;
    int fd_ = -1;
  };
  // The blobs folder locked with `operation` (flock locks belong to the open file, so each
  // lock opens it anew); -1 when it cannot be (logged once).
  int LockFolder(int operation);

  std::atomic<bool> lock_warned_{false};

  std::filesystem::path blobs_;
  std::filesystem::path tmp_;
  std::shared_mutex gc_mutex_;
};

}  // namespace samcache
