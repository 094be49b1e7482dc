// COCO RLE from clients: the compressed counts string (pycocotools' rleFrString) and the mask
// it decodes to. Input: two bytes of mask size (height, width: 0..255 each), then the counts
// string. Checks that what decodes encodes back to itself and that derived shapes agree.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "model/mask_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int height = data[0];
  const int width = data[1];
  const std::string_view counts(reinterpret_cast<const char*>(data + 2), size - 2);

  const samcache::Result<std::vector<uint32_t>> runs = samcache::DecompressRleCounts(counts);
  if (runs.ok()) {
    // Our encoding of the same runs parses back to them (pycocotools' strings need not be ours).
    const samcache::Result<std::vector<uint32_t>> again =
        samcache::DecompressRleCounts(samcache::CompressRleCounts(*runs));
    FUZZ_CHECK(again.ok() && *again == *runs);
  }

  const samcache::Result<samcache::BinaryMask> mask =
      samcache::DecodeRle(samcache::Rle{height, width, std::string(counts)});
  FUZZ_CHECK(mask.ok() == (runs.ok() && samcache::MaskFromRleCounts(*runs, height, width).ok()));
  if (!mask.ok()) return 0;
  FUZZ_CHECK(mask->height == height && mask->width == width);
  FUZZ_CHECK(mask->data.size() == static_cast<size_t>(height) * width);

  // Re-encoding gives the canonical string, which decodes to the same pixels.
  const samcache::Rle canonical = samcache::EncodeRle(*mask);
  const samcache::Result<samcache::BinaryMask> decoded = samcache::DecodeRle(canonical);
  FUZZ_CHECK(decoded.ok() && decoded->data == mask->data);

  uint64_t foreground = 0;
  for (uint8_t v : mask->data) foreground += v != 0;
  FUZZ_CHECK(samcache::MaskArea(*mask) == foreground);
  const std::array<int, 4> box = samcache::MaskBbox(*mask);
  if (foreground == 0) {
    FUZZ_CHECK(box[0] == 0 && box[1] == 0 && box[2] == 0 && box[3] == 0);
  } else {
    FUZZ_CHECK(box[0] >= 0 && box[1] >= 0 && box[2] >= 1 && box[3] >= 1);
    FUZZ_CHECK(box[0] + box[2] <= width && box[1] + box[3] <= height);
  }
  return 0;
}
