// A dataset's annotations as a COCO file (instances with RLE segmentations), for the
// training tools that read COCO.
//
// The document is written piece by piece from keyset-paged catalog reads, so exporting 100,000
// images with a million annotations holds one page of rows and the category names, never the
// document: memory does not grow with the dataset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "common/status.h"

namespace samcache {

// `text` as an export may carry it: without C0 controls, DEL, C1 controls (U+0080-U+009F)
// and the bidi embedding, override and isolate marks (U+202A-U+202E, U+2066-U+2069), which
// make a name display as another ("Trojan Source"). "unnamed" when nothing is left. Stored
// names keep them: they are data, only their way out is cleaned.
std::string ExportText(std::string_view text);

// The COCO document of one dataset, produced in pieces. COCO wants integer ids: images by
// upload order, categories by sorted name; the samcache ids go along as samcache_image_id and
// samcache_annotation_id. File, category and dataset names pass through ExportText (categories
// that differ only in stripped characters become one). The keys are in the order a whole
// nlohmann::json document has them (annotations, categories, images, info, licenses), and
// each element is dumped by nlohmann: the bytes are those of the document built whole.
//
// Not a snapshot: an annotation with a category that appeared after Open, or whose image the
// export cannot place, fails the export (Conflict); a client must then discard what it got
// (the HTTP route cuts the connection, so no complete-looking file is left). Not thread-safe.
class CocoWriter {
 public:
  static constexpr size_t kDefaultPageRows = 256;

  // Reads the dataset and its categories. NotFound for an unknown dataset.
  static Result<CocoWriter> Open(Catalog& catalog, const std::string& dataset_id,
                                 size_t page_rows = kDefaultPageRows);

  // Appends the next piece of the document to `out`: elements until `out` holds at least
  // `budget` bytes or a page of rows is used up (so at least one element, however large).
  // Returns false once the document is complete (the last piece appended).
  Result<bool> Next(std::string& out, size_t budget);

  const DatasetRecord& dataset() const { return dataset_; }
  size_t images() const { return images_written_; }
  size_t annotations() const { return annotations_written_; }
  size_t categories() const { return category_ids_.size(); }

 private:
  enum class Phase { kStart, kAnnotations, kImages, kEnd, kDone };

  CocoWriter(Catalog& catalog, size_t page_rows) : catalog_(&catalog), page_rows_(page_rows) {}
  Status AppendAnnotation(std::string& out);
  void AppendImage(std::string& out);
  // The COCO id (1-based upload rank) of the image at `position`, walking the images forward.
  Result<int64_t> RankOf(int64_t position, const std::string& image_id);

  Catalog* catalog_;
  size_t page_rows_;
  DatasetRecord dataset_;
  std::string date_created_;
  std::map<std::string, int64_t> category_ids_;  // export name -> id
  Phase phase_ = Phase::kStart;

  // Annotations: the page being written and where the next one starts.
  std::vector<PlacedAnnotation> annotation_page_;
  size_t annotation_next_ = 0;
  AnnotationPlace annotation_after_;
  bool annotations_exhausted_ = false;
  size_t annotations_written_ = 0;

  // The images walked alongside the annotations to number them.
  std::vector<ImageRecord> rank_page_;
  size_t rank_next_ = 0;
  int64_t rank_after_ = -1;
  int64_t rank_ = 0;  // of the last image walked past

  // Images, written after the categories.
  std::vector<ImageRecord> image_page_;
  size_t image_next_ = 0;
  int64_t image_after_ = -1;
  bool images_exhausted_ = false;
  size_t images_written_ = 0;
};

// The whole document as one string, for small datasets and tests.
Result<std::string> ExportCocoText(Catalog& catalog, const std::string& dataset_id);

}  // namespace samcache
