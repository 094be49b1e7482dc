// encoder_floor_bench (issue 17): samcache's prewarm against the cost floor of the encoder.
//
// For each graph, side by side in one process, with the same intra-op threads:
// (a) bare ONNX Runtime: one session of the encoder, run in a loop on a ready input tensor
//     after two untimed warm-up runs (steady state), s/image;
// (b) samcache: an App with the same graph, prewarm jobs over datasets of N distinct
//     1920x1080 photo-like JPEGs (read, decode, preprocess, encode, store), nothing cached,
//     after one untimed warm-up job (a warm server), s/image;
// interleaved round by round (a, b, a, b, ...) so that other load on the machine hits both.
// Prints per-round figures, the medians and the ratio (a)/(b) (1 = prewarm at the floor).
//
// Graphs: the shared MobileSAM-arch pair and a ViT-B-shaped encoder generated at run time by
// tools/bench_models/make_vitb_encoder.py (paired with the MobileSAM-arch decoder).
//
//   encoder_floor_bench [--models mobilesam,vitb] [--images N] [--rounds R]
//                       [--intra-op-threads T] [--shared-models DIR] [--no-warm-up]
//                       [--variants before,after,spin-nice10,nospin-nice0]
#include <onnxruntime_cxx_api.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "app/app.h"
#include "bench_util.h"
#include "common/crypto.h"
#include "image/image_decoder.h"
#include "image/image_format.h"
#include "ingest/ingestor.h"
#include "jobs/prewarm_jobs.h"
#include "model/sam_model.h"
#include "photo_files.h"
#include "support/http_reply.h"
#include "support/near_dup_images.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using samcache::bench::MakePhotoJpegs;
using samcache::bench::MsSince;
using samcache::bench::Percentile;
using samcache::testing::NamedFile;
using samcache::testing::TempDir;

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

std::string LoadAverage() {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) != 3) return "?";
  char text[64];
  std::snprintf(text, sizeof text, "%.2f %.2f %.2f", load[0], load[1], load[2]);
  return text;
}

// (a): the encoder alone in its own session, as a user of ONNX Runtime would run it.
class BareEncoder {
 public:
  BareEncoder(const fs::path& encoder, int threads) : env_(ORT_LOGGING_LEVEL_WARNING, "floor") {
    Ort::SessionOptions options;
    options.SetIntraOpNumThreads(threads);
    options.SetInterOpNumThreads(1);
    options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    session_ = std::make_unique<Ort::Session>(env_, encoder.c_str(), options);
    input_ = session_->GetInputNameAllocated(0, allocator_).get();
    output_ = session_->GetOutputNameAllocated(0, allocator_).get();
    values_.assign(size_t{3} * 1024 * 1024, 0.5f);
    for (int i = 0; i < 2; ++i) Run();  // the first runs of a session are slow
  }

  double Run() {
    const Clock::time_point start = Clock::now();
    const std::array<int64_t, 4> shape{1, 3, 1024, 1024};
    const Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    Ort::Value tensor =
        Ort::Value::CreateTensor<float>(memory, values_.data(), values_.size(), shape.data(), shape.size());
    const char* in = input_.c_str();
    const char* out = output_.c_str();
    auto outputs = session_->Run(Ort::RunOptions{nullptr}, &in, &tensor, 1, &out, 1);
    return MsSince(start) / 1e3;
  }

 private:
  Ort::Env env_;
  Ort::AllocatorWithDefaultOptions allocator_;
  std::unique_ptr<Ort::Session> session_;
  std::string input_, output_;
  std::vector<float> values_;
};

// (b): prewarm jobs through the real App, one fresh dataset per job.
class Prewarmer {
 public:
  Prewarmer(const fs::path& model_dir, const fs::path& dir, int threads, bool warm_up, bool spinning,
            int nice) {
    samcache::AppOptions options;
    options.data_dir = dir / "data";
    options.cache_dir = dir / "cache";
    options.load_model = true;
    options.models = {model_dir};
    options.model.intra_op_threads = threads;
    options.model.warm_up = warm_up;
    options.model.encoder_spinning = spinning;
    options.pipeline_nice = nice;
    auto opened = samcache::App::Open(options);
    if (!opened.ok()) Fail("App::Open: " + opened.status().message());
    app_ = std::move(*opened);
  }

