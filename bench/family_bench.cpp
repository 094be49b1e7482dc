// family_bench: encoder and click cost per model family (issue 16), through SamModel.
//
// For each model folder it prints the family, the embedding's size, the encoder's steady
// cost (seconds per run, mean of --runs after 2 warm-up runs: a new ONNX Runtime session's
// first runs are 2-3x slower) and a click's cost on a 1920x1080 generated image: the decoder
// run (p50 of --clicks) and the upsampling of the chosen mask to 1920x1080 (p50). A folder
// with a decoder.onnx but no encoder.onnx (the shared SAM 2.1 decoder) is paired with the small
// SAM 2 encoder of tests/fixtures/models/families/sam2: its click cost is real, its encoder
// cost is not reported.
//
//   family_bench [--runs 3] [--clicks 20] [--threads 0] [DIR...]
// Default folders: the shared mobilesam-arch, efficientsam-arch and sam2.1-tiny-arch-decoder,
// the built-in demo, and every models/demo-*/ of the checkout.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.h"
#include "model/sam_model.h"
#include "model/segmenter.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace {

using namespace samcache;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using samcache::bench::Mean;
using samcache::bench::MsSince;
using samcache::bench::Percentile;

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

template <typename T>
T Check(Result<T> result) {
  if (!result.ok()) Fail(result.status().message());
  return std::move(result).value();
}

std::vector<fs::path> DefaultFolders() {
  const fs::path source = SAMCACHE_SOURCE_DIR;
  std::vector<fs::path> folders;
  for (const char* name : {"mobilesam-arch", "efficientsam-arch", "sam2.1-tiny-arch-decoder"}) {
    const fs::path dir = fs::path(SAMCACHE_SHARED_MODELS_DIR) / name;
    if (fs::exists(dir)) folders.push_back(dir);
  }
  folders.push_back("builtin");
  std::vector<fs::path> demos;
  for (const auto& entry : fs::directory_iterator(source / "models")) {
    if (entry.path().filename().string().rfind("demo-", 0) == 0) demos.push_back(entry.path());
  }
  std::sort(demos.begin(), demos.end());
  folders.insert(folders.end(), demos.begin(), demos.end());
  return folders;
}

void Run(const fs::path& folder, int runs, int clicks, int threads, const testing::Scene& scene) {
  const ModelOptions options{threads};
  testing::TempDir paired;
  bool encoder_is_placeholder = false;
  std::unique_ptr<SamModel> model;
  if (folder == "builtin") {
    model = Check(SamModel::OpenDemo(options));
  } else if (!fs::exists(folder / "encoder.onnx")) {
    fs::create_symlink(fs::path(SAMCACHE_SOURCE_DIR) / "tests/fixtures/models/families/sam2/encoder.onnx",
                       paired / "encoder.onnx");
    fs::create_symlink(fs::absolute(folder / "decoder.onnx"), paired / "decoder.onnx");
    model = Check(SamModel::OpenFolder(paired.path(), options));
    encoder_is_placeholder = true;
  } else {
    model = Check(SamModel::OpenFolder(folder, options));
  }
  const ModelInfo& info = model->info();

  Clock::time_point start = Clock::now();
  PreparedImage prepared = model->Prepare(scene.image);
  const double prepare_ms = MsSince(start);
  Embedding embedding;
  std::vector<double> encode_s;
  for (int i = 0; i < 2 + runs; ++i) {
    start = Clock::now();
    embedding = Check(model->Encode(prepared));
    if (i >= 2) encode_s.push_back(MsSince(start) / 1000.0);
  }

  const int w = static_cast<int>(scene.image.width);
  const int h = static_cast<int>(scene.image.height);
  std::vector<double> decode_ms;
  std::vector<double> upsample_ms;
  for (int i = 0; i < clicks + 2; ++i) {
    DecoderPrompt prompt;
    prompt.original_width = w;
    prompt.original_height = h;
    const testing::SceneObject& object = scene.objects[static_cast<size_t>(i) % scene.objects.size()];
    prompt.points = {{object.click_x, object.click_y, 1}};
    start = Clock::now();
    DecoderResult decoded = Check(model->Decode(embedding, prompt));
    const double decode = MsSince(start);
    start = Clock::now();
    const int index = ChooseMasks(decoded.scores, false, info.mask_ranking).front();
    const size_t plane = static_cast<size_t>(decoded.low_res_height) * decoded.low_res_width;
    BinaryMask mask =
        UpsampleForModel(info, decoded.low_res_logits.data() + plane * static_cast<size_t>(index),
                         decoded.low_res_height, decoded.low_res_width, h, w);
    const double upsample = MsSince(start);
    if (mask.data.size() != static_cast<size_t>(w) * h) Fail("mask size");
    if (i >= 2) {  // the first clicks warm the decoder session
      decode_ms.push_back(decode);
      upsample_ms.push_back(upsample);
    }
  }
  char encoder[32];
  if (encoder_is_placeholder) {
    std::snprintf(encoder, sizeof(encoder), "%s", "(no encoder)");
  } else {
    std::snprintf(encoder, sizeof(encoder), "%.3f", Mean(encode_s));
  }
  std::printf("%-28s %-15s %8.1f %12.1f %12s %12.1f %12.1f\n",
              folder.filename().string().substr(0, 28).c_str(), std::string(FamilyName(info.family)).c_str(),
              static_cast<double>(info.embedding_bytes) / (1 << 20), prepare_ms, encoder,
              Percentile(decode_ms, 50), Percentile(upsample_ms, 50));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"family_bench: encoder and click cost per model family"};
  int runs = 3;
  int clicks = 20;
  int threads = 0;
  std::vector<std::string> folders;
  app.add_option("--runs", runs, "encoder runs timed after 2 warm-up runs");
  app.add_option("--clicks", clicks, "clicks timed (p50)");
  app.add_option("--threads", threads, "intra-op threads (0: the number of cores)");
  app.add_option("folders", folders, "model folders (\"builtin\": the embedded demo)");
  CLI11_PARSE(app, argc, argv);
  std::vector<fs::path> dirs(folders.begin(), folders.end());
  if (dirs.empty()) dirs = DefaultFolders();
  const testing::Scene scene = testing::MakeShapesScene(1920, 1080);
  std::printf("1920x1080 image; encoder: mean of %d runs after 2 warm-up runs; click: p50 of %d\n", runs,
              clicks);
  std::printf("%-28s %-15s %8s %12s %12s %12s %12s\n", "model", "family", "emb MiB", "prepare ms",
              "encoder s", "decode ms", "upsample ms");
  try {
    for (const fs::path& dir : dirs) Run(dir, runs, clicks, threads, scene);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "family_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
