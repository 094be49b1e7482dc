// click_cost_bench (issue 14, M2 and M4): what a hostile upload and a click on a huge image
// cost.
//
//  1. A progressive-JPEG scan bomb: the time the header walk takes to refuse it, next to the
//     time the decoder would have spent on it.
//  2. The full-resolution part of one click (multimask: three masks, each upsampled, RLE,
//     bbox, area, polygons and PNG) on a --side x --side image: time per step, output sizes
//     and the peak resident memory.
//  3. --clients of those clicks at once, without and with the segmenter's pixel budget: wall
//     time and peak resident memory.
//
// Peak memory is the process's VmHWM, reset between parts through /proc/self/clear_refs.
#include <CLI/CLI.hpp>

// OpenCV 4.6 headers trip C++20's enum-arithmetic deprecation when included with -I.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "image/image_format.h"
#include "model/mask_codec.h"
#include "model/segmenter.h"
#include "model/work_budget.h"

namespace {

using samcache::bench::MsSince;
using Clock = std::chrono::steady_clock;

// Peak resident set size in MB since the last ResetPeak().
double PeakRssMb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

// ---- 1. Scan bomb ----

// A grey progressive JPEG with its last scan repeated until it has `scans` scans, as the
// bomb in the issue was made.
std::string ProgressiveBomb(int side, int scans) {
  // Flat grey: each AC scan is a few hundred bytes of end-of-band runs, yet libjpeg still
  // walks every block of the image for it.
  const cv::Mat grey(side, side, CV_8UC1, cv::Scalar(128));
  std::vector<uchar> buf;
  cv::imencode(".jpg", grey, buf, {cv::IMWRITE_JPEG_PROGRESSIVE, 1, cv::IMWRITE_JPEG_QUALITY, 50});
  const std::string jpeg(buf.begin(), buf.end());
  // The last scan: from the last SOS to the EOI (OpenCV writes no fill bytes or trailer).
  const size_t last = jpeg.rfind("\xFF\xDA");
  const size_t eoi = jpeg.size() - 2;
  const std::string scan = jpeg.substr(last, eoi - last);
  const samcache::Result<samcache::ImageHeader> header = samcache::ReadImageHeader(jpeg);
  std::string out = jpeg.substr(0, eoi);
  for (int i = static_cast<int>(header.ok() ? header->jpeg_scans : 0); i < scans; ++i) out += scan;
  return out + "\xFF\xD9";
}

void BenchBomb(int side, int scans) {
  const std::string bomb = ProgressiveBomb(side, scans);
  Clock::time_point start = Clock::now();
  const samcache::Result<samcache::ImageHeader> header = samcache::ReadImageHeader(bomb);
  const double refuse_ms = MsSince(start);
  start = Clock::now();
  // Straight to OpenCV: DecodeImage now refuses the bomb too.
  const cv::Mat decoded = cv::imdecode(
      cv::Mat(1, static_cast<int>(bomb.size()), CV_8UC1, const_cast<char*>(bomb.data())), cv::IMREAD_COLOR);
  const double decode_ms = MsSince(start);
  std::printf("scan bomb %dx%d, %d scans, %.2f MB\n", side, side, scans,
              static_cast<double>(bomb.size()) / 1e6);
  std::printf("  header walk: %.2f ms -> %s\n", refuse_ms,
              header.ok() ? "accepted" : header.status().message().c_str());
  std::printf("  full decode (what an upload cost before): %.0f ms -> %s\n\n", decode_ms,
              decoded.empty() ? "not decoded" : "decoded");
}

// ---- 2 and 3. Clicks ----

// 256 x 256 logits of a large soft blob with a ragged edge, as a decoder might give.
std::vector<float> BlobLogits(int variant) {
  std::vector<float> logits(256 * 256);
  for (int y = 0; y < 256; ++y) {
    for (int x = 0; x < 256; ++x) {
      const double a = std::atan2(y - 128.0, x - 128.0);
      const double r = 70 + 10 * variant + 12 * std::sin(9 * a) + 5 * std::sin(23 * a);
      logits[y * 256 + x] = static_cast<float>(r - std::hypot(x - 128.0, y - 128.0));
    }
  }
  return logits;
}

struct ClickSteps {
  double upsample = 0, rle = 0, shape = 0, polygons = 0, png = 0;
  size_t rle_bytes = 0, vertices = 0, png_bytes = 0;
};

ClickSteps Click(int side, const std::vector<std::vector<float>>& masks) {
  ClickSteps s;
  samcache::PolygonOptions polygon_options;
  const samcache::SegmenterLimits limits;
  polygon_options.epsilon_px = std::max(1.0, side / 4096.0);
  polygon_options.max_polygons = limits.max_polygons;
  polygon_options.max_vertices = limits.max_polygon_vertices;
  for (const std::vector<float>& logits : masks) {
    Clock::time_point t = Clock::now();
    const samcache::BinaryMask mask =
        samcache::UpsampleLowResLogits(logits.data(), 256, 256, 1024, 1024, side, side, 1024);
    s.upsample += MsSince(t);
    t = Clock::now();
    s.rle_bytes += samcache::EncodeRle(mask).counts.size();
    s.rle += MsSince(t);
    t = Clock::now();
    (void)samcache::MaskBbox(mask);
    (void)samcache::MaskArea(mask);
    s.shape += MsSince(t);
    t = Clock::now();
    for (const auto& polygon : samcache::MaskPolygons(mask, polygon_options))
      s.vertices += polygon.size() / 2;
    s.polygons += MsSince(t);
    t = Clock::now();
    const samcache::Result<std::string> png = samcache::MaskPng(mask);
    s.png_bytes += png.ok() ? png->size() : 0;
    s.png += MsSince(t);
  }
  return s;
}

void BenchClicks(int side, int clients) {
  std::vector<std::vector<float>> masks = {BlobLogits(0), BlobLogits(1), BlobLogits(2)};
  ResetPeak();
  const double base_mb = PeakRssMb();
  const ClickSteps one = Click(side, masks);
  std::printf("one multimask click, %dx%d (%.0f MP), 3 masks with polygons and PNG\n", side, side,
              side * static_cast<double>(side) / 1e6);
  std::printf("  upsample %.0f ms, RLE %.0f ms, bbox+area %.0f ms, polygons %.0f ms, PNG %.0f ms\n",
              one.upsample, one.rle, one.shape, one.polygons, one.png);
  std::printf("  output: RLE %zu bytes, %zu polygon vertices, PNG %zu bytes\n", one.rle_bytes, one.vertices,
              one.png_bytes);
  std::printf("  peak RSS above the start: %.0f MB\n\n", PeakRssMb() - base_mb);

  for (const uint64_t budget : {uint64_t{0}, samcache::SegmenterLimits{}.mask_pixel_budget}) {
    samcache::WorkBudget pixels(budget);
    ResetPeak();
    const double before_mb = PeakRssMb();
    const Clock::time_point start = Clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&] {
        const auto lease = pixels.Acquire(static_cast<uint64_t>(side) * side);
        (void)Click(side, masks);
      });
    }
    for (auto& t : threads) t.join();
    std::printf("%d concurrent clicks, pixel budget %s: wall %.0f ms, peak RSS above the start %.0f MB\n",
                clients, budget == 0 ? "none" : (std::to_string(budget / 1'000'000) + " MP").c_str(),
                MsSince(start), PeakRssMb() - before_mb);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"click_cost_bench: scan-bomb refusal and the full-resolution cost of clicks"};
  int bomb_side = 4000;
  int bomb_scans = 1000;
  int side = 10000;
  int clients = 8;
  app.add_option("--bomb-side", bomb_side, "side of the scan bomb in pixels (0 skips it)");
  app.add_option("--bomb-scans", bomb_scans, "scans in the bomb");
  app.add_option("--side", side, "side of the clicked image in pixels (0 skips the clicks)");
  app.add_option("--clients", clients, "concurrent clicks");
  CLI11_PARSE(app, argc, argv);
  if (bomb_side > 0) BenchBomb(bomb_side, bomb_scans);
  if (side > 0) BenchClicks(side, clients);
  return 0;
}
