// Small helpers the benchmark programs share: timing, percentiles and a SAM-shaped embedding.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "store/embedding.h"

namespace samcache::bench {

inline double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// The nearest-rank percentile (p in 0..100) of `values`; 0 when empty.
inline double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index =
      std::min(values.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(values.size())));
  return values[index];
}

inline double Mean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// A [1,256,64,64] float32 embedding (SAM's shape) of normal random values, different per seed.
inline std::shared_ptr<const Embedding> SamEmbedding(const std::string& model_id, int seed) {
  auto embedding = std::make_shared<Embedding>();
  embedding->model_id = model_id;
  NamedTensor tensor{"image_embeddings", {1, 256, 64, 64}, std::vector<float>(256 * 64 * 64)};
  std::mt19937 random(static_cast<unsigned>(seed));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& value : tensor.values) value = normal(random);
  embedding->tensors.push_back(std::move(tensor));
  return embedding;
}

}  // namespace samcache::bench
