// near_dup_bench: near-duplicate detection (issue 6).
//
// 1. Generates a set of photo-like JPEGs with known relations: N photos, each with six edited
//    versions (resized, re-compressed at quality 60, cropped, brighter, darker, mirrored), plus
//    pictures that show other objects on one of the photos' backgrounds and unrelated pictures.
// 2. Computes the pHash of every file as ingest does (decode with EXIF orientation, pHash), and
//    for a sweep of distances counts the related pairs found (recall, per relation) and the
//    unrelated pairs found (false positives, false-positive rate); also without the mirrored
//    search, and with dHash as a second signal.
// 3. Uploads every file to the real `samcache serve` (default distance) and counts the pairs
//    its answers' near_duplicates report.
// 4. Runs Debian's findimagedupes over the same files: time, groups, pairs.
// 5. Times queries in a HammingIndex of 1,000,000 random hashes (p50, p99) against brute force.
//
//   near_dup_bench [--photos N] [--others N] [--unrelated N] [--index-size N] [--queries N]
//                  [--binary PATH] [--keep-dir DIR] [--skip-findimagedupes] [--skip-server]
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "image/image_decoder.h"
#include "image/image_format.h"
#include "image/perceptual_hash.h"
#include "similar/hamming_index.h"
#include "similar/near_duplicates.h"
#include "support/near_dup_images.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using samcache::DecodedImage;
using samcache::HammingDistance;
using samcache::PerceptualHash;
using samcache::testing::Edit;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

// ---------------------------------------------------------------------------------------
// The image set

// What a file is: a version of photo `family` (original or an edit), or a picture unrelated to
// every photo (other objects on a photo's background, or nothing in common at all).
enum class Role { kOriginal, kEdit, kOtherObjects, kUnrelated };

struct Item {
  std::string filename;
  fs::path path;
  int family = -1;  // >= 0 for originals and edits
  Role role = Role::kUnrelated;
  Edit edit = Edit::kResized;  // for kEdit
  size_t bytes = 0;
  PerceptualHash phash;
  uint64_t dhash = 0;
};

// The tests' edits, plus a crop larger than pHash tolerates, to see where it stops.
constexpr Edit kBenchEdits[] = {Edit::kResized,  Edit::kJpegQ60, Edit::kCropped, Edit::kCroppedMore,
                                Edit::kBrighter, Edit::kDarker,  Edit::kMirrored};
constexpr int kVersions = static_cast<int>(std::size(kBenchEdits)) + 1;

constexpr std::array<std::pair<int, int>, 4> kSizes = {{{640, 480}, {800, 600}, {480, 640}, {1024, 768}}};

DecodedImage DecodeOrDie(const std::string& bytes) {
  samcache::Result<samcache::ImageHeader> header = samcache::ReadImageHeader(bytes);
  if (!header.ok()) Fail(header.status().message());
  samcache::Result<DecodedImage> decoded = samcache::DecodeImage(bytes, header->format);
  if (!decoded.ok()) Fail(decoded.status().message());
  return std::move(decoded).value();
}

void Write(const fs::path& path, const std::string& bytes) { samcache::testing::WriteFile(path, bytes); }

