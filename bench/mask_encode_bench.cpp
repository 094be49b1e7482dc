// mask_encode_bench (issue 17, goals 2 and 3): what a click's postprocess costs beside the
// decoder. EncodeForModel (the low-res logits to the COCO RLE, box and area a click returns)
// at 0.3, 2 and 12 MP, on the logits of a real decoder (--model: a SAM folder; its random
// weights give speckled masks, near the worst case for the RLE) and on a smooth blob: wall p50,
// CPU ms per call of the whole process (the encoder may use a second thread), and CPU ms per
// call with two callers at once, as under four clients on two cores, with and without that
// second thread (EncodeThreads::kOne, what the server does for a click beside others). Each
// case runs with every version of the inner loops this CPU has (AVX-512, AVX2, portable), side
// by side.
//
//   mask_encode_bench [--model DIR] [--runs N] [--kernels avx512|avx2|portable]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "model/mask_codec.h"
#include "model/mask_kernels.h"
#include "model/sam_model.h"
#include "model/segmenter.h"

namespace {

using Clock = std::chrono::steady_clock;
using samcache::bench::MsSince;
using samcache::bench::Percentile;

double ProcessCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

struct Logits {
  std::string label;
  samcache::ModelInfo info;
  std::vector<float> values;  // low x low
  int low = 256;
};

// A disc of positive logits, -8 .. +8, as a trained model gives for one object.
Logits SmoothBlob(const samcache::ModelInfo& info) {
  Logits out{"smooth blob", info, std::vector<float>(256 * 256), 256};
  for (int y = 0; y < 256; ++y) {
    for (int x = 0; x < 256; ++x) {
      const double r = std::hypot(x - 110.0, y - 90.0);
      out.values[static_cast<size_t>(y) * 256 + x] =
          static_cast<float>(std::clamp((60.0 - r) / 4.0, -8.0, 8.0));
    }
  }
  return out;
}

void Measure(const Logits& logits, int height, int width, int runs, const char* kernels) {
  auto encode = [&](samcache::EncodeThreads threads = samcache::EncodeThreads::kTwoForLargeBoxes) {
    return samcache::EncodeForModel(logits.info, logits.values.data(), logits.low, logits.low, height, width,
                                    threads);
  };
  const samcache::EncodedMask first = encode();
  std::vector<double> wall;
  const double cpu0 = ProcessCpuMs();
  for (int i = 0; i < runs; ++i) {
    const Clock::time_point start = Clock::now();
    encode();
    wall.push_back(MsSince(start));
  }
  const double cpu_one = (ProcessCpuMs() - cpu0) / runs;
  const double cpu1 = ProcessCpuMs();
  std::vector<std::thread> callers;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < runs; ++i) encode();
    });
  }
  for (std::thread& t : callers) t.join();
  const double cpu_two = (ProcessCpuMs() - cpu1) / (2.0 * runs);
  // The same two callers, each on one thread (as the server encodes a click beside others).
  const double cpu2 = ProcessCpuMs();
  callers.clear();
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < runs; ++i) encode(samcache::EncodeThreads::kOne);
    });
  }
  for (std::thread& t : callers) t.join();
  const double cpu_two_single = (ProcessCpuMs() - cpu2) / (2.0 * runs);
  std::printf("%-26s %5dx%-5d %-8s %9.2f %9.2f %9.2f %9.2f %10zu %7.1f\n", logits.label.c_str(), width,
              height, kernels, Percentile(wall, 50), cpu_one, cpu_two, cpu_two_single,
              first.rle.counts.size(),
              static_cast<double>(first.area) * 100.0 / (static_cast<double>(height) * width));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"mask_encode_bench: a click's logits to RLE, box and area"};
  std::string model_dir;
  int runs = 40;
  cli.add_option("--model", model_dir, "A SAM model folder whose decoder gives the logits");
  cli.add_option("--runs", runs, "Calls per case")->capture_default_str();
  std::string only_kernels;
  cli.add_option("--kernels", only_kernels, "Only this version of the inner loops (avx512, avx2, portable)");
  CLI11_PARSE(cli, argc, argv);
  try {
    using namespace samcache;
    samcache::ModelOptions options;
    auto model = model_dir.empty() ? SamModel::OpenDemo(options) : SamModel::OpenFolder(model_dir, options);
    if (!model.ok()) throw std::runtime_error(model.status().message());
    const ModelInfo& info = (*model)->info();
    std::vector<Logits> cases{SmoothBlob(info)};
    if (!model_dir.empty()) {
      // The decoder's own logits for a click on a random SAM-shaped embedding, per image size.
      const auto embedding = bench::SamEmbedding(info.id, 7);
      DecoderPrompt prompt;
      prompt.original_height = 3000;
      prompt.original_width = 4000;
      prompt.points = {{1800, 1300, 1}};
      Result<DecoderResult> r = (*model)->Decode(*embedding, prompt);
      if (!r.ok()) throw std::runtime_error(r.status().message());
      const size_t plane = static_cast<size_t>(r->low_res_height) * r->low_res_width;
      const int index = ChooseMasks(r->scores, false).front();
      Logits real{"decoder (" + info.name + ")", info, {}, r->low_res_height};
      real.values.assign(r->low_res_logits.begin() + static_cast<long>(plane * index),
                         r->low_res_logits.begin() + static_cast<long>(plane * (index + 1)));
      cases.push_back(std::move(real));
    }
    std::printf(
        "%-26s %11s %-8s %9s %9s %9s %9s %10s %7s\n(%d calls each; cpu: process CPU ms per call, with one "
        "caller, with two at once, and with two at once each on one thread)\n",
        "logits", "image", "kernels", "p50 ms", "cpu 1", "cpu 2", "cpu 2x1", "RLE bytes", "area %", runs);
    const int sizes[][2] = {{480, 640}, {1080, 1920}, {3000, 4000}};
    using mask_internal::MaskKernels;
    const std::pair<MaskKernels, const char*> versions[] = {
        {MaskKernels::kAvx512, "avx512"}, {MaskKernels::kAvx2, "avx2"}, {MaskKernels::kPortable, "portable"}};
    for (const Logits& logits : cases) {
      for (const auto& size : sizes) {
        for (const auto& [version, name] : versions) {
          if (version > mask_internal::BestMaskKernels()) continue;
          if (!only_kernels.empty() && only_kernels != name) continue;
          mask_internal::CapMaskKernels(version);
          Measure(logits, size[0], size[1], runs, name);
        }
      }
    }
    mask_internal::CapMaskKernels(MaskKernels::kAvx512);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mask_encode_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
