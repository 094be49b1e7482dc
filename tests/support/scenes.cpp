#include "support/scenes.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <stdexcept>

#include "image/cv_image.h"
#include "support/test_support.h"

namespace samcache::testing {
namespace {

// Draws `draw` into the picture with `colour` and into a fresh mask, and records the object.
template <typename Draw>
void AddObject(Scene& scene, cv::Mat& picture, const std::string& name, cv::Scalar colour, Draw draw) {
  cv::Mat mask = cv::Mat::zeros(picture.rows, picture.cols, CV_8U);
  draw(picture, colour);
  draw(mask, cv::Scalar(1));
  SceneObject object;
  object.name = name;
  object.mask.assign(mask.data, mask.data + mask.total());
  cv::Rect box = cv::boundingRect(mask);
  object.box[0] = box.x;
  object.box[1] = box.y;
  object.box[2] = box.x + box.width;
  object.box[3] = box.y + box.height;
  // The point farthest from the edge is well inside any shape.
  cv::Mat distance;
  cv::distanceTransform(mask, distance, cv::DIST_L2, 3);
  cv::Point inner;
  cv::minMaxLoc(distance, nullptr, nullptr, nullptr, &inner);
  object.click_x = static_cast<float>(inner.x) + 0.5f;
  object.click_y = static_cast<float>(inner.y) + 0.5f;
  scene.objects.push_back(std::move(object));
}

}  // namespace

const SceneObject& Scene::Object(const std::string& name) const {
  for (const SceneObject& object : objects) {
    if (object.name == name) return object;
  }
  throw std::runtime_error("no object " + name);
}

Scene MakeShapesScene(int width, int height, int seed) {
  Scene scene;
  cv::Mat picture(height, width, CV_8UC3, cv::Scalar(205, 205, 200));
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_int_distribution<int> noise(-6, 6);
  for (int y = 0; y < height; ++y) {
    auto* row = picture.ptr<cv::Vec3b>(y);
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < 3; ++c) row[x][c] = cv::saturate_cast<uchar>(row[x][c] + noise(rng));
    }
  }
  const int w = width;
  const int h = height;
  const int s = std::min(w, h);
  // Pictures are RGB in memory: Scalar(r, g, b).
  AddObject(scene, picture, "rectangle", cv::Scalar(210, 40, 40), [&](cv::Mat& m, cv::Scalar c) {
    cv::rectangle(m, cv::Point(w * 5 / 100, h * 8 / 100),
                  cv::Point(w * 5 / 100 + s * 30 / 100, h * 8 / 100 + s * 22 / 100), c, cv::FILLED);
  });
  AddObject(scene, picture, "circle", cv::Scalar(40, 160, 60), [&](cv::Mat& m, cv::Scalar c) {
    cv::circle(m, cv::Point(w * 55 / 100, h * 30 / 100), s * 15 / 100, c, cv::FILLED, cv::LINE_8);
  });
  AddObject(scene, picture, "triangle", cv::Scalar(40, 70, 200), [&](cv::Mat& m, cv::Scalar c) {
    std::vector<cv::Point> corners = {{w * 12 / 100, h * 92 / 100},
                                      {w * 42 / 100, h * 92 / 100},
                                      {w * 27 / 100, h * 92 / 100 - s * 30 / 100}};
    cv::fillPoly(m, std::vector<std::vector<cv::Point>>{corners}, c, cv::LINE_8);
  });
  AddObject(scene, picture, "twin", cv::Scalar(210, 40, 40), [&](cv::Mat& m, cv::Scalar c) {
    cv::rectangle(m, cv::Point(w * 80 / 100, h * 8 / 100),
                  cv::Point(w * 80 / 100 + s * 15 / 100, h * 8 / 100 + s * 15 / 100), c, cv::FILLED);
  });
  const cv::Point pair_origin(w * 55 / 100, h * 62 / 100);
  AddObject(scene, picture, "orange", cv::Scalar(235, 130, 30), [&](cv::Mat& m, cv::Scalar c) {
    cv::rectangle(m, pair_origin, pair_origin + cv::Point(s * 18 / 100, s * 20 / 100), c, cv::FILLED);
  });
  AddObject(scene, picture, "amber", cv::Scalar(235, 165, 35), [&](cv::Mat& m, cv::Scalar c) {
    cv::rectangle(m, pair_origin + cv::Point(s * 18 / 100 + 1, 0),
                  pair_origin + cv::Point(s * 36 / 100, s * 20 / 100), c, cv::FILLED);
  });
  scene.image = FromRgbMat(picture);
  return scene;
}

double MaskIoU(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) throw std::runtime_error("masks of different sizes");
  size_t both = 0;
  size_t either = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    both += (a[i] && b[i]);
    either += (a[i] || b[i]);
  }
  return either == 0 ? 1.0 : static_cast<double>(both) / static_cast<double>(either);
}

std::vector<uint8_t> MaskUnion(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  std::vector<uint8_t> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = (a[i] || b[i]) ? 1 : 0;
  return out;
}

std::string JpegWithOrientation6(const DecodedImage& image, int quality) {
  cv::Mat stored;
  // Orientation 6 displays the stored pixels rotated 90° clockwise, so store them rotated back.
  cv::rotate(RgbView(image), stored, cv::ROTATE_90_COUNTERCLOCKWISE);
  Result<std::string> jpeg = EncodeImage(FromRgbMat(stored), ".jpg", quality);
  if (!jpeg.ok()) throw std::runtime_error(jpeg.status().message());
  return WithExifOrientation(*jpeg, 6);
}

}  // namespace samcache::testing
