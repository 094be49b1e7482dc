// The bilinear resize of SAM's mask postprocess, shared by the full-mask path (mask_codec.cpp)
// and the straight-to-RLE one (mask_encode.cpp) so that both give the same mask, bit for bit.
// Private to src/model.
#pragma once

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace samcache::mask_internal {

// One output coordinate of a bilinear resize: value = src[i0] * w0 + src[i1] * w1.
struct Tap {
  int i0;
  int i1;
  float w0;
  float w1;
};

// Taps for output coordinates 0..count-1 of a resize from `in` to `out` samples, computed as
// cv::resize INTER_LINEAR does (so float results match it to the last bit in most pixels):
// src = (dst + 0.5) * in / out - 0.5 rounded to float, clamped to the first and last sample.
// PyTorch's align_corners=False bilinear maps the same way.
inline std::vector<Tap> BilinearTaps(int in, int out, int count) {
  const double scale = 1.0 / (static_cast<double>(out) / in);
  std::vector<Tap> taps(static_cast<size_t>(count));
  for (int d = 0; d < count; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    if (s < 0) s = 0, f = 0.0f;
    if (s >= in - 1) s = in - 1, f = 0.0f;
    taps[d] = Tap{s, std::min(s + 1, in - 1), 1.0f - f, f};
  }
  return taps;
}

// Resizes the row-major in_h x in_w float image `src` to out_h x out_w, but produces only the
// output rows [y0, y1) and columns [x0, x1) (a crop costs nothing). Horizontal pass first, as
// OpenCV and PyTorch do; each source row is resized horizontally once and kept while output
// rows need it. For every output row y, in order, calls emit(y, r0, r1, b0, b1): the row's
// columns x0 + i are r0[i] * b0 + r1[i] * b1 for i < x1 - x0, and `emit` decides what to store.
// A value does not depend on the window it is computed in (same taps, same operations).
// `xt` and `yt` are the taps of at least x1 columns and y1 rows.
template <typename Emit>
void ResizeBilinearWithTaps(const float* src, int in_w, const std::vector<Tap>& xt,
                            const std::vector<Tap>& yt, int y0, int y1, int x0, int x1, Emit&& emit) {
  const int cols = x1 - x0;
  // Two slots by source-row parity: an output row needs rows s and s + 1 (or s twice), which
  // never share a slot, and rows are needed in increasing order.
  std::vector<float> slots(2 * static_cast<size_t>(cols));
  int cached[2] = {-1, -1};
  auto row = [&](int sy) -> const float* {
    float* dst = slots.data() + (sy & 1) * static_cast<size_t>(cols);
    if (cached[sy & 1] != sy) {
      const float* s = src + static_cast<size_t>(sy) * in_w;
      for (int x = 0; x < cols; ++x) {
        const Tap& t = xt[x0 + x];
        dst[x] = s[t.i0] * t.w0 + s[t.i1] * t.w1;
      }
      cached[sy & 1] = sy;
    }
    return dst;
  };
  for (int y = y0; y < y1; ++y) {
    const Tap& t = yt[y];
    const float* r0 = row(t.i0);
    const float* r1 = row(t.i1);
    emit(y, r0, r1, t.w0, t.w1);
  }
}

template <typename Emit>
void ResizeBilinear(const float* src, int in_h, int in_w, int out_h, int out_w, int y0, int y1, int x0,
                    int x1, Emit&& emit) {
  ResizeBilinearWithTaps(src, in_w, BilinearTaps(in_w, out_w, x1), BilinearTaps(in_h, out_h, y1), y0, y1, x0,
                         x1, std::forward<Emit>(emit));
}

// d[x] = r0[x] * b0 + r1[x] * b1 > 0 for x < n, as 0/1 bytes. The SSE2 lanes do the same
// float multiplies and add as the scalar tail (no fused multiply-add), so every path gives the
// same mask.
inline void ThresholdRow(const float* r0, const float* r1, float b0, float b1, int n, uint8_t* d) {
  int x = 0;
#if defined(__SSE2__)
  const __m128 w0 = _mm_set1_ps(b0), w1 = _mm_set1_ps(b1), zero = _mm_setzero_ps();
  const __m128i one = _mm_set1_epi8(1);
  auto positive = [&](int at) {
    const __m128 v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(r0 + at), w0), _mm_mul_ps(_mm_loadu_ps(r1 + at), w1));
    return _mm_castps_si128(_mm_cmpgt_ps(v, zero));  // all ones where > 0
  };
  for (; x + 16 <= n; x += 16) {
    const __m128i lo = _mm_packs_epi32(positive(x), positive(x + 4));
    const __m128i hi = _mm_packs_epi32(positive(x + 8), positive(x + 12));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + x), _mm_and_si128(_mm_packs_epi16(lo, hi), one));
  }
#endif
  for (; x < n; ++x) d[x] = (r0[x] * b0 + r1[x] * b1) > 0.0f;
}

// The top-left rows x cols of the full resize.
template <typename Emit>
void ResizeBilinear(const float* src, int in_h, int in_w, int out_h, int out_w, int rows, int cols,
                    Emit&& emit) {
  ResizeBilinear(src, in_h, in_w, out_h, out_w, 0, rows, 0, cols, std::forward<Emit>(emit));
}

inline void CheckUpsampleArgs([[maybe_unused]] const float* low_res, [[maybe_unused]] int low_h,
                              [[maybe_unused]] int low_w, [[maybe_unused]] int input_h,
                              [[maybe_unused]] int input_w, [[maybe_unused]] int orig_h,
                              [[maybe_unused]] int orig_w, [[maybe_unused]] int side) {
  // Programmer errors: the sizes come from the model's outputs and the catalog's image record.
  assert(low_res != nullptr && low_h > 0 && low_w > 0 && orig_h > 0 && orig_w > 0);
  assert(input_h > 0 && input_w > 0 && input_h <= side && input_w <= side);
}

}  // namespace samcache::mask_internal
