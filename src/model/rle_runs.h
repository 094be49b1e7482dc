// Column-major run lengths in the making, and their COCO text, shared by mask_codec.cpp and
// mask_encode.cpp. Private to src/model.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace samcache::mask_internal {

// Run lengths in the making, COCO style: runs alternate background and foreground and start
// with background. Kept as positions: `pos` pixels are counted, the current run (of `value`)
// began at `run_start`, and counts[0, used) are finished; counts past `used` are room, so the
// hot loops write without a capacity check per run.
struct RunCounter {
  std::vector<uint32_t> counts;
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
  // last word are 0. A run ends wherever a bit differs from the one before it.
  void Words(const uint64_t* words, size_t rows) {
    Room(rows);
    uint32_t* out = counts.data() + used;
    uint64_t before = value;  // the pixel before the word's first
    size_t at = pos, start = run_start;
    for (size_t left = rows; left > 0; words++) {
      const size_t n = left < 64 ? left : 64;
      const uint64_t w = *words;
      uint64_t changes = w ^ ((w << 1) | before);
      if (n < 64) changes &= (uint64_t{1} << n) - 1;
      while (changes != 0) {
        const size_t boundary = at + static_cast<size_t>(std::countr_zero(changes));
        *out++ = static_cast<uint32_t>(boundary - start);
        start = boundary;
        changes &= changes - 1;
      }
      before = (w >> (n - 1)) & 1;
      at += n;
      left -= n;
    }
    used = static_cast<size_t>(out - counts.data());
    value = static_cast<uint8_t>(before);
    pos = at;
    run_start = start;
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
  std::vector<uint32_t> Finish(size_t pixels) {
    counts.resize(used);
    if (pos > run_start || pixels == 0) counts.push_back(static_cast<uint32_t>(pos - run_start));
    return std::move(counts);
  }
};

// Appends the compressed (COCO) text of counts [from, to) to `out`: each count stands alone
// given the one two places before it, so ranges can be compressed apart and joined.
void CompressRleRange(const std::vector<uint32_t>& counts, size_t from, size_t to, std::string& out);

}  // namespace samcache::mask_internal
