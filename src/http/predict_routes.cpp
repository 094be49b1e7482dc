// Segmentation: the models, a click's masks (POST /api/sam/predict), an image's embedding
// as .npy or .safetensors, and the warm-up a labelling page asks for ahead of the next image.
// Each takes `model` (an id or a name; http/model_param.h), else the default model.
#include <spdlog/spdlog.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

#include "app/app.h"
#include "common/crypto.h"
#include "http/ids.h"
#include "http/input_limits.h"
#include "http/json_reply.h"
#include "http/model_param.h"
#include "http/predict_body.h"
#include "http/route.h"
#include "http/scope.h"
#include "model/model_family.h"
#include "model/npy.h"
#include "model/segmenter.h"
#include "store/safetensors.h"

namespace samcache {
namespace {

using json = nlohmann::json;

// "format": one name or a list of distinct names; "rle" is always included.
Status ParseFormats(const json& format, PredictRequest& request) {
  constexpr std::string_view kKnown = "use \"rle\", \"polygon\" or \"png\"";
  bool rle = false;
  auto add = [&](const json& f) -> Status {
    if (!f.is_string()) {
      return Status::InvalidArgument("format: each entry must be a string (" + std::string(kKnown) + ")");
    }
    const std::string& name = f.get_ref<const std::string&>();
    bool* wanted = name == "rle"       ? &rle
                   : name == "polygon" ? &request.want_polygon
                   : name == "png"     ? &request.want_png
                                       : nullptr;
    if (wanted == nullptr) {
      return Status::InvalidArgument("format: unknown format " + ShortPrefix(name) + " (" +
                                     std::string(kKnown) + ")");
    }
    if (*wanted) return Status::InvalidArgument("format: \"" + name + "\" is listed twice");
    *wanted = true;
    return Status::Ok();
  };
  if (!format.is_array()) return add(format);
  if (format.size() > kMaxPredictFormats) {
    return Status::InvalidArgument("format: at most " + std::to_string(kMaxPredictFormats) + " names (" +
                                   std::string(kKnown) + ", each once)");
  }
  for (const json& f : format) SAMCACHE_RETURN_IF_ERROR(add(f));
  return Status::Ok();
}

// Parses the JSON body of POST /api/sam/predict. Errors name the field that is wrong.
// `model` (not a prompt) is left to ModelFor.
Result<PredictRequest> ParsePredictRequest(const json& j) {
  PredictRequest request;
  if (!j.contains("image_id") || !j["image_id"].is_string() || j["image_id"].get<std::string>().empty()) {
    return Status::InvalidArgument("image_id: required, the id of an uploaded image (a string)");
  }
  request.image_id = j["image_id"].get<std::string>();
  SAMCACHE_RETURN_IF_ERROR(CheckId(request.image_id, "image"));
  auto number = [](const json& v, const std::string& field) -> Result<float> {
    if (!v.is_number()) return Status::InvalidArgument(field + " must be a number");
    return static_cast<float>(v.get<double>());
  };
  if (j.contains("points") && !j["points"].is_null()) {
    const json& points = j["points"];
    if (!points.is_array())
      return Status::InvalidArgument("points must be an array of {x, y, label} objects");
    if (points.size() > kMaxPromptPoints) {
      return Status::InvalidArgument("points: at most " + std::to_string(kMaxPromptPoints) +
                                     " points per request (got " + std::to_string(points.size()) + ")");
    }
    for (size_t i = 0; i < points.size(); ++i) {
      const std::string field = "points[" + std::to_string(i) + "]";
      const json& p = points[i];
      if (!p.is_object() || !p.contains("x") || !p.contains("y")) {
        return Status::InvalidArgument(field + " must be an object with x, y and label");
      }
      SAMCACHE_ASSIGN_OR_RETURN(const float x, number(p["x"], field + ".x"));
      SAMCACHE_ASSIGN_OR_RETURN(const float y, number(p["y"], field + ".y"));
      int label = 1;
      if (p.contains("label")) {
        const json& l = p["label"];
        if (!l.is_number() || l.get<double>() != std::floor(l.get<double>()) ||
            std::fabs(l.get<double>()) > 1e6) {
          return Status::InvalidArgument(field + ".label must be 1 (foreground) or 0 (background)");
        }
        label = static_cast<int>(l.get<double>());
      }
      request.points.push_back(PromptPoint{x, y, label});
    }
  }
  if (j.contains("box") && !j["box"].is_null()) {
    const json& box = j["box"];
    if (!box.is_array() || box.size() != 4) {
      return Status::InvalidArgument("box must be an array of four numbers [x0, y0, x1, y1]");
    }
    std::array<float, 4> b{};
    for (size_t i = 0; i < 4; ++i) {
      SAMCACHE_ASSIGN_OR_RETURN(b[i], number(box[i], "box[" + std::to_string(i) + "]"));
    }
    request.box = b;
  }
  if (j.contains("multimask") && !j["multimask"].is_null()) {
    if (!j["multimask"].is_boolean()) return Status::InvalidArgument("multimask must be true or false");
    request.multimask = j["multimask"].get<bool>();
  }
  if (j.contains("refine_from") && !j["refine_from"].is_null()) {
    if (!j["refine_from"].is_string()) {
      return Status::InvalidArgument("refine_from must be the prediction_id of an earlier answer (a string)");
    }
    request.refine_from = j["refine_from"].get<std::string>();
    // Never made by this server: the same answer as an id it has forgotten.
    if (!IsId(request.refine_from)) {
      return Status::InvalidArgument("refine_from: no earlier prediction with id \"" +
                                     ShortPrefix(request.refine_from) + "\"");
    }
  }
  if (j.contains("format") && !j["format"].is_null()) {
    SAMCACHE_RETURN_IF_ERROR(ParseFormats(j["format"], request));
  }
  return request;
}

json ModelJson(const ModelInfo& info, bool ready) {
  return json{{"id", info.id},
              {"name", info.name},
              {"description", info.description},
              {"demo", info.demo},
              // The folder's name, not its path: no server path in an answer.
              {"source", std::filesystem::path(info.source).filename().string()},
              {"encoder_input", info.encoder_layout == EncoderLayout::kNchwNormalized ? "nchw" : "hwc"},
              {"input_size", info.input_side},
              {"embedding_shape", info.embedding_shapes.front()},
              {"embedding_tensors", EmbeddingTensorsJson(info)},
              {"intra_op_threads", info.intra_op_threads},
              {"family", std::string(FamilyName(info.family))},
              {"ready", ready}};  // false while the encoder warms up after loading
}

Result<Reply> Predict(App& app, const Request& req) {
  if (app.models().empty()) return NoModelReply();
  SAMCACHE_ASSIGN_OR_RETURN(
      const json body,
      ParseJsonObject(req.body, R"({"image_id": "...", "points": [{"x": 10, "y": 20, "label": 1}]})"));
  SAMCACHE_ASSIGN_OR_RETURN(PredictRequest request, ParsePredictRequest(body));
  SAMCACHE_ASSIGN_OR_RETURN(ServedModel* const model, ModelFor(app, req, &body));
  SAMCACHE_ASSIGN_OR_RETURN(const ScopedImage scoped, ImageFor(app, req, request.image_id, Role::kAnnotator));
  request.project_id = scoped.project_id;
  SAMCACHE_ASSIGN_OR_RETURN(const PredictResult result,
                            model->segmenter->Predict(request, [&req] { return req.ClientGone(); }));
  spdlog::info(
      "[PREDICT] image {} ({} point(s){}{}): embedding {} {:.0f} ms, decode {:.0f} ms, total {:.0f} ms",
      result.image_id, request.points.size(), request.box ? ", box" : "",
      request.refine_from.empty() ? "" : ", refined", result.embedding_cached ? "cached" : "computed",
      result.embedding_ms, result.decode_ms, result.total_ms);
  Reply reply;
  reply.content_type = "application/json";
  reply.body = PredictBody(result, model->info(), request.want_polygon, request.want_png);
  return reply;
}

// The file formats of an image's embedding.
enum class EmbeddingFile { kNpy, kSafetensors };

Result<Reply> EmbeddingDownload(App& app, const Request& req, const std::string& id, EmbeddingFile format) {
  if (app.models().empty()) return NoModelReply();
  SAMCACHE_ASSIGN_OR_RETURN(ServedModel* const model, ModelFor(app, req));
  const ModelInfo& info = model->info();
  // A .npy file holds one array: a model that caches several tensors (SAM 2) has them all
  // in the .safetensors file. Refused before anything is computed.
  if (format == EmbeddingFile::kNpy && info.embedding_names.size() != 1) {
    std::string names;
    for (const std::string& name : info.embedding_names) names += (names.empty() ? "" : ", ") + name;
    return Status::InvalidArgument("embedding.npy holds one tensor, and model " + info.name + " caches " +
                                   std::to_string(info.embedding_names.size()) + " per image (" + names +
                                   "): use GET /api/sam/image/" + ShortPrefix(id) +
                                   "/embedding.safetensors?model=" + info.id + " for all of them");
  }
  SAMCACHE_ASSIGN_OR_RETURN(const ScopedImage scoped, ImageFor(app, req, id, Role::kAnnotator));
  const ImageRecord& image = scoped.image;
  const std::string& project_id = scoped.project_id;
  ProjectCache& projects = *model->project_cache;
  // "cached" only for what the project itself asked for before (ProjectCache).
  const bool was_cached = projects.CachedFor(project_id, std::vector<ImageRecord>{image}).front();
  SAMCACHE_ASSIGN_OR_RETURN(const EmbeddingLookup lookup,
                            model->embeddings->Get(projects.SourceFor(image, project_id)));
  projects.ClaimFor(project_id, {image.pixel_hash});
  const Embedding& embedding = *lookup.embedding;
  Reply reply;
  reply.Header("X-Embedding", was_cached && lookup.cached ? "cached" : "computed")
      .Header("X-Model-Id", info.id);
  reply.content_type = "application/octet-stream";
  if (format == EmbeddingFile::kNpy) {
    // The decoder's input, the set's one tensor.
    const NamedTensor& tensor = embedding.tensors.front();
    reply.Header("X-Tensor-Name", tensor.name)
        .Header("Content-Disposition", "attachment; filename=\"" + image.id + ".npy\"");
    reply.body = EncodeNpyFloat32(tensor.shape, tensor.values.data());
    return reply;
  }
  // Every tensor, float32, under the image's pixel hash (which the image's JSON shows too).
  SAMCACHE_ASSIGN_OR_RETURN(reply.body,
                            EncodeSafetensors(EmbeddingKey{info.id, image.pixel_hash}, embedding));
  std::string names;
  for (const NamedTensor& tensor : embedding.tensors) names += (names.empty() ? "" : ",") + tensor.name;
  reply.Header("X-Tensor-Names", names)
      .Header("Content-Disposition", "attachment; filename=\"" + image.id + ".safetensors\"");
  return reply;
}

Result<Reply> Warm(App& app, const Request& req, const std::string& id) {
  if (app.models().empty()) return NoModelReply();
  SAMCACHE_ASSIGN_OR_RETURN(ServedModel* const model, ModelFor(app, req));
  SAMCACHE_ASSIGN_OR_RETURN(const ScopedImage scoped, ImageFor(app, req, id, Role::kAnnotator));
  const ImageRecord& image = scoped.image;
  const std::string& project_id = scoped.project_id;
  ProjectCache& projects = *model->project_cache;
  const bool was_cached = projects.CachedFor(project_id, std::vector<ImageRecord>{image}).front();
  SAMCACHE_ASSIGN_OR_RETURN(const PendingEmbedding pending,
                            model->embeddings->Request(projects.SourceFor(image, project_id)));
  // Claimed now: the run goes on and stores the embedding for the click to come (a claim
  // whose embedding never arrives says nothing, as "cached" also needs the store).
  projects.ClaimFor(project_id, {image.pixel_hash});
  // Not waited for: the run goes on and stores the embedding for the click to come.
  const bool cached = was_cached && pending.cached();
  return JsonReply(cached ? 200 : 202,
                   json{{"image_id", image.id}, {"embedding", cached ? "cached" : "computing"}});
}

Reply ModelsList(App& app) {
  const ServedModel* preferred = app.models().default_model();
  json list = json::array();
  for (const std::unique_ptr<ServedModel>& m : app.models().all()) {
    list.push_back(ModelSummaryJson(m->info(), m.get() == preferred, m->model->EncoderReady()));
  }
  return JsonReply(200, json{{"default_model", preferred != nullptr ? json(preferred->id()) : json(nullptr)},
                             {"models", std::move(list)}});
}

}  // namespace

void AddPredictRoutes(RouteTable& routes, const RouteContext& context) {
  App& app = context.app;
  routes.push_back({Method::kGet, "/api/sam/model", [&app](const Request& req) -> Result<Reply> {
                      if (app.models().empty()) return NoModelReply();
                      SAMCACHE_ASSIGN_OR_RETURN(ServedModel* const model, ModelFor(app, req));
                      return JsonReply(200, ModelJson(model->info(), model->model->EncoderReady()));
                    }});
  routes.push_back(
      {Method::kGet, "/api/sam/models", [&app](const Request&) -> Result<Reply> { return ModelsList(app); }});
  routes.push_back({Method::kPost, "/api/sam/predict",
                    [&app](const Request& req) { return Predict(app, req); },
                    /*upload=*/false, /*system=*/false, Access::kCaller, Metered::kClick});
  routes.push_back({Method::kGet, "/api/sam/image/{id}/embedding.npy", [&app](const Request& req) {
                      return EmbeddingDownload(app, req, req.param("id"), EmbeddingFile::kNpy);
                    }});
  routes.push_back({Method::kGet, "/api/sam/image/{id}/embedding.safetensors", [&app](const Request& req) {
                      return EmbeddingDownload(app, req, req.param("id"), EmbeddingFile::kSafetensors);
                    }});
  routes.push_back({Method::kPost, "/api/sam/image/{id}/warm",
                    [&app](const Request& req) { return Warm(app, req, req.param("id")); }});
}

}  // namespace samcache
