#include "annotate/coco_export.h"

#include <algorithm>
#include <nlohmann/json.hpp>

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

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

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

Result<CocoWriter> CocoWriter::Open(Catalog& catalog, const std::string& dataset_id, size_t page_rows) {
  CocoWriter writer(catalog, std::max<size_t>(page_rows, 1));
  SAMCACHE_ASSIGN_OR_RETURN(writer.dataset_, catalog.GetDataset(dataset_id));
  writer.date_created_ = NowIso8601();
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<std::string> categories,
                            catalog.ListDatasetCategories(writer.dataset_.id));
  for (const std::string& category : categories) writer.category_ids_.emplace(ExportText(category), 0);
  int64_t id = 0;
  for (auto& [name, category_id] : writer.category_ids_) category_id = ++id;
  return writer;
}

Result<bool> CocoWriter::Next(std::string& out, size_t budget) {
  const size_t start = out.size();
  bool fetched = false;  // one catalog page per call: a caller interleaving streams stays fair
  while (out.size() - start < budget || out.size() == start) {
    switch (phase_) {
      case Phase::kStart:
        out += "{\"annotations\":[";
        phase_ = Phase::kAnnotations;
        break;
      case Phase::kAnnotations:
        if (annotation_next_ == annotation_page_.size()) {
          if (fetched) return true;
          fetched = true;
          SAMCACHE_ASSIGN_OR_RETURN(annotation_page_, catalog_->ListDatasetAnnotationsAfter(
                                                          dataset_.id, annotation_after_, page_rows_));
          annotation_next_ = 0;
          if (annotation_page_.empty()) {
            json categories = json::array();
            for (const auto& [name, id] : category_ids_)
              categories.push_back({{"id", id}, {"name", name}, {"supercategory", ""}});
            out += "],\"categories\":" + Dump(categories) + ",\"images\":[";
            phase_ = Phase::kImages;
          } else {
            annotation_after_ = annotation_page_.back().place;
          }
          break;
        }
        SAMCACHE_RETURN_IF_ERROR(AppendAnnotation(out));
        break;
      case Phase::kImages:
        if (image_next_ == image_page_.size()) {
          if (fetched) return true;
          fetched = true;
          SAMCACHE_ASSIGN_OR_RETURN(image_page_,
                                    catalog_->ListImagesAfterPosition(dataset_.id, image_after_, page_rows_));
          image_next_ = 0;
          if (image_page_.empty()) {
            phase_ = Phase::kEnd;
          } else {
            image_after_ = image_page_.back().position;
          }
          break;
        }
        AppendImage(out);
        break;
      case Phase::kEnd:
        out += "],\"info\":" +
               Dump(json{{"description", "samcache dataset " + ExportText(dataset_.name)},
                         {"version", "1.0"},
                         {"date_created", date_created_},
                         {"samcache_dataset_id", dataset_.id}}) +
               ",\"licenses\":[]}";
        phase_ = Phase::kDone;
        return false;
      case Phase::kDone:
        return false;
    }
  }
  return true;
}

Status CocoWriter::AppendAnnotation(std::string& out) {
  const PlacedAnnotation& placed = annotation_page_[annotation_next_++];
  const AnnotationRecord& a = placed.annotation;
  SAMCACHE_ASSIGN_OR_RETURN(const int64_t image_id, RankOf(placed.place.image_position, a.image_id));
  const auto category = category_ids_.find(ExportText(a.category));
  if (category == category_ids_.end())
    return Status::Conflict("the dataset's annotations changed during the export; export it again");
  json entry{{"id", static_cast<int64_t>(annotations_written_) + 1},
             {"image_id", image_id},
             {"category_id", category->second},
             {"segmentation", {{"size", {a.mask_height, a.mask_width}}, {"counts", a.rle_counts}}},
             {"area", a.area},
             {"bbox", a.bbox},
             {"iscrowd", 0},
             {"samcache_annotation_id", a.id}};
  if (a.score) entry["score"] = *a.score;
  if (annotations_written_ > 0) out += ',';
  out += Dump(entry);
  ++annotations_written_;
  return Status::Ok();
}

void CocoWriter::AppendImage(std::string& out) {
  const ImageRecord& image = image_page_[image_next_++];
  if (images_written_ > 0) out += ',';
  out += Dump(json{{"id", static_cast<int64_t>(images_written_) + 1},
                   {"file_name", ExportText(image.filename)},
                   {"width", image.width},
                   {"height", image.height},
                   {"samcache_image_id", image.id}});
  ++images_written_;
}

Result<int64_t> CocoWriter::RankOf(int64_t position, const std::string& image_id) {
  for (;;) {
    if (rank_next_ == rank_page_.size()) {
      SAMCACHE_ASSIGN_OR_RETURN(rank_page_,
                                catalog_->ListImagesAfterPosition(dataset_.id, rank_after_, page_rows_));
      rank_next_ = 0;
      if (rank_page_.empty()) break;
      rank_after_ = rank_page_.back().position;
    }
    const ImageRecord& image = rank_page_[rank_next_];
    if (image.position > position) break;
    if (image.position == position) {
      if (image.id != image_id) break;
      return rank_ + 1;
    }
    ++rank_;
    ++rank_next_;
  }
  return Status::Conflict("the dataset's images changed during the export; export it again");
}

Result<std::string> ExportCocoText(Catalog& catalog, const std::string& dataset_id) {
  SAMCACHE_ASSIGN_OR_RETURN(CocoWriter writer, CocoWriter::Open(catalog, dataset_id));
  std::string out;
  for (;;) {
    SAMCACHE_ASSIGN_OR_RETURN(const bool more, writer.Next(out, size_t{1} << 20));
    if (!more) return out;
  }
}

}  // namespace samcache
