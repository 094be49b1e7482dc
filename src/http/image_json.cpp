#include "http/image_json.h"

#include "image/perceptual_hash.h"

namespace samcache {

using json = nlohmann::json;

json PerceptualHashJson(const ImageRecord& image) {
  return image.perceptual_hash ? json(PerceptualHashHex(image.perceptual_hash->hash)) : json(nullptr);
}

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
              {"perceptual_hash", PerceptualHashJson(image)},
              {"embedding_cached", embedding_cached},
              {"url", "/api/sam/image/" + image.id},
              {"thumb_url", "/api/sam/image/" + image.id + "/thumb"}};
}

json DatasetJson(const DatasetRecord& d) {
  return json{{"id", d.id},
              {"dataset_id", d.id},
              {"name", d.name},
              {"created_at", d.created_at},
              {"image_count", d.image_count},
              {"project_id", d.project_id}};
}

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

}  // namespace samcache
