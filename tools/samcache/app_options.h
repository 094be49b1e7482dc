// The command-line options several subcommands share, and how they become AppOptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

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
  // serve: background deletion of large datasets (AddDeletionOptions).
  size_t delete_batch_images = DeleterOptions{}.batch_images;
  int delete_pause_ms = 0;
};

// Options of the commands that load the model.
struct ModelCliOptions {
  // --model: a folder, or "builtin" for the built-in demo model. Commands that serve several
  // models (serve, worker) take it repeated, and --models, into model_dirs; the others take
  // one into model_dir. None: the built-in demo model.
  std::string model_dir;
  std::vector<std::string> model_dirs;
  std::string models_dir;     // --models: every subfolder holding an encoder.onnx, by name
  std::string default_model;  // --default-model: an id or name; empty: the first
  int intra_op_threads = 0;
  bool warm_up = false;      // serve and worker: true unless --no-warm-up
  int decoder_sessions = 1;  // serve and worker: 0, one per core (the others answer no clicks)
  bool trim_decoder = true;  // false: --whole-decoder
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

// serve's --delete-batch and --delete-pause-ms (DeleterOptions).
void AddDeletionOptions(CLI::App* cmd, CommonOptions& o);

// `with_data`: false for commands that do not touch the data folder (embed).
void AddCommonOptions(CLI::App* cmd, CommonOptions& o, bool with_data = true);
void AddNearDuplicateOption(CLI::App* cmd, CommonOptions& o);
// `with_cache`: false for embed, which keeps no cache of its own. `several`: --model may be
// repeated, with --models and --default-model (serve, worker).
void AddModelOptions(CLI::App* cmd, ModelCliOptions& o, bool with_cache, bool several = false);

// The value of --model that names the built-in demo model.
inline constexpr const char* kBuiltinModel = "builtin";
// The model folders to load, in order (an empty path: the built-in demo model): --model
// values as given, then --models' subfolders that hold an encoder.onnx, sorted by name.
// InvalidArgument for a --models folder that cannot be read or holds no model.
Result<std::vector<std::filesystem::path>> ModelFolders(const ModelCliOptions& o);

// Also sets the log level. Without `model`, the App opens without a model. Fails only for a
// --models folder that cannot be read (ModelFolders).
Result<AppOptions> MakeAppOptions(const CommonOptions& o, const ModelCliOptions* model = nullptr);
Result<std::unique_ptr<App>> OpenApp(const CommonOptions& o, const ModelCliOptions* model = nullptr);

// <data>/embeddings: the embedding cache on disk.
std::filesystem::path CacheDir(const CommonOptions& common);

}  // namespace samcache
