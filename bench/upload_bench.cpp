// upload_bench: upload throughput of `samcache serve` (issue 2).
//
// Generates N distinct photo-like JPEGs of mixed sizes, starts the real samcache binary on an
// ephemeral port with a fresh data folder, uploads every file through
// POST /api/sam/dataset/init in requests of B files (pass 1: all new content), then uploads
// the same files again into new datasets (pass 2: all duplicates, which the server does not
// decode). In the same run it times /usr/bin/sha256sum and samcache::Sha256Hex over the same
// files, and the server's per-file steps (decode, thumbnail, pixel hash, durable write)
// in-process, so the table shows what share of an upload each of them is.
//
//   upload_bench [--images N] [--batch B] [--binary PATH] [--keep-dir DIR]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.h"
#include "common/files.h"
#include "image/image_decoder.h"
#include "image/image_format.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr double kMB = 1e6;         // all sizes are printed in MB = 10^6 bytes
constexpr int kThumbMaxSide = 256;  // IngestOptions::thumb_max_side default, as `serve` uses

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

// ---------------------------------------------------------------------------------------
// Input images

struct Size {
  int width;
  int height;
};
// A third each: VGA, Full HD and a 12-megapixel camera frame.
constexpr Size kSizes[] = {{640, 480}, {1920, 1080}, {4000, 3000}};

struct InputFile {
  fs::path path;
  std::string filename;
  int width = 0;
  int height = 0;
  std::string bytes;
  std::string sha256;
};

// A photo-like picture that JPEG cannot squeeze to nothing: a smooth colour field, a few
// dozen soft-edged shapes, mid-frequency texture and sensor-like Gaussian noise, all drawn
// from one seeded generator, plus the index as text so every file is distinct.
cv::Mat MakePhoto(int width, int height, int index) {
  cv::RNG rng(0x5A3C0000u + static_cast<uint64_t>(index) * 7919u);
  auto random_colour = [&] {
    return cv::Scalar(rng.uniform(0, 256), rng.uniform(0, 256), rng.uniform(0, 256));
  };

  // Colour field: a 4x3 grid of random colours, upscaled with bicubic interpolation.
  cv::Mat field(3, 4, CV_8UC3);
  rng.fill(field, cv::RNG::UNIFORM, 0, 256);
  cv::Mat img;
  cv::resize(field, img, cv::Size(width, height), 0, 0, cv::INTER_CUBIC);

  const int s = std::min(width, height);
  for (int i = 0; i < 40; ++i) {
    const cv::Point c(rng.uniform(0, width), rng.uniform(0, height));
    const int r = rng.uniform(s / 40 + 1, s / 5 + 2);
    switch (rng.uniform(0, 4)) {
      case 0:
        cv::circle(img, c, r, random_colour(), cv::FILLED, cv::LINE_AA);
        break;
      case 1:
        cv::rectangle(img, c, c + cv::Point(rng.uniform(-r, r), rng.uniform(-r, r)), random_colour(),
                      cv::FILLED);
        break;
      case 2:
        cv::ellipse(img, c, cv::Size(r, r / 2 + 1), rng.uniform(0, 180), 0, 360, random_colour(), cv::FILLED,
                    cv::LINE_AA);
        break;
      default:
        cv::line(img, c, {rng.uniform(0, width), rng.uniform(0, height)}, random_colour(),
                 std::max(1, s / 200), cv::LINE_AA);
    }
  }
  cv::GaussianBlur(img, img, cv::Size(0, 0), std::max(0.8, s / 1000.0));

  // Texture (foliage, fabric, ...): random values on a 6-pixel grid, linearly upscaled.
  cv::Mat coarse(std::max(2, height / 6), std::max(2, width / 6), CV_8UC3);
  rng.fill(coarse, cv::RNG::UNIFORM, 0, 256);
  cv::Mat texture;
  cv::resize(coarse, texture, img.size(), 0, 0, cv::INTER_LINEAR);
  cv::addWeighted(img, 0.85, texture, 0.15, 0, img);

  // Sensor noise.
  cv::Mat noise(img.size(), CV_16SC3);
  rng.fill(noise, cv::RNG::NORMAL, 0, 7);
  cv::Mat img16;
  img.convertTo(img16, CV_16SC3);
  img16 += noise;
  img16.convertTo(img, CV_8UC3);

  cv::putText(img, "#" + std::to_string(index), {s / 20, s / 8}, cv::FONT_HERSHEY_SIMPLEX, s / 300.0,
              cv::Scalar(255, 255, 255), std::max(1, s / 150), cv::LINE_AA);
  return img;
}

