// NumPy .npy files, so that tensors (embeddings, logits) can be downloaded and opened with
// numpy.load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace samcache {

// A version 1.0 .npy file of little-endian float32 in C order:
//   "\x93NUMPY" 1 0, a 2-byte little-endian header length, then the header
//   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 256, 64, 64), }
// padded with spaces and ended by '\n' so that the data starts at a multiple of 64 bytes,
// then the data. A 1-D shape is written "(n,)", a 0-D one "()".
// `data` holds the product of `shape` floats; every dimension must be >= 0.
std::string EncodeNpyFloat32(const std::vector<int64_t>& shape, const float* data);

}  // namespace samcache
