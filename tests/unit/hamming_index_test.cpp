// The multi-index Hamming index against brute force: same matches, each once, for every radius,
// on random codes, on clustered codes (like real perceptual hashes) and after removals.
#include "similar/hamming_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

namespace samcache {
namespace {

using Match = HammingIndex::Match;

std::vector<std::tuple<HammingIndex::Value, uint64_t, int>> Sorted(const std::vector<Match>& matches) {
  std::vector<std::tuple<HammingIndex::Value, uint64_t, int>> out;
  for (const Match& m : matches) out.emplace_back(m.value, m.code, m.distance);
  std::sort(out.begin(), out.end());
  return out;
}

// Flips `bits` distinct random bits of `code`.
uint64_t Flip(uint64_t code, int bits, std::mt19937_64& rng) {
  std::vector<int> positions(64);
  for (int i = 0; i < 64; ++i) positions[static_cast<size_t>(i)] = i;
  std::shuffle(positions.begin(), positions.end(), rng);
  for (int i = 0; i < bits; ++i) code ^= uint64_t{1} << positions[static_cast<size_t>(i)];
  return code;
}

void ExpectSameAsBruteForce(const HammingIndex& index, const std::vector<uint64_t>& codes, uint64_t query,
                            int radius) {
  std::vector<Match> fast;
  std::vector<Match> slow;
  index.Search(query, radius, fast);
  BruteForceHammingSearch(codes, query, radius, slow);
  ASSERT_EQ(Sorted(fast), Sorted(slow)) << "query " << query << ", radius " << radius;
}

TEST(HammingIndexTest, MatchesBruteForceOnRandomCodesAtEveryRadius) {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> codes(20000);
  HammingIndex index;
  for (size_t i = 0; i < codes.size(); ++i) {
    codes[i] = rng();
    index.Insert(codes[i], static_cast<HammingIndex::Value>(i));
  }
  EXPECT_EQ(index.size(), codes.size());
  for (int radius : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 20, 24, 32, 40, 64}) {
    for (int q = 0; q < 30; ++q) {
      // Queries near stored codes (so there are matches) and random ones.
      const uint64_t near = Flip(codes[rng() % codes.size()], static_cast<int>(rng() % 12), rng);
      ExpectSameAsBruteForce(index, codes, near, radius);
      ExpectSameAsBruteForce(index, codes, rng(), radius);
    }
  }
}

TEST(HammingIndexTest, MatchesBruteForceOnClusteredCodes) {
  // Real perceptual hashes are not uniform: many share most bits. Clusters of codes a few bits
  // around a few centres stress the buckets and the reported-once rule.
  std::mt19937_64 rng(7);
  std::vector<uint64_t> centres(20);
  for (auto& c : centres) c = rng();
  std::vector<uint64_t> codes;
  HammingIndex index;
  for (int i = 0; i < 5000; ++i) {
    const uint64_t code = Flip(centres[rng() % centres.size()], static_cast<int>(rng() % 10), rng);
    index.Insert(code, static_cast<HammingIndex::Value>(codes.size()));
    codes.push_back(code);
  }
  for (int radius = 0; radius <= 16; ++radius) {
    for (int q = 0; q < 20; ++q) {
      ExpectSameAsBruteForce(index, codes,
                             Flip(centres[rng() % centres.size()], static_cast<int>(rng() % 6), rng), radius);
    }
  }
}

TEST(HammingIndexTest, EqualCodesAreAllFoundAndRemovedOneAtATime) {
  HammingIndex index;
  index.Insert(0xABCDEF0123456789ull, 1);
  index.Insert(0xABCDEF0123456789ull, 2);
  index.Insert(0xABCDEF0123456788ull, 3);
  std::vector<Match> found;
  index.Search(0xABCDEF0123456789ull, 0, found);
  EXPECT_EQ(found.size(), 2u);
  found.clear();
  index.Search(0xABCDEF0123456789ull, 1, found);
  EXPECT_EQ(found.size(), 3u);

  EXPECT_TRUE(index.Erase(0xABCDEF0123456789ull, 2));
  EXPECT_FALSE(index.Erase(0xABCDEF0123456789ull, 2)) << "already gone";
  EXPECT_FALSE(index.Erase(0x1111111111111111ull, 1)) << "no such code";
  EXPECT_EQ(index.size(), 2u);
  found.clear();
  index.Search(0xABCDEF0123456789ull, 1, found);
  EXPECT_EQ(Sorted(found), (std::vector<std::tuple<HammingIndex::Value, uint64_t, int>>{
                               {1, 0xABCDEF0123456789ull, 0}, {3, 0xABCDEF0123456788ull, 1}}));
}

TEST(HammingIndexTest, RemovalsKeepAnswersRight) {
  std::mt19937_64 rng(3);
  std::vector<uint64_t> codes(3000);
  HammingIndex index;
  for (size_t i = 0; i < codes.size(); ++i) {
    codes[i] = rng();
    index.Insert(codes[i], static_cast<HammingIndex::Value>(i));
  }
  // Remove every third entry; brute force then sees them as codes nobody is near.
  for (size_t i = 0; i < codes.size(); i += 3) {
    ASSERT_TRUE(index.Erase(codes[i], static_cast<HammingIndex::Value>(i)));
    codes[i] = ~uint64_t{0};
  }
  const uint64_t never = ~uint64_t{0};
  for (int q = 0; q < 50; ++q) {
    const uint64_t query = Flip(codes[1 + 3 * (rng() % 900)], static_cast<int>(rng() % 8), rng);
    std::vector<Match> fast;
    std::vector<Match> slow;
    index.Search(query, 10, fast);
    BruteForceHammingSearch(codes, query, 10, slow);
    std::erase_if(slow, [&](const Match& m) { return m.code == never; });
    ASSERT_EQ(Sorted(fast), Sorted(slow));
  }
  index.Clear();
  EXPECT_EQ(index.size(), 0u);
  std::vector<Match> none;
  index.Search(codes[1], 64, none);
  EXPECT_TRUE(none.empty());
}

TEST(HammingIndexTest, NegativeRadiusFindsNothing) {
  HammingIndex index;
  index.Insert(5, 0);
  std::vector<Match> found;
  index.Search(5, -1, found);
  EXPECT_TRUE(found.empty());
  index.Search(5, 100, found);
  EXPECT_EQ(found.size(), 1u);
}

}  // namespace
}  // namespace samcache
