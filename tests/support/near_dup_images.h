// Generated pictures with known relations, for the near-duplicate tests and benchmark: a
// photo-like original and the edits people make to photos (resize, re-compression, crop,
// brightness, mirror), plus "hard negatives" that share an original's background but show
// other objects.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "image/image_decoder.h"

namespace samcache::testing {

// A photo-like picture: a smooth colour field, a dozen soft-edged shapes, some texture and
// sensor-like noise, all drawn from `seed`. `objects_seed` picks the shapes only (default:
// the same as `seed`), so two calls with the same `seed` and different `objects_seed` show
// other objects on the same background.
DecodedImage MakePhoto(int width, int height, int seed, int objects_seed = -1);

enum class Edit {
  kResized,      // scaled to half the size (area interpolation)
  kJpegQ60,      // re-encoded as JPEG at quality 60
  kCropped,      // 3% cut from the left and 2% from the bottom
  kBrighter,     // +30 on every channel (clipped at 255)
  kDarker,       // 80% of every value
  kMirrored,     // flipped left to right
  kCroppedMore,  // 6% cut from the left and 4% from the bottom: beyond what pHash tolerates
};
// The edits the tests expect to be found at the default distance.
inline constexpr Edit kAllEdits[] = {Edit::kResized,  Edit::kJpegQ60, Edit::kCropped,
                                     Edit::kBrighter, Edit::kDarker,  Edit::kMirrored};
std::string_view EditName(Edit edit);

// `image` with `edit` applied. kJpegQ60 returns the pixels of the re-encoded file.
DecodedImage ApplyEdit(const DecodedImage& image, Edit edit);
// The file an uploader would have: JPEG at quality 60 for kJpegQ60, `extension` otherwise.
std::string EditedFile(const DecodedImage& image, Edit edit, const std::string& extension = ".jpg");

// Encodes or throws std::runtime_error (tests and benchmarks only).
std::string EncodeOrDie(const DecodedImage& image, const std::string& extension, int jpeg_quality = 90);

}  // namespace samcache::testing
