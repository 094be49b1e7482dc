// The float <-> IEEE half conversions behind F16 embedding files: exact for representable
// values, round to nearest even within 2^-11 relative error, and right at the edges
// (subnormals, overflow, infinities, NaN). Checked exhaustively over the 65,536 halves and,
// where the compiler has _Float16, against its conversion on many floats.
#include "store/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace samcache {
namespace {

float RoundTrip(float value) { return HalfToFloat(FloatToHalf(value)); }

TEST(HalfTest, RepresentableValuesAreExact) {
  for (float value : {0.0f, 1.0f, 0.5f, -2.0f, 65504.0f, -65504.0f, 0.333251953125f, 1024.0f, 2047.0f,
                      0x1p-14f, 0x1p-24f, -0x1p-24f, 1023 * 0x1p-24f}) {
    EXPECT_EQ(RoundTrip(value), value) << value;
  }
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(0.5f), 0x3800);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(0x1p-14f), 0x0400);  // smallest normal
  EXPECT_EQ(FloatToHalf(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_TRUE(std::signbit(RoundTrip(-0.0f)));
}

TEST(HalfTest, EveryHalfSurvivesTheRoundTrip) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const uint16_t half = static_cast<uint16_t>(bits);
    const float value = HalfToFloat(half);
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(value)))) << bits;
      continue;
    }
    ASSERT_EQ(FloatToHalf(value), half) << bits;
  }
}

TEST(HalfTest, TiesRoundToEven) {
  // Between consecutive halves h and h+1 (positive, finite), the midpoint goes to the even one
  // and anything off the midpoint to the nearer one.
  for (uint16_t half = 0; half < 0x7bff; ++half) {
    const float low = HalfToFloat(half);
    const float high = HalfToFloat(static_cast<uint16_t>(half + 1));
    const float middle = low + (high - low) / 2;  // exact: the spacing is a power of two
    const uint16_t even = (half & 1) == 0 ? half : static_cast<uint16_t>(half + 1);
    ASSERT_EQ(FloatToHalf(middle), even) << half;
    ASSERT_EQ(FloatToHalf(std::nextafter(middle, 0.0f)), half) << half;
    ASSERT_EQ(FloatToHalf(std::nextafter(middle, 1e9f)), half + 1) << half;
    ASSERT_EQ(FloatToHalf(-middle), 0x8000 | even) << half;
  }
}

TEST(HalfTest, RelativeErrorIsAtMostTwoToTheMinusElevenInTheNormalRange) {
  std::mt19937 random(7);
  std::uniform_real_distribution<float> exponent(-14.0f, 15.9f);
  std::uniform_int_distribution<int> sign(0, 1);
  for (int i = 0; i < 200000; ++i) {
    const float value = std::exp2(exponent(random)) * (sign(random) ? -1.0f : 1.0f);
    if (std::fabs(value) > 65504.0f) continue;
    const float back = RoundTrip(value);
    ASSERT_LE(std::fabs(back - value), std::fabs(value) * 0x1p-11f) << value;
  }
}

TEST(HalfTest, EdgesOverflowUnderflowInfinityAndNan) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(FloatToHalf(inf), 0x7c00);
  EXPECT_EQ(FloatToHalf(-inf), 0xfc00);
  EXPECT_EQ(HalfToFloat(0x7c00), inf);
  EXPECT_EQ(HalfToFloat(0xfc00), -inf);
  // Largest finite half 65504; from the midpoint to 65536 (65520) on, infinity.
  EXPECT_EQ(FloatToHalf(65519.996f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-1e10f), 0xfc00);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::max()), 0x7c00);

  // Subnormals: units of 2^-24; half of the smallest rounds to zero (even), a bit more to it.
  EXPECT_EQ(FloatToHalf(0x1p-25f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0x1p-25f), 0x8000);
  EXPECT_EQ(FloatToHalf(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(FloatToHalf(3 * 0x1p-25f), 0x0002);  // 1.5 units: tie to even 2
  EXPECT_EQ(FloatToHalf(5 * 0x1p-25f), 0x0002);  // 2.5 units: tie to even 2
  EXPECT_EQ(FloatToHalf(1e-30f), 0x0000);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::denorm_min()), 0x8000);
  EXPECT_EQ(FloatToHalf(std::nextafter(0x1p-14f, 0.0f)), 0x0400);  // rounds up into the normals
  EXPECT_EQ(HalfToFloat(0x03ff), 1023 * 0x1p-24f);
  EXPECT_EQ(HalfToFloat(0x8001), -0x1p-24f);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(nan))));
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(-nan))));
  // A signalling NaN whose payload lies only in the dropped bits stays a NaN, not infinity.
  const float signalling = std::bit_cast<float>(0x7f800001u);
  EXPECT_EQ(FloatToHalf(signalling) & 0x7e00, 0x7e00);
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7c01)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0xfe00)));
}

#if defined(__FLT16_MANT_DIG__)
TEST(HalfTest, AgreesWithTheCompilersFloat16) {
  auto reference = [](float value) { return std::bit_cast<uint16_t>(static_cast<_Float16>(value)); };
  std::mt19937 random(11);
  for (int i = 0; i < 2'000'000; ++i) {
    const float value = std::bit_cast<float>(static_cast<uint32_t>(random()));
    if (std::isnan(value)) continue;
    ASSERT_EQ(FloatToHalf(value), reference(value)) << value;
  }
  // Dense around the range where halves live: every float bit pattern from 2^-26 upwards,
  // with a stride that hits many ties.
  for (uint32_t bits = 0x32800000u; bits < 0x47800000u; bits += 0x7ffu) {
    const float value = std::bit_cast<float>(bits);
    ASSERT_EQ(FloatToHalf(value), reference(value)) << value;
    ASSERT_EQ(FloatToHalf(-value), reference(-value)) << value;
  }
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const _Float16 half = std::bit_cast<_Float16>(static_cast<uint16_t>(bits));
    const float value = HalfToFloat(static_cast<uint16_t>(bits));
    if (std::isnan(value)) continue;
    ASSERT_EQ(std::bit_cast<uint32_t>(value), std::bit_cast<uint32_t>(static_cast<float>(half))) << bits;
  }
}
#endif

}  // namespace
}  // namespace samcache
