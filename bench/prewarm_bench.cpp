// prewarm_bench: prewarm and the embedding cache (issue 4). Three measurements, one run:
//
// (a) End to end through the real `samcache serve` (demo model) on loopback, for a dataset
//     whose images are all cached already: POST /api/sam/dataset/{id}/prewarm -> the job
//     finished, followed either by its event stream (until `event: done`) or by polling
//     GET /api/sam/prewarm/{job_id}. For 50 images and for --large N images. The images are
//     uploaded, prewarmed once (computed), uploaded again into a second dataset, and that
//     dataset is prewarmed R times, one job after another; every finished job is checked
//     (completed, skipped = all, computed = 0, one image event per image).
// (b) One [1,256,64,64] embedding fetched through the whole TieredStore (memory -> disk): a
//     memory hit, and a disk hit (the memory tier holds one embedding, so cycling over K keys
//     always misses it; the disk hit is promoted into memory, as in the server), plus the
//     write-through put (memory + disk with fsync) that follows every encoder run.
// (c) Prewarm throughput against the bare encoder, in-process, on the same N photo-like JPEGs
//     and the same model session: encoder only (inputs prepared beforehand), a sequential
//     decode + preprocess + encode loop, and a PrewarmJobs job on a dataset of those images
//     with nothing cached (a fresh cache folder). For the demo model (or --model DIR) and a
//     slow encoder generated at run time by tools/demo_model/make_slow_encoder.py.
//
//   prewarm_bench [--repetitions R] [--large N] [--images N] [--width W] [--height H]
//                 [--model DIR] [--intra-op-threads T] [--slow-layers L] [--parts abc] ...
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <httplib.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "app/app.h"
#include "bench_util.h"
#include "common/crypto.h"
#include "image/image_decoder.h"
#include "image/image_format.h"
#include "ingest/ingestor.h"
#include "jobs/prewarm_jobs.h"
#include "model/sam_model.h"
#include "photo_files.h"
#include "store/disk_tier.h"
#include "store/memory_tier.h"
#include "store/tiered_store.h"
#include "support/http_reply.h"
#include "support/near_dup_images.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using samcache::testing::NamedFile;
using samcache::testing::Reply;
using samcache::testing::TempDir;

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

using samcache::bench::MakePhotoJpegs;
using samcache::bench::Mean;
using samcache::bench::MsSince;
using samcache::bench::Percentile;
using samcache::bench::SamEmbedding;

double Median(std::vector<double> values) { return Percentile(std::move(values), 50); }

size_t TotalBytes(const std::vector<NamedFile>& files) {
  size_t bytes = 0;
  for (const NamedFile& f : files) bytes += f.bytes.size();
  return bytes;
}

