// predict_bench: inference costs (issue 3).
//
// Part 1, in-process: the encoder pipeline for one image split into its steps (JPEG decode,
// preprocess, encoder run) and one click after it (decoder run, our mask upsample + RLE),
// for a small and a 4000x3000 image, for the built-in demo model and for every model folder
// given with --model. It also times the graph's own full-size upsample (what the official
// decoder does when orig_im_size is the original size), which samcache avoids.
//
// Part 2, over HTTP: the real `samcache serve` on loopback; the images (0.3, 2 and 12 MP)
// uploaded and their embeddings computed once, then C concurrent clients (C = 1, 4, 16) each
// send R predicts (a click inside a shape) on the cached embedding; latency p50/p99,
// throughput, and where a click's time goes: the server's own decode / postprocess / total
// (timings_ms, p50) and the rest (HTTP, JSON, transport) as client p50 minus server total p50.
//
// Before and after in one run: each --decoder-sessions value (default 1, the single shared
// session of before, and 0, one one-thread session per core) and each --compare-binary (e.g. a
// build from before a change, served without that flag) serves the model, and their rows
// alternate, so all see the same machine. "/target" is clicks/s over 0.9 x cores / the
// decoder's single-run core-time (in-process, one-thread session, the graph as the model folder
// has it), measured again right before and right after each group of rows (their mean), as the
// machine's speed drifts over the minutes a run takes. samcache's clicks run that graph trimmed to the
// outputs they read;
// "/trimmed" is the same ratio against the trimmed graph's core-time. The in-process "decoder
// alone" table shows the same configurations without HTTP; "core ms" is CPU time of the
// whole process per run (ONNX Runtime's spinning threads included).
//
//   predict_bench [--model DIR]... [--no-demo] [--requests R] [--runs N] [--binary PATH]
//                 [--compare-binary PATH]... [--decoder-sessions N...] [--variant FLAGS]...
#include <httplib.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "image/image_decoder.h"
#include "image/image_format.h"
#include "model/mask_codec.h"
#include "model/preprocess.h"
#include "model/sam_model.h"
#include "model/segmenter.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using samcache::testing::Scene;

using samcache::bench::MsSince;
using samcache::bench::Percentile;

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

double Median(std::vector<double> values) { return Percentile(std::move(values), 50); }

uint64_t PixelsOf(const samcache::BinaryMask& mask) {
  return static_cast<uint64_t>(mask.height) * mask.width;
}

std::string LoadAverage() {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 1) return "?";
  char text[64];
  std::snprintf(text, sizeof text, "%.2f %.2f %.2f", load[0], load[1], load[2]);
  return text;
}

// CPU time of the whole process (every thread), in ms.
double ProcessCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

struct BenchImage {
  std::string label;
  Scene scene;
  std::string jpeg;
};

// Median milliseconds of `runs` calls of `step`.
template <typename Step>
double TimeMedian(int runs, Step step) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const Clock::time_point start = Clock::now();
    step();
    times.push_back(MsSince(start));
  }
  return Median(times);
}

