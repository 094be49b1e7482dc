// Datasets: create one by uploading images, add images to one, list, show, delete.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "app/app.h"
#include "common/crypto.h"
#include "http/ids.h"
#include "http/image_json.h"
#include "http/json_reply.h"
#include "http/route.h"
#include "http/server.h"
#include "ingest/ingestor.h"
#include "service/dataset_view.h"

namespace samcache {
namespace {

using json = nlohmann::json;

// Takes a multipart body part by part, hashing each file while it streams in, and hands
// every complete file to the batch, which decodes it while the next ones arrive; memory
// holds only the few files in flight, not the whole request.
class MultipartUpload {
 public:
  explicit MultipartUpload(UploadBatch& batch) : batch_(batch) {}

  bool OnPart(const BodyPart& part) {
    FinishPart();
    part_name_ = part.name;
    part_filename_ = part.filename;
    is_file_ = !part.filename.empty() || part.name == "images";
    part_bytes_.clear();
    in_part_ = true;
    return true;
  }

  bool OnData(const char* data, size_t size) {
    if (is_file_) {
      hasher_.Update(data, size);
    } else if (part_bytes_.size() + size > kMaxFieldBytes) {
      return false;  // a form field, not a file: no reason for it to be large
    }
    part_bytes_.append(data, size);
    return true;
  }

  void FinishPart() {
    if (!in_part_) return;
    in_part_ = false;
    if (is_file_) {
      ++file_parts_;
      batch_.Add(IncomingFile{part_filename_, std::move(part_bytes_), hasher_.FinishHex()});
    } else if (part_name_ == "name" && !batch_.dataset_exists()) {
      batch_.set_dataset_name(part_bytes_);
    }
    part_bytes_ = std::string();
  }

  int file_parts() const { return file_parts_; }

 private:
  static constexpr size_t kMaxFieldBytes = 4096;