std::vector<InputFile> GenerateInputs(int count, const fs::path& dir) {
  fs::create_directories(dir);
  std::vector<InputFile> files;
  files.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const Size size = kSizes[i % 3];
    const cv::Mat img = MakePhoto(size.width, size.height, i);
    std::vector<uchar> jpeg;
    if (!cv::imencode(".jpg", img, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90})) Fail("JPEG encoding failed");
    InputFile f;
    char name[64];
    std::snprintf(name, sizeof name, "img%03d_%dx%d.jpg", i, size.width, size.height);
    f.filename = name;
    f.path = dir / name;
    f.width = size.width;
    f.height = size.height;
    f.bytes.assign(reinterpret_cast<const char*>(jpeg.data()), jpeg.size());
    samcache::testing::WriteFile(f.path, f.bytes);
    files.push_back(std::move(f));
  }
  return files;
}

// ---------------------------------------------------------------------------------------
// Uploads

struct PassResult {
  double seconds = 0;
  int requests = 0;
  std::set<std::string> dataset_ids;
};

PassResult UploadPass(int port, const std::vector<InputFile>& files, int batch, bool expect_duplicates,
                      const char* label) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(600, 0);
  client.set_write_timeout(600, 0);
  PassResult result;
  const auto start = Clock::now();
  for (size_t first = 0; first < files.size(); first += static_cast<size_t>(batch)) {
    const size_t end = std::min(files.size(), first + static_cast<size_t>(batch));
    httplib::MultipartFormDataItems items;
    for (size_t i = first; i < end; ++i) {
      items.push_back({"images", files[i].bytes, files[i].filename, "image/jpeg"});
    }
    const httplib::Result res = client.Post("/api/sam/dataset/init", items);
    ++result.requests;
    const std::string where = std::string(label) + ", request " + std::to_string(result.requests) +
                              " (files " + std::to_string(first) + ".." + std::to_string(end - 1) + ")";
    if (!res) Fail(where + ": HTTP request failed: " + httplib::to_string(res.error()));
    if (res->status != 200) Fail(where + ": HTTP " + std::to_string(res->status) + ": " + res->body);
    const json body = json::parse(res->body, nullptr, false);
    if (body.is_discarded()) Fail(where + ": the response is not JSON: " + res->body.substr(0, 500));
    const auto n = static_cast<int64_t>(end - first);
    const int64_t expected_dups = expect_duplicates ? n : 0;
    if (!body.contains("errors") || !body["errors"].is_array() || !body["errors"].empty()) {
      Fail(where + ": the response reports errors: " + body.value("errors", json()).dump());
    }
    if (body.value("duplicates_found", int64_t{-1}) != expected_dups) {
      Fail(where + ": duplicates_found is " + body.value("duplicates_found", json()).dump() + ", expected " +
           std::to_string(expected_dups));
    }
    const json& images = body["images"];
    if (!images.is_array() || static_cast<int64_t>(images.size()) != n) {
      Fail(where + ": expected " + std::to_string(n) + " images in the response, got " +
           std::to_string(images.is_array() ? images.size() : 0));
    }
    for (size_t i = first; i < end; ++i) {
      const json& img = images[i - first];
      if (img.value("content_hash", "") != files[i].sha256 ||
          img.value("duplicate", !expect_duplicates) != expect_duplicates ||
          img.value("width", 0) != files[i].width || img.value("height", 0) != files[i].height) {
        Fail(where + ": unexpected image entry for " + files[i].filename + ": " +
             json{{"content_hash", img.value("content_hash", json())},
                  {"duplicate", img.value("duplicate", json())},
                  {"width", img.value("width", json())},
                  {"height", img.value("height", json())}}
                 .dump());
      }
    }
    const std::string dataset_id = body.value("dataset_id", "");
    if (dataset_id.empty() || !result.dataset_ids.insert(dataset_id).second) {
      Fail(where + ": missing or repeated dataset_id \"" + dataset_id + "\"");
    }
  }
  result.seconds = SecondsSince(start);
  return result;
}

// ---------------------------------------------------------------------------------------
// Hashing and the server's per-file steps, timed in this process

double TimeSha256sum(const std::vector<InputFile>& files) {
  std::vector<std::string> args = {"/usr/bin/sha256sum"};
  for (const auto& f : files) args.push_back(f.path.string());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid < 0) Fail("fork failed");
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    close(null);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  const double seconds = SecondsSince(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Fail("/usr/bin/sha256sum failed");
  return seconds;
}

struct StepTimes {
  double decode = 0;
  double thumbnail = 0;
  double pixel_hash = 0;
  double durable_write = 0;
  double rgb_bytes = 0;
};

