#include "annotate/coco_export.h"

#include <map>
#include <vector>

#include "common/files.h"

namespace samcache {
namespace {

using json = nlohmann::json;

// The UTF-8 encodings of the characters ExportText drops, beyond single bytes.
bool IsDroppedSequence(std::string_view s, size_t i, size_t& length) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  if (i + 1 < s.size() && byte(0) == 0xC2 && byte(1) >= 0x80 && byte(1) <= 0x9F) {  // C1
    length = 2;
    return true;
  }
  if (i + 2 < s.size() && byte(0) == 0xE2 &&
      ((byte(1) == 0x80 && byte(2) >= 0xAA && byte(2) <= 0xAE) ||   // U+202A-U+202E
       (byte(1) == 0x81 && byte(2) >= 0xA6 && byte(2) <= 0xA9))) {  // U+2066-U+2069
    length = 3;
    return true;
  }
  return false;
}

json CocoJson(const DatasetRecord& dataset, const std::vector<ImageRecord>& images,
              const std::vector<AnnotationRecord>& annotations) {
  std::map<std::string, int64_t> image_ids;
  json coco_images = json::array();
  for (const ImageRecord& image : images) {
    const int64_t id = static_cast<int64_t>(image_ids.size()) + 1;
    image_ids.emplace(image.id, id);
    coco_images.push_back({{"id", id},
                           {"file_name", ExportText(image.filename)},
                           {"width", image.width},
                           {"height", image.height},
                           {"samcache_image_id", image.id}});
  }
  std::map<std::string, int64_t> category_ids;
  for (const AnnotationRecord& a : annotations) category_ids.emplace(ExportText(a.category), 0);
  json categories = json::array();
  for (auto& [name, id] : category_ids) {
    id = static_cast<int64_t>(categories.size()) + 1;
    categories.push_back({{"id", id}, {"name", name}, {"supercategory", ""}});
  }
  json coco_annotations = json::array();
  for (const AnnotationRecord& a : annotations) {
    json entry{{"id", static_cast<int64_t>(coco_annotations.size()) + 1},
               {"image_id", image_ids.at(a.image_id)},
               {"category_id", category_ids.at(ExportText(a.category))},
               {"segmentation", {{"size", {a.mask_height, a.mask_width}}, {"counts", a.rle_counts}}},
               {"area", a.area},
               {"bbox", a.bbox},
               {"iscrowd", 0},
               {"samcache_annotation_id", a.id}};
    if (a.score) entry["score"] = *a.score;
    coco_annotations.push_back(std::move(entry));
  }
  return json{{"info",
               {{"description", "samcache dataset " + ExportText(dataset.name)},
                {"version", "1.0"},
                {"date_created", NowIso8601()},
                {"samcache_dataset_id", dataset.id}}},
              {"licenses", json::array()},
              {"images", std::move(coco_images)},
              {"annotations", std::move(coco_annotations)},
              {"categories", std::move(categories)}};
}

}  // namespace

std::string ExportText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    if (c < 0x20 || c == 0x7F) {
      ++i;
    } else if (IsDroppedSequence(text, i, length)) {
      i += length;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out.empty() ? std::string("unnamed") : out;
}

Result<CocoExport> ExportCoco(Catalog& catalog, const std::string& dataset_id) {
  CocoExport out;
  SAMCACHE_ASSIGN_OR_RETURN(out.dataset, catalog.GetDataset(dataset_id));
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<ImageRecord> images, catalog.ListImages(out.dataset.id));
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<AnnotationRecord> annotations,
                            catalog.ListDatasetAnnotations(out.dataset.id));
  out.coco = CocoJson(out.dataset, images, annotations);
  out.images = images.size();
  out.annotations = annotations.size();
  out.categories = out.coco["categories"].size();
  return out;
}

}  // namespace samcache
