// Photo-like JPEGs for the benchmarks that run prewarm jobs.
#pragma once

#include <string>
#include <vector>

#include "support/http_reply.h"
#include "support/near_dup_images.h"

namespace samcache::bench {

// `count` JPEGs (q90) of width x height with distinct pixels: MakePhoto draws noise and shapes
// from the seed, first_seed, first_seed + 1, ...
inline std::vector<testing::NamedFile> MakePhotoJpegs(int count, int width, int height, int first_seed) {
  std::vector<testing::NamedFile> files;
  for (int i = 0; i < count; ++i) {
    const int seed = first_seed + i;
    files.push_back({"photo" + std::to_string(seed) + ".jpg",
                     testing::EncodeOrDie(testing::MakePhoto(width, height, seed), ".jpg", 90)});
  }
  return files;
}

}  // namespace samcache::bench