void PipelineTable(const samcache::SamModel& model, const std::vector<BenchImage>& images, int runs) {
  using namespace samcache;
  const ModelInfo& info = model.info();
  std::printf("\nmodel %s (id %s, %s, %d intra-op threads)%s\n", info.name.c_str(), info.id.c_str(),
              info.source.c_str(), info.intra_op_threads, info.demo ? " [demo]" : "");
  std::printf("%-22s %10s %11s %10s %10s | %10s %9s %9s %7s %9s %9s %9s %14s\n", "image", "decode ms",
              "preprocess", "encoder", "sum", "decoder", "core ms", "upsample", "RLE", "bbox+area",
              "box-only", "RLE KB", "graph upsample");

  for (const BenchImage& image : images) {
    Result<ImageHeader> header = ReadImageHeader(image.jpeg);
    if (!header.ok()) Fail(header.status().message());
    DecodedImage decoded;
    const double decode_ms = TimeMedian(runs, [&] {
      Result<DecodedImage> d = DecodeImage(image.jpeg, header->format);
      if (!d.ok()) Fail(d.status().message());
      decoded = std::move(*d);
    });
    PreparedImage prepared;
    const double preprocess_ms = TimeMedian(runs, [&] { prepared = model.Prepare(decoded); });
    Embedding embedding;
    const double encoder_ms = TimeMedian(runs, [&] {
      Result<Embedding> e = model.Encode(prepared);
      if (!e.ok()) Fail(e.status().message());
      embedding = std::move(*e);
    });
    DecoderPrompt prompt;
    prompt.original_height = static_cast<int>(decoded.height);
    prompt.original_width = static_cast<int>(decoded.width);
    const auto& circle = image.scene.Object("circle");
    prompt.points = {{circle.click_x, circle.click_y, 1}};
    DecoderResult result;
    const double cpu_before = ProcessCpuMs();
    const double decoder_ms = TimeMedian(runs, [&] {
      Result<DecoderResult> r = model.Decode(embedding, prompt);
      if (!r.ok()) Fail(r.status().message());
      result = std::move(*r);
    });
    const double core_ms = (ProcessCpuMs() - cpu_before) / runs;
    const ResizedSize input = LongestSideSize(prompt.original_height, prompt.original_width, info.input_side);
    const int index = ChooseMasks(result.scores, false).front();
    const size_t plane = static_cast<size_t>(result.low_res_height) * result.low_res_width;
    BinaryMask mask;
    const double upsample_ms = TimeMedian(runs, [&] {
      mask = UpsampleLowResLogits(result.low_res_logits.data() + plane * index, result.low_res_height,
                                  result.low_res_width, input.height, input.width, prompt.original_height,
                                  prompt.original_width, info.input_side);
    });
    const double rle_ms = TimeMedian(runs, [&] {
      Rle rle = EncodeRle(mask);
      if (rle.counts.empty()) Fail("empty RLE");
    });
    const double box_ms = TimeMedian(runs, [&] {
      if (MaskBbox(mask)[2] < 0 || MaskArea(mask) > PixelsOf(mask)) Fail("bad box");
    });
    // The server's RLE-only path: straight from the logits, only the reachable box upsampled.
    EncodedMask fast;
    const double fast_ms = TimeMedian(runs, [&] {
      fast = EncodeForModel(info, result.low_res_logits.data() + plane * index, result.low_res_height,
                            result.low_res_width, prompt.original_height, prompt.original_width);
    });
    if (fast.rle.counts != EncodeRle(mask).counts || fast.bbox != MaskBbox(mask) ||
        fast.area != MaskArea(mask)) {
      Fail("the box-only RLE differs from the full mask's");
    }
    const double graph_ms = TimeMedian(std::min(runs, 3), [&] {
      Result<DecoderResult> r = model.DecodeWithGraphMasks(embedding, prompt);
      if (!r.ok()) Fail(r.status().message());
    });
    std::printf("%-22s %10.1f %11.1f %10.1f %10.1f | %10.1f %9.1f %9.1f %7.1f %9.1f %9.1f %9.1f %14.1f\n",
                image.label.c_str(), decode_ms, preprocess_ms, encoder_ms,
                decode_ms + preprocess_ms + encoder_ms, decoder_ms, core_ms, upsample_ms, rle_ms, box_ms,
                fast_ms, static_cast<double>(fast.rle.counts.size()) / 1024.0, graph_ms);
    std::fflush(stdout);
  }
}