std::vector<Item> GenerateSet(int photos, int others, int unrelated, const fs::path& dir) {
  using samcache::testing::EncodeOrDie;
  using samcache::testing::MakePhoto;
  std::vector<Item> items;
  char name[64];
  for (int f = 0; f < photos; ++f) {
    const auto [w, h] = kSizes[static_cast<size_t>(f) % kSizes.size()];
    const std::string original = EncodeOrDie(MakePhoto(w, h, 1000 + f), ".jpg", 90);
    std::snprintf(name, sizeof name, "p%03d-original.jpg", f);
    items.push_back({name, dir / name, f, Role::kOriginal, Edit::kResized, original.size(), {}, 0});
    Write(dir / name, original);
    // Edits of the file as it was shared: its decoded pixels.
    const DecodedImage shared = DecodeOrDie(original);
    for (Edit edit : kBenchEdits) {
      const std::string bytes = edit == Edit::kJpegQ60
                                    ? EncodeOrDie(shared, ".jpg", 60)
                                    : EncodeOrDie(samcache::testing::ApplyEdit(shared, edit), ".jpg", 90);
      std::string label(samcache::testing::EditName(edit));
      std::replace_if(
          label.begin(), label.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
          '-');
      std::snprintf(name, sizeof name, "p%03d-%s.jpg", f, label.c_str());
      items.push_back({name, dir / name, f, Role::kEdit, edit, bytes.size(), {}, 0});
      Write(dir / name, bytes);
    }
  }
  for (int i = 0; i < others; ++i) {
    const int f = i % std::max(1, photos);
    const auto [w, h] = kSizes[static_cast<size_t>(f) % kSizes.size()];
    const std::string bytes = EncodeOrDie(MakePhoto(w, h, 1000 + f, 70000 + i), ".jpg", 90);
    std::snprintf(name, sizeof name, "o%03d-background-of-p%03d.jpg", i, f);
    items.push_back({name, dir / name, -1, Role::kOtherObjects, Edit::kResized, bytes.size(), {}, 0});
    Write(dir / name, bytes);
  }
  for (int i = 0; i < unrelated; ++i) {
    const auto [w, h] = kSizes[static_cast<size_t>(i) % kSizes.size()];
    const std::string bytes = EncodeOrDie(MakePhoto(w, h, 90000 + i), ".jpg", 90);
    std::snprintf(name, sizeof name, "u%03d-unrelated.jpg", i);
    items.push_back({name, dir / name, -1, Role::kUnrelated, Edit::kResized, bytes.size(), {}, 0});
    Write(dir / name, bytes);
  }
  return items;
}

// dHash (difference hash), measured as a possible second signal: 9x8 grey, one bit per
// horizontally adjacent pair, 1 when brighter to the right.
uint64_t DifferenceHash(const DecodedImage& image) {
  cv::Mat rgb(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC3,
              const_cast<char*>(image.rgb.data()));
  cv::Mat sampled = rgb;
  if (rgb.cols > 256 || rgb.rows > 256) {
    cv::resize(rgb, sampled, cv::Size(std::min(rgb.cols, 256), std::min(rgb.rows, 256)), 0, 0,
               cv::INTER_NEAREST);
  }
  cv::Mat small;
  cv::Mat grey;
  cv::resize(sampled, small, cv::Size(9, 8), 0, 0, cv::INTER_AREA);
  cv::cvtColor(small, grey, cv::COLOR_RGB2GRAY);
  uint64_t bits = 0;
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      if (grey.at<uchar>(y, x + 1) > grey.at<uchar>(y, x)) bits |= uint64_t{1} << (63 - (y * 8 + x));
    }
  }
  return bits;
}

// ---------------------------------------------------------------------------------------
// Pairs

// Relation of a related pair, for per-relation recall: the edit for (original, edit), or
// "two edits" for two edited versions of one photo.
constexpr int kEditsCount = static_cast<int>(std::size(kBenchEdits));
constexpr int kTwoEdits = kEditsCount;  // index after the edits
constexpr int kRelations = kEditsCount + 1;

int EditIndex(Edit edit) {
  return static_cast<int>(std::find(std::begin(kBenchEdits), std::end(kBenchEdits), edit) -
                          std::begin(kBenchEdits));
}
int RelationOf(const Item& a, const Item& b) {
  if (a.role == Role::kOriginal) return EditIndex(b.edit);
  if (b.role == Role::kOriginal) return EditIndex(a.edit);
  return kTwoEdits;
}
std::string RelationLabel(int r) {
  static const char* const kLabels[] = {"resize", "q60",  "crop3/2", "crop6/4",
                                        "bright", "dark", "mirror",  "2 edits"};
  static_assert(std::size(kLabels) == kRelations);
  return kLabels[r];
}

