#include "app_options.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>

#include "store/safetensors.h"

namespace samcache {

void AddCommonOptions(CLI::App* cmd, CommonOptions& o, bool with_data) {
  if (with_data) {
    cmd->add_option("--data", o.data_dir, "Folder for the catalog (SQLite) and the stored images")
        ->capture_default_str();
    cmd->add_option(
        "--db", o.db,
        "Catalog: a SQLite file, or a PostgreSQL URL (postgresql://user@host:port/dbname) shared by "
        "several instances (default: <data>/samcache.db)");
    cmd->add_option("--db-connections", o.db_connections, "PostgreSQL connections kept open at most")
        ->capture_default_str()
        ->check(CLI::Range(size_t{1}, size_t{1000}));
    cmd->add_option("--blobs", o.blobs_dir,
                    "Folder of the original image files, shared by instances that share a catalog "
                    "(default: <data>/blobs)");
  }
  cmd->add_option("--log-level", o.log_level, "How much to log")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  cmd->add_option("--max-image-megapixels", o.max_image_megapixels,
                  "Refuse images whose header declares more pixels than this (decompression bombs)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{2000}));
}

void AddNearDuplicateOption(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("--near-duplicate-distance", o.near_duplicate_distance,
                  "Images whose perceptual hashes differ in at most this many of 64 bits are near duplicates")
      ->capture_default_str()
      ->check(CLI::Range(0, kMaxNearDuplicateDistance));
}

void AddDeletionOptions(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option(
         "--delete-batch", o.delete_batch_images,
         "Images per transaction when deleting a dataset; larger datasets are deleted in the background")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  cmd->add_option("--delete-pause-ms", o.delete_pause_ms,
                  "Pause between the batches of a background deletion (a throttle for a busy disk)")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
}

void AddModelOptions(CLI::App* cmd, ModelCliOptions& o, bool with_cache, bool several) {
  // "builtin", or a folder that exists.
  const CLI::Validator model_folder(
      [](std::string& value) -> std::string {
        if (value == kBuiltinModel) return "";
        return CLI::ExistingDirectory(value);
      },
      "DIR|builtin");
  if (several) {
    cmd->add_option("--model", o.model_dirs,
                    "Folder with encoder.onnx, decoder.onnx and optional model.json, or \"builtin\" for the "
                    "built-in demo model; repeat to serve several models (default: the built-in demo model)")
        ->check(model_folder)
        ->type_name("DIR");
    cmd->add_option("--models", o.models_dir,
                    "Also serve every subfolder of this folder that holds an encoder.onnx (sorted by name)")
        ->check(CLI::ExistingDirectory)
        ->type_name("DIR");
    cmd->add_option("--default-model", o.default_model,
                    "Id or name of the model requests get when they name none (default: the first)")
        ->type_name("ID|NAME");
  } else {
    cmd->add_option(
           "--model", o.model_dir,
           "Folder with encoder.onnx, decoder.onnx and optional model.json, or \"builtin\" (default: "
           "the built-in demo model)")
        ->check(model_folder)
        ->type_name("DIR");
  }
  cmd->add_option("--intra-op-threads", o.intra_op_threads,
                  "ONNX Runtime threads per model run (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  if (several) {  // servers; one-shot commands start encoding at once, a warm-up would compete
    o.warm_up = true;
    cmd->add_flag(
        "--no-warm-up", [&o](int64_t) { o.warm_up = false; },
        "Do not run each encoder and decoder session twice on a blank image in the background at "
        "model load (a session's first runs are 2-3x slower; GET /api/sam/models says when a model "
        "is ready)");
    o.decoder_sessions = 0;
    cmd->add_option(
           "--decoder-sessions", o.decoder_sessions,
           "Decoder sessions clicks run in at once, each with intra-op-threads / N threads (at least "
           "1; each takes about the decoder's size in memory, 16 MB for SAM's). 1: one session every "
           "click shares; 0: one per core")
        ->capture_default_str()
        ->check(CLI::Range(0, kMaxDecoderSessions));
    cmd->add_flag(
        "--whole-decoder", [&o](int64_t) { o.trim_decoder = false; },
        "Clicks run the decoder graph whole, not trimmed to the outputs they read (SAM's export also "
        "computes full-size masks no click reads: about a tenth of a click's decoder time)");
  }
  cmd->add_option("--redis", o.redis_url,
                  "Shared embedding tier and per-key encoder leases for several instances: "
                  "redis://host:port[/db] (run Redis with maxmemory and allkeys-lru, see README)");
  if (!with_cache) return;
  cmd->add_option("--cache-scope", o.cache_scope,
                  "global: one embedding per picture for every project (a first click may be instant "
                  "because another project computed it); project: each project computes its own")
      ->capture_default_str()
      ->check(CLI::IsMember({"global", "project"}));
  cmd->add_option("--memory-cache-bytes", o.memory_cache_bytes,
                  "Byte budget of the in-process embedding cache")
      ->capture_default_str();
  cmd->add_option(
         "--cache-max-bytes", o.cache_max_bytes,
         "Byte budget of the embedding cache on disk (<data>/embeddings); least recently used entries "
         "are removed beyond it; 0: no limit")
      ->capture_default_str();
  cmd->add_option(
         "--cache-dtype", o.cache_dtype,
         "How new embeddings are stored on disk: fp32 (exact) or fp16 (IEEE half, half the size; the "
         "rounding moves few mask pixels, see bench/README.md). Entries of either dtype are read")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "fp16"}));
  cmd->add_option("--prewarm-jobs", o.prewarm_jobs,
                  "Prewarm jobs this process runs at once; more wait in the queue (shared by every process "
                  "using the catalog). 0: run none, only queue them for workers")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{64}));
  cmd->add_option("--prewarm-poll-ms", o.prewarm_poll_ms,
                  "How often idle prewarm runners look for jobs queued by other processes")
      ->capture_default_str()
      ->check(CLI::Range(10, 60000));
  cmd->add_option("--prewarm-stale-seconds", o.prewarm_stale_seconds,
                  "A prewarm job whose runner has not renewed its heartbeat for this long is taken over by "
                  "another (a runner on this machine whose process is gone at once)")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--encoder-queue", o.encoder_queue,
                  "Images that may wait for the encoder before requests are refused with 503")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100000}));
}

