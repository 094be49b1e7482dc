#include "http/model_param.h"

#include "app/app.h"
#include "http/json_reply.h"
#include "model/model_family.h"

namespace samcache {

using json = nlohmann::json;

Reply NoModelReply() { return ErrorReply(503, "no model is loaded"); }

Result<ServedModel*> ModelFor(App& app, const Request& request, const json* body) {
  if (body != nullptr && body->is_object() && body->contains("model")) {
    const json& field = (*body)["model"];
    if (field.is_null()) return app.models().Select("");
    if (!field.is_string()) {
      return Status::InvalidArgument(
          "model must be a string: a model's id or name (see GET /api/sam/models)");
    }
    return app.models().Select(field.get_ref<const std::string&>());
  }
  return app.models().Select(request.query_value("model"));
}

json EmbeddingTensorsJson(const ModelInfo& info) {
  json tensors = json::array();
  for (size_t i = 0; i < info.embedding_names.size(); ++i) {
    const json shape = i < info.embedding_shapes.size() ? json(info.embedding_shapes[i]) : json(nullptr);
    tensors.push_back(json{{"name", info.embedding_names[i]}, {"shape", shape}});
  }
  return tensors;
}

json ModelSummaryJson(const ModelInfo& info, bool is_default, bool ready) {
  return json{{"id", info.id},
              {"name", info.name},
              {"family", std::string(FamilyName(info.family))},
              {"demo", info.demo},
              {"default", is_default},
              {"input_size", info.input_side},
              {"frame_fit", info.frame_fit == FrameFit::kStretch ? "stretch" : "longest-side"},
              {"max_points", info.max_points > 0 ? json(info.max_points) : json(nullptr)},
              {"embedding_tensors", EmbeddingTensorsJson(info)},
              {"embedding_bytes", info.embedding_bytes},
              {"ready", ready}};
}

}  // namespace samcache
