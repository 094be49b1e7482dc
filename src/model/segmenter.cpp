#include "model/segmenter.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>

#include "catalog/catalog.h"
#include "common/crypto.h"
#include "model/preprocess.h"

namespace samcache {
namespace {

using Clock = std::chrono::steady_clock;

// Clicks in this process between their start and their answer, across models: one alone may
// take a second core for its mask.
std::atomic<int> g_clicks_in_flight{0};

class ClickInFlight {
 public:
  ClickInFlight() { g_clicks_in_flight.fetch_add(1, std::memory_order_relaxed); }
  ~ClickInFlight() { g_clicks_in_flight.fetch_sub(1, std::memory_order_relaxed); }
  ClickInFlight(const ClickInFlight&) = delete;
  ClickInFlight& operator=(const ClickInFlight&) = delete;
  bool Alone() const { return g_clicks_in_flight.load(std::memory_order_relaxed) == 1; }
};

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string Num(float v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

Status ValidatePrompts(const PredictRequest& request, int width, int height, const ModelInfo& model) {
  if (request.points.empty() && !request.box) {
    return Status::InvalidArgument("points: give at least one point, or a box");
  }
  const size_t prompt_points = request.points.size() + (request.box ? 2 : 0);
  if (model.max_points > 0 && prompt_points > static_cast<size_t>(model.max_points)) {
    return Status::InvalidArgument("points: this model (" + std::string(FamilyName(model.family)) +
                                   ") takes at most " + std::to_string(model.max_points) +
                                   " points per request, a box counting as two (got " +
                                   std::to_string(prompt_points) + ")");
  }
  if (request.points.size() > kMaxPromptPoints) {
    return Status::InvalidArgument("points: at most " + std::to_string(kMaxPromptPoints) +
                                   " points per request (got " + std::to_string(request.points.size()) + ")");
  }
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  for (size_t i = 0; i < request.points.size(); ++i) {
    const PromptPoint& p = request.points[i];
    const std::string field = "points[" + std::to_string(i) + "]";
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) {
      return Status::InvalidArgument(field + ": x and y must be finite numbers");
    }
    if (p.x < 0 || p.y < 0 || p.x > static_cast<float>(width) || p.y > static_cast<float>(height)) {
      return Status::InvalidArgument(field + ": (" + Num(p.x) + ", " + Num(p.y) + ") is outside the " + size +
                                     " image");
    }
    if (p.label != 0 && p.label != 1) {
      return Status::InvalidArgument(field + ".label must be 1 (foreground) or 0 (background)");
    }
  }
  if (request.box) {
    const auto& b = *request.box;
    if (!std::all_of(b.begin(), b.end(), [](float v) { return std::isfinite(v); })) {
      return Status::InvalidArgument("box: all four numbers must be finite");
    }
    if (!(b[0] < b[2] && b[1] < b[3])) {
      return Status::InvalidArgument("box: expected [x0, y0, x1, y1] with x0 < x1 and y0 < y1");
    }
    if (b[0] < 0 || b[1] < 0 || b[2] > static_cast<float>(width) || b[3] > static_cast<float>(height)) {
      return Status::InvalidArgument("box: [" + Num(b[0]) + ", " + Num(b[1]) + ", " + Num(b[2]) + ", " +
                                     Num(b[3]) + "] is not inside the " + size + " image");
    }
  }
  return Status::Ok();
}

}  // namespace

std::vector<int> ChooseMasks(const std::vector<float>& scores, bool multimask, MaskRanking ranking) {
  const int count = static_cast<int>(scores.size());
  std::vector<int> chosen;
  if (count == 4 && ranking == MaskRanking::kOfficial) {
    // The official four-mask export: index 0 is the single-mask answer.
    if (!multimask) return std::vector<int>(1, 0);
    chosen = {1, 2, 3};
  } else {
    chosen.resize(static_cast<size_t>(count));
    std::iota(chosen.begin(), chosen.end(), 0);
  }
  std::stable_sort(chosen.begin(), chosen.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  // Today's exports return every multimask answer; EdgeSAM's four compete for three places.
  const size_t keep = !multimask ? 1 : ranking == MaskRanking::kAllByScore ? 3 : chosen.size();
  if (chosen.size() > keep) chosen.erase(chosen.begin() + static_cast<std::ptrdiff_t>(keep), chosen.end());
  return chosen;
}

BinaryMask UpsampleForModel(const ModelInfo& info, const float* logits, int low_h, int low_w, int height,
                            int width) {
  if (info.frame_fit == FrameFit::kStretch)
    return UpsampleStretchedLogits(logits, low_h, low_w, height, width);
  const ResizedSize input = LongestSideSize(height, width, info.input_side);
  return UpsampleLowResLogits(logits, low_h, low_w, input.height, input.width, height, width,
                              info.input_side);
}

EncodedMask EncodeForModel(const ModelInfo& info, const float* logits, int low_h, int low_w, int height,
                           int width, EncodeThreads threads) {
  if (info.frame_fit == FrameFit::kStretch) {
    return EncodeStretchedLogits(logits, low_h, low_w, height, width, threads);
  }
  const ResizedSize input = LongestSideSize(height, width, info.input_side);
  return EncodeLowResLogits(logits, low_h, low_w, input.height, input.width, height, width, info.input_side,
                            threads);
}

Segmenter::Segmenter(ImageCatalog& catalog, EmbeddingService& embeddings, const SamModel& model,
                     size_t remembered_predictions, SegmenterLimits limits, ProjectCache* projects)
    : catalog_(catalog),
      embeddings_(embeddings),
      model_(model),
      projects_(projects),
      capacity_(std::max<size_t>(1, remembered_predictions)),
      limits_(limits),
      mask_budget_(limits.mask_pixel_budget) {}

Result<PredictResult> Segmenter::Predict(const PredictRequest& request,
                                         const std::function<bool()>& cancelled) {
  const Clock::time_point start = Clock::now();
  // Between stages: the work of a click nobody waits for any more is abandoned.
  const auto gone = [&cancelled] { return cancelled && cancelled(); };
  const Status kGone = Status::Unavailable("the client went away");
  const ClickInFlight in_flight;
  SAMCACHE_ASSIGN_OR_RETURN(const ImageRecord image, catalog_.GetImage(request.image_id));
  SAMCACHE_RETURN_IF_ERROR(ValidatePrompts(request, image.width, image.height, model_.info()));

  std::shared_ptr<const Remembered> previous;
  if (!request.refine_from.empty()) {
    previous = Recall(request.refine_from);
    if (!previous) {
      return Status::InvalidArgument("refine_from: no earlier prediction with id \"" + request.refine_from +
                                     "\" (the server keeps the last " + std::to_string(capacity_) + ")");
    }
    if (previous->image_id != image.id) {
      return Status::InvalidArgument("refine_from: prediction \"" + request.refine_from +
                                     "\" was made on another image");
    }
  }

  PredictResult result;
  result.image_id = image.id;
  result.width = image.width;
  result.height = image.height;

  std::string project_id = request.project_id;
  if (projects_ != nullptr && project_id.empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(const DatasetRecord dataset, catalog_.GetDataset(image.dataset_id));
    project_id = dataset.project_id;
  }
  const ImageSource source = projects_ != nullptr ? projects_->SourceFor(image, project_id)
                                                  : ImageSource{image.content_hash, image.pixel_hash, ""};
  SAMCACHE_ASSIGN_OR_RETURN(const EmbeddingLookup embedding, embeddings_.Get(source));
  // Stored by another project's work is no "cached" to this one: that would tell it the
  // other project has the picture.
  result.embedding_cached =
      embedding.cached &&
      (projects_ == nullptr || projects_->ClaimedBy(project_id, {image.pixel_hash}).front());
  result.embedding_ms = embedding.elapsed_ms;
  if (gone()) return kGone;

  DecoderPrompt prompt;
  prompt.original_height = image.height;
  prompt.original_width = image.width;
  prompt.points = request.points;
  prompt.box = request.box;
  if (previous) prompt.mask_input = &previous->low_res_logits;
  Clock::time_point step = Clock::now();
  SAMCACHE_ASSIGN_OR_RETURN(const DecoderResult decoded, model_.Decode(*embedding.embedding, prompt));
  result.decode_ms = MillisSince(step);
  if (gone()) return kGone;

  step = Clock::now();
  // Full-resolution masks are where a huge image costs: wait for our share of the budget.
  SAMCACHE_ASSIGN_OR_RETURN(
      const WorkBudget::Lease lease,
      mask_budget_.Acquire(static_cast<uint64_t>(image.width) * static_cast<uint64_t>(image.height),
                           cancelled));
  PolygonOptions polygon_options;
  polygon_options.epsilon_px = std::max(1.0, std::max(image.width, image.height) / 4096.0);
  polygon_options.max_polygons = limits_.max_polygons;
  polygon_options.max_vertices = limits_.max_polygon_vertices;
  const size_t plane = static_cast<size_t>(decoded.low_res_height) * decoded.low_res_width;
  std::vector<int> chosen = ChooseMasks(decoded.scores, request.multimask, model_.info().mask_ranking);
  for (int index : chosen) {
    if (gone()) return kGone;
    const float* logits = decoded.low_res_logits.data() + plane * static_cast<size_t>(index);
    PredictedMask out;
    out.score = decoded.scores[static_cast<size_t>(index)];
    if (!request.want_polygon && !request.want_png) {
      // RLE only: no full-size mask, only the part of the image the mask can reach.
      // A second thread only for a click alone: beside others, the cores are taken already.
      const EncodeThreads threads =
          in_flight.Alone() ? EncodeThreads::kTwoForLargeBoxes : EncodeThreads::kOne;
      EncodedMask encoded = EncodeForModel(model_.info(), logits, decoded.low_res_height,
                                           decoded.low_res_width, image.height, image.width, threads);
      out.rle = std::move(encoded.rle);
      out.bbox = encoded.bbox;
      out.area = encoded.area;
      result.masks.push_back(std::move(out));
      continue;
    }
    BinaryMask mask = UpsampleForModel(model_.info(), logits, decoded.low_res_height, decoded.low_res_width,
                                       image.height, image.width);
    out.rle = EncodeRle(mask);
    out.bbox = MaskBbox(mask);
    out.area = MaskArea(mask);
    if (request.want_polygon) {
      if (gone()) return kGone;
      out.polygons = MaskPolygons(mask, polygon_options);
    }
    if (request.want_png) {
      if (gone()) return kGone;
      SAMCACHE_ASSIGN_OR_RETURN(out.png, MaskPng(mask));
    }
    result.masks.push_back(std::move(out));
  }
  result.postprocess_ms = MillisSince(step);

  // The best returned mask is what a next click refines, as in the SAM demo.
  auto remembered = std::make_shared<Remembered>();
  remembered->image_id = image.id;
  const float* best = decoded.low_res_logits.data() + plane * static_cast<size_t>(chosen.front());
  remembered->low_res_logits.assign(best, best + plane);
  result.prediction_id = RandomId();
  Remember(result.prediction_id, std::move(remembered));
  if (projects_ != nullptr) projects_->ClaimFor(project_id, {image.pixel_hash});
  result.total_ms = MillisSince(start);
  return result;
}

std::shared_ptr<const Segmenter::Remembered> Segmenter::Recall(const std::string& prediction_id) {
  std::lock_guard lock(mutex_);
  auto it = predictions_.find(prediction_id);
  if (it == predictions_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second.second);
  return it->second.first;
}

void Segmenter::Remember(const std::string& prediction_id, std::shared_ptr<const Remembered> entry) {
  std::lock_guard lock(mutex_);
  order_.push_front(prediction_id);
  predictions_[prediction_id] = {std::move(entry), order_.begin()};
  while (predictions_.size() > capacity_) {
    predictions_.erase(order_.back());
    order_.pop_back();
  }
}

}  // namespace samcache