namespace {

Status ApplyModelOptions(const ModelCliOptions& o, AppOptions& options) {
  options.load_model = true;
  SAMCACHE_ASSIGN_OR_RETURN(options.models, ModelFolders(o));
  options.default_model = o.default_model;
  options.model.intra_op_threads = o.intra_op_threads;
  options.model.warm_up = o.warm_up;
  options.model.decoder_sessions = o.decoder_sessions;
  options.model.trim_decoder = o.trim_decoder;
  options.memory_cache_bytes = o.memory_cache_bytes;
  options.encoder_queue = o.encoder_queue;
  options.cache_max_bytes = o.cache_max_bytes;
  options.cache_dtype = ParseStorageDtype(o.cache_dtype).value_or(StorageDtype::kF32);  // checked by CLI11
  options.prewarm.max_running_jobs = o.prewarm_jobs;
  options.prewarm.poll_interval = std::chrono::milliseconds(o.prewarm_poll_ms);
  options.prewarm.stale_after = std::chrono::seconds(o.prewarm_stale_seconds);
  options.redis_url = o.redis_url;
  options.cache_scope = o.cache_scope == "project" ? CacheScope::kProject : CacheScope::kGlobal;
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::filesystem::path>> ModelFolders(const ModelCliOptions& o) {
  namespace fs = std::filesystem;
  std::vector<fs::path> folders;
  auto add = [&folders](const std::string& value) {
    folders.push_back(value == kBuiltinModel ? fs::path() : fs::path(value));
  };
  if (!o.model_dir.empty()) add(o.model_dir);
  for (const std::string& dir : o.model_dirs) add(dir);
  if (o.models_dir.empty()) return folders;
  std::vector<fs::path> found;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(o.models_dir, ec)) {
    std::error_code probe;
    if (entry.is_directory(probe) && fs::is_regular_file(entry.path() / "encoder.onnx", probe)) {
      found.push_back(entry.path());
    }
  }
  if (ec) return Status::InvalidArgument("--models " + o.models_dir + ": " + ec.message());
  if (found.empty()) {
    return Status::InvalidArgument("--models " + o.models_dir +
                                   ": no subfolder holds an encoder.onnx (one folder per model, each with "
                                   "encoder.onnx and decoder.onnx)");
  }
  std::sort(found.begin(), found.end());
  folders.insert(folders.end(), found.begin(), found.end());
  return folders;
}

// The options of every command that opens the data folder (serve, worker, prewarm...).
Result<AppOptions> MakeAppOptions(const CommonOptions& o, const ModelCliOptions* model) {
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  AppOptions options;
  options.data_dir = o.data_dir;
  options.catalog_path = o.db;
  options.postgres.max_connections = o.db_connections;
  options.blobs_dir = o.blobs_dir;
  options.ingest.max_image_pixels = o.max_image_megapixels * 1'000'000;
  options.near_duplicate_distance = o.near_duplicate_distance;
  options.deleter.batch_images = o.delete_batch_images;
  options.deleter.pause = std::chrono::milliseconds(o.delete_pause_ms);
  if (model) SAMCACHE_RETURN_IF_ERROR(ApplyModelOptions(*model, options));
  return options;
}

Result<std::unique_ptr<App>> OpenApp(const CommonOptions& o, const ModelCliOptions* model) {
  SAMCACHE_ASSIGN_OR_RETURN(const AppOptions options, MakeAppOptions(o, model));
  return App::Open(options);
}

std::filesystem::path CacheDir(const CommonOptions& common) {
  return std::filesystem::path(common.data_dir) / "embeddings";
}

}  // namespace samcache