// The decoder alone, in process, for each --decoder-sessions value: one caller's latency and
// core-time, and what 1, 4 and 16 threads calling Decode at once get through. Configurations
// alternate per row so they see the same machine.
// Returns the core-time of one run in a one-thread session (the first row): the decoder's
// single-run cost, with no parallel overhead.
double DecoderSessionsTable(const std::string& dir, const std::vector<int>& session_counts,
                            const BenchImage& image, int runs) {
  using namespace samcache;
  std::vector<std::unique_ptr<SamModel>> models;
  std::vector<std::string> labels{"1 thread", "1 thr whole"};
  std::vector<ModelOptions> configs(2);
  for (ModelOptions& options : configs) {
    options.intra_op_threads = 1;
    options.decoder_sessions = 1;
  }
  configs[1].trim_decoder = false;
  for (int sessions : session_counts) {
    ModelOptions options;
    options.decoder_sessions = sessions;
    configs.push_back(options);
    labels.push_back(std::to_string(sessions));
    if (sessions != 1) {
      // Without the wide session: one intra-op thread everywhere, a lone click too.
      options.intra_op_threads = 1;
      configs.push_back(options);
      labels.push_back(std::to_string(sessions) + " narrow");
    }
  }
  for (const ModelOptions& options : configs) {
    auto model = dir.empty() ? SamModel::OpenDemo(options) : SamModel::OpenFolder(dir, options);
    if (!model.ok()) Fail(model.status().message());
    models.push_back(std::move(*model));
  }
  Result<ImageHeader> header = ReadImageHeader(image.jpeg);
  if (!header.ok()) Fail(header.status().message());
  Result<DecodedImage> decoded = DecodeImage(image.jpeg, header->format);
  if (!decoded.ok()) Fail(decoded.status().message());
  Result<Embedding> embedding = models.front()->Encode(models.front()->Prepare(*decoded));
  if (!embedding.ok()) Fail(embedding.status().message());
  DecoderPrompt prompt;
  prompt.original_height = static_cast<int>(decoded->height);
  prompt.original_width = static_cast<int>(decoded->width);
  const auto& circle = image.scene.Object("circle");
  prompt.points = {{circle.click_x, circle.click_y, 1}};
  std::printf("\ndecoder alone, %s, %s: --decoder-sessions N (0: one per core, %u here)\n",
              dir.empty() ? "demo model" : dir.c_str(), image.label.c_str(),
              std::thread::hardware_concurrency());
  std::printf(
      "\"1 thread\": one session, one intra-op thread (the core-time reference); \"1 thr whole\": the "
      "same, running the whole graph, not trimmed to what clicks read; \"N narrow\": --intra-op-threads 1, "
      "so no wide session for a lone click\n");
  double reference_core_ms = 0;
  std::printf("%-10s %8s %10s %9s | %9s %9s %9s | %s\n", "sessions", "threads", "1 run ms", "core ms",
              "1 thr/s", "4 thr/s", "16 thr/s", "load avg");
  for (size_t m = 0; m < models.size(); ++m) {
    const SamModel& model = *models[m];
    auto decode = [&] {
      Result<DecoderResult> r = model.Decode(*embedding, prompt);
      if (!r.ok()) Fail(r.status().message());
    };
    decode();  // a fresh session's first run is slow
    const double cpu_before = ProcessCpuMs();
    const double ms = TimeMedian(runs, decode);
    const double core_ms = (ProcessCpuMs() - cpu_before) / runs;
    if (m == 0) reference_core_ms = core_ms;
    std::array<double, 3> rates{};
    const int thread_counts[] = {1, 4, 16};
    for (size_t k = 0; k < 3; ++k) {
      const int threads = thread_counts[k];
      const int each = std::max(2, runs * 2 / threads);
      const Clock::time_point start = Clock::now();
      std::vector<std::thread> callers;
      for (int t = 0; t < threads; ++t) {
        callers.emplace_back([&] {
          for (int i = 0; i < each; ++i) decode();
        });
      }
      for (auto& t : callers) t.join();
      rates[k] = threads * each / (MsSince(start) / 1000.0);
    }
    std::printf("%-10s %8d %10.1f %9.1f | %9.1f %9.1f %9.1f | %s\n", labels[m].c_str(),
                model.info().intra_op_threads, ms, core_ms, rates[0], rates[1], rates[2],
                LoadAverage().c_str());
    std::fflush(stdout);
  }
  return reference_core_ms;
}

json Post(httplib::Client& client, const std::string& path, const json& body) {
  auto r = client.Post(path, body.dump(), "application/json");
  if (!r) Fail("no answer from " + path);
  if (r->status != 200) Fail(path + ": HTTP " + std::to_string(r->status) + " " + r->body);
  return json::parse(r->body);
}

// A core-time reference of the HTTP tables: one decoder run's CPU time in a one-thread session
// in this process (the "1 thread" rows of DecoderSessionsTable), on demand. `trim_decoder`:
// the graph trimmed to what clicks read, as samcache runs it; else the graph as the folder has it.
class ReferenceDecoder {
 public:
  ReferenceDecoder(const std::string& dir, const BenchImage& image, int runs, bool trim_decoder)
      : runs_(runs) {
    using namespace samcache;
    ModelOptions options;
    options.intra_op_threads = 1;
    options.decoder_sessions = 1;
    options.trim_decoder = trim_decoder;
    auto model = dir.empty() ? SamModel::OpenDemo(options) : SamModel::OpenFolder(dir, options);
    if (!model.ok()) Fail(model.status().message());
    model_ = std::move(*model);
    Result<ImageHeader> header = ReadImageHeader(image.jpeg);
    if (!header.ok()) Fail(header.status().message());
    Result<DecodedImage> decoded = DecodeImage(image.jpeg, header->format);
    if (!decoded.ok()) Fail(decoded.status().message());
    Result<Embedding> embedding = model_->Encode(model_->Prepare(*decoded));
    if (!embedding.ok()) Fail(embedding.status().message());
    embedding_ = std::move(*embedding);
    prompt_.original_height = static_cast<int>(decoded->height);
    prompt_.original_width = static_cast<int>(decoded->width);
    const auto& circle = image.scene.Object("circle");
    prompt_.points = {{circle.click_x, circle.click_y, 1}};
  }

