// From a SAM decoder's low-resolution logits to what the API returns: a full-size binary mask,
// its COCO run-length encoding (byte-compatible with pycocotools), bounding box, area,
// polygons and PNG.
//
// All functions are pure and thread-safe. OpenCV stays inside mask_codec.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace samcache {

// A binary mask, ROW-MAJOR: data[y * width + x] is 1 for foreground, 0 for background.
// Functions that read a mask treat any non-zero byte as foreground.
struct BinaryMask {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> data;  // height * width bytes
};

// --- Upsampling ----------------------------------------------------------------------------
//
// The official SAM ONNX export's postprocess (segment_anything/utils/onnx.py,
// mask_postprocessing), for one mask:
//   1. bilinear resize of the low_h x low_w logits (256 x 256) to side x side,
//   2. crop to the top-left input_h x input_w (the resized image, before padding),
//   3. bilinear resize to orig_h x orig_w,
// where both resizes are PyTorch's F.interpolate(mode="bilinear", align_corners=False) without
// antialiasing, i.e. OpenCV's INTER_LINEAR on float32: half-pixel centres,
// src = (dst + 0.5) * in / out - 0.5, clamped to the edge pixels.
// `low_res` is row-major low_h x low_w. All sizes are (height, width) and must be positive,
// with input_h, input_w <= side. The float results agree with cv::resize to float rounding.

// The logits, row-major orig_h x orig_w. Meant for tests that compare against a graph's
// float `masks` output; the server wants the thresholded form below.
std::vector<float> UpsampleLowResLogitsToLogits(const float* low_res, int low_h, int low_w, int input_h,
                                                int input_w, int orig_h, int orig_w, int side = 1024);

// The mask, foreground where the upsampled logit is > 0. Never materialises the full-size
// float image: about 7 ms at 4000 x 3000 on one core.
BinaryMask UpsampleLowResLogits(const float* low_res, int low_h, int low_w, int input_h, int input_w,
                                int orig_h, int orig_w, int side = 1024);

// The stretched-frame postprocess of SAM 2 and EfficientSAM: the low-res logits cover the
// whole image (stretched, not padded), so one bilinear resize (align_corners=False) goes
// straight to orig_h x orig_w, as SAM 2's predictor does. Same arithmetic as above.
std::vector<float> UpsampleStretchedLogitsToLogits(const float* low_res, int low_h, int low_w, int orig_h,
                                                   int orig_w);
BinaryMask UpsampleStretchedLogits(const float* low_res, int low_h, int low_w, int orig_h, int orig_w);

// --- COCO run-length encoding --------------------------------------------------------------
//
// As pycocotools (maskApi.c): runs are counted in COLUMN-MAJOR (Fortran) order over the
// height x width mask, alternate background and foreground, and always start with a
// background run (0 when the first pixel is foreground). The compressed `counts` string is
// rleToString's: each count (minus the count two before it, from the fourth on) in 5-bit
// groups, least significant first, 0x20 marking "more follows", each char offset by 48.

struct Rle {
  int height = 0;
  int width = 0;
  std::string counts;  // compressed, as in the COCO JSON {"size": [h, w], "counts": "..."}
};

// The uncompressed run lengths (pycocotools rleEncode). Their sum is height * width.
std::vector<uint32_t> RleCounts(const BinaryMask& mask);
// A row-major mask from run lengths. InvalidArgument when they do not sum to height * width.
Result<BinaryMask> MaskFromRleCounts(const std::vector<uint32_t>& counts, int height, int width);

// pycocotools rleToString / rleFrString on run lengths. The parser returns InvalidArgument for
// a character outside '0'..'o', a truncated last count, a count that is negative or does not
// fit in 32 bits.
std::string CompressRleCounts(const std::vector<uint32_t>& counts);
Result<std::vector<uint32_t>> DecompressRleCounts(std::string_view counts);

Rle EncodeRle(const BinaryMask& mask);
// InvalidArgument for a malformed string, negative sizes, or counts not summing to h * w.
Result<BinaryMask> DecodeRle(const Rle& rle);

// --- Straight from logits to RLE ----------------------------------------------------------
//
// What a click returns when it needs no full-size mask (no polygons, no PNG): the RLE, box and
// area of UpsampleLowResLogits / UpsampleStretchedLogits with the same arguments, identical to
// EncodeRle, MaskBbox and MaskArea of that mask. Only the output rows and columns that a
// positive logit can reach are upsampled (a bilinear sum of values <= 0 stays <= 0), so a
// small object on a 12-megapixel image costs a small box, not 12 MB. The box is made a strip
// of columns at a time, and one of 2 megapixels or more on two threads (this one and one it
// starts), so a lone click on a large image uses two cores.
struct EncodedMask {
  Rle rle;
  std::array<int, 4> bbox{};  // as MaskBbox
  uint64_t area = 0;
};
// Whether a large box may take a second thread: a lone click gets its answer sooner with two,
// but the pair costs about 15% more CPU, which clicks running side by side pay in throughput.
enum class EncodeThreads { kOne, kTwoForLargeBoxes };
EncodedMask EncodeLowResLogits(const float* low_res, int low_h, int low_w, int input_h, int input_w,
                               int orig_h, int orig_w, int side = 1024,
                               EncodeThreads threads = EncodeThreads::kTwoForLargeBoxes);
EncodedMask EncodeStretchedLogits(const float* low_res, int low_h, int low_w, int orig_h, int orig_w,
                                  EncodeThreads threads = EncodeThreads::kTwoForLargeBoxes);

// --- Derived shapes ------------------------------------------------------------------------

// COCO bounding box [x, y, width, height] of the foreground, tight and inclusive (a single
// pixel at (3, 5) gives [3, 5, 1, 1]); all zeros for an empty mask.
std::array<int, 4> MaskBbox(const BinaryMask& mask);
// Number of foreground pixels.
uint64_t MaskArea(const BinaryMask& mask);

// COCO polygons [x1, y1, x2, y2, ...], one per external contour (holes are not represented),
// simplified with Douglas-Peucker at `epsilon_px`. Vertices are the centres of boundary pixels.
// Contours with fewer than 3 vertices (specks and one-pixel lines) are dropped.
std::vector<std::vector<float>> MaskPolygons(const BinaryMask& mask, double epsilon_px = 1.0);

// Bounds for the polygons of a mask whose size the client chose (a 100-megapixel image).
struct PolygonOptions {
  double epsilon_px = 1.0;  // Douglas-Peucker tolerance
  // At most this many polygons: the largest by area are kept, in their usual order.
  size_t max_polygons = SIZE_MAX;
  // At most this many vertices in all polygons together: the tolerance is doubled until they
  // fit (a coarser outline rather than a cut-off one).
  size_t max_vertices = SIZE_MAX;
};
// As above, within `options`. Only the foreground's bounding box is traced, so the work and
// memory grow with the object, not with the image.
std::vector<std::vector<float>> MaskPolygons(const BinaryMask& mask, const PolygonOptions& options);

// A 1-bit greyscale PNG of the mask: white (1) for foreground, black (0) for background, so
// decoders that expand to 8 bits give 255 and 0. InvalidArgument for an empty mask; Internal
// if the encoder fails.
Result<std::string> MaskPng(const BinaryMask& mask);

}  // namespace samcache
