// Routes of the samcache API. JSON lives here only: requests are parsed into plain values
// and domain results are turned into JSON at this edge. Every handler runs inside one
// wrapper, so any failure becomes a JSON {"error": ...} with the right status.
#include "http/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "app/app.h"
#include "http/annotation_routes.h"
#include "http/json_reply.h"
#include "http/metrics.h"
#include "http/prewarm_routes.h"
#include "http/web_routes.h"
#include "common/crypto.h"
#include "image/perceptual_hash.h"
#include "ingest/ingestor.h"
#include "model/npy.h"
#include "model/segmenter.h"
#include "similar/near_duplicates.h"

namespace samcache {
namespace {

using json = nlohmann::json;

json ImageJson(const ImageRecord& image, bool embedding_cached) {
  return json{{"id", image.id},
              {"dataset_id", image.dataset_id},
              {"filename", image.filename},
              {"width", image.width},
              {"height", image.height},
              {"content_hash", image.content_hash},
              {"pixel_hash", image.pixel_hash},
              {"format", image.format},
              {"mime_type", image.mime_type},
              {"byte_size", image.byte_size},
              {"position", image.position},
              {"created_at", image.created_at},
              {"perceptual_hash",
               image.perceptual_hash ? json(PerceptualHashHex(image.perceptual_hash->hash)) : json(nullptr)},
              {"embedding_cached", embedding_cached},
              {"url", "/api/sam/image/" + image.id},
              {"thumb_url", "/api/sam/image/" + image.id + "/thumb"}};
}

// One entry of an upload's "near_duplicates" or of GET /api/sam/image/{id}/similar.
json SimilarJson(const SimilarImage& s) {
  return json{{"image_id", s.image.id},
              {"dataset_id", s.image.dataset_id},
              {"dataset_name", s.dataset_name},
              {"filename", s.image.filename},
              {"distance", s.distance},
              {"mirrored", s.mirrored},
              {"relation", RelationName(s.relation)},
              {"thumb_url", "/api/sam/image/" + s.image.id + "/thumb"}};
}

// A whole-number query parameter in [min, max]; `fallback` when absent.
Result<int> IntParam(const httplib::Request& req, const std::string& name, int min, int max, int fallback) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  const std::string expected = name + " must be a whole number from " + std::to_string(min) + " to " +
                               std::to_string(max) + ", got \"" + text.substr(0, 32) + "\"";
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument(expected);
  }
  const int value = std::stoi(text);
  if (value < min || value > max) return Status::InvalidArgument(expected);
  return value;
}

json DatasetJson(const DatasetRecord& d) {
  return json{{"id", d.id}, {"dataset_id", d.id}, {"name", d.name},
              {"created_at", d.created_at}, {"image_count", d.image_count}};
}


// Reads a multipart body part by part, hashing each file while it streams in, and hands
// every complete file to the batch, which decodes it while the next ones arrive; memory
// holds only the few files in flight, not the whole request.
class MultipartUpload {
 public:
  explicit MultipartUpload(UploadBatch& batch) : batch_(batch) {}