struct PairKey {
  size_t a;
  size_t b;
  bool operator<(const PairKey& o) const { return std::tie(a, b) < std::tie(o.a, o.b); }
  bool operator==(const PairKey&) const = default;
};
PairKey Key(size_t i, size_t j) { return i < j ? PairKey{i, j} : PairKey{j, i}; }

struct Score {
  std::array<int64_t, kRelations> found{};
  std::array<int64_t, kRelations> total{};
  int64_t true_pairs = 0;
  int64_t related = 0;
  int64_t false_pairs = 0;
  int64_t unrelated = 0;
  int64_t false_other_objects = 0;  // false pairs that involve an other-objects picture

  double Recall() const { return related == 0 ? 0 : double(true_pairs) / double(related); }
  double Fpr() const { return unrelated == 0 ? 0 : double(false_pairs) / double(unrelated); }
};

Score ScorePairs(const std::vector<Item>& items, const std::set<PairKey>& found) {
  Score s;
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t j = i + 1; j < items.size(); ++j) {
      const bool related = items[i].family >= 0 && items[i].family == items[j].family;
      const bool hit = found.count({i, j}) > 0;
      if (related) {
        const int r = RelationOf(items[i], items[j]);
        ++s.total[static_cast<size_t>(r)];
        ++s.related;
        if (hit) {
          ++s.found[static_cast<size_t>(r)];
          ++s.true_pairs;
        }
      } else {
        ++s.unrelated;
        if (hit) {
          ++s.false_pairs;
          if (items[i].role == Role::kOtherObjects || items[j].role == Role::kOtherObjects)
            ++s.false_other_objects;
        }
      }
    }
  }
  return s;
}

// Pairs each within `linked` of the other.
template <typename Linked>
std::set<PairKey> PairsWhere(const std::vector<Item>& items, Linked linked) {
  std::set<PairKey> out;
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t j = i + 1; j < items.size(); ++j) {
      if (linked(items[i], items[j])) out.insert({i, j});
    }
  }
  return out;
}

int MirroredDistance(const Item& a, const Item& b) {
  return std::min(HammingDistance(a.phash.mirrored, b.phash.hash),
                  HammingDistance(a.phash.hash, b.phash.mirrored));
}

// All pairs inside groups (what a tool that reports groups says is a duplicate).
std::set<PairKey> PairsOfGroups(const std::vector<std::vector<size_t>>& groups) {
  std::set<PairKey> out;
  for (const auto& g : groups) {
    for (size_t x = 0; x < g.size(); ++x) {
      for (size_t y = x + 1; y < g.size(); ++y) out.insert(Key(g[x], g[y]));
    }
  }
  return out;
}

