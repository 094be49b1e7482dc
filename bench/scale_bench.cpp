// scale_bench: whole-dataset work at 100,000 images (issue 18).
//
// 1. Generates N distinct 64x48 JPEGs and ingests them with the real `samcache ingest` (a child
//    process): images/s and the child's peak RSS (getrusage of the child). The files are
//    deleted once ingested.
// 2. Adds M synthetic annotations (M/N per image, ten categories, one 64x48 RLE mask) straight
//    into the SQLite catalog in transactions of 10,000 rows (not through the API: a million
//    HTTP requests would measure the API, not the export), and writes one empty file per
//    picture into the disk cache's folder plus the default project's claim of each picture
//    (Catalog::AddClaims, in batches): the disk tier indexes files by name, so every picture
//    counts as cached for prewarm's skip path, which never reads them.
// 3. Starts `samcache serve` on that data folder and measures the streamed COCO export (time,
//    bytes, serve's RSS before and its peak RSS after, from /proc/<pid>/status VmRSS/VmHWM),
//    then prewarm of the fully cached dataset: POST -> "completed" (every image skipped).
// 4. In a child process (its own peak): a PictureIndex (the service's near-duplicate index) of
//    H random pictures, its memory (VmRSS growth) and the p50/p99 of PictureIndex::Find at the
//    service's default distance (both the hash and its mirrored twin, as a search does).
//
//   scale_bench [--images N] [--annotations M] [--hashes H] [--queries Q] [--data DIR]
//               [--skip-ingest] [--skip-export] [--skip-near-dup] [--binary PATH]
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "catalog/catalog.h"
#include "common/crypto.h"
#include "model/mask_codec.h"
#include "similar/near_duplicates.h"
#include "support/http_reply.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using samcache::bench::MsSince;
using samcache::bench::Percentile;

// A field of /proc/<pid>/status in MiB (VmRSS, VmHWM); -1 when unreadable.
double StatusMiB(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  return -1;
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string message = err != nullptr ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error("sqlite: " + message);
  }
}

// Runs the samcache binary with `args`; returns (seconds, child's peak RSS in MiB).
std::pair<double, double> RunTimed(const std::string& binary, const std::vector<std::string>& args,
                                   const fs::path& log) {
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    std::FILE* out = std::freopen(log.c_str(), "w", stdout);
    (void)out;
    dup2(STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("samcache failed; see " + log.string());
  return {std::chrono::duration<double>(Clock::now() - start).count(),
          static_cast<double>(usage.ru_maxrss) / 1024.0};
}

// A 64x48 picture of its own per index: a gradient and three shapes from a generator seeded
// with it (other bytes and other pixels for every index; unrelated perceptual hashes).
std::string DistinctJpeg(int index) {
  std::mt19937 random(static_cast<unsigned>(index) * 2654435761u + 17u);
  std::uniform_int_distribution<int> byte(0, 255);
  cv::Mat image(48, 64, CV_8UC3);
  const cv::Vec3b from(static_cast<uchar>(byte(random)), static_cast<uchar>(byte(random)),
                       static_cast<uchar>(byte(random)));
  const cv::Vec3b to(static_cast<uchar>(byte(random)), static_cast<uchar>(byte(random)),
                     static_cast<uchar>(byte(random)));
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c)
        image.at<cv::Vec3b>(y, x)[c] = static_cast<uchar>((from[c] * (64 - x) + to[c] * x) / 64);
  for (int k = 0; k < 3; ++k) {
    const cv::Scalar color(byte(random), byte(random), byte(random));
    const cv::Point a(byte(random) % 64, byte(random) % 48), b(byte(random) % 64, byte(random) % 48);
    if (k == 1)
      cv::circle(image, a, 4 + byte(random) % 16, color, cv::FILLED);
    else
      cv::rectangle(image, a, b, color, cv::FILLED);
  }
  // The index in the corner pixels too: two draws never give the same file.
  image.at<cv::Vec3b>(0, 0) =
      cv::Vec3b(static_cast<uchar>(index & 0xFF), static_cast<uchar>((index >> 8) & 0xFF),
                static_cast<uchar>((index >> 16) & 0xFF));
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", image, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
  return std::string(jpeg.begin(), jpeg.end());
}

