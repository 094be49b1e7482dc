// Preparing a decoded image for a SAM image encoder: longest-side resize, then either the
// normalised, zero-padded NCHW tensor of the reference encoder or the plain HWC float image
// that some exports take (they normalise and pad inside the graph).
//
// All functions are pure and thread-safe. OpenCV stays inside preprocess.cpp.
#pragma once

#include <array>

#include "image/image_decoder.h"

namespace samcache {

// A size in (HEIGHT, WIDTH) order, the order SAM uses for `orig_im_size` and for
// segment-anything's get_preprocess_shape. Swapping the two is the classic SAM client bug,
// so every function here names them explicitly.
struct ResizedSize {
  int height = 0;
  int width = 0;
};

// The size an image of `height` x `width` gets when its longest side is scaled to `target`:
// scale = target / max(height, width), new = floor(old * scale + 0.5), as segment-anything's
// ResizeLongestSide.get_preprocess_shape. NOTE THE ARGUMENT ORDER: height first.
// Unlike the reference, a side that would round to 0 (a 1 x 5000 strip) becomes 1.
// Requires height > 0, width > 0, target > 0.
ResizedSize LongestSideSize(int height, int width, int target = 1024);

// The image resized to LongestSideSize(image.height, image.width, target). Shrinking uses
// area averaging (the closest OpenCV filter to the reference's antialiased resize),
// enlarging uses bilinear; a same-size resize is a copy. Requires a non-empty image.
DecodedImage ResizeLongestSide(const DecodedImage& image, int target = 1024);

// The image resized to exactly height x width, aspect ratio not kept (SAM 2 and EfficientSAM
// stretch the image to their square frame). Area averaging along a side that shrinks,
// bilinear along one that grows; a same-size resize is a copy. Requires a non-empty image and positive sizes.
DecodedImage ResizeTo(const DecodedImage& image, int height, int width);

// The reference encoder input, float32 [1, 3, side, side] (NCHW), into `out`, which must hold
// 3 * side * side floats: out[c][y][x] = (rgb[y][x][c] - mean[c]) / stddev[c] for the resized
// image's pixels, and 0 in the padding at the bottom and the right. `mean` and `stddev` are in
// RGB order on the 0..255 scale. Requires resized.width <= side and resized.height <= side.
void FillNchwNormalized(const DecodedImage& resized, const std::array<float, 3>& mean,
                        const std::array<float, 3>& stddev, int side, float* out);

// Float32 [3, height, width] (NCHW without the batch dim), no padding, into `out`, which must
// hold 3 * height * width floats: out[c][y][x] = (rgb[y][x][c] - mean[c]) / stddev[c].
void FillNchw(const DecodedImage& image, const std::array<float, 3>& mean, const std::array<float, 3>& stddev,
              float* out);

// The HWC input of exports that normalise inside the graph, float32 [height, width, 3] in
// 0..255, RGB, no padding, into `out`, which must hold height * width * 3 floats.
void FillHwcFloat(const DecodedImage& resized, float* out);

}  // namespace samcache
