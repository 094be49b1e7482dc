// Small embeddings and keys for the store tests, with values derived from a seed so a read
// can be checked against what was written.
#pragma once

#include <memory>
#include <string>

#include "common/crypto.h"
#include "store/embedding.h"

namespace samcache::testing {

inline const std::string kTestModel = "0123456789abcdef";

inline EmbeddingKey TestKey(int n, const std::string& model = kTestModel) {
  return {model, Sha256Hex("image " + std::to_string(n))};
}

inline std::shared_ptr<const Embedding> MakeTestEmbedding(int seed, size_t floats,
                                                          const std::string& model = kTestModel) {
  auto embedding = std::make_shared<Embedding>();
  embedding->model_id = model;
  NamedTensor tensor{"image_embeddings", {1, static_cast<int64_t>(floats)}, std::vector<float>(floats)};
  for (size_t i = 0; i < floats; ++i) {
    tensor.values[i] = static_cast<float>(seed) + static_cast<float>(i) * 0.25f;
  }
  embedding->tensors.push_back(std::move(tensor));
  return embedding;
}

}  // namespace samcache::testing
