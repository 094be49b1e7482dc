// The postprocess kernels (mask_kernels.h): the AVX-512 and AVX2 versions, where this CPU has
// them, give exactly what the portable ones and the plain formulas give, at every strip width
// and for every register layout (source spans up to 8, 16, 32, 64 and wider, read by the whole
// strip or by each eight output columns).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model/bilinear_resize.h"
#include "model/mask_kernels.h"

namespace samcache::mask_internal {
namespace {

// Runs `f` with every version of the kernels this CPU runs.
template <typename F>
void EveryVersion(F&& f) {
  for (MaskKernels version : {MaskKernels::kAvx512, MaskKernels::kAvx2, MaskKernels::kPortable}) {
    if (version > BestMaskKernels()) continue;
    SCOPED_TRACE("kernels " + std::to_string(static_cast<int>(version)));
    CapMaskKernels(version);
    f();
  }
  CapMaskKernels(MaskKernels::kAvx512);
}

std::vector<float> RandomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(-10.0f, 10.0f);
  std::vector<float> out(n);
  for (float& v : out) v = value(rng);
  return out;
}

TEST(MaskKernelsTest, TransposeBitsMovesEveryBit) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 20; ++round) {
    uint64_t original[64];
    for (uint64_t& w : original) w = round == 0 ? 0 : rng() & (round % 3 == 0 ? rng() : ~uint64_t{0});
    EveryVersion([&] {
      uint64_t a[64];
      std::memcpy(a, original, sizeof a);
      TransposeBits64(a);
      for (int r = 0; r < 64; ++r) {
        for (int c = 0; c < 64; ++c) {
          ASSERT_EQ((a[c] >> r) & 1, (original[r] >> c) & 1) << "row " << r << " column " << c;
        }
      }
    });
  }
}

TEST(MaskKernelsTest, HorizontalStripIsTheTapFormulaForEverySpan) {
  // Output columns from `in` source columns: 64 columns read about 64 * in / out of them.
  for (int in : {7, 20, 40, 100, 300}) {
    for (int out : {64, 100, 640, 4000}) {
      for (int columns : {1, 10, 17, 64}) {
        if (columns > out) continue;
        // The first strip, one in the middle, and the last (where taps clamp to the edge).
        for (const int first : {0, (out - columns) / 2, out - columns}) {
          SCOPED_TRACE(std::to_string(in) + " to " + std::to_string(out) + ", " + std::to_string(columns) +
                       " columns from " + std::to_string(first));
          const std::vector<Tap> xt = BilinearTaps(in, out, out);
          StripTaps taps;
          taps.columns = columns;
          const int base = xt[first].i0;
          for (int x = 0; x < columns; ++x) {
            const Tap& t = xt[first + x];
            taps.i0[x] = t.i0 - base;
            taps.i1[x] = t.i1 - base;
            taps.w0[x] = t.w0;
            taps.w1[x] = t.w1;
            taps.source_cols = std::max(taps.source_cols, t.i1 - base + 1);
          }
          const int rows = 5;
          const std::vector<float> src = RandomFloats(static_cast<size_t>(rows) * in, in * 7 + out);
          EveryVersion([&] {
            std::vector<float> strip(rows * 64, -99.0f);
            HorizontalStrip(src.data() + base, static_cast<size_t>(in), rows, taps, strip.data());
            for (int r = 0; r < rows; ++r) {
              const float* row = src.data() + static_cast<size_t>(r) * in + base;
              for (int x = 0; x < 64; ++x) {
                const float want =
                    x < columns ? row[taps.i0[x]] * taps.w0[x] + row[taps.i1[x]] * taps.w1[x] : -99.0f;
                ASSERT_EQ(strip[r * 64 + x], want) << "row " << r << " column " << x;
              }
            }
          });
        }
      }
    }
  }
}

TEST(MaskKernelsTest, BlendRowAndPositiveRowsAreTheTapFormula) {
  const std::vector<Tap> yt = BilinearTaps(30, 117, 117);
  const std::vector<float> strip = RandomFloats(30 * 64, 5);
  for (int columns : {1, 15, 16, 33, 64}) {
    SCOPED_TRACE(std::to_string(columns) + " columns");
    EveryVersion([&] {
      std::vector<uint64_t> bits(117);
      PositiveRows(strip.data(), yt.data(), 3, 117, columns, bits.data());
      std::vector<float> blended(columns);
      for (int y = 3; y < 117; ++y) {
        const Tap& t = yt[y];
        const float* a = strip.data() + t.i0 * 64;
        const float* b = strip.data() + t.i1 * 64;
        BlendRow(a, b, t.w0, t.w1, columns, blended.data());
        uint64_t want = 0;
        for (int x = 0; x < columns; ++x) {
          const float v = a[x] * t.w0 + b[x] * t.w1;
          ASSERT_EQ(blended[x], v) << "row " << y << " column " << x;
          want |= static_cast<uint64_t>(v > 0.0f) << x;
        }
        ASSERT_EQ(bits[y - 3], want) << "row " << y;
      }
    });
  }
}