  bool OnHeader(const httplib::MultipartFormData& header) {
    FinishPart();
    part_name_ = header.name;
    part_filename_ = header.filename;
    is_file_ = !header.filename.empty() || header.name == "images";
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

// Parses the JSON body of POST /api/sam/predict. Errors name the field that is wrong.
Result<PredictRequest> ParsePredictRequest(const std::string& body) {
  Result<json> parsed = ParseJsonObject(
      body, R"({"image_id": "...", "points": [{"x": 10, "y": 20, "label": 1}]})");
  if (!parsed.ok()) return parsed.status();
  json& j = *parsed;
  PredictRequest request;
  if (!j.contains("image_id") || !j["image_id"].is_string() || j["image_id"].get<std::string>().empty()) {
    return Status::InvalidArgument("image_id: required, the id of an uploaded image (a string)");
  }
  request.image_id = j["image_id"].get<std::string>();
  auto number = [](const json& v, const std::string& field) -> Result<float> {
    if (!v.is_number()) return Status::InvalidArgument(field + " must be a number");
    return static_cast<float>(v.get<double>());
  };
  if (j.contains("points") && !j["points"].is_null()) {
    const json& points = j["points"];
    if (!points.is_array()) return Status::InvalidArgument("points must be an array of {x, y, label} objects");
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
      Result<float> x = number(p["x"], field + ".x");
      if (!x.ok()) return x.status();
      Result<float> y = number(p["y"], field + ".y");
      if (!y.ok()) return y.status();
      int label = 1;
      if (p.contains("label")) {
        const json& l = p["label"];
        if (!l.is_number() || l.get<double>() != std::floor(l.get<double>()) || std::fabs(l.get<double>()) > 1e6) {
          return Status::InvalidArgument(field + ".label must be 1 (foreground) or 0 (background)");
        }
        label = static_cast<int>(l.get<double>());
      }
      request.points.push_back(PromptPoint{*x, *y, label});
    }
  }
  if (j.contains("box") && !j["box"].is_null()) {
    const json& box = j["box"];
    if (!box.is_array() || box.size() != 4) {
      return Status::InvalidArgument("box must be an array of four numbers [x0, y0, x1, y1]");
    }
    std::array<float, 4> b{};
    for (size_t i = 0; i < 4; ++i) {
      Result<float> v = number(box[i], "box[" + std::to_string(i) + "]");
      if (!v.ok()) return v.status();
      b[i] = *v;
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
  }
  if (j.contains("format") && !j["format"].is_null()) {
    json formats = j["format"].is_array() ? j["format"] : json::array({j["format"]});
    for (const json& f : formats) {
      const std::string name = f.is_string() ? f.get<std::string>() : f.dump();
      if (name == "rle") continue;  // always included
      if (name == "polygon") {
        request.want_polygon = true;
      } else if (name == "png") {
        request.want_png = true;
      } else {
        return Status::InvalidArgument("format: unknown format " + name + " (use \"rle\", \"polygon\" or \"png\")");
      }
    }
  }
  return request;
}

// Milliseconds to 0.01: finer digits are noise.
double Rounded(double ms) { return std::round(ms * 100.0) / 100.0; }

json PredictJson(const PredictResult& r, const ModelInfo& model, bool want_polygon, bool want_png) {
  json masks = json::array();
  for (const PredictedMask& m : r.masks) {
    json mask{{"rle", {{"size", {m.rle.height, m.rle.width}}, {"counts", m.rle.counts}}},
              {"bbox", m.bbox},
              {"area", m.area},
              {"score", m.score}};
    if (want_polygon) mask["polygons"] = m.polygons;
    if (want_png) mask["png_b64"] = Base64Encode(m.png);
    masks.push_back(std::move(mask));
  }
  return json{{"prediction_id", r.prediction_id},
              {"image_id", r.image_id},
              {"width", r.width},
              {"height", r.height},
              {"embedding", r.embedding_cached ? "cached" : "computed"},
              {"model", {{"id", model.id}, {"name", model.name}, {"demo", model.demo}}},
              {"masks", std::move(masks)},
              {"timings_ms",
               {{"embedding", Rounded(r.embedding_ms)}, {"decode", Rounded(r.decode_ms)},
                {"postprocess", Rounded(r.postprocess_ms)}, {"total", Rounded(r.total_ms)}}}};
}

json ModelJson(const ModelInfo& info) {
  return json{{"id", info.id},
              {"name", info.name},
              {"description", info.description},
              {"demo", info.demo},
              {"source", info.source},
              {"encoder_input", info.encoder_layout == EncoderLayout::kNchwNormalized ? "nchw" : "hwc"},
              {"input_size", info.input_side},
              {"embedding_shape", info.embedding_shape},
              {"intra_op_threads", info.intra_op_threads}};
}

}  // namespace

struct HttpServer::Impl {
  Impl(App& app, ServerOptions options) : app(app), options(std::move(options)) {}

  void Routes();
  // Everything but /healthz and /metrics.
  void ApiRoutes();
  // Whether each image's embedding is in the store for the active model (one batched lookup).
  std::vector<bool> Cached(const std::vector<ImageRecord>& images);
  void Upload(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader, std::optional<std::string> dataset_id);

