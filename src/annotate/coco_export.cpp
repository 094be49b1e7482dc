#include "annotate/coco_export.h"

#include <map>
#include <vector>

#include "common/files.h"

namespace samcache {
namespace {

using json = nlohmann::json;

json CocoJson(const DatasetRecord& dataset, const std::vector<ImageRecord>& images,
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
