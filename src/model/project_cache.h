// The embedding cache as one project sees it (issue 15, "disclosure scoped to what the caller
// can see"). Storage and compute are shared by content, but "cached" is said to a project
// only for a picture whose embedding is in the store under the project's key AND that the
// project has claimed (access/claims.h): otherwise an upload or a count would tell that
// another project has the picture.
//
// Every route and job that asks for an embedding on behalf of a project goes through here:
// SourceFor (the project's cache key), CachedFor (what it may be told), ClaimFor (after the
// project asked for the embedding and got it).
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <string>
#include <vector>

#include "access/claims.h"
#include "catalog/records.h"
#include "model/embedding_service.h"

namespace samcache {

class ProjectCache {
 public:
  // `embeddings` and `claims` must outlive this object; `model_id` is the active model's.
  ProjectCache(EmbeddingService& embeddings, ClaimBook& claims, std::string model_id);

  ClaimBook& claims() { return claims_; }
  const std::string& model_id() const { return model_id_; }

  // The image's source with the project's cache hash.
  ImageSource SourceFor(const ImageRecord& image, const std::string& project_id) const;
  ImageSource SourceFor(const ImageKey& image, const std::string& project_id) const;
  // The project's cache hash of each pixel hash, in order.
  std::vector<std::string> CacheHashes(const std::string& project_id,
                                       const std::vector<std::string>& pixel_hashes) const;

  // For each image: in the store under the project's key and claimed by the project for the
  // active model. One store query and one catalog query for the whole list; a catalog error
  // is logged and answers "not cached".
  std::vector<bool> CachedFor(const std::string& project_id, const std::vector<ImageRecord>& images);
  std::vector<bool> CachedFor(const std::string& project_id, const std::vector<std::string>& pixel_hashes);
  // For each pixel hash: claimed by the project for the active model (store not asked). A
  // catalog error is logged and answers "not claimed".
  std::vector<bool> ClaimedBy(const std::string& project_id, const std::vector<std::string>& pixel_hashes);

  // Records that the project asked for (and got) these pictures' embeddings. A failure is
  // logged, never fails a request: the project is only told "not cached" later.
  void ClaimFor(const std::string& project_id, const std::vector<std::string>& pixel_hashes);

 private:
  EmbeddingService& embeddings_;
  ClaimBook& claims_;
  const std::string model_id_;
};

}  // namespace samcache
