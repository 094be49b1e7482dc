// One image: its file, its thumbnail, and the pictures that look like it.
#include <nlohmann/json.hpp>

#include "app/app.h"
#include "http/ids.h"
#include "http/image_json.h"
#include "http/json_reply.h"
#include "http/route.h"
#include "http/scope.h"

namespace samcache {
namespace {

using json = nlohmann::json;

constexpr const char* kImmutable = "private, max-age=31536000, immutable";

Result<Reply> ImageFile(App& app, const Request& req, const std::string& id) {
  SAMCACHE_ASSIGN_OR_RETURN(const ScopedImage scoped, ImageFor(app, req, id, Role::kViewer));
  const ImageRecord& image = scoped.image;
  Result<std::string> bytes = app.blobs().Read(image.content_hash);
  if (!bytes.ok()) {
    return Status::IoError("the stored file of image " + image.id +
                           " cannot be read: " + bytes.status().message());
  }
  Reply reply;
  reply.Header("Content-Disposition", ContentDisposition("inline", image.filename))
      .Header("ETag", "\"" + image.content_hash + "\"")
      .Header("Cache-Control", kImmutable);
  reply.body = std::move(bytes).value();
  reply.content_type = image.mime_type;
  return reply;
}

Result<Reply> Thumbnail(App& app, const Request& req, const std::string& id) {
  SAMCACHE_ASSIGN_OR_RETURN(const ScopedImage scoped, ImageFor(app, req, id, Role::kViewer));
  const ImageRecord& image = scoped.image;
  SAMCACHE_ASSIGN_OR_RETURN(std::optional<BlobRecord> blob, app.catalog().FindBlob(image.content_hash));
  if (!blob) return Status::Internal("image without blob row: " + image.id);
  Reply reply;
  reply.Header("Cache-Control", kImmutable);
  reply.body = std::move(blob->thumb_jpeg);
  reply.content_type = "image/jpeg";
  return reply;
}

Result<Reply> Similar(App& app, const Request& req) {
  NearDuplicateFinder* finder = app.near_duplicates();
  if (finder == nullptr) return Status::Internal("near-duplicate detection is not running");
  SAMCACHE_ASSIGN_OR_RETURN(
      const int max_distance,
      IntParam(req, "max_distance", 0, kMaxNearDuplicateDistance, finder->default_distance()));
  SAMCACHE_ASSIGN_OR_RETURN(const int limit, IntParam(req, "limit", 1, 1000, 100));
  SAMCACHE_ASSIGN_OR_RETURN(const ScopedImage scoped, ImageFor(app, req, req.param("id"), Role::kViewer));
  const ImageRecord& image = scoped.image;
  // Only images of the same project: another project's are not the caller's to know of.
  SAMCACHE_ASSIGN_OR_RETURN(
      const std::vector<SimilarImage> similar,
      finder->FindSimilar(image, scoped.project_id, max_distance, static_cast<size_t>(limit)));
  json list = json::array();
  for (const SimilarImage& s : similar) list.push_back(SimilarJson(s));
  return JsonReply(200, json{{"image_id", image.id},
                             {"perceptual_hash", PerceptualHashJson(image)},
                             {"max_distance", max_distance},
                             {"similar", std::move(list)}});
}

}  // namespace

void AddImageRoutes(RouteTable& routes, const RouteContext& context) {
  App& app = context.app;
  routes.push_back({Method::kGet, "/api/sam/image/{id}",
                    [&app](const Request& req) { return ImageFile(app, req, req.param("id")); }});
  routes.push_back({Method::kGet, "/api/sam/image/{id}/thumb",
                    [&app](const Request& req) { return Thumbnail(app, req, req.param("id")); }});
  routes.push_back({Method::kGet, "/api/sam/image/{id}/similar",
                    [&app](const Request& req) { return Similar(app, req); }});
}

}  // namespace samcache
