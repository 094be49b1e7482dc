#include "similar/hamming_index.h"

#include <algorithm>
#include <bit>
#include <memory>

// The searches spend their time on popcount: on x86-64 they get a clone that uses the POPCNT
// instruction, chosen at load time on CPUs that have it (all since 2008), and the portable
// default elsewhere.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SAMCACHE_POPCOUNT_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define SAMCACHE_POPCOUNT_CLONES
#endif

namespace samcache {
namespace {

// Every mask of `bits` bits ordered by the number of bits set, and where each weight ends, so
// the buckets within distance s of a substring x are x ^ masks[0 .. ends[s]).
struct MasksByWeight {
  std::vector<uint32_t> masks;
  std::vector<size_t> ends;

  explicit MasksByWeight(int bits) {
    masks.reserve(size_t{1} << bits);
    for (int weight = 0; weight <= bits; ++weight) {
      for (uint32_t m = 0; m < (uint32_t{1} << bits); ++m) {
        if (std::popcount(m) == weight) masks.push_back(m);
      }
      ends.push_back(masks.size());
    }
  }
};

template <int kBits>
const MasksByWeight& MasksOfWidth() {
  static const MasksByWeight masks(kBits);
  return masks;
}

// Masks for substring `t` (there are two widths at most).
const MasksByWeight& Masks(int t) {
  constexpr int kWide = HammingIndex::Width(0);
  constexpr int kNarrow = HammingIndex::Width(HammingIndex::kTables - 1);
  return HammingIndex::Width(t) == kWide ? MasksOfWidth<kWide>() : MasksOfWidth<kNarrow>();
}

}  // namespace

HammingIndex::HammingIndex() {
  for (int t = 0; t < kTables; ++t) tables_[static_cast<size_t>(t)].resize(size_t{1} << Width(t));
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

SAMCACHE_POPCOUNT_CLONES
void HammingIndex::ScanAll(uint64_t query, int radius, std::vector<Match>& out) const {
  // Table 0 holds every entry once.
  for (const Bucket& b : tables_[0]) {
    for (size_t i = 0; i < b.codes.size(); ++i) {
      const int d = std::popcount(b.codes[i] ^ query);
      if (d <= radius) out.push_back({b.values[i], b.codes[i], d});
    }
  }
}

SAMCACHE_POPCOUNT_CLONES
void HammingIndex::Search(uint64_t query, int radius, std::vector<Match>& out) const {
  if (radius < 0 || size_ == 0) return;
  // r = 4s + a: tables 0..a are probed within s bits, the others within s - 1 (none if -1).
  const int s = radius / kTables;
  const int a = radius % kTables;
  std::array<int, kTables> probe_radius{};
  size_t probes = 0;
  for (int t = 0; t < kTables; ++t) {
    const int r = std::min(t <= a ? s : s - 1, Width(t));
    probe_radius[static_cast<size_t>(t)] = r;
    if (r >= 0) probes += Masks(t).ends[static_cast<size_t>(r)];
  }
  // Probing more buckets than table 0 has costs more than reading every entry once.
  if (probes >= tables_[0].size()) return ScanAll(query, radius, out);

  for (int t = 0; t < kTables; ++t) {
    const int r = probe_radius[static_cast<size_t>(t)];
    if (r < 0) continue;
    const std::vector<Bucket>& table = tables_[static_cast<size_t>(t)];
    const uint32_t own = Substring(query, t);
    const std::vector<uint32_t>& masks = Masks(t).masks;
    const size_t end = Masks(t).ends[static_cast<size_t>(r)];
    for (size_t m = 0; m < end; ++m) {
      const Bucket& b = table[own ^ masks[m]];
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

SAMCACHE_POPCOUNT_CLONES
void BruteForceHammingSearch(const std::vector<uint64_t>& codes, uint64_t query, int radius,
                             std::vector<HammingIndex::Match>& out) {
  for (size_t i = 0; i < codes.size(); ++i) {
    const int d = std::popcount(codes[i] ^ query);
    if (d <= radius) out.push_back({static_cast<HammingIndex::Value>(i), codes[i], d});
  }
}

}  // namespace samcache
