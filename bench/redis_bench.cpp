// redis_bench: what a cached SAM embedding costs to fetch through the shared Redis tier,
// side by side with the local tiers, in one run (issue 7).
//
// Starts its own redis-server (Debian's, on a free loopback port, maxmemory + allkeys-lru,
// no persistence). K distinct [1,256,64,64] float32 embeddings (4 MiB each) are put into a
// MemoryTier, a DiskTier and a RedisTier (fp32), and into a second RedisTier as fp16; then
// N gets cycle over the K keys and each get is timed:
//   memory get                  the in-process LRU
//   disk get (page cache warm)  read + verify + decode a 4 MiB safetensors file
//   redis get fp32 / fp16       GET over loopback + verify + decode (no extra copy)
//   redis contains x64          ContainsMany of 64 keys: one pipelined round trip
//   redis put fp32              encode + SET of 4 MiB
//   lease take + release        SET NX PX, then the compare-and-delete script
// Redis runs on the same 2-core machine as the benchmark: its CPU time competes with ours.
//
//   redis_bench [--iterations N] [--keys K]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.h"
#include "common/crypto.h"
#include "store/disk_tier.h"
#include "store/memory_tier.h"
#include "store/redis_client.h"
#include "store/redis_lease.h"
#include "store/redis_tier.h"
#include "support/redis_server.h"
#include "support/test_support.h"

namespace {

using Clock = std::chrono::steady_clock;
using samcache::Embedding;
using samcache::EmbeddingKey;

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

using samcache::bench::MsSince;
using samcache::bench::Percentile;
using samcache::bench::SamEmbedding;

void Row(const char* what, const std::vector<double>& ms) {
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  std::printf("%-30s %6zu %10.3f %10.3f %10.3f\n", what, ms.size(), Percentile(ms, 50), Percentile(ms, 99),
              mean);
}

template <typename Op>
std::vector<double> Time(const std::vector<EmbeddingKey>& keys, int iterations, Op op) {
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    const EmbeddingKey& key = keys[static_cast<size_t>(i) % keys.size()];
    const Clock::time_point start = Clock::now();
    if (!op(key)) Fail("failed for " + key.ToString());
    ms.push_back(MsSince(start));
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"samcache Redis tier benchmark"};
  int iterations = 200;
  int key_count = 32;
  cli.add_option("--iterations", iterations, "Timed operations per row")->capture_default_str();
  cli.add_option("--keys", key_count, "Distinct 4 MiB embeddings the gets cycle over")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  try {
    if (iterations < 1 || key_count < 1) Fail("--iterations and --keys must be positive");
    samcache::testing::RedisServer server(uint64_t{2} << 30);
    samcache::testing::TempDir dir;
    samcache::Result<samcache::RedisEndpoint> endpoint = samcache::ParseRedisUrl(server.url());
    if (!endpoint.ok()) Fail(endpoint.status().message());
    samcache::RedisClient client(*endpoint, {});
    samcache::RedisTier redis(client);
    samcache::RedisTier redis_fp16(client, samcache::StorageDtype::kF16);

    const std::string model_id = "0123456789abcdef";
    const std::string half_model = "fedcba9876543210";  // fp16 values under other keys
    std::vector<EmbeddingKey> keys, half_keys;
    std::vector<std::shared_ptr<const Embedding>> embeddings;
    for (int i = 0; i < key_count; ++i) {
      const std::string hash = samcache::Sha256Hex("image " + std::to_string(i));
      keys.push_back({model_id, hash});
      half_keys.push_back({half_model, hash});
      embeddings.push_back(SamEmbedding(model_id, i));
    }
    const uint64_t embedding_bytes = embeddings.front()->bytes();
    samcache::MemoryTier memory(embedding_bytes * static_cast<uint64_t>(key_count) * 2);
    samcache::DiskTier disk(dir / "embeddings", 0);
    if (samcache::Status init = disk.Init(); !init.ok()) Fail(init.message());

    std::vector<double> put_ms;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!memory.Put(keys[i], embeddings[i]).ok() || !disk.Put(keys[i], embeddings[i]).ok())
        Fail("local put");
      const Clock::time_point start = Clock::now();
      if (!redis.Put(keys[i], embeddings[i]).ok()) Fail("redis put");
      put_ms.push_back(MsSince(start));
      if (!redis_fp16.Put(half_keys[i], embeddings[i]).ok()) Fail("redis fp16 put");
    }
    if (!redis.Contains(keys.back()) || !redis.Contains(half_keys.back())) {
      Fail("redis did not keep the values (maxmemory too small?)");
    }
    const std::string fp32_len = server.Cli({"STRLEN", samcache::RedisEmbeddingKey(keys.front())});
    const std::string fp16_len = server.Cli({"STRLEN", samcache::RedisEmbeddingKey(half_keys.front())});

    std::vector<double> memory_ms =
        Time(keys, iterations, [&](const EmbeddingKey& k) { return memory.Get(k); });
    for (const EmbeddingKey& key : keys) disk.Get(key);  // page cache warm
    std::vector<double> disk_ms = Time(keys, iterations, [&](const EmbeddingKey& k) { return disk.Get(k); });
    std::vector<double> redis_ms =
        Time(keys, iterations, [&](const EmbeddingKey& k) { return redis.Get(k); });
    std::vector<double> half_ms =
        Time(half_keys, iterations, [&](const EmbeddingKey& k) { return redis_fp16.Get(k); });
    std::vector<EmbeddingKey> batch;
    for (int i = 0; i < 64; ++i) batch.push_back(keys[static_cast<size_t>(i) % keys.size()]);
    std::vector<double> contains_ms = Time(keys, iterations, [&](const EmbeddingKey&) {
      const std::vector<bool> present = redis.ContainsMany(batch);
      return std::all_of(present.begin(), present.end(), [](bool p) { return p; });
    });
    samcache::RedisKeyLease lease(client, {});
    std::vector<double> lease_ms = Time(keys, iterations, [&](const EmbeddingKey& k) {
      const std::vector<samcache::LeaseAttempt> attempt = lease.TryAcquire({k});
      if (attempt[0].state != samcache::LeaseAttempt::State::kAcquired) return false;
      lease.Release(k, attempt[0].token);
      return true;
    });

    std::printf(
        "redis_bench: %d operations per row over %d distinct [1,256,64,64] float32 embeddings (%.2f MiB "
        "each; "
        "Redis values %s bytes fp32, %s bytes fp16); redis-server %s on loopback, same machine\n",
        iterations, key_count, static_cast<double>(embedding_bytes) / (1 << 20), fp32_len.c_str(),
        fp16_len.c_str(), server.url().c_str());
    std::printf("%-30s %6s %10s %10s %10s\n", "operation", "n", "p50 ms", "p99 ms", "mean ms");
    Row("memory get", memory_ms);
    Row("disk get (page cache warm)", disk_ms);
    Row("redis get fp32", redis_ms);
    Row("redis get fp16", half_ms);
    Row("redis contains x64 (1 trip)", contains_ms);
    Row("redis put fp32", put_ms);
    Row("lease take + release", lease_ms);
    const samcache::RedisTierStats details = redis.Details();
    std::printf("redis tier: %llu errors, %llu corrupt\n", static_cast<unsigned long long>(details.errors),
                static_cast<unsigned long long>(details.corrupt));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redis_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
