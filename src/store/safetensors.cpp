#include "store/safetensors.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "common/bounded_json.h"
#include "common/files.h"
#include "store/half.h"

namespace samcache {
namespace {

using json = nlohmann::json;

// Float data and the header length are copied as they lie in memory.
static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

constexpr size_t kLengthPrefix = 8;
constexpr size_t kHeaderAlign = 8;
// The reference implementation refuses larger headers too; ours are a few hundred bytes.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;
constexpr char kOrderSeparator = ',';

std::string HashHex(XXH64_hash_t hash) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

std::string ChecksumHex(std::string_view data) { return HashHex(XXH3_64bits(data.data(), data.size())); }

bool IsWritableName(const std::string& name) {
  if (name.empty() || name == "__metadata__") return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c > ' ' && c < 127 && c != kOrderSeparator; });
}

std::vector<std::string> SplitOrder(const std::string& order) {
  std::vector<std::string> names;
  if (order.empty()) return names;
  size_t start = 0;
  while (true) {
    const size_t comma = order.find(kOrderSeparator, start);
    names.push_back(order.substr(start, comma - start));
    if (comma == std::string::npos) return names;
    start = comma + 1;
  }
}

// A non-negative JSON integer that fits in int64, or nothing.
std::optional<uint64_t> NonNegativeInteger(const json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return v;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(value.get<int64_t>());
  }
  return std::nullopt;
}

struct TensorEntry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
  StorageDtype dtype = StorageDtype::kF32;
};

// Every half's float, so that widening a SAM embedding (a million values) is one lookup each.
const std::vector<float>& HalfTable() {
  static const std::vector<float> table = [] {
    std::vector<float> values(65536);
    for (uint32_t bits = 0; bits < values.size(); ++bits)
      values[bits] = HalfToFloat(static_cast<uint16_t>(bits));
    return values;
  }();
  return table;
}

const char* DtypeTag(StorageDtype dtype) { return dtype == StorageDtype::kF16 ? "F16" : "F32"; }
uint64_t ElementBytes(StorageDtype dtype) { return dtype == StorageDtype::kF16 ? 2 : 4; }

Result<TensorEntry> ParseTensorEntry(const std::string& name, const json& entry, uint64_t data_bytes) {
  const std::string what = "tensor '" + name + "': ";
  if (!entry.is_object()) return Status::Corrupt(what + "entry is not an object");
  auto dtype = entry.find("dtype");
  if (dtype == entry.end() || !dtype->is_string()) return Status::Corrupt(what + "no dtype");
  StorageDtype stored = StorageDtype::kF32;
  if (*dtype == "F16") {
    stored = StorageDtype::kF16;
  } else if (*dtype != "F32") {
    return Status::Corrupt(what + "dtype " + dtype->get<std::string>() + ", only F32 and F16 are stored");
  }
  const uint64_t element_bytes = ElementBytes(stored);

  // Offsets first: on a truncated file they are what is wrong, whatever the shape says.
  auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2) {
    return Status::Corrupt(what + "data_offsets is not a pair");
  }
  std::optional<uint64_t> begin = NonNegativeInteger((*offsets)[0]);
  std::optional<uint64_t> end = NonNegativeInteger((*offsets)[1]);
  if (!begin || !end || *begin > *end) {
    return Status::Corrupt(what + "data_offsets " + offsets->dump() + " invalid");
  }
  if (*end > data_bytes) {
    return Status::Corrupt(what + "data_offsets " + offsets->dump() + " exceed the " +
                           std::to_string(data_bytes) + " bytes of data (truncated file?)");
  }
  const uint64_t span = *end - *begin;

  TensorEntry tensor{name, {}, *begin, *end, stored};
  auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) return Status::Corrupt(what + "no shape");
  // Counts elements without overflowing: a product beyond the span is already wrong.
  const uint64_t max_elements = span / element_bytes;
  uint64_t elements = 1;
  bool too_many = false;
  for (const json& dim : *shape) {
    std::optional<uint64_t> value = NonNegativeInteger(dim);
    if (!value) {
      return Status::Corrupt(what + "shape " + shape->dump() + " has a negative or non-integer dimension");
    }
    tensor.shape.push_back(static_cast<int64_t>(*value));
    if (*value == 0) {
      elements = 0;
    } else if (!too_many && elements > max_elements / *value) {
      too_many = true;
    } else if (!too_many) {
      elements *= *value;
    }
  }
  if ((too_many && elements != 0) || elements * element_bytes != span) {
    return Status::Corrupt(what + "shape " + shape->dump() + " does not fit data_offsets " + offsets->dump() +
                           " (" + std::to_string(span) + " bytes)");
  }
  return tensor;
}

// Metadata value `name` as a string, or Corrupt.
Result<std::string> MetadataString(const json& metadata, const char* name) {
  auto it = metadata.find(name);
  if (it == metadata.end() || !it->is_string()) {
    return Status::Corrupt(std::string("metadata has no ") + name);
  }
  return it->get<std::string>();
}

}  // namespace

std::optional<StorageDtype> ParseStorageDtype(std::string_view name) {
  if (name == "fp32") return StorageDtype::kF32;
  if (name == "fp16") return StorageDtype::kF16;
  return std::nullopt;
}

