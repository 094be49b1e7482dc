// Embeddings as safetensors files: a faithful round trip, a file other safetensors readers
// accept, and every kind of damage refused as Corrupt.
#include "store/safetensors.h"

#include <gtest/gtest.h>

#include <xxhash.h>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "store/half.h"

namespace samcache {
namespace {

using json = nlohmann::json;

const EmbeddingKey kKey{"0123456789abcdef", std::string(64, 'c')};
constexpr int64_t kSamFloats = 256 * 64 * 64;

// A SAM-sized image embedding plus a small tensor whose name sorts before it, so a decoder
// that followed JSON key order would swap them.
Embedding SamLikeEmbedding() {
  Embedding embedding;
  embedding.model_id = kKey.model_id;
  NamedTensor big{"image_embeddings", {1, 256, 64, 64}, std::vector<float>(kSamFloats)};
  for (int64_t i = 0; i < kSamFloats; ++i) big.values[i] = static_cast<float>(i % 1000) * 0.5f - 7.25f;
  embedding.tensors.push_back(std::move(big));
  embedding.tensors.push_back({"a_small", {2, 3}, {1, -2, 3.5f, 4, 5, 6}});
  return embedding;
}

std::string Encoded() {
  Result<std::string> bytes = EncodeSafetensors(kKey, SamLikeEmbedding());
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return bytes.ok() ? *bytes : std::string();
}

uint64_t HeaderLength(const std::string& file) {
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) {
    length = (length << 8) | static_cast<unsigned char>(file[static_cast<size_t>(i)]);
  }
  return length;
}

void ExpectCorrupt(const std::string& bytes, const std::string& message_part,
                   const EmbeddingKey& key = kKey) {
  Result<Embedding> decoded = DecodeSafetensors(bytes, key);
  ASSERT_FALSE(decoded.ok()) << "accepted a damaged file; expected: " << message_part;
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(decoded.status().message().find(message_part), std::string::npos)
      << "message '" << decoded.status().message() << "' lacks '" << message_part << "'";
}

// A file with a hand-made header over `data`, with a correct checksum and our metadata.
std::string Craft(json tensors, const std::string& data, const std::string& order) {
  char checksum[17];
  std::snprintf(checksum, sizeof checksum, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(data.data(), data.size())));
  tensors["__metadata__"] = {
      {"format", "samcache-embedding"},          {"version", "1"},       {"model_id", kKey.model_id},
      {"pixel_hash", kKey.pixel_hash},           {"checksum", checksum}, {"tensor_order", order},
      {"created_at", "2026-01-01T00:00:00.000Z"}};
  std::string header = tensors.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  const uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) file[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
  return file + header + data;
}

json F32(std::vector<int64_t> shape, uint64_t begin, uint64_t end) {
  return {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {begin, end}}};
}

TEST(SafetensorsTest, RoundTripKeepsValuesShapesAndTensorOrder) {
  const Embedding original = SamLikeEmbedding();
  Result<Embedding> decoded = DecodeSafetensors(Encoded(), kKey);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->model_id, kKey.model_id);
  ASSERT_EQ(decoded->tensors.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(decoded->tensors[i].name, original.tensors[i].name);
    EXPECT_EQ(decoded->tensors[i].shape, original.tensors[i].shape);
    EXPECT_EQ(decoded->tensors[i].values, original.tensors[i].values);
  }
}

TEST(SafetensorsTest, EmptyAndZeroSizedTensorsRoundTrip) {
  Embedding embedding;
  embedding.model_id = kKey.model_id;
  embedding.tensors.push_back({"nothing", {0, 4}, {}});
  embedding.tensors.push_back({"scalar", {}, {42}});
  Result<std::string> bytes = EncodeSafetensors(kKey, embedding);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  Result<Embedding> decoded = DecodeSafetensors(*bytes, kKey);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_EQ(decoded->tensors.size(), 2u);
  EXPECT_EQ(decoded->tensors[0].shape, (std::vector<int64_t>{0, 4}));
  EXPECT_TRUE(decoded->tensors[0].values.empty());
  EXPECT_EQ(decoded->tensors[1].values, std::vector<float>{42});

  Result<std::string> none = EncodeSafetensors(kKey, Embedding{kKey.model_id, {}});
  ASSERT_TRUE(none.ok());
  Result<Embedding> decoded_none = DecodeSafetensors(*none, kKey);
  ASSERT_TRUE(decoded_none.ok()) << decoded_none.status().message();
  EXPECT_TRUE(decoded_none->tensors.empty());
}

