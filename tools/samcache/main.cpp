// samcache: the command-line entry point. Each subcommand parses its options and calls into
// the library; no domain logic lives here.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "app/app.h"
#include "common/crypto.h"
#include "common/files.h"
#include "dupes_command.h"
#include "http/server.h"
#include "ingest/image_decoder.h"
#include "ingest/image_format.h"
#include "ingest/ingestor.h"
#include "model/npy.h"
#include "model/sam_model.h"
#include "prewarm_command.h"
#include "progress_line.h"
#include "store/redis_client.h"
#include "store/redis_tier.h"
#include "store/safetensors.h"

namespace fs = std::filesystem;
using namespace samcache;

namespace {

constexpr const char* kVersion = "0.1.0";
constexpr const char* kLogPattern = "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v";

struct CommonOptions {
  std::string data_dir = "./data";
  std::string db;         // empty: <data>/samcache.db
  std::string blobs_dir;  // empty: <data>/blobs
  size_t db_connections = PostgresOptions{}.max_connections;
  std::string log_level = "info";
  uint64_t max_image_megapixels = 100;
  int near_duplicate_distance = kDefaultNearDuplicateDistance;
};

// `with_data`: false for commands that do not touch the data folder (embed).
void AddCommonOptions(CLI::App* cmd, CommonOptions& o, bool with_data = true) {
  if (with_data) {
    cmd->add_option("--data", o.data_dir, "Folder for the catalog (SQLite) and the stored images")
        ->capture_default_str();
    cmd->add_option("--db", o.db,
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
};

void AddModelOptions(CLI::App* cmd, ModelCliOptions& o, bool with_cache) {
  cmd->add_option("--model", o.model_dir,
                  "Folder with encoder.onnx, decoder.onnx and optional model.json (default: the built-in demo model)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--intra-op-threads", o.intra_op_threads, "ONNX Runtime threads per model run (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  cmd->add_option("--redis", o.redis_url,
                  "Shared embedding tier and per-key encoder leases for several instances: "
                  "redis://host:port[/db] (run Redis with maxmemory and allkeys-lru, see README)");
  if (!with_cache) return;
  cmd->add_option("--memory-cache-bytes", o.memory_cache_bytes, "Byte budget of the in-process embedding cache")
      ->capture_default_str();
  cmd->add_option("--cache-max-bytes", o.cache_max_bytes,
                  "Byte budget of the embedding cache on disk (<data>/embeddings); least recently used entries "
                  "are removed beyond it; 0: no limit")
      ->capture_default_str();
  cmd->add_option("--cache-dtype", o.cache_dtype,
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

void ApplyModelOptions(const ModelCliOptions& o, AppOptions& options) {
  options.load_model = true;
  options.model_dir = o.model_dir;
  options.model.intra_op_threads = o.intra_op_threads;
  options.memory_cache_bytes = o.memory_cache_bytes;
  options.encoder_queue = o.encoder_queue;
  options.cache_max_bytes = o.cache_max_bytes;
  options.cache_dtype = ParseStorageDtype(o.cache_dtype).value_or(StorageDtype::kF32);  // checked by CLI11
  options.prewarm.max_running_jobs = o.prewarm_jobs;
  options.prewarm.poll_interval = std::chrono::milliseconds(o.prewarm_poll_ms);
  options.prewarm.stale_after = std::chrono::seconds(o.prewarm_stale_seconds);
  options.redis_url = o.redis_url;
}

// The options of every command that opens the data folder (serve, worker, prewarm...).
AppOptions MakeAppOptions(const CommonOptions& o, const ModelCliOptions* model = nullptr) {
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  AppOptions options;
  options.data_dir = o.data_dir;
  options.catalog_path = o.db;
  options.postgres.max_connections = o.db_connections;
  options.blobs_dir = o.blobs_dir;
  options.ingest.max_image_pixels = o.max_image_megapixels * 1'000'000;
  options.near_duplicate_distance = o.near_duplicate_distance;
  if (model) ApplyModelOptions(*model, options);
  return options;
}

Result<std::unique_ptr<App>> OpenApp(const CommonOptions& o, const ModelCliOptions* model = nullptr) {
  return App::Open(MakeAppOptions(o, model));
}

// SIGINT and SIGTERM are taken by one thread with sigwait, so the process stops cleanly;
// call before any thread starts, so that every thread inherits the mask.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

int Fail(const Status& st) {
  spdlog::error("{}", st.message());
  return 1;
}


// --- serve -----------------------------------------------------------------------------

int Serve(const CommonOptions& common, const ModelCliOptions& model, ServerOptions server_options) {
  const sigset_t signals = BlockStopSignals();
  auto app = OpenApp(common, &model);
  if (!app.ok()) return Fail(app.status());
  Status near_duplicates = (*app)->EnableNearDuplicates();
  if (!near_duplicates.ok()) return Fail(near_duplicates);
  HttpServer server(**app, server_options);
  Result<int> port = server.Bind();
  if (!port.ok()) return Fail(port.status());
  spdlog::info("samcache {} (ONNX Runtime {}), data in {}, catalog {}", kVersion, OnnxRuntimeVersion(),
               fs::absolute(common.data_dir).lexically_normal().string(),
               RedactCatalogLocation((*app)->options().catalog_path));
  spdlog::info("samcache listening on http://{}:{}", server_options.host, *port);
  if (model.prewarm_jobs == 0) {
    spdlog::info("[PREWARM] this process runs no prewarm jobs (--prewarm-jobs 0): it queues them in the catalog "
                 "for `samcache worker` processes");
  }
  Result<std::vector<std::string>> resumed = (*app)->prewarm()->ResumeOrphaned();
  if (!resumed.ok()) {
    spdlog::error("[PREWARM] cannot look for interrupted jobs: {}", resumed.status().message());
  } else if (!resumed->empty()) {
    spdlog::info("[PREWARM] resumed {} interrupted job(s)", resumed->size());
  }

  std::thread stopper([&server, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("signal {} received, stopping", sig);
    server.Stop();
  });
  Status st = server.Run();
  // Wake the stopper if the server ended by itself.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  return st.ok() ? 0 : Fail(st);
}

// --- worker ----------------------------------------------------------------------------

void LogWorkerEvent(std::string_view event, const PrewarmSnapshot& s) {
  const PrewarmJobRecord& j = s.job;
  if (event == "claimed") {
    spdlog::info("[WORKER] claimed job {} (dataset {}, {}/{} done)", j.id, j.dataset_id, j.done, j.total);
  } else if (event == "finished") {
    std::string outcome = j.status == prewarm_status::kCompleted
                              ? PrewarmReadyText(s)
                              : j.status + " at " + std::to_string(j.done) + "/" + std::to_string(j.total) +
                                    (j.error.empty() ? "" : ": " + j.error);
    spdlog::info("[WORKER] finished job {}: {}", j.id, outcome);
  } else if (event == "released") {
    spdlog::info("[WORKER] released job {} at {}/{}: back in the queue for the next runner", j.id, j.done, j.total);
  } else if (event == "lost") {
    spdlog::warn("[WORKER] lost job {} at {}/{}: {} runs it now", j.id, j.done, j.total,
                 j.runner.empty() ? std::string("another process") : j.runner);
  }
}

// Runs prewarm jobs from the catalog's queue until SIGINT or SIGTERM; serves only
// GET /metrics and GET /healthz.
int Worker(const CommonOptions& common, const ModelCliOptions& model, ServerOptions server_options) {
  const sigset_t signals = BlockStopSignals();
  if (model.prewarm_jobs == 0) return Fail(Status::InvalidArgument("a worker needs --prewarm-jobs 1 or more"));
  AppOptions options = MakeAppOptions(common, &model);
  options.prewarm.on_job = LogWorkerEvent;
  auto app = App::Open(options);
  if (!app.ok()) return Fail(app.status());
  server_options.metrics_only = true;
  server_options.threads = 4;
  HttpServer server(**app, server_options);
  Result<int> port = server.Bind();
  if (!port.ok()) return Fail(port.status());
  spdlog::info("[WORKER] samcache {} worker {}: up to {} prewarm job(s) at once for model {}, catalog {}, "
               "polling every {} ms, taking over jobs silent for {} s",
               kVersion, (*app)->prewarm()->runner_id(), model.prewarm_jobs, (*app)->model()->info().id,
               (*app)->options().catalog_path, model.prewarm_poll_ms, model.prewarm_stale_seconds);
  spdlog::info("samcache worker listening on http://{}:{} (GET /metrics, GET /healthz)", server_options.host,
               *port);

  std::thread stopper([&server, &app, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("[WORKER] signal {} received: finishing the images in flight, then stopping", sig);
    (*app)->prewarm()->Shutdown();
    server.Stop();
  });
  Status st = server.Run();
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  app->reset();  // waits for the runners: images in flight are stored, unfinished jobs go back to the queue
  spdlog::info("[WORKER] stopped");
  return st.ok() ? 0 : Fail(st);
}

// --- embed -----------------------------------------------------------------------------

int Embed(const CommonOptions& common, const ModelCliOptions& model_options, const std::string& image_path,
          const std::string& out_path) {
  spdlog::set_level(spdlog::level::from_str(common.log_level));
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point since) {
    return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
  };
  // With --redis, the shared tier answers first and keeps what is computed here.
  std::unique_ptr<RedisClient> redis;
  std::unique_ptr<RedisTier> redis_tier;
  if (!model_options.redis_url.empty()) {
    Result<RedisEndpoint> endpoint = ParseRedisUrl(model_options.redis_url);
    if (!endpoint.ok()) return Fail(endpoint.status());
    redis = std::make_unique<RedisClient>(*endpoint, RedisClient::Options{});
    if (Status reachable = redis->Ping(); !reachable.ok()) {
      spdlog::warn("[REDIS] cannot reach {} ({}); computing without the shared tier", endpoint->ToString(),
                   reachable.message());
    }
    redis_tier = std::make_unique<RedisTier>(*redis);
  }
  ModelOptions options;
  options.intra_op_threads = model_options.intra_op_threads;
  Result<std::unique_ptr<SamModel>> model = model_options.model_dir.empty()
                                                ? SamModel::OpenDemo(options)
                                                : SamModel::OpenFolder(model_options.model_dir, options);
  if (!model.ok()) return Fail(model.status());

  Clock::time_point step = Clock::now();
  Result<std::string> bytes = ReadFile(image_path);
  if (!bytes.ok()) return Fail(bytes.status());
  Result<ImageHeader> header = ReadImageHeader(*bytes);
  if (!header.ok()) return Fail(Status::InvalidArgument(image_path + ": " + header.status().message()));
  if (uint64_t{header->width} * header->height > common.max_image_megapixels * 1'000'000) {
    return Fail(Status::TooLarge(image_path + " has more than " + std::to_string(common.max_image_megapixels) +
                                 " megapixels (see --max-image-megapixels)"));
  }
  Result<DecodedImage> image = DecodeImage(*bytes, header->format);
  if (!image.ok()) return Fail(Status::InvalidArgument(image_path + ": " + image.status().message()));
  const double decode_ms = ms(step);
  double preprocess_ms = 0;
  double encoder_ms = 0;
  const EmbeddingKey key{(*model)->info().id, PixelHash(*image)};
  std::shared_ptr<const Embedding> embedding = redis_tier ? redis_tier->Get(key) : nullptr;
  const bool cached = embedding != nullptr;
  if (!embedding) {
    step = Clock::now();
    PreparedImage prepared = (*model)->Prepare(*image);
    preprocess_ms = ms(step);
    step = Clock::now();
    Result<Embedding> encoded = (*model)->Encode(prepared);
    if (!encoded.ok()) return Fail(encoded.status());
    encoder_ms = ms(step);
    embedding = std::make_shared<const Embedding>(std::move(encoded).value());
    if (redis_tier) (void)redis_tier->Put(key, embedding);
  }
  const NamedTensor& tensor = embedding->tensors.front();
  const fs::path out_dir = fs::absolute(out_path).parent_path();
  Status written = WriteFileAtomically(out_path, EncodeNpyFloat32(tensor.shape, tensor.values.data()), out_dir);
  if (!written.ok()) return Fail(written);
  std::string shape;
  for (int64_t d : tensor.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
  if (cached) {
    std::printf("%s: %s [%s] float32 from %ux%u image, model %s (%s); decode %.0f ms, embedding cached in redis\n",
                out_path.c_str(), tensor.name.c_str(), shape.c_str(), image->width, image->height,
                (*model)->info().name.c_str(), (*model)->info().id.c_str(), decode_ms);
    return 0;
  }
  std::printf("%s: %s [%s] float32 from %ux%u image, model %s (%s); decode %.0f ms, preprocess %.0f ms, encoder %.0f ms\n",
              out_path.c_str(), tensor.name.c_str(), shape.c_str(), image->width, image->height,
              (*model)->info().name.c_str(), (*model)->info().id.c_str(), decode_ms, preprocess_ms, encoder_ms);
  return 0;
}

// --- ingest ----------------------------------------------------------------------------

// Files under the given paths (folders recursively), in a stable order.
std::vector<fs::path> CollectFiles(const std::vector<std::string>& paths, std::vector<std::string>& missing) {
  std::vector<fs::path> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it->is_regular_file(ec)) found.push_back(it->path());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      missing.push_back(p);
    }
  }
  return files;
}

// Reads a file in chunks, hashing as it goes, like an upload streaming in.
Result<IncomingFile> ReadIncoming(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open " + path.string());
  IncomingFile file;
  file.filename = path.filename().string();
  Sha256 hasher;
  std::string chunk(1 << 20, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto n = static_cast<size_t>(in.gcount());
    hasher.Update(chunk.data(), n);
    file.bytes.append(chunk.data(), n);
  }
  if (in.bad()) return Status::IoError("cannot read " + path.string());
  file.content_hash = hasher.FinishHex();
  return file;
}

std::string ProgressText(size_t done, size_t total, const UploadBatch& batch) {
  constexpr size_t kWidth = 30;
  const size_t filled = total == 0 ? kWidth : kWidth * done / total;
  char counts[160];
  std::snprintf(counts, sizeof counts, " %zu/%zu files, %zu stored, %lld duplicate(s), %zu rejected", done,
                total, batch.stored().size(), static_cast<long long>(batch.duplicates_found()),
                batch.rejected().size());
  return "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "]" + counts;
}

int Ingest(const CommonOptions& common, const std::string& dataset, const std::vector<std::string>& paths) {
  auto app = OpenApp(common);
  if (!app.ok()) return Fail(app.status());
  Status near_duplicates = (*app)->EnableNearDuplicates();
  if (!near_duplicates.ok()) return Fail(near_duplicates);
  std::vector<std::string> missing;
  const std::vector<fs::path> files = CollectFiles(paths, missing);
  for (const std::string& m : missing) spdlog::error("no such file or folder: {}", m);
  if (files.empty()) {
    spdlog::error("nothing to ingest");
    return 1;
  }

  Result<std::optional<DatasetRecord>> existing = (*app)->catalog().FindDataset(dataset);
  if (!existing.ok()) return Fail(existing.status());
  std::optional<std::string> existing_id;
  if (existing->has_value()) existing_id = (*existing)->id;
  UploadBatch batch((*app)->ingestor(), (*app)->catalog(), dataset, existing_id);

  // On a terminal, a progress line with the log scrolling above it.
  std::shared_ptr<ProgressLine> progress;
  std::vector<spdlog::sink_ptr> plain_sinks = spdlog::default_logger()->sinks();
  if (isatty(STDERR_FILENO) != 0) {
    progress = std::make_shared<ProgressLine>();
    progress->set_pattern(kLogPattern);
    spdlog::default_logger()->sinks() = {progress};
  }
  const auto start = std::chrono::steady_clock::now();
  for (const fs::path& path : files) {
    Result<IncomingFile> file = ReadIncoming(path);
    if (file.ok()) {
      batch.Add(std::move(file).value());
    } else {
      batch.AddUnreadable(path.filename().string(), file.status());
    }
    if (progress) progress->Update(ProgressText(batch.completed(), files.size(), batch));
  }
  batch.Finish();
  if (progress) {
    progress->Update(ProgressText(batch.completed(), files.size(), batch));
    progress->Finish();
    spdlog::default_logger()->sinks() = plain_sinks;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  for (const RejectedFile& r : batch.rejected()) std::fprintf(stderr, "rejected %s: %s\n", r.filename.c_str(), r.error.c_str());
  std::printf("ingested %zu of %zu file(s) into dataset '%s' (%s): %lld duplicate(s), %zu rejected, %.1f MB in %.2f s\n",
              batch.stored().size(), files.size(), batch.dataset_name().c_str(),
              batch.dataset_exists() ? batch.dataset_id().c_str() : "not created",
              static_cast<long long>(batch.duplicates_found()), batch.rejected().size(),
              static_cast<double>(batch.bytes_received()) / 1e6, seconds);
  if (batch.duplicates_found() > 0) {
    std::printf("%lld file(s) were stored before; `samcache prewarm` skips every image already embedded\n",
                static_cast<long long>(batch.duplicates_found()));
  }
  if (batch.near_duplicates_found() > 0) {
    std::printf("%lld image(s) with near duplicates (samcache dupes lists them)\n",
                static_cast<long long>(batch.near_duplicates_found()));
  }
  return batch.stored().empty() || !missing.empty() ? 1 : 0;
}

// --- migrate / stats -------------------------------------------------------------------

int Migrate(const CommonOptions& common) {
  auto app = OpenApp(common);  // opening applies every pending migration
  if (!app.ok()) return Fail(app.status());
  Result<int> version = (*app)->catalog().SchemaVersion();
  if (!version.ok()) return Fail(version.status());
  std::printf("catalog %s is at schema version %d\n", RedactCatalogLocation((*app)->options().catalog_path).c_str(),
              *version);
  return 0;
}

struct GcOptions {
  int grace_minutes = 60;
  bool dry_run = false;
  bool verify_cache = false;
  uint64_t cache_max_bytes = uint64_t{10} << 30;
  std::vector<std::string> drop_models;
};

fs::path CacheDir(const CommonOptions& common) { return fs::path(common.data_dir) / "embeddings"; }

int CollectGarbage(const CommonOptions& common, const GcOptions& o) {
  auto app = OpenApp(common);
  if (!app.ok()) return Fail(app.status());
  const BlobStore::GarbageReport r =
      (*app)->ingestor().CollectGarbage(std::chrono::minutes(o.grace_minutes), o.dry_run);
  std::printf("%s %zu of %zu stored file(s) without a catalog row (%.1f MB)\n",
              o.dry_run ? "would remove" : "removed", r.files_removed, r.files_seen,
              static_cast<double>(r.bytes_removed) / 1e6);
  if (o.dry_run) return 0;

  // The embedding cache: leftovers of crashed writes, the size budget, and on request a
  // full read of every entry and the removal of models no longer used.
  DiskTier cache(CacheDir(common), o.cache_max_bytes);
  if (Status st = cache.Init(); !st.ok()) return Fail(st);
  for (const std::string& model_id : o.drop_models) {
    Result<uint64_t> dropped = cache.RemoveModel(model_id);
    if (!dropped.ok()) return Fail(dropped.status());
    std::printf("removed %llu embedding(s) of model %s\n", static_cast<unsigned long long>(*dropped),
                model_id.c_str());
  }
  Result<DiskVerifyOutcome> checked = cache.Verify(o.verify_cache);
  if (!checked.ok()) return Fail(checked.status());
  std::printf("embedding cache: %llu entr%s %s, %llu corrupt removed, %llu temp file(s) removed, %llu evicted "
              "for the %s budget; %.1f MB kept\n",
              static_cast<unsigned long long>(checked->checked), checked->checked == 1 ? "y" : "ies",
              o.verify_cache ? "read and verified" : "found", static_cast<unsigned long long>(checked->corrupt_removed),
              static_cast<unsigned long long>(checked->temp_removed),
              static_cast<unsigned long long>(cache.Stats().evictions),  // by Init and Verify
              o.cache_max_bytes == 0 ? "(unlimited)" : (std::to_string(o.cache_max_bytes >> 20) + " MiB").c_str(),
              static_cast<double>(checked->bytes_after) / 1e6);
  return 0;
}

int Stats(const CommonOptions& common) {
  auto app = OpenApp(common);
  if (!app.ok()) return Fail(app.status());
  Result<CatalogStats> s = (*app)->catalog().Stats();
  if (!s.ok()) return Fail(s.status());
  std::printf("datasets:        %lld\nimages:          %lld\ndistinct images: %lld\nstored bytes:    %lld\nschema version:  %d\n",
              static_cast<long long>(s->datasets), static_cast<long long>(s->images),
              static_cast<long long>(s->blobs), static_cast<long long>(s->blob_bytes), s->schema_version);

  DiskTier cache(CacheDir(common), /*max_bytes=*/0);  // 0: only look, never evict here
  if (Status st = cache.Init(); !st.ok()) return Fail(st);
  const TierStats disk = cache.Stats();
  std::printf("embedding cache: %llu embedding(s), %.1f MB in %s\n", static_cast<unsigned long long>(disk.entries),
              static_cast<double>(disk.bytes) / 1e6, CacheDir(common).string().c_str());
  for (const auto& [model_id, count] : cache.EntriesPerModel()) {
    std::printf("  model %s: %llu\n", model_id.c_str(), static_cast<unsigned long long>(count));
  }
  Result<std::vector<std::pair<std::string, int64_t>>> jobs = (*app)->catalog().CountPrewarmJobsByStatus();
  if (!jobs.ok()) return Fail(jobs.status());
  std::string by_status;
  for (const auto& [status, count] : *jobs) {
    by_status += (by_status.empty() ? "" : ", ") + std::to_string(count) + " " + status;
  }
  std::printf("prewarm jobs:    %s\n", by_status.empty() ? "none" : by_status.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("samcache"));
  spdlog::set_pattern(kLogPattern);

  CLI::App cli{"samcache: runs the SAM image encoder once per distinct image, ever"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", std::string("samcache ") + kVersion + " (ONNX Runtime " + OnnxRuntimeVersion() + ")");

  CommonOptions common;
  ModelCliOptions model;
  ServerOptions server_options;
  auto* serve = cli.add_subcommand("serve", "Run the HTTP API");
  AddCommonOptions(serve, common);
  AddModelOptions(serve, model, /*with_cache=*/true);
  serve->add_option("--port", server_options.port, "TCP port (0 picks a free one)")->capture_default_str();
  serve->add_option("--host", server_options.host, "Address to listen on")->capture_default_str();
  serve->add_option("--threads", server_options.threads, "HTTP worker threads")->capture_default_str();
  serve->add_option("--web-dir", server_options.web_dir,
                    "Serve the web page from this folder (development) instead of the copy built in")
      ->check(CLI::ExistingDirectory);
  size_t max_upload_mb = server_options.max_upload_bytes >> 20;
  serve->add_option("--max-upload-mb", max_upload_mb, "Largest accepted request body, in MiB")->capture_default_str();
  AddNearDuplicateOption(serve, common);

  ServerOptions worker_server;
  worker_server.port = 3001;
  auto* worker = cli.add_subcommand("worker", "Run queued prewarm jobs (any process's) until stopped; serves "
                                              "GET /metrics and GET /healthz");
  AddCommonOptions(worker, common);
  AddModelOptions(worker, model, /*with_cache=*/true);
  worker->add_option("--port", worker_server.port, "TCP port of /metrics and /healthz (0 picks a free one)")
      ->capture_default_str();
  worker->add_option("--host", worker_server.host, "Address to listen on")->capture_default_str();

  std::string dataset;
  std::vector<std::string> paths;
  auto* ingest = cli.add_subcommand("ingest", "Add image files and folders (recursively) to a dataset");
  AddCommonOptions(ingest, common);
  ingest->add_option("--dataset", dataset, "Dataset name or id; created when it does not exist")->required();
  ingest->add_option("paths", paths, "Files and folders")->required();
  AddNearDuplicateOption(ingest, common);

  std::string embed_image;
  std::string embed_out;
  auto* embed = cli.add_subcommand("embed", "Compute one image's embedding and write it as a .npy file");
  AddCommonOptions(embed, common, /*with_data=*/false);
  AddModelOptions(embed, model, /*with_cache=*/false);
  embed->add_option("image", embed_image, "Image file")->required()->check(CLI::ExistingFile);
  embed->add_option("--out", embed_out, "Output .npy file ([1,256,64,64] float32 for SAM)")->required();

  std::string prewarm_dataset;
  auto* prewarm = cli.add_subcommand("prewarm", "Compute the embeddings a dataset lacks, skipping cached images");
  AddCommonOptions(prewarm, common);
  AddModelOptions(prewarm, model, /*with_cache=*/true);
  prewarm->add_option("dataset", prewarm_dataset, "Dataset id or name")->required();

  auto* migrate = cli.add_subcommand("migrate", "Bring the catalog's schema to the newest version");
  AddCommonOptions(migrate, common);
  auto* stats = cli.add_subcommand("stats", "Print catalog, embedding cache and prewarm job statistics");
  AddCommonOptions(stats, common);

  GcOptions gc_options;
  auto* gc = cli.add_subcommand("gc", "Remove stored files no catalog row refers to, and keep the embedding "
                                      "cache within its budget");
  AddCommonOptions(gc, common);
  gc->add_option("--grace-minutes", gc_options.grace_minutes,
                 "Leave files younger than this alone (an upload may be about to record them)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  gc->add_flag("--dry-run", gc_options.dry_run, "Only count the stored files that would be removed");
  gc->add_option("--cache-max-bytes", gc_options.cache_max_bytes,
                 "Evict the least recently used embeddings beyond this many bytes (0: no limit)")
      ->capture_default_str();
  gc->add_flag("--verify-cache", gc_options.verify_cache,
               "Read every cached embedding and remove those that fail their checksum");
  gc->add_option("--drop-model", gc_options.drop_models, "Remove every cached embedding of this model id");

  std::string dupes_dataset;
  bool dupes_json = false;
  auto* dupes = cli.add_subcommand("dupes", "Report identical files, identical pictures and near duplicates");
  AddCommonOptions(dupes, common);
  AddNearDuplicateOption(dupes, common);
  dupes->add_option("dataset", dupes_dataset, "Only groups with an image of this dataset (id or name)");
  dupes->add_flag("--json", dupes_json, "Print JSON instead of text");

  CLI11_PARSE(cli, argc, argv);

  if (*serve) {
    server_options.max_upload_bytes = max_upload_mb << 20;
    return Serve(common, model, server_options);
  }
  if (*worker) return Worker(common, model, worker_server);
  if (*embed) return Embed(common, model, embed_image, embed_out);
  if (*ingest) return Ingest(common, dataset, paths);
  if (*prewarm) {
    BlockPrewarmStopSignals();
    AppOptions options = MakeAppOptions(common, &model);
    options.prewarm.take_from_queue = false;  // this dataset's job only
    auto app = App::Open(options);
    if (!app.ok()) return Fail(app.status());
    return RunPrewarmCommand(**app, prewarm_dataset);
  }
  if (*migrate) return Migrate(common);
  if (*stats) return Stats(common);
  if (*gc) return CollectGarbage(common, gc_options);
  if (*dupes) {
    auto app = OpenApp(common);
    if (!app.ok()) return Fail(app.status());
    return RunDupesCommand(**app, dupes_dataset.empty() ? std::nullopt : std::optional(dupes_dataset),
                           common.near_duplicate_distance, dupes_json);
  }
  return 1;
}
