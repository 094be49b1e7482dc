// Column-major run lengths in the making, and their COCO text, shared by mask_codec.cpp and
// mask_encode.cpp. Private to src/model.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace samcache::mask_internal {

// Run lengths in the making, COCO style: runs alternate background and foreground and start
// with background.
struct RunCounter {
  std::vector<uint32_t> counts;
  uint8_t value = 0;
  size_t run = 0;

  // n foreground pixels.
  void Foreground(size_t n) {
    if (n == 0) return;
    if (value == 0) {
      counts.push_back(static_cast<uint32_t>(run));
      run = 0;
      value = 1;
    }
    run += n;
  }
  // The pixels `other` counted, after these.
  void Append(const RunCounter& other) {
    for (size_t i = 0; i < other.counts.size(); ++i) {
      if (i % 2 == 0) {
        Background(other.counts[i]);
      } else {
        Foreground(other.counts[i]);
      }
    }
    if (other.value == 0) {
      Background(other.run);
    } else {
      Foreground(other.run);
    }
  }
  // n background pixels.
  void Background(size_t n) {
    if (n == 0) return;
    if (value == 1) {
      counts.push_back(static_cast<uint32_t>(run));
      run = 0;
      value = 0;
    }
    run += n;
  }
  // The first n (1..64) pixels of `bits`, bit 0 first.
  void Bits(uint64_t bits, int n) {
    int at = 0;
    while (at < n) {
      // Ones where a pixel differs from the run's value.
      const uint64_t other = (value != 0 ? ~bits : bits) >> at;
      const int same = other == 0 ? 64 : std::countr_zero(other);
      if (at + same >= n) {
        run += static_cast<size_t>(n - at);
        return;
      }
      run += static_cast<size_t>(same);
      counts.push_back(static_cast<uint32_t>(run));
      run = 0;
      value ^= 1;
      at += same;
    }
  }
  // Pixels given as 0/1 bytes.
  void Bytes(const uint8_t* p, const uint8_t* const end) {
    while (p < end) {
      const void* next = std::memchr(p, value ^ 1, static_cast<size_t>(end - p));
      if (next == nullptr) {
        run += static_cast<size_t>(end - p);
        return;
      }
      run += static_cast<size_t>(static_cast<const uint8_t*>(next) - p);
      counts.push_back(static_cast<uint32_t>(run));
      run = 0;
      p = static_cast<const uint8_t*>(next);
      value ^= 1;
    }
  }
  // The last run (never empty unless the mask is: pycocotools gives [0] for an empty mask).
  std::vector<uint32_t> Finish(size_t pixels) {
    if (run > 0 || pixels == 0) counts.push_back(static_cast<uint32_t>(run));
    return std::move(counts);
  }
};

// Appends the compressed (COCO) text of counts [from, to) to `out`: each count stands alone
// given the one two places before it, so ranges can be compressed apart and joined.
void CompressRleRange(const std::vector<uint32_t>& counts, size_t from, size_t to, std::string& out);

}  // namespace samcache::mask_internal
