// worker_bench: prewarm throughput with one and two `samcache worker` processes (issue 7).
//
// For each model (the built-in demo model, and a slow encoder generated at run time by
// tools/demo_model/make_slow_encoder.py, as bench/prewarm_bench does, so that the encoder
// dominates) and each configuration of workers: a fresh data folder (cold cache), the real
// `samcache serve --prewarm-jobs 0` on loopback, the same N generated JPEGs uploaded as D
// datasets (a job is run by one runner, so D jobs are what several runners can share), the
// workers started on the same data folder, then all D jobs POSTed at once and timed until
// every one is completed (polling serve's snapshots). Every run is checked: all jobs
// completed, N images computed in total, and the workers' encoder runs (from their /metrics)
// add up to N.
//
//   worker_bench [--images 24] [--datasets 4] [--width 1600] [--height 1200] [--slow-layers 10]
//                [--binary build/samcache] [--keep-dir DIR]
#include <unistd.h>

#include <httplib.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/http_reply.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using samcache::testing::NamedFile;
using samcache::testing::Reply;
using samcache::testing::ServerProcess;

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "worker_bench: %s\n", message.c_str());
  std::exit(1);
}

std::string QuoteForShell(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The slow encoder of bench/prewarm_bench: the demo model with `layers` 3x3 convolutions of
// 256 channels on the 64x64 feature map (about 4.8 GFLOP each).
fs::path MakeSlowEncoder(const fs::path& out, int layers) {
  const fs::path script = fs::path(SAMCACHE_SOURCE_DIR) / "tools" / "demo_model" / "make_slow_encoder.py";
  if (std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") != 0) {
    Fail(
        "the slow encoder is generated with /usr/bin/python3 and Debian's python3-onnx, which are missing: "
        "install python3-onnx (SAMCACHE_BENCH=1 scripts/setup.sh does), or pass --slow-layers 0 to skip it");
  }
  const fs::path log = out.string() + ".log";
  const std::string command = "/usr/bin/python3 " + QuoteForShell(script.string()) + " " +
                              QuoteForShell(out.string()) + " --layers " + std::to_string(layers) + " >" +
                              QuoteForShell(log.string()) + " 2>&1";
  if (std::system(command.c_str()) != 0) {
    Fail("generating the slow encoder failed: " + command + "\n" + samcache::testing::ReadFileOrDie(log));
  }
  return out;
}

struct Model {
  std::string name;
  fs::path dir;  // empty: the built-in demo model
};

struct Config {
  int workers = 1;
  int jobs_per_worker = 2;   // --prewarm-jobs
  int intra_op_threads = 0;  // 0: one per core
};

struct Outcome {
  double seconds = 0;
  std::vector<double> runs;  // encoder runs per worker
};

std::vector<std::string> ModelArgs(const Model& m) {
  return m.dir.empty() ? std::vector<std::string>{} : std::vector<std::string>{"--model", m.dir.string()};
}

double EncoderRuns(const ServerProcess& process) {
  httplib::Client c("127.0.0.1", process.port());
  auto res = c.Get("/metrics");
  if (!res || res->status != 200) Fail("no /metrics from a worker");
  return samcache::testing::Metric(res->body, "samcache_encoder_runs_total");
}

Outcome Measure(const Model& model, const Config& config, const std::vector<std::vector<NamedFile>>& datasets,
                const fs::path& dir, const std::string& binary) {
  const fs::path data = dir / "data";
  std::vector<std::string> serve_args = ModelArgs(model);
  serve_args.insert(serve_args.end(), {"--prewarm-jobs", "0"});
  ServerProcess serve(data, serve_args, binary);
  httplib::Client client("127.0.0.1", serve.port());
  client.set_read_timeout(600, 0);
  std::vector<std::string> dataset_ids;
  size_t images = 0;
  for (const std::vector<NamedFile>& files : datasets) {
    Reply reply = samcache::testing::ToReply(
        client.Post("/api/sam/dataset/init", samcache::testing::ImageItems(files)));
    if (reply.status != 200 || reply.body["images"].size() != files.size())
      Fail("upload failed: " + reply.raw);
    dataset_ids.push_back(reply.body["dataset_id"]);
    images += files.size();
  }

  std::vector<std::string> worker_args = ModelArgs(model);
  worker_args.insert(worker_args.end(),
                     {"--prewarm-jobs", std::to_string(config.jobs_per_worker), "--intra-op-threads",
                      std::to_string(config.intra_op_threads), "--prewarm-poll-ms", "20"});
  std::vector<std::unique_ptr<ServerProcess>> workers;
  for (int w = 0; w < config.workers; ++w) {
    workers.push_back(std::make_unique<ServerProcess>(data, worker_args, binary, "worker"));
  }

  const Clock::time_point start = Clock::now();
  std::vector<std::string> job_ids;
  for (const std::string& id : dataset_ids) {
    Reply started = samcache::testing::StartPrewarm(client, id);
    if (started.status != 202) Fail("prewarm did not start: " + started.raw);
    job_ids.push_back(started.body["job_id"]);
  }
  int64_t computed = 0;
  for (const std::string& id : job_ids) {
    Reply done = samcache::testing::WaitForPrewarm(client, id, std::chrono::seconds(3600));
    if (done.body.value("status", "") != "completed" || done.body["failed"] != 0)
      Fail("job not completed: " + done.raw);
    computed += done.body["computed"].get<int64_t>();
  }
  Outcome outcome;
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  double runs = 0;
  for (const auto& w : workers) {
    outcome.runs.push_back(EncoderRuns(*w));
    runs += outcome.runs.back();
  }
  if (computed != static_cast<int64_t>(images) || runs != static_cast<double>(images)) {
    Fail("expected " + std::to_string(images) + " images computed once each, got computed " +
         std::to_string(computed) + " and " + std::to_string(runs) + " encoder runs");
  }
  for (auto& w : workers) {
    if (w->Stop() != 0) Fail("a worker did not stop cleanly:\n" + w->Log());
  }
  serve.Stop();
  return outcome;
}

}  // namespace

