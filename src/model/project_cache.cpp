#include "model/project_cache.h"

#include <spdlog/spdlog.h>

namespace samcache {

ProjectCache::ProjectCache(EmbeddingService& embeddings, ClaimBook& claims, std::string model_id)
    : embeddings_(embeddings), claims_(claims), model_id_(std::move(model_id)) {}

ImageSource ProjectCache::SourceFor(const ImageRecord& image, const std::string& project_id) const {
  return ImageSource{image.content_hash, image.pixel_hash, claims_.CacheHash(project_id, image.pixel_hash)};
}

ImageSource ProjectCache::SourceFor(const ImageKey& image, const std::string& project_id) const {
  return ImageSource{image.content_hash, image.pixel_hash, claims_.CacheHash(project_id, image.pixel_hash)};
}

std::vector<std::string> ProjectCache::CacheHashes(const std::string& project_id,
                                                   const std::vector<std::string>& pixel_hashes) const {
  std::vector<std::string> out;
  out.reserve(pixel_hashes.size());
  for (const std::string& hash : pixel_hashes) out.push_back(claims_.CacheHash(project_id, hash));
  return out;
}

std::vector<bool> ProjectCache::CachedFor(const std::string& project_id,
                                          const std::vector<ImageRecord>& images) {
  std::vector<std::string> pixel_hashes;
  pixel_hashes.reserve(images.size());
  for (const ImageRecord& image : images) pixel_hashes.push_back(image.pixel_hash);
  return CachedFor(project_id, pixel_hashes);
}

std::vector<bool> ProjectCache::CachedFor(const std::string& project_id,
                                          const std::vector<std::string>& pixel_hashes) {
  if (pixel_hashes.empty()) return {};
  std::vector<bool> out = ClaimedBy(project_id, pixel_hashes);
  // The store is asked only about what the project claimed: the rest is "not cached" anyway.
  std::vector<std::string> claimed;
  for (size_t i = 0; i < pixel_hashes.size(); ++i) {
    if (out[i]) claimed.push_back(claims_.CacheHash(project_id, pixel_hashes[i]));
  }
  if (claimed.empty()) return out;
  const std::vector<bool> stored = embeddings_.AreCached(claimed);
  for (size_t i = 0, j = 0; i < out.size(); ++i) {
    if (out[i]) out[i] = stored[j++];
  }
  return out;
}

std::vector<bool> ProjectCache::ClaimedBy(const std::string& project_id,
                                          const std::vector<std::string>& pixel_hashes) {
  Result<std::vector<bool>> claimed = claims_.Claimed(project_id, model_id_, pixel_hashes);
  if (!claimed.ok()) {
    spdlog::warn("[CACHE] cannot read the embedding claims of project {}: {}; answering not cached",
                 project_id, claimed.status().message());
    return std::vector<bool>(pixel_hashes.size(), false);
  }
  return std::move(claimed).value();
}

void ProjectCache::ClaimFor(const std::string& project_id, const std::vector<std::string>& pixel_hashes) {
  if (pixel_hashes.empty()) return;
  const Status claimed = claims_.Claim(project_id, model_id_, pixel_hashes);
  if (!claimed.ok()) {
    spdlog::warn("[CACHE] cannot record that project {} uses {} embedding(s): {}", project_id,
                 pixel_hashes.size(), claimed.message());
  }
}

}  // namespace samcache
