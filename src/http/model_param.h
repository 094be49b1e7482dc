// Which of the loaded models a request means (`model`: an id or a name, in the JSON body or
// the query string), and how a model is described to clients.
#pragma once

#include <nlohmann/json.hpp>

#include "app/model_set.h"
#include "common/status.h"
#include "http/reply.h"
#include "http/request.h"

namespace samcache {

class App;

// The answer of every model route on a server without a model: 503 "no model is loaded".
Reply NoModelReply();

// The model the request names: `model` of `body` when given (a string, or null for the
// default), else the `model` query parameter, else the default model. InvalidArgument (400)
// for a `model` that is not a string, longer than kMaxModelSelectorBytes, or no loaded model's
// id or name; the message shows at most the first 64 characters of it. Callers check
// app.models().empty() first (NoModelReply).
Result<ServedModel*> ModelFor(App& app, const Request& request, const nlohmann::json* body = nullptr);

// GET /api/sam/models' entry for one model.
nlohmann::json ModelSummaryJson(const ModelInfo& info, bool is_default, bool ready);
// The tensors one image's cached embedding is made of: [{"name", "shape"}], in order.
nlohmann::json EmbeddingTensorsJson(const ModelInfo& info);

}  // namespace samcache