std::string QuoteForShell(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// ------------------------------------------------------------------------------------ (a)

constexpr size_t kUploadBatch = 100;  // files per upload request

// Uploads `files` into one new dataset (the first request creates it, the others add to it)
// and checks every answer. `expect_cached`: every file was uploaded and prewarmed before.
std::string UploadDataset(httplib::Client& client, const std::vector<NamedFile>& files, bool expect_cached) {
  std::string dataset_id;
  for (size_t first = 0; first < files.size(); first += kUploadBatch) {
    const std::vector<NamedFile> chunk(
        files.begin() + static_cast<ptrdiff_t>(first),
        files.begin() + static_cast<ptrdiff_t>(std::min(files.size(), first + kUploadBatch)));
    const std::string path =
        dataset_id.empty() ? "/api/sam/dataset/init" : "/api/sam/dataset/" + dataset_id + "/images";
    Reply reply = samcache::testing::ToReply(client.Post(path, samcache::testing::ImageItems(chunk)));
    if (reply.status != 200)
      Fail("upload: HTTP " + std::to_string(reply.status) + " " + reply.raw.substr(0, 300));
    const json& body = reply.body;
    if (body["images"].size() != chunk.size() || !body["errors"].empty()) {
      Fail("upload: " + std::to_string(body["images"].size()) + " of " + std::to_string(chunk.size()) +
           " files stored; errors " + body["errors"].dump());
    }
    const size_t expected = expect_cached ? chunk.size() : 0;
    if (body["duplicates_found"] != expected || body["embeddings_cached"] != expected) {
      Fail("upload: expected " + std::to_string(expected) + " duplicate(s) with a cached embedding, got " +
           body["duplicates_found"].dump() + " duplicate(s), " + body["embeddings_cached"].dump() +
           " cached" + (expect_cached ? "" : " (the generated images are not distinct)"));
    }
    dataset_id = body["dataset_id"];
  }
  return dataset_id;
}

struct Followed {
  double accepted_ms = 0;  // POST sent -> 202 read
  double finished_ms = 0;  // POST sent -> the finished job seen (done event, or snapshot)
  json job;                // the finished job
  int image_events = -1;   // events stream only
  int polls = 0;           // polling only
};

json StartJob(httplib::Client& client, const std::string& dataset_id) {
  Reply started = samcache::testing::StartPrewarm(client, dataset_id);
  if (started.status != 202) Fail("POST prewarm: HTTP " + std::to_string(started.status) + " " + started.raw);
  if (started.body["existing"] == true) Fail("POST prewarm: the dataset still had an unfinished job");
  return started.body;
}

// POST prewarm, then read the job's event stream until `event: done`.
Followed FollowEvents(httplib::Client& client, const std::string& dataset_id) {
  Followed out;
  const Clock::time_point start = Clock::now();
  const json started = StartJob(client, dataset_id);
  out.accepted_ms = MsSince(start);
  out.image_events = 0;
  std::string buffer;
  std::string error;
  auto res = client.Get(started["events_url"].get<std::string>(), [&](const char* data, size_t size) {
    buffer.append(data, size);
    for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
      const std::string block = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      std::string event;
      std::string payload;
      size_t line_start = 0;
      while (line_start < block.size()) {
        size_t line_end = block.find('\n', line_start);
        if (line_end == std::string::npos) line_end = block.size();
        const std::string line = block.substr(line_start, line_end - line_start);
        if (line.rfind("event: ", 0) == 0) event = line.substr(7);
        if (line.rfind("data: ", 0) == 0) payload = line.substr(6);
        line_start = line_end + 1;
      }
      if (event == "image") ++out.image_events;
      if (event == "error") error = payload;
      if (event == "done" && out.job.is_null()) {
        out.finished_ms = MsSince(start);
        out.job = json::parse(payload);
      }
    }
    return true;
  });
  if (!res) Fail("events stream: " + httplib::to_string(res.error()));
  if (res->status != 200) Fail("events stream: HTTP " + std::to_string(res->status));
  if (!error.empty()) Fail("events stream: error event " + error);
  if (out.job.is_null()) Fail("the event stream ended without a done event");
  return out;
}