  App& app;
  ServerOptions options;
  httplib::Server server;
  int port = 0;
  std::atomic<bool> stopping{false};
};

void HttpServer::Impl::Upload(const httplib::Request& req, httplib::Response& res,
                              const httplib::ContentReader& reader,
                              std::optional<std::string> dataset_id) {
  if (!req.is_multipart_form_data()) {
    return SendError(res, 400,
                     "expected a multipart/form-data body with image files in fields named "
                     "\"images\" (curl -F \"images=@img1.jpg\" ...)");
  }
  UploadBatch batch(app.ingestor(), app.catalog(), req.get_param_value("name"), dataset_id);
  MultipartUpload upload(batch);
  const bool complete = reader(
      [&](const httplib::MultipartFormData& header) { return upload.OnHeader(header); },
      [&](const char* data, size_t size) { return upload.OnData(data, size); });
  if (res.status == 413) {
    return SendError(res, 413,
                     "the upload is larger than the server's limit of " +
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
                      {"error", "the request body ended early, is not valid multipart data, or has a form field "
                                "over 4 KiB; "
                                "files after this point were not received"},
                      {"code", "invalid_argument"}});
  }
  if (upload.file_parts() == 0 && complete) {
    return SendError(res, 400,
                     "no image files in the request: send them as multipart/form-data file "
                     "fields named \"images\"");
  }
  if (batch.stored().empty()) {
    bool server_fault = !batch.rejected().empty();
    for (const RejectedFile& r : batch.rejected()) {
      server_fault = server_fault && (r.code == StatusCode::kIoError || r.code == StatusCode::kInternal);
    }
    const std::string message =
        upload.file_parts() == 0
            ? std::string("the request body is not valid multipart data")
            : "none of the " + std::to_string(upload.file_parts()) +
                  " file(s) could be stored; see \"errors\" for the reason for each";
    return SendJson(res, server_fault ? 500 : 400,
                    json{{"error", message}, {"errors", errors}, {"images", json::array()},
                         {"duplicates_found", 0}});
  }

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
  SendJson(res, 200, body);
}

std::vector<bool> HttpServer::Impl::Cached(const std::vector<ImageRecord>& images) {
  if (!app.embeddings()) return std::vector<bool>(images.size(), false);
  std::vector<std::string> hashes;
  hashes.reserve(images.size());
  for (const ImageRecord& image : images) hashes.push_back(image.pixel_hash);
  return app.embeddings()->AreCached(hashes);
}

void HttpServer::Impl::Routes() {
  auto& s = server;

  s.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    Result<CatalogStats> stats = app.catalog().Stats();
    if (!stats.ok()) return SendJson(res, 503, json{{"status", "unavailable"}, {"error", stats.status().message()}});
    SendJson(res, 200, json{{"status", "ok"}, {"schema_version", stats->schema_version}});
  });

  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(PrometheusMetrics(app), "text/plain; version=0.0.4; charset=utf-8");
  });

  if (!options.metrics_only) ApiRoutes();

  // Anything that reaches here with an error status and no body gets a JSON error.
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req, httplib::Response& res) -> httplib::Server::HandlerResponse {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (res.status) {
      case 404: message = "no such endpoint: " + req.method + " " + req.path; break;
      case 413: message = "the request is larger than the server's upload limit"; break;
      case 400:
        message = "malformed HTTP request (a POST without a body still needs Content-Length: 0, e.g. curl -d '')";
        break;
      default: message = "request failed with HTTP status " + std::to_string(res.status);
    }
    SendError(res, res.status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("[HTTP] {} {} failed: {}", req.method, req.path, what);
    SendError(res, 500, "internal error: " + what);
  });
  s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("[HTTP] {} {} {}", req.method, req.path, res.status);
  });
}