TEST(SafetensorsTest, PiecewiseReadingDecodesTheSameAndPassesReadErrorsOn) {
  const std::string file = Encoded();
  size_t reads = 0;
  auto from_memory = [&](uint64_t offset, char* out, size_t size) {
    ++reads;
    EXPECT_LE(offset + size, file.size());
    std::memcpy(out, file.data() + offset, size);
    return Status::Ok();
  };
  Result<Embedding> decoded = DecodeSafetensors(file.size(), from_memory, kKey);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(reads, 4u);  // length, header, one per tensor
  EXPECT_EQ(decoded->tensors[0].values, SamLikeEmbedding().tensors[0].values);
  EXPECT_EQ(decoded->tensors[1].values, SamLikeEmbedding().tensors[1].values);

  auto failing = [](uint64_t offset, char*, size_t) {
    return offset < 8 ? Status::Ok() : Status::IoError("disk on fire");
  };
  Result<Embedding> failed = DecodeSafetensors(file.size(), failing, kKey);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kIoError);
}

TEST(SafetensorsTest, FileIsPlainSafetensors) {
  const std::string file = Encoded();
  const uint64_t header_length = HeaderLength(file);
  EXPECT_EQ(header_length % 8, 0u);
  ASSERT_LE(8 + header_length, file.size());
  const std::string header_text = file.substr(8, header_length);
  ASSERT_EQ(header_text.front(), '{');
  const size_t last = header_text.find_last_not_of(' ');
  EXPECT_EQ(header_text[last], '}');  // only spaces pad the JSON
  const json header = json::parse(header_text);

  const uint64_t big_bytes = kSamFloats * 4;
  EXPECT_EQ(header["image_embeddings"]["dtype"], "F32");
  EXPECT_EQ(header["image_embeddings"]["shape"], json({1, 256, 64, 64}));
  EXPECT_EQ(header["image_embeddings"]["data_offsets"], json({0, big_bytes}));
  EXPECT_EQ(header["a_small"]["dtype"], "F32");
  EXPECT_EQ(header["a_small"]["shape"], json({2, 3}));
  EXPECT_EQ(header["a_small"]["data_offsets"], json({big_bytes, big_bytes + 24}));
  EXPECT_EQ(file.size(), 8 + header_length + big_bytes + 24);

  const json& metadata = header["__metadata__"];
  EXPECT_EQ(metadata["format"], "samcache-embedding");
  EXPECT_EQ(metadata["version"], "1");
  EXPECT_EQ(metadata["model_id"], kKey.model_id);
  EXPECT_EQ(metadata["pixel_hash"], kKey.pixel_hash);
  EXPECT_EQ(metadata["tensor_order"], "image_embeddings,a_small");
  EXPECT_TRUE(metadata["created_at"].get<std::string>().ends_with("Z"));
  const std::string data = file.substr(8 + header_length);
  char checksum[17];
  std::snprintf(checksum, sizeof checksum, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(data.data(), data.size())));
  EXPECT_EQ(metadata["checksum"], checksum);

  // Raw little-endian float32, tensor after tensor.
  float value = 0;
  std::memcpy(&value, data.data() + 4 * 1001, 4);
  EXPECT_EQ(value, SamLikeEmbedding().tensors[0].values[1001]);
  std::memcpy(&value, data.data() + big_bytes + 8, 4);
  EXPECT_EQ(value, 3.5f);
}

