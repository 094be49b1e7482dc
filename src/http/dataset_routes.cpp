// Datasets: create one by uploading images, add images to one, list, show, delete.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "access/audit.h"
#include "app/app.h"
#include "common/crypto.h"
#include "common/files.h"
#include "http/ids.h"
#include "http/image_json.h"
#include "http/json_reply.h"
#include "http/model_param.h"
#include "http/page_params.h"
#include "http/route.h"
#include "http/scope.h"
#include "http/server.h"
#include "ingest/ingestor.h"
#include "service/dataset_view.h"
#include "service/page_cursor.h"

namespace samcache {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxNameBytes = 255;
constexpr int64_t kMaxDatasetListLimit = 1000;

// A file or dataset name as a client sent it, cut to a length a person can read (not
// refused: the upload itself is fine), at a UTF-8 character boundary.
std::string ClippedName(const std::string& name) {
  if (name.size() <= kMaxNameBytes) return name;
  size_t end = kMaxNameBytes;
  while (end > 0 && (static_cast<unsigned char>(name[end]) & 0xC0) == 0x80) --end;
  return name.substr(0, end);
}

// For each stored image, {"<model id>": cached, ...} over every loaded model: the default
// model's from the upload's own look (as `embedding_cached`), the others' in one query each.
std::vector<json> CachedPerModel(App& app, const UploadBatch& batch, const std::string& project_id) {
  std::vector<json> per_image(batch.stored().size(), json::object());
  const ServedModel* preferred = app.models().default_model();
  std::vector<ImageRecord> images;
  for (const IngestedImage& img : batch.stored()) images.push_back(img.image);
  for (const std::unique_ptr<ServedModel>& m : app.models().all()) {
    std::vector<bool> cached;
    if (m.get() != preferred) cached = m->project_cache->CachedFor(project_id, images);
    for (size_t i = 0; i < per_image.size(); ++i) {
      per_image[i][m->id()] = m.get() == preferred ? batch.stored()[i].embedding_cached : bool(cached[i]);
    }
  }
  return per_image;
}

// The answer to an upload of which at least one file was stored.
Reply UploadReply(App& app, const UploadBatch& batch, const std::string& project_id, json errors) {
  json images = json::array();
  int64_t cached = 0;
  int64_t pending = 0;
  std::vector<json> cached_models = CachedPerModel(app, batch, project_id);
  size_t index = 0;
  for (const IngestedImage& img : batch.stored()) {
    cached += img.embedding_cached ? 1 : 0;
    pending += img.duplicate && !img.embedding_cached ? 1 : 0;
    json j = ImageJson(img.image, img.embedding_cached);
    j["duplicate"] = img.duplicate;
    j["embedding_cached"] = img.embedding_cached;
    j["embedding_cached_models"] = std::move(cached_models[index++]);
    j["thumb_b64"] = Base64Encode(img.thumb_jpeg);
    json near = json::array();
    for (const SimilarImage& s : img.near_duplicates) near.push_back(SimilarJson(s));
    j["near_duplicates"] = std::move(near);
    images.push_back(std::move(j));
  }
  json body{{"dataset_id", batch.dataset_id()},
            {"name", batch.dataset_name()},
            {"images", std::move(images)},
            {"duplicates_found", batch.duplicates_found()},
            {"near_duplicates_found", batch.near_duplicates_found()},
            {"embeddings_cached", cached},
            {"duplicates_pending", pending},
            {"errors", std::move(errors)}};
  // The store is the truth about "cached", not the duplicate count.
  if (cached > 0) body["duplicates_message"] = DuplicatesMessage(cached);
  if (pending > 0) body["duplicates_pending_message"] = DuplicatesPendingMessage(pending);
  spdlog::info("[UPLOAD] dataset {}: {} stored, {} duplicate(s), {} rejected", batch.dataset_id(),
               batch.stored().size(), batch.duplicates_found(), batch.rejected().size());
  return JsonReply(200, body);
}

// The value of a plain form field, or empty.
std::string FormField(const Request& req, const std::string& name) {
  if (req.upload == nullptr) return "";
  for (const UploadPart& part : req.upload->parts) {
    if (!part.is_file && part.header.name == name) return part.value;
  }
  return "";
}

// POST /api/sam/dataset/init (a new dataset) and /api/sam/dataset/{id}/images.
Result<Reply> Upload(App& app, const Request& req, std::optional<std::string> dataset_id) {
  std::string project_id;
  if (dataset_id) {
    SAMCACHE_ASSIGN_OR_RETURN(const DatasetRecord dataset,
                              DatasetFor(app, req, *dataset_id, Role::kAnnotator));
    project_id = dataset.project_id;
  } else {
    const std::string requested =
        req.has_query("project") ? req.query_value("project") : FormField(req, "project");
    SAMCACHE_ASSIGN_OR_RETURN(const ProjectRecord project, UploadProject(app, req, requested));
    project_id = project.id;
  }
  if (!req.multipart || req.upload == nullptr) {
    return ErrorReply(400,
                      "expected a multipart/form-data body with image files in fields named "
                      "\"images\" (curl -F \"images=@img1.jpg\" ...)");
  }
  // Decoding takes turns between clients (by address): one client's heavy files do not
  // hold up another's small upload.
  UploadBatch batch(app.ingestor(), app.catalog(), ClippedName(req.query_value("name")), dataset_id,
                    req.client_address, project_id);
  // The transport spooled every whole part to disk; each file goes to the batch, which
  // decodes it while the next one is read back, so memory holds only the few in flight.
  int file_parts = 0;
  for (const UploadPart& part : req.upload->parts) {
    if (!part.is_file) {
      if (part.header.name == "name" && !batch.dataset_exists())
        batch.set_dataset_name(ClippedName(part.value));
      continue;
    }
    ++file_parts;
    const std::string filename = ClippedName(part.header.filename);
    Result<std::string> bytes = ReadFile(part.spool_path);
    if (!bytes.ok()) {
      spdlog::error("[UPLOAD] cannot read back a spooled part: {}", bytes.status().message());
      bytes = Status::IoError("the server could not read back the uploaded file");
    }
    batch.Add(IncomingFile{filename, bytes.ok() ? std::move(*bytes) : std::string(), part.sha256_hex});
  }
  batch.Finish();
  if (!dataset_id && batch.dataset_exists()) {
    Audit(CallerOf(req).Who(), "dataset.create", batch.dataset_id() + " in project " + project_id);
  }

  json errors = json::array();
  for (const RejectedFile& r : batch.rejected()) {
    errors.push_back({{"filename", r.filename}, {"error", r.error}, {"code", CodeName(r.code)}});
  }
  const bool complete = req.upload->complete();
  if (!complete) {
    errors.push_back({{"filename", nullptr},
                      {"error", req.upload->problem + "; the part there and any after it were not received"},
                      {"code", "invalid_argument"}});
  }
  if (file_parts == 0 && complete) {
    return ErrorReply(400,
                      "no image files in the request: send them as multipart/form-data file "
                      "fields named \"images\"");
  }
  if (!batch.stored().empty()) return UploadReply(app, batch, project_id, std::move(errors));

  bool server_fault = !batch.rejected().empty();
  for (const RejectedFile& r : batch.rejected()) {
    server_fault = server_fault && (r.code == StatusCode::kIoError || r.code == StatusCode::kInternal);
  }
  const std::string message = file_parts == 0
                                  ? "the request body is not valid multipart data: " + req.upload->problem
                                  : "none of the " + std::to_string(file_parts) +
                                        " file(s) could be stored; see \"errors\" for the reason for each";
  return JsonReply(
      server_fault ? 500 : 400,
      json{{"error", message}, {"errors", errors}, {"images", json::array()}, {"duplicates_found", 0}});
}

// GET /api/sam/datasets: the caller's datasets, newest first, a page at a time. A cursor
// names the last dataset shown (created_at and id), so a dataset created meanwhile (it is
// newer) or deleted does not shift the pages after it.
Result<Reply> ListDatasets(App& app, const Request& req) {
  SAMCACHE_ASSIGN_OR_RETURN(const int64_t limit, Int64Param(req, "limit", 1, kMaxDatasetListLimit, 100));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string cursor_text, CursorParam(req));
  const Caller& caller = CallerOf(req);
  const std::string project = req.query_value("project");
  const std::string listing = "datasets\n" + project;
  SAMCACHE_ASSIGN_OR_RETURN(const std::string key, app.catalog().CursorKey());
  std::optional<PageCursor> cursor;
  if (!cursor_text.empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(cursor, DecodeCursor(cursor_text, listing, key));
  }
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<DatasetRecord> datasets, app.catalog().ListDatasets());
  std::vector<const DatasetRecord*> visible;
  for (const DatasetRecord& d : datasets) {
    if (caller.Sees(d.project_id) && (project.empty() || d.project_id == project)) visible.push_back(&d);
  }
  size_t begin = 0;
  if (cursor) {
    // Just after the cursor's dataset; if it was deleted, at the first one older than it.
    // The key is "<created_at>-<id>" (an id is 16 characters).
    const std::string& k = cursor->key;
    const std::string created_at = k.size() > 17 ? k.substr(0, k.size() - 17) : "";
    const std::string id = k.size() > 16 ? k.substr(k.size() - 16) : "";
    begin = visible.size();
    for (size_t i = 0; i < visible.size(); ++i) {
      if (visible[i]->id == id) {
        begin = i + 1;
        break;
      }
      if (visible[i]->created_at < created_at) {
        begin = i;
        break;
      }
    }
  }
  const size_t end = std::min(visible.size(), begin + static_cast<size_t>(limit));
  json list = json::array();
  for (size_t i = begin; i < end; ++i) list.push_back(DatasetJson(*visible[i]));
  json next = nullptr;
  if (end < visible.size() && end > begin) {
    const DatasetRecord& last = *visible[end - 1];
    next = EncodeCursor({PageCursor::Direction::kAfter, 0, last.created_at + "-" + last.id}, listing, key);
  }
  return JsonReply(200,
                   json{{"datasets", std::move(list)},
                        {"page", {{"limit", limit}, {"next_cursor", next}, {"matched", visible.size()}}}});
}

