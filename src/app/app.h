// The running parts of samcache for one data folder, opened once and shared by the
// commands (serve, ingest, migrate...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "access/claims.h"
#include "app/model_set.h"
#include "catalog/catalog.h"
#include "common/status.h"
#include "ingest/dataset_deleter.h"
#include "ingest/ingestor.h"
#include "jobs/prewarm_jobs.h"
#include "model/embedding_service.h"
#include "model/project_cache.h"
#include "model/sam_model.h"
#include "model/segmenter.h"
#include "similar/near_duplicates.h"
#include "store/blob_store.h"
#include "store/embedding_tier.h"
#include "store/key_lease.h"
#include "store/safetensors.h"  // StorageDtype
#include "store/space_reserve.h"

namespace samcache {

class DiskTier;
class MemoryTier;
class RedisClient;
class RedisKeyLease;
class RedisTier;
class TieredStore;

struct AppOptions {
  std::filesystem::path data_dir = "./data";
  // The catalog: a SQLite file path or a postgresql:// URL (see OpenCatalog). Default:
  // <data_dir>/samcache.db. Never log it as is: RedactCatalogLocation() drops a password.
  std::string catalog_path;
  PostgresOptions postgres;
  // Where the original files live (<blobs_dir>/ab/abcdef...); may be shared by several
  // instances. Default: <data_dir>/blobs, with in-flight writes in <data_dir>/tmp; a given
  // folder keeps them in <blobs_dir>/.tmp, on the same file system.
  std::filesystem::path blobs_dir;
  IngestOptions ingest;
  // Held back in <data_dir>/space-reserve so that data can be deleted through the service
  // when the disk is full (see SpaceReserve); 0: none.
  uint64_t space_reserve_bytes = uint64_t{8} << 20;
  int near_duplicate_distance = kDefaultNearDuplicateDistance;
  // Background deletion of datasets larger than one batch.
  DeleterOptions deleter;

  // Inference: loaded only by the commands that segment (serve, embed...).
  bool load_model = false;
  // The models to serve at once, in order; an empty path is the built-in demo model. No
  // entry: the built-in demo model alone. Two with the same id or name are refused.
  std::vector<std::filesystem::path> models;
  std::string default_model;  // id or name of one of them; empty: the first
  ModelOptions model;
  uint64_t memory_cache_bytes = uint64_t{1} << 30;
  size_t encoder_queue = 64;
  // Nice value of the embedding pipeline's prepare and store threads (EmbeddingService::Options).
  int pipeline_nice = 10;
  std::filesystem::path cache_dir;                // default: <data_dir>/embeddings
  uint64_t cache_max_bytes = uint64_t{10} << 30;  // 0: no limit
  // How new disk entries store their values; entries of either dtype are read.
  StorageDtype cache_dtype = StorageDtype::kF32;
  PrewarmJobs::Options prewarm;
  // Shared tier and per-key lease for several instances: redis://host:port[/db]; empty: none.
  std::string redis_url;
  // kProject: each project's embeddings are keyed apart (no timing channel between
  // projects, one encoder run per picture and project). See access/claims.h.
  CacheScope cache_scope = CacheScope::kGlobal;
};

class App {
 public:
  // Creates the data folder if needed, opens the catalog (applying migrations) and the
  // blob store, and with load_model the models and the embedding cache. InvalidArgument for
  // a malformed redis_url, two models with the same id or name, or a default_model that is
  // none of them; a Redis that cannot be reached is only a warning (the tier and
  // the lease answer misses until it can).
  static Result<std::unique_ptr<App>> Open(const AppOptions& options);
  ~App();

  Catalog& catalog() { return *catalog_; }
  BlobStore& blobs() { return *blobs_; }
  Ingestor& ingestor() { return *ingestor_; }
  // Background deletion of large datasets (serve starts it: DatasetDeleter::Start).
  DatasetDeleter& deleter() { return *deleter_; }
  // Null until EnableNearDuplicates().
  NearDuplicateFinder* near_duplicates() { return near_duplicates_.get(); }

  // Turns on near-duplicate detection: computes the perceptual hashes missing from content
  // stored before schema version 3, builds the index from the catalog and hands it to the
  // ingestor. Takes a while on a large catalog; call once, before serving.
  Status EnableNearDuplicates();
  const AppOptions& options() const { return options_; }

  // What each project has claimed of the embedding cache (always there: the catalog is).
  ClaimBook& claims() { return *claims_; }
  // The embedding cache as projects see it (the default model's): null without a model.
  ProjectCache* project_cache();
  // The image's embedding source under the project's cache key (works without a model).
  ImageSource SourceFor(const ImageRecord& image, const std::string& project_id);
  // For each image: in the store under the project's key and claimed by the project for the
  // default model (all false without a model; a catalog error is logged and says false).
  std::vector<bool> CachedFor(const std::string& project_id, const std::vector<ImageRecord>& images);
  // Records that the project asked for these pictures' embeddings under the default model.
  // Logs a failure, never fails; nothing without a model.
  void ClaimFor(const std::string& project_id, const std::vector<std::string>& pixel_hashes);

  // Every loaded model (empty without load_model). The accessors below are the default
  // model's parts; a request that names a model goes through models().Select.
  ModelSet& models() { return models_; }
  // Only with load_model (null otherwise): the default model.
  SamModel* model();
  // The whole cache: memory, then disk, then Redis when configured.
  EmbeddingTier* embedding_store();
  // Each tier's counters, in that order (empty without a model).
  std::vector<TierStats> tier_stats();
  // The lease several instances share per key (null without redis_url).
  KeyLease* key_lease();
  // The shared Redis (null without redis_url): also counts rate limits across instances.
  RedisClient* redis() { return redis_.get(); }
  EmbeddingService* embeddings();
  Segmenter* segmenter();
  PrewarmJobs* prewarm();

 private:
  // The parts that serve one model over the shared tiers (needs the store).
  std::unique_ptr<ServedModel> Serve(std::unique_ptr<SamModel> model);

  // Destroyed in reverse order: the models (prewarm runners, segmenters, services' threads)
  // before the tiers and the stores they use.
  AppOptions options_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<ClaimBook> claims_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<SpaceReserve> space_reserve_;           // used by the ingestor: declared before it
  std::unique_ptr<NearDuplicateFinder> near_duplicates_;  // used by the ingestor: declared before it
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<DatasetDeleter> deleter_;  // uses the finder and the claims: declared after them
  std::unique_ptr<MemoryTier> memory_tier_;
  std::unique_ptr<DiskTier> disk_tier_;
  std::unique_ptr<RedisClient> redis_;
  std::unique_ptr<RedisTier> redis_tier_;
  std::unique_ptr<RedisKeyLease> redis_lease_;
  std::unique_ptr<TieredStore> store_;
  std::mutex encoder_turn_;  // every model's encoder runs in turn (EmbeddingService::Options)
  ModelSet models_;          // their services use the store and the lease: destroyed first
};

}  // namespace samcache
