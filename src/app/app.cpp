#include "app/app.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>

#include "image/image_decoder.h"
#include "store/disk_tier.h"
#include "store/memory_tier.h"
#include "store/redis_client.h"
#include "store/redis_lease.h"
#include "store/redis_tier.h"
#include "store/tiered_store.h"

namespace samcache {

Result<std::unique_ptr<App>> App::Open(const AppOptions& options) {
  std::optional<RedisEndpoint> redis;
  if (!options.redis_url.empty()) {  // checked before anything is opened or created
    SAMCACHE_ASSIGN_OR_RETURN(redis, ParseRedisUrl(options.redis_url));
  }
  KeepImageWorkOnCallingThreads();
  auto app = std::unique_ptr<App>(new App());
  app->options_ = options;
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec)
    return Status::IoError("cannot create data folder " + options.data_dir.string() + ": " + ec.message());
  if (app->options_.catalog_path.empty()) {
    app->options_.catalog_path = (options.data_dir / "samcache.db").string();
  }
  SAMCACHE_ASSIGN_OR_RETURN(app->catalog_, OpenCatalog(app->options_.catalog_path, options.postgres));
  app->claims_ = std::make_unique<ClaimBook>(*app->catalog_, options.cache_scope);
  app->blobs_ = options.blobs_dir.empty()
                    ? std::make_unique<BlobStore>(options.data_dir)
                    : std::make_unique<BlobStore>(options.blobs_dir, options.blobs_dir / ".tmp");
  SAMCACHE_RETURN_IF_ERROR(app->blobs_->Init());
  app->ingestor_ = std::make_unique<Ingestor>(*app->catalog_, *app->blobs_, options.ingest);
  app->space_reserve_ =
      std::make_unique<SpaceReserve>(options.data_dir / "space-reserve", options.space_reserve_bytes);
  app->space_reserve_->Restore();
  app->ingestor_->set_space_reserve(app->space_reserve_.get());
  app->ingestor_->set_claim_book(app->claims_.get());
  app->deleter_ = std::make_unique<DatasetDeleter>(*app->catalog_, *app->blobs_, options.deleter);
  app->deleter_->set_claim_book(app->claims_.get());
  if (!options.load_model) return app;

  // Every model is opened (and checked) before the caches: a bad folder fails fast.
  std::vector<std::unique_ptr<SamModel>> opened;
  const std::vector<std::filesystem::path> sources =
      options.models.empty() ? std::vector<std::filesystem::path>{std::filesystem::path()} : options.models;
  for (const std::filesystem::path& dir : sources) {
    SAMCACHE_ASSIGN_OR_RETURN(
        std::unique_ptr<SamModel> model,
        dir.empty() ? SamModel::OpenDemo(options.model) : SamModel::OpenFolder(dir, options.model));
    const ModelInfo& info = model->info();
    spdlog::info("[MODEL] {} (id {}, from {}, {} encoder input, {} threads){}", info.name, info.id,
                 info.source, info.encoder_layout == EncoderLayout::kNchwNormalized ? "NCHW" : "HWC",
                 info.intra_op_threads, info.demo ? " -- a demo model for trying samcache out, not SAM" : "");
    for (const std::unique_ptr<SamModel>& other : opened) {
      SAMCACHE_RETURN_IF_ERROR(CheckDistinctModels(other->info(), info));
    }
    opened.push_back(std::move(model));
  }
  app->memory_tier_ = std::make_unique<MemoryTier>(options.memory_cache_bytes);
  const std::filesystem::path cache_dir =
      options.cache_dir.empty() ? options.data_dir / "embeddings" : options.cache_dir;
  app->disk_tier_ = std::make_unique<DiskTier>(cache_dir, options.cache_max_bytes, options.cache_dtype);
  SAMCACHE_RETURN_IF_ERROR(app->disk_tier_->Init());
  std::vector<EmbeddingTier*> tiers{app->memory_tier_.get(), app->disk_tier_.get()};
  if (redis) {
    app->redis_ = std::make_unique<RedisClient>(*redis, RedisClient::Options{});
    app->redis_tier_ = std::make_unique<RedisTier>(*app->redis_, options.cache_dtype);
    app->redis_lease_ = std::make_unique<RedisKeyLease>(*app->redis_, RedisKeyLease::Options{});
    tiers.push_back(app->redis_tier_.get());
    if (Status reachable = app->redis_->Ping(); reachable.ok()) {
      spdlog::info("[REDIS] shared embedding tier and per-key leases at {}", redis->ToString());
    } else {
      spdlog::warn(
          "[REDIS] cannot reach {} at start ({}); serving from the local tiers and computing "
          "without leases until it answers",
          redis->ToString(), reachable.message());
    }
  }
  app->store_ = std::make_unique<TieredStore>(std::move(tiers));
  for (std::unique_ptr<SamModel>& model : opened) {
    SAMCACHE_RETURN_IF_ERROR(app->models_.Add(app->Serve(std::move(model))));
  }
  if (!options.default_model.empty())
    SAMCACHE_RETURN_IF_ERROR(app->models_.SetDefault(options.default_model));
  ServedModel& first = *app->models_.default_model();
  if (app->models_.size() > 1) {
    spdlog::info("[MODEL] {} models served; requests without a model get {} (id {})", app->models_.size(),
                 first.name(), first.id());
  }
  const TierStats disk = app->disk_tier_->Stats();
  spdlog::info(
      "[CACHE] {} embedding(s) on disk in {} ({:.1f} MB, {} for this model; budget {}; new entries {}), "
      "memory budget {:.0f} MB",
      disk.entries, cache_dir.string(), static_cast<double>(disk.bytes) / 1e6,
      app->disk_tier_->EntriesFor(first.id()),
      options.cache_max_bytes == 0
          ? std::string("none")
          : fmt::format("{:.1f} GB", static_cast<double>(options.cache_max_bytes) / 1e9),
      StorageDtypeName(options.cache_dtype), static_cast<double>(options.memory_cache_bytes) / 1e6);
  ProjectCache* projects = first.project_cache.get();
  // `-> bool`: front() of a vector<bool> is a proxy into the temporary.
  app->ingestor_->SetEmbeddingProbe(
      [projects](const std::string& project_id, const std::string& pixel_hash) -> bool {
        return projects->CachedFor(project_id, std::vector<std::string>{pixel_hash}).front();
      });
  return app;
}