  // CPU ms of the whole process per run, over `runs` runs after one more.
  double CoreMs() const {
    auto decode = [&] {
      samcache::Result<samcache::DecoderResult> r = model_->Decode(embedding_, prompt_);
      if (!r.ok()) Fail(r.status().message());
    };
    decode();
    const double cpu_before = ProcessCpuMs();
    for (int i = 0; i < runs_; ++i) decode();
    return (ProcessCpuMs() - cpu_before) / runs_;
  }

 private:
  int runs_;
  std::unique_ptr<samcache::SamModel> model_;
  samcache::Embedding embedding_;
  samcache::DecoderPrompt prompt_;
};

// The reply's "timings_ms", read without parsing the rest: the clients share the server's cores,
// and a DOM of a 12-megapixel mask's half-megabyte RLE text costs a client milliseconds of CPU
// per click that a real client spends on its own machine. Fails unless the embedding was cached.
json ServerTimings(const std::string& body) {
  if (body.find("\"embedding\":\"cached\"") == std::string::npos) Fail("embedding was not cached");
  const size_t key = body.rfind("\"timings_ms\":{");
  const size_t end = key == std::string::npos ? key : body.find('}', key);
  if (end == std::string::npos) Fail("no timings_ms in the reply");
  const size_t open = key + std::string("\"timings_ms\":").size();
  return json::parse(body.substr(open, end + 1 - open));
}

// One row: `clients` concurrent clients each sending `requests` copies of `body` to `port`.
// `target`: clicks/s the machine's cores could decode (0.9 x cores / decoder core-time), of the
// whole graph and of the trimmed one.
struct Targets {
  double reference_ms = 0;  // the whole graph's core-time
  double target = 0;
  double trimmed_target = 0;
};

// What one row measured, printed once the group's reference after it is known.
struct RowResult {
  std::string label;
  int clients = 0;
  double p50 = 0, p99 = 0, max = 0, rate = 0;
  double decode = 0, post = 0, server = 0, reply_kb = 0;
  std::string load;
};

void PrintRow(const RowResult& row, const Targets& targets) {
  std::printf("%-28s %7d %8.1f %8.1f %8.1f %9.1f %7.2f %8.2f %7.1f | %7.1f %7.1f %7.1f %8.1f %8.0f | %s\n",
              row.label.c_str(), row.clients, row.p50, row.p99, row.max, row.rate, row.rate / targets.target,
              row.rate / targets.trimmed_target, targets.reference_ms, row.decode, row.post, row.server,
              row.p50 - row.server, row.reply_kb, row.load.c_str());
  std::fflush(stdout);
}