// Connected components of a pair set, as groups.
std::vector<std::vector<size_t>> Groups(size_t n, const std::set<PairKey>& pairs) {
  std::vector<size_t> parent(n);
  for (size_t i = 0; i < n; ++i) parent[i] = i;
  auto find = [&](size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (const PairKey& p : pairs) parent[find(p.a)] = find(p.b);
  std::map<size_t, std::vector<size_t>> by_root;
  for (size_t i = 0; i < n; ++i) by_root[find(i)].push_back(i);
  std::vector<std::vector<size_t>> out;
  for (auto& [root, members] : by_root) {
    if (members.size() > 1) out.push_back(std::move(members));
  }
  return out;
}

// P(distance <= d) for two independent random 64-bit hashes with 32 bits set each, as pHash
// gives: the distance is 2k where k, the bits set in one and clear in the other, is
// hypergeometric, P(k) = C(32, k)^2 / C(64, 32).
double RandomPairProbability(int d) {
  auto choose = [](int n, int k) {
    double c = 1;
    for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
    return c;
  };
  double p = 0;
  for (int k = 0; 2 * k <= d && k <= 32; ++k) p += choose(32, k) * choose(32, k);
  return p / choose(64, 32);
}

void PrintScoreHeader() {
  std::printf("%-30s %7s", "", "recall");
  for (int r = 0; r < kRelations; ++r) {
    std::string label = RelationLabel(r);
    std::printf(" %8s", label.c_str());
  }
  std::printf(" %8s %8s %10s\n", "TP", "FP", "FPR");
}

void PrintScore(const std::string& label, const Score& s) {
  std::printf("%-30s %6.1f%%", label.c_str(), 100 * s.Recall());
  for (int r = 0; r < kRelations; ++r) {
    const auto i = static_cast<size_t>(r);
    std::printf(" %7.1f%%", s.total[i] == 0 ? 0.0 : 100.0 * double(s.found[i]) / double(s.total[i]));
  }
  std::printf(" %8lld %8lld %9.5f%%\n", static_cast<long long>(s.true_pairs),
              static_cast<long long>(s.false_pairs), 100 * s.Fpr());
}

// ---------------------------------------------------------------------------------------
// The real server

// Uploads every file (one request per photo's versions, then the others) and collects the
// pairs the answers' near_duplicates report.
std::set<PairKey> PairsFromServer(const std::vector<Item>& items, const std::string& binary,
                                  const fs::path& data, double& seconds) {
  samcache::testing::ServerProcess server(data, {}, binary);
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(600, 0);
  std::map<std::string, size_t> index_of_image;  // image id -> item
  std::set<PairKey> pairs;
  const auto start = Clock::now();
  size_t next = 0;
  while (next < items.size()) {
    // A photo's versions together, like a folder uploaded at once; the rest 20 at a time.
    size_t end = next + 1;
    const int family = items[next].family;
    while (end < items.size() && end - next < 20 &&
           (family >= 0 ? items[end].family == family : items[end].family < 0)) {
      ++end;
    }
    httplib::MultipartFormDataItems form;
    for (size_t i = next; i < end; ++i) {
      form.push_back({"images", samcache::testing::ReadFileOrDie(items[i].path), items[i].filename,
                      "application/octet-stream"});
    }
    auto res = client.Post("/api/sam/dataset/init", form);
    if (!res || res->status != 200) Fail("upload failed: " + (res ? res->body : std::string("no answer")));
    const json body = json::parse(res->body);
    if (body["images"].size() != end - next)
      Fail("upload stored " + std::to_string(body["images"].size()) + " files");
    for (size_t k = 0; k < end - next; ++k) {
      const json& image = body["images"][k];
      index_of_image[image["id"]] = next + k;
      for (const json& near : image["near_duplicates"]) {
        auto other = index_of_image.find(near["image_id"].get<std::string>());
        if (other == index_of_image.end()) Fail("near duplicate of an unknown image");
        pairs.insert(Key(next + k, other->second));
      }
    }
    next = end;
  }
  seconds = SecondsSince(start);
  server.Stop();
  return pairs;
}

// ---------------------------------------------------------------------------------------
// findimagedupes

// `threads`: OMP_NUM_THREADS for GraphicsMagick, which findimagedupes uses through OpenMP
// (0: its default, every core).
std::optional<std::set<PairKey>> PairsFromFindimagedupes(const std::vector<Item>& items, const fs::path& dir,
                                                         int threads, double& seconds, size_t& groups_found) {
  if (std::system("command -v findimagedupes >/dev/null 2>&1") != 0) return std::nullopt;
  std::map<std::string, size_t> index_of_path;
  for (size_t i = 0; i < items.size(); ++i) index_of_path[fs::absolute(items[i].path).string()] = i;
  const std::string cmd = (threads > 0 ? "OMP_NUM_THREADS=" + std::to_string(threads) + " " : std::string()) +
                          "findimagedupes -q -- '" + fs::absolute(dir).string() + "' 2>/dev/null";
  const auto start = Clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) Fail("cannot run findimagedupes");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  seconds = SecondsSince(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Fail("findimagedupes failed: " + out);
  // One line per group: the files, separated by spaces (our file names have none).
  std::vector<std::vector<size_t>> groups;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<size_t> group;
    std::string path;
    while (words >> path) {
      auto it = index_of_path.find(path);
      if (it == index_of_path.end()) Fail("findimagedupes named an unknown file: " + path);
      group.push_back(it->second);
    }
    if (group.size() > 1) groups.push_back(std::move(group));
  }
  groups_found = groups.size();
  return PairsOfGroups(groups);
}

