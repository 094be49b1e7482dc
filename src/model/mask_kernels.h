// The inner loops of a click's straight-to-RLE postprocess (mask_encode.cpp), with AVX-512 and
// AVX2 versions picked at run time where the CPU has them. Every version does the same float multiplies
// and adds per value, in the same order and without fused multiply-add (this file's .cpp is
// built with -ffp-contract=off), so all give the same mask, bit for bit. Private to src/model.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/bilinear_resize.h"

namespace samcache::mask_internal {

// The horizontal taps of up to 64 output columns of one strip, with source indices counted from
// the strip's first source column: out[x] = row[i0[x]] * w0[x] + row[i1[x]] * w1[x].
struct StripTaps {
  static constexpr int kMaxColumns = 64;
  int columns = 0;      // output columns, 1..64
  int source_cols = 0;  // 1 + the largest index
  int32_t i0[kMaxColumns] = {};
  int32_t i1[kMaxColumns] = {};
  float w0[kMaxColumns] = {};
  float w1[kMaxColumns] = {};
};

// The horizontal pass of `rows` rows of `src` (row r at src + r * stride, source_cols floats
// each) into `out`, 64 floats a row; columns past taps.columns are not written.
void HorizontalStrip(const float* src, size_t stride, int rows, const StripTaps& taps, float* out);

// out[x] = a[x] * b0 + b[x] * b1 for x < n.
void BlendRow(const float* a, const float* b, float b0, float b1, int n, float* out);

// The vertical pass of a strip made by HorizontalStrip, thresholded: for output rows y in
// [y0, y1), bit x (x < columns <= 64) of out[y - y0] is
//   strip[yt[y].i0 * 64 + x] * yt[y].w0 + strip[yt[y].i1 * 64 + x] * yt[y].w1 > 0,
// and higher bits are 0.
void PositiveRows(const float* strip, const Tap* yt, int y0, int y1, int columns, uint64_t* out);

// Transposes a 64 x 64 bit matrix in place: bit c of a[r] becomes bit r of a[c].
void TransposeBits64(uint64_t a[64]);

// Where run lengths are being counted: pixel `at` is the next to come, the current run began at
// pixel `start`, and `before` is the value (0 or 1) of the pixel before `at`.
struct RunCursor {
  uint64_t before = 0;
  size_t at = 0;
  size_t start = 0;
};

// The runs that end in `rows` pixels (rows > 0) given as bits, 64 a word and bit 0 first (bits
// past `rows` in the last word are 0): a run ends wherever a pixel differs from the one before
// it. Writes each ended run's length from `out` on, and returns the end of them; moves `cursor`
// past the pixels. Up to 8 counts past the end are overwritten: `out` needs room for rows + 8.
uint32_t* WordRuns(const uint64_t* words, size_t rows, RunCursor& cursor, uint32_t* out);

// The COCO RLE text (pycocotools' rleToString) of counts [from, to) of `counts`, written from
// `out` on; returns the end. Each count is written as its difference from the count two places
// before it (from the fourth count of the whole list on). Up to 8 bytes past the end are
// overwritten: `out` needs room for 7 characters a count, plus 8.
char* WriteRleText(const uint32_t* counts, size_t from, size_t to, char* out);

// The versions, in order.
enum class MaskKernels { kPortable, kAvx2, kAvx512 };
// The best version this CPU runs.
MaskKernels BestMaskKernels();
// Tests compare the versions: every call above takes the best version up to `cap` this CPU runs.
void CapMaskKernels(MaskKernels cap);

}  // namespace samcache::mask_internal