TEST(SafetensorsTest, TruncatedFilesAreCorrupt) {
  const std::string file = Encoded();
  const size_t header_end = 8 + HeaderLength(file);
  for (size_t length : {size_t{0}, size_t{4}, size_t{7}}) {
    ExpectCorrupt(file.substr(0, length), "8-byte header length");
  }
  for (size_t length : {size_t{8}, size_t{20}, header_end - 1}) {
    ExpectCorrupt(file.substr(0, length), "header length");
  }
  for (size_t length : {header_end, header_end + 100, file.size() - 25, file.size() - 1}) {
    ExpectCorrupt(file.substr(0, length), "exceed");
  }
}

TEST(SafetensorsTest, FlippedBytesAreCorrupt) {
  const std::string file = Encoded();
  const size_t header_end = 8 + HeaderLength(file);

  std::string data_flip = file;
  data_flip[header_end + 123456] ^= 0x01;
  ExpectCorrupt(data_flip, "checksum mismatch");
  std::string last_flip = file;
  last_flip.back() ^= 0x80;
  ExpectCorrupt(last_flip, "checksum mismatch");

  std::string brace_flip = file;
  brace_flip[8] ^= 0x01;
  ExpectCorrupt(brace_flip, "not valid JSON");
  std::string dtype_flip = file;
  dtype_flip[file.find("F32")] ^= 0x02;  // F32 -> D32
  ExpectCorrupt(dtype_flip, "dtype");
  std::string shape_flip = file;
  shape_flip[file.find("[1,256,64,64]") + 1] ^= 0x02;  // 1 -> 3 leading dimension
  ExpectCorrupt(shape_flip, "shape");
  std::string padding_flip = file;
  padding_flip[header_end - 1] = 'x';
  if (file[header_end - 1] == ' ') ExpectCorrupt(padding_flip, "not valid JSON");
}

TEST(SafetensorsTest, HeaderLengthLargerThanFileIsCorrupt) {
  std::string file = Encoded();
  const uint64_t too_long = file.size();
  for (int i = 0; i < 8; ++i) file[static_cast<size_t>(i)] = static_cast<char>((too_long >> (8 * i)) & 0xff);
  ExpectCorrupt(file, "header length");
  file[7] = '\x7f';  // absurdly large, no overflow in the check
  ExpectCorrupt(file, "header length");
}

TEST(SafetensorsTest, WrongKeyIsCorrupt) {
  const std::string file = Encoded();
  ExpectCorrupt(file, "expected", EmbeddingKey{kKey.model_id, std::string(64, 'd')});
  ExpectCorrupt(file, "expected", EmbeddingKey{"another-model", kKey.pixel_hash});
}

TEST(SafetensorsTest, InconsistentHeadersAreCorrupt) {
  const std::string data(32, '\0');  // eight floats
  EXPECT_TRUE(
      DecodeSafetensors(Craft({{"a", F32({2, 2}, 0, 16)}, {"b", F32({4}, 16, 32)}}, data, "a,b"), kKey).ok());

  ExpectCorrupt(Craft({{"a", {{"dtype", "BF16"}, {"shape", {16}}, {"data_offsets", {0, 32}}}}}, data, "a"),
                "dtype BF16");
  EXPECT_TRUE(
      DecodeSafetensors(
          Craft({{"a", {{"dtype", "F16"}, {"shape", {16}}, {"data_offsets", {0, 32}}}}}, data, "a"), kKey)
          .ok());
  ExpectCorrupt(Craft({{"a", {{"dtype", "F16"}, {"shape", {8}}, {"data_offsets", {0, 32}}}}}, data, "a"),
                "does not fit data_offsets [0,32]");
  ExpectCorrupt(Craft({{"a", F32({-8}, 0, 32)}}, data, "a"), "negative");
  ExpectCorrupt(Craft({{"a", F32({2, 2}, 0, 32)}}, data, "a"), "does not fit data_offsets [0,32]");
  ExpectCorrupt(Craft({{"a", F32({2}, 0, 8)}, {"b", F32({4}, 16, 32)}}, data, "a,b"), "not contiguous");
  ExpectCorrupt(Craft({{"a", F32({4}, 0, 16)}, {"b", F32({4}, 8, 24)}}, data, "a,b"), "not contiguous");
  ExpectCorrupt(Craft({{"a", F32({4}, 0, 16)}}, data, "a"), "cover 16 bytes");
  ExpectCorrupt(Craft({{"a", F32({8}, 0, 32)}}, data, "b"), "lacks");
  ExpectCorrupt(Craft({{"a", F32({8}, 0, 32)}}, data, "a,a"), "2 tensors");
  ExpectCorrupt(Craft({{"a", F32({1ll << 40, 1ll << 40}, 0, 32)}}, data, "a"), "does not fit");
  ExpectCorrupt(Craft({{"a", {{"dtype", "F32"}, {"shape", {8}}, {"data_offsets", {32, 0}}}}}, data, "a"),
                "data_offsets");

  std::string foreign = Craft({{"a", F32({8}, 0, 32)}}, data, "a");
  foreign.replace(foreign.find("samcache-embedding"), 18, "something-else-xyz");
  ExpectCorrupt(foreign, "not ours");
}

