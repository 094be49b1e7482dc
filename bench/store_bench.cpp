// store_bench: what a cached SAM embedding costs to fetch from each tier (issue 4).
//
// One [1,256,64,64] float32 embedding is 4 MiB. K distinct embeddings are put into a
// MemoryTier and a DiskTier; then N gets cycle over the K keys and each get is timed:
//   memory get                    the in-process LRU (a shared_ptr copy under a mutex)
//   disk get, page cache warm     read 4 MiB from the OS page cache + verify + decode
//   disk get, cold-ish            the same after posix_fadvise(POSIX_FADV_DONTNEED) on the
//                                 file, so the kernel reads it from the device again; a
//                                 virtual disk may still be served from the host's cache
//   decode only                   DecodeSafetensors on bytes in memory (checksum + copy)
//   disk put                      encode + write + fsync + rename + directory fsync
//
//   store_bench [--iterations N] [--keys K] [--dir DIR]
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.h"
#include "common/crypto.h"
#include "common/files.h"
#include "store/disk_tier.h"
#include "store/memory_tier.h"
#include "store/safetensors.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using samcache::Embedding;
using samcache::EmbeddingKey;

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

using samcache::bench::MsSince;
using samcache::bench::Percentile;
using samcache::bench::SamEmbedding;

void Row(const char* what, const std::vector<double>& ms) {
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  std::printf("%-30s %6zu %10.4f %10.4f %10.4f\n", what, ms.size(), Percentile(ms, 50), Percentile(ms, 99),
              mean);
}

// Asks the kernel to forget the file's cached pages (they are clean: the put fsynced them).
void DropFromPageCache(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail("cannot open " + path.string());
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// Times `get` over `iterations` calls cycling through `keys`; `before` runs untimed first.
template <typename Get, typename Before>
std::vector<double> TimeGets(const std::vector<EmbeddingKey>& keys, int iterations, Get get, Before before) {
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    const EmbeddingKey& key = keys[static_cast<size_t>(i) % keys.size()];
    before(key);
    const Clock::time_point start = Clock::now();
    if (!get(key)) Fail("miss for " + key.ToString());
    ms.push_back(MsSince(start));
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"samcache embedding store benchmark"};
  int iterations = 200;
  int key_count = 50;
  std::string dir;
  cli.add_option("--iterations", iterations, "Timed gets per row")->capture_default_str();
  cli.add_option("--keys", key_count, "Distinct 4 MiB embeddings the gets cycle over")->capture_default_str();
  cli.add_option("--dir", dir,
                 "Folder for the disk tier (default: a fresh folder under the system temp dir)");
  CLI11_PARSE(cli, argc, argv);

  try {
    if (iterations < 1 || key_count < 1) Fail("--iterations and --keys must be positive");
    const fs::path parent = dir.empty() ? fs::temp_directory_path() : fs::path(dir);
    const fs::path root = parent / ("store_bench-" + samcache::RandomId());
    struct RemoveOnExit {
      fs::path path;
      ~RemoveOnExit() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
      }
    } cleanup{root};
    const std::string model_id = "0123456789abcdef";
    std::vector<EmbeddingKey> keys;
    std::vector<std::shared_ptr<const Embedding>> embeddings;
    for (int i = 0; i < key_count; ++i) {
      keys.push_back({model_id, samcache::Sha256Hex("image " + std::to_string(i))});
      embeddings.push_back(SamEmbedding(model_id, i));
    }
    const uint64_t embedding_bytes = embeddings.front()->bytes();

    samcache::MemoryTier memory(embedding_bytes * static_cast<uint64_t>(key_count) * 2);
    samcache::DiskTier disk(root, 0);
    if (samcache::Status init = disk.Init(); !init.ok()) Fail(init.message());

    std::vector<double> put_ms;
    for (int i = 0; i < key_count; ++i) {
      if (!memory.Put(keys[static_cast<size_t>(i)], embeddings[static_cast<size_t>(i)]).ok()) {
        Fail("memory put");
      }
      const Clock::time_point start = Clock::now();
      samcache::Status put = disk.Put(keys[static_cast<size_t>(i)], embeddings[static_cast<size_t>(i)]);
      put_ms.push_back(MsSince(start));
      if (!put.ok()) Fail(put.message());
    }
    const uint64_t file_bytes = fs::file_size(disk.PathFor(keys.front()));

    auto nothing = [](const EmbeddingKey&) {};
    std::vector<double> memory_ms = TimeGets(
        keys, iterations, [&](const EmbeddingKey& k) { return memory.Get(k); }, nothing);
    // One untimed pass so every file is in the page cache.
    for (const EmbeddingKey& key : keys) disk.Get(key);
    std::vector<double> warm_ms = TimeGets(
        keys, iterations, [&](const EmbeddingKey& k) { return disk.Get(k); }, nothing);
    std::vector<double> cold_ms = TimeGets(
        keys, iterations, [&](const EmbeddingKey& k) { return disk.Get(k); },
        [&](const EmbeddingKey& k) { DropFromPageCache(disk.PathFor(k)); });

    // A few files are enough to time decoding, and keep memory use down.
    const std::vector<EmbeddingKey> decode_keys(keys.begin(),
                                                keys.begin() + std::min<ptrdiff_t>(keys.size(), 8));
    std::vector<std::string> files;
    for (const EmbeddingKey& key : decode_keys) {
      samcache::Result<std::string> bytes = samcache::ReadFile(disk.PathFor(key));
      if (!bytes.ok()) Fail(bytes.status().message());
      files.push_back(std::move(*bytes));
    }
    size_t next_file = 0;
    std::vector<double> decode_ms = TimeGets(
        decode_keys, iterations,
        [&](const EmbeddingKey& k) {
          samcache::Result<Embedding> decoded =
              samcache::DecodeSafetensors(files[next_file++ % files.size()], k);
          return decoded.ok();
        },
        nothing);

    std::printf(
        "store_bench: %d gets over %d distinct [1,256,64,64] float32 embeddings (%.2f MiB each, %llu-byte "
        "file); disk tier in %s\n",
        iterations, key_count, static_cast<double>(embedding_bytes) / (1 << 20),
        static_cast<unsigned long long>(file_bytes), root.parent_path().string().c_str());
    std::printf("%-30s %6s %10s %10s %10s\n", "operation", "n", "p50 ms", "p99 ms", "mean ms");
    Row("memory get", memory_ms);
    Row("disk get (page cache warm)", warm_ms);
    Row("disk get (cold-ish, fadvise)", cold_ms);
    Row("safetensors decode only", decode_ms);
    Row("disk put (fsync)", put_ms);
    const samcache::TierStats stats = disk.Stats();
    std::printf("disk tier: %llu entries, %llu bytes, %llu hits, %llu corrupt\n",
                static_cast<unsigned long long>(stats.entries), static_cast<unsigned long long>(stats.bytes),
                static_cast<unsigned long long>(stats.hits),
                static_cast<unsigned long long>(disk.corrupt_entries()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
