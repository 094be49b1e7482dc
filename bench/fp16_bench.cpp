// fp16_bench: what storing cached embeddings as IEEE half (`--cache-dtype fp16`) changes (issue 4).
//
// For generated scenes (tests/support/scenes: shapes on a noisy background, several sizes and
// seeds) it computes each embedding, makes its fp16 copy through the disk format itself
// (EncodeSafetensors with F16, then DecodeSafetensors), and decodes masks from both with the
// same prompts: for every object its click point, its tight box, and both together. Masks are
// what the API returns (the decoder's choice of its masks, upsampled to the image). It reports
// the IoU between the fp32- and fp16-derived masks (mean, min, p1, p5, share exactly equal),
// how often the decoder chose another of its masks, the IoU of each with the drawn object,
// the largest embedding difference, and per dtype the file size of one embedding, the encode
// time and the disk tier's get latency (page cache warm).
//
//   fp16_bench [--model DIR] [--scenes N] [--gets N]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "common/crypto.h"
#include "model/mask_codec.h"
#include "model/preprocess.h"
#include "model/sam_model.h"
#include "model/segmenter.h"
#include "store/disk_tier.h"
#include "store/safetensors.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace {

using namespace samcache;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

template <typename T>
T Check(Result<T> result) {
  if (!result.ok()) Fail(result.status().message());
  return std::move(result).value();
}

using samcache::bench::Mean;
using samcache::bench::MsSince;
using samcache::bench::Percentile;

struct Mask {
  std::vector<uint8_t> pixels;
  int choice = 0;  // which of the decoder's masks was returned
};

// The mask the API returns for `prompt`: the decoder's choice, upsampled by us.
Mask Segment(const SamModel& model, const Embedding& embedding, const DecoderPrompt& prompt) {
  DecoderResult decoded = Check(model.Decode(embedding, prompt));
  const int index = ChooseMasks(decoded.scores, false).front();
  const ResizedSize input =
      LongestSideSize(prompt.original_height, prompt.original_width, model.info().input_side);
  const size_t plane = static_cast<size_t>(decoded.low_res_height) * decoded.low_res_width;
  BinaryMask mask = UpsampleLowResLogits(
      decoded.low_res_logits.data() + plane * index, decoded.low_res_height, decoded.low_res_width,
      input.height, input.width, prompt.original_height, prompt.original_width, model.info().input_side);
  return {std::move(mask.data), index};
}

struct DtypeCost {
  uint64_t file_bytes = 0;
  std::vector<double> encode_ms;
  std::vector<double> get_ms;
};