  const samcache::SamModel& model() { return *app_->model(); }

  void WaitUntilReady() {
    while (!app_->model()->EncoderReady()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // Seconds per image of one prewarm job over `files` (new pixels: nothing cached).
  double Run(const std::vector<NamedFile>& files) {
    samcache::UploadBatch batch(app_->ingestor(), app_->catalog(), "floor");
    for (const NamedFile& f : files) batch.Add(samcache::IncomingFile{f.filename, f.bytes, ""});
    batch.Finish();
    if (batch.stored().size() != files.size()) Fail("ingest stored fewer files than given");
    samcache::PrewarmJobs& jobs = *app_->prewarm();
    const Clock::time_point start = Clock::now();
    auto started = jobs.Start(batch.dataset_id());
    if (!started.ok()) Fail("prewarm: " + started.status().message());
    const std::string job_id = started->snapshot.job.id;
    for (int64_t seq = 0;;) {
      auto update = jobs.WaitForUpdate(job_id, seq, std::chrono::seconds(1));
      if (!update.ok()) Fail("prewarm: " + update.status().message());
      seq = update->snapshot.seq;
      const samcache::PrewarmJobRecord& job = update->snapshot.job;
      if (!samcache::IsFinishedPrewarmStatus(job.status)) continue;
      if (job.status != "completed" || job.computed != static_cast<int64_t>(files.size()))
        Fail("prewarm: status " + job.status + ", computed " + std::to_string(job.computed));
      break;
    }
    return MsSince(start) / 1e3 / static_cast<double>(files.size());
  }

 private:
  std::unique_ptr<samcache::App> app_;
};

double ThreadCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

// What the prepare stage costs per image in CPU time (immune to other load): it runs while the
// encoder runs, so on a busy machine it is taken from the encoder's cores. The full path
// (content hash check, decode, resize and layout) and, for JPEGs large enough, the reduced one
// (content hash check, DCT-scaled decode, resize and layout). The pixel hash is what the check
// cost before it hashed the bytes. OpenCV on the calling thread only, as in the server, so the
// thread's CPU time is all of it.
void PrintPrepareCost(const samcache::SamModel& model, const std::vector<NamedFile>& files,
                      const char* label) {
  samcache::KeepImageWorkOnCallingThreads();
  double decode = 0, content_hash = 0, pixel_hash = 0, prepare = 0, reduced_decode = 0, reduced_prepare = 0;
  for (const NamedFile& f : files) {
    double t = ThreadCpuMs();
    const std::string content = samcache::Sha256Hex(f.bytes);
    content_hash += ThreadCpuMs() - t;
    t = ThreadCpuMs();
    auto image = samcache::DecodeImage(f.bytes, samcache::SniffFormat(f.bytes));
    if (!image.ok()) Fail("decode: " + image.status().message());
    decode += ThreadCpuMs() - t;
    t = ThreadCpuMs();
    const std::string pixels = samcache::PixelHash(*image);
    pixel_hash += ThreadCpuMs() - t;
    t = ThreadCpuMs();
    samcache::PreparedImage input = model.Prepare(*image);
    prepare += ThreadCpuMs() - t;
    int denominator = 8;  // the smallest that gives the same model input
    const auto [in_h, in_w] =
        model.InputSize(static_cast<int>(image->height), static_cast<int>(image->width));
    while (denominator > 1 && (static_cast<int>(image->height) / denominator < in_h ||
                               static_cast<int>(image->width) / denominator < in_w)) {
      denominator /= 2;
    }
    if (denominator == 1) continue;
    t = ThreadCpuMs();
    auto small = samcache::DecodeJpegReduced(f.bytes, denominator);
    if (!small.ok()) Fail("reduced decode: " + small.status().message());
    reduced_decode += ThreadCpuMs() - t;
    t = ThreadCpuMs();
    input = model.Prepare(*small);
    reduced_prepare += ThreadCpuMs() - t;
  }
  const double n = static_cast<double>(files.size());
  std::printf(
      "  prepare stage at %s, CPU ms per image: content hash %.1f, decode %.1f, resize + layout %.1f: %.1f"
      " (a pixel hash check instead: %.1f)\n",
      label, content_hash / n, decode / n, prepare / n, (content_hash + decode + prepare) / n,
      pixel_hash / n);
  if (reduced_decode > 0) {
    std::printf("  ... reduced JPEG decode: content hash %.1f, decode %.1f, resize + layout %.1f: %.1f\n",
                content_hash / n, reduced_decode / n, reduced_prepare / n,
                (content_hash + reduced_decode + reduced_prepare) / n);
  }
}

struct Graph {
  std::string label;
  fs::path dir;  // encoder.onnx + decoder.onnx
};

// A samcache configuration under test.
struct Variant {
  std::string label;
  bool spinning = true;
  int nice = 0;  // of the prepare and store threads
  bool warm_up = true;
};

void Measure(const Graph& graph, const fs::path& work, int images, int rounds, int threads,
             const std::vector<Variant>& variants, int& seed) {
  std::printf("\n%s (%s), %d intra-op threads, %d images per job, load average %s\n", graph.label.c_str(),
              graph.dir.filename().c_str(), threads, images, LoadAverage().c_str());
  std::vector<std::unique_ptr<Prewarmer>> prewarmers;
  for (size_t v = 0; v < variants.size(); ++v) {
    const Clock::time_point load = Clock::now();
    prewarmers.push_back(std::make_unique<Prewarmer>(graph.dir, work / ("v" + std::to_string(v)), threads,
                                                     variants[v].warm_up, variants[v].spinning,
                                                     variants[v].nice));
    const double open_s = MsSince(load) / 1e3;
    prewarmers.back()->WaitUntilReady();  // a server started a while before its first job
    // The first job after the load: what the first images after a start pay.
    const double first = prewarmers.back()->Run(MakePhotoJpegs(images, 1920, 1080, seed));
    seed += images;
    std::printf("  %-24s model load %.2f s, ready after %.2f s; first job %.3f s/image\n",
                variants[v].label.c_str(), open_s, MsSince(load) / 1e3 - first * images, first);
  }
  PrintPrepareCost(prewarmers.front()->model(), MakePhotoJpegs(images, 1920, 1080, seed), "1920x1080");
  PrintPrepareCost(prewarmers.front()->model(), MakePhotoJpegs(2, 4000, 3000, seed), "4000x3000");
  BareEncoder bare(graph.dir / "encoder.onnx", threads);

  // Interleaved: bare, then every variant, round after round.
  std::vector<double> a_runs;
  std::vector<std::vector<double>> b_runs(variants.size());
  std::printf("  %5s %10s", "round", "bare s/img");
  for (const Variant& v : variants) std::printf(" %24s %6s", (v.label + " s/img").c_str(), "ratio");
  std::printf("   load average\n");
  for (int r = 0; r < rounds; ++r) {
    double a = 0;
    for (int i = 0; i < images; ++i) a += bare.Run();
    a /= images;
    a_runs.push_back(a);
    std::printf("  %5d %10.3f", r + 1, a);
    for (size_t v = 0; v < variants.size(); ++v) {
      const double b = prewarmers[v]->Run(MakePhotoJpegs(images, 1920, 1080, seed));
      seed += images;
      b_runs[v].push_back(b);
      std::printf(" %24.3f %6.3f", b, a / b);
    }
    std::printf("   %s\n", LoadAverage().c_str());
  }
  const double a = Percentile(a_runs, 50);
  for (size_t v = 0; v < variants.size(); ++v) {
    const double b = Percentile(b_runs[v], 50);
    std::printf(
        "  SUMMARY %-15s %-22s bare ORT %.3f s/image, samcache prewarm %.3f s/image, ratio %.3f (load %s)\n",
        graph.label.c_str(), variants[v].label.c_str(), a, b, a / b, LoadAverage().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"samcache prewarm against bare ONNX Runtime on real-architecture graphs"};
  std::string models = "mobilesam,vitb";
  int images = 6, rounds = 3, threads = 2;
  bool no_warm_up = false;
  std::string variant_names = "before,after";
  std::string shared = SAMCACHE_SHARED_MODELS_DIR;
  cli.add_option("--models", models, "mobilesam, vitb or both (comma-separated)");
  cli.add_option("--images", images, "images per prewarm job (and bare runs per round)")
      ->check(CLI::Range(1, 1000));
  cli.add_option("--rounds", rounds, "interleaved rounds")->check(CLI::Range(1, 100));
  cli.add_option("--intra-op-threads", threads, "ONNX Runtime intra-op threads on both sides");
  cli.add_option("--shared-models", shared, "the folder with mobilesam-arch/");
  cli.add_flag("--no-warm-up", no_warm_up, "do not warm the encoder at model load");
  bool verbose = false;
  cli.add_flag("--verbose", verbose, "log every encoder run with its stages' times ([ENCODE] lines)");
  cli.add_option("--variants", variant_names,
                 "samcache configurations side by side, comma-separated: before (intra-op threads "
                 "spinning, pipeline threads at nice 0), after (the defaults: no spinning, nice 10), "
                 "spin-nice10, nospin-nice0");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::warn);  // info: every encoder run
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // rows as they come, also into a file

  try {
    TempDir dir;
    const fs::path mobilesam = fs::path(shared) / "mobilesam-arch";
    std::vector<Graph> graphs;
    if (models.find("mobilesam") != std::string::npos) graphs.push_back({"MobileSAM-arch", mobilesam});
    if (models.find("vitb") != std::string::npos) {
      const fs::path vitb = dir / "vitb-arch";
      fs::create_directories(vitb);
      fs::copy_file(mobilesam / "decoder.onnx", vitb / "decoder.onnx");
      const std::string command = "/usr/bin/python3 '" SAMCACHE_SOURCE_DIR
                                  "/tools/bench_models/make_vitb_encoder.py' '" +
                                  (vitb / "encoder.onnx").string() + "' >/dev/null";
      const Clock::time_point start = Clock::now();
      if (std::system(command.c_str()) != 0) Fail("generating the ViT-B encoder failed: " + command);
      std::printf("ViT-B-arch encoder generated in %.1f s (%.0f MB)\n", MsSince(start) / 1e3,
                  static_cast<double>(fs::file_size(vitb / "encoder.onnx")) / 1e6);
      graphs.push_back({"ViT-B-arch", vitb});
    }
    // "before": samcache before issue 17 (no warm-up at load either).
    const std::vector<Variant> known{{"before", true, 0, false},
                                     {"after", false, 10, !no_warm_up},
                                     {"spin-nice10", true, 10, !no_warm_up},
                                     {"nospin-nice0", false, 0, !no_warm_up},
                                     {"nospin-nice19", false, 19, !no_warm_up},
                                     {"spin-nice19", true, 19, !no_warm_up}};
    std::vector<Variant> variants;
    for (const Variant& v : known) {
      if (("," + variant_names + ",").find("," + v.label + ",") != std::string::npos) variants.push_back(v);
    }
    if (variants.empty()) Fail("--variants names none of before, after, spin-nice10, nospin-nice0");
    int seed = 9000;
    for (size_t i = 0; i < graphs.size(); ++i) {
      Measure(graphs[i], dir / ("run-" + std::to_string(i)), images, rounds, threads, variants, seed);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "encoder_floor_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