RowResult LatencyRow(const std::string& label, int port, const json& body, int clients, int requests) {
  std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
  // The server's own timings (decode, postprocess, total) and the reply size, per request.
  std::vector<std::vector<std::array<double, 4>>> server(static_cast<size_t>(clients));
  std::vector<std::string> errors(static_cast<size_t>(clients));
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      try {
        httplib::Client own("127.0.0.1", port);
        own.set_read_timeout(300, 0);
        for (int i = 0; i < requests; ++i) {
          const Clock::time_point sent = Clock::now();
          auto r = own.Post("/api/sam/predict", body.dump(), "application/json");
          latencies[static_cast<size_t>(c)].push_back(MsSince(sent));
          if (!r || r->status != 200) Fail("predict failed");
          const json t = ServerTimings(r->body);
          server[static_cast<size_t>(c)].push_back({t["decode"].get<double>(), t["postprocess"].get<double>(),
                                                    t["total"].get<double>(),
                                                    static_cast<double>(r->body.size()) / 1024.0});
        }
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(c)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = MsSince(start) / 1000.0;
  for (const std::string& e : errors) {
    if (!e.empty()) Fail(e);
  }
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::array<std::vector<double>, 4> parts;
  for (const auto& per_client : server) {
    for (const auto& t : per_client) {
      for (size_t k = 0; k < 4; ++k) parts[k].push_back(t[k]);
    }
  }
  RowResult row;
  row.label = label;
  row.clients = clients;
  row.p50 = Percentile(all, 50);
  row.p99 = Percentile(all, 99);
  row.max = *std::max_element(all.begin(), all.end());
  row.rate = static_cast<double>(all.size()) / seconds;
  row.decode = Median(parts[0]);
  row.post = Median(parts[1]);
  row.server = Median(parts[2]);
  row.reply_kb = Median(parts[3]);
  row.load = LoadAverage();
  return row;
}

// One server to measure: a binary and the flags that set it apart.
struct Variant {
  std::string label;
  std::string binary;
  std::vector<std::string> args;
};

// Every variant serves the same model; their rows alternate, so they see the same machine load.
void LatencyTable(const std::vector<Variant>& variants, const std::vector<std::string>& server_args,
                  const std::vector<BenchImage>& images, int requests, const ReferenceDecoder& whole,
                  const ReferenceDecoder& trimmed) {
  std::vector<std::unique_ptr<samcache::testing::TempDir>> dirs;
  std::vector<std::unique_ptr<samcache::testing::ServerProcess>> servers;
  for (const Variant& variant : variants) {
    std::vector<std::string> args = server_args;
    args.insert(args.end(), variant.args.begin(), variant.args.end());
    dirs.push_back(std::make_unique<samcache::testing::TempDir>());
    servers.push_back(
        std::make_unique<samcache::testing::ServerProcess>(*dirs.back() / "data", args, variant.binary));
  }
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("\nHTTP predict on a cached embedding: serve %s, %d requests per client\n",
              server_args.empty() ? "(demo model)" : server_args.back().c_str(), requests);
  for (const Variant& v : variants) {
    std::string flags;
    for (const std::string& a : v.args) flags += " " + a;
    std::printf("  [%s] %s%s\n", v.label.c_str(), v.binary.c_str(), flags.c_str());
  }
  std::printf(
      "(/target: clicks/s / (0.9 x %u cores / ref ms, the decoder's one-thread core-time, the graph as the "
      "folder has it, measured in process before and after each group of rows, their mean); /trimmed: the "
      "same against the "
      "graph trimmed to what clicks read, as samcache runs it; decode / post / server: the server's "
      "timings_ms, p50; outside: client p50 - server p50, i.e. HTTP, JSON and transport)\n",
      cores);
  std::printf("%-28s %7s %8s %8s %8s %9s %7s %8s %7s | %7s %7s %7s %8s %8s | %s\n", "image [variant]",
              "clients", "p50 ms", "p99 ms", "max ms", "clicks/s", "/target", "/trimmed", "ref ms", "decode",
              "post", "server", "outside", "reply KB", "load avg");
  for (const BenchImage& image : images) {
    std::vector<json> bodies;
    for (auto& server : servers) {
      httplib::Client client("127.0.0.1", server->port());
      client.set_read_timeout(300, 0);
      httplib::MultipartFormDataItems items{{"images", image.jpeg, image.label + ".jpg", "image/jpeg"}};
      auto uploaded = client.Post("/api/sam/dataset/init", items);
      if (!uploaded || uploaded->status != 200) Fail("upload failed");
      const std::string id = json::parse(uploaded->body)["images"][0]["id"].get<std::string>();
      const auto& circle = image.scene.Object("circle");
      json body{{"image_id", id}, {"points", {{{"x", circle.click_x}, {"y", circle.click_y}, {"label", 1}}}}};
      json warm = Post(client, "/api/sam/predict", body);  // computes the embedding
      if (warm["embedding"] != "computed") Fail("expected the first predict to compute the embedding");
      bodies.push_back(std::move(body));
    }
    for (int clients : {1, 4, 16}) {
      // The machine's speed drifts over a run of minutes (other guests on its host): each group
      // of rows gets its own reference, the mean of one measured right before it and one right
      // after.
      const double whole_before = whole.CoreMs(), trimmed_before = trimmed.CoreMs();
      std::vector<RowResult> rows;
      for (size_t b = 0; b < servers.size(); ++b) {
        rows.push_back(LatencyRow(image.label + " [" + variants[b].label + "]", servers[b]->port(), bodies[b],
                                  clients, requests));
      }
      Targets targets;
      targets.reference_ms = (whole_before + whole.CoreMs()) / 2;
      targets.target = 0.9 * cores / (targets.reference_ms / 1000.0);
      targets.trimmed_target = 0.9 * cores / ((trimmed_before + trimmed.CoreMs()) / 2 / 1000.0);
      for (const RowResult& row : rows) PrintRow(row, targets);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"samcache inference benchmark"};
  std::vector<std::string> model_dirs;
  int requests = 40;
  int runs = 5;
  bool no_demo = false;
  std::string binary = (fs::path(argv[0]).parent_path().parent_path() / "samcache").string();
  std::vector<std::string> compare;
  std::vector<int> decoder_sessions{1, 0};
  std::vector<std::string> extra_variants;
  cli.add_option("--model", model_dirs, "Also measure these model folders (encoder.onnx, decoder.onnx)");
  cli.add_option("--requests", requests, "Predict requests per client")->capture_default_str();
  cli.add_option("--runs", runs, "Repetitions per in-process step (median)")->capture_default_str();
  cli.add_option("--binary", binary, "The samcache binary to start")->capture_default_str();
  cli.add_option("--compare-binary", compare,
                 "Also serve with these binaries (e.g. a build before a change); rows alternate");
  cli.add_option(
         "--decoder-sessions", decoder_sessions,
         "Serve with each of these --decoder-sessions values (1: one shared session, as before; 0: one "
         "per core); rows alternate")
      ->capture_default_str();
  cli.add_option("--variant", extra_variants,
                 "Also serve with these flags, e.g. \"--decoder-sessions 2 --intra-op-threads 1\"");
  cli.add_flag("--no-demo", no_demo, "Skip the built-in demo model (only the --model folders)");
  CLI11_PARSE(cli, argc, argv);

  try {
    std::vector<BenchImage> images;
    for (auto [w, h] : {std::pair{640, 480}, std::pair{1920, 1080}, std::pair{4000, 3000}}) {
      BenchImage image;
      image.label = std::to_string(w) + "x" + std::to_string(h) + " JPEG";
      image.scene = samcache::testing::MakeShapesScene(w, h, 7);
      samcache::Result<std::string> jpeg = samcache::EncodeImage(image.scene.image, ".jpg", 90);
      if (!jpeg.ok()) Fail(jpeg.status().message());
      image.jpeg = std::move(*jpeg);
      images.push_back(std::move(image));
    }
    std::printf("samcache inference benchmark (bench/predict_bench)\n");
    std::printf(
        "machine: %u hardware threads; in-process rows are medians of %d runs (graph upsample: of 3)\n",
        std::thread::hardware_concurrency(), runs);

    // The HTTP target comes from the decoder's core-time in a one-thread session.
    if (!no_demo) {
      auto demo = samcache::SamModel::OpenDemo({});
      if (!demo.ok()) Fail(demo.status().message());
      PipelineTable(**demo, images, runs);
      DecoderSessionsTable("", decoder_sessions, images.front(), runs * 4);
    }
    for (const std::string& dir : model_dirs) {
      auto model = samcache::SamModel::OpenFolder(dir, {});
      if (!model.ok()) Fail(model.status().message());
      PipelineTable(**model, images, runs);
      DecoderSessionsTable(dir, decoder_sessions, images.front(), runs * 4);
    }

    std::vector<Variant> variants;
    for (size_t i = 0; i < compare.size(); ++i)
      variants.push_back({"binary " + std::to_string(i), compare[i], {}});
    for (int sessions : decoder_sessions) {
      variants.push_back(
          {"sessions " + std::to_string(sessions), binary, {"--decoder-sessions", std::to_string(sessions)}});
    }
    for (const std::string& flags : extra_variants) {
      Variant variant{flags, binary, {}};
      std::istringstream words(flags);
      for (std::string word; words >> word;) variant.args.push_back(word);
      variants.push_back(std::move(variant));
    }
    if (!no_demo) {
      ReferenceDecoder whole("", images.front(), runs * 4, /*trim_decoder=*/false);
      ReferenceDecoder trimmed("", images.front(), runs * 4, /*trim_decoder=*/true);
      LatencyTable(variants, {}, images, requests, whole, trimmed);
    }
    for (const std::string& dir : model_dirs) {
      ReferenceDecoder whole(dir, images.front(), runs * 4, /*trim_decoder=*/false);
      ReferenceDecoder trimmed(dir, images.front(), runs * 4, /*trim_decoder=*/true);
      LatencyTable(variants, {"--model", dir}, images, requests, whole, trimmed);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "predict_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
