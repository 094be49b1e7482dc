// What an image encoder produced for one image under one model, and the key it is cached
// under. Plain data shared by the model (which makes it) and the stores (which keep it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace samcache {

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major, product(shape) elements
};

// A set of named tensors, not one fixed tensor: SAM has `image_embeddings` alone, other
// families (SAM 2) several.
struct Embedding {
  std::string model_id;
  std::vector<NamedTensor> tensors;

  const NamedTensor* Find(std::string_view name) const {
    for (const NamedTensor& tensor : tensors) {
      if (tensor.name == name) return &tensor;
    }
    return nullptr;
  }
  size_t bytes() const {
    size_t total = 0;
    for (const NamedTensor& tensor : tensors) total += tensor.values.size() * sizeof(float);
    return total;
  }
};

// Same pixels under the same encoder give the same embedding, whatever file carried them.
struct EmbeddingKey {
  std::string model_id;
  std::string pixel_hash;

  std::string ToString() const { return model_id + "/" + pixel_hash; }
  bool operator==(const EmbeddingKey&) const = default;
};

}  // namespace samcache