void HttpServer::Impl::ApiRoutes() {
  auto& s = server;

  s.Get("/api", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, json{{"service", "samcache"},
                            {"endpoints", {"POST /api/sam/dataset/init", "GET /api/sam/datasets",
                                           "GET /api/sam/dataset/{id}", "DELETE /api/sam/dataset/{id}",
                                           "POST /api/sam/dataset/{id}/images", "GET /api/sam/image/{id}",
                                           "GET /api/sam/image/{id}/thumb", "GET /api/sam/image/{id}/embedding.npy",
                                           "GET /api/sam/image/{id}/similar", "GET /api/sam/model",
                                           "POST /api/sam/predict", "POST /api/sam/dataset/{id}/prewarm",
                                           "GET /api/sam/prewarm/{job_id}", "GET /api/sam/prewarm/{job_id}/events",
                                           "DELETE /api/sam/prewarm/{job_id}", "POST /api/sam/prewarm/{job_id}/resume",
                                           "GET /api/sam/image/{id}/annotations", "POST /api/sam/image/{id}/annotations",
                                           "PUT /api/sam/annotation/{id}", "DELETE /api/sam/annotation/{id}",
                                           "GET /api/sam/dataset/{id}/export/coco", "POST /api/sam/image/{id}/warm",
                                           "GET /api/sam/stats", "GET /metrics",
                                           "GET /healthz"}}});
  });

  s.Post("/api/sam/dataset/init", [this](const httplib::Request& req, httplib::Response& res,
                                         const httplib::ContentReader& reader) {
    Upload(req, res, reader, std::nullopt);
  });

  s.Post(R"(/api/sam/dataset/([^/]+)/images)",
         [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
           Result<DatasetRecord> dataset = app.catalog().GetDataset(req.matches[1]);
           if (!dataset.ok()) return SendStatus(res, dataset.status());
           Upload(req, res, reader, dataset->id);
         });

  s.Get("/api/sam/datasets", [this](const httplib::Request&, httplib::Response& res) {
    Result<std::vector<DatasetRecord>> datasets = app.catalog().ListDatasets();
    if (!datasets.ok()) return SendStatus(res, datasets.status());
    json list = json::array();
    for (const DatasetRecord& d : *datasets) list.push_back(DatasetJson(d));
    SendJson(res, 200, json{{"datasets", std::move(list)}});
  });

  s.Get(R"(/api/sam/dataset/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Result<DatasetRecord> dataset = app.catalog().GetDataset(req.matches[1]);
    if (!dataset.ok()) return SendStatus(res, dataset.status());
    Result<std::vector<ImageRecord>> images = app.catalog().ListImages(dataset->id);
    if (!images.ok()) return SendStatus(res, images.status());
    json body = DatasetJson(*dataset);
    json list = json::array();
    std::vector<bool> cached = Cached(*images);
    Result<std::vector<std::pair<std::string, int64_t>>> annotation_counts =
        app.catalog().CountAnnotationsPerImage(dataset->id);
    if (!annotation_counts.ok()) return SendStatus(res, annotation_counts.status());
    const std::map<std::string, int64_t> annotations(annotation_counts->begin(), annotation_counts->end());
    Result<std::vector<PixelCopy>> copies = app.catalog().ListPixelCopies(dataset->id);
    if (!copies.ok()) return SendStatus(res, copies.status());
    std::map<std::string, std::string> originals;
    for (PixelCopy& copy : *copies) originals.emplace(std::move(copy.image_id), std::move(copy.original_image_id));
    for (size_t i = 0; i < images->size(); ++i) {
      const ImageRecord& image = (*images)[i];
      json entry = ImageJson(image, cached[i]);
      auto count = annotations.find(image.id);
      entry["annotation_count"] = count == annotations.end() ? 0 : count->second;
      auto original = originals.find(image.id);
      entry["duplicate_of"] = original == originals.end() ? json(nullptr) : json(original->second);
      list.push_back(std::move(entry));
    }
    body["images"] = std::move(list);
    body["embeddings_cached"] = std::count(cached.begin(), cached.end(), true);
    // So a page opened mid-prewarm can follow the job that runs.
    body["prewarm_job"] = nullptr;
    if (app.model() != nullptr) {
      Result<std::optional<PrewarmJobRecord>> job =
          app.catalog().FindUnfinishedPrewarmJob(dataset->id, app.model()->info().id);
      if (job.ok() && *job) {
        body["prewarm_job"] = {{"job_id", (*job)->id}, {"status", (*job)->status},
                               {"events_url", "/api/sam/prewarm/" + (*job)->id + "/events"}};
      }
    }
    SendJson(res, 200, body);
  });

  s.Delete(R"(/api/sam/dataset/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    Result<DeleteOutcome> deleted = app.ingestor().DeleteDataset(id);
    if (!deleted.ok()) return SendStatus(res, deleted.status());
    spdlog::info("[DATASET] deleted {} ({} blob file(s) no longer referenced removed)", id,
                 deleted->blobs_removed);
    SendJson(res, 200, json{{"deleted", id}, {"blobs_removed", deleted->blobs_removed}});
  });

  s.Get(R"(/api/sam/image/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Result<ImageRecord> image = app.catalog().GetImage(req.matches[1]);
    if (!image.ok()) return SendStatus(res, image.status());
    Result<std::string> bytes = app.blobs().Read(image->content_hash);
    if (!bytes.ok()) {
      return SendStatus(res, Status::IoError("the stored file of image " + image->id +
                                             " cannot be read: " + bytes.status().message()));
    }
    res.set_header("Content-Disposition", ContentDisposition("inline", image->filename));
    res.set_header("ETag", "\"" + image->content_hash + "\"");
    res.set_header("Cache-Control", "private, max-age=31536000, immutable");
    res.set_content(std::move(bytes).value(), image->mime_type);
  });

  s.Get(R"(/api/sam/image/([^/]+)/thumb)", [this](const httplib::Request& req, httplib::Response& res) {
    Result<ImageRecord> image = app.catalog().GetImage(req.matches[1]);
    if (!image.ok()) return SendStatus(res, image.status());
    Result<std::optional<BlobRecord>> blob = app.catalog().FindBlob(image->content_hash);
    if (!blob.ok()) return SendStatus(res, blob.status());
    if (!blob->has_value()) return SendStatus(res, Status::Internal("image without blob row: " + image->id));
    res.set_header("Cache-Control", "private, max-age=31536000, immutable");
    res.set_content(std::move((*blob)->thumb_jpeg), "image/jpeg");
  });

  s.Get(R"(/api/sam/image/([^/]+)/similar)", [this](const httplib::Request& req, httplib::Response& res) {
    NearDuplicateFinder* finder = app.near_duplicates();
    if (finder == nullptr) return SendStatus(res, Status::Internal("near-duplicate detection is not running"));
    Result<int> max_distance = IntParam(req, "max_distance", 0, kMaxNearDuplicateDistance, finder->default_distance());
    if (!max_distance.ok()) return SendStatus(res, max_distance.status());
    Result<int> limit = IntParam(req, "limit", 1, 1000, 100);
    if (!limit.ok()) return SendStatus(res, limit.status());
    Result<ImageRecord> image = app.catalog().GetImage(req.matches[1]);
    if (!image.ok()) return SendStatus(res, image.status());
    Result<std::vector<SimilarImage>> similar =
        finder->FindSimilar(*image, *max_distance, static_cast<size_t>(*limit));
    if (!similar.ok()) return SendStatus(res, similar.status());
    json list = json::array();
    for (const SimilarImage& s : *similar) list.push_back(SimilarJson(s));
    SendJson(res, 200,
             json{{"image_id", image->id},
                  {"perceptual_hash",
                   image->perceptual_hash ? json(PerceptualHashHex(image->perceptual_hash->hash)) : json(nullptr)},
                  {"max_distance", *max_distance},
                  {"similar", std::move(list)}});
  });

  s.Get("/api/sam/stats", [this](const httplib::Request&, httplib::Response& res) {
    Result<CatalogStats> stats = app.catalog().Stats();
    if (!stats.ok()) return SendStatus(res, stats.status());
    json body{{"datasets", stats->datasets}, {"images", stats->images},
              {"distinct_blobs", stats->blobs}, {"blob_bytes", stats->blob_bytes},
              {"schema_version", stats->schema_version}};
    if (app.embeddings()) {
      EncoderStats encoder = app.embeddings()->Stats();
      body["model_id"] = app.model()->info().id;
      body["embeddings"] = {{"model_entries", app.embedding_store()->EntriesFor(app.model()->info().id)},
                            {"encoder_runs", encoder.runs},
                            {"encoder_failures", encoder.failures},
                            {"encoder_seconds", encoder.encoder_seconds},
                            {"joined_runs", encoder.joined},
                            {"rejected_busy", encoder.rejected},
                            {"remote_joined", encoder.remote_joined}};
      for (const TierStats& tier : app.tier_stats()) {
        body["embeddings"][tier.name] = {{"entries", tier.entries}, {"bytes", tier.bytes}, {"hits", tier.hits},
                                         {"misses", tier.misses}, {"evictions", tier.evictions}};
      }
      if (app.redis_tier() != nullptr) {
        const RedisTierStats redis = app.redis_tier()->Details();
        json& tier = body["embeddings"]["redis"];
        tier["url"] = app.redis_tier_url();
        tier["errors"] = redis.errors;
        tier["corrupt"] = redis.corrupt;
        tier["connected"] = redis.connected;
        if (app.redis_lease() != nullptr) {
          const LeaseStats lease = app.redis_lease()->Stats();
          tier["leases"] = {{"acquired", lease.acquired}, {"held_elsewhere", lease.held_elsewhere},
                            {"unavailable", lease.unavailable}, {"lost", lease.lost}, {"held", lease.held}};
        }
      }
    }
    SendJson(res, 200, body);
  });

  s.Get("/api/sam/model", [this](const httplib::Request&, httplib::Response& res) {
    if (!app.model()) return SendError(res, 503, "no model is loaded");
    SendJson(res, 200, ModelJson(app.model()->info()));
  });

  s.Post("/api/sam/predict", [this](const httplib::Request& req, httplib::Response& res) {
    if (!app.segmenter()) return SendError(res, 503, "no model is loaded");
    Result<PredictRequest> request = ParsePredictRequest(req.body);
    if (!request.ok()) return SendStatus(res, request.status());
    Result<PredictResult> result = app.segmenter()->Predict(*request);
    if (!result.ok()) {
      if (result.status().code() == StatusCode::kUnavailable) res.set_header("Retry-After", "2");
      return SendStatus(res, result.status());
    }
    spdlog::info("[PREDICT] image {} ({} point(s){}{}): embedding {} {:.0f} ms, decode {:.0f} ms, total {:.0f} ms",
                 result->image_id, request->points.size(), request->box ? ", box" : "",
                 request->refine_from.empty() ? "" : ", refined", result->embedding_cached ? "cached" : "computed",
                 result->embedding_ms, result->decode_ms, result->total_ms);
    SendJson(res, 200, PredictJson(*result, app.model()->info(), request->want_polygon, request->want_png));
  });

  s.Get(R"(/api/sam/image/([^/]+)/embedding\.npy)", [this](const httplib::Request& req, httplib::Response& res) {
    if (!app.embeddings()) return SendError(res, 503, "no model is loaded");
    Result<ImageRecord> image = app.catalog().GetImage(req.matches[1]);
    if (!image.ok()) return SendStatus(res, image.status());
    Result<EmbeddingLookup> lookup = app.embeddings()->Get(ImageSource{image->content_hash, image->pixel_hash});
    if (!lookup.ok()) {
      if (lookup.status().code() == StatusCode::kUnavailable) res.set_header("Retry-After", "2");
      return SendStatus(res, lookup.status());
    }
    // The decoder's input; SAM has no other tensor.
    const NamedTensor& tensor = lookup->embedding->tensors.front();
    res.set_header("X-Embedding", lookup->cached ? "cached" : "computed");
    res.set_header("X-Model-Id", app.model()->info().id);
    res.set_header("X-Tensor-Name", tensor.name);
    res.set_header("Content-Disposition", "attachment; filename=\"" + image->id + ".npy\"");
    res.set_content(EncodeNpyFloat32(tensor.shape, tensor.values.data()), "application/octet-stream");
  });

  AddPrewarmRoutes(s, app, stopping);
  AddAnnotationRoutes(s, app);
  AddWebRoutes(s, options.web_dir);
}

HttpServer::HttpServer(App& app, ServerOptions options)
    : impl_(std::make_unique<Impl>(app, std::move(options))) {
  impl_->server.set_payload_max_length(impl_->options.max_upload_bytes);
  const int threads = std::max(1, impl_->options.threads);
  impl_->server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  impl_->server.set_read_timeout(60, 0);
  impl_->Routes();
}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::Bind() {
  auto& o = impl_->options;
  const int port = o.port == 0 ? impl_->server.bind_to_any_port(o.host)
                               : (impl_->server.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) {
    return Status::IoError("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                           " (is another server using the port?)");
  }
  impl_->port = port;
  return port;
}

Status HttpServer::Run() {
  if (!impl_->server.listen_after_bind()) return Status::IoError("the HTTP server stopped with an error");
  return Status::Ok();
}

void HttpServer::Stop() {
  impl_->stopping = true;
  impl_->server.stop();
}

}  // namespace samcache
