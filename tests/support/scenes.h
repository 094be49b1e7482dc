// Generated scenes with known objects, for checking segmentation: each shape's exact mask
// is drawn alongside the picture.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "image/image_decoder.h"

namespace samcache::testing {

struct SceneObject {
  std::string name;
  std::vector<uint8_t> mask;  // width * height, 1 inside the object
  float click_x = 0;          // a point well inside the object
  float click_y = 0;
  int box[4] = {0, 0, 0, 0};  // tight box x0, y0, x1, y1 (exclusive ends)
};

struct Scene {
  DecodedImage image;
  std::vector<SceneObject> objects;

  const SceneObject& Object(const std::string& name) const;
};

// A light, slightly noisy background with distinctly coloured shapes placed relative to
// the size: "rectangle" (red), "circle" (green), "triangle" (blue), "twin" (a second red
// rectangle, apart from the first), and two touching rectangles of close colours,
// "orange" and "amber".
Scene MakeShapesScene(int width, int height, int seed = 1);

// Intersection over union of two masks of the same size (1 when both are empty).
double MaskIoU(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

// The union of masks.
std::vector<uint8_t> MaskUnion(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

// A JPEG whose pixels are stored rotated and an EXIF orientation tag (6: rotate 90° clockwise
// to display) that brings them back to `image` when decoded.
std::string JpegWithOrientation6(const DecodedImage& image, int quality = 95);

}  // namespace samcache::testing
