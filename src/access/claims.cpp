#include "access/claims.h"

#include <algorithm>

#include "common/crypto.h"

namespace samcache {

std::string_view CacheScopeName(CacheScope scope) {
  return scope == CacheScope::kProject ? "project" : "global";
}

ClaimBook::ClaimBook(AccessCatalog& catalog, CacheScope scope)
    : catalog_(catalog), scope_(scope), recent_since_(std::chrono::steady_clock::now()) {}

std::string ClaimBook::CacheHash(const std::string& project_id, const std::string& pixel_hash) const {
  if (scope_ == CacheScope::kGlobal) return pixel_hash;
  return Sha256Hex("samcache project " + project_id + " picture " + pixel_hash);
}

Status ClaimBook::Claim(const std::string& project_id, const std::string& model_id,
                        const std::vector<std::string>& pixel_hashes) {
  std::vector<std::string> fresh;
  {
    std::lock_guard lock(mu_);
    // Forgotten every minute: a claim another instance's delete dropped is written again.
    if (std::chrono::steady_clock::now() - recent_since_ > std::chrono::minutes(1) ||
        recent_.size() > 100000) {
      recent_.clear();
      recent_since_ = std::chrono::steady_clock::now();
    }
    for (const std::string& hash : pixel_hashes) {
      if (recent_.insert(project_id + "/" + model_id + "/" + hash).second) fresh.push_back(hash);
    }
  }
  if (fresh.empty()) return Status::Ok();
  const Status added = catalog_.AddClaims(project_id, model_id, fresh);
  if (!added.ok()) {
    std::lock_guard lock(mu_);
    for (const std::string& hash : fresh) recent_.erase(project_id + "/" + model_id + "/" + hash);
  }
  return added;
}

void ClaimBook::ForgetRecent() {
  std::lock_guard lock(mu_);
  recent_.clear();
  recent_since_ = std::chrono::steady_clock::now();
}

Result<std::vector<bool>> ClaimBook::Claimed(const std::string& project_id, const std::string& model_id,
                                             const std::vector<std::string>& pixel_hashes) {
  SAMCACHE_ASSIGN_OR_RETURN(std::vector<std::string> claimed,
                            catalog_.FilterClaimed(project_id, model_id, pixel_hashes));
  std::sort(claimed.begin(), claimed.end());
  std::vector<bool> out;
  out.reserve(pixel_hashes.size());
  for (const std::string& hash : pixel_hashes)
    out.push_back(std::binary_search(claimed.begin(), claimed.end(), hash));
  return out;
}

}  // namespace samcache
