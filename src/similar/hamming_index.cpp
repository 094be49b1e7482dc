#include "similar/hamming_index.h"

#include <algorithm>
#include <bit>

namespace samcache {
namespace {

// Every 16-bit mask ordered by the number of bits set, and where each weight ends, so the
// buckets within distance s of a substring x are x ^ masks[0 .. ends[s]).
struct MasksByWeight {
  std::vector<uint16_t> masks;
  std::array<size_t, 17> ends{};

  MasksByWeight() {
    masks.reserve(size_t{1} << 16);
    for (int weight = 0; weight <= 16; ++weight) {
      for (uint32_t m = 0; m < (uint32_t{1} << 16); ++m) {
        if (std::popcount(m) == weight) masks.push_back(static_cast<uint16_t>(m));
      }
      ends[static_cast<size_t>(weight)] = masks.size();
    }
  }
};

const MasksByWeight& Masks() {
  static const MasksByWeight masks;
  return masks;
}

}  // namespace

HammingIndex::HammingIndex() {
  for (auto& table : tables_) table.resize(kBuckets);
}

void HammingIndex::Insert(uint64_t code, Value value) {
  for (int t = 0; t < kTables; ++t) {
    Bucket& b = tables_[static_cast<size_t>(t)][Substring(code, t)];
    b.codes.push_back(code);
    b.values.push_back(value);
  }
  ++size_;
}

bool HammingIndex::Erase(uint64_t code, Value value) {
  bool found = false;
  for (int t = 0; t < kTables; ++t) {
    Bucket& b = tables_[static_cast<size_t>(t)][Substring(code, t)];
    for (size_t i = 0; i < b.codes.size(); ++i) {
      if (b.codes[i] == code && b.values[i] == value) {
        // Order within a bucket does not matter: move the last entry into the hole.
        b.codes[i] = b.codes.back();
        b.values[i] = b.values.back();
        b.codes.pop_back();
        b.values.pop_back();
        found = true;
        break;
      }
    }
  }
  if (found) --size_;
  return found;
}

void HammingIndex::Clear() {
  for (auto& table : tables_) {
    for (Bucket& b : table) {
      b.codes = {};
      b.values = {};
    }
  }
  size_ = 0;
}

void HammingIndex::ScanAll(uint64_t query, int radius, std::vector<Match>& out) const {
  // Table 0 holds every entry once.
  for (const Bucket& b : tables_[0]) {
    for (size_t i = 0; i < b.codes.size(); ++i) {
      const int d = std::popcount(b.codes[i] ^ query);
      if (d <= radius) out.push_back({b.values[i], b.codes[i], d});
    }
  }
}

void HammingIndex::Search(uint64_t query, int radius, std::vector<Match>& out) const {
  if (radius < 0 || size_ == 0) return;
  // r = 4s + a: tables 0..a are probed within s bits, the others within s - 1 (none if -1).
  const int s = radius / kTables;
  const int a = radius % kTables;
  std::array<int, kTables> probe_radius{};
  size_t probes = 0;
  for (int t = 0; t < kTables; ++t) {
    const int r = std::min(t <= a ? s : s - 1, kSubstringBits);
    probe_radius[static_cast<size_t>(t)] = r;
    if (r >= 0) probes += Masks().ends[static_cast<size_t>(r)];
  }
  if (probes >= kBuckets) return ScanAll(query, radius, out);

  const std::vector<uint16_t>& masks = Masks().masks;
  for (int t = 0; t < kTables; ++t) {
    const int r = probe_radius[static_cast<size_t>(t)];
    if (r < 0) continue;
    const uint32_t own = Substring(query, t);
    const size_t end = Masks().ends[static_cast<size_t>(r)];
    for (size_t m = 0; m < end; ++m) {
      const Bucket& b = tables_[static_cast<size_t>(t)][own ^ masks[m]];
      for (size_t i = 0; i < b.codes.size(); ++i) {
        const uint64_t code = b.codes[i];
        const int d = std::popcount(code ^ query);
        if (d > radius) continue;
        // An entry that an earlier table's probes reached was reported there already.
        bool seen = false;
        for (int earlier = 0; earlier < t && !seen; ++earlier) {
          seen = std::popcount(Substring(code, earlier) ^ Substring(query, earlier)) <=
                 probe_radius[static_cast<size_t>(earlier)];
        }
        if (!seen) out.push_back({b.values[i], code, d});
      }
    }
  }
}

void BruteForceHammingSearch(const std::vector<uint64_t>& codes, uint64_t query, int radius,
                             std::vector<HammingIndex::Match>& out) {
  for (size_t i = 0; i < codes.size(); ++i) {
    const int d = std::popcount(codes[i] ^ query);
    if (d <= radius) out.push_back({static_cast<HammingIndex::Value>(i), codes[i], d});
  }
}

}  // namespace samcache
