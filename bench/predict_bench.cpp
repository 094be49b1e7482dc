// predict_bench: inference costs (issue 3).
//
// Part 1, in-process: the encoder pipeline for one image split into its steps (JPEG decode,
// preprocess, encoder run) and one click after it (decoder run, our mask upsample + RLE),
// for a small and a 4000x3000 image, for the built-in demo model and for every model folder
// given with --model. It also times the graph's own full-size upsample (what the official
// decoder does when orig_im_size is the original size), which samcache avoids.
//
// Part 2, over HTTP: the real `samcache serve` on loopback; both images uploaded and their
// embeddings computed once, then C concurrent clients (C = 1, 4, 16) each send R predicts
// (a click inside a shape) on the cached embedding; latency p50/p99 and throughput.
//
//   predict_bench [--model DIR]... [--requests R] [--runs N] [--binary PATH]
#include <httplib.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
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
  std::printf("%-22s %10s %11s %10s %10s | %10s %12s %14s\n", "image", "decode ms", "preprocess", "encoder",
              "sum", "decoder", "upsample+RLE", "graph upsample");
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
    const double post_ms = TimeMedian(runs, [&] {
      BinaryMask mask = UpsampleLowResLogits(
          result.low_res_logits.data() + plane * index, result.low_res_height, result.low_res_width,
          input.height, input.width, prompt.original_height, prompt.original_width, info.input_side);
      Rle rle = EncodeRle(mask);
      if (rle.counts.empty()) Fail("empty RLE");
    });
    const double graph_ms = TimeMedian(std::min(runs, 3), [&] {
      Result<DecoderResult> r = model.DecodeWithGraphMasks(embedding, prompt);
      if (!r.ok()) Fail(r.status().message());
    });
    std::printf("%-22s %10.1f %11.1f %10.1f %10.1f | %10.1f %12.1f %14.1f\n", image.label.c_str(), decode_ms,
                preprocess_ms, encoder_ms, decode_ms + preprocess_ms + encoder_ms, decoder_ms, post_ms,
                graph_ms);
  }
}

json Post(httplib::Client& client, const std::string& path, const json& body) {
  auto r = client.Post(path, body.dump(), "application/json");
  if (!r) Fail("no answer from " + path);
  if (r->status != 200) Fail(path + ": HTTP " + std::to_string(r->status) + " " + r->body);
  return json::parse(r->body);
}

void LatencyTable(const std::string& binary, const std::vector<std::string>& server_args,
                  const std::vector<BenchImage>& images, int requests) {
  samcache::testing::TempDir dir;
  samcache::testing::ServerProcess server(dir / "data", server_args, binary);
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(300, 0);
  std::printf("\nHTTP predict on a cached embedding: %s serve %s, %d requests per client\n", binary.c_str(),
              server_args.empty() ? "(demo model)" : server_args.back().c_str(), requests);
  std::printf("%-22s %8s %10s %10s %10s %12s\n", "image", "clients", "p50 ms", "p99 ms", "max ms",
              "requests/s");
  for (const BenchImage& image : images) {
    httplib::MultipartFormDataItems items{{"images", image.jpeg, image.label + ".jpg", "image/jpeg"}};
    auto uploaded = client.Post("/api/sam/dataset/init", items);
    if (!uploaded || uploaded->status != 200) Fail("upload failed");
    const std::string id = json::parse(uploaded->body)["images"][0]["id"].get<std::string>();
    const auto& circle = image.scene.Object("circle");
    const json body{{"image_id", id},
                    {"points", {{{"x", circle.click_x}, {"y", circle.click_y}, {"label", 1}}}}};
    json warm = Post(client, "/api/sam/predict", body);  // computes the embedding
    if (warm["embedding"] != "computed") Fail("expected the first predict to compute the embedding");
    for (int clients : {1, 4, 16}) {
      std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
      std::vector<std::string> errors(static_cast<size_t>(clients));
      const Clock::time_point start = Clock::now();
      std::vector<std::thread> threads;
      for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
          try {
            httplib::Client own("127.0.0.1", server.port());
            own.set_read_timeout(300, 0);
            for (int i = 0; i < requests; ++i) {
              const Clock::time_point sent = Clock::now();
              json answer = Post(own, "/api/sam/predict", body);
              latencies[static_cast<size_t>(c)].push_back(MsSince(sent));
              if (answer["embedding"] != "cached") Fail("embedding was not cached");
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
      std::printf("%-22s %8d %10.1f %10.1f %10.1f %12.1f\n", image.label.c_str(), clients,
                  Percentile(all, 50), Percentile(all, 99), *std::max_element(all.begin(), all.end()),
                  static_cast<double>(all.size()) / seconds);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"samcache inference benchmark"};
  std::vector<std::string> model_dirs;
  int requests = 40;
  int runs = 5;
  std::string binary = (fs::path(argv[0]).parent_path().parent_path() / "samcache").string();
  cli.add_option("--model", model_dirs, "Also measure these model folders (encoder.onnx, decoder.onnx)");
  cli.add_option("--requests", requests, "Predict requests per client")->capture_default_str();
  cli.add_option("--runs", runs, "Repetitions per in-process step (median)")->capture_default_str();
  cli.add_option("--binary", binary, "The samcache binary to start")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  try {
    std::vector<BenchImage> images;
    for (auto [w, h] : {std::pair{640, 480}, std::pair{4000, 3000}}) {
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

    auto demo = samcache::SamModel::OpenDemo({});
    if (!demo.ok()) Fail(demo.status().message());
    PipelineTable(**demo, images, runs);
    for (const std::string& dir : model_dirs) {
      auto model = samcache::SamModel::OpenFolder(dir, {});
      if (!model.ok()) Fail(model.status().message());
      PipelineTable(**model, images, runs);
    }

    LatencyTable(binary, {}, images, requests);
    for (const std::string& dir : model_dirs) LatencyTable(binary, {"--model", dir}, images, requests);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "predict_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