std::string_view StorageDtypeName(StorageDtype dtype) {
  return dtype == StorageDtype::kF16 ? "fp16" : "fp32";
}

Result<std::string> EncodeSafetensors(const EmbeddingKey& key, const Embedding& embedding,
                                      StorageDtype dtype) {
  const uint64_t element_bytes = ElementBytes(dtype);
  json header = json::object();
  std::string order;
  std::unordered_set<std::string> seen;
  uint64_t offset = 0;
  for (const NamedTensor& tensor : embedding.tensors) {
    if (!IsWritableName(tensor.name)) {
      return Status::InvalidArgument("tensor name '" + tensor.name + "' cannot be stored");
    }
    if (!seen.insert(tensor.name).second) {
      return Status::InvalidArgument("tensor name '" + tensor.name + "' twice");
    }
    uint64_t elements = 1;
    for (int64_t dim : tensor.shape) {
      if (dim < 0) return Status::InvalidArgument("tensor '" + tensor.name + "' has a negative dimension");
      elements *= static_cast<uint64_t>(dim);
    }
    if (elements != tensor.values.size()) {
      return Status::InvalidArgument("tensor '" + tensor.name + "' has " +
                                     std::to_string(tensor.values.size()) + " values for " +
                                     std::to_string(elements) + " shape elements");
    }
    const uint64_t bytes = elements * element_bytes;
    header[tensor.name] = {
        {"dtype", DtypeTag(dtype)}, {"shape", tensor.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    if (!order.empty()) order += kOrderSeparator;
    order += tensor.name;
  }

  std::string data;
  data.resize(offset);
  size_t position = 0;
  for (const NamedTensor& tensor : embedding.tensors) {
    if (dtype == StorageDtype::kF16) {
      for (float value : tensor.values) {
        const uint16_t half = FloatToHalf(value);
        std::memcpy(data.data() + position, &half, sizeof half);
        position += sizeof half;
      }
      continue;
    }
    const size_t bytes = tensor.values.size() * sizeof(float);
    if (bytes > 0) std::memcpy(data.data() + position, tensor.values.data(), bytes);
    position += bytes;
  }

  header["__metadata__"] = {
      {"format", std::string(kSafetensorsFormat)},
      {"version", std::string(kSafetensorsVersion)},
      {"model_id", key.model_id},
      {"pixel_hash", key.pixel_hash},
      {"checksum", ChecksumHex(data)},
      {"tensor_order", order},
      {"created_at", NowIso8601()},
  };
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("embedding header cannot be written: ") + e.what());
  }
  text.append((kHeaderAlign - text.size() % kHeaderAlign) % kHeaderAlign, ' ');

  std::string out;
  out.reserve(kLengthPrefix + text.size() + data.size());
  const uint64_t header_length = text.size();
  out.append(reinterpret_cast<const char*>(&header_length), kLengthPrefix);
  out += text;
  out += data;
  return out;
}

