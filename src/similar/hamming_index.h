// An index of 64-bit codes (perceptual hashes) answering "which codes are within Hamming
// distance r of this one?" without comparing against every code.
//
// Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
// Multi-Index Hashing", CVPR 2012): each code is cut into four 16-bit substrings and stored in
// four tables, one per substring, of 65,536 buckets each. If two codes are within distance
// r = 4s + a (0 <= a < 4), then by the pigeonhole principle one of the first a + 1 substrings
// differs in at most s bits, or one of the others in at most s - 1 bits. A query therefore
// probes, in each table, only the buckets that close to its own substring, and checks the
// full distance of the codes it finds there. With a million random codes and r = 10 that is
// about 430 buckets and 6,500 candidates instead of a million comparisons (bench/README.md
// has the timings). For radii so large that probing would visit more buckets than a table
// holds, it scans every code instead.
//
// Memory: 12 bytes per entry in each of the four tables (48 bytes per entry) plus 12.6 MB of
// bucket headers. Not thread-safe: the owner serialises writers against readers.
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
  static constexpr int kTables = 4;
  static constexpr int kSubstringBits = 16;
  static constexpr size_t kBuckets = size_t{1} << kSubstringBits;

  // Codes and values side by side, so a probe reads the codes it compares contiguously.
  struct Bucket {
    std::vector<uint64_t> codes;
    std::vector<Value> values;
  };

  static uint32_t Substring(uint64_t code, int table) {
    return static_cast<uint32_t>(code >> (kSubstringBits * (kTables - 1 - table))) & (kBuckets - 1);
  }
  void ScanAll(uint64_t query, int radius, std::vector<Match>& out) const;

  std::array<std::vector<Bucket>, kTables> tables_;
  size_t size_ = 0;
};

// The same answer by comparing against every code; for tests and benchmarks.
void BruteForceHammingSearch(const std::vector<uint64_t>& codes, uint64_t query, int radius,
                             std::vector<HammingIndex::Match>& out);

}  // namespace samcache