// ---------------------------------------------------------------------------------------
// Index timings

struct Percentiles {
  double p50_us = 0;
  double p99_us = 0;
  double mean_us = 0;
};

Percentiles Summarise(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  Percentiles p;
  p.p50_us = us[us.size() / 2];
  p.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  for (double u : us) p.mean_us += u;
  p.mean_us /= static_cast<double>(us.size());
  return p;
}

long ResidentKiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void IndexBenchmark(size_t size, int queries, int brute_queries, int default_distance) {
  std::mt19937_64 rng(20240601);
  std::vector<uint64_t> codes(size);
  for (auto& c : codes) c = rng();
  const long rss_before = ResidentKiB();
  samcache::HammingIndex index;
  auto start = Clock::now();
  for (size_t i = 0; i < codes.size(); ++i)
    index.Insert(codes[i], static_cast<samcache::HammingIndex::Value>(i));
  const double build = SecondsSince(start);
  const long rss_after = ResidentKiB();

  // Queries near stored codes (a stored code with 0..radius bits flipped), so each has a match.
  auto near_query = [&](int radius) {
    uint64_t q = codes[rng() % codes.size()];
    const int flips = static_cast<int>(rng() % static_cast<uint64_t>(radius + 1));
    for (int k = 0; k < flips; ++k) q ^= uint64_t{1} << (rng() % 64);
    return q;
  };
  std::printf(
      "\nHamming index: %zu random 64-bit hashes, built in %.2f s (%.0f ns per insert), "
      "resident memory +%.0f MB\n",
      size, build, build * 1e9 / double(size), double(rss_after - rss_before) / 1024);
  std::printf("%-34s %8s %10s %10s %10s %12s\n", "query", "radius", "p50 us", "p99 us", "mean us",
              "matches/query");
  std::vector<samcache::HammingIndex::Match> found;
  // Warm up (first touches of the tables), untimed.
  for (int q = 0; q < 1000; ++q) {
    found.clear();
    index.Search(near_query(default_distance), default_distance, found);
  }
  for (int radius : {4, 8, default_distance, 12, 16}) {
    std::vector<double> us;
    double matches = 0;
    for (int q = 0; q < queries; ++q) {
      const uint64_t query = near_query(radius);
      found.clear();
      const auto t = Clock::now();
      index.Search(query, radius, found);
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      matches += static_cast<double>(found.size());
    }
    const Percentiles p = Summarise(us);
    std::printf("%-34s %8d %10.1f %10.1f %10.1f %12.2f\n", "multi-index (HammingIndex::Search)", radius,
                p.p50_us, p.p99_us, p.mean_us, matches / queries);
  }
  // The product's query: a PictureIndex (slots with pixel hashes), searched with the hash and
  // its mirrored hash, results sorted and turned into pixel-hash strings.
  {
    samcache::PictureIndex pictures;
    char hex[65];
    for (size_t i = 0; i < codes.size(); ++i) {
      std::snprintf(hex, sizeof hex, "%016llx%016llx%016llx%016llx", static_cast<unsigned long long>(i), 0ull,
                    0ull, static_cast<unsigned long long>(codes[i]));
      pictures.Add(hex, codes[i]);
    }
    std::vector<double> us;
    for (int q = 0; q < queries; ++q) {
      const PerceptualHash query{near_query(default_distance), rng()};
      const auto t = Clock::now();
      auto matches = pictures.Find(query, default_distance, "");
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    const Percentiles p = Summarise(us);
    std::printf("%-34s %8d %10.1f %10.1f %10.1f %12s\n", "PictureIndex::Find (+ mirrored)", default_distance,
                p.p50_us, p.p99_us, p.mean_us, "");
  }
  // Brute force over the same codes, checking it agrees.
  std::vector<double> us;
  std::vector<samcache::HammingIndex::Match> slow;
  for (int q = 0; q < brute_queries; ++q) {
    const uint64_t query = near_query(default_distance);
    slow.clear();
    const auto t = Clock::now();
    samcache::BruteForceHammingSearch(codes, query, default_distance, slow);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    found.clear();
    index.Search(query, default_distance, found);
    if (found.size() != slow.size()) Fail("index and brute force disagree");
  }
  const Percentiles p = Summarise(us);
  std::printf("%-34s %8d %10.1f %10.1f %10.1f %12s\n", "brute force (popcount over all)", default_distance,
              p.p50_us, p.p99_us, p.mean_us, "");
}

// ---------------------------------------------------------------------------------------

struct Options {
  int photos = 100;
  int others = 50;
  int unrelated = 50;
  size_t index_size = 1'000'000;
  int queries = 10'000;
  int brute_queries = 300;
  std::string binary = SAMCACHE_BINARY;
  std::string keep_dir;
  bool skip_findimagedupes = false;
  bool skip_server = false;
};

int Run(const Options& o) {
  const int d = samcache::kDefaultNearDuplicateDistance;
  std::optional<samcache::testing::TempDir> temp;
  fs::path root;
  if (o.keep_dir.empty()) {
    temp.emplace();
    root = temp->path();
  } else {
    root = fs::absolute(o.keep_dir);
    std::error_code ec;
    if (fs::exists(root, ec) && !fs::is_empty(root, ec))
      Fail("--keep-dir " + root.string() + " is not empty");
    fs::create_directories(root);
  }

  auto start = Clock::now();
  std::vector<Item> items = GenerateSet(o.photos, o.others, o.unrelated, root / "images");
  const double generate_seconds = SecondsSince(start);
  ::sync();
  double total_bytes = 0;
  for (const Item& item : items) total_bytes += static_cast<double>(item.bytes);

  // As ingest does: decode (EXIF orientation applied), then pHash; dHash for comparison.
  double decode_seconds = 0;
  double phash_seconds = 0;
  double dhash_seconds = 0;
  for (Item& item : items) {
    const std::string bytes = samcache::testing::ReadFileOrDie(item.path);
    auto t = Clock::now();
    const DecodedImage decoded = DecodeOrDie(bytes);
    decode_seconds += SecondsSince(t);
    t = Clock::now();
    item.phash = samcache::ComputePerceptualHash(decoded);
    phash_seconds += SecondsSince(t);
    t = Clock::now();
    item.dhash = DifferenceHash(decoded);
    dhash_seconds += SecondsSince(t);
  }
  const double n = static_cast<double>(items.size());

  std::printf("samcache near-duplicate benchmark (bench/near_dup_bench)\n");
  std::printf(
      "images      %zu JPEG: %d photos x %d versions (original q90; resized 50%%, re-encoded q60, cropped "
      "3%% left + 2%% bottom, cropped 6%% left + 4%% bottom, +30 brighter, x0.8 darker, mirrored), %d other "
      "objects on a photo's background, %d unrelated; sizes 640x480, 800x600, 480x640, 1024x768\n",
      items.size(), o.photos, kVersions, o.others, o.unrelated);
  std::printf("            %.1f MB in %s, generated in %.1f s\n", total_bytes / 1e6,
              (root / "images").c_str(), generate_seconds);
  const Score everything = ScorePairs(items, {});
  std::printf("pairs       %lld related (same photo), %lld unrelated\n",
              static_cast<long long>(everything.related), static_cast<long long>(everything.unrelated));
  std::printf(
      "hashing     1 thread: decode %.2f s (%.2f ms/image), pHash %.3f s (%.3f ms/image), "
      "dHash %.3f s (%.3f ms/image)\n\n",
      decode_seconds, 1e3 * decode_seconds / n, phash_seconds, 1e3 * phash_seconds / n, dhash_seconds,
      1e3 * dhash_seconds / n);

  // Threshold sweep, as samcache decides: pHash within D, or the mirrored hash within D.
  std::printf("pHash distance sweep (pairs found: pHash <= D, or mirrored pHash <= D)\n");
  PrintScoreHeader();
  std::vector<std::pair<int, double>> observed_fpr;
  for (int sweep : {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20}) {
    const std::set<PairKey> pairs = PairsWhere(items, [&](const Item& a, const Item& b) {
      return HammingDistance(a.phash.hash, b.phash.hash) <= sweep || MirroredDistance(a, b) <= sweep;
    });
    const Score s = ScorePairs(items, pairs);
    PrintScore("D = " + std::to_string(sweep) + (sweep == d ? " (default)" : ""), s);
    observed_fpr.emplace_back(sweep, s.Fpr());
  }
  // A set of this size cannot show false-positive rates below ~1e-6, but a catalog of a
  // million images compares each upload with a million pictures. The random-hash model (two
  // searches per upload: the hash and the mirrored hash) shows how fast the rate falls.
  std::printf("\nfalse matches per upload into a catalog of 1,000,000 pictures (= 10^6 x FPR)\n");
  std::printf("%-8s %14s %22s %14s %22s\n", "D", "observed FPR", "-> per upload at 1M", "random model",
              "-> per upload at 1M");
  for (const auto& [sweep, fpr] : observed_fpr) {
    const double model = 2 * RandomPairProbability(sweep);
    std::printf("%-8d %14.2e %22.3g %14.2e %22.3g\n", sweep, fpr, fpr * 1e6, model, model * 1e6);
  }

  // Closest unrelated pairs: the margin the default leaves.
  std::vector<int> unrelated_distances;
  std::vector<int> related_distances;
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t j = i + 1; j < items.size(); ++j) {
      const int dist = std::min(HammingDistance(items[i].phash.hash, items[j].phash.hash),
                                MirroredDistance(items[i], items[j]));
      (items[i].family >= 0 && items[i].family == items[j].family ? related_distances : unrelated_distances)
          .push_back(dist);
    }
  }
  std::sort(unrelated_distances.begin(), unrelated_distances.end());
  std::sort(related_distances.begin(), related_distances.end());
  std::printf("\nunrelated pairs: smallest distance %d, 0.01%% quantile %d, 1%% quantile %d, median %d\n",
              unrelated_distances.front(), unrelated_distances[unrelated_distances.size() / 10000],
              unrelated_distances[unrelated_distances.size() / 100],
              unrelated_distances[unrelated_distances.size() / 2]);
  std::printf("related pairs:   median distance %d, 90%% quantile %d, 99%% quantile %d, largest %d\n",
              related_distances[related_distances.size() / 2],
              related_distances[related_distances.size() * 9 / 10],
              related_distances[related_distances.size() * 99 / 100], related_distances.back());

  std::printf("\nAt the default D = %d, variants\n", d);
  PrintScoreHeader();
  const std::set<PairKey> product = PairsWhere(items, [&](const Item& a, const Item& b) {
    return HammingDistance(a.phash.hash, b.phash.hash) <= d || MirroredDistance(a, b) <= d;
  });
  const Score product_score = ScorePairs(items, product);
  PrintScore("pHash + mirrored (samcache)", product_score);
  PrintScore("pHash only, no mirrored search",
             ScorePairs(items, PairsWhere(items, [&](const Item& a, const Item& b) {
                          return HammingDistance(a.phash.hash, b.phash.hash) <= d;
                        })));
  for (int dd : {8, 12, 16}) {
    PrintScore("+ OR dHash <= " + std::to_string(dd),
               ScorePairs(items, PairsWhere(items, [&](const Item& a, const Item& b) {
                            return HammingDistance(a.phash.hash, b.phash.hash) <= d ||
                                   MirroredDistance(a, b) <= d || HammingDistance(a.dhash, b.dhash) <= dd;
                          })));
  }
  PrintScore("pHash <= 14 AND dHash <= 12",
             ScorePairs(items, PairsWhere(items, [&](const Item& a, const Item& b) {
                          return (HammingDistance(a.phash.hash, b.phash.hash) <= 14 &&
                                  HammingDistance(a.dhash, b.dhash) <= 12) ||
                                 MirroredDistance(a, b) <= d;
                        })));
  for (int dd : {8, 12}) {
    PrintScore("dHash only <= " + std::to_string(dd),
               ScorePairs(items, PairsWhere(items, [&](const Item& a, const Item& b) {
                            return HammingDistance(a.dhash, b.dhash) <= dd;
                          })));
  }
  const std::set<PairKey> product_grouped = PairsOfGroups(Groups(items.size(), product));
  PrintScore("samcache groups (all pairs)", ScorePairs(items, product_grouped));

  if (!o.skip_server) {
    double upload_seconds = 0;
    const std::set<PairKey> served = PairsFromServer(items, o.binary, root / "data", upload_seconds);
    PrintScore("samcache serve, upload answers", ScorePairs(items, served));
    std::printf(
        "  (%zu files uploaded in %.1f s, %.1f images/s, through %s serve --near-duplicate-distance %d)\n",
        items.size(), upload_seconds, n / upload_seconds, o.binary.c_str(), d);
  }

  if (!o.skip_findimagedupes) {
    double one_thread_seconds = 0;
    double all_threads_seconds = 0;
    size_t fid_groups = 0;
    const auto fid = PairsFromFindimagedupes(items, root / "images", 1, one_thread_seconds, fid_groups);
    if (!fid) {
      std::printf("findimagedupes is not installed: skipped (apt-get install findimagedupes)\n");
    } else {
      const auto again = PairsFromFindimagedupes(items, root / "images", 0, all_threads_seconds, fid_groups);
      if (*again != *fid) Fail("findimagedupes found other pairs with more threads");
      PrintScore("findimagedupes groups (90%)", ScorePairs(items, *fid));
      std::printf(
          "  (findimagedupes -q, default threshold 90%%, %zu groups, %zu pairs in them: %.1f s wall with "
          "OMP_NUM_THREADS=1 (%.1f images/s), %.1f s with every core; samcache decode + pHash: %.1f s on "
          "1 thread (%.1f images/s))\n",
          fid_groups, fid->size(), one_thread_seconds, n / one_thread_seconds, all_threads_seconds,
          decode_seconds + phash_seconds, n / (decode_seconds + phash_seconds));
    }
  }
  std::fflush(stdout);

  IndexBenchmark(o.index_size, o.queries, o.brute_queries, d);
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) != 3) load[0] = load[1] = load[2] = -1;
  std::printf("\nmachine     %u hardware threads, load average %.2f %.2f %.2f at the end of the run\n",
              std::thread::hardware_concurrency(), load[0], load[1], load[2]);
  if (!o.keep_dir.empty()) std::printf("kept: images and the server's data folder in %s\n", root.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Near-duplicate detection: recall and false positives on generated images with known relations, "
      "findimagedupes on the same files, Hamming index query times"};
  Options o;
  app.add_option("--photos", o.photos, "Photos, each stored with 7 edited versions")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--others", o.others, "Pictures with other objects on a photo's background")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--unrelated", o.unrelated, "Unrelated pictures")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--index-size", o.index_size, "Random hashes in the index timing")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100'000'000}));
  app.add_option("--queries", o.queries, "Timed index queries per radius")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  app.add_option("--brute-queries", o.brute_queries, "Timed brute-force queries")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--binary", o.binary, "The samcache binary to run as the server")->capture_default_str();
  app.add_option("--keep-dir", o.keep_dir,
                 "Write the images and the server's data here (an empty or new folder) and keep them");
  app.add_flag("--skip-findimagedupes", o.skip_findimagedupes, "Do not run findimagedupes");
  app.add_flag("--skip-server", o.skip_server, "Do not upload to samcache serve");
  CLI11_PARSE(app, argc, argv);
  try {
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "near_dup_bench: error: %s\n", e.what());
    return 1;
  }
}
