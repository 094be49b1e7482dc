// An index of 64-bit codes (perceptual hashes) answering "which codes are within Hamming
// distance r of this one?" without comparing against every code.
//
// Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
// Multi-Index Hashing", CVPR 2012): each code is cut into m = 5 substrings of 12 or 13 bits and
// stored in five tables, one per substring, with a bucket per substring value. If two codes
// are within distance r = m*s + a (0 <= a < m), then by the pigeonhole principle one of the
// first a + 1 substrings differs in at most s bits, or one of the others in at most s - 1 bits.
// A query therefore probes, in each table, only the buckets that close to its own substring,
// and checks the full distance of the codes it finds there, reporting each code once. With
// r = 10 that is 147 buckets; among a million random codes, about 20,000 candidates scanned
// in order instead of a million (bench/README.md has the timings). For radii so large that
// probing would visit more buckets than a table holds, it scans every code instead.
//
// Memory: 12 bytes per entry in each of the five tables (60 bytes per entry, plus vector
// slack) and 1.8 MB of bucket headers. Not thread-safe: the owner serialises writers against
// readers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace samcache {

class HammingIndex {
 public:
  using Value = uint32_t;  // the caller's handle for an entry (e.g. a slot in its own table)

  struct Match {
    Value value;
    uint64_t code;
    int distance;
  };

  // Layout: kTables substrings; substring t has Width(t) bits (the first 64 % kTables one more
  // than the others) and ends Shift(t) bits from the right. Five substrings (13, 13, 13, 13
  // and 12 bits) measured best across one and three million codes (bench/README.md).
  static constexpr int kTables = 5;
  static constexpr int Width(int t) { return 64 / kTables + (t < 64 % kTables ? 1 : 0); }
  static constexpr int Shift(int t) {
    int used = 0;
    for (int i = 0; i <= t; ++i) used += Width(i);
    return 64 - used;
  }

  HammingIndex();

  // Adds an entry. The same (code, value) pair may be added twice; it is then found twice.
  void Insert(uint64_t code, Value value);
  // Removes one entry equal to (code, value); false when there is none.
  bool Erase(uint64_t code, Value value);
  void Clear();
  size_t size() const { return size_; }

  // Appends to `out` every entry within `radius` bits of `query` (radius < 0 finds nothing;
  // radius >= 64 finds everything), each entry once, in no particular order.
  void Search(uint64_t query, int radius, std::vector<Match>& out) const;

 private:
  static uint32_t Substring(uint64_t code, int t) {
    return static_cast<uint32_t>(code >> Shift(t)) & ((uint32_t{1} << Width(t)) - 1);
  }

  // Codes and values side by side, so a probe reads the codes it compares contiguously.
  struct Bucket {
    std::vector<uint64_t> codes;
    std::vector<Value> values;
  };

  void ScanAll(uint64_t query, int radius, std::vector<Match>& out) const;

  std::array<std::vector<Bucket>, kTables> tables_;
  size_t size_ = 0;
};

// The same answer by comparing against every code; for tests and benchmarks.
void BruteForceHammingSearch(const std::vector<uint64_t>& codes, uint64_t query, int radius,
                             std::vector<HammingIndex::Match>& out);

}  // namespace samcache