Result<Embedding> DecodeSafetensors(uint64_t file_size, const SafetensorsReader& read,
                                    const EmbeddingKey& expected_key) {
  if (file_size < kLengthPrefix) {
    return Status::Corrupt("file of " + std::to_string(file_size) + " bytes has no 8-byte header length");
  }
  uint64_t header_length = 0;
  SAMCACHE_RETURN_IF_ERROR(read(0, reinterpret_cast<char*>(&header_length), kLengthPrefix));
  const uint64_t after_prefix = file_size - kLengthPrefix;
  if (header_length > after_prefix || header_length > kMaxHeaderBytes) {
    return Status::Corrupt("header length " + std::to_string(header_length) + " exceeds the " +
                           std::to_string(after_prefix) + " bytes after it");
  }
  std::string header_text(header_length, '\0');
  SAMCACHE_RETURN_IF_ERROR(read(kLengthPrefix, header_text.data(), header_text.size()));
  const uint64_t data_start = kLengthPrefix + header_length;
  const uint64_t data_size = file_size - data_start;

  // Nesting bounded while parsing: the messages below dump() parts of the header, and dump()
  // recurses, so a header nested 100,000 deep overflowed the stack
  // (fuzz/regressions/safetensors/). A shared Redis tier is input this process did not write.
  Result<json> parsed = ParseBoundedJson(header_text, JsonLimits{.max_bytes = kMaxHeaderBytes});
  if (!parsed.ok()) return Status::Corrupt("header is " + parsed.status().message());
  const json header = std::move(*parsed);
  if (!header.is_object()) return Status::Corrupt("header is not a JSON object");

  auto metadata = header.find("__metadata__");
  if (metadata == header.end() || !metadata->is_object()) {
    return Status::Corrupt("header has no __metadata__");
  }
  for (const auto& [name, value] : metadata->items()) {
    if (!value.is_string()) return Status::Corrupt("metadata '" + name + "' is not a string");
  }
  SAMCACHE_ASSIGN_OR_RETURN(const std::string format, MetadataString(*metadata, "format"));
  if (format != kSafetensorsFormat) return Status::Corrupt("metadata format is '" + format + "', not ours");
  SAMCACHE_ASSIGN_OR_RETURN(const std::string version, MetadataString(*metadata, "version"));
  if (version != kSafetensorsVersion) return Status::Corrupt("unknown version '" + version + "'");
  SAMCACHE_ASSIGN_OR_RETURN(const std::string model_id, MetadataString(*metadata, "model_id"));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string pixel_hash, MetadataString(*metadata, "pixel_hash"));
  if (model_id != expected_key.model_id || pixel_hash != expected_key.pixel_hash) {
    return Status::Corrupt("holds key " + model_id + "/" + pixel_hash + ", expected " +
                           expected_key.ToString());
  }
  SAMCACHE_ASSIGN_OR_RETURN(const std::string checksum, MetadataString(*metadata, "checksum"));
  SAMCACHE_ASSIGN_OR_RETURN(const std::string order_text, MetadataString(*metadata, "tensor_order"));

  const std::vector<std::string> order = SplitOrder(order_text);
  if (order.size() != header.size() - 1) {
    return Status::Corrupt("tensor_order names " + std::to_string(order.size()) +
                           " tensors, the header has " + std::to_string(header.size() - 1));
  }
  std::vector<TensorEntry> tensors;
  tensors.reserve(order.size());
  for (const std::string& name : order) {
    auto entry = header.find(name);
    if (entry == header.end() || name == "__metadata__") {
      return Status::Corrupt("tensor_order names '" + name + "', which the header lacks");
    }
    for (const TensorEntry& earlier : tensors) {
      if (earlier.name == name) return Status::Corrupt("tensor_order names '" + name + "' twice");
    }
    SAMCACHE_ASSIGN_OR_RETURN(TensorEntry tensor, ParseTensorEntry(name, *entry, data_size));
    tensors.push_back(std::move(tensor));
  }

  // The data section must be tiled exactly: no gaps, no overlaps, nothing after the end.
  std::vector<size_t> by_offset(tensors.size());
  for (size_t i = 0; i < by_offset.size(); ++i) by_offset[i] = i;
  std::sort(by_offset.begin(), by_offset.end(), [&](size_t a, size_t b) {
    return std::tie(tensors[a].begin, tensors[a].end) < std::tie(tensors[b].begin, tensors[b].end);
  });
  uint64_t covered = 0;
  for (size_t index : by_offset) {
    const TensorEntry& tensor = tensors[index];
    if (tensor.begin != covered) {
      return Status::Corrupt("tensor '" + tensor.name + "' starts at " + std::to_string(tensor.begin) +
                             ", expected " + std::to_string(covered) + " (offsets not contiguous)");
    }
    covered = tensor.end;
  }
  if (covered != data_size) {
    return Status::Corrupt("tensors cover " + std::to_string(covered) + " bytes of a " +
                           std::to_string(data_size) + "-byte data section");
  }

  // Each tensor's bytes go straight into its values (F16 through a buffer of its own size):
  // no copy of the whole file in between. Read in offset order, so that hashing each
  // tensor's stored bytes as they arrive hashes the data section as it is in the file.
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  if (!state || XXH3_64bits_reset(state.get()) != XXH_OK) {
    return Status::Internal("cannot start an XXH3 hash");
  }
  Embedding embedding;
  embedding.model_id = expected_key.model_id;
  embedding.tensors.resize(tensors.size());
  std::vector<uint16_t> halves;
  for (size_t index : by_offset) {
    TensorEntry& tensor = tensors[index];
    const uint64_t bytes = tensor.end - tensor.begin;
    NamedTensor& out = embedding.tensors[index];
    out.name = std::move(tensor.name);
    out.shape = std::move(tensor.shape);
    out.values.resize(bytes / ElementBytes(tensor.dtype));
    if (out.values.empty()) continue;
    char* target = reinterpret_cast<char*>(out.values.data());
    if (tensor.dtype == StorageDtype::kF16) {
      halves.resize(out.values.size());
      target = reinterpret_cast<char*>(halves.data());
    }
    SAMCACHE_RETURN_IF_ERROR(read(data_start + tensor.begin, target, bytes));
    XXH3_64bits_update(state.get(), target, bytes);
    if (tensor.dtype == StorageDtype::kF16) {
      const float* table = HalfTable().data();
      std::transform(halves.begin(), halves.end(), out.values.begin(),
                     [table](uint16_t half) { return table[half]; });
    }
  }
  const std::string actual = HashHex(XXH3_64bits_digest(state.get()));
  if (actual != checksum) {
    return Status::Corrupt("checksum mismatch: data hashes to " + actual + ", header says " + checksum);
  }
  return embedding;
}

Result<Embedding> DecodeSafetensors(std::string_view bytes, const EmbeddingKey& expected_key) {
  return DecodeSafetensors(
      bytes.size(),
      [bytes](uint64_t offset, char* out, size_t size) {
        // The decoder only asks for ranges it has checked against the size.
        assert(offset <= bytes.size() && size <= bytes.size() - offset);
        std::memcpy(out, bytes.data() + offset, size);
        return Status::Ok();
      },
      expected_key);
}

}  // namespace samcache