void Run(const SamModel& model, int scene_count, int gets) {
  const ModelInfo& info = model.info();
  std::printf("\nmodel %s (id %s, %s)%s\n", info.name.c_str(), info.id.c_str(), info.source.c_str(),
              info.demo ? " [demo]" : "");

  const std::array<std::pair<int, int>, 5> sizes{
      {{640, 480}, {480, 640}, {800, 600}, {1024, 768}, {1920, 1080}}};
  std::vector<double> iou, truth32, truth16;
  int other_choice = 0;
  double max_abs_diff = 0, max_abs_value = 0, max_rel_diff = 0;
  size_t changed_pixels_max = 0;
  std::array<DtypeCost, 2> costs;
  const std::array<StorageDtype, 2> dtypes{StorageDtype::kF32, StorageDtype::kF16};

  testing::TempDir dir;
  std::vector<std::unique_ptr<DiskTier>> tiers;
  for (StorageDtype dtype : dtypes) {
    tiers.push_back(std::make_unique<DiskTier>(dir / std::string(StorageDtypeName(dtype)), 0, dtype));
    if (Status st = tiers.back()->Init(); !st.ok()) Fail(st.message());
  }
  std::vector<EmbeddingKey> keys;

  for (int s = 0; s < scene_count; ++s) {
    const auto [width, height] = sizes[static_cast<size_t>(s) % sizes.size()];
    const testing::Scene scene = testing::MakeShapesScene(width, height, 1 + s);
    const Embedding fp32 = Check(model.Encode(model.Prepare(scene.image)));
    const EmbeddingKey key{info.id, Sha256Hex("fp16_bench scene " + std::to_string(s))};
    keys.push_back(key);

    // The fp16 copy is what a DiskTier with --cache-dtype fp16 hands back.
    Embedding fp16;
    for (size_t d = 0; d < dtypes.size(); ++d) {
      const Clock::time_point start = Clock::now();
      const std::string bytes = Check(EncodeSafetensors(key, fp32, dtypes[d]));
      costs[d].encode_ms.push_back(MsSince(start));
      costs[d].file_bytes = bytes.size();
      if (dtypes[d] == StorageDtype::kF16) fp16 = Check(DecodeSafetensors(bytes, key));
      if (Status st = tiers[d]->Put(key, std::make_shared<const Embedding>(fp32)); !st.ok())
        Fail(st.message());
    }
    for (size_t t = 0; t < fp32.tensors.size(); ++t) {
      const std::vector<float>& a = fp32.tensors[t].values;
      const std::vector<float>& b = fp16.tensors[t].values;
      for (size_t i = 0; i < a.size(); ++i) {
        const double diff = std::fabs(static_cast<double>(a[i]) - b[i]);
        max_abs_diff = std::max(max_abs_diff, diff);
        max_abs_value = std::max(max_abs_value, std::fabs(static_cast<double>(a[i])));
        if (a[i] != 0) max_rel_diff = std::max(max_rel_diff, diff / std::fabs(static_cast<double>(a[i])));
      }
    }

    for (const testing::SceneObject& object : scene.objects) {
      const std::array<float, 4> box{static_cast<float>(object.box[0]), static_cast<float>(object.box[1]),
                                     static_cast<float>(object.box[2]), static_cast<float>(object.box[3])};
      for (int variant = 0; variant < 3; ++variant) {
        DecoderPrompt prompt;
        prompt.original_height = height;
        prompt.original_width = width;
        if (variant != 1) prompt.points.push_back({object.click_x, object.click_y, 1});
        if (variant != 0) prompt.box = box;
        const Mask a = Segment(model, fp32, prompt);
        const Mask b = Segment(model, fp16, prompt);
        iou.push_back(testing::MaskIoU(a.pixels, b.pixels));
        truth32.push_back(testing::MaskIoU(a.pixels, object.mask));
        truth16.push_back(testing::MaskIoU(b.pixels, object.mask));
        other_choice += a.choice != b.choice;
        size_t changed = 0;
        for (size_t i = 0; i < a.pixels.size(); ++i) changed += a.pixels[i] != b.pixels[i];
        changed_pixels_max = std::max(changed_pixels_max, changed);
      }
    }
  }

  // Disk gets, page cache warm: one untimed round, then `gets` timed gets cycling over the keys.
  for (size_t d = 0; d < dtypes.size(); ++d) {
    for (const EmbeddingKey& key : keys) tiers[d]->Get(key);
    for (int g = 0; g < gets; ++g) {
      const Clock::time_point start = Clock::now();
      if (!tiers[d]->Get(keys[static_cast<size_t>(g) % keys.size()])) Fail("disk get missed");
      costs[d].get_ms.push_back(MsSince(start));
    }
  }

  const size_t masks = iou.size();
  const size_t equal = static_cast<size_t>(std::count(iou.begin(), iou.end(), 1.0));
  std::printf("%d scenes (640x480, 480x640, 800x600, 1024x768, 1920x1080; seeds 1..%d), %zu objects,\n",
              scene_count, scene_count, masks / 3);
  std::printf(
      "%zu masks: per object its click, its box, click + box; fp16 = EncodeSafetensors(F16) + decode\n\n",
      masks);
  std::printf("mask IoU, fp32- vs fp16-derived\n");
  std::printf("%-44s %12.6f\n", "  mean", Mean(iou));
  std::printf("%-44s %12.6f\n", "  min", Percentile(iou, 0));
  std::printf("%-44s %12.6f\n", "  p1", Percentile(iou, 1));
  std::printf("%-44s %12.6f\n", "  p5", Percentile(iou, 5));
  std::printf("%-44s %11.1f%% (%zu of %zu)\n", "  share with IoU == 1",
              100.0 * static_cast<double>(equal) / static_cast<double>(masks), equal, masks);
  std::printf("%-44s %12zu\n", "  most pixels differing in one mask", changed_pixels_max);
  std::printf("%-44s %12d\n", "  decoder chose another of its masks", other_choice);
  std::printf("%-44s %12.6f / %.6f\n", "mean IoU with the drawn object, fp32 / fp16", Mean(truth32),
              Mean(truth16));
  std::printf("%-44s %12.3g (largest |value| %.3g, max relative %.3g)\n", "embedding max abs difference",
              max_abs_diff, max_abs_value, max_rel_diff);
  std::printf("\n%-8s %14s %18s %18s %14s\n", "dtype", "file bytes", "encode ms (p50)", "disk get ms (p50)",
              "get ms (p99)");
  for (size_t d = 0; d < dtypes.size(); ++d) {
    std::printf("%-8s %14llu %18.2f %18.2f %14.2f\n", std::string(StorageDtypeName(dtypes[d])).c_str(),
                static_cast<unsigned long long>(costs[d].file_bytes), Percentile(costs[d].encode_ms, 50),
                Percentile(costs[d].get_ms, 50), Percentile(costs[d].get_ms, 99));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"samcache fp16 embedding storage benchmark"};
  std::vector<std::string> model_dirs;
  int scenes = 20;
  int gets = 200;
  cli.add_option("--model", model_dirs, "Also measure these model folders (encoder.onnx, decoder.onnx)")
      ->check(CLI::ExistingDirectory);
  cli.add_option("--scenes", scenes, "Generated scenes per model")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  cli.add_option("--gets", gets, "Timed disk gets per dtype")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  CLI11_PARSE(cli, argc, argv);

  try {
    std::printf("samcache fp16 storage benchmark (bench/fp16_bench)\n");
    Run(*Check(SamModel::OpenDemo({})), scenes, gets);
    for (const std::string& dir : model_dirs) Run(*Check(SamModel::OpenFolder(dir, {})), scenes, gets);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fp16_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
