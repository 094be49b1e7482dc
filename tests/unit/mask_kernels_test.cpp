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

}  // namespace
}  // namespace samcache::mask_internal
