// Column-major run lengths in the making, and their COCO text, shared by mask_codec.cpp and
// mask_encode.cpp. Private to src/model.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "model/mask_kernels.h"

namespace samcache::mask_internal {

// An allocator whose resize leaves new elements uninitialised: the counts' room is written by
// the hot loops before it is read, and zero-filling megabytes of it each click is waste.
template <typename T>
struct NoFillAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoFillAllocator<U>;
  };
  NoFillAllocator() = default;
  template <typename U>
  NoFillAllocator(const NoFillAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using RunCounts = std::vector<uint32_t, NoFillAllocator<uint32_t>>;

// Run lengths in the making, COCO style: runs alternate background and foreground and start
// with background. Kept as positions: `pos` pixels are counted, the current run (of `value`)
// began at `run_start`, and counts[0, used) are finished; counts past `used` are room, so the
// hot loops write without a capacity check per run.
struct RunCounter {
  RunCounts counts;
  size_t used = 0;
  uint8_t value = 0;
  size_t pos = 0;
  size_t run_start = 0;

  // Room for n more counts.
  void Room(size_t n) {
    if (counts.size() - used < n) counts.resize(std::max(2 * counts.size(), used + n));
  }
  // A run ends before pixel `at`.
  void Boundary(size_t at) {
    Room(1);
    counts[used++] = static_cast<uint32_t>(at - run_start);
    run_start = at;
    value ^= 1;
  }
  // n pixels of one value.
  void Same(uint8_t v, size_t n) {
    if (n == 0) return;
    if (value != v) Boundary(pos);
    pos += n;
  }
  void Foreground(size_t n) { Same(1, n); }
  void Background(size_t n) { Same(0, n); }
  // The pixels `other` counted, after these.
  void Append(const RunCounter& other) {
    for (size_t i = 0; i < other.used; ++i) Same(i % 2 == 0 ? 0 : 1, other.counts[i]);
    Same(other.value, other.pos - other.run_start);
  }
  // `rows` pixels (rows > 0) given as bits, 64 a word and bit 0 first; bits past `rows` in the
  // last word are 0.
  void Words(const uint64_t* words, size_t rows) {
    Room(rows + 8);
    RunCursor cursor{value, pos, run_start};
    used = static_cast<size_t>(WordRuns(words, rows, cursor, counts.data() + used) - counts.data());
    value = static_cast<uint8_t>(cursor.before);
    pos = cursor.at;
    run_start = cursor.start;
  }
  // Pixels given as 0/1 bytes.
  void Bytes(const uint8_t* p, const uint8_t* const end) {
    while (p < end) {
      const void* next = std::memchr(p, value ^ 1, static_cast<size_t>(end - p));
      if (next == nullptr) {
        pos += static_cast<size_t>(end - p);
        return;
      }
      pos += static_cast<size_t>(static_cast<const uint8_t*>(next) - p);
      Boundary(pos);
      p = static_cast<const uint8_t*>(next);
    }
  }
  // The last run (never empty unless the mask is: pycocotools gives [0] for an empty mask).
  RunCounts Finish(size_t pixels) {
    counts.resize(used);
    if (pos > run_start || pixels == 0) counts.push_back(static_cast<uint32_t>(pos - run_start));
    return std::move(counts);
  }
};

// Appends the compressed (COCO) text of counts [from, to) to `out`: each count stands alone
// given the one two places before it, so ranges can be compressed apart and joined.
void CompressRleRange(std::span<const uint32_t> counts, size_t from, size_t to, std::string& out);

}  // namespace samcache::mask_internal
