#include "app/model_set.h"

namespace samcache {
namespace {

// At most `max_chars` UTF-8 characters of client text, with "…" when cut.
std::string Prefix(std::string_view text, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // a continuation byte
    if (chars == max_chars) return std::string(text.substr(0, i)) + "…";
    ++chars;
  }
  return std::string(text);
}

}  // namespace

ModelSet::~ModelSet() {
  // Every model's runners stop taking jobs before any model goes; each PrewarmJobs then
  // waits for its own images in flight as it is destroyed.
  ShutdownPrewarm();
  // Destroyed last added first: the default (usually first) outlives the others.
  while (!models_.empty()) models_.pop_back();
}

Status CheckDistinctModels(const ModelInfo& a, const ModelInfo& b) {
  if (a.id == b.id) {
    return Status::InvalidArgument("two models with the same id " + b.id + ": " + a.source + " and " +
                                   b.source + " (the same encoder.onnx); give each model once");
  }
  if (a.name == b.name) {
    return Status::InvalidArgument("two models named \"" + b.name + "\": " + a.source + " and " + b.source +
                                   "; requests select a model by name, so give each its own \"name\" in "
                                   "model.json");
  }
  return Status::Ok();
}

Status ModelSet::Add(std::unique_ptr<ServedModel> model) {
  for (const std::unique_ptr<ServedModel>& other : models_) {
    SAMCACHE_RETURN_IF_ERROR(CheckDistinctModels(other->info(), model->info()));
  }
  models_.push_back(std::move(model));
  if (default_ == nullptr) default_ = models_.front().get();
  return Status::Ok();
}

Status ModelSet::SetDefault(std::string_view id_or_name) {
  ServedModel* found = Find(id_or_name);
  if (found == nullptr) {
    return Status::InvalidArgument("--default-model: no model \"" +
                                   Prefix(id_or_name, kModelSelectorEchoChars) +
                                   "\" is loaded (models: " + Names() + ")");
  }
  default_ = found;
  return Status::Ok();
}

ServedModel* ModelSet::Find(std::string_view id_or_name) const {
  for (const std::unique_ptr<ServedModel>& m : models_) {
    if (m->id() == id_or_name) return m.get();
  }
  for (const std::unique_ptr<ServedModel>& m : models_) {
    if (m->name() == id_or_name) return m.get();
  }
  return nullptr;
}

Result<ServedModel*> ModelSet::Select(std::string_view id_or_name) const {
  if (id_or_name.size() > kMaxModelSelectorBytes) {
    return Status::InvalidArgument("model: at most " + std::to_string(kMaxModelSelectorBytes) +
                                   " bytes (a model's id or name, see GET /api/sam/models)");
  }
  if (id_or_name.empty() && default_ != nullptr) return default_;
  ServedModel* found = Find(id_or_name);
  if (found == nullptr) {
    return Status::InvalidArgument("model: no model \"" + Prefix(id_or_name, kModelSelectorEchoChars) +
                                   "\" here (models: " + Names() + ")");
  }
  return found;
}

ServedModel* ModelSet::ById(std::string_view model_id) const {
  for (const std::unique_ptr<ServedModel>& m : models_) {
    if (m->id() == model_id) return m.get();
  }
  return nullptr;
}

std::string ModelSet::Names() const {
  std::string names;
  for (const std::unique_ptr<ServedModel>& m : models_) {
    if (!names.empty()) names += ", ";
    names += m->name();
  }
  return names;
}

void ModelSet::ShutdownPrewarm() {
  for (const std::unique_ptr<ServedModel>& m : models_) {
    if (m->prewarm) m->prewarm->Shutdown();
  }
}

}  // namespace samcache