Result<Reply> ShowDataset(App& app, const Request& req, const std::string& id) {
  // `embedding_cached` and the prewarm job are the selected model's (`?model=`).
  ProjectCache* projects = nullptr;
  if (!app.models().empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(ServedModel* const model, ModelFor(app, req));
    projects = model->project_cache.get();
  } else if (req.has_query("model")) {
    return NoModelReply();
  }
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetPageRequest request, DatasetPageParams(req));
  SAMCACHE_RETURN_IF_ERROR(DatasetFor(app, req, id, Role::kViewer));
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetView view, LoadDatasetView(app.catalog(), projects, id, request));
  json body = DatasetJson(view.dataset);
  json list = json::array();
  for (const DatasetViewImage& entry : view.images) {
    json image = ImageJson(entry.image, entry.embedding_cached);
    image["annotation_count"] = entry.annotation_count;
    image["duplicate_of"] = entry.duplicate_of ? json(*entry.duplicate_of) : json(nullptr);
    image["near_duplicate"] = entry.near_duplicate;
    image["index"] = entry.index;
    list.push_back(std::move(image));
  }
  body["images"] = std::move(list);
  body["embeddings_cached"] = view.embeddings_cached;
  body["prewarm_job"] = nullptr;
  if (const std::optional<PrewarmJobRecord>& job = view.prewarm_job) {
    body["prewarm_job"] = {{"job_id", job->id},
                           {"status", job->status},
                           {"events_url", "/api/sam/prewarm/" + job->id + "/events"}};
  }
  auto optional = [](const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); };
  body["page"] = {{"limit", view.limit},
                  {"offset", view.offset},
                  {"matched", view.matched},
                  {"next_cursor", optional(view.next_cursor)},
                  {"prev_cursor", optional(view.prev_cursor)},
                  {"filter", ImageFilterName(request.filter)},
                  {"q", request.q}};
  const DatasetViewCounts& c = view.counts;
  body["counts"] = {{"all", c.all},
                    {"cached", c.cached},
                    {"not_cached", c.not_cached},
                    {"duplicates", c.duplicates},
                    {"near_duplicates", c.near_duplicates},
                    {"annotated", c.annotated}};
  return JsonReply(200, body);
}

