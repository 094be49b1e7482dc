// Perceptual hashes: 64-bit fingerprints that stay close (in Hamming distance) when a
// picture is resized, re-compressed, lightly cropped or made brighter or darker, and that are
// far apart for different pictures. Computed at ingest from the decoded, EXIF-oriented pixels.
#pragma once

#include <bit>
#include <cstdint>
#include <string>

#include "image/image_decoder.h"

namespace samcache {

// A 64-bit perceptual hash (pHash) of a picture, and of the same picture mirrored left to
// right (to find flipped copies).
struct PerceptualHash {
  uint64_t hash = 0;
  uint64_t mirrored = 0;
  bool operator==(const PerceptualHash&) const = default;
};

// pHash by DCT, as the common implementations (pHash, Python's imagehash) compute it: the
// picture in grey is averaged down to 32x32, transformed with a 2-D DCT, and each of the 8x8
// lowest-frequency coefficients becomes one bit, 1 when above their median (so 32 bits are
// set). Bit 63 - (8 * row + column) holds coefficient (row, column).
//
// The mirrored hash is the pHash of the picture flipped left to right, derived from the same
// coefficients (flipping negates the odd horizontal frequencies), so a mirrored copy of a
// picture has a pHash close to the picture's mirrored hash. Deterministic; thread-safe.
// An empty image hashes to zeros.
PerceptualHash ComputePerceptualHash(const DecodedImage& image);

// Number of differing bits.
inline int HammingDistance(uint64_t a, uint64_t b) { return std::popcount(a ^ b); }

// 16 lowercase hex digits, most significant first.
std::string PerceptualHashHex(uint64_t hash);

}  // namespace samcache
