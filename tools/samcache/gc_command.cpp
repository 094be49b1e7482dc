// `samcache gc`: removes stored files no catalog row refers to, embeddings no project claims
// any more, and keeps the embedding cache within its budget (optionally verifying every entry
// and dropping unused models).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "access/claims.h"
#include "app_options.h"
#include "command.h"
#include "store/blob_store.h"
#include "store/disk_tier.h"

namespace samcache {
namespace {

struct GcOptions {
  int grace_minutes = 60;
  bool dry_run = false;
  bool verify_cache = false;
  uint64_t cache_max_bytes = uint64_t{10} << 30;
  std::vector<std::string> drop_models;
  std::string cache_scope = "global";  // as `serve --cache-scope`: which key a claim keeps
};

struct GcArgs {
  CommonOptions common;
  GcOptions gc;
};

// The cache keys the claims of `model_id` keep: each claim's key in the scope, and in the
// project scope also the plain pixel-hash key of a claim from before projects ("*"), under
// which those embeddings were stored.
Result<std::unordered_set<std::string>> KeptKeys(Catalog& catalog, const ClaimBook& book,
                                                 const std::string& model_id) {
  std::unordered_set<std::string> kept;
  SAMCACHE_ASSIGN_OR_RETURN(const auto claims, catalog.ListClaims(model_id));
  for (const auto& [project_id, pixel_hash] : claims) kept.insert(book.CacheHash(project_id, pixel_hash));
  if (book.scope() == CacheScope::kProject) {
    SAMCACHE_ASSIGN_OR_RETURN(const auto legacy, catalog.ListClaims("*"));
    for (const auto& [project_id, pixel_hash] : legacy) kept.insert(pixel_hash);
  }
  return kept;
}

// Embeddings on disk that no project claims (their last image in every project was deleted)
// and that were not used within the grace period (a prewarm claims what it stored in batches).
// Returns how many were (or, dry, would be) removed.
Result<uint64_t> RemoveUnclaimed(Catalog& catalog, const CommonOptions& common, const GcOptions& o) {
  ClaimBook book(catalog, o.cache_scope == "project" ? CacheScope::kProject : CacheScope::kGlobal);
  DiskTier cache(CacheDir(common), 0);
  std::error_code ec;
  if (!std::filesystem::exists(CacheDir(common), ec)) return uint64_t{0};
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<DiskEntryFile> files, cache.ListEntryFiles());
  const auto cutoff = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(o.grace_minutes);
  std::map<std::string, std::unordered_set<std::string>> kept;  // per model, read when first needed
  uint64_t removed = 0;
  for (const DiskEntryFile& file : files) {
    if (file.last_used >= cutoff) continue;
    auto model = kept.find(file.key.model_id);
    if (model == kept.end()) {
      SAMCACHE_ASSIGN_OR_RETURN(auto keys, KeptKeys(catalog, book, file.key.model_id));
      model = kept.emplace(file.key.model_id, std::move(keys)).first;
    }
    if (model->second.count(file.key.pixel_hash) > 0) continue;
    if (o.dry_run) {
      ++removed;
      continue;
    }
    SAMCACHE_ASSIGN_OR_RETURN(const bool gone, cache.RemoveIfUnusedSince(file.key, cutoff));
    removed += gone ? 1 : 0;
  }
  return removed;
}

// The embedding cache: leftovers of crashed writes, the size budget, and on request a full
// read of every entry and the removal of models no longer used.
Status CleanEmbeddingCache(const CommonOptions& common, const GcOptions& o) {
  DiskTier cache(CacheDir(common), o.cache_max_bytes);
  // Before Init(), which would remove only those older than an hour, without counting them.
  const uint64_t temp_removed = cache.RemoveStaleTempFiles(std::chrono::minutes(o.grace_minutes));
  SAMCACHE_RETURN_IF_ERROR(cache.Init());
  for (const std::string& model_id : o.drop_models) {
    SAMCACHE_ASSIGN_OR_RETURN(const uint64_t dropped, cache.RemoveModel(model_id));
    std::printf("removed %llu embedding(s) of model %s\n", static_cast<unsigned long long>(dropped),
                model_id.c_str());
  }
  SAMCACHE_ASSIGN_OR_RETURN(const DiskVerifyOutcome checked, cache.Verify(o.verify_cache));
  std::printf(
      "embedding cache: %llu entr%s %s, %llu corrupt removed, %llu temp file(s) removed, %llu evicted "
      "for the %s budget; %.1f MB kept\n",
      static_cast<unsigned long long>(checked.checked), checked.checked == 1 ? "y" : "ies",
      o.verify_cache ? "read and verified" : "found",
      static_cast<unsigned long long>(checked.corrupt_removed),
      static_cast<unsigned long long>(temp_removed + checked.temp_removed),
      static_cast<unsigned long long>(cache.Stats().evictions),  // by Init and Verify
      o.cache_max_bytes == 0 ? "(unlimited)" : (std::to_string(o.cache_max_bytes >> 20) + " MiB").c_str(),
      static_cast<double>(checked.bytes_after) / 1e6);
  return Status::Ok();
}

int CollectGarbage(const CommonOptions& common, const GcOptions& o) {
  auto app = OpenApp(common);
  if (!app.ok()) return Fail(app.status());
  const BlobStore::GarbageReport r =
      (*app)->ingestor().CollectGarbage(std::chrono::minutes(o.grace_minutes), o.dry_run);
  std::printf("%s %zu of %zu stored file(s) without a catalog row (%.1f MB)\n",
              o.dry_run ? "would remove" : "removed", r.files_removed, r.files_seen,
              static_cast<double>(r.bytes_removed) / 1e6);
  std::printf("%s %zu temp file(s) of interrupted uploads\n", o.dry_run ? "would remove" : "removed",
              r.temp_removed);
  const Result<uint64_t> unclaimed = RemoveUnclaimed((*app)->catalog(), common, o);
  if (!unclaimed.ok()) return Fail(unclaimed.status());
  std::printf("%s %llu embedding(s) no project claims\n", o.dry_run ? "would remove" : "removed",
              static_cast<unsigned long long>(*unclaimed));
  if (o.dry_run) return 0;
  return ExitCode(CleanEmbeddingCache(common, o));
}

}  // namespace

Command AddGcCommand(CLI::App& cli) {
  auto args = std::make_shared<GcArgs>();
  GcOptions& o = args->gc;
  CLI::App* gc = cli.add_subcommand("gc",
                                    "Remove stored files no catalog row refers to, and keep the embedding "
                                    "cache within its budget");
  AddCommonOptions(gc, args->common);
  gc->add_option("--grace-minutes", o.grace_minutes,
                 "Leave files younger than this alone (an upload may be about to record them, "
                 "a temp file may be a write in progress)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  gc->add_flag("--dry-run", o.dry_run, "Only count the stored files that would be removed");
  gc->add_option("--cache-max-bytes", o.cache_max_bytes,
                 "Evict the least recently used embeddings beyond this many bytes (0: no limit)")
      ->capture_default_str();
  gc->add_flag("--verify-cache", o.verify_cache,
               "Read every cached embedding and remove those that fail their checksum");
  gc->add_option("--drop-model", o.drop_models, "Remove every cached embedding of this model id");
  gc->add_option("--cache-scope", o.cache_scope,
                 "The cache scope the server runs with (serve --cache-scope): global keys embeddings by "
                 "picture, project by project and picture; decides which embeddings the claims keep")
      ->capture_default_str()
      ->check(CLI::IsMember({"global", "project"}));
  return {gc, [args] { return CollectGarbage(args->common, args->gc); }};
}

}  // namespace samcache
