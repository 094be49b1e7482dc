// A weighted semaphore: at most `capacity` units of some costly resource in use at once.
//
// The segmenter holds one per server for full-resolution mask work: a click on a 100-megapixel
// image takes 100 M units (about a byte per pixel held at once, several hundred megabytes
// with its PNG and polygons), a click on a 12-megapixel photo 12 M, so eight huge clicks wait
// their turn while ordinary ones still run side by side.
//
// Thread-safety: all members may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>

#include "common/status.h"

namespace samcache {

class WorkBudget {
 public:
  // `capacity` == 0 means unlimited (Acquire never waits).
  explicit WorkBudget(uint64_t capacity) : capacity_(capacity) {}
  WorkBudget(const WorkBudget&) = delete;
  WorkBudget& operator=(const WorkBudget&) = delete;

  // Units held until destroyed (or moved from).
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept : budget_(other.budget_), units_(other.units_) { other.budget_ = nullptr; }
    Lease& operator=(Lease&& other) noexcept;
    ~Lease() { Release(); }
    uint64_t units() const { return budget_ != nullptr ? units_ : 0; }

   private:
    friend class WorkBudget;
    Lease(WorkBudget* budget, uint64_t units) : budget_(budget), units_(units) {}
    void Release();
    WorkBudget* budget_ = nullptr;
    uint64_t units_ = 0;
  };

  // Waits until `units` fit (a request larger than the whole capacity waits until nothing else
  // is held, then runs alone). Waiters are served first come, first served, so a big request
  // is not starved by a stream of small ones. While waiting, `cancelled` (when set) is asked
  // every `poll`; once it says true the wait ends with Unavailable("the client went away").
  Result<Lease> Acquire(uint64_t units, const std::function<bool()>& cancelled = nullptr,
                        std::chrono::milliseconds poll = std::chrono::milliseconds(50));

  uint64_t capacity() const { return capacity_; }
  uint64_t in_use() const;
  // The most units ever held at once, and how many requests had to wait: for tests and stats.
  uint64_t peak() const;
  uint64_t waited() const;

 private:
  void Give(uint64_t units);

  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t in_use_ = 0;
  uint64_t peak_ = 0;
  uint64_t waited_ = 0;
  uint64_t next_ticket_ = 0;     // handed to each waiting Acquire
  std::list<uint64_t> waiting_;  // tickets in arrival order: only the front may take units
};

}  // namespace samcache
