// Embeddings on disk in the safetensors format, so that other tools (Python's `safetensors`,
// numpy with a few lines) can read what the cache holds.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON padded with spaces to a
// multiple of 8, then the raw little-endian data of every tensor back to back: float32 (dtype
// "F32", the default) or IEEE half (dtype "F16", half the size; see store/half.h for the
// rounding). The header has one entry per tensor {"dtype":"F32","shape":[...],
// "data_offsets":[begin,end]} (offsets relative to the data section) and a "__metadata__" map
// of strings:
//   format       "samcache-embedding"
//   version      "1"
//   model_id     the key's model id
//   pixel_hash   the key's pixel hash
//   checksum     XXH3-64 of the data section as stored, 16 lowercase hex digits
//   tensor_order tensor names joined by commas (JSON object order is not preserved)
//   created_at   ISO 8601 UTC time of encoding
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/embedding.h"

namespace samcache {

inline constexpr std::string_view kSafetensorsFormat = "samcache-embedding";
inline constexpr std::string_view kSafetensorsVersion = "1";

// How tensor values are stored. Reading accepts both, whatever a writer was set to.
enum class StorageDtype {
  kF32,  // float32 as computed: exact
  kF16,  // IEEE half, rounded to nearest even: half the bytes, about 3 significant digits
};

// "fp32" / "fp16", the names of the command-line option; nothing for anything else.
std::optional<StorageDtype> ParseStorageDtype(std::string_view name);
std::string_view StorageDtypeName(StorageDtype dtype);

// The file contents for `embedding` stored under `key`. InvalidArgument when the embedding
// cannot be written faithfully: an empty or duplicate tensor name, a name with a comma or
// non-printable characters or equal to "__metadata__", a negative dimension, a value count
// that does not match the shape, or a key that is not valid UTF-8. With kF16 every value is
// rounded to the nearest half (beyond +-65504: infinity).
Result<std::string> EncodeSafetensors(const EmbeddingKey& key, const Embedding& embedding,
                                      StorageDtype dtype = StorageDtype::kF32);

// The embedding in `bytes`, after checking everything: the header length against the size,
// the JSON, our format and version, the key (it must be `expected_key`, so a file in the
// wrong place is never served), dtype F32 or F16, non-negative shapes, offsets that tile the
// data section exactly, product(shape) * (4 or 2) == offsets span, and the checksum of the
// stored bytes. Any failure is Corrupt with a message naming what is wrong. Tensors come back
// in their original order, as float (F16 values widened exactly).
Result<Embedding> DecodeSafetensors(std::string_view bytes, const EmbeddingKey& expected_key);

// Fills `out` with `size` bytes of the encoded file starting at `offset`; the decoder asks
// only for ranges within the file size it was given. A non-ok Status is passed on as is.
using SafetensorsReader = std::function<Status(uint64_t offset, char* out, size_t size)>;

// The same for a file read piecewise: the header first, then each tensor's data straight
// into the embedding's values (F16 through one tensor-sized buffer), with no copy of the
// whole file in between (4 MiB for SAM in F32).
Result<Embedding> DecodeSafetensors(uint64_t file_size, const SafetensorsReader& read,
                                    const EmbeddingKey& expected_key);

}  // namespace samcache
