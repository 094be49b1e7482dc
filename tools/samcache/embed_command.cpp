// `samcache embed IMAGE --out FILE.npy`: one image's embedding, computed here (or taken from
// the shared Redis tier), written as a .npy file. Opens no data folder.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "app_options.h"
#include "command.h"
#include "common/files.h"
#include "image/image_decoder.h"
#include "image/image_load.h"
#include "model/npy.h"
#include "model/sam_model.h"
#include "store/redis_client.h"
#include "store/redis_tier.h"
#include "store/safetensors.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;

struct EmbedArgs {
  CommonOptions common;
  ModelCliOptions model;
  std::string image;
  std::string out;
};

int Embed(const CommonOptions& common, const ModelCliOptions& model_options, const std::string& image_path,
          const std::string& out_path) {
  spdlog::set_level(spdlog::level::from_str(common.log_level));
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point since) {
    return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
  };
  // With --redis, the shared tier answers first and keeps what is computed here.
  std::unique_ptr<RedisClient> redis;
  std::unique_ptr<RedisTier> redis_tier;
  if (!model_options.redis_url.empty()) {
    Result<RedisEndpoint> endpoint = ParseRedisUrl(model_options.redis_url);
    if (!endpoint.ok()) return Fail(endpoint.status());
    redis = std::make_unique<RedisClient>(*endpoint, RedisClient::Options{});
    if (Status reachable = redis->Ping(); !reachable.ok()) {
      spdlog::warn("[REDIS] cannot reach {} ({}); computing without the shared tier", endpoint->ToString(),
                   reachable.message());
    }
    redis_tier = std::make_unique<RedisTier>(*redis);
  }
  ModelOptions options;
  options.intra_op_threads = model_options.intra_op_threads;
  const bool builtin = model_options.model_dir.empty() || model_options.model_dir == kBuiltinModel;
  Result<std::unique_ptr<SamModel>> model =
      builtin ? SamModel::OpenDemo(options) : SamModel::OpenFolder(model_options.model_dir, options);
  if (!model.ok()) return Fail(model.status());

  Clock::time_point step = Clock::now();
  Result<std::string> bytes = ReadFile(image_path);
  if (!bytes.ok()) return Fail(bytes.status());
  Result<LoadedImage> loaded = LoadCheckedImage(*bytes, common.max_image_megapixels * 1'000'000);
  if (!loaded.ok() && loaded.status().code() == StatusCode::kTooLarge) {
    return Fail(Status::TooLarge(image_path + " has more than " +
                                 std::to_string(common.max_image_megapixels) +
                                 " megapixels (see --max-image-megapixels)"));
  }
  if (!loaded.ok()) return Fail(Status::InvalidArgument(image_path + ": " + loaded.status().message()));
  const DecodedImage& image = loaded->pixels;
  const double decode_ms = ms(step);
  double preprocess_ms = 0;
  double encoder_ms = 0;
  const EmbeddingKey key{(*model)->info().id, PixelHash(image)};
  std::shared_ptr<const Embedding> embedding = redis_tier ? redis_tier->Get(key) : nullptr;
  const bool cached = embedding != nullptr;
  if (!embedding) {
    step = Clock::now();
    PreparedImage prepared = (*model)->Prepare(image);
    preprocess_ms = ms(step);
    step = Clock::now();
    Result<Embedding> encoded = (*model)->Encode(prepared);
    if (!encoded.ok()) return Fail(encoded.status());
    encoder_ms = ms(step);
    embedding = std::make_shared<const Embedding>(std::move(encoded).value());
    if (redis_tier) {
      if (Status put = redis_tier->Put(key, embedding); !put.ok()) {
        spdlog::warn("[REDIS] the embedding was not stored in the shared tier: {}", put.message());
      }
    }
  }
  // .safetensors: every tensor of the set; .npy: the one tensor of a one-tensor model.
  const bool safetensors = fs::path(out_path).extension() == ".safetensors";
  if (!safetensors && embedding->tensors.size() != 1) {
    return Fail(Status::InvalidArgument(
        "model " + (*model)->info().name + " caches " + std::to_string(embedding->tensors.size()) +
        " tensors per image; a .npy file holds one: use --out FILE.safetensors"));
  }
  std::string file_bytes;
  if (safetensors) {
    Result<std::string> encoded = EncodeSafetensors(key, *embedding);
    if (!encoded.ok()) return Fail(encoded.status());
    file_bytes = std::move(encoded).value();
  } else {
    const NamedTensor& only = embedding->tensors.front();
    file_bytes = EncodeNpyFloat32(only.shape, only.values.data());
  }
  const fs::path out_dir = fs::absolute(out_path).parent_path();
  Status written = WriteFileAtomically(out_path, file_bytes, out_dir);
  if (!written.ok()) return Fail(written);
  // "name [1,256,64,64]" of each tensor written ("+" between several).
  std::string tensors;
  for (const NamedTensor& t : embedding->tensors) {
    std::string shape;
    for (int64_t d : t.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    tensors += (tensors.empty() ? "" : " + ") + t.name + " [" + shape + "]";
  }
  if (cached) {
    std::printf("%s: %s float32 from %ux%u image, model %s (%s); decode %.0f ms, embedding cached in redis\n",
                out_path.c_str(), tensors.c_str(), image.width, image.height, (*model)->info().name.c_str(),
                (*model)->info().id.c_str(), decode_ms);
    return 0;
  }
  std::printf(
      "%s: %s float32 from %ux%u image, model %s (%s); decode %.0f ms, preprocess %.0f ms, encoder %.0f "
      "ms\n",
      out_path.c_str(), tensors.c_str(), image.width, image.height, (*model)->info().name.c_str(),
      (*model)->info().id.c_str(), decode_ms, preprocess_ms, encoder_ms);
  return 0;
}

}  // namespace

Command AddEmbedCommand(CLI::App& cli) {
  auto args = std::make_shared<EmbedArgs>();
  CLI::App* embed = cli.add_subcommand("embed", "Compute one image's embedding and write it as a .npy file");
  AddCommonOptions(embed, args->common, /*with_data=*/false);
  AddModelOptions(embed, args->model, /*with_cache=*/false);
  embed->add_option("image", args->image, "Image file")->required()->check(CLI::ExistingFile);
  embed
      ->add_option(
          "--out", args->out,
          "Output .npy file ([1,256,64,64] float32 for SAM), or .safetensors (every tensor the model "
          "caches, float32)")
      ->required();
  return {embed, [args] { return Embed(args->common, args->model, args->image, args->out); }};
}

}  // namespace samcache