TEST(MaskKernelsTest, WordRunsEndARunAtEveryChangeOfPixel) {
  std::mt19937_64 rng(7);
  for (size_t rows : {size_t{1}, size_t{5}, size_t{63}, size_t{64}, size_t{65}, size_t{200}, size_t{1000}}) {
    // Densities from one change in hundreds to a change at almost every pixel.
    for (int density = 0; density < 6; ++density) {
      for (uint64_t before : {uint64_t{0}, uint64_t{1}}) {
        SCOPED_TRACE(std::to_string(rows) + " rows, density " + std::to_string(density) + ", before " +
                     std::to_string(before));
        std::vector<uint64_t> words((rows + 63) / 64);
        std::vector<uint8_t> pixels(rows);
        uint8_t value = static_cast<uint8_t>(before);
        for (size_t i = 0; i < rows; ++i) {
          if (density == 5 ? rng() % 8 != 0 : rng() % (size_t{1} << (2 * (5 - density))) == 0) value ^= 1;
          pixels[i] = value;
          words[i / 64] |= static_cast<uint64_t>(value) << (i % 64);
        }
        // The runs so far began 17 pixels before these.
        const size_t at = 1000, start = 983;
        std::vector<uint32_t> want;
        size_t run_start = start;
        for (size_t i = 0; i < rows; ++i) {
          if (pixels[i] != (i == 0 ? before : pixels[i - 1])) {
            want.push_back(static_cast<uint32_t>(at + i - run_start));
            run_start = at + i;
          }
        }
        EveryVersion([&] {
          std::vector<uint32_t> out(rows + 8, 12345);
          RunCursor cursor{before, at, start};
          uint32_t* end = WordRuns(words.data(), rows, cursor, out.data());
          ASSERT_EQ(std::vector<uint32_t>(out.data(), end), want);
          EXPECT_EQ(cursor.before, pixels.back());
          EXPECT_EQ(cursor.at, at + rows);
          EXPECT_EQ(cursor.start, run_start);
        });
      }
    }
  }
}

// pycocotools' rleToString, a character at a time.
std::string ReferenceRleText(const std::vector<uint32_t>& counts, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) {
    int64_t x = counts[i];
    if (i > 2) x -= counts[i - 2];
    bool more = true;
    while (more) {
      char c = static_cast<char>(x & 0x1f);
      x >>= 5;
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      out.push_back(static_cast<char>(c + 48));
    }
  }
  return out;
}

TEST(MaskKernelsTest, RleTextIsRleToStringForEveryWidthAndRange) {
  // Counts of every bit width, so the deltas take one to seven groups either sign; and runs of
  // equal and near counts (deltas 0 and -1, one group).
  std::mt19937_64 rng(11);
  std::vector<uint32_t> counts;
  for (int width = 0; width <= 32; ++width) {
    for (int k = 0; k < 40; ++k) {
      const uint64_t top = width == 0 ? 0 : (uint64_t{1} << width) - 1;
      counts.push_back(static_cast<uint32_t>(top == 0 ? 0 : rng() % (top + 1)));
      counts.push_back(static_cast<uint32_t>(top));
    }
  }
  for (int k = 0; k < 200; ++k) counts.push_back(counts.back() - (k % 3 == 0 ? 1 : 0));
  counts.push_back(0xFFFFFFFFu);
  counts.push_back(0);
  counts.push_back(0);
  counts.push_back(0xFFFFFFFFu);
  for (size_t from : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{5}, counts.size() / 2}) {
    for (size_t to : {from, from + 1, from + 6, counts.size() - 1, counts.size()}) {
      if (to > counts.size()) continue;
      SCOPED_TRACE("counts " + std::to_string(from) + " to " + std::to_string(to));
      const std::string want = ReferenceRleText(counts, from, to);
      EveryVersion([&] {
        std::string text((to - from) * 7 + 8, '\0');
        char* end = WriteRleText(counts.data(), from, to, text.data());
        text.resize(static_cast<size_t>(end - text.data()));
        ASSERT_EQ(text, want);
      });
    }
  }
}

}  // namespace
}  // namespace samcache::mask_internal
