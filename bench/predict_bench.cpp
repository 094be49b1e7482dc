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
// With --compare-binary (e.g. a build from before a change), each binary serves the model and
// their rows alternate, so both see the same machine.
//
//   predict_bench [--model DIR]... [--no-demo] [--requests R] [--runs N] [--binary PATH]
//                 [--compare-binary PATH]...
#include <httplib.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
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
  std::printf("%-22s %10s %11s %10s %10s | %10s %9s %7s %9s %9s %9s %14s\n", "image", "decode ms",
              "preprocess", "encoder", "sum", "decoder", "upsample", "RLE", "bbox+area", "box-only", "RLE KB",
              "graph upsample");
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
    const double decoder_ms = TimeMedian(runs, [&] {
      Result<DecoderResult> r = model.Decode(embedding, prompt);
      if (!r.ok()) Fail(r.status().message());
      result = std::move(*r);
    });
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
    std::printf("%-22s %10.1f %11.1f %10.1f %10.1f | %10.1f %9.1f %7.1f %9.1f %9.1f %9.1f %14.1f\n",
                image.label.c_str(), decode_ms, preprocess_ms, encoder_ms,
                decode_ms + preprocess_ms + encoder_ms, decoder_ms, upsample_ms, rle_ms, box_ms, fast_ms,
                static_cast<double>(fast.rle.counts.size()) / 1024.0, graph_ms);
    std::fflush(stdout);
  }
}

json Post(httplib::Client& client, const std::string& path, const json& body) {
  auto r = client.Post(path, body.dump(), "application/json");
  if (!r) Fail("no answer from " + path);
  if (r->status != 200) Fail(path + ": HTTP " + std::to_string(r->status) + " " + r->body);
  return json::parse(r->body);
}

// One row: `clients` concurrent clients each sending `requests` copies of `body` to `port`.
void LatencyRow(const std::string& label, int port, const json& body, int clients, int requests) {
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
          const json answer = json::parse(r->body);
          if (answer["embedding"] != "cached") Fail("embedding was not cached");
          const json& t = answer["timings_ms"];
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
  const double p50 = Percentile(all, 50);
  std::printf("%-26s %7d %8.1f %8.1f %8.1f %9.1f | %7.1f %7.1f %7.1f %8.1f %8.0f | %s\n", label.c_str(),
              clients, p50, Percentile(all, 99), *std::max_element(all.begin(), all.end()),
              static_cast<double>(all.size()) / seconds, Median(parts[0]), Median(parts[1]), Median(parts[2]),
              p50 - Median(parts[2]), Median(parts[3]), LoadAverage().c_str());
  std::fflush(stdout);
}

// Every binary serves the same model; their rows alternate, so they see the same machine load.
void LatencyTable(const std::vector<std::string>& binaries, const std::vector<std::string>& server_args,
                  const std::vector<BenchImage>& images, int requests) {
  std::vector<std::unique_ptr<samcache::testing::TempDir>> dirs;
  std::vector<std::unique_ptr<samcache::testing::ServerProcess>> servers;
  for (const std::string& binary : binaries) {
    dirs.push_back(std::make_unique<samcache::testing::TempDir>());
    servers.push_back(
        std::make_unique<samcache::testing::ServerProcess>(*dirs.back() / "data", server_args, binary));
  }
  std::printf("\nHTTP predict on a cached embedding: serve %s, %d requests per client\n",
              server_args.empty() ? "(demo model)" : server_args.back().c_str(), requests);
  for (size_t b = 0; b < binaries.size(); ++b) std::printf("  [%zu] %s\n", b, binaries[b].c_str());
  std::printf(
      "(decode / post / server: the server's timings_ms, p50; outside: client p50 - server p50, i.e. HTTP, "
      "JSON and transport)\n");
  std::printf("%-26s %7s %8s %8s %8s %9s | %7s %7s %7s %8s %8s | %s\n", "image [binary]", "clients", "p50 ms",
              "p99 ms", "max ms", "clicks/s", "decode", "post", "server", "outside", "reply KB", "load avg");
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
      for (size_t b = 0; b < servers.size(); ++b) {
        LatencyRow(image.label + (servers.size() > 1 ? " [" + std::to_string(b) + "]" : ""),
                   servers[b]->port(), bodies[b], clients, requests);
      }
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
  cli.add_option("--model", model_dirs, "Also measure these model folders (encoder.onnx, decoder.onnx)");
  cli.add_option("--requests", requests, "Predict requests per client")->capture_default_str();
  cli.add_option("--runs", runs, "Repetitions per in-process step (median)")->capture_default_str();
  cli.add_option("--binary", binary, "The samcache binary to start")->capture_default_str();
  cli.add_option("--compare-binary", compare,
                 "Also serve with these binaries (e.g. a build before a change); rows alternate");
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

    if (!no_demo) {
      auto demo = samcache::SamModel::OpenDemo({});
      if (!demo.ok()) Fail(demo.status().message());
      PipelineTable(**demo, images, runs);
    }
    for (const std::string& dir : model_dirs) {
      auto model = samcache::SamModel::OpenFolder(dir, {});
      if (!model.ok()) Fail(model.status().message());
      PipelineTable(**model, images, runs);
    }

    std::vector<std::string> binaries = compare;
    binaries.push_back(binary);
    if (!no_demo) LatencyTable(binaries, {}, images, requests);
    for (const std::string& dir : model_dirs) LatencyTable(binaries, {"--model", dir}, images, requests);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "predict_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
