// Click-to-segment: prompts on a catalog image in, masks in the original image's pixels out.
//
// Validates the prompts against the image, gets the embedding (cached or computed once),
// runs the decoder, upsamples only the masks it returns, and encodes them (COCO RLE, and
// polygons or PNG on request). Each answer gets a prediction id; its low-resolution mask
// is remembered for a while so that a later request can refine it (`refine_from`).
//
// A click's cost grows with the image (a 100-megapixel mask is 100 MB), so full-resolution
// work is bounded: clicks take turns under a pixel budget (SegmenterLimits), polygons are
// capped, PNGs are 1-bit, and a click whose caller has gone stops at the next stage.
//
// Thread-safety: Predict may be called from any number of threads at once.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "catalog/image_catalog.h"
#include "common/status.h"
#include "model/embedding_service.h"
#include "model/mask_codec.h"
#include "model/project_cache.h"
#include "model/sam_model.h"
#include "model/work_budget.h"

namespace samcache {

class Catalog;

inline constexpr size_t kMaxPromptPoints = 64;

struct PredictRequest {
  std::string image_id;
  // The project of the image's dataset: its cache key and claims decide what "cached" says.
  // Empty: looked up from the image's dataset.
  std::string project_id;
  std::vector<PromptPoint> points;          // original image pixels
  std::optional<std::array<float, 4>> box;  // x0, y0, x1, y1 in original pixels
  bool multimask = false;
  std::string refine_from;  // a prediction id on the same image, or empty
  bool want_polygon = false;
  bool want_png = false;
};

struct PredictedMask {
  Rle rle;
  std::array<int, 4> bbox{};  // x, y, width, height
  uint64_t area = 0;
  float score = 0;
  std::vector<std::vector<float>> polygons;  // when asked for
  std::string png;                           // when asked for
};

struct PredictResult {
  std::string prediction_id;
  std::string image_id;
  int width = 0;
  int height = 0;
  // Found in the store and claimed by the request's project before this call (with a
  // ProjectCache; else found in the store).
  bool embedding_cached = false;
  std::vector<PredictedMask> masks;  // best score first when several
  double embedding_ms = 0;
  double decode_ms = 0;
  double postprocess_ms = 0;
  double total_ms = 0;
};

// What one click may cost at full resolution.
struct SegmenterLimits {
  // Pixels of full-resolution masks being made at once, over all clicks: each click holds its
  // image's pixel count (at most the whole budget) from upsampling to the last PNG. About
  // 2 bytes per pixel are live per click, so the default keeps huge clicks near 400 MB in
  // all, two 100-megapixel clicks at a time, while 12-megapixel photos run 16 at once.
  // 0: unlimited.
  uint64_t mask_pixel_budget = 200'000'000;
  // Polygons per mask (the largest kept) and vertices per mask (the outline is simplified
  // more coarsely until they fit). The tolerance starts at 1 pixel, or longest side / 4096
  // on larger images, where a pixel is below what anyone clicks at.
  size_t max_polygons = 100;
  size_t max_polygon_vertices = 10'000;
};

class Segmenter {
 public:
  // Everything passed in must outlive the segmenter. With `projects` (the server's case)
  // embeddings are keyed and claimed per project (PredictRequest::project_id); without it,
  // by pixel hash alone, and "cached" means in the store.
  Segmenter(ImageCatalog& catalog, EmbeddingService& embeddings, const SamModel& model,
            size_t remembered_predictions = 256, SegmenterLimits limits = {},
            ProjectCache* projects = nullptr);

  // NotFound for an unknown image; InvalidArgument naming the field for bad prompts or an
  // unknown refine_from; Unavailable when the encoder queue is full.
  // `cancelled` (optional) says whether the caller has gone, e.g. the HTTP client hung up. It
  // is asked between stages (after the embedding and the decoder run, while waiting for the
  // pixel budget, before each mask's upsampling, polygons and PNG); once it says true the
  // click stops with Unavailable("the client went away") and nothing is remembered.
  Result<PredictResult> Predict(const PredictRequest& request,
                                const std::function<bool()>& cancelled = nullptr);

  // The full-resolution pixel budget, for tests and statistics.
  const WorkBudget& mask_budget() const { return mask_budget_; }
  const SegmenterLimits& limits() const { return limits_; }

 private:
  struct Remembered {
    std::string image_id;
    std::vector<float> low_res_logits;
  };
  std::shared_ptr<const Remembered> Recall(const std::string& prediction_id);
  void Remember(const std::string& prediction_id, std::shared_ptr<const Remembered> entry);

  ImageCatalog& catalog_;
  EmbeddingService& embeddings_;
  const SamModel& model_;
  ProjectCache* const projects_;
  const size_t capacity_;
  const SegmenterLimits limits_;
  WorkBudget mask_budget_;

  std::mutex mutex_;
  std::list<std::string> order_;  // front: newest
  std::unordered_map<std::string,
                     std::pair<std::shared_ptr<const Remembered>, std::list<std::string>::iterator>>
      predictions_;
};

// Which of the decoder's masks to return: the single-mask answer (index 0 of four, or the
// best of others), or the multimask answers (1..3 of four) best score first. With
// MaskRanking::kAllByScore (EdgeSAM's stability scores) every mask competes: the single
// answer is the best, the multimask answers the best three.
std::vector<int> ChooseMasks(const std::vector<float>& scores, bool multimask,
                             MaskRanking ranking = MaskRanking::kOfficial);

// The full-size mask of one low-res logit plane, as the model's frame fit says: longest
// side (upsample to the frame, crop the padding, resize) or stretched (one resize).
BinaryMask UpsampleForModel(const ModelInfo& info, const float* logits, int low_h, int low_w, int height,
                            int width);
// The RLE, bbox and area of UpsampleForModel's mask, without making the full-size mask.
EncodedMask EncodeForModel(const ModelInfo& info, const float* logits, int low_h, int low_w, int height,
                           int width, EncodeThreads threads = EncodeThreads::kTwoForLargeBoxes);

}  // namespace samcache