// What pass 1 does for each new file besides the streaming content hash: decode it, make the
// thumbnail, hash the pixels, and write the blob durably (temp file, fsync, rename, fsync of
// the folder). One file at a time on one thread, as one upload request does.
StepTimes TimeServerSteps(const std::vector<InputFile>& files, const fs::path& scratch) {
  StepTimes t;
  for (const auto& f : files) {
    auto start = Clock::now();
    samcache::Result<samcache::ImageHeader> header = samcache::ReadImageHeader(f.bytes);
    if (!header.ok()) Fail("ReadImageHeader(" + f.filename + "): " + header.status().message());
    samcache::Result<samcache::DecodedImage> decoded = samcache::DecodeImage(f.bytes, header->format);
    if (!decoded.ok()) Fail("DecodeImage(" + f.filename + "): " + decoded.status().message());
    t.decode += SecondsSince(start);

    start = Clock::now();
    samcache::Result<std::string> thumb = samcache::MakeThumbnailJpeg(*decoded, kThumbMaxSide);
    if (!thumb.ok()) Fail("MakeThumbnailJpeg(" + f.filename + "): " + thumb.status().message());
    t.thumbnail += SecondsSince(start);

    start = Clock::now();
    const std::string pixel_hash = samcache::PixelHash(*decoded);
    t.pixel_hash += SecondsSince(start);
    if (pixel_hash.size() != 64) Fail("PixelHash returned " + pixel_hash);
    t.rgb_bytes += static_cast<double>(decoded->rgb.size());

    start = Clock::now();
    const samcache::Status st =
        samcache::WriteFileAtomically(scratch / "blobs" / (f.sha256 + ".jpg"), f.bytes, scratch / "tmp");
    t.durable_write += SecondsSince(start);
    if (!st.ok()) Fail("WriteFileAtomically: " + st.message());
  }
  return t;
}

// ---------------------------------------------------------------------------------------
// Output

void PrintRow(const std::string& step, double seconds, double images, double mb, double pass1, double pass2) {
  char ips[32] = "-";
  char mbs[32] = "-";
  if (images > 0) std::snprintf(ips, sizeof ips, "%.1f", images / seconds);
  if (mb > 0) std::snprintf(mbs, sizeof mbs, "%.1f", mb / seconds);
  char p1[32] = "-";
  char p2[32] = "-";
  if (pass1 > 0) std::snprintf(p1, sizeof p1, "%.1f%%", 100.0 * seconds / pass1);
  if (pass2 > 0) std::snprintf(p2, sizeof p2, "%.1f%%", 100.0 * seconds / pass2);
  std::printf("%-44s %9.3f %9s %9s %9s %9s\n", step.c_str(), seconds, ips, mbs, p1, p2);
}

