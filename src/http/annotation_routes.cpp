// Labelling endpoints: annotations (named masks) per image and the dataset's COCO export.
// The rules live in annotate/; here only requests and JSON.
#include <spdlog/spdlog.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "access/audit.h"
#include "annotate/annotation_rules.h"
#include "annotate/coco_export.h"
#include "app/app.h"
#include "common/bounded_json.h"
#include "http/ids.h"
#include "http/json_reply.h"
#include "http/model_param.h"
#include "http/page_params.h"
#include "http/route.h"
#include "http/scope.h"
#include "service/page_cursor.h"

namespace samcache {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxAnnotationPage = 1000;

constexpr std::string_view kAnnotationExample =
    R"({"category": "cat", "segmentation": {"size": [480, 640], "counts": "..."}})";

json AnnotationJson(const AnnotationRecord& a) {
  // Stored as the client sent it, so read with the same bounds as a request (an older
  // server kept prompts of any depth): one that fails shows as null.
  json prompt = nullptr;
  if (!a.prompt_json.empty()) {
    Result<json> parsed = ParseBoundedJson(a.prompt_json, JsonLimits{.max_bytes = a.prompt_json.size()});
    if (parsed.ok()) prompt = std::move(parsed).value();
  }
  return json{{"id", a.id},
              {"image_id", a.image_id},
              {"dataset_id", a.dataset_id},
              {"category", a.category},
              {"segmentation", {{"size", {a.mask_height, a.mask_width}}, {"counts", a.rle_counts}}},
              {"bbox", a.bbox},
              {"area", a.area},
              {"score", a.score ? json(*a.score) : json(nullptr)},
              {"prompt", std::move(prompt)},
              {"model_id", a.model_id},
              {"created_at", a.created_at},
              {"updated_at", a.updated_at}};
}

// A page of the image's annotations in creation order (`limit` 1..1000, default 1000; `cursor`
// a next_cursor of an earlier answer for this image).
Result<Reply> ListAnnotations(App& app, const Request& req, const std::string& image_id) {
  SAMCACHE_ASSIGN_OR_RETURN(const int64_t limit,
                            Int64Param(req, "limit", 1, kMaxAnnotationPage, kMaxAnnotationPage));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string cursor_text, CursorParam(req));
  SAMCACHE_ASSIGN_OR_RETURN(const ScopedImage scoped, ImageFor(app, req, image_id, Role::kViewer));
  const ImageRecord& image = scoped.image;
  const std::string listing = "annotations\n" + image.id;
  SAMCACHE_ASSIGN_OR_RETURN(const std::string key, app.catalog().CursorKey());
  int64_t after = -1;
  if (!cursor_text.empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(const PageCursor cursor, DecodeCursor(cursor_text, listing, key));
    after = cursor.position;
  }
  // One more than the page: is there a next one?
  SAMCACHE_ASSIGN_OR_RETURN(
      std::vector<AnnotationRecord> annotations,
      app.catalog().ListAnnotationsPage(image.id, after, static_cast<size_t>(limit) + 1));
  json next = nullptr;
  if (annotations.size() > static_cast<size_t>(limit)) {
    annotations.pop_back();
    next = EncodeCursor({PageCursor::Direction::kAfter, annotations.back().position, ""}, listing, key);
  }
  json list = json::array();
  for (const AnnotationRecord& a : annotations) list.push_back(AnnotationJson(a));
  return JsonReply(200, json{{"image_id", image.id},
                             {"annotations", std::move(list)},
                             {"page", {{"limit", limit}, {"next_cursor", next}}}});
}

Result<Reply> Create(App& app, const Request& req) {
  SAMCACHE_ASSIGN_OR_RETURN(const ScopedImage scoped, ImageFor(app, req, req.param("id"), Role::kAnnotator));
  const ImageRecord& image = scoped.image;
  SAMCACHE_ASSIGN_OR_RETURN(const json body, ParseJsonObject(req.body, kAnnotationExample));
  // The model that made the mask (`model`: an id or name; default: the default model).
  std::string model_id;
  if (!app.models().empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(ServedModel* const model, ModelFor(app, req, &body));
    model_id = model->id();
  } else if (body.contains("model") && !body["model"].is_null()) {
    return Status::InvalidArgument("model: this server runs without a model");
  }
  SAMCACHE_ASSIGN_OR_RETURN(const AnnotationRecord a, CreateAnnotation(app.catalog(), image, body, model_id));
  Audit(CallerOf(req).Who(), "annotation.create", a.id + " on image " + image.id);
  Reply reply = JsonReply(201, AnnotationJson(a));
  reply.Header("Location", "/api/sam/annotation/" + a.id);
  return reply;
}