// POST prewarm, then GET the job's snapshot every `poll_ms` until it is finished.
Followed PollSnapshot(httplib::Client& client, const std::string& dataset_id, int poll_ms) {
  Followed out;
  const Clock::time_point start = Clock::now();
  const json started = StartJob(client, dataset_id);
  out.accepted_ms = MsSince(start);
  json job = started;
  while (!samcache::IsFinishedPrewarmStatus(job["status"].get<std::string>())) {
    if (poll_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
    Reply reply =
        samcache::testing::ToReply(client.Get("/api/sam/prewarm/" + started["job_id"].get<std::string>()));
    ++out.polls;
    if (reply.status != 200) Fail("GET prewarm job: HTTP " + std::to_string(reply.status) + " " + reply.raw);
    job = reply.body;
  }
  out.finished_ms = MsSince(start);
  out.job = job;
  return out;
}

void CheckAllSkipped(const Followed& f, size_t images) {
  const json& j = f.job;
  if (j["status"] != "completed" || j["total"] != images || j["skipped"] != images || j["computed"] != 0 ||
      j["failed"] != 0) {
    Fail("a prewarm of " + std::to_string(images) + " cached images did not skip them all: status " +
         j["status"].dump() + ", total " + j["total"].dump() + ", skipped " + j["skipped"].dump() +
         ", computed " + j["computed"].dump() + ", failed " + j["failed"].dump());
  }
  if (f.image_events >= 0 && static_cast<size_t>(f.image_events) != images) {
    Fail("the event stream had " + std::to_string(f.image_events) + " image events for " +
         std::to_string(images) + " images");
  }
}

void PrintLatencyRow(const std::string& images, const std::string& follow,
                     const std::vector<Followed>& runs) {
  std::vector<double> accepted, finished;
  double polls = 0;
  for (const Followed& f : runs) {
    accepted.push_back(f.accepted_ms);
    finished.push_back(f.finished_ms);
    polls += f.polls;
  }
  char gets[32] = "-";
  if (runs.front().image_events < 0)
    std::snprintf(gets, sizeof gets, "%.1f", polls / static_cast<double>(runs.size()));
  std::printf("%-7s %-20s %5zu %9.1f %9.1f %9.1f %9.1f %9.1f %6s\n", images.c_str(), follow.c_str(),
              runs.size(), Median(accepted), Median(finished), Percentile(finished, 99), Mean(finished),
              *std::max_element(finished.begin(), finished.end()), gets);
}

void CachedPrewarmLatency(const std::string& binary, const std::vector<size_t>& sizes, int repetitions,
                          int poll_ms) {
  TempDir dir;
  samcache::testing::ServerProcess server(dir / "data", {}, binary);
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(600, 0);

  std::printf(
      "\n(a) POST prewarm -> job finished, every image already cached: %s serve (demo model, defaults) on "
      "loopback\n",
      binary.c_str());
  struct Measured {
    std::string label;
    std::vector<Followed> events, polled;
  };
  std::vector<Measured> measured;
  int first_seed = 1;
  for (size_t size : sizes) {
    const Clock::time_point generated = Clock::now();
    const std::vector<NamedFile> files = MakePhotoJpegs(static_cast<int>(size), 160, 120, first_seed);
    first_seed += static_cast<int>(size);
    const double generate_ms = MsSince(generated);
    Clock::time_point step = Clock::now();
    const std::string first_dataset = UploadDataset(client, files, /*expect_cached=*/false);
    const double upload_ms = MsSince(step);
    step = Clock::now();
    Reply computed = samcache::testing::Prewarm(client, first_dataset);
    const double compute_ms = MsSince(step);
    if (computed.body["status"] != "completed" || computed.body["computed"] != size) {
      Fail("the first prewarm did not compute every image: " + computed.raw.substr(0, 500));
    }
    const std::string cached_dataset = UploadDataset(client, files, /*expect_cached=*/true);
    std::printf(
        "%zu distinct 160x120 JPEGs (%.1f KB) generated in %.2f s, uploaded in %.2f s; first prewarm "
        "(computes all) %.2f s = %.1f images/s; then the same files uploaded into a second dataset\n",
        size, static_cast<double>(TotalBytes(files)) / 1e3, generate_ms / 1e3, upload_ms / 1e3,
        compute_ms / 1e3, static_cast<double>(size) / (compute_ms / 1e3));

    CheckAllSkipped(FollowEvents(client, cached_dataset), size);  // one untimed warm-up job
    Measured m{std::to_string(size), {}, {}};
    for (int i = 0; i < repetitions; ++i) {
      m.events.push_back(FollowEvents(client, cached_dataset));
      CheckAllSkipped(m.events.back(), size);
    }
    for (int i = 0; i < repetitions; ++i) {
      m.polled.push_back(PollSnapshot(client, cached_dataset, poll_ms));
      CheckAllSkipped(m.polled.back(), size);
    }
    measured.push_back(std::move(m));
  }
  std::printf(
      "each row: %d jobs one after another on the second dataset (after one untimed job), each checked: "
      "completed, skipped = all, computed = 0\n",
      repetitions);
  std::printf(
      "ms from sending the POST: '202' = its answer read (p50); p50..max = the finished job seen; "
      "GETs = snapshot reads per job\n");
  std::printf("%-7s %-20s %5s %9s %9s %9s %9s %9s %6s\n", "images", "follow", "jobs", "202 p50", "p50", "p99",
              "mean", "max", "GETs");
  for (const Measured& m : measured) {
    PrintLatencyRow(m.label, "events until done", m.events);
    PrintLatencyRow(m.label, "poll GET every " + std::to_string(poll_ms) + " ms", m.polled);
  }
}

// ------------------------------------------------------------------------------------ (b)

void StoreRow(const char* what, const std::vector<double>& ms) {
  std::printf("%-44s %6zu %10.4f %10.4f %10.4f\n", what, ms.size(), Percentile(ms, 50), Percentile(ms, 99),
              Mean(ms));
}

void TieredStoreLatency(int gets, int key_count) {
  TempDir dir;
  const std::string model_id = "0123456789abcdef";
  std::vector<samcache::EmbeddingKey> keys;
  std::vector<std::shared_ptr<const samcache::Embedding>> embeddings;
  for (int i = 0; i < key_count; ++i) {
    keys.push_back({model_id, samcache::Sha256Hex("image " + std::to_string(i))});
    embeddings.push_back(SamEmbedding(model_id, i));
  }
  const uint64_t bytes = embeddings.front()->bytes();
  samcache::DiskTier disk(dir / "embeddings", 0);
  if (samcache::Status init = disk.Init(); !init.ok()) Fail(init.message());
  samcache::MemoryTier roomy(bytes * static_cast<uint64_t>(key_count) * 2);
  samcache::TieredStore hot({&roomy, &disk});
  // Holds one embedding: cycling over the keys, every get misses it and goes to disk.
  samcache::MemoryTier tiny(bytes + bytes / 2);
  samcache::TieredStore cold({&tiny, &disk});

  std::vector<double> put_ms;
  for (size_t i = 0; i < keys.size(); ++i) {
    const Clock::time_point start = Clock::now();
    if (samcache::Status put = hot.Put(keys[i], embeddings[i]); !put.ok()) Fail(put.message());
    put_ms.push_back(MsSince(start));
  }
  auto time_gets = [&](samcache::TieredStore& store) {
    std::vector<double> ms;
    for (int i = 0; i < gets; ++i) {
      const samcache::EmbeddingKey& key = keys[static_cast<size_t>(i) % keys.size()];
      const Clock::time_point start = Clock::now();
      if (!store.Get(key)) Fail("miss for " + key.ToString());
      ms.push_back(MsSince(start));
    }
    return ms;
  };
  const std::vector<double> memory_ms = time_gets(hot);
  const uint64_t disk_hits_before = disk.Stats().hits;
  const std::vector<double> disk_ms = time_gets(cold);
  const uint64_t disk_hits = disk.Stats().hits - disk_hits_before;
  if (disk_hits != static_cast<uint64_t>(gets)) {
    Fail("expected every get of the disk row to be a disk hit; " + std::to_string(disk_hits) + " of " +
         std::to_string(gets) + " were");
  }

  std::printf(
      "\n(b) one [1,256,64,64] float32 embedding (%.2f MiB) through the TieredStore (memory -> disk), "
      "%d keys; disk tier in %s (page cache warm)\n",
      static_cast<double>(bytes) / (1 << 20), key_count, dir.path().string().c_str());
  std::printf("%-44s %6s %10s %10s %10s\n", "operation", "n", "p50 ms", "p99 ms", "mean ms");
  StoreRow("get, memory hit", memory_ms);
  StoreRow("get, disk hit (memory miss, then promoted)", disk_ms);
  StoreRow("put, write-through (memory + disk, fsync)", put_ms);
}

// ------------------------------------------------------------------------------------ (c)

struct ModelUnderTest {
  std::string label;  // short, for the summary
  fs::path dir;       // empty: the built-in demo model
};

// CPU time of the whole machine (busy, from /proc/stat, steal included: it is not ours) and of
// this process, to tell how much of the machine other processes took during a measurement.
struct CpuSample {
  double machine_busy_s = 0;
  double self_s = 0;
  Clock::time_point at = Clock::now();
};

CpuSample SampleCpu() {
  CpuSample s;
  if (std::FILE* stat = std::fopen("/proc/stat", "r")) {
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    if (std::fscanf(stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle,
                    &iowait, &irq, &softirq, &steal) == 8) {
      s.machine_busy_s = static_cast<double>(user + nice + system + irq + softirq + steal) /
                         static_cast<double>(sysconf(_SC_CLK_TCK));
    }
    std::fclose(stat);
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  s.self_s = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  s.at = Clock::now();
  return s;
}

struct Timed {
  double seconds = 0;
  double own_cores = 0;    // CPU time of this process / wall time
  double other_cores = 0;  // CPU time of everything else on the machine / wall time
};

Timed Since(const CpuSample& start) {
  const CpuSample end = SampleCpu();
  Timed t;
  t.seconds = std::chrono::duration<double>(end.at - start.at).count();
  t.own_cores = (end.self_s - start.self_s) / t.seconds;
  t.other_cores =
      std::max(0.0, (end.machine_busy_s - start.machine_busy_s) - (end.self_s - start.self_s)) / t.seconds;
  return t;
}

struct Throughput {
  std::string label;
  double encoder_ms = 0;  // per image, encoder only
  double prepare_ms = 0;  // per image, decode + preprocess in the sequential loop
  Timed encoder_only, sequential, prewarm;
  double prewarm_encoder_ms = 0;  // per image, the encoder runs during the prewarm job
  double images = 0;
  double ips(const Timed& t) const { return images / t.seconds; }
};

Throughput MeasureThroughput(const ModelUnderTest& m, const fs::path& data_dir, const fs::path& cache_dir,
                             const std::vector<NamedFile>& files, int intra_op_threads,
                             std::string& dataset_id) {
  samcache::AppOptions options;
  options.data_dir = data_dir;
  options.cache_dir = cache_dir;  // fresh: nothing cached
  options.load_model = true;
  options.models = {std::filesystem::path(m.dir)};  // empty: the built-in demo model
  options.model.intra_op_threads = intra_op_threads;
  auto opened = samcache::App::Open(options);
  if (!opened.ok()) Fail("App::Open: " + opened.status().message());
  samcache::App& app = **opened;
  const samcache::SamModel& model = *app.model();
  const size_t n = files.size();

  if (dataset_id.empty()) {  // the first model ingests; the others reuse the dataset
    samcache::UploadBatch batch(app.ingestor(), app.catalog(), "prewarm_bench");
    for (const NamedFile& f : files) batch.Add(samcache::IncomingFile{f.filename, f.bytes, ""});
    batch.Finish();
    if (batch.stored().size() != n || batch.duplicates_found() != 0) {
      Fail("ingest: " + std::to_string(batch.stored().size()) + " of " + std::to_string(n) + " stored, " +
           std::to_string(batch.duplicates_found()) + " duplicate(s)");
    }
    dataset_id = batch.dataset_id();
  }

  const samcache::ModelInfo& info = model.info();
  std::printf("\nmodel %s (id %s, %s, %d intra-op threads)\n", info.name.c_str(), info.id.c_str(),
              info.source.c_str(), info.intra_op_threads);

  auto decode = [&](const NamedFile& f) {
    samcache::Result<samcache::DecodedImage> d =
        samcache::DecodeImage(f.bytes, samcache::SniffFormat(f.bytes));
    if (!d.ok()) Fail(f.filename + ": " + d.status().message());
    return std::move(d).value();
  };
  auto encode = [&](const samcache::PreparedImage& input) {
    samcache::Result<samcache::Embedding> e = model.Encode(input);
    if (!e.ok()) Fail("Encode: " + e.status().message());
  };

  Throughput t;
  t.label = m.label;
  t.images = static_cast<double>(n);

  // (1) encoder only, on inputs prepared beforehand; one untimed run first.
  std::vector<samcache::PreparedImage> prepared;
  for (const NamedFile& f : files) prepared.push_back(model.Prepare(decode(f)));
  encode(prepared.front());
  CpuSample start = SampleCpu();
  for (const samcache::PreparedImage& input : prepared) encode(input);
  t.encoder_only = Since(start);
  prepared.clear();
  prepared.shrink_to_fit();

  // (2) what a naive loop does: decode, preprocess, encode, one image after another.
  double prepare_total_ms = 0;
  start = SampleCpu();
  for (const NamedFile& f : files) {
    const Clock::time_point step = Clock::now();
    samcache::PreparedImage input = model.Prepare(decode(f));
    prepare_total_ms += MsSince(step);
    encode(input);
  }
  t.sequential = Since(start);

  // (3) a prewarm job on the dataset: nothing is cached under this model in this cache.
  samcache::PrewarmJobs& jobs = *app.prewarm();
  const samcache::EncoderStats before = app.embeddings()->Stats();
  start = SampleCpu();
  samcache::Result<samcache::PrewarmJobs::Started> started = jobs.Start(dataset_id);
  if (!started.ok()) Fail("prewarm: " + started.status().message());
  const std::string job_id = started->snapshot.job.id;
  samcache::PrewarmSnapshot finished;
  for (int64_t seq = 0;;) {
    samcache::Result<samcache::PrewarmUpdate> update =
        jobs.WaitForUpdate(job_id, seq, std::chrono::seconds(1));
    if (!update.ok()) Fail("prewarm: " + update.status().message());
    seq = update->snapshot.seq;
    if (samcache::IsFinishedPrewarmStatus(update->snapshot.job.status)) {
      finished = std::move(update->snapshot);
      break;
    }
  }
  t.prewarm = Since(start);
  const samcache::EncoderStats after = app.embeddings()->Stats();
  const samcache::PrewarmJobRecord& job = finished.job;
  if (job.status != "completed" || job.computed != static_cast<int64_t>(n) || job.failed != 0) {
    Fail("prewarm: expected all " + std::to_string(n) + " computed; status " + job.status + ", computed " +
         std::to_string(job.computed) + ", skipped " + std::to_string(job.skipped) + ", failed " +
         std::to_string(job.failed));
  }
  const double prewarm_encoder_s = after.encoder_seconds - before.encoder_seconds;
  t.encoder_ms = t.encoder_only.seconds * 1e3 / t.images;
  t.prepare_ms = prepare_total_ms / t.images;
  t.prewarm_encoder_ms = prewarm_encoder_s * 1e3 / t.images;

  std::printf("%-50s %9s %10s %10s %7s %7s\n", "step", "seconds", "images/s", "ms/image", "cores", "others");
  auto row = [&](const char* what, const Timed& timed) {
    std::printf("%-50s %9.2f %10.2f %10.1f %7.2f %7.2f\n", what, timed.seconds, t.ips(timed),
                timed.seconds * 1e3 / t.images, timed.own_cores, timed.other_cores);
  };
  row("(1) encoder only (inputs prepared beforehand)", t.encoder_only);
  row("(2) sequential decode + preprocess + encode", t.sequential);
  std::printf("%-50s %9.2f %10s %10.1f\n", "    of which decode + preprocess", prepare_total_ms / 1e3, "",
              t.prepare_ms);
  row("(3) prewarm job, nothing cached", t.prewarm);
  std::printf("%-50s %9.2f %10s %10.1f\n", "    of which encoder runs (encoder thread busy)",
              prewarm_encoder_s, "", t.prewarm_encoder_ms);
  std::printf("prewarm / encoder only = %.3f; prewarm / sequential = %.3f\n",
              t.ips(t.prewarm) / t.ips(t.encoder_only), t.ips(t.prewarm) / t.ips(t.sequential));
  return t;
}

fs::path MakeSlowEncoder(const fs::path& out, int layers) {
  const fs::path script = fs::path(SAMCACHE_SOURCE_DIR) / "tools" / "demo_model" / "make_slow_encoder.py";
  if (std::system("/usr/bin/python3 -c 'import onnx, numpy' >/dev/null 2>&1") != 0) {
    Fail(
        "the slow encoder is generated with /usr/bin/python3 and Debian's python3-onnx, which are missing: "
        "install python3-onnx (SAMCACHE_BENCH=1 scripts/setup.sh does), or pass --slow-layers 0 to skip it");
  }
  const fs::path log = out.string() + ".log";
  const std::string command = "/usr/bin/python3 " + QuoteForShell(script.string()) + " " +
                              QuoteForShell(out.string()) + " --layers " + std::to_string(layers) + " >" +
                              QuoteForShell(log.string()) + " 2>&1";
  if (std::system(command.c_str()) != 0) {
    Fail("generating the slow encoder failed: " + command + "\n" + samcache::testing::ReadFileOrDie(log));
  }
  return out;
}

void EncoderThroughput(const ModelUnderTest& first_model, int images, int width, int height,
                       int intra_op_threads, const std::vector<int>& slow_layers) {
  TempDir dir;
  std::vector<ModelUnderTest> models{first_model};
  for (int layers : slow_layers) {
    if (layers <= 0) continue;
    const Clock::time_point start = Clock::now();
    const fs::path slow = MakeSlowEncoder(dir / ("slow-model-" + std::to_string(layers)), layers);
    std::printf(
        "\n(c) slow encoder generated in %.1f s: tools/demo_model/make_slow_encoder.py --layers %d "
        "(%.1f MB encoder.onnx)",
        MsSince(start) / 1e3, layers, static_cast<double>(fs::file_size(slow / "encoder.onnx")) / 1e6);
    models.push_back({"slow encoder, " + std::to_string(layers) + " layers", slow});
  }
  const Clock::time_point generated = Clock::now();
  const std::vector<NamedFile> files = MakePhotoJpegs(images, width, height, 5000);
  std::printf(
      "\n\n(c) prewarm throughput against the encoder, in-process: %d distinct photo-like %dx%d JPEGs q90 "
      "(%.1f MB, generated in %.1f s), one model session per model for all its rows\n",
      images, width, height, static_cast<double>(TotalBytes(files)) / 1e6, MsSince(generated) / 1e3);
  std::printf(
      "cores = CPU time of this process / wall time; others = the same for every other process on the "
      "machine\n");
  std::vector<Throughput> results;
  std::string dataset_id;
  for (size_t i = 0; i < models.size(); ++i) {
    results.push_back(MeasureThroughput(models[i], dir / "data", dir / ("cache-" + std::to_string(i)), files,
                                        intra_op_threads, dataset_id));
  }
  std::printf(
      "\n(c) summary: images/s on %d images %dx%d; encoder and dec+prep in ms per image; others = the most "
      "cores other processes used during any of the model's three rows\n",
      images, width, height);
  std::printf("%-30s %8s %8s %9s %10s %8s %9s %10s %7s\n", "model", "encoder", "dec+prep", "enc only",
              "sequential", "prewarm", "/enc only", "/sequential", "others");
  double most_others = 0;
  for (const Throughput& t : results) {
    const double others =
        std::max({t.encoder_only.other_cores, t.sequential.other_cores, t.prewarm.other_cores});
    most_others = std::max(most_others, others);
    std::printf("%-30s %8.1f %8.1f %9.2f %10.2f %8.2f %9.3f %10.3f %7.2f\n", t.label.c_str(), t.encoder_ms,
                t.prepare_ms, t.ips(t.encoder_only), t.ips(t.sequential), t.ips(t.prewarm),
                t.ips(t.prewarm) / t.ips(t.encoder_only), t.ips(t.prewarm) / t.ips(t.sequential), others);
  }
  if (most_others > 0.2) {
    std::printf(
        "WARNING: other processes used up to %.2f cores during (c): these are not the figures of an idle "
        "machine; run again when it is\n",
        most_others);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"samcache prewarm benchmark"};
  int repetitions = 20;
  size_t large = 500;
  int poll_ms = 1;
  int store_gets = 100;
  int store_keys = 20;
  int images = 20;
  int width = 1920;
  int height = 1080;
  std::string model_dir;
  int intra_op_threads = 0;
  std::vector<int> slow_layers{10, 40};
  std::string parts = "abc";
  bool verbose = false;
  std::string binary = (fs::path(argv[0]).parent_path().parent_path() / "samcache").string();
  cli.add_option("--repetitions", repetitions, "(a) prewarm jobs timed per row")->capture_default_str();
  cli.add_option("--large", large, "(a) also a dataset of this many cached images (0: skip)")
      ->capture_default_str();
  cli.add_option("--poll-ms", poll_ms, "(a) pause between GETs of the polling client")->capture_default_str();
  cli.add_option("--store-gets", store_gets, "(b) timed gets per row")->capture_default_str();
  cli.add_option("--store-keys", store_keys, "(b) distinct embeddings the gets cycle over")
      ->capture_default_str();
  cli.add_option("--images", images, "(c) images per measurement")->capture_default_str();
  cli.add_option("--width", width, "(c) image width")->capture_default_str();
  cli.add_option("--height", height, "(c) image height")->capture_default_str();
  cli.add_option("--model", model_dir, "(c) a model folder instead of the built-in demo model");
  cli.add_option("--intra-op-threads", intra_op_threads, "(c) ONNX Runtime threads per run (0: one per core)")
      ->capture_default_str();
  cli.add_option("--slow-layers", slow_layers,
                 "(c) one generated slow encoder per value, with that many 3x3 convolutions (0: none)")
      ->delimiter(',')
      ->capture_default_str();
  cli.add_option("--parts", parts, "Which measurements to run: any of a, b, c")->capture_default_str();
  cli.add_option("--binary", binary, "(a) the samcache binary to start")->capture_default_str();
  cli.add_flag("--verbose", verbose, "(c) keep the in-process log (every encoder run with its timings)");
  CLI11_PARSE(cli, argc, argv);

  // The in-process App logs every encoder run and job; the tables are the output here.
  if (!verbose) spdlog::set_level(spdlog::level::warn);
  try {
    if (repetitions < 1 || images < 1 || width < 1 || height < 1 || store_gets < 1 || store_keys < 2) {
      Fail(
          "--repetitions, --images, --width, --height and --store-gets must be positive, --store-keys at "
          "least 2");
    }
    const Clock::time_point start = Clock::now();
    std::printf("samcache prewarm benchmark (bench/prewarm_bench)\n");
    std::printf("machine: %u hardware threads\n", std::thread::hardware_concurrency());
    if (parts.find('a') != std::string::npos) {
      std::vector<size_t> sizes{50};
      if (large > 0) sizes.push_back(large);
      CachedPrewarmLatency(binary, sizes, repetitions, poll_ms);
    }
    if (parts.find('b') != std::string::npos) TieredStoreLatency(store_gets, store_keys);
    if (parts.find('c') != std::string::npos) {
      const ModelUnderTest first{model_dir.empty() ? "demo (built-in)" : model_dir, model_dir};
      EncoderThroughput(first, images, width, height, intra_op_threads, slow_layers);
    }
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) != 3) load[0] = load[1] = load[2] = -1;
    std::printf("\ntotal %.1f s; load average %.2f %.2f %.2f at the end\n", MsSince(start) / 1e3, load[0],
                load[1], load[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "prewarm_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
