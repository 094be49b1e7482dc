// The command-line options several subcommands share, and how they become AppOptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "app/app.h"
#include "catalog/catalog.h"
#include "similar/near_duplicates.h"

namespace CLI {
class App;
}  // namespace CLI

namespace samcache {

// Options of every command that opens the data folder, and the logging and pixel limit that
// embed shares with them.
struct CommonOptions {
  std::string data_dir = "./data";
  std::string db;         // empty: <data>/samcache.db
  std::string blobs_dir;  // empty: <data>/blobs
  size_t db_connections = PostgresOptions{}.max_connections;
  std::string log_level = "info";
  uint64_t max_image_megapixels = 100;
  int near_duplicate_distance = kDefaultNearDuplicateDistance;
};

// Options of the commands that load the model.
struct ModelCliOptions {
  std::string model_dir;
  int intra_op_threads = 0;
  uint64_t memory_cache_bytes = uint64_t{1} << 30;
  uint64_t cache_max_bytes = uint64_t{10} << 30;
  std::string cache_dtype = "fp32";
  size_t encoder_queue = 64;
  size_t prewarm_jobs = 2;
  int prewarm_poll_ms = 500;
  int prewarm_stale_seconds = 60;
  std::string redis_url;
  std::string cache_scope = "global";  // "project": embeddings keyed by project too
};

// `with_data`: false for commands that do not touch the data folder (embed).
void AddCommonOptions(CLI::App* cmd, CommonOptions& o, bool with_data = true);
void AddNearDuplicateOption(CLI::App* cmd, CommonOptions& o);
// `with_cache`: false for embed, which keeps no cache of its own.
void AddModelOptions(CLI::App* cmd, ModelCliOptions& o, bool with_cache);

// Also sets the log level. Without `model`, the App opens without a model.
AppOptions MakeAppOptions(const CommonOptions& o, const ModelCliOptions* model = nullptr);
Result<std::unique_ptr<App>> OpenApp(const CommonOptions& o, const ModelCliOptions* model = nullptr);

// <data>/embeddings: the embedding cache on disk.
std::filesystem::path CacheDir(const CommonOptions& common);

}  // namespace samcache