void Ingest(const std::string& binary, const fs::path& data, int images) {
  const fs::path dir = data.parent_path() / "scale-images";
  fs::create_directories(dir);
  const auto made = Clock::now();
  uintmax_t bytes = 0;
  for (int i = 0; i < images; ++i) {
    const fs::path file = dir / (std::to_string(i / 1000)) / ("img" + std::to_string(i) + ".jpg");
    fs::create_directories(file.parent_path());
    const std::string jpeg = DistinctJpeg(i);
    bytes += jpeg.size();
    samcache::testing::WriteFile(file, jpeg);
  }
  std::printf("generated %d JPEGs of 64x48 (%.1f MB) in %.1f s\n", images, static_cast<double>(bytes) / 1e6,
              MsSince(made) / 1000);
  const auto [seconds, peak] =
      RunTimed(binary, {"ingest", "--data", data.string(), "--dataset", "scale", dir.string()},
               data.parent_path() / "ingest.log");
  std::printf(
      "ingest (samcache ingest, one process): %d images in %.1f s = %.0f images/s, peak RSS %.0f MiB\n",
      images, seconds, images / seconds, peak);
  fs::remove_all(dir);
}

// Annotations straight into the catalog file, and a cached embedding (an empty file the disk
// tier indexes by name) plus the project's claim for every picture.
void Populate(const fs::path& data, const std::string& model_id, int64_t annotations) {
  auto catalog = samcache::OpenCatalog((data / "samcache.db").string());
  if (!catalog.ok()) throw std::runtime_error(catalog.status().message());
  auto dataset = (*catalog)->FindDataset("scale");
  if (!dataset.ok() || !*dataset) throw std::runtime_error("no dataset 'scale'");
  const std::string dataset_id = (**dataset).id;
  const std::vector<samcache::ImageRecord> images = *(*catalog)->ListImages(dataset_id);
  const auto cached = Clock::now();
  std::vector<std::string> pixels;
  for (const samcache::ImageRecord& image : images) {
    const fs::path file =
        data / "embeddings" / model_id / image.pixel_hash.substr(0, 2) / (image.pixel_hash + ".safetensors");
    fs::create_directories(file.parent_path());
    std::ofstream(file).flush();
    pixels.push_back(image.pixel_hash);
    if (pixels.size() == 10'000 || &image == &images.back()) {
      const samcache::Status st = (*catalog)->AddClaims((**dataset).project_id, model_id, pixels);
      if (!st.ok()) throw std::runtime_error(st.message());
      pixels.clear();
    }
  }
  std::printf("cache populated synthetically: %zu empty embedding files + claims in %.1f s\n", images.size(),
              MsSince(cached) / 1000);
  catalog->reset();

  samcache::BinaryMask mask{48, 64, std::vector<uint8_t>(48 * 64, 0)};
  for (int y = 8; y < 40; ++y)
    for (int x = 8; x < 56; ++x) mask.data[static_cast<size_t>(y * 64 + x)] = 1;
  const std::string counts = samcache::CompressRleCounts(samcache::RleCounts(mask));
  sqlite3* db = nullptr;
  sqlite3_open((data / "samcache.db").c_str(), &db);
  Exec(db, "PRAGMA busy_timeout = 10000");
  const auto inserted = Clock::now();
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(
      db,
      "INSERT INTO annotations (id, image_id, position, category, mask_height, mask_width, "
      "rle_counts, bbox_x, bbox_y, bbox_w, bbox_h, area, score, prompt_json, model_id, created_at, "
      "updated_at) VALUES (?, ?, ?, ?, 48, 64, ?, 8, 8, 48, 32, 1536, 0.9, '', '', "
      "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
      -1, &stmt, nullptr);
  const int64_t per_image = std::max<int64_t>(1, annotations / static_cast<int64_t>(images.size()));
  int64_t made = 0;
  Exec(db, "BEGIN");
  for (size_t i = 0; i < images.size() && made < annotations; ++i) {
    for (int64_t k = 0; k < per_image && made < annotations; ++k, ++made) {
      const std::string id = "a" + std::to_string(made);
      const std::string category = "category " + std::to_string(made % 10);
      sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(stmt, 2, images[i].id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(stmt, 3, k);
      sqlite3_bind_text(stmt, 4, category.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(stmt, 5, counts.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(stmt) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
      sqlite3_reset(stmt);
      if ((made + 1) % 10'000 == 0) Exec(db, "COMMIT; BEGIN");
    }
  }
  Exec(db, "COMMIT");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  std::printf("annotations: %lld inserted with SQL in transactions of 10,000 in %.1f s\n",
              static_cast<long long>(made), MsSince(inserted) / 1000);
}

void ExportAndPrewarm(const std::string& binary, const fs::path& data, int64_t annotations) {
  samcache::testing::ServerProcess server(data, {}, binary);
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(600, 0);
  const json models = json::parse(client.Get("/api/sam/models")->body);
  const std::string model_id = models["models"][0]["id"];
  const std::string dataset_id = [&] {
    auto listed = client.Get("/api/sam/datasets");
    if (!listed) throw std::runtime_error("GET /api/sam/datasets: no answer");
    const json answer = json::parse(listed->body);  // alive for the loop (not a temporary's member)
    for (const json& d : answer["datasets"])
      if (d["name"] == "scale") return d["id"].get<std::string>();
    throw std::runtime_error("no dataset 'scale' served: " + listed->body.substr(0, 300));
  }();
  (void)annotations;
  const double rss_before = StatusMiB(server.pid(), "VmRSS");
  const double hwm_before = StatusMiB(server.pid(), "VmHWM");
  size_t bytes = 0;
  const auto start = Clock::now();
  auto res = client.Get("/api/sam/dataset/" + dataset_id + "/export/coco", [&](const char*, size_t n) {
    bytes += n;
    return true;
  });
  const double seconds = MsSince(start) / 1000;
  if (!res || res->status != 200) throw std::runtime_error("export failed");
  std::printf(
      "COCO export (streamed, GET /export/coco): %.1f MB in %.1f s (%.0f MB/s); serve RSS %.0f MiB before, "
      "peak %.0f MiB before and %.0f MiB after the export\n",
      static_cast<double>(bytes) / 1e6, seconds, static_cast<double>(bytes) / 1e6 / seconds, rss_before,
      hwm_before, StatusMiB(server.pid(), "VmHWM"));

  std::vector<double> runs;
  for (int run = 0; run < 3; ++run) {
    const auto posted = Clock::now();
    samcache::testing::Reply started = samcache::testing::StartPrewarm(client, dataset_id);
    if (started.status != 202) throw std::runtime_error("prewarm: " + started.raw);
    samcache::testing::Reply done = samcache::testing::WaitForPrewarm(client, started.body["job_id"]);
    runs.push_back(MsSince(posted));
    if (done.body["status"] != "completed" || done.body["computed"] != 0)
      throw std::runtime_error("prewarm did not skip everything: " + done.raw);
  }
  std::printf(
      "prewarm of the fully cached dataset (%s): POST -> completed, all skipped: %.0f / %.0f / %.0f ms\n",
      model_id.c_str(), runs[0], runs[1], runs[2]);
}

// In a child: its own peak RSS.
void NearDuplicates(int64_t hashes, int queries) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid != 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    return;
  }
  std::mt19937_64 random(18);
  const double before = StatusMiB(0, "VmRSS");
  const auto built = Clock::now();
  samcache::PictureIndex index;
  std::vector<uint64_t> codes;
  codes.reserve(static_cast<size_t>(queries));
  for (int64_t i = 0; i < hashes; ++i) {
    std::array<uint8_t, 32> digest{};
    for (size_t k = 0; k < digest.size(); k += 8) {
      const uint64_t r = random();
      std::memcpy(digest.data() + k, &r, 8);
    }
    const uint64_t code = random();
    index.Add(samcache::HexEncode(digest.data(), digest.size()), code);
    if (static_cast<int>(codes.size()) < queries) codes.push_back(code);
  }
  const double build_s = MsSince(built) / 1000;
  const double after = StatusMiB(0, "VmRSS");
  std::vector<double> find_us;
  std::vector<double> search_us;
  size_t found = 0;
  const int distance = samcache::kDefaultNearDuplicateDistance;
  for (int q = 0; q < queries; ++q) {
    const uint64_t query = codes[static_cast<size_t>(q)] ^ (uint64_t{1} << (q % 64));
    const auto start = Clock::now();
    found += index.Find(samcache::PerceptualHash{query, ~query}, distance, "").size();
    find_us.push_back(MsSince(start) * 1000);
  }
  std::printf(
      "near-duplicate index: %lld random pictures in a PictureIndex, built in %.1f s, memory %.0f MiB "
      "(%.0f bytes per picture), peak RSS of the process %.0f MiB\n",
      static_cast<long long>(hashes), build_s, after - before,
      (after - before) * 1048576.0 / static_cast<double>(hashes), StatusMiB(0, "VmHWM"));
  std::printf(
      "near-duplicate query (PictureIndex::Find, distance %d, hash and mirrored): p50 %.0f us, p99 %.0f us "
      "(%d queries, %zu matches)\n",
      distance, Percentile(find_us, 50), Percentile(find_us, 99), queries, found);
  std::fflush(stdout);
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"whole-dataset work at scale (issue 18)"};
  int images = 100'000;
  int64_t annotations = 1'000'000;
  int64_t hashes = 10'000'000;
  int queries = 2000;
  std::string data_arg;
  std::string binary = SAMCACHE_BINARY;
  bool skip_ingest = false, skip_export = false, skip_near_dup = false;
  app.add_option("--images", images, "Images to generate and ingest")->capture_default_str();
  app.add_option("--annotations", annotations, "Synthetic annotations for the export")->capture_default_str();
  app.add_option("--hashes", hashes, "Pictures in the near-duplicate index")->capture_default_str();
  app.add_option("--queries", queries, "Near-duplicate queries timed")->capture_default_str();
  app.add_option("--data", data_arg, "Data folder (kept); default: a temporary one, removed at the end");
  app.add_option("--binary", binary, "The samcache binary")->capture_default_str();
  app.add_flag("--skip-ingest", skip_ingest, "Use the data folder as it is (from an earlier --data run)");
  app.add_flag("--skip-export", skip_export, "No export and prewarm figures");
  app.add_flag("--skip-near-dup", skip_near_dup, "No near-duplicate figures");
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<samcache::testing::TempDir> tmp;
  fs::path data = data_arg;
  if (data.empty()) {
    tmp = std::make_unique<samcache::testing::TempDir>();
    data = tmp->path() / "data";
  }
  fs::create_directories(data);
  const auto all = Clock::now();
  try {
    if (!skip_ingest) Ingest(binary, data, images);
    if (!skip_export) {
      std::string model_id;
      {
        samcache::testing::ServerProcess probe(data, {}, binary);
        httplib::Client client("127.0.0.1", probe.port());
        model_id = json::parse(client.Get("/api/sam/models")->body)["models"][0]["id"];
      }
      if (!skip_ingest) Populate(data, model_id, annotations);
      ExportAndPrewarm(binary, data, annotations);
    }
    if (!skip_near_dup) NearDuplicates(hashes, queries);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scale_bench: %s\n", e.what());
    return 1;
  }
  std::printf("total %.1f min\n", MsSince(all) / 60000);
  return 0;
}