TEST(SafetensorsTest, EmbeddingsThatCannotBeWrittenAreRefused) {
  auto refused = [](std::vector<NamedTensor> tensors) {
    Result<std::string> bytes = EncodeSafetensors(kKey, Embedding{kKey.model_id, std::move(tensors)});
    return !bytes.ok() && bytes.status().code() == StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(refused({{"a,b", {1}, {1}}}));
  EXPECT_TRUE(refused({{"", {1}, {1}}}));
  EXPECT_TRUE(refused({{"__metadata__", {1}, {1}}}));
  EXPECT_TRUE(refused({{"a", {1}, {1}}, {"a", {1}, {2}}}));
  EXPECT_TRUE(refused({{"a", {3}, {1, 2}}}));
  EXPECT_TRUE(refused({{"a", {-1}, {}}}));
}

// --- F16 storage ---------------------------------------------------------------------------

std::string EncodedF16(const Embedding& embedding = SamLikeEmbedding()) {
  Result<std::string> bytes = EncodeSafetensors(kKey, embedding, StorageDtype::kF16);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return bytes.ok() ? *bytes : std::string();
}

TEST(SafetensorsTest, DtypeNames) {
  EXPECT_EQ(ParseStorageDtype("fp32"), StorageDtype::kF32);
  EXPECT_EQ(ParseStorageDtype("fp16"), StorageDtype::kF16);
  EXPECT_EQ(ParseStorageDtype("F16"), std::nullopt);
  EXPECT_EQ(StorageDtypeName(StorageDtype::kF16), "fp16");
  EXPECT_EQ(StorageDtypeName(StorageDtype::kF32), "fp32");
}

TEST(SafetensorsTest, F16RoundTripRoundsEachValueToTheNearestHalf) {
  Embedding embedding = SamLikeEmbedding();
  const float inf = std::numeric_limits<float>::infinity();
  embedding.tensors.push_back({"edges",
                               {12},
                               {0.5f, -2.0f, 65504.0f, -0.0f, 0.1f, 1e5f, -inf, inf, 1e-6f, 0x1p-24f, 1e-9f,
                                std::numeric_limits<float>::quiet_NaN()}});
  Result<Embedding> decoded = DecodeSafetensors(EncodedF16(embedding), kKey);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_EQ(decoded->tensors.size(), 3u);
  for (size_t t = 0; t < 3; ++t) {
    EXPECT_EQ(decoded->tensors[t].name, embedding.tensors[t].name);
    EXPECT_EQ(decoded->tensors[t].shape, embedding.tensors[t].shape);
  }
  // SamLikeEmbedding's values (multiples of 0.25 below 500) are all halves: exact.
  EXPECT_EQ(decoded->tensors[0].values, embedding.tensors[0].values);
  EXPECT_EQ(decoded->tensors[1].values, embedding.tensors[1].values);

  const std::vector<float>& edges = decoded->tensors[2].values;
  EXPECT_EQ(edges[0], 0.5f);
  EXPECT_EQ(edges[1], -2.0f);
  EXPECT_EQ(edges[2], 65504.0f);
  EXPECT_EQ(edges[3], 0.0f);
  EXPECT_TRUE(std::signbit(edges[3]));
  EXPECT_NE(edges[4], 0.1f);
  EXPECT_LE(std::fabs(edges[4] - 0.1f), 0.1f * 0x1p-11f);
  EXPECT_EQ(edges[5], inf);  // beyond 65504
  EXPECT_EQ(edges[6], -inf);
  EXPECT_EQ(edges[7], inf);
  EXPECT_EQ(edges[8], HalfToFloat(FloatToHalf(1e-6f)));  // a subnormal half
  EXPECT_LE(std::fabs(edges[8] - 1e-6f), 0x1p-25f);
  EXPECT_EQ(edges[9], 0x1p-24f);
  EXPECT_EQ(edges[10], 0.0f);
  EXPECT_TRUE(std::isnan(edges[11]));
}

TEST(SafetensorsTest, F16FileIsPlainSafetensorsOfHalfTheSize) {
  const std::string file = EncodedF16();
  const uint64_t header_length = HeaderLength(file);
  EXPECT_EQ(header_length % 8, 0u);
  const json header = json::parse(file.substr(8, header_length));
  const uint64_t big_bytes = kSamFloats * 2;
  EXPECT_EQ(header["image_embeddings"]["dtype"], "F16");
  EXPECT_EQ(header["image_embeddings"]["shape"], json({1, 256, 64, 64}));
  EXPECT_EQ(header["image_embeddings"]["data_offsets"], json({0, big_bytes}));
  EXPECT_EQ(header["a_small"]["dtype"], "F16");
  EXPECT_EQ(header["a_small"]["data_offsets"], json({big_bytes, big_bytes + 12}));
  EXPECT_EQ(file.size(), 8 + header_length + big_bytes + 12);
  EXPECT_LT(file.size(), Encoded().size() / 2 + 1024);

  const json& metadata = header["__metadata__"];
  for (const char* name :
       {"format", "version", "model_id", "pixel_hash", "checksum", "tensor_order", "created_at"}) {
    EXPECT_TRUE(metadata.contains(name)) << name;
  }
  EXPECT_EQ(metadata["tensor_order"], "image_embeddings,a_small");
  // The checksum covers the stored (half) bytes.
  const std::string data = file.substr(8 + header_length);
  char checksum[17];
  std::snprintf(checksum, sizeof checksum, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(data.data(), data.size())));
  EXPECT_EQ(metadata["checksum"], checksum);

  // Raw little-endian halves, tensor after tensor.
  uint16_t half = 0;
  std::memcpy(&half, data.data() + 2 * 1001, 2);
  EXPECT_EQ(half, FloatToHalf(SamLikeEmbedding().tensors[0].values[1001]));
  std::memcpy(&half, data.data() + big_bytes + 4, 2);
  EXPECT_EQ(half, 0x4300);  // 3.5
}

TEST(SafetensorsTest, DamagedF16FilesAreCorrupt) {
  const std::string file = EncodedF16();
  const size_t header_end = 8 + HeaderLength(file);
  std::string data_flip = file;
  data_flip[header_end + 54321] ^= 0x01;
  ExpectCorrupt(data_flip, "checksum mismatch");
  std::string last_flip = file;
  last_flip.back() ^= 0x80;
  ExpectCorrupt(last_flip, "checksum mismatch");
  ExpectCorrupt(file.substr(0, file.size() - 2), "truncated");
  std::string dtype_flip = file;
  dtype_flip[file.find("F16")] ^= 0x02;  // F16 -> D16
  ExpectCorrupt(dtype_flip, "dtype D16");
}

}  // namespace
}  // namespace samcache
