// What the embedding cache may say to a project. Storage and compute are shared by content
// (one encoder run per picture), but "cached" is only said to a project that has claimed the
// picture (catalog/access_catalog.h): otherwise an upload's answer would tell that another
// project has the same picture.
//
// CacheScope::kProject closes the remaining timing channel (a first click is instant because
// another project computed the embedding) for deployments that need it: the cache key's
// picture hash then includes the project, so each project computes its own embeddings.
#pragma once

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "catalog/access_catalog.h"
#include "common/status.h"

namespace samcache {

enum class CacheScope { kGlobal, kProject };

std::string_view CacheScopeName(CacheScope scope);  // "global", "project"

class ClaimBook {
 public:
  // `catalog` must outlive the book.
  ClaimBook(AccessCatalog& catalog, CacheScope scope);

  CacheScope scope() const { return scope_; }
  // The picture hash the embedding cache keys on for a project's image: the pixel hash
  // itself in the global scope, a hash of project and pixel hash in the project scope.
  std::string CacheHash(const std::string& project_id, const std::string& pixel_hash) const;

  // Records that the project asked for these pictures' embeddings under the model. Claims
  // this process made in the last minute are not written again (a click each second on one
  // picture costs no write).
  Status Claim(const std::string& project_id, const std::string& model_id,
               const std::vector<std::string>& pixel_hashes);
  // For each pixel hash: whether the project has claimed it for the model.
  Result<std::vector<bool>> Claimed(const std::string& project_id, const std::string& model_id,
                                    const std::vector<std::string>& pixel_hashes);
  // Forgets which claims this process wrote lately: after a delete dropped some, the next
  // Claim of them is written again at once, not a minute later.
  void ForgetRecent();

 private:
  AccessCatalog& catalog_;
  const CacheScope scope_;
  std::mutex mu_;
  std::set<std::string> recent_;  // project/model/pixel claimed by this process lately
  std::chrono::steady_clock::time_point recent_since_;
};

}  // namespace samcache
