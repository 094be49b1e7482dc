// The SAM model families samcache serves, and their names at the edge (JSON, logs, model.json).
//
// A family is a convention shared by every export of it: how the image is prepared, which
// encoder outputs make the cached embedding, how prompts are encoded, and what the decoder
// returns. The family of a folder is detected from its graphs' signatures (model.json may
// state it); its model id (the encoder's hash) keeps families apart in the cache.
#pragma once

#include <optional>
#include <string_view>

namespace samcache {

enum class ModelFamily {
  kSam,           // segment-anything's official export (SAM 1, MobileSAM, the demo model)
  kSamHq,         // SAM-HQ: the SAM 1 decoder plus the encoder's interm_embeddings
  kEdgeSam,       // EdgeSAM: SAM 1 preprocessing, a decoder with prompts only, low-res masks
  kSam2,          // SAM 2 / 2.1 in samexporter's format: three tensors, stretched frame
  kSam2FullSize,  // SAM 2 / 2.1 in ONNX-SAM2-Segment-Anything's format: adds orig_im_size
  kEfficientSam,  // EfficientSAM: points in original pixels, resizing inside the graph
};

// "sam", "sam-hq", "edgesam", "sam2", "sam2-full-size", "efficientsam".
std::string_view FamilyName(ModelFamily family);
// The inverse of FamilyName; nullopt for anything else.
std::optional<ModelFamily> ParseFamily(std::string_view name);

// How the image's pixels map into the encoder's square frame, and the low-res masks back.
enum class FrameFit {
  kLongestSide,  // longest side scaled to the frame, aspect kept, zero padding bottom/right
  kStretch,      // both sides scaled to the frame, aspect not kept, no padding
};

}  // namespace samcache
