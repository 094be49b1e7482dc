#include "model/sam_model.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/crypto.h"
#include "common/embedded_files.h"
#include "common/files.h"
#include "model/family_adapter.h"
#include "model/graph_trim.h"
#include "model/onnx_graph.h"
#include "model/session_pool.h"

namespace samcache {
namespace {

struct ModelFiles {
  std::string source;
  std::string encoder_name;  // for messages: a path or "models/demo/encoder.onnx"
  std::string decoder_name;
  std::string encoder_bytes;
  std::string decoder_bytes;
  std::string config_json;  // empty when there is no model.json
};

Result<ModelFiles> ReadFolder(const std::filesystem::path& dir) {
  ModelFiles files;
  files.source = dir.string();
  files.encoder_name = (dir / "encoder.onnx").string();
  files.decoder_name = (dir / "decoder.onnx").string();
  for (auto [path, out] : {std::pair{files.encoder_name, &files.encoder_bytes},
                           std::pair{files.decoder_name, &files.decoder_bytes}}) {
    if (!std::filesystem::is_regular_file(path)) {
      return Status::NotFound("model folder " + dir.string() + " has no " +
                              std::filesystem::path(path).filename().string());
    }
    SAMCACHE_ASSIGN_OR_RETURN(*out, ReadFile(path));
  }
  if (std::filesystem::is_regular_file(dir / "model.json")) {
    SAMCACHE_ASSIGN_OR_RETURN(files.config_json, ReadFile(dir / "model.json"));
  }
  return files;
}

Status ApplyConfig(const std::string& json_text, const std::string& source, ModelInfo& info,
                   std::optional<EncoderLayout>& layout_override, std::optional<ModelFamily>& family) {
  if (json_text.empty()) return Status::Ok();
  nlohmann::json config = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return Status::InvalidArgument(source + "/model.json is not a JSON object");
  try {
    if (config.contains("name")) info.name = config["name"].get<std::string>();
    if (config.contains("description")) info.description = config["description"].get<std::string>();
    if (config.contains("demo")) info.demo = config["demo"].get<bool>();
    if (config.contains("encoder_input")) {
      std::string layout = config["encoder_input"].get<std::string>();
      if (layout == "nchw") {
        layout_override = EncoderLayout::kNchwNormalized;
      } else if (layout == "hwc") {
        layout_override = EncoderLayout::kHwcResized;
      } else {
        return Status::InvalidArgument(source + "/model.json: encoder_input must be \"nchw\" or \"hwc\"");
      }
    }
    if (config.contains("family")) {
      const std::string name = config["family"].get<std::string>();
      family = ParseFamily(name);
      if (!family) {
        return Status::InvalidArgument(source +
                                       "/model.json: family must be one of sam, sam-hq, edgesam, sam2, "
                                       "sam2-full-size, efficientsam (got \"" +
                                       name.substr(0, 32) + "\")");
      }
    }
    if (config.contains("pixel_mean")) info.pixel_mean = config["pixel_mean"].get<std::array<float, 3>>();
    if (config.contains("pixel_std")) info.pixel_std = config["pixel_std"].get<std::array<float, 3>>();
    if (config.contains("input_size")) info.input_side = config["input_size"].get<int>();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(source + "/model.json: " + e.what());
  }
  return Status::Ok();
}

int Cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

Result<int> DecoderSessions(const ModelOptions& options) {
  if (options.decoder_sessions < 0 || options.decoder_sessions > kMaxDecoderSessions) {
    return Status::InvalidArgument("decoder sessions must be 0 (one per core) to " +
                                   std::to_string(kMaxDecoderSessions) + ", got " +
                                   std::to_string(options.decoder_sessions));
  }
  return options.decoder_sessions > 0 ? options.decoder_sessions : Cores();
}

}  // namespace

struct SamModel::Impl {
  ModelInfo info;
  std::unique_ptr<Ort::Session> encoder;
  std::unique_ptr<SessionPool> decoders;  // for clicks: the graph trimmed to what they read
  // One session of the decoder as the folder has it, when `decoders` runs a trimmed graph:
  // the signature, and DecodeWithGraphMasks.
  std::unique_ptr<SessionPool> whole_decoder;
  std::unique_ptr<FamilyAdapter> adapter;
  // A session's first runs take 2-3x a steady one: WarmUp pays them before the first job.
  std::atomic<bool> encoder_ready{false};
  std::atomic<bool> stopping{false};
  std::thread warm_up;

  ~Impl() {
    stopping = true;
    if (warm_up.joinable()) warm_up.join();
  }