int Run(int image_count, int batch, const std::string& binary, const std::string& keep_dir) {
  std::optional<samcache::testing::TempDir> temp;
  fs::path root;
  if (keep_dir.empty()) {
    temp.emplace();
    root = temp->path();
  } else {
    root = fs::absolute(keep_dir);
    std::error_code ec;
    if (fs::exists(root, ec) && !fs::is_empty(root, ec))
      Fail("--keep-dir " + root.string() + " is not empty");
    fs::create_directories(root);
  }
  if (!fs::exists(binary))
    Fail("no samcache binary at " + binary + " (build the samcache target or pass --binary)");

  // Inputs.
  auto start = Clock::now();
  std::vector<InputFile> files = GenerateInputs(image_count, root / "images");
  const double generate_seconds = SecondsSince(start);
  double total_bytes = 0;
  double total_pixels = 0;
  int per_size[3] = {0, 0, 0};
  for (size_t i = 0; i < files.size(); ++i) {
    total_bytes += static_cast<double>(files[i].bytes.size());
    total_pixels += double(files[i].width) * files[i].height;
    ++per_size[i % 3];
  }
  const double total_mb = total_bytes / kMB;
  const double n = static_cast<double>(files.size());

  // Flush the generated files to disk now, so their writeback does not overlap the timings.
  ::sync();

  // Hashing of the same bytes, median of 3 runs each: sha256sum (the files were just written,
  // so they are in the page cache and it reads from memory, as the server gets the bytes from
  // a socket), and the in-process SHA-256 the server uses.
  auto median3 = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[1];
  };
  std::vector<double> runs;
  for (int r = 0; r < 3; ++r) runs.push_back(TimeSha256sum(files));
  const double sha256sum_seconds = median3(runs);
  runs.clear();
  for (int r = 0; r < 3; ++r) {
    start = Clock::now();
    for (auto& f : files) f.sha256 = samcache::Sha256Hex(f.bytes);
    runs.push_back(SecondsSince(start));
  }
  const double inprocess_seconds = median3(runs);
  std::set<std::string> distinct;
  for (const auto& f : files) distinct.insert(f.sha256);
  if (distinct.size() != files.size()) Fail("the generated images are not all distinct");

  // The real server, fresh data folder.
  std::unique_ptr<samcache::testing::ServerProcess> started;
  try {
    started =
        std::make_unique<samcache::testing::ServerProcess>(root / "data", std::vector<std::string>{}, binary);
  } catch (const std::exception& e) {
    Fail(e.what());
  }
  samcache::testing::ServerProcess& server = *started;
  const PassResult pass1 = UploadPass(server.port(), files, batch, false, "pass 1");
  const PassResult pass2 = UploadPass(server.port(), files, batch, true, "pass 2");
  for (const auto& id : pass2.dataset_ids) {
    if (pass1.dataset_ids.count(id)) Fail("pass 2 reused dataset " + id + " from pass 1");
  }
  const int exit_status = server.Stop();
  if (!WIFEXITED(exit_status) || WEXITSTATUS(exit_status) != 0)
    Fail("samcache serve did not exit cleanly on SIGTERM:\n" + server.Log());

  // The server's per-file steps for new content, in this process, after the server stopped.
  const StepTimes steps = TimeServerSteps(files, root / "scratch");

  // Report.
  std::printf("samcache upload benchmark (bench/upload_bench)\n");
  std::printf("images      %zu JPEG q90: %d x 640x480, %d x 1920x1080, %d x 4000x3000\n", files.size(),
              per_size[0], per_size[1], per_size[2]);
  std::printf("total       %.1f MB, %.1f megapixels (decoded RGB %.1f MB); generated in %.1f s\n", total_mb,
              total_pixels / 1e6, total_pixels * 3 / kMB, generate_seconds);
  std::printf("requests    %d files per request, %d requests per pass, sent one after another\n", batch,
              pass1.requests);
  std::printf("server      %s serve (defaults), data folder %s\n", binary.c_str(), (root / "data").c_str());
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) != 3) load[0] = load[1] = load[2] = -1;
  std::printf("machine     %u hardware threads, load average %.2f %.2f %.2f at the end of the run\n",
              std::thread::hardware_concurrency(), load[0], load[1], load[2]);
  std::printf("MB = 10^6 bytes of JPEG files; %% = share of that pass's wall time\n\n");
  std::printf("%-44s %9s %9s %9s %9s %9s\n", "step", "seconds", "images/s", "MB/s", "% pass 1", "% pass 2");
  std::printf("%s\n", std::string(44 + 5 * 10, '-').c_str());
  PrintRow("upload pass 1 (all new)", pass1.seconds, n, total_mb, pass1.seconds, 0);
  PrintRow("upload pass 2 (all duplicates)", pass2.seconds, n, total_mb, 0, pass2.seconds);
  PrintRow("sha256sum, all files (1 process, median/3)", sha256sum_seconds, n, total_mb, pass1.seconds,
           pass2.seconds);
  PrintRow("Sha256Hex in-process, file bytes (median/3)", inprocess_seconds, n, total_mb, pass1.seconds,
           pass2.seconds);
  std::printf("-- pass 1 steps per new file, in-process, 1 thread --\n");
  PrintRow("decode (ReadImageHeader + DecodeImage)", steps.decode, n, total_mb, pass1.seconds, 0);
  PrintRow("thumbnail (MakeThumbnailJpeg 256)", steps.thumbnail, n, total_mb, pass1.seconds, 0);
  char label[64];
  std::snprintf(label, sizeof label, "PixelHash (SHA-256 of %.0f MB RGB)", steps.rgb_bytes / kMB);
  PrintRow(label, steps.pixel_hash, n, total_mb, pass1.seconds, 0);
  PrintRow("write blob + fsync (WriteFileAtomically)", steps.durable_write, n, total_mb, pass1.seconds, 0);
  std::fflush(stdout);

  if (!keep_dir.empty())
    std::printf("\nkept: images, the server's data folder and its log in %s\n", root.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Upload throughput of samcache serve: generated JPEGs of mixed sizes through HTTP, "
      "new and duplicate content, with SHA-256 timed over the same files"};
  int images = 60;
  int batch = 10;
  std::string binary = SAMCACHE_BINARY;
  std::string keep_dir;
  app.add_option("--images", images,
                 "Number of generated images (a third each 640x480, 1920x1080, 4000x3000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--batch", batch, "Files per upload request")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--binary", binary, "The samcache binary to run as the server")->capture_default_str();
  app.add_option("--keep-dir", keep_dir,
                 "Write the images, the server's data folder and its log here (an empty or new "
                 "folder) and keep them; default: a temp folder removed at exit");
  CLI11_PARSE(app, argc, argv);
  try {
    return Run(images, batch, binary, keep_dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "upload_bench: error: %s\n", e.what());
    return 1;
  }
}
