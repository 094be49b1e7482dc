// Annotations: labelled masks on images, kept in creation order per image.
//
// Part of the Catalog (catalog.h): thread-safe, and each mutating method is one transaction.
// An image's annotations go with it when its dataset is deleted (ImageCatalog::DeleteDataset).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "catalog/records.h"
#include "common/status.h"

namespace samcache {

class AnnotationCatalog {
 public:
  virtual ~AnnotationCatalog() = default;

  // NotFound when the image does not exist. Annotations go after the image's others.
  virtual Status CreateAnnotation(const AnnotationRecord& annotation) = 0;
  // NotFound when no annotation has this id.
  virtual Result<AnnotationRecord> GetAnnotation(const std::string& id) = 0;
  // In creation order.
  virtual Result<std::vector<AnnotationRecord>> ListAnnotations(const std::string& image_id) = 0;
  // Up to `limit` of them, from the first with a position above `after_position` (-1: from
  // the first), in creation order: a page of an image's annotations (keyset on its index).
  virtual Result<std::vector<AnnotationRecord>> ListAnnotationsPage(const std::string& image_id,
                                                                    int64_t after_position, size_t limit) = 0;
  // The dataset's images in upload order, each image's annotations in creation order.
  virtual Result<std::vector<AnnotationRecord>> ListDatasetAnnotations(const std::string& dataset_id) = 0;
  // Replaces category, mask, bbox, area, score, prompt_json and updated_at. NotFound when gone.
  virtual Status UpdateAnnotation(const AnnotationRecord& annotation) = 0;
  // NotFound when no annotation has this id.
  virtual Status DeleteAnnotation(const std::string& id) = 0;
  // (image_id, count) for the dataset's images that have annotations.
  virtual Result<std::vector<std::pair<std::string, int64_t>>> CountAnnotationsPerImage(
      const std::string& dataset_id) = 0;

  // --- Whole-dataset work (streamed) ---
  // Up to `limit` of the dataset's annotations after `after`, in ListDatasetAnnotations' order
  // (image position, then the annotation's), each with its place for the next call's `after`.
  virtual Result<std::vector<PlacedAnnotation>> ListDatasetAnnotationsAfter(const std::string& dataset_id,
                                                                            const AnnotationPlace& after,
                                                                            size_t limit) = 0;
  // The distinct categories of the dataset's annotations, in no particular order.
  virtual Result<std::vector<std::string>> ListDatasetCategories(const std::string& dataset_id) = 0;
};

}  // namespace samcache
