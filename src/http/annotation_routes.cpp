#include "http/annotation_routes.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/app.h"
#include "common/crypto.h"
#include "common/files.h"
#include "http/json_reply.h"
#include "model/mask_codec.h"

namespace samcache {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxCategoryChars = 200;
constexpr size_t kMaxPromptBytes = 64 * 1024;
constexpr std::string_view kAnnotationExample =
    R"({"category": "cat", "segmentation": {"size": [480, 640], "counts": "..."}})";

size_t Utf8Length(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

json AnnotationJson(const AnnotationRecord& a) {
  json prompt = nullptr;
  if (!a.prompt_json.empty()) prompt = json::parse(a.prompt_json, nullptr, /*allow_exceptions=*/false);
  if (prompt.is_discarded()) prompt = nullptr;
  return json{{"id", a.id},
              {"image_id", a.image_id},
              {"dataset_id", a.dataset_id},
              {"category", a.category},
              {"segmentation", {{"size", {a.mask_height, a.mask_width}}, {"counts", a.rle_counts}}},
              {"bbox", a.bbox},
              {"area", a.area},
              {"score", a.score ? json(*a.score) : json(nullptr)},
              {"prompt", std::move(prompt)},
              {"model_id", a.model_id},
              {"created_at", a.created_at},
              {"updated_at", a.updated_at}};
}

// A COCO RLE object ({"size": [h, w], "counts": "..."} or with counts as a list of run
// lengths) for `image`: decoded, checked, and turned into the record's mask fields.
Status SetSegmentation(const json& seg, const ImageRecord& image, AnnotationRecord& a) {
  if (!seg.is_object() || !seg.contains("size") || !seg.contains("counts")) {
    return Status::InvalidArgument(
        "segmentation must be a COCO RLE object {\"size\": [height, width], \"counts\": \"...\"}, "
        "e.g. the rle of a mask from POST /api/sam/predict");
  }
  const json& size = seg["size"];
  if (!size.is_array() || size.size() != 2 || !size[0].is_number_integer() || !size[1].is_number_integer()) {
    return Status::InvalidArgument("segmentation.size must be [height, width] in pixels");
  }
  const int64_t height = size[0].get<int64_t>();
  const int64_t width = size[1].get<int64_t>();
  if (height != image.height || width != image.width) {
    return Status::InvalidArgument("segmentation.size is [" + std::to_string(height) + ", " +
                                   std::to_string(width) + "] but image " + image.id + " is " +
                                   std::to_string(image.height) + " x " + std::to_string(image.width) +
                                   " (height x width)");
  }
  Rle rle{image.height, image.width, {}};
  const json& counts = seg["counts"];
  if (counts.is_string()) {
    rle.counts = counts.get<std::string>();
  } else if (counts.is_array()) {
    std::vector<uint32_t> runs;
    for (const json& c : counts) {
      if (!c.is_number_integer() || c.get<int64_t>() < 0 || c.get<int64_t>() > int64_t{UINT32_MAX}) {
        return Status::InvalidArgument("segmentation.counts must hold non-negative run lengths");
      }
      runs.push_back(static_cast<uint32_t>(c.get<int64_t>()));
    }
    rle.counts = CompressRleCounts(runs);
  } else {
    return Status::InvalidArgument(
        "segmentation.counts must be a COCO compressed RLE string or a list of runs");
  }
  Result<BinaryMask> mask = DecodeRle(rle);
  if (!mask.ok()) return Status::InvalidArgument("segmentation does not decode: " + mask.status().message());
  const uint64_t area = MaskArea(*mask);
  if (area == 0) return Status::InvalidArgument("segmentation is empty: the mask has no foreground pixel");
  const std::array<int, 4> box = MaskBbox(*mask);
  a.mask_height = image.height;
  a.mask_width = image.width;
  a.rle_counts = std::move(rle.counts);
  for (size_t i = 0; i < 4; ++i) a.bbox[i] = box[i];
  a.area = static_cast<int64_t>(area);
  return Status::Ok();
}

// Applies the fields present in `body` to `a`; with `creating`, category and segmentation are required.
Status ApplyAnnotationFields(const json& body, const ImageRecord& image, bool creating, AnnotationRecord& a) {
  if (body.contains("category") || creating) {
    if (!body.contains("category") || !body["category"].is_string()) {
      return Status::InvalidArgument("category: required, the object's class name (a string), e.g. \"cat\"");
    }
    std::string category = Trim(body["category"].get<std::string>());
    if (category.empty()) return Status::InvalidArgument("category must not be empty");
    if (Utf8Length(category) > kMaxCategoryChars) {
      return Status::InvalidArgument("category: at most " + std::to_string(kMaxCategoryChars) +
                                     " characters");
    }
    a.category = std::move(category);
  }
  if (body.contains("segmentation") || creating) {
    if (!body.contains("segmentation")) {
      return Status::InvalidArgument(
          "segmentation: required, e.g. the rle of a mask from POST /api/sam/predict");
    }
    SAMCACHE_RETURN_IF_ERROR(SetSegmentation(body["segmentation"], image, a));
  }
  if (body.contains("score")) {
    const json& score = body["score"];
    if (score.is_null()) {
      a.score.reset();
    } else if (score.is_number() && std::isfinite(score.get<double>())) {
      a.score = score.get<double>();
    } else {
      return Status::InvalidArgument("score must be a number or null");
    }
  }
  if (body.contains("prompt")) {
    const json& prompt = body["prompt"];
    a.prompt_json = prompt.is_null() ? "" : prompt.dump();
    if (a.prompt_json.size() > kMaxPromptBytes) {
      return Status::InvalidArgument("prompt: at most " + std::to_string(kMaxPromptBytes) + " bytes of JSON");
    }
  }
  return Status::Ok();
}

// COCO wants integer ids: images by upload order, categories by sorted name.
json CocoExport(const DatasetRecord& dataset, const std::vector<ImageRecord>& images,
                const std::vector<AnnotationRecord>& annotations) {
  std::map<std::string, int64_t> image_ids;
  json coco_images = json::array();
  for (const ImageRecord& image : images) {
    const int64_t id = static_cast<int64_t>(image_ids.size()) + 1;
    image_ids.emplace(image.id, id);
    coco_images.push_back({{"id", id},
                           {"file_name", image.filename},
                           {"width", image.width},
                           {"height", image.height},
                           {"samcache_image_id", image.id}});
  }
  std::map<std::string, int64_t> category_ids;
  for (const AnnotationRecord& a : annotations) category_ids.emplace(a.category, 0);
  json categories = json::array();
  for (auto& [name, id] : category_ids) {
    id = static_cast<int64_t>(categories.size()) + 1;
    categories.push_back({{"id", id}, {"name", name}, {"supercategory", ""}});
  }
  json coco_annotations = json::array();
  for (const AnnotationRecord& a : annotations) {
    json entry{{"id", static_cast<int64_t>(coco_annotations.size()) + 1},
               {"image_id", image_ids.at(a.image_id)},
               {"category_id", category_ids.at(a.category)},
               {"segmentation", {{"size", {a.mask_height, a.mask_width}}, {"counts", a.rle_counts}}},
               {"area", a.area},
               {"bbox", a.bbox},
               {"iscrowd", 0},
               {"samcache_annotation_id", a.id}};
    if (a.score) entry["score"] = *a.score;
    coco_annotations.push_back(std::move(entry));
  }
  return json{{"info",
               {{"description", "samcache dataset " + dataset.name},
                {"version", "1.0"},
                {"date_created", NowIso8601()},
                {"samcache_dataset_id", dataset.id}}},
              {"licenses", json::array()},
              {"images", std::move(coco_images)},
              {"annotations", std::move(coco_annotations)},
              {"categories", std::move(categories)}};
}

}  // namespace

void AddAnnotationRoutes(httplib::Server& server, App& app) {
  server.Get(R"(/api/sam/image/([^/]+)/annotations)",
             [&app](const httplib::Request& req, httplib::Response& res) {
               Result<ImageRecord> image = app.catalog().GetImage(req.matches[1]);
               if (!image.ok()) return SendStatus(res, image.status());
               Result<std::vector<AnnotationRecord>> annotations = app.catalog().ListAnnotations(image->id);
               if (!annotations.ok()) return SendStatus(res, annotations.status());
               json list = json::array();
               for (const AnnotationRecord& a : *annotations) list.push_back(AnnotationJson(a));
               SendJson(res, 200, json{{"image_id", image->id}, {"annotations", std::move(list)}});
             });

  server.Post(R"(/api/sam/image/([^/]+)/annotations)",
              [&app](const httplib::Request& req, httplib::Response& res) {
                Result<ImageRecord> image = app.catalog().GetImage(req.matches[1]);
                if (!image.ok()) return SendStatus(res, image.status());
                Result<json> body = ParseJsonObject(req.body, kAnnotationExample);
                if (!body.ok()) return SendStatus(res, body.status());
                AnnotationRecord a;
                a.id = RandomId();
                a.image_id = image->id;
                a.dataset_id = image->dataset_id;
                a.model_id = app.model() != nullptr ? app.model()->info().id : "";
                a.created_at = a.updated_at = NowIso8601();
                Status applied = ApplyAnnotationFields(*body, *image, /*creating=*/true, a);
                if (!applied.ok()) return SendStatus(res, applied);
                Status created = app.catalog().CreateAnnotation(a);
                if (!created.ok()) return SendStatus(res, created);
                spdlog::info("[ANNOTATE] image {} ({}): \"{}\" saved, area {} px", image->id, image->filename,
                             a.category, a.area);
                res.set_header("Location", "/api/sam/annotation/" + a.id);
                SendJson(res, 201, AnnotationJson(a));
              });

  server.Put(R"(/api/sam/annotation/([^/]+))", [&app](const httplib::Request& req, httplib::Response& res) {
    Result<AnnotationRecord> a = app.catalog().GetAnnotation(req.matches[1]);
    if (!a.ok()) return SendStatus(res, a.status());
    Result<ImageRecord> image = app.catalog().GetImage(a->image_id);
    if (!image.ok()) return SendStatus(res, image.status());
    Result<json> body = ParseJsonObject(req.body, kAnnotationExample);
    if (!body.ok()) return SendStatus(res, body.status());
    Status applied = ApplyAnnotationFields(*body, *image, /*creating=*/false, *a);
    if (!applied.ok()) return SendStatus(res, applied);
    a->updated_at = NowIso8601();
    Status updated = app.catalog().UpdateAnnotation(*a);
    if (!updated.ok()) return SendStatus(res, updated);
    SendJson(res, 200, AnnotationJson(*a));
  });

  server.Delete(R"(/api/sam/annotation/([^/]+))",
                [&app](const httplib::Request& req, httplib::Response& res) {
                  const std::string id = req.matches[1];
                  Status deleted = app.catalog().DeleteAnnotation(id);
                  if (!deleted.ok()) return SendStatus(res, deleted);
                  SendJson(res, 200, json{{"deleted", id}});
                });

  server.Get(
      R"(/api/sam/dataset/([^/]+)/export/coco)", [&app](const httplib::Request& req, httplib::Response& res) {
        Result<DatasetRecord> dataset = app.catalog().GetDataset(req.matches[1]);
        if (!dataset.ok()) return SendStatus(res, dataset.status());
        Result<std::vector<ImageRecord>> images = app.catalog().ListImages(dataset->id);
        if (!images.ok()) return SendStatus(res, images.status());
        Result<std::vector<AnnotationRecord>> annotations = app.catalog().ListDatasetAnnotations(dataset->id);
        if (!annotations.ok()) return SendStatus(res, annotations.status());
        json coco = CocoExport(*dataset, *images, *annotations);
        spdlog::info("[EXPORT] dataset {} ({}): COCO with {} image(s), {} annotation(s), {} categor{}",
                     dataset->id, dataset->name, images->size(), annotations->size(),
                     coco["categories"].size(), coco["categories"].size() == 1 ? "y" : "ies");
        res.set_header("Content-Disposition", ContentDisposition("attachment", dataset->name + ".coco.json"));
        SendJson(res, 200, coco);
      });

  server.Post(R"(/api/sam/image/([^/]+)/warm)", [&app](const httplib::Request& req, httplib::Response& res) {
    if (!app.embeddings()) return SendError(res, 503, "no model is loaded");
    Result<ImageRecord> image = app.catalog().GetImage(req.matches[1]);
    if (!image.ok()) return SendStatus(res, image.status());
    Result<PendingEmbedding> pending =
        app.embeddings()->Request(ImageSource{image->content_hash, image->pixel_hash});
    if (!pending.ok()) {
      if (pending.status().code() == StatusCode::kUnavailable) res.set_header("Retry-After", "2");
      return SendStatus(res, pending.status());
    }
    // Not waited for: the run goes on and stores the embedding for the click to come.
    const bool cached = pending->cached();
    SendJson(res, cached ? 200 : 202,
             json{{"image_id", image->id}, {"embedding", cached ? "cached" : "computing"}});
  });
}

}  // namespace samcache
