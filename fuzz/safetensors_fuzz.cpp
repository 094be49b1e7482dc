// Embedding files as the disk and Redis tiers read them (a shared Redis or a damaged disk is
// input we did not write): the in-memory decoder and the piecewise one, which must agree,
// must only ask for ranges inside the file, and must give back what re-encodes and decodes
// to the same values.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "store/safetensors.h"

namespace {

// The key of the seed files (fuzz/README.md says how they were made): a file under any other
// key is refused before its tensors are read.
const samcache::EmbeddingKey& Key() {
  static const samcache::EmbeddingKey key{"fuzz-model", std::string(64, 'a')};
  return key;
}

bool SameValues(const samcache::Embedding& a, const samcache::Embedding& b) {
  if (a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const samcache::NamedTensor& x = a.tensors[i];
    const samcache::NamedTensor& y = b.tensors[i];
    // Bytes, not floats: NaN payloads must come back too, and NaN != NaN.
    if (x.name != y.name || x.shape != y.shape || x.values.size() != y.values.size() ||
        (!x.values.empty() &&
         std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(float)) != 0)) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const samcache::Result<samcache::Embedding> whole = samcache::DecodeSafetensors(bytes, Key());

  const auto read = [bytes](uint64_t offset, char* out, size_t count) {
    FUZZ_CHECK(offset <= bytes.size() && count <= bytes.size() - offset);
    std::memcpy(out, bytes.data() + offset, count);
    return samcache::Status::Ok();
  };
  const samcache::Result<samcache::Embedding> piecewise =
      samcache::DecodeSafetensors(bytes.size(), read, Key());
  FUZZ_CHECK(whole.ok() == piecewise.ok());
  if (!whole.ok()) {
    FUZZ_CHECK(whole.status().code() == samcache::StatusCode::kCorrupt);
    return 0;
  }
  FUZZ_CHECK(SameValues(*whole, *piecewise));

  // The writer is stricter about names than the reader (no spaces, say): such a file is
  // refused, not mangled. Otherwise F16 values widened to float stay exact in F32.
  const samcache::Result<std::string> encoded = samcache::EncodeSafetensors(Key(), *whole);
  if (!encoded.ok()) {
    FUZZ_CHECK(encoded.status().code() == samcache::StatusCode::kInvalidArgument);
    return 0;
  }
  const samcache::Result<samcache::Embedding> again = samcache::DecodeSafetensors(*encoded, Key());
  FUZZ_CHECK(again.ok() && SameValues(*again, *whole));
  return 0;
}