  static Result<std::unique_ptr<Impl>> Load(const ModelFiles& files, const ModelOptions& options);
  void StartWarmUp(bool enabled);
};

void SamModel::Impl::StartWarmUp(bool enabled) {
  if (!enabled) {
    encoder_ready = true;
    return;
  }
  // The logger's registry is a static: made before a static model's construction ends, it is
  // destroyed after that model joins this thread.
  spdlog::default_logger_raw();
  warm_up = std::thread([this] {
    const auto start = std::chrono::steady_clock::now();
    DecodedImage blank;  // black, the frame's size: the shapes of a real run
    blank.width = blank.height = static_cast<uint32_t>(info.input_side);
    blank.rgb.assign(size_t{blank.width} * blank.height * 3, '\0');
    const PreparedImage input = adapter->Prepare(blank, info);
    Result<Embedding> out = Status::Unavailable("stopping");
    for (int run = 0; run < 2 && !stopping; ++run) {
      out = adapter->Encode(input, info);
      if (!out.ok()) {  // a real run will report it; the model still serves
        spdlog::warn("[MODEL] {}: encoder warm-up failed: {}", info.name, out.status().message());
        break;
      }
    }
    // Then each decoder session twice, with a click on that embedding, so that no user's click
    // gets a fresh session.
    if (out.ok()) {
      DecoderPrompt click;
      click.original_height = click.original_width = info.input_side;
      click.points = {{info.input_side / 2.0f, info.input_side / 2.0f, 1}};
      decoders->ForEachSession([&] {
        for (int run = 0; run < 2 && !stopping; ++run) {
          Result<DecoderResult> decoded =
              adapter->Decode(*out, click, info, *decoders, /*graph_masks=*/false);
          if (!decoded.ok()) {
            spdlog::warn("[MODEL] {}: decoder warm-up failed: {}", info.name, decoded.status().message());
            break;
          }
        }
      });
    }
    encoder_ready = true;
    spdlog::info("[MODEL] {}: encoder and decoder sessions warmed up in {:.0f} ms", info.name,
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  });
}

Result<std::unique_ptr<SamModel::Impl>> SamModel::Impl::Load(const ModelFiles& files,
                                                             const ModelOptions& options) {
  auto impl = std::make_unique<SamModel::Impl>();
  ModelInfo& info = impl->info;
  info.source = files.source;
  info.id = Sha256Hex(files.encoder_bytes).substr(0, 16);
  info.name = std::filesystem::path(files.source).filename().string();
  ModelGraphs graphs;
  std::optional<ModelFamily> stated_family;
  SAMCACHE_RETURN_IF_ERROR(
      ApplyConfig(files.config_json, files.source, info, graphs.layout_override, stated_family));

  info.intra_op_threads = options.intra_op_threads > 0
                              ? options.intra_op_threads
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  SAMCACHE_ASSIGN_OR_RETURN(const int sessions, DecoderSessions(options));
  Ort::SessionOptions session_options;
  session_options.SetIntraOpNumThreads(info.intra_op_threads);
  session_options.SetInterOpNumThreads(1);
  session_options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  Ort::SessionOptions encoder_options = session_options.Clone();
  if (!options.encoder_spinning) encoder_options.AddConfigEntry("session.intra_op.allow_spinning", "0");
  try {
    impl->encoder = std::make_unique<Ort::Session>(OrtEnvironment(), files.encoder_bytes.data(),
                                                   files.encoder_bytes.size(), encoder_options);
  } catch (const Ort::Exception& e) {
    return Status::InvalidArgument(files.encoder_name + ": ONNX Runtime cannot load it: " + e.what());
  }
  // With several, a click alone still gets every thread (the wide session).
  const SessionPoolShape decoder_shape{sessions, std::max(1, info.intra_op_threads / sessions),
                                       info.intra_op_threads};
  // A click's threads spin inside its run (where it pays) but stop when the run returns: spinning
  // on, they would take the cores the click's mask encoding needs next.
  Ort::SessionOptions decoder_options = session_options.Clone();
  decoder_options.AddConfigEntry("session.force_spinning_stop", "1");
  SAMCACHE_ASSIGN_OR_RETURN(
      impl->whole_decoder, SessionPool::Load(files.decoder_bytes, files.decoder_name,
                                             SessionPoolShape{1, info.intra_op_threads, 0}, decoder_options));

  graphs.encoder_file = files.encoder_name;
  graphs.decoder_file = files.decoder_name;
  graphs.encoder = impl->encoder.get();
  graphs.decoder = &impl->whole_decoder->first();
  graphs.encoder_inputs = ReadSpecs(*impl->encoder, true);
  graphs.encoder_outputs = ReadSpecs(*impl->encoder, false);
  graphs.decoder_inputs = ReadSpecs(*graphs.decoder, true);
  graphs.decoder_outputs = ReadSpecs(*graphs.decoder, false);
  SAMCACHE_ASSIGN_OR_RETURN(impl->adapter, DetectFamily(graphs, stated_family));
  SAMCACHE_RETURN_IF_ERROR(impl->adapter->Configure(graphs, info));

  std::optional<TrimmedGraph> trimmed;
  if (options.trim_decoder) {
    Result<std::optional<TrimmedGraph>> trim =
        TrimToOutputs(files.decoder_bytes, impl->adapter->ClickOutputs());
    if (trim.ok()) {
      trimmed = std::move(*trim);
    } else {  // ONNX Runtime took the graph, so clicks can still run it whole
      spdlog::warn("[MODEL] {}: clicks run the whole decoder graph: {}", info.name, trim.status().message());
    }
  }
  if (trimmed) {
    info.decoder_nodes_trimmed = trimmed->removed_nodes;
    spdlog::info(
        "[MODEL] {}: clicks run the decoder without {} nodes that only feed outputs they do not read",
        info.name, trimmed->removed_nodes);
    SAMCACHE_ASSIGN_OR_RETURN(impl->decoders, SessionPool::Load(trimmed->bytes, files.decoder_name,
                                                                decoder_shape, decoder_options));
  } else {
    SAMCACHE_ASSIGN_OR_RETURN(impl->decoders, SessionPool::Load(files.decoder_bytes, files.decoder_name,
                                                                decoder_shape, decoder_options));
    impl->whole_decoder.reset();  // the same graph as `decoders`
  }
  return impl;
}

SamModel::SamModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SamModel::~SamModel() = default;

Result<std::unique_ptr<SamModel>> SamModel::OpenFolder(const std::filesystem::path& dir,
                                                       const ModelOptions& options) {
  SAMCACHE_ASSIGN_OR_RETURN(const ModelFiles files, ReadFolder(dir));
  SAMCACHE_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::Load(files, options));
  impl->StartWarmUp(options.warm_up);
  return std::unique_ptr<SamModel>(new SamModel(std::move(impl)));
}

Result<std::unique_ptr<SamModel>> SamModel::OpenDemo(const ModelOptions& options) {
  ModelFiles files;
  files.source = "built-in";
  files.encoder_name = "models/demo/encoder.onnx";
  files.decoder_name = "models/demo/decoder.onnx";
  auto encoder = EmbeddedFile(files.encoder_name);
  auto decoder = EmbeddedFile(files.decoder_name);
  auto config = EmbeddedFile("models/demo/model.json");
  if (!encoder || !decoder || !config)
    return Status::Internal("the demo model is not embedded in this build");
  files.encoder_bytes = std::string(*encoder);
  files.decoder_bytes = std::string(*decoder);
  files.config_json = std::string(*config);
  SAMCACHE_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::Load(files, options));
  impl->StartWarmUp(options.warm_up);
  return std::unique_ptr<SamModel>(new SamModel(std::move(impl)));
}

