// IEEE 754 binary16 ("half", safetensors dtype F16) conversions, bit by bit so that they do not
// depend on the floating-point environment (rounding mode, flush-to-zero) or on compiler
// support for _Float16.
//
// FloatToHalf rounds to nearest, ties to even, like a hardware conversion: values of magnitude
// 65520 and above become infinity, values below the smallest half subnormal (2^-24) round to a
// subnormal or a signed zero, infinities stay infinities, and a NaN stays a NaN (quiet, sign and
// the top 9 payload bits kept). HalfToFloat is exact: every half is a float.
#pragma once

#include <bit>
#include <cstdint>

namespace samcache {

constexpr uint16_t FloatToHalf(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {  // infinity or NaN
    if (magnitude == 0x7f800000u) return sign | 0x7c00u;
    return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  // 65520 is halfway between the largest half (65504, odd mantissa) and 2^16: ties go up.
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;

  const uint32_t exponent = magnitude >> 23;  // biased by 127
  uint32_t mantissa = magnitude & 0x7fffffu;
  uint32_t shift = 13;  // float mantissa bits dropped
  uint32_t half = 0;
  if (exponent >= 113) {  // 2^-14 and above: a normal half, exponent rebiased to 15
    half = ((exponent - 112) << 10) | (mantissa >> 13);
  } else {
    // A subnormal half counts units of 2^-24: value = (mantissa | 2^23) * 2^(exponent - 150).
    // Below 2^-25 (exponent < 102, float subnormals included) everything rounds to zero.
    if (exponent < 102) return sign;
    mantissa |= 0x800000u;
    shift = 126 - exponent;  // 14..24
    half = mantissa >> shift;
  }
  const uint32_t rest = mantissa & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  // A carry out of the mantissa moves to the next exponent, which is the right result too.
  if (rest > halfway || (rest == halfway && (half & 1u) != 0)) ++half;
  return static_cast<uint16_t>(sign | half);
}

constexpr float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return std::bit_cast<float>(sign);
  // Subnormal: mantissa * 2^-24, normalised into a float.
  uint32_t m = mantissa;
  uint32_t e = 113;  // float exponent of 2^-14
  while ((m & 0x400u) == 0) {
    m <<= 1;
    --e;
  }
  return std::bit_cast<float>(sign | (e << 23) | ((m & 0x3ffu) << 13));
}

}  // namespace samcache