Result<Reply> Update(App& app, const Request& req) {
  SAMCACHE_ASSIGN_OR_RETURN(ScopedAnnotation scoped,
                            AnnotationFor(app, req, req.param("id"), Role::kAnnotator));
  AnnotationRecord a = std::move(scoped.annotation);
  const ImageRecord& image = scoped.image;
  SAMCACHE_ASSIGN_OR_RETURN(const json body, ParseJsonObject(req.body, kAnnotationExample));
  SAMCACHE_ASSIGN_OR_RETURN(a, UpdateAnnotation(app.catalog(), std::move(a), image, body));
  return JsonReply(200, AnnotationJson(a));
}

Result<Reply> Delete(App& app, const Request& req, const std::string& id) {
  SAMCACHE_RETURN_IF_ERROR(AnnotationFor(app, req, id, Role::kAnnotator));
  SAMCACHE_RETURN_IF_ERROR(app.catalog().DeleteAnnotation(id));
  Audit(CallerOf(req).Who(), "annotation.delete", id);
  return JsonReply(200, json{{"deleted", id}});
}

// The document is streamed: a few pieces per pump step while the client keeps up, so memory
// stays at a page of rows and the socket's buffer. A failure midway cuts the connection
// (the chunked body never ends), so no complete-looking file is left behind.
constexpr size_t kExportPieceBytes = 64 * 1024;
constexpr size_t kExportBufferedBytes = 256 * 1024;  // below the transport's backlog limit
constexpr int kExportPiecesPerStep = 16;

Result<Reply> Coco(App& app, const Request& req, const std::string& dataset_id) {
  SAMCACHE_RETURN_IF_ERROR(DatasetFor(app, req, dataset_id, Role::kViewer));
  SAMCACHE_ASSIGN_OR_RETURN(CocoWriter opened, CocoWriter::Open(app.catalog(), dataset_id));
  Audit(CallerOf(req).Who(), "dataset.export", dataset_id + " as COCO");
  auto writer = std::make_shared<CocoWriter>(std::move(opened));
  Reply reply;
  reply.status = 200;
  reply.content_type = "application/json";
  reply.Header("Content-Disposition",
               ContentDisposition("attachment", ExportText(writer->dataset().name) + ".coco.json"));
  reply.stream = [writer](ReplySink& sink) -> bool {
    for (int piece = 0; piece < kExportPiecesPerStep && sink.Buffered() < kExportBufferedBytes; ++piece) {
      std::string bytes;
      Result<bool> more = writer->Next(bytes, kExportPieceBytes);
      if (!more.ok()) {
        spdlog::warn("[EXPORT] dataset {}: COCO export cut after {} annotation(s): {}", writer->dataset().id,
                     writer->annotations(), more.status().message());
        return false;
      }
      if (!bytes.empty() && !sink.Write(bytes)) return false;
      if (!*more) {
        const size_t categories = writer->categories();
        spdlog::info("[EXPORT] dataset {} ({}): COCO with {} image(s), {} annotation(s), {} categor{}",
                     writer->dataset().id, writer->dataset().name, writer->images(), writer->annotations(),
                     categories, categories == 1 ? "y" : "ies");
        sink.Done();
        return true;
      }
    }
    return true;
  };
  return reply;
}

}  // namespace

void AddAnnotationRoutes(RouteTable& routes, const RouteContext& context) {
  App& app = context.app;
  routes.push_back({Method::kGet, "/api/sam/image/{id}/annotations",
                    [&app](const Request& req) { return ListAnnotations(app, req, req.param("id")); }});
  routes.push_back({Method::kPost, "/api/sam/image/{id}/annotations",
                    [&app](const Request& req) { return Create(app, req); }});
  routes.push_back(
      {Method::kPut, "/api/sam/annotation/{id}", [&app](const Request& req) { return Update(app, req); }});
  routes.push_back({Method::kDelete, "/api/sam/annotation/{id}",
                    [&app](const Request& req) { return Delete(app, req, req.param("id")); }});
  routes.push_back({Method::kGet, "/api/sam/dataset/{id}/export/coco",
                    [&app](const Request& req) { return Coco(app, req, req.param("id")); }});
}

}  // namespace samcache