Result<Reply> DeleteDataset(App& app, const Request& req, const std::string& id) {
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetRecord dataset, DatasetFor(app, req, id, Role::kAnnotator));
  SAMCACHE_ASSIGN_OR_RETURN(const DeleteOutcome deleted, app.ingestor().DeleteDataset(id));
  Audit(CallerOf(req).Who(), "dataset.delete",
        id + " '" + dataset.name + "' in project " + dataset.project_id);
  spdlog::info("[DATASET] deleted {} ({} blob file(s) no longer referenced removed)", id,
               deleted.blobs_removed);
  return JsonReply(200, json{{"deleted", id}, {"blobs_removed", deleted.blobs_removed}});
}

}  // namespace

void AddDatasetRoutes(RouteTable& routes, const RouteContext& context) {
  App& app = context.app;
  routes.push_back({Method::kPost, "/api/sam/dataset/init",
                    [&app](const Request& req) { return Upload(app, req, std::nullopt); },
                    /*upload=*/true, /*system=*/false, Access::kCaller, Metered::kUpload});
  routes.push_back({Method::kPost, "/api/sam/dataset/{id}/images",
                    [&app](const Request& req) { return Upload(app, req, req.param("id")); },
                    /*upload=*/true, /*system=*/false, Access::kCaller, Metered::kUpload});
  routes.push_back(
      {Method::kGet, "/api/sam/datasets", [&app](const Request& req) { return ListDatasets(app, req); }});
  routes.push_back({Method::kGet, "/api/sam/dataset/{id}",
                    [&app](const Request& req) { return ShowDataset(app, req, req.param("id")); }});
  routes.push_back({Method::kDelete, "/api/sam/dataset/{id}",
                    [&app](const Request& req) { return DeleteDataset(app, req, req.param("id")); }});
}

}  // namespace samcache
