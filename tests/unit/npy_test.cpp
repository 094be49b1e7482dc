#include "model/npy.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace samcache {
namespace {

struct ParsedNpy {
  std::string header;  // the dict text, trailing spaces and '\n' included
  size_t data_offset = 0;
};

ParsedNpy Parse(const std::string& npy) {
  ParsedNpy parsed;
  EXPECT_GE(npy.size(), 10u);
  EXPECT_EQ(npy.substr(0, 6), std::string("\x93NUMPY", 6));
  EXPECT_EQ(npy[6], 1);  // version 1.0
  EXPECT_EQ(npy[7], 0);
  const size_t header_len = static_cast<uint8_t>(npy[8]) | static_cast<uint8_t>(npy[9]) << 8;
  parsed.data_offset = 10 + header_len;
  EXPECT_EQ(parsed.data_offset % 64, 0u) << "data must start 64-byte aligned";
  EXPECT_LE(parsed.data_offset, npy.size());
  parsed.header = npy.substr(10, header_len);
  return parsed;
}

// The dict with its space padding and final newline removed (checking both are there).
std::string Dict(const std::string& header) {
  EXPECT_EQ(header.back(), '\n');
  const size_t end = header.find_last_not_of(" \n");
  EXPECT_EQ(header.find_first_not_of(' ', end + 1), header.size() - 1) << "padding is spaces only";
  return header.substr(0, end + 1);
}

TEST(NpyTest, EmbeddingShape) {
  const std::vector<int64_t> shape = {1, 256, 64, 64};
  std::vector<float> data(256 * 64 * 64);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i) * 0.25f - 1000.0f;
  const std::string npy = EncodeNpyFloat32(shape, data.data());
  const ParsedNpy parsed = Parse(npy);
  EXPECT_EQ(parsed.data_offset, 128u);
  EXPECT_EQ(Dict(parsed.header), "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 256, 64, 64), }");
  ASSERT_EQ(npy.size(), parsed.data_offset + data.size() * 4);
  EXPECT_EQ(0, std::memcmp(npy.data() + parsed.data_offset, data.data(), data.size() * 4));
  // Little-endian float32: 1.0f is 00 00 80 3f.
  const float one = 1.0f;
  const std::string one_npy = EncodeNpyFloat32({1}, &one);
  EXPECT_EQ(one_npy.substr(Parse(one_npy).data_offset), std::string("\x00\x00\x80\x3f", 4));
}

TEST(NpyTest, OneDimensionalHasTrailingComma) {
  const std::vector<float> data = {1.5f, -2.0f, 3.25f};
  const std::string npy = EncodeNpyFloat32({3}, data.data());
  const ParsedNpy parsed = Parse(npy);
  EXPECT_EQ(parsed.data_offset, 128u);  // as numpy.save: the dict alone is 58 bytes
  EXPECT_EQ(Dict(parsed.header), "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
  ASSERT_EQ(npy.size(), 128u + 12);
  EXPECT_EQ(0, std::memcmp(npy.data() + 128, data.data(), 12));
}

TEST(NpyTest, ScalarAndEmpty) {
  const float value = 7.0f;
  const std::string scalar = EncodeNpyFloat32({}, &value);
  EXPECT_EQ(Dict(Parse(scalar).header), "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
  EXPECT_EQ(scalar.size(), 128u + 4);

  const std::string empty = EncodeNpyFloat32({2, 0}, nullptr);
  EXPECT_EQ(Dict(Parse(empty).header), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0), }");
  EXPECT_EQ(empty.size(), 128u);
}

TEST(NpyTest, LongShapeStillAligned) {
  // A header that needs a third 64-byte block: 31 dimensions.
  std::vector<int64_t> shape(30, 1);
  shape.push_back(2);
  const std::vector<float> data = {4.0f, 5.0f};
  const std::string npy = EncodeNpyFloat32(shape, data.data());
  const ParsedNpy parsed = Parse(npy);
  EXPECT_EQ(parsed.data_offset, 192u);
  EXPECT_EQ(0, std::memcmp(npy.data() + 192, data.data(), 8));
}

}  // namespace
}  // namespace samcache
