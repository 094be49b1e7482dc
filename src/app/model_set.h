// The models one process serves at once, each with its own embedding service, project cache,
// segmenter and prewarm jobs over the tiers and the lease the App shares between them (the
// model id is part of every cache key, so models never see each other's embeddings).
//
// One model is the default: what a request that names none gets, and what App::model() and
// the other single-model accessors mean. A request names a model by its id (16 hex digits of
// its encoder's hash) or by its name (model.json's "name").
//
// Thread-safety: built once at start (Add, SetDefault), then only read: every const method
// may be called from any thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "jobs/prewarm_jobs.h"
#include "model/embedding_service.h"
#include "model/project_cache.h"
#include "model/sam_model.h"
#include "model/segmenter.h"

namespace samcache {

// The longest `model` a request may send: longer is refused before any lookup.
inline constexpr size_t kMaxModelSelectorBytes = 256;
// How much of an unknown `model` an error message shows.
inline constexpr size_t kModelSelectorEchoChars = 64;

// One loaded model and what serves it. Members are destroyed in reverse order: the prewarm
// runners and the segmenter before the service's threads, the service before the model.
struct ServedModel {
  std::unique_ptr<SamModel> model;
  std::unique_ptr<EmbeddingService> embeddings;
  std::unique_ptr<ProjectCache> project_cache;
  std::unique_ptr<Segmenter> segmenter;
  std::unique_ptr<PrewarmJobs> prewarm;

  const ModelInfo& info() const { return model->info(); }
  const std::string& id() const { return model->info().id; }
  const std::string& name() const { return model->info().name; }
};

// InvalidArgument naming both folders when two models have the same id or the same name
// (a request could not tell them apart).
Status CheckDistinctModels(const ModelInfo& a, const ModelInfo& b);

class ModelSet {
 public:
  ModelSet() = default;
  ~ModelSet();
  ModelSet(const ModelSet&) = delete;
  ModelSet& operator=(const ModelSet&) = delete;

  // CheckDistinctModels against every model already here. The first one added is the
  // default until SetDefault.
  Status Add(std::unique_ptr<ServedModel> model);
  // InvalidArgument (listing the models) when no model has this id or name.
  Status SetDefault(std::string_view id_or_name);

  bool empty() const { return models_.empty(); }
  size_t size() const { return models_.size(); }
  // Null when empty.
  ServedModel* default_model() const { return default_; }
  // In the order they were added (the command line's).
  const std::vector<std::unique_ptr<ServedModel>>& all() const { return models_; }

  // The model with this id or name; null when none.
  ServedModel* Find(std::string_view id_or_name) const;
  // The model a request names: the default for an empty selector; InvalidArgument
  // `model: no model "<first 64 characters>" here (models: <names>)` for an unknown one,
  // (so also for any selector when the set is empty), and `model: at most 256 bytes ...` for
  // a longer one, before any lookup.
  Result<ServedModel*> Select(std::string_view id_or_name) const;
  // The model whose id this is (a prewarm job's model_id); null when this process does not
  // have it.
  ServedModel* ById(std::string_view model_id) const;

  // The names of every model, comma-separated, for messages.
  std::string Names() const;
  // Asks every model's prewarm jobs to stop taking jobs (the destructor waits for them).
  void ShutdownPrewarm();

 private:
  std::vector<std::unique_ptr<ServedModel>> models_;
  ServedModel* default_ = nullptr;
};

}  // namespace samcache
