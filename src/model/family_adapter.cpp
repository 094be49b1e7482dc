#include "model/family_adapter.h"

#include <algorithm>
#include <filesystem>

namespace samcache {
namespace {

// A refusal lists this many differences at most: the first ones say what is wrong.
constexpr size_t kMaxListed = 4;

std::string FileName(const std::string& path) { return std::filesystem::path(path).filename().string(); }

// "decoder.onnx: looks like EfficientSAM but input 'orig_im_size' is float32, expected int64"
// (paths as the graphs name them; the other file's differences say their file).
std::string Describe(const ModelGraphs& graphs, const FamilyAdapter& adapter,
                     const std::vector<Difference>& differences, const std::string& lead) {
  const bool encoder_first = differences.front().in_encoder;
  std::string text = (encoder_first ? graphs.encoder_file : graphs.decoder_file) + ": " + lead +
                     std::string(adapter.display_name()) + " but ";
  for (size_t i = 0; i < differences.size() && i < kMaxListed; ++i) {
    if (i) text += "; ";
    if (differences[i].in_encoder != encoder_first) {
      text += FileName(differences[i].in_encoder ? graphs.encoder_file : graphs.decoder_file) + ": ";
    }
    text += differences[i].text;
  }
  if (differences.size() > kMaxListed) {
    text += "; and " + std::to_string(differences.size() - kMaxListed) + " more difference(s)";
  }
  return text;
}

}  // namespace

ResizedSize FamilyAdapter::InputSize(int height, int width, const ModelInfo& info) const {
  if (info.frame_fit == FrameFit::kStretch) return {info.input_side, info.input_side};
  return LongestSideSize(height, width, info.input_side);
}

std::vector<std::unique_ptr<FamilyAdapter>> MakeFamilyAdapters() {
  std::vector<std::unique_ptr<FamilyAdapter>> adapters;
  adapters.push_back(MakeSamAdapter());
  adapters.push_back(MakeSamHqAdapter());
  adapters.push_back(MakeEdgeSamAdapter());
  adapters.push_back(MakeSam2Adapter(/*full_size=*/false));
  adapters.push_back(MakeSam2Adapter(/*full_size=*/true));
  adapters.push_back(MakeEfficientSamAdapter());
  return adapters;
}

std::string SquareImageInputDifference(const ModelGraphs& graphs) {
  if (graphs.encoder_inputs.size() != 1) {
    return "expected one input 'image' [1,3,1024,1024], found " +
           std::to_string(graphs.encoder_inputs.size());
  }
  return TensorDifference(graphs.encoder_inputs, "input", graphs.encoder_inputs[0].name, {1, 3, 1024, 1024});
}

Result<std::unique_ptr<FamilyAdapter>> DetectFamily(const ModelGraphs& graphs,
                                                    std::optional<ModelFamily> stated) {
  std::vector<std::unique_ptr<FamilyAdapter>> adapters = MakeFamilyAdapters();
  std::unique_ptr<FamilyAdapter>* closest = nullptr;
  std::vector<Difference> closest_differences;
  for (std::unique_ptr<FamilyAdapter>& adapter : adapters) {
    if (stated && adapter->family() != *stated) continue;
    std::vector<Difference> differences = adapter->Differences(graphs);
    if (differences.empty()) return std::move(adapter);
    // Fewest differences; on a tie, fewest in the decoder (its signature tells families
    // apart best); then the earlier family (SAM, the most common export, first).
    auto in_decoder = [](const std::vector<Difference>& list) {
      return std::count_if(list.begin(), list.end(), [](const Difference& d) { return !d.in_encoder; });
    };
    if (!closest || differences.size() < closest_differences.size() ||
        (differences.size() == closest_differences.size() &&
         in_decoder(differences) < in_decoder(closest_differences))) {
      closest = &adapter;
      closest_differences = std::move(differences);
    }
  }
  if (!closest) return Status::Internal("no adapter for the stated family");
  const std::string lead = stated ? "model.json says " : "looks like ";
  return Status::InvalidArgument(Describe(graphs, **closest, closest_differences, lead));
}

Result<Embedding> RunEncoder(Ort::Session& encoder, const std::string& input_name, const PreparedImage& input,
                             const std::vector<EmbeddingPart>& parts, const std::string& model_id) {
  Feed feed;
  feed.Float(input_name, input.values.data(), input.values.size(), input.shape);
  std::vector<std::string> outputs;
  for (const EmbeddingPart& part : parts) outputs.push_back(part.encoder_output);
  SAMCACHE_ASSIGN_OR_RETURN(std::vector<Ort::Value> values, feed.Run(encoder, outputs, "encoder"));
  Embedding embedding;
  embedding.model_id = model_id;
  for (size_t i = 0; i < parts.size(); ++i) {
    const FloatView view = ViewOf(values[i]);
    if (!ShapeCompatible(view.shape, parts[i].shape) ||
        std::any_of(view.shape.begin(), view.shape.end(), [](int64_t d) { return d <= 0; })) {
      return Status::Internal("encoder returned '" + parts[i].encoder_output + "' with shape " +
                              ShapeString(view.shape) + ", expected " + ShapeString(parts[i].shape));
    }
    embedding.tensors.push_back(
        {parts[i].name, view.shape, std::vector<float>(view.data, view.data + view.count)});
  }
  return embedding;
}

Result<const NamedTensor*> EmbeddingTensor(const Embedding& embedding, const ModelInfo& info,
                                           const std::string& name) {
  const NamedTensor* tensor = embedding.Find(name);
  if (!tensor || embedding.model_id != info.id) {
    return Status::Internal("embedding was not made by model " + info.id);
  }
  return tensor;
}

EncodedPoints EncodePoints(const DecoderPrompt& prompt, float sx, float sy, bool pad_without_box) {
  EncodedPoints out;
  for (const PromptPoint& point : prompt.points) {
    out.coords.insert(out.coords.end(), {point.x * sx, point.y * sy});
    out.labels.push_back(static_cast<float>(point.label));
  }
  if (prompt.box) {
    const auto& box = *prompt.box;
    out.coords.insert(out.coords.end(), {box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy});
    out.labels.insert(out.labels.end(), {2.0f, 3.0f});
  } else if (pad_without_box) {
    out.coords.insert(out.coords.end(), {0.0f, 0.0f});
    out.labels.push_back(-1.0f);
  }
  return out;
}

Status CheckPointCount(const DecoderPrompt& prompt, const ModelInfo& info, std::string_view family) {
  const size_t count = prompt.points.size() + (prompt.box ? 2 : 0);
  if (info.max_points > 0 && count > static_cast<size_t>(info.max_points)) {
    return Status::InvalidArgument(
        "points: this model (" + std::string(family) + ") takes at most " + std::to_string(info.max_points) +
        " points per click, a box counting as two (got " + std::to_string(count) + ")");
  }
  return Status::Ok();
}

Status CheckPromptSize(const DecoderPrompt& prompt) {
  if (prompt.original_height <= 0 || prompt.original_width <= 0) {
    return Status::InvalidArgument("image size must be positive");
  }
  return Status::Ok();
}

Status FillLowRes(const FloatView& masks, const FloatView& scores, DecoderResult& result) {
  const std::vector<int64_t>& shape = masks.shape;
  bool ok = shape.size() >= 3;
  for (size_t i = 0; ok && i + 3 < shape.size(); ++i) ok = shape[i] == 1;
  if (!ok || shape[shape.size() - 3] < 1 || scores.count != static_cast<size_t>(shape[shape.size() - 3])) {
    return Status::Internal("decoder returned masks " + ShapeString(shape) + " and scores " +
                            ShapeString(scores.shape) + ", expected [1,M,h,w] and M scores");
  }
  result.mask_count = static_cast<int>(shape[shape.size() - 3]);
  result.low_res_height = static_cast<int>(shape[shape.size() - 2]);
  result.low_res_width = static_cast<int>(shape.back());
  result.low_res_logits.assign(masks.data, masks.data + masks.count);
  result.scores.assign(scores.data, scores.data + scores.count);
  return Status::Ok();
}

Status FillGraphMasks(const FloatView& masks, DecoderResult& result) {
  const std::vector<int64_t>& shape = masks.shape;
  if (shape.size() < 3 || shape[shape.size() - 3] != result.mask_count) {
    return Status::Internal("decoder returned masks " + ShapeString(shape));
  }
  result.graph_height = static_cast<int>(shape[shape.size() - 2]);
  result.graph_width = static_cast<int>(shape.back());
  result.graph_masks.assign(masks.data, masks.data + masks.count);
  return Status::Ok();
}

uint64_t EmbeddingBytes(const std::vector<std::vector<int64_t>>& shapes) {
  uint64_t total = 0;
  for (const std::vector<int64_t>& shape : shapes) {
    uint64_t bytes = sizeof(float);
    for (int64_t dim : shape) bytes *= dim > 0 ? static_cast<uint64_t>(dim) : 0;
    total += bytes;
  }
  return total;
}

}  // namespace samcache