int main(int argc, char** argv) {
  int images = 24;
  int datasets = 4;
  int width = 1600;
  int height = 1200;
  int slow_layers = 10;
  std::string binary = SAMCACHE_BINARY;
  std::string keep_dir;
  CLI::App cli{"Prewarm throughput with 1 and 2 samcache worker processes"};
  cli.add_option("--images", images, "Images in total, the same for every row")->capture_default_str();
  cli.add_option("--datasets", datasets, "Datasets (prewarm jobs) the images are split into")
      ->capture_default_str();
  cli.add_option("--width", width, "Image width")->capture_default_str();
  cli.add_option("--height", height, "Image height")->capture_default_str();
  cli.add_option("--slow-layers", slow_layers, "Layers of the generated slow encoder (0: demo model only)")
      ->capture_default_str();
  cli.add_option("--binary", binary, "The samcache binary to start")->capture_default_str();
  cli.add_option("--keep-dir", keep_dir, "Keep the data folders and logs here instead of a temp folder");
  CLI11_PARSE(cli, argc, argv);
  if (images < 1 || datasets < 1 || datasets > images) Fail("need 1 <= --datasets <= --images");

  samcache::testing::TempDir tmp;
  const fs::path root = keep_dir.empty() ? tmp.path() : fs::path(keep_dir);
  fs::create_directories(root);

  std::vector<std::vector<NamedFile>> split(static_cast<size_t>(datasets));
  for (int i = 0; i < images; ++i) {
    split[static_cast<size_t>(i % datasets)].push_back(
        {"img" + std::to_string(i) + ".jpg",
         samcache::testing::MakeImageFile(width, height, 9000 + i, ".jpg")});
  }
  std::vector<Model> models{{"demo model", {}}};
  if (slow_layers > 0) {
    const Clock::time_point start = Clock::now();
    models.push_back({"slow encoder, " + std::to_string(slow_layers) + " layers",
                      MakeSlowEncoder(root / ("slow-model-" + std::to_string(slow_layers)), slow_layers)});
    std::printf("slow encoder generated in %.1f s (tools/demo_model/make_slow_encoder.py --layers %d)\n",
                std::chrono::duration<double>(Clock::now() - start).count(), slow_layers);
  }
  const std::vector<Config> configs{{1, 2, 0}, {2, 2, 0}, {1, 2, 1}, {2, 2, 1}};

  std::printf("samcache prewarm workers benchmark (bench/worker_bench)\n");
  std::printf(
      "images      %d JPEG %dx%d in %d datasets (jobs), the same for every row; cold cache each row\n",
      images, width, height, datasets);
  std::printf(
      "setup       serve --prewarm-jobs 0 + W `samcache worker` processes on one data folder (SQLite), "
      "--prewarm-poll-ms 20\n");
  std::printf("machine     %u hardware threads\n\n", std::thread::hardware_concurrency());
  std::printf("%-26s %8s %11s %10s %9s %9s %9s  %s\n", "model", "workers", "jobs each", "intra-op", "seconds",
              "images/s", "speed-up", "encoder runs per worker");
  std::printf("%s\n", std::string(108, '-').c_str());
  int row = 0;
  for (const Model& model : models) {
    double baseline = 0;
    for (const Config& config : configs) {
      const fs::path dir = root / ("run-" + std::to_string(++row));
      const Outcome o = Measure(model, config, split, dir, binary);
      const double rate = images / o.seconds;
      if (config.workers == 1) baseline = rate;
      std::string runs;
      for (double r : o.runs) runs += (runs.empty() ? "" : " + ") + std::to_string(static_cast<int>(r));
      std::printf("%-26s %8d %11d %10s %9.2f %9.2f %8.2fx  %s\n", model.name.c_str(), config.workers,
                  config.jobs_per_worker,
                  config.intra_op_threads == 0 ? "per core" : std::to_string(config.intra_op_threads).c_str(),
                  o.seconds, rate, rate / baseline, runs.c_str());
      std::fflush(stdout);
    }
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3)
    std::printf("\nload average at the end: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  return 0;
}