  UploadBatch& batch_;
  Sha256 hasher_;
  std::string part_name_;
  std::string part_filename_;
  std::string part_bytes_;
  bool is_file_ = false;
  bool in_part_ = false;
  int file_parts_ = 0;
};

// The answer to an upload of which at least one file was stored.
Reply UploadReply(const UploadBatch& batch, json errors) {
  json images = json::array();
  int64_t cached = 0;
  int64_t pending = 0;
  for (const IngestedImage& img : batch.stored()) {
    cached += img.embedding_cached ? 1 : 0;
    pending += img.duplicate && !img.embedding_cached ? 1 : 0;
    json j = ImageJson(img.image, img.embedding_cached);
    j["duplicate"] = img.duplicate;
    j["embedding_cached"] = img.embedding_cached;
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

// POST /api/sam/dataset/init (a new dataset) and /api/sam/dataset/{id}/images.
Result<Reply> Upload(App& app, const ServerOptions& options, const Request& req,
                     std::optional<std::string> dataset_id) {
  if (!req.multipart || req.parts == nullptr) {
    return ErrorReply(400,
                      "expected a multipart/form-data body with image files in fields named "
                      "\"images\" (curl -F \"images=@img1.jpg\" ...)");
  }
  UploadBatch batch(app.ingestor(), app.catalog(), req.query_value("name"), dataset_id);
  MultipartUpload upload(batch);
  const bool complete =
      req.parts->Read([&](const BodyPart& part) { return upload.OnPart(part); },
                      [&](const char* data, size_t size) { return upload.OnData(data, size); });
  if (req.parts->TooLarge()) {
    return ErrorReply(413, "the upload is larger than the server's limit of " +
                               std::to_string(options.max_upload_bytes >> 20) +
                               " MiB; send fewer or smaller files per request");
  }
  if (complete) upload.FinishPart();
  batch.Finish();

  json errors = json::array();
  for (const RejectedFile& r : batch.rejected()) {
    errors.push_back({{"filename", r.filename}, {"error", r.error}, {"code", CodeName(r.code)}});
  }
  if (!complete) {
    errors.push_back({{"filename", nullptr},
                      {"error",
                       "the request body ended early, is not valid multipart data, or has a form field "
                       "over 4 KiB; "
                       "files after this point were not received"},
                      {"code", "invalid_argument"}});
  }
  if (upload.file_parts() == 0 && complete) {
    return ErrorReply(400,
                      "no image files in the request: send them as multipart/form-data file "
                      "fields named \"images\"");
  }
  if (!batch.stored().empty()) return UploadReply(batch, std::move(errors));

  bool server_fault = !batch.rejected().empty();
  for (const RejectedFile& r : batch.rejected()) {
    server_fault = server_fault && (r.code == StatusCode::kIoError || r.code == StatusCode::kInternal);
  }
  const std::string message = upload.file_parts() == 0
                                  ? std::string("the request body is not valid multipart data")
                                  : "none of the " + std::to_string(upload.file_parts()) +
                                        " file(s) could be stored; see \"errors\" for the reason for each";
  return JsonReply(
      server_fault ? 500 : 400,
      json{{"error", message}, {"errors", errors}, {"images", json::array()}, {"duplicates_found", 0}});
}

Result<Reply> ListDatasets(App& app) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<DatasetRecord> datasets, app.catalog().ListDatasets());
  json list = json::array();
  for (const DatasetRecord& d : datasets) list.push_back(DatasetJson(d));
  return JsonReply(200, json{{"datasets", std::move(list)}});
}

Result<Reply> ShowDataset(App& app, const std::string& id) {
  SAMCACHE_RETURN_IF_ERROR(CheckId(id, "dataset"));
  const std::string model_id = app.model() != nullptr ? app.model()->info().id : std::string();
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetView view,
                            LoadDatasetView(app.catalog(), app.embeddings(), model_id, id));
  json body = DatasetJson(view.dataset);
  json list = json::array();
  for (const DatasetViewImage& entry : view.images) {
    json image = ImageJson(entry.image, entry.embedding_cached);
    image["annotation_count"] = entry.annotation_count;
    image["duplicate_of"] = entry.duplicate_of ? json(*entry.duplicate_of) : json(nullptr);
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
  return JsonReply(200, body);
}

Result<Reply> DeleteDataset(App& app, const std::string& id) {
  SAMCACHE_RETURN_IF_ERROR(CheckId(id, "dataset"));
  SAMCACHE_ASSIGN_OR_RETURN(const DeleteOutcome deleted, app.ingestor().DeleteDataset(id));
  spdlog::info("[DATASET] deleted {} ({} blob file(s) no longer referenced removed)", id,
               deleted.blobs_removed);
  return JsonReply(200, json{{"deleted", id}, {"blobs_removed", deleted.blobs_removed}});
}

}  // namespace

void AddDatasetRoutes(RouteTable& routes, const RouteContext& context) {
  App& app = context.app;
  const ServerOptions& options = context.options;
  routes.push_back({Method::kPost, "/api/sam/dataset/init",
                    [&app, &options](const Request& req) { return Upload(app, options, req, std::nullopt); },
                    /*streams_body=*/true});
  routes.push_back({Method::kPost, "/api/sam/dataset/{id}/images",
                    [&app, &options](const Request& req) -> Result<Reply> {
                      SAMCACHE_RETURN_IF_ERROR(CheckId(req.param("id"), "dataset"));
                      SAMCACHE_ASSIGN_OR_RETURN(const DatasetRecord dataset,
                                                app.catalog().GetDataset(req.param("id")));
                      return Upload(app, options, req, dataset.id);
                    },
                    /*streams_body=*/true});
  routes.push_back({Method::kGet, "/api/sam/datasets", [&app](const Request&) { return ListDatasets(app); }});
  routes.push_back({Method::kGet, "/api/sam/dataset/{id}",
                    [&app](const Request& req) { return ShowDataset(app, req.param("id")); }});
  routes.push_back({Method::kDelete, "/api/sam/dataset/{id}",
                    [&app](const Request& req) { return DeleteDataset(app, req.param("id")); }});
}

}  // namespace samcache
