#include "model/npy.h"

#include <bit>
#include <cassert>
#include <cstring>

namespace samcache {

// The data is copied as it lies in memory and declared '<f4'.
static_assert(std::endian::native == std::endian::little, "EncodeNpyFloat32 assumes a little-endian host");

std::string EncodeNpyFloat32(const std::vector<int64_t>& shape, const float* data) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  size_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    // Shapes come from our own tensors, never from a request.
    assert(shape[i] >= 0);
    if (i > 0) header += ", ";
    header += std::to_string(shape[i]);
    count *= static_cast<size_t>(shape[i]);
  }
  if (shape.size() == 1) header += ",";
  header += "), }";
  constexpr size_t kPrefix = 10;  // magic (6), version (2), header length (2)
  constexpr size_t kAlign = 64;
  const size_t total = (kPrefix + header.size() + 1 + kAlign - 1) / kAlign * kAlign;
  header.append(total - kPrefix - header.size() - 1, ' ');
  header += '\n';
  // Version 1.0 has a 16-bit header length; even a 100-dimensional shape stays far below it.
  assert(header.size() <= 0xffff);

  std::string out;
  out.reserve(total + count * sizeof(float));
  out.append("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  const size_t offset = out.size();
  out.resize(offset + count * sizeof(float));
  if (count > 0) std::memcpy(out.data() + offset, data, count * sizeof(float));
  return out;
}

}  // namespace samcache
