// A few megabytes held back in the data folder so that a full disk can still be emptied
// through the service: SQLite needs room for its write-ahead log even to DELETE, so once
// uploads have filled the disk, deleting a dataset would fail like everything else.
//
// The reserve is a plain file of zeros. A delete that fails for lack of space releases it
// and tries again; once deletions have made room, it is created again. Thread-safe; several
// processes may share one file (each only creates it when missing).
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>

namespace samcache {

class SpaceReserve {
 public:
  // `bytes` 0 disables the reserve (Restore and Release do nothing).
  SpaceReserve(std::filesystem::path path, uint64_t bytes);

  // Creates the file when it is missing and the file system has room for it twice over
  // (so the reserve never takes the last free space). True when the file is there after
  // the call. Failures are logged, never fatal.
  bool Restore();
  // Deletes the file, giving its space back. True when there was one to delete.
  bool Release();

  const std::filesystem::path& path() const { return path_; }
  uint64_t bytes() const { return bytes_; }

 private:
  const std::filesystem::path path_;
  const uint64_t bytes_;
  std::mutex mutex_;
};

}  // namespace samcache