App::~App() = default;

std::unique_ptr<ServedModel> App::Serve(std::unique_ptr<SamModel> model) {
  auto served = std::make_unique<ServedModel>();
  served->model = std::move(model);
  const std::string& id = served->id();
  EmbeddingService::Options service_options;
  service_options.max_waiting = options_.encoder_queue;
  service_options.max_prepared = 1;
  service_options.lease = redis_lease_.get();
  service_options.encoder_turn = &encoder_turn_;
  service_options.stage_nice = options_.pipeline_nice;
  served->embeddings = std::make_unique<EmbeddingService>(*served->model, *store_, *blobs_, service_options);
  served->project_cache = std::make_unique<ProjectCache>(*served->embeddings, *claims_, id);
  served->segmenter = std::make_unique<Segmenter>(*catalog_, *served->embeddings, *served->model, 256,
                                                  SegmenterLimits{}, served->project_cache.get());
  // One PrewarmJobs per model, all with this process's runner id: each claims, resumes and
  // follows only the jobs of its own model (a job row names its model).
  served->prewarm = std::make_unique<PrewarmJobs>(*catalog_, *served->embeddings, *served->project_cache, id,
                                                  options_.prewarm);
  return served;
}

SamModel* App::model() {
  ServedModel* m = models_.default_model();
  return m != nullptr ? m->model.get() : nullptr;
}

EmbeddingService* App::embeddings() {
  ServedModel* m = models_.default_model();
  return m != nullptr ? m->embeddings.get() : nullptr;
}

ProjectCache* App::project_cache() {
  ServedModel* m = models_.default_model();
  return m != nullptr ? m->project_cache.get() : nullptr;
}

Segmenter* App::segmenter() {
  ServedModel* m = models_.default_model();
  return m != nullptr ? m->segmenter.get() : nullptr;
}

PrewarmJobs* App::prewarm() {
  ServedModel* m = models_.default_model();
  return m != nullptr ? m->prewarm.get() : nullptr;
}

EmbeddingTier* App::embedding_store() { return store_.get(); }

std::vector<TierStats> App::tier_stats() {
  return store_ ? store_->TierStatsAll() : std::vector<TierStats>{};
}

KeyLease* App::key_lease() { return redis_lease_.get(); }

ImageSource App::SourceFor(const ImageRecord& image, const std::string& project_id) {
  return ImageSource{image.content_hash, image.pixel_hash, claims_->CacheHash(project_id, image.pixel_hash)};
}

std::vector<bool> App::CachedFor(const std::string& project_id, const std::vector<ImageRecord>& images) {
  ProjectCache* projects = project_cache();
  if (projects == nullptr) return std::vector<bool>(images.size(), false);
  return projects->CachedFor(project_id, images);
}

void App::ClaimFor(const std::string& project_id, const std::vector<std::string>& pixel_hashes) {
  if (ProjectCache* projects = project_cache(); projects != nullptr)
    projects->ClaimFor(project_id, pixel_hashes);
}

Status App::EnableNearDuplicates() {
  if (near_duplicates_) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  SAMCACHE_ASSIGN_OR_RETURN(const BackfillOutcome backfill, ingestor_->BackfillPerceptualHashes());
  if (backfill.hashed + backfill.failed > 0) {
    spdlog::info(
        "[NEAR-DUP] computed the perceptual hash of {} stored file(s) from before schema version 3 "
        "({} could not be read)",
        backfill.hashed, backfill.failed);
  }
  auto finder = std::make_unique<NearDuplicateFinder>(*catalog_, options_.near_duplicate_distance);
  SAMCACHE_RETURN_IF_ERROR(finder->Rebuild());
  spdlog::info("[NEAR-DUP] index of {} distinct picture(s) ready in {:.2f} s (near-duplicate distance {})",
               finder->picture_count(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
               finder->default_distance());
  near_duplicates_ = std::move(finder);
  ingestor_->set_near_duplicate_finder(near_duplicates_.get());
  deleter_->set_near_duplicate_finder(near_duplicates_.get());
  return Status::Ok();
}

}  // namespace samcache