const ModelInfo& SamModel::info() const { return impl_->info; }

bool SamModel::EncoderReady() const { return impl_->encoder_ready; }

std::pair<int, int> SamModel::InputSize(int height, int width) const {
  const ResizedSize size = impl_->adapter->InputSize(height, width, impl_->info);
  return {size.height, size.width};
}

PreparedImage SamModel::Prepare(const DecodedImage& image) const {
  return impl_->adapter->Prepare(image, impl_->info);
}

Result<Embedding> SamModel::Encode(const PreparedImage& input) const {
  return impl_->adapter->Encode(input, impl_->info);
}

Result<DecoderResult> SamModel::Decode(const Embedding& embedding, const DecoderPrompt& prompt) const {
  return impl_->adapter->Decode(embedding, prompt, impl_->info, *impl_->decoders, /*graph_masks=*/false);
}

Result<DecoderResult> SamModel::DecodeWithGraphMasks(const Embedding& embedding,
                                                     const DecoderPrompt& prompt) const {
  SessionPool& whole = impl_->whole_decoder ? *impl_->whole_decoder : *impl_->decoders;
  return impl_->adapter->Decode(embedding, prompt, impl_->info, whole, /*graph_masks=*/true);
}

std::string OnnxRuntimeVersion() { return OrtGetApiBase()->GetVersionString(); }

}  // namespace samcache
